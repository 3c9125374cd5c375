#!/usr/bin/env bash
# bench.sh - benchmarks Petrel against mosquitto on this machine and writes
# docs/benchmarks.md, the raw results docs/bench/results.jsonl (one JSON line per
# run), docs/bench/meta.json, and the plots docs/bench/throughput.png,
# docs/bench/latency.png and docs/bench/latency_curve.png.
#
#     scripts/bench.sh [--reps N] [--quick] [--only REGEX] [--out FILE]
#
# It installs what is missing (lib.sh), builds the release build dir build-release/
# (control/petrel and the load generator tests/bench/petrel-bench), then for every
# row runs each broker variant one after the other, REPS times each: every run
# starts a fresh broker on a free 127.0.0.1 port, pinned to core 0 (Petrel with one
# worker), waits until it accepts connections, runs petrel-bench pinned to core 1
# with one thread, and stops the broker (SIGTERM, SIGKILL after 5 s). The report keeps
# the median run of each row and variant by its primary metric.
#
# Variants: mosquitto runs twice per row, with its default (Nagle on) and with
# set_tcp_nodelay true, and the report takes the better of the two; Petrel always
# sets TCP_NODELAY itself. Petrel runs with queue_full_policy backpressure (its
# default) and, in the QoS 1/2 fan-in rows, also drop_new (mosquitto's policy).
# The connection rows run mosquitto with its default only (Nagle plays no part).
# The scaling rows run Petrel with -w 1 and -w 2 on both cores, generator unpinned.
#
# The search rows find, per broker variant, the highest fan-in rate with zero loss:
# a flat-out probe, then fixed-rate steps that bracket and bisect the rate, at most
# search_steps runs and search_budget seconds per variant. The curve row then runs
# both brokers (mosquitto in its better variant) at 10, 50, 80 and 95 % of their own
# lossless QoS 1 rate and records p50/p99/p99.9 from each message's scheduled send
# time. Selecting the curve row with --only runs its search row too.
#
# A full run with the defaults takes about 45 minutes without the persistence and memif
# rows (the memif rows add about 35: 10 per rep of their throughput rows, 6 for the
# million-connection rows, 15 for memif-persist-10m):
# some 230 kernel-mode runs of 4 to 8 s (78 flat-out, 9 latency, up to 63 search
# steps, 24 curve points, 24 scaling, 12 connection runs) and some 180 of the DPDK
# rows. The persistence rows add about 25 minutes (persist-size alone runs 10;
# filling a million sessions through a broker took 3 to 4 minutes per broker at the
# 4,000 to 6,000 sessions/s of a trial on a busy machine). Run it on an otherwise
# idle machine: the script warns when it is not. --quick takes about 7 minutes, plus
# about 3 for the persistence rows.
#
# Rows (names for --only): fanin-q0 fanin-q1 fanin-q2 fanout-q0-s8 fanout-q1-s8
# fanout-q0-s100 fanout-q1-s100 pairs-q1 latency-q1 search-fanin-q0 search-fanin-q1
# search-fanin-q2 curve-fanin-q1 conn offline scale-fanin-q1 scale-pairs-q1, and the
# DPDK rows dpdk-fanin-q0 dpdk-fanin-q1 dpdk-fanin-q2 dpdk-fanout-q0-s8
# dpdk-fanout-q1-s8 dpdk-fanout-q0-s100 dpdk-fanout-q1-s100 dpdk-pairs-q1
# dpdk-latency-q1 dpdk-conn ('^dpdk-' selects them all), and the persistence rows
# persist-fanin-q1 persist-startup-100k persist-startup-1m persist-size ('^persist-';
# an unanchored 'fanin-q1' selects fanin-q1, dpdk-fanin-q1 and persist-fanin-q1), and
# the memif rows ('^memif-', issue 10; scripts/bench/bench_memif.sh): memif-fanin-q0
# memif-fanin-q1 memif-fanin-q2 memif-fanout-q0 memif-fanout-q1 memif-fanout-q2
# memif-pairs-q0 memif-pairs-q1 memif-pairs-q2 (64 B; each also with -1k, 1 KB
# payloads) memif-search-fanin-q1 (mosquitto's highest lossless QoS 1 fan-in rate:
# flat out it drops what it acknowledged, so memif-fanin-q1's 10x is judged against
# this) memif-prof-fanin-q1 memif-conn-1m memif-fleet-1m memif-storm-1m
# memif-persist memif-persist-10m.
#
# memif rows: Petrel with dataplane dpdk on DPDK's net_memif (the memif server), one
# worker pinned to core 0, driven by petrel-bench --dpdk (the memif client, our own
# TCP stack) pinned to core 1, no kernel in the path; the throughput rows run kernel
# Petrel and mosquitto over loopback in the same run. memif-prof records the broker
# with perf (bench/profile-memif.txt); memif-conn-1m holds 1M connections (petrelctl
# status read each second; plot bench/conn_1m.png), memif-fleet-1m and memif-storm-1m
# run those scenarios with 1M clients, memif-persist fills offline sessions with
# persistence on, restarts the broker on its store and verifies. The sizes of the
# rows at scale come from MEMIF_CONN_N, MEMIF_FLEET_N, MEMIF_STORM_N, MEMIF_PERSIST_N
# (1,000,000; 20,000 with --quick) and MEMIF_PERSIST10_N (10,000,000); more knobs in
# bench_memif.sh. The memif rows take about 35 minutes (throughput rows 10 per rep,
# the 1M rows 6, memif-persist-10m about 15). Their results go
# to bench/results-memif.jsonl (bench/meta-memif.json), where a run replaces only
# the rows it makes again; the report's "Over memif" section is written from them.
#
# Persistence rows (issue 8; scripts/bench/bench_persist.sh runs the last three):
#   persist-fanin-q1     fanin-q1 with a persistent subscriber (petrel-bench --clean
#                        0), Petrel with persistence_sync always, 100 and never, and in
#                        memory (persistence false), beside mosquitto with persistence
#                        true (its autosave defaults), Nagle and TCP_NODELAY
#   persist-startup-100k, persist-startup-1m
#                        fills a broker with that many offline sessions (one QoS 1
#                        subscription each) through petrel-bench conn --clean 0, in
#                        chunks of at most 100,000, stops it (SIGTERM), then starts it
#                        REPS times on that store: time until it accepts connections,
#                        Petrel's own load time (its "store: loaded" line), bytes on
#                        disk per session, RSS, and whether a session came back
#   persist-size         a long QoS 1 fan-in (10 min; 60 s with --quick) into a
#                        persistent subscriber that consumes, data.mdb's size sampled
#                        every 10 s
# Each persistence run gets an empty store directory of its own under the temporary
# directory (PETREL_BENCH_DATA=dir puts them there instead: it must be a real disk,
# not a tmpfs, for persistence_sync always to mean anything; the report names the
# file system).
#
# DPDK rows: the scenario of the row of the same name, run by these broker variants
# in turn (--variants narrows them):
#   petrel          kernel sockets over loopback, as in the other rows
#   mosquitto       over loopback, TCP_NODELAY (Nagle on in dpdk-conn)
#   petrel-tap      dataplane dpdk, one worker, DPDK's net_tap: the tap's kernel side
#                   is the generator's interface
#   petrel-afxdp    dataplane dpdk, one worker, DPDK's net_af_xdp on one end of a veth
#                   pair, the generator on the other end
#   petrel-veth     kernel sockets, but across a veth pair from a namespace of the
#                   broker's own: the like-for-like path for the two above
#   mosquitto-veth  mosquitto the same way
# The namespace variants put the broker at 198.18.0.1/24 and the generator (pinned to
# core 1 as always) at 198.18.0.2 in a network namespace this script creates
# (petrel-bench-gen-PID, and petrel-bench-brk-PID for the veth variants); DPDK's
# brokers run inside the generator's namespace so that their tap or veth stays in
# it. Only 198.18.0.0/15 (RFC 2544) is used, nothing is routed out, and the
# namespaces and their interfaces are removed on exit, also on failure. Each run
# makes its interfaces afresh and removes them after the broker stopped. Needs root,
# ip(8) and ethtool, and a petrel built with DPDK.
#
#   --reps N      runs per broker variant and row (default 3; publish nothing made
#                 with < 3); a search runs once per variant whatever N is
#   --quick       1 rep, short runs, fewer connections and search steps: for trying
#                 the script. Its report says so, and it goes to /tmp unless --out
#                 is given.
#   --only REGEX  only the rows whose name matches (bash =~), e.g. '^fanin|^conn$'
#   --variants REGEX  only the broker variants (broker/variant/workers, e.g.
#                 petrel-tap/backpressure/1) that match, in every selected row
#   --out FILE    the report (default docs/benchmarks.md); the raw results and plots
#                 go to bench/ beside it
#
# Environment: PETREL_BENCH_GEN=path runs that load generator instead of the one
# built here (for testing this script), and skips building it. PETREL_BENCH_DATA=dir:
# where the persistence rows' stores go (see above).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PETREL_ROOT"

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

reps=3
quick=0
only=""
only_variants=""
out=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--reps)
		[[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || { petrel_log "--reps needs a number >= 1"; exit 2; }
		reps="$2"
		shift 2
		;;
	--quick)
		quick=1
		shift
		;;
	--only)
		[[ $# -ge 2 ]] || { petrel_log "--only needs a regular expression"; exit 2; }
		only="$2"
		shift 2
		;;
	--variants)
		[[ $# -ge 2 ]] || { petrel_log "--variants needs a regular expression"; exit 2; }
		only_variants="$2"
		shift 2
		;;
	--out)
		[[ $# -ge 2 && -n $2 ]] || { petrel_log "--out needs a file name"; exit 2; }
		out="$2"
		shift 2
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		petrel_log "unknown argument '$1' (try --help)"
		exit 2
		;;
	esac
done

# Durations (seconds) and sizes. A throughput run takes warm-up + duration + up to
# drain, plus about a second to start and stop the broker.
warmup=1
duration=5
drain=2
conn_n=10000
offline_n=100000
# Rate search: per broker variant at most this many runs (the probe included) and,
# once this many seconds of runs are spent, no further step. A step measures for
# search_duration seconds.
search_steps=7
search_budget=70
search_duration=3
# Persistence rows: stored sessions of the two start-up rows, the fill's chunk (one
# generator run each: its conn phase must end within 100 s), starts per filled store
# (reps), and the size row's length and sampling period.
startup_small=100000
startup_large=1000000
fill_chunk=100000
size_duration=600
size_every=10
# The stop and start bounds of a broker (start_broker, stop_broker); the start-up rows
# raise them (a store of 1M sessions to load or save).
stop_wait_s=5
start_wait_s=10
start_poll_s=0.05
# The latency curve: percent of each broker's highest lossless rate.
curve_fractions="10 50 80 95"
# The memif rows (bench_memif.sh): a throughput run's window, the sizes of the rows at
# scale (environment: for when 1M does not complete here), the conn row's hold, the
# fleet's interval, storm's reconnect window, persist's persistence_sync variant.
memif_duration="${MEMIF_DURATION:-3}"
memif_conn_n="${MEMIF_CONN_N:-1000000}"
memif_fleet_n="${MEMIF_FLEET_N:-1000000}"
memif_storm_n="${MEMIF_STORM_N:-1000000}"
memif_persist_n="${MEMIF_PERSIST_N:-1000000}"
memif_hold="${MEMIF_HOLD:-10}"
memif_interval=10
memif_storm_inflight="${MEMIF_STORM_INFLIGHT:-5000}"
memif_persist_sync="${MEMIF_PERSIST_SYNC:-always}"
# persist's publisher window: with sync always each commit waits for a sync, so the
# queueing rate is about this window over the sync time.
memif_persist_inflight="${MEMIF_PERSIST_INFLIGHT:-32}"
# memif-persist-10m: issue 10's 10M offline sessions (about 15 minutes here), with a
# publisher window wide enough that the queueing is not bound by the sync time.
memif_persist10_n="${MEMIF_PERSIST10_N:-10000000}"
memif_persist10_inflight="${MEMIF_PERSIST10_INFLIGHT:-1000}"
if [[ $quick -eq 1 ]]; then
	reps=1
	duration=2
	drain=1
	conn_n=2000
	offline_n=10000
	search_steps=4
	search_budget=25
	search_duration=2
	startup_small=10000
	startup_large=100000
	size_duration=60
	memif_duration=2
	memif_conn_n="${MEMIF_CONN_N:-20000}"
	memif_fleet_n="${MEMIF_FLEET_N:-20000}"
	memif_storm_n="${MEMIF_STORM_N:-20000}"
	memif_persist_n="${MEMIF_PERSIST_N:-20000}"
	memif_persist10_n="${MEMIF_PERSIST10_N:-40000}"
	memif_hold="${MEMIF_HOLD:-3}"
	memif_interval=2
	[[ -n $out ]] || out="${TMPDIR:-/tmp}/petrel-bench-quick/benchmarks.md"
fi
[[ -n $out ]] || out="$PETREL_ROOT/docs/benchmarks.md"
if [[ $reps -lt 3 && $quick -eq 0 ]]; then
	petrel_log "warning: --reps $reps: published numbers need at least 3"
fi
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
benchdir="$(dirname "$out")/bench"
mkdir -p "$benchdir"
results_main="$benchdir/results.jsonl"
results="$results_main"
meta="$benchdir/meta.json"
results_memif="$benchdir/results-memif.jsonl"
meta_memif="$benchdir/meta-memif.json"

builddir="$PETREL_ROOT/build-release"
petrel_bin="$builddir/control/petrel"
gen_bin="${PETREL_BENCH_GEN:-$builddir/tests/bench/petrel-bench}"
mosquitto_bin=/usr/sbin/mosquitto
report="$PETREL_ROOT/scripts/bench_report.py"

# ---- install and build ---------------------------------------------------------------

petrel_install_deps
# Release build; werror stays on (the project default).
petrel_setup "$builddir" -Dbuildtype=release
targets=(control/petrel)
[[ -n ${PETREL_BENCH_GEN:-} ]] || targets+=(tests/bench/petrel-bench)
if ! ninja -C "$builddir" "${targets[@]}"; then
	petrel_log "building ${targets[*]} in $builddir failed"
	exit 1
fi
for bin in "$petrel_bin" "$gen_bin" "$mosquitto_bin"; do
	if [[ ! -x $bin ]]; then
		petrel_log "missing $bin"
		exit 1
	fi
done

# ---- limits --------------------------------------------------------------------------

# 10,000 connections on each side, and the generator's sockets for 100,000 sessions.
# Raise the hard limit if we may (root with CAP_SYS_RESOURCE), then the soft limit to
# the hard one. Brokers and generator inherit it.
ulimit -c 0 2>/dev/null || true
ulimit -Hn 1048576 2>/dev/null || ulimit -Hn 200000 2>/dev/null || true
hard="$(ulimit -Hn)"
[[ $hard == unlimited ]] && hard=1048576
ulimit -n "$hard"
nofile="$(ulimit -n)"
if [[ $nofile -lt 200000 ]]; then
	petrel_log "warning: open files limited to $nofile (hard limit); wanted 200000"
fi

# ---- brokers -------------------------------------------------------------------------

tmp="$(mktemp -d "${TMPDIR:-/tmp}/petrel-bench.XXXXXX")"
# The persistence rows' stores: persist_dir, emptied before every run.
if [[ -n ${PETREL_BENCH_DATA:-} && ! -d $PETREL_BENCH_DATA ]]; then
	petrel_log "PETREL_BENCH_DATA=$PETREL_BENCH_DATA is not a directory"
	exit 2
fi
data_root="$(mktemp -d "${PETREL_BENCH_DATA:-$tmp}/petrel-bench-data.XXXXXX")"
persist_dir="$data_root/store"
broker_pid=""
broker_wrap=""
gen_pid=""

# Stops the running broker, if any: SIGTERM, then SIGKILL after stop_wait_s (5 s).
stop_broker() {
	local i
	broker_stop_ms=""
	if [[ -n $broker_pid ]]; then
		kill -TERM "$broker_pid" 2>/dev/null || true
		for ((i = 0; i < stop_wait_s * 10; i++)); do
			kill -0 "$broker_pid" 2>/dev/null || break
			sleep 0.1
		done
		# Its exit after SIGTERM, to 0.1 s: what a restart of a big store waits for.
		kill -0 "$broker_pid" 2>/dev/null || broker_stop_ms=$((i * 100))
		if kill -0 "$broker_pid" 2>/dev/null; then
			petrel_log "broker $broker_pid ignored SIGTERM for $stop_wait_s s: SIGKILL"
			kill -KILL "$broker_pid" 2>/dev/null || true
		fi
	fi
	if [[ -n $broker_wrap ]]; then
		kill -TERM "$broker_wrap" 2>/dev/null || true
		wait "$broker_wrap" 2>/dev/null || true
	fi
	broker_pid=""
	broker_wrap=""
	net_release
}

# ---- network namespaces (DPDK rows) -------------------------------------------------

# The generator's namespace (and the DPDK brokers'), and the one of the kernel brokers
# of the veth variants. Made on first use, removed by cleanup.
ns_gen="petrel-bench-gen-$$"
ns_brk="petrel-bench-brk-$$"
ns_made=0
ns_broker_addr=198.18.0.1
ns_gen_addr=198.18.0.2
# The interface the current run made (deleting one end of a veth deletes both; the
# tap goes with the broker that made it).
net_link=""

# ip(8), bounded: a hung netlink call must not hang the benchmark.
ns_ip() {
	timeout 10 ip "$@"
}

# Where a broker variant runs: "loop" (127.0.0.1) or "ns" (the namespaces).
broker_net() {
	case "$1" in
	*-tap | *-afxdp | *-veth) echo ns ;;
	*-memif) echo memif ;;
	*) echo loop ;;
	esac
}

# The namespace a broker runs in (empty: this script's own).
broker_ns() {
	case "$1" in
	*-tap | *-afxdp) echo "$ns_gen" ;;
	*-veth) echo "$ns_brk" ;;
	esac
}

# The address the generator connects to for <broker>.
broker_host() {
	case "$(broker_net "$1")" in
	ns) echo "$ns_broker_addr" ;;
	memif) echo "$memif_broker_addr" ;;
	*) echo 127.0.0.1 ;;
	esac
}

ns_create() {
	local n pid
	[[ $ns_made -eq 0 ]] || return 0
	if [[ $(id -u) -ne 0 ]]; then
		petrel_log "the DPDK rows need root (network namespaces, taps, AF_XDP)"
		return 1
	fi
	# A run killed with SIGKILL could not remove its namespaces: remove those of
	# bench.sh processes that are gone (with what still runs in them stopped).
	for n in $(ip netns list 2>/dev/null | sed -n 's/^\(petrel-bench-\(gen\|brk\)-[0-9]*\).*/\1/p'); do
		pid="${n##*-}"
		kill -0 "$pid" 2>/dev/null && continue
		petrel_log "removing namespace $n, left by a bench.sh that is gone"
		ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
		ns_ip netns del "$n" 2>/dev/null || true
	done
	ns_made=1
	ns_ip netns add "$ns_gen" || return 1
	ns_ip netns add "$ns_brk" || return 1
	ns_ip -n "$ns_gen" link set lo up || return 1
	ns_ip -n "$ns_brk" link set lo up || return 1
}

ns_remove() {
	[[ $ns_made -eq 1 ]] || return 0
	# Deleting a namespace deletes its interfaces; no broker is left in it (stopped).
	ns_ip netns del "$ns_gen" 2>/dev/null || true
	ns_ip netns del "$ns_brk" 2>/dev/null || true
	ns_made=0
}

# net_prepare <broker>: the interfaces its run needs before it starts.
net_prepare() {
	local broker="$1"
	[[ $(broker_net "$broker") == ns ]] || return 0
	ns_create || return 1
	case "$broker" in
	*-afxdp)
		# The broker's AF_XDP socket on pbxdp0, the generator on pbxdp1. A veth
		# leaves the TCP checksum to a NIC that is not there (checksum offload):
		# the AF_XDP socket would see partial sums, so the generator's side computes
		# them (and, without checksum offload, sends no TSO super-segments either).
		net_link=pbxdp1
		ns_ip -n "$ns_gen" link add pbxdp0 type veth peer name pbxdp1 || return 1
		ns_ip -n "$ns_gen" addr add "$ns_gen_addr/24" dev pbxdp1 || return 1
		ip netns exec "$ns_gen" timeout 10 ethtool -K pbxdp1 tx off >/dev/null || return 1
		ns_ip -n "$ns_gen" link set pbxdp0 up || return 1
		ns_ip -n "$ns_gen" link set pbxdp1 up || return 1
		;;
	*-veth)
		net_link=pbveth1
		ns_ip -n "$ns_gen" link add pbveth1 type veth peer name pbveth0 netns "$ns_brk" ||
			return 1
		ns_ip -n "$ns_gen" addr add "$ns_gen_addr/24" dev pbveth1 || return 1
		ns_ip -n "$ns_brk" addr add "$ns_broker_addr/24" dev pbveth0 || return 1
		ns_ip -n "$ns_gen" link set pbveth1 up || return 1
		ns_ip -n "$ns_brk" link set pbveth0 up || return 1
		;;
	esac
}

# net_link_up <broker>: true once the broker's link is usable from the generator's
# side. The tap exists only once the DPDK broker made it: then it gets the
# generator's address.
net_link_up() {
	case "$1" in
	*-tap)
		[[ $net_link == pbtap0 ]] && return 0
		ip netns exec "$ns_gen" test -e /sys/class/net/pbtap0 2>/dev/null || return 1
		ns_ip -n "$ns_gen" addr replace "$ns_gen_addr/24" dev pbtap0 || return 1
		ns_ip -n "$ns_gen" link set pbtap0 up || return 1
		net_link=pbtap0
		;;
	esac
	return 0
}

# Removes what net_prepare made (after the broker stopped).
net_release() {
	if [[ -n $net_link && $net_link != pbtap0 ]]; then
		ns_ip -n "$ns_gen" link del "$net_link" 2>/dev/null || true
	fi
	net_link=""
	! declare -F memif_release >/dev/null || memif_release
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $gen_pid ]]; then
		kill -TERM "$gen_pid" 2>/dev/null || true
		wait "$gen_pid" 2>/dev/null || true
	fi
	! declare -F memif_ctl_stop >/dev/null || { memif_ctl_stop; memif_perf_stop; }
	stop_broker
	size_sampler_stop
	ns_remove
	rm -rf "$data_root" "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# port_open <port> [<broker>]: true if something accepts TCP connections on the
# broker's address and <port>, seen from where the generator runs.
port_open() {
	if [[ $(broker_net "${2:-}") == ns ]]; then
		ip netns exec "$ns_gen" timeout 3 bash -c \
			"exec 3<>/dev/tcp/$ns_broker_addr/$1" 2>/dev/null
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# Prints a port that is free on 127.0.0.1 right now.
free_port() {
	python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# The config lines of a broker variant: what sets it apart from the other variants
# of the same broker. A new variant (say, one of the flow-control keys) is one line
# here and its name in a row's variant list.
variant_conf() {
	# The namespace variants (petrel-tap, mosquitto-veth ...) share their broker's.
	case "${1%%-*}/$2" in
	petrel/backpressure) echo "queue_full_policy backpressure" ;;
	petrel/drop_new) echo "queue_full_policy drop_new" ;;
	mosquitto/nagle) ;;
	mosquitto/nodelay) echo "set_tcp_nodelay true" ;;
	# Persistence (persist-* rows): the store in persist_dir, emptied before each run.
	petrel/mem) printf '%s\n' "queue_full_policy backpressure" "persistence false" ;;
	petrel/always | petrel/sync100 | petrel/never)
		printf '%s\n' "queue_full_policy backpressure" "persistence true" \
			"persistence_location $persist_dir" "persistence_sync ${2#sync}"
		;;
	# mosquitto's autosave defaults (autosave_interval 1800 s, autosave_on_changes
	# false): it writes its file every 30 min and at exit, nothing in between.
	mosquitto/persist_nagle)
		printf '%s\n' "persistence true" "persistence_location $persist_dir/"
		;;
	mosquitto/persist_nodelay)
		printf '%s\n' "persistence true" "persistence_location $persist_dir/" \
			"set_tcp_nodelay true"
		;;
	*)
		petrel_log "no such broker variant: $1/$2"
		return 1
		;;
	esac
}

# write_configs <port> [<petrel variant> [<mosquitto variant> [<address>]]]: the two
# config files, the same limits for both brokers, then each variant's own lines. The
# defaults are Petrel's queue_full_policy backpressure (its default), mosquitto's
# Nagle (its default, set_tcp_nodelay false) and 127.0.0.1. Persistence is off unless
# the variant turns it on (persist-* rows).
write_configs() {
	local port="$1" pvariant="${2:-backpressure}" mvariant="${3:-nagle}"
	local addr="${4:-127.0.0.1}" pconf mconf

	pconf="$(variant_conf petrel "$pvariant")" || return 1
	mconf="$(variant_conf mosquitto "$mvariant")" || return 1
	cat >"$tmp/petrel.conf" <<EOF
listener $port $addr
allow_anonymous true
max_inflight_messages 20
max_queued_messages 1000
max_connections -1
EOF
	[[ $pconf == *"persistence "* ]] || echo "persistence false" >>"$tmp/petrel.conf"
	# No control socket: the default ./petrel.sock would be shared with whatever
	# runs in the same directory.
	echo "control_socket none" >>"$tmp/petrel.conf"
	[[ -z $pconf ]] || echo "$pconf" >>"$tmp/petrel.conf"
	cat >"$tmp/mosquitto.conf" <<EOF
listener $port $addr
allow_anonymous true
max_inflight_messages 20
max_queued_messages 1000
log_dest none
max_connections -1
EOF
	[[ $mconf == *"persistence "* ]] || echo "persistence false" >>"$tmp/mosquitto.conf"
	[[ -z $mconf ]] || echo "$mconf" >>"$tmp/mosquitto.conf"
}

# The config lines that put Petrel on DPDK for <broker> (petrel-tap, petrel-afxdp):
# one worker's port with the broker's address; the listener's port stays. No
# hugepages (--no-huge), as in the tests: the machine need not reserve any.
dpdk_conf() {
	local vdev
	case "$1" in
	petrel-tap) vdev="net_tap0,iface=pbtap0" ;;
	petrel-afxdp) vdev="net_af_xdp0,iface=pbxdp0" ;;
	petrel-memif)
		memif_conf
		return 0
		;;
	*) return 0 ;;
	esac
	cat <<EOF
dataplane dpdk
dpdk_eal_args --no-huge -m 512 --no-pci --no-telemetry --vdev=$vdev
dpdk_address $ns_broker_addr/24
dpdk_mbufs 16384
EOF
}

# Prints the broker command line (without the timeout wrapper) for
# <broker> <workers> <cpus>, with the config file at <conf>.
broker_cmd() {
	local broker="$1" workers="$2" cpus="$3" conf="$4" ns pre=""
	ns="$(broker_ns "$broker")"
	[[ -z $ns ]] || pre="ip netns exec $ns "
	case "${broker%%-*}" in
	petrel) echo "${pre}taskset -c $cpus $petrel_bin -c $conf -w $workers" ;;
	mosquitto) echo "${pre}taskset -c $cpus $mosquitto_bin -c $conf" ;;
	esac
}

# start_broker <broker> <variant> <workers> <cpus> <port>: starts it and waits until
# it accepts connections (at most start_wait_s, 10 s). Sets broker_pid (the broker
# itself, for the generator's RSS and CPU readings), broker_wrap (its timeout wrapper)
# and broker_ready_ms (from just before its start until it accepted, probing every
# start_poll_s).
start_broker() {
	local broker="$1" variant="$2" workers="$3" cpus="$4" port="$5" cmd i addr deadline
	local conf="$tmp/${broker%%-*}.conf" log="$tmp/broker.log" t0
	broker_ready_ms=""

	addr="$(broker_host "$broker")"
	if ! net_prepare "$broker"; then
		petrel_log "$broker: could not make its network interfaces"
		net_release
		return 1
	fi
	if [[ $(broker_net "$broker") != memif ]] && port_open "$port" "$broker"; then
		petrel_log "$addr:$port is taken: not starting $broker there"
		net_release
		return 1
	fi
	case "$broker" in
	petrel*) write_configs "$port" "$variant" nagle "$addr" ;;
	mosquitto*) write_configs "$port" backpressure "$variant" "$addr" ;;
	esac || { net_release; return 1; }
	dpdk_conf "$broker" >>"$tmp/petrel.conf"
	read -ra cmd <<<"$(broker_cmd "$broker" "$workers" "$cpus" "$conf")"
	t0="$(date +%s%N)"
	# The wrapper bounds a broker that this script, killed with SIGKILL, could not
	# stop: no run, connection rows included, takes an hour.
	timeout -k 5 3600 "${cmd[@]}" </dev/null >"$log" 2>&1 &
	broker_wrap=$!
	for ((i = 0; i < 100; i++)); do
		broker_pid="$(pgrep -P "$broker_wrap" 2>/dev/null | head -n 1 || true)"
		[[ -n $broker_pid ]] && break
		sleep 0.05
	done
	if [[ -z $broker_pid ]]; then
		petrel_log "$broker did not start"
		stop_broker
		return 1
	fi
	# 10 s (20 s for DPDK's EAL, its pools and its link): each probe may take up to
	# 3 s in a namespace, so the bound is time, not a number of probes.
	deadline=$((SECONDS + start_wait_s))
	[[ $broker != petrel-tap && $broker != petrel-afxdp && $broker != petrel-memif ]] ||
		deadline=$((SECONDS + 20))
	# A store of millions of sessions to load first (memif-persist).
	[[ $start_wait_s -le 20 ]] || deadline=$((SECONDS + start_wait_s))
	while [[ $SECONDS -lt $deadline ]]; do
		if ! kill -0 "$broker_pid" 2>/dev/null; then
			break
		fi
		# memif has no kernel path to probe: the broker's log says when it listens.
		if [[ $(broker_net "$broker") == memif ]] && grep -q "listening on" "$log" ||
			{ [[ $(broker_net "$broker") != memif ]] && net_link_up "$broker" &&
				port_open "$port" "$broker"; }; then
			broker_ready_ms="$((($(date +%s%N) - t0) / 1000000))"
			broker_t0_ns="$t0"
			return 0
		fi
		sleep "$start_poll_s"
	done
	petrel_log "$broker did not accept connections on $addr:$port; its output:"
	tail -n 20 "$log" >&2 || true
	stop_broker
	return 1
}

# ---- persistence rows ----------------------------------------------------------------

# shellcheck source=scripts/bench/bench_persist.sh
source "$PETREL_ROOT/scripts/bench/bench_persist.sh"
# shellcheck source=scripts/bench/bench_memif.sh
source "$PETREL_ROOT/scripts/bench/bench_memif.sh"

# ---- rows ----------------------------------------------------------------------------

# name|kind|primary metric|better|title|variants|generator arguments
# kind: throughput (in the Targets' 2x check), latency, search, curve, conn, offline,
# scaling. variants: broker/variant/workers, run in this order within each rep.
common="--payload 64 --warmup $warmup --duration $duration --drain $drain"
# The search steps' own timing: short, as there are many; the drain waits for the
# last deliveries, so a slow step shows as loss or backlog, not as a cut-off.
scommon="--payload 64 --warmup $warmup --duration $search_duration --drain 2"
std="petrel/backpressure/1 mosquitto/nagle/1 mosquitto/nodelay/1"
policy="petrel/backpressure/1 petrel/drop_new/1 mosquitto/nagle/1 mosquitto/nodelay/1"
mem="petrel/backpressure/1 mosquitto/nagle/1"
scale="petrel/backpressure/1 petrel/backpressure/2 mosquitto/nagle/1 mosquitto/nodelay/1"
fanin8="fanin --publishers 8 --subscribers 1"
# The DPDK rows: Petrel on DPDK beside kernel Petrel and mosquitto, over loopback and
# across a veth (see the header). mosquitto with TCP_NODELAY only, as Petrel sets it.
ns_all="petrel-tap/backpressure/1 petrel-afxdp/backpressure/1 petrel-veth/backpressure/1"
dpdk="petrel/backpressure/1 $ns_all mosquitto/nodelay/1 mosquitto-veth/nodelay/1"
dpdkc="petrel/backpressure/1 $ns_all mosquitto/nagle/1 mosquitto-veth/nagle/1"
# The persistence rows (bench_persist.sh): Petrel per persistence_sync and in memory,
# mosquitto with persistence true (Nagle and TCP_NODELAY, the better one shown).
persist="petrel/mem/1 petrel/always/1 petrel/sync100/1 petrel/never/1"
persist+=" mosquitto/persist_nagle/1 mosquitto/persist_nodelay/1"
pstart="petrel/always/1 mosquitto/persist_nagle/1"
pfill="--clean 0 --source-range 127.0.0.1-127.0.0.254 $common"
# The memif rows (bench_memif.sh): Petrel on net_memif beside kernel Petrel and
# mosquitto over loopback; both mosquitto variants in the rows of the 10x target.
memif_t="petrel-memif/backpressure/1 petrel/backpressure/1 mosquitto/nodelay/1"
memif_tt="$memif_t mosquitto/nagle/1"
mc="--warmup $warmup --duration $memif_duration --drain $drain"
m64="--payload 64 $mc"
m1k="--payload 1024 $mc"
mfo="fanout --publishers 1 --subscribers 8"
mpr="pairs --pairs 16"
rows=(
	"fanin-q0|throughput|deliver_rate|higher|fan-in QoS 0, 8 publishers -> 1 subscriber|$std|$fanin8 --qos 0 $common"
	"fanin-q1|throughput|deliver_rate|higher|fan-in QoS 1, 8 publishers -> 1 subscriber|$policy|$fanin8 --qos 1 $common"
	"fanin-q2|throughput|deliver_rate|higher|fan-in QoS 2, 8 publishers -> 1 subscriber|$policy|$fanin8 --qos 2 $common"
	"fanout-q0-s8|throughput|deliver_rate|higher|fan-out QoS 0, 1 publisher -> 8 subscribers|$std|fanout --qos 0 --publishers 1 --subscribers 8 $common"
	"fanout-q1-s8|throughput|deliver_rate|higher|fan-out QoS 1, 1 publisher -> 8 subscribers|$std|fanout --qos 1 --publishers 1 --subscribers 8 $common"
	"fanout-q0-s100|throughput|deliver_rate|higher|fan-out QoS 0, 1 publisher -> 100 subscribers|$std|fanout --qos 0 --publishers 1 --subscribers 100 $common"
	"fanout-q1-s100|throughput|deliver_rate|higher|fan-out QoS 1, 1 publisher -> 100 subscribers|$std|fanout --qos 1 --publishers 1 --subscribers 100 $common"
	"pairs-q1|throughput|deliver_rate|higher|16 pairs QoS 1, publisher i -> subscriber i|$std|pairs --qos 1 --pairs 16 $common"
	"latency-q1|latency|lat_p99_us|lower|latency QoS 1, 8 publishers x 500 msg/s -> 1 subscriber|$std|latency --qos 1 --publishers 8 --subscribers 1 --rate 500 $common"
	"search-fanin-q0|search|offered_rate|higher|highest lossless rate, fan-in QoS 0, 8 publishers -> 1 subscriber|$std|$fanin8 --qos 0 $scommon"
	"search-fanin-q1|search|offered_rate|higher|highest lossless rate, fan-in QoS 1, 8 publishers -> 1 subscriber|$std|$fanin8 --qos 1 $scommon"
	"search-fanin-q2|search|offered_rate|higher|highest lossless rate, fan-in QoS 2, 8 publishers -> 1 subscriber|$std|$fanin8 --qos 2 $scommon"
	"curve-fanin-q1|curve|lat_p99_us|lower|latency against load, fan-in QoS 1, 8 publishers -> 1 subscriber, at % of each broker's lossless rate|search-fanin-q1|$fanin8 --qos 1 $common"
	"conn|conn|connect_rate|higher|$conn_n connections (clean session), connects/s and memory per connection|$mem|conn --connections $conn_n --clean 1 --source-range 127.0.0.1-127.0.0.16 $common"
	"offline|offline|rss_per_conn_bytes|lower|$offline_n offline sessions (clean 0, 1 QoS 1 subscription each), memory per session|$mem|conn --connections $offline_n --clean 0 --source-range 127.0.0.1-127.0.0.64 $common"
	"scale-fanin-q1|scaling|deliver_rate|higher|fan-in QoS 1, 8 publishers -> 1 subscriber; broker on cores 0-1, generator unpinned|$scale|$fanin8 --qos 1 $common"
	"scale-pairs-q1|scaling|deliver_rate|higher|16 pairs QoS 1; broker on cores 0-1, generator unpinned|$scale|pairs --qos 1 --pairs 16 $common"
	"dpdk-fanin-q0|dpdk|deliver_rate|higher|fan-in QoS 0, 8 publishers -> 1 subscriber|$dpdk|$fanin8 --qos 0 $common"
	"dpdk-fanin-q1|dpdk|deliver_rate|higher|fan-in QoS 1, 8 publishers -> 1 subscriber|$dpdk|$fanin8 --qos 1 $common"
	"dpdk-fanin-q2|dpdk|deliver_rate|higher|fan-in QoS 2, 8 publishers -> 1 subscriber|$dpdk|$fanin8 --qos 2 $common"
	"dpdk-fanout-q0-s8|dpdk|deliver_rate|higher|fan-out QoS 0, 1 publisher -> 8 subscribers|$dpdk|fanout --qos 0 --publishers 1 --subscribers 8 $common"
	"dpdk-fanout-q1-s8|dpdk|deliver_rate|higher|fan-out QoS 1, 1 publisher -> 8 subscribers|$dpdk|fanout --qos 1 --publishers 1 --subscribers 8 $common"
	"dpdk-fanout-q0-s100|dpdk|deliver_rate|higher|fan-out QoS 0, 1 publisher -> 100 subscribers|$dpdk|fanout --qos 0 --publishers 1 --subscribers 100 $common"
	"dpdk-fanout-q1-s100|dpdk|deliver_rate|higher|fan-out QoS 1, 1 publisher -> 100 subscribers|$dpdk|fanout --qos 1 --publishers 1 --subscribers 100 $common"
	"dpdk-pairs-q1|dpdk|deliver_rate|higher|16 pairs QoS 1, publisher i -> subscriber i|$dpdk|pairs --qos 1 --pairs 16 $common"
	"dpdk-latency-q1|dpdk|lat_p99_us|lower|latency QoS 1, 8 publishers x 500 msg/s -> 1 subscriber|$dpdk|latency --qos 1 --publishers 8 --subscribers 1 --rate 500 $common"
	"dpdk-conn|dpdk|connect_rate|higher|$conn_n connections (clean session), connects/s and memory per connection|$dpdkc|conn --connections $conn_n --clean 1 --source-range 127.0.0.1-127.0.0.16 $common"
	"persist-fanin-q1|persist|deliver_rate|higher|fan-in QoS 1 into a persistent subscriber (clean 0), 8 publishers -> 1 subscriber|$persist|$fanin8 --qos 1 --clean 0 $common"
	"persist-startup-100k|startup|startup_ms|lower|start-up with $startup_small stored sessions (1 QoS 1 subscription each)|$pstart|conn --connections $startup_small $pfill"
	"persist-startup-1m|startup|startup_ms|lower|start-up with $startup_large stored sessions (1 QoS 1 subscription each)|$pstart|conn --connections $startup_large $pfill"
	"memif-fanin-q0|memif|deliver_rate|higher|fan-in QoS 0, 8 publishers -> 1 subscriber, 64 B|$memif_t|$fanin8 --qos 0 $m64"
	"memif-fanin-q1|memif|deliver_rate|higher|fan-in QoS 1, 8 publishers -> 1 subscriber, 64 B|$memif_tt|$fanin8 --qos 1 $m64"
	"memif-fanin-q2|memif|deliver_rate|higher|fan-in QoS 2, 8 publishers -> 1 subscriber, 64 B|$memif_t|$fanin8 --qos 2 $m64"
	"memif-fanin-q0-1k|memif|deliver_rate|higher|fan-in QoS 0, 8 publishers -> 1 subscriber, 1 KB|$memif_t|$fanin8 --qos 0 $m1k"
	"memif-fanin-q1-1k|memif|deliver_rate|higher|fan-in QoS 1, 8 publishers -> 1 subscriber, 1 KB|$memif_t|$fanin8 --qos 1 $m1k"
	"memif-fanin-q2-1k|memif|deliver_rate|higher|fan-in QoS 2, 8 publishers -> 1 subscriber, 1 KB|$memif_t|$fanin8 --qos 2 $m1k"
	"memif-fanout-q0|memif|deliver_rate|higher|fan-out QoS 0, 1 publisher -> 8 subscribers, 64 B|$memif_t|$mfo --qos 0 $m64"
	"memif-fanout-q1|memif|deliver_rate|higher|fan-out QoS 1, 1 publisher -> 8 subscribers, 64 B|$memif_t|$mfo --qos 1 $m64"
	"memif-fanout-q2|memif|deliver_rate|higher|fan-out QoS 2, 1 publisher -> 8 subscribers, 64 B|$memif_t|$mfo --qos 2 $m64"
	"memif-fanout-q0-1k|memif|deliver_rate|higher|fan-out QoS 0, 1 publisher -> 8 subscribers, 1 KB|$memif_t|$mfo --qos 0 $m1k"
	"memif-fanout-q1-1k|memif|deliver_rate|higher|fan-out QoS 1, 1 publisher -> 8 subscribers, 1 KB|$memif_t|$mfo --qos 1 $m1k"
	"memif-fanout-q2-1k|memif|deliver_rate|higher|fan-out QoS 2, 1 publisher -> 8 subscribers, 1 KB|$memif_t|$mfo --qos 2 $m1k"
	"memif-pairs-q0|memif|deliver_rate|higher|16 pairs QoS 0, publisher i -> subscriber i, 64 B|$memif_t|$mpr --qos 0 $m64"
	"memif-pairs-q1|memif|deliver_rate|higher|16 pairs QoS 1, publisher i -> subscriber i, 64 B|$memif_tt|$mpr --qos 1 $m64"
	"memif-pairs-q2|memif|deliver_rate|higher|16 pairs QoS 2, publisher i -> subscriber i, 64 B|$memif_t|$mpr --qos 2 $m64"
	"memif-pairs-q0-1k|memif|deliver_rate|higher|16 pairs QoS 0, publisher i -> subscriber i, 1 KB|$memif_t|$mpr --qos 0 $m1k"
	"memif-pairs-q1-1k|memif|deliver_rate|higher|16 pairs QoS 1, publisher i -> subscriber i, 1 KB|$memif_t|$mpr --qos 1 $m1k"
	"memif-pairs-q2-1k|memif|deliver_rate|higher|16 pairs QoS 2, publisher i -> subscriber i, 1 KB|$memif_t|$mpr --qos 2 $m1k"
	"memif-search-fanin-q1|search|offered_rate|higher|mosquitto's highest lossless rate, fan-in QoS 1, 8 publishers -> 1 subscriber: the base of memif-fanin-q1's 10x, since flat out mosquitto drops|mosquitto/nagle/1 mosquitto/nodelay/1|$fanin8 --qos 1 $scommon"
	"memif-prof-fanin-q1|memif-prof|deliver_rate|higher|fan-in QoS 1, 8 publishers -> 1 subscriber, 64 B, broker under perf record -g|petrel-memif/backpressure/1|$fanin8 --qos 1 --payload 64 --warmup $warmup --duration 5 --drain $drain"
	"memif-conn-1m|memif-conn|connect_rate|higher|$memif_conn_n connections (clean session) over memif, held ${memif_hold} s|petrel-memif/backpressure/1|conn --connections $memif_conn_n --clean 1 --conn-inflight 2000 --warmup 1 --duration $memif_hold --drain 1"
	"memif-fleet-1m|memif-scale|lat_p99_us|lower|fleet of $memif_fleet_n devices, one QoS 1 message each per $memif_interval s, 8 wildcard subscribers|petrel-memif/backpressure/1|fleet --connections $memif_fleet_n --subscribers 8 --interval $memif_interval --qos 1 --payload 64 --warmup $memif_interval --duration $((3 * memif_interval)) --conn-inflight 2000 --timeout 300"
	"memif-storm-1m|memif-scale|reconnect_s|lower|storm: $memif_storm_n persistent QoS 1 clients reset at once, 1 message queued each, all reconnect at once|petrel-memif/backpressure/1|storm --connections $memif_storm_n --messages 1 --qos 1 --payload 64 --conn-inflight $memif_storm_inflight --timeout 300"
	"memif-persist|memif-persist|connect_rate|higher|$memif_persist_n offline persistent sessions (1 QoS 1 message queued each), persistence on (sync $memif_persist_sync); broker restarted on the store|petrel-memif/$memif_persist_sync/1|persist --connections $memif_persist_n --messages 1 --qos 1 --payload 64 --conn-inflight 2000 --inflight $memif_persist_inflight --timeout 900"
	"memif-persist-10m|memif-persist|connect_rate|higher|$memif_persist10_n offline persistent sessions (1 QoS 1 message queued each), persistence on (sync $memif_persist_sync), publisher window $memif_persist10_inflight; broker restarted on the store|petrel-memif/$memif_persist_sync/1|persist --connections $memif_persist10_n --messages 1 --qos 1 --payload 64 --conn-inflight 2000 --inflight $memif_persist10_inflight --timeout 900"
	"persist-size|size|store_alloc_bytes|lower|store size over a ${size_duration} s fan-in QoS 1 into a persistent subscriber that consumes, 8 publishers -> 1 subscriber|petrel/always/1|$fanin8 --qos 1 --clean 0 --payload 64 --warmup $warmup --duration $size_duration --drain 5"
)

# Seconds a generator run may take before timeout stops it.
gen_limit() {
	case "$1" in
	conn | offline | dpdk) echo 600 ;;
	memif-conn | memif-scale | memif-persist) echo 1500 ;;
	size) echo $((warmup + size_duration + 5 + 120)) ;;
	*) echo $((warmup + duration + drain + 120)) ;;
	esac
}

# Extra key=value pairs for the next run's record (search step, curve fraction).
run_extra=()
# Hooks of the next run (bench_persist.sh): functions called once its broker accepts
# and once its generator ended, and a file of samples for its record.
run_on_start=""
run_on_end=""
run_samples=""

# quote_words <word>...: the words as one shell line, a word with a space in double
# quotes.
quote_words() {
	local w out=""
	for w in "$@"; do
		[[ $w != *" "* ]] || w="\"$w\""
		out+="${out:+ }$w"
	done
	echo "$out"
}

# run_one <row> <kind> <primary> <better> <title> <gen args> <broker> <variant>
#         <workers> <broker cpus> <generator cpus or ""> <rep>: one run, one line in
#         results.
run_one() {
	local row="$1" kind="$2" primary="$3" better="$4" title="$5" gargs="$6"
	local broker="$7" variant="$8" workers="$9" bcpus="${10}" gcpus="${11}" rep="${12}"
	local port bcmd gcmd line rc=0 limit label err="" started last totals="" dtotals=""
	local stats="" vconf
	local -a gen args samples=()

	port="$(free_port)"
	label="$row/$broker-$variant/w$workers/rep$rep"
	# In the namespace the generator has one address: the connections' source.
	[[ $(broker_net "$broker") != ns ]] ||
		gargs="$(sed -E "s/--source-range [^ ]+/--source-range $ns_gen_addr-$ns_gen_addr/" <<<"$gargs")"
	read -ra args <<<"$gargs"
	# Over memif the generator is a DPDK process with addresses of its own.
	[[ $(broker_net "$broker") != memif ]] ||
		mapfile -t -O "${#args[@]}" args < <(memif_gen_args "$(memif_connections "$gargs")")
	gen=("$gen_bin" "${args[@]}" --host "$(broker_host "$broker")" --port "$port"
		--threads 1 --label "$label" --client-prefix "pb-$row-$rep-")
	[[ -n $gcpus ]] && gen=(taskset -c "$gcpus" "${gen[@]}")
	[[ $(broker_net "$broker") != ns ]] || gen=(ip netns exec "$ns_gen" "${gen[@]}")
	limit="$(gen_limit "$kind")"
	bcmd="$(broker_cmd "$broker" "$workers" "$bcpus" "$tmp/${broker%%-*}.conf")"

	started=$SECONDS
	rm -f "$tmp/gen.out" "$tmp/gen.err"
	vconf="$(variant_conf "$broker" "$variant" || true)"
	# Every run with a store starts on an empty one (but memif-persist's verify half,
	# store_keep 1, on the one its fill left).
	[[ $vconf != *"persistence true"* || ${store_keep:-0} -eq 1 ]] || store_fresh "$broker"
	rm -f "$run_kv"
	if ! start_broker "$broker" "$variant" "$workers" "$bcpus" "$port"; then
		err="broker did not start"
		rc=1
		line=""
	else
		gen+=(--broker-pid "$broker_pid")
		gcmd="timeout -k 5 $limit ${gen[*]}"
		# Quoted where a word has spaces (memif's --dpdk-eal).
		[[ $(broker_net "$broker") != memif ]] ||
			gcmd="timeout -k 5 $limit $(quote_words "${gen[@]}")"
		[[ -z $run_on_start ]] || "$run_on_start"
		# In the background and waited for, so that a signal to this script is
		# handled at once (cleanup stops the generator and the broker).
		timeout -k 5 "$limit" "${gen[@]}" </dev/null >"$tmp/gen.out" 2>"$tmp/gen.err" &
		gen_pid=$!
		wait "$gen_pid" || rc=$?
		gen_pid=""
		[[ -z $run_on_end ]] || "$run_on_end"
		line="$(cat "$tmp/gen.out")"
		if ! kill -0 "$broker_pid" 2>/dev/null; then
			err="broker died during the run"
			[[ $rc -ne 0 ]] || rc=1
			tail -n 20 "$tmp/broker.log" >&2 || true
		fi
		# A broker with a store writes what it still holds before it exits (and one
		# holding 10M sessions took 45-55 s before it left their memory to the exit,
		# 6af2e98): a wide margin, never below what the row set (run_memif: 180 s
		# from 100k connections).
		local saved_stop=$stop_wait_s
		[[ $vconf != *"persistence true"* || $stop_wait_s -ge 600 ]] || stop_wait_s=600
		stop_broker
		stop_wait_s=$saved_stop
		# Petrel's own counters, logged at shutdown: where its drops happened.
		if [[ $broker == petrel* ]]; then
			totals="$(sed -n 's/.* notice: totals: //p' "$tmp/broker.log" | tail -n 1)"
			# On DPDK, also the stack's, interface's and worker's counters, and the
			# device's own (DPDK's xstats names: imissed, rx_nombuf ...).
			dtotals="$(sed -n 's/.* notice: dpdk totals: //p' "$tmp/broker.log" | tail -n 1)"
			dtotals+=" $(sed -n 's/.* notice: dpdk_port [0-9]* totals: //p' \
				"$tmp/broker.log" | tail -n 1)"
			# The generator's own stack (petrel-bench --dpdk, one line per thread).
			[[ $(broker_net "$broker") != memif ]] ||
				echo "gen_dpdk_totals=$(sed -n 's/^petrel-bench: thread 0 dpdk totals: *//p' \
					"$tmp/gen.err" | tail -n 1)" >>"$run_kv"
		fi
	fi
	# The store the run left behind (persistence variants), read once the broker
	# stopped.
	if [[ $vconf == *"persistence true"* ]]; then
		stats="$(store_stats) $(mdb_stats) stop_ms=${broker_stop_ms:-}"
		petrel_log "  $label: store after the run: $stats"
	fi
	[[ -z $run_samples ]] || samples=(--samples "$run_samples")
	# What the run's hooks learnt (memif rows: petrelctl, the store's load line).
	local -a hook_kv=()
	[[ ! -s $run_kv ]] || mapfile -t hook_kv < <(grep '=' "$run_kv")
	gcmd="${gcmd:-timeout -k 5 $limit ${gen[*]} --broker-pid PID}"
	if [[ $rc -ne 0 ]]; then
		case "$rc" in
		124 | 137) err="${err:-generator timed out after ${limit}s}" ;;
		2) err="${err:-generator usage error}" ;;
		*) err="${err:-generator exit status $rc}" ;;
		esac
		last="$(grep -v '^[[:space:]]*$' "$tmp/gen.err" 2>/dev/null | tail -n 1 | cut -c 1-200 || true)"
		[[ -z $last ]] || err+=" ($last)"
		petrel_log "$label: $err; generator stderr:"
		tail -n 20 "$tmp/gen.err" >&2 || true
	fi
	# Paths in the recorded commands: relative to the repository, configs by name.
	gcmd="${gcmd//"$PETREL_ROOT/"/}"
	bcmd="${bcmd//"$PETREL_ROOT/"/}"
	gcmd="${gcmd//"$tmp/"/}"
	bcmd="${bcmd//"$tmp/"/}"
	gcmd="${gcmd//"$ns_gen"/petrel-bench-gen}"
	bcmd="${bcmd//"$ns_gen"/petrel-bench-gen}"
	bcmd="${bcmd//"$ns_brk"/petrel-bench-brk}"
	gcmd="${gcmd//"$memif_gen_prefix"/pb-memif-g}"
	vconf="${vconf//"$persist_dir"/DATA}"
	local dconf
	dconf="$(dpdk_conf "$broker")"
	dconf="${dconf//"$tmp/"/}"
	dconf="${dconf//"$memif_brk_prefix"/pb-memif-b}"
	# shellcheck disable=SC2086 # $stats: key=value words
	python3 "$report" append --file "$results" --json "$line" "${samples[@]}" \
		--set row="$row" kind="$kind" primary="$primary" better="$better" \
		title="$title" broker="$broker" variant="$variant" workers="$workers" \
		rep="$rep" broker_cpus="$bcpus" gen_cpus="${gcpus:-any}" port="$port" \
		variant_conf="$vconf" broker_totals="$totals" \
		dpdk_totals="$dtotals" dpdk_conf="$dconf" \
		broker_cmd="$bcmd" gen_cmd="$gcmd" exit="$rc" error="$err" \
		wall_s="$((SECONDS - started))" run_date="$BENCH_DATE" petrel_rev="$BENCH_PETREL" \
		$stats "${run_extra[@]}" "${hook_kv[@]}"
	python3 "$report" summary --json "$line" --label "$label" --primary "$primary" --kind "$kind" \
		--error "$err" --wall "$((SECONDS - started))"
	# A usage error is this script's mistake: no point running the other rows.
	if [[ $rc -eq 2 ]]; then
		petrel_log "petrel-bench rejected the arguments: $gcmd"
		exit 1
	fi
}

# Where a row's broker and generator run: the scaling rows let the broker use both
# cores and leave the generator unpinned; every other row pins them apart.
placement() {
	if [[ $1 == scaling ]]; then
		echo "0-1 any"
	else
		echo "0 1"
	fi
}

# run_reps <row> <kind> <primary> <better> <title> <variants> <gen args>: every
# variant once per rep, alternating, so a slow spell of the VM hits all of them.
run_reps() {
	local row="$1" kind="$2" primary="$3" better="$4" title="$5" variants="$6" gargs="$7"
	local rep v broker variant workers bcpus gcpus

	read -r bcpus gcpus <<<"$(placement "$kind")"
	[[ $gcpus != any ]] || gcpus=""
	for rep in $(seq 1 "$reps"); do
		for v in $variants; do
			[[ -z $only_variants || $v =~ $only_variants ]] || continue
			IFS=/ read -r broker variant workers <<<"$v"
			run_one "$row" "$kind" "$primary" "$better" "$title" "$gargs" \
				"$broker" "$variant" "$workers" "$bcpus" "$gcpus" "$rep"
		done
	done
}

# run_search <row> <kind> <primary> <better> <title> <variants> <gen args>: the rate
# search of every variant, step by step in turn (step 1 of each, then step 2 ...).
# bench_report.py search-next reads the steps so far from the results and says the
# next rate, or that the variant is done (bracketed closely enough, out of steps or
# out of time).
run_search() {
	local row="$1" kind="$2" primary="$3" better="$4" title="$5" variants="$6" gargs="$7"
	local step v broker variant workers next per_pub total any
	local -A done_v=()

	for ((step = 1; step <= search_steps; step++)); do
		any=0
		for v in $variants; do
			[[ -z ${done_v[$v]:-} ]] || continue
			IFS=/ read -r broker variant workers <<<"$v"
			next="$(python3 "$report" search-next --results "$results" --row "$row" \
				--broker "$broker" --variant "$variant" --workers "$workers" \
				--publishers 8 --max-steps "$search_steps" --budget "$search_budget")"
			if [[ -z $next ]]; then
				done_v[$v]=1
				continue
			fi
			any=1
			read -r per_pub total <<<"$next"
			run_extra=(step="$step" offered_total="$total")
			run_one "$row" "$kind" "$primary" "$better" "$title" "$gargs --rate $per_pub" \
				"$broker" "$variant" "$workers" 0 1 "$step"
			run_extra=()
		done
		[[ $any -eq 1 ]] || break
	done
}

# run_curve <row> <kind> <primary> <better> <title> <search row> <gen args>: both
# brokers at each fraction of their own lossless rate from <search row>, reps times,
# alternating. bench_report.py curve-plan prints "broker variant workers percent
# rate-per-publisher total" lines (mosquitto in its better variant).
run_curve() {
	local row="$1" kind="$2" primary="$3" better="$4" title="$5" source="$6" gargs="$7"
	local rep frac broker variant workers pct per_pub total plan

	plan="$(python3 "$report" curve-plan --results "$results" --row "$source" \
		--publishers 8 --fractions "$curve_fractions")"
	if [[ -z $plan ]]; then
		petrel_log "row $row: no lossless rate in $source for either broker; skipped"
		return 0
	fi
	for frac in $curve_fractions; do
		for rep in $(seq 1 "$reps"); do
			while read -r broker variant workers pct per_pub total; do
				[[ $pct == "$frac" ]] || continue
				run_extra=(percent="$pct" offered_total="$total" source_row="$source")
				run_one "$row" "$kind" "$primary" "$better" "$title" \
					"$gargs --rate $per_pub" "$broker" "$variant" "$workers" 0 1 "$rep"
				run_extra=()
			done <<<"$plan"
		done
	done
}

# ---- metadata ------------------------------------------------------------------------

# Percent of both CPUs that something else used during one second: other work on
# this machine (a build, another session's tests) skews every number.
busy_pct() {
	local a b
	read -ra a < <(grep '^cpu ' /proc/stat)
	sleep 1
	read -ra b < <(grep '^cpu ' /proc/stat)
	# fields: user nice system idle iowait irq softirq steal
	local ta=$((a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7] + a[8]))
	local tb=$((b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + b[7] + b[8]))
	local ia=$((a[4] + a[5])) ib=$((b[4] + b[5]))
	if [[ $tb -le $ta ]]; then
		echo 0
	else
		echo $((100 - 100 * (ib - ia) / (tb - ta)))
	fi
}

mosquitto_version="$("$mosquitto_bin" -h 2>&1 | head -n 1 || true)"
export BENCH_DATE BENCH_CPU BENCH_CORES BENCH_MEM BENCH_KERNEL BENCH_PETREL BENCH_MOSQUITTO
export BENCH_GCC BENCH_REPS BENCH_QUICK BENCH_WARMUP BENCH_DURATION BENCH_DRAIN
export BENCH_NOFILE BENCH_ONLY BENCH_VARIANTS BENCH_PETREL_CONF BENCH_MOSQUITTO_CONF BENCH_OS
export BENCH_BUSY_PCT BENCH_OTHER_BROKERS
export BENCH_PERSIST_FS BENCH_SIZE_DURATION BENCH_SIZE_EVERY BENCH_FILL_CHUNK BENCH_MDB_STAT
# The file system the stores are on: on a tmpfs a sync costs nothing.
BENCH_PERSIST_FS="$(df --output=fstype "$data_root" 2>/dev/null | tail -n 1 || true)"
if [[ $BENCH_PERSIST_FS == tmpfs ]]; then
	petrel_log "warning: the stores are on a tmpfs ($data_root): persistence_sync always" \
		"costs nothing there; set PETREL_BENCH_DATA to a directory on a disk"
fi
BENCH_SIZE_DURATION="$size_duration"
BENCH_SIZE_EVERY="$size_every"
BENCH_FILL_CHUNK="$fill_chunk"
BENCH_MDB_STAT="$(command -v mdb_stat || true)"
export BENCH_SEARCH_STEPS BENCH_SEARCH_BUDGET BENCH_SEARCH_DURATION BENCH_CURVE_FRACTIONS
BENCH_SEARCH_STEPS="$search_steps"
BENCH_SEARCH_BUDGET="$search_budget"
BENCH_SEARCH_DURATION="$search_duration"
BENCH_CURVE_FRACTIONS="$curve_fractions"
BENCH_BUSY_PCT="$(busy_pct)"
BENCH_OTHER_BROKERS="$(pgrep -c '^(petrel|mosquitto)$' || true)"
if [[ $BENCH_BUSY_PCT -gt 10 || $BENCH_OTHER_BROKERS -gt 0 ]]; then
	petrel_log "warning: the machine is not idle (${BENCH_BUSY_PCT}% CPU busy before" \
		"the start, $BENCH_OTHER_BROKERS other broker process(es)): expect noisy numbers"
fi
BENCH_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"
BENCH_CPU="$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
BENCH_CORES="$(nproc)"
BENCH_MEM="$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
BENCH_KERNEL="$(uname -sr)"
# shellcheck disable=SC1091
BENCH_OS="$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}")"
BENCH_PETREL="$(git -C "$PETREL_ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
BENCH_MOSQUITTO="$mosquitto_version"
BENCH_GCC="$(gcc --version | head -n 1)"
BENCH_REPS="$reps"
BENCH_QUICK="$quick"
BENCH_WARMUP="$warmup"
BENCH_DURATION="$duration"
BENCH_DRAIN="$drain"
BENCH_NOFILE="$nofile"
BENCH_ONLY="$only"
BENCH_VARIANTS="$only_variants"
write_configs PORT
BENCH_PETREL_CONF="$(cat "$tmp/petrel.conf")"
BENCH_MOSQUITTO_CONF="$(cat "$tmp/mosquitto.conf")"

# The curve needs its search row's results: selecting it selects that row too.
selected=()
for spec in "${rows[@]}"; do
	IFS='|' read -r row kind _ _ _ variants _ <<<"$spec"
	if [[ -z $only || $row =~ $only ]]; then
		selected+=("$row")
		if [[ $kind == curve && -n $only && ! $variants =~ $only ]]; then
			petrel_log "row $row needs $variants: running it too"
			selected+=("$variants")
		fi
	fi
done

# The memif rows keep their results apart (results-memif.jsonl, meta-memif.json), so
# that `--only '^memif-'` rewrites the report's memif section from a run of its own
# and the other sections from the results already there, and the other way round.
selected_results=()
selected_metas=()
for r in "${selected[@]}"; do
	if [[ $r == memif-* ]]; then
		[[ " ${selected_metas[*]} " == *" $meta_memif "* ]] ||
			{ selected_results+=("$results_memif"); selected_metas+=("$meta_memif"); }
	else
		[[ " ${selected_metas[*]} " == *" $meta "* ]] ||
			{ selected_results+=("$results"); selected_metas+=("$meta"); }
	fi
done
for m in "${selected_metas[@]}"; do
	python3 - "$m" <<'EOF'
import json, os, sys
meta = {k[len("BENCH_"):].lower(): v for k, v in os.environ.items() if k.startswith("BENCH_")}
with open(sys.argv[1], "w") as f:
    json.dump(meta, f, indent=1, sort_keys=True)
    f.write("\n")
EOF
done

# ---- run -----------------------------------------------------------------------------

# The main results start afresh; the memif results lose only the rows this run makes
# again, so that the rows at scale and the throughput rows may come from separate runs.
for r in "${selected_results[@]}"; do
	if [[ $r == "$results_memif" && -s $r ]]; then
		python3 - "$r" "${selected[@]}" <<'EOF'
import json, sys
path, rows = sys.argv[1], set(sys.argv[2:])
with open(path) as f:
    keep = [l for l in f if l.strip() and json.loads(l).get("row") not in rows]
with open(path, "w") as f:
    f.writelines(keep)
EOF
	else
		: >"$r"
	fi
done
start_all=$SECONDS
nrows=0
for spec in "${rows[@]}"; do
	IFS='|' read -r row kind primary better title variants gargs <<<"$spec"
	if [[ " ${selected[*]} " != *" $row "* ]]; then
		continue
	fi
	nrows=$((nrows + 1))
	petrel_log "row $row: $title"
	results="$results_main"
	[[ $row != memif-* ]] || results="$results_memif"
	case "$kind" in
	search) run_search "$row" "$kind" "$primary" "$better" "$title" "$variants" "$gargs" ;;
	curve) run_curve "$row" "$kind" "$primary" "$better" "$title" "$variants" "$gargs" ;;
	startup) run_startup "$row" "$kind" "$primary" "$better" "$title" "$variants" "$gargs" ;;
	size) run_size "$row" "$kind" "$primary" "$better" "$title" "$variants" "$gargs" ;;
	memif*) run_memif "$row" "$kind" "$primary" "$better" "$title" "$variants" "$gargs" ;;
	*) run_reps "$row" "$kind" "$primary" "$better" "$title" "$variants" "$gargs" ;;
	esac
done
if [[ $nrows -eq 0 ]]; then
	petrel_log "no row matches --only '$only'"
	exit 2
fi
elapsed=$((SECONDS - start_all))
export BENCH_ELAPSED_S="$elapsed"
for m in "${selected_metas[@]}"; do
	python3 - "$m" <<'EOF'
import json, os, sys
with open(sys.argv[1]) as f:
    meta = json.load(f)
meta["elapsed_s"] = os.environ["BENCH_ELAPSED_S"]
with open(sys.argv[1], "w") as f:
    json.dump(meta, f, indent=1, sort_keys=True)
    f.write("\n")
EOF
done

# After memif rows only, only their section is rewritten (sections spliced in by hand,
# such as Persistence, stay); a fresh directory gets a whole report.
if [[ " ${selected_metas[*]} " != *" $meta "* && -e $out ]]; then
	python3 "$report" memif-section --out "$out" --plots "$benchdir"
else
	[[ -e $results_main ]] || : >"$results_main"
	[[ -e $meta ]] || cp "$meta_memif" "$meta"
	python3 "$report" report --results "$results_main" --meta "$meta" --out "$out" \
		--plots "$benchdir"
fi
petrel_log "done in $((elapsed / 60)) min $((elapsed % 60)) s: $out"
