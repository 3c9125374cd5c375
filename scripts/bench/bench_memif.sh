# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # bench.sh's globals, read and set for it
# bench_memif.sh - the memif rows of scripts/bench.sh (issue 10): sourced by it, using
# its brokers (start_broker, stop_broker), run_one and its results.
#
# The broker variant petrel-memif is Petrel with `dataplane dpdk`, one worker, on
# DPDK's net_memif as the memif server (a socket file in bench.sh's temporary
# directory), pinned to core 0; the generator is petrel-bench --dpdk, the memif
# client, pinned to core 1, opening its connections with Petrel's own TCP stack from
# one source address per memif_per_addr connections (198.18.0.2 upwards in
# 198.18.0.0/16). No kernel network path and no namespace: both ends are DPDK
# processes on this host, --no-huge, each with its own --file-prefix (removed after
# every run with the memif socket).
#
# Rows (kinds):
#   memif      throughput rows: the same scenario for petrel-memif, kernel Petrel and
#              mosquitto over loopback in the same run (the kernel rows' way)
#   memif-prof one petrel-memif fan-in QoS 1 run with `perf record -g` on the broker;
#              the split per packet (perf_split.py) and the top symbols go to
#              bench/profile-memif.txt (profile-memif.md is a person's reading of it)
#   memif-conn connections held (conn), petrelctl status sampled while they are
#   memif-scale fleet and storm at scale
#   memif-persist  persist --phase fill with persistence on, the broker restarted on
#              its store (start-up time, RSS), persist --phase verify
#
# Sizes (environment, for when a row at 1M does not complete here): MEMIF_CONN_N,
# MEMIF_FLEET_N, MEMIF_STORM_N, MEMIF_PERSIST_N; MEMIF_STORM_INFLIGHT (storm's
# reconnect window), MEMIF_BROKER_MBUFS (broker's dpdk_mbufs), MEMIF_GEN_MBUFS
# (generator's --dpdk-mbufs), MEMIF_HOLD (seconds the conn row holds them).

memif_broker_addr=198.18.0.1
memif_gen_addr=198.18.0.2
# petrel-bench --dpdk's source ports to one broker address and port: 16,384 per
# source address (49152-65535): one address per 15,000 connections leaves headroom.
memif_per_addr=15000
memif_max_addrs=250
memif_sock="$tmp/memif.sock"
memif_brk_prefix="pb-memif-b-$$"
memif_gen_prefix="pb-memif-g-$$"
memif_ctl="$tmp/ctl.sock"
memif_broker_mbufs="${MEMIF_BROKER_MBUFS:-16384}"
memif_gen_mbufs="${MEMIF_GEN_MBUFS:-65536}"
# The broker's tcp_max_connections of the next run: set from the row's connections.
memif_max_conns=65536
# What a hook learnt for the next run's record: "key=value" lines.
run_kv="$tmp/run.kv"
memif_ctl_pid=""
memif_perf_pid=""

# The broker's DPDK lines for petrel-memif.
memif_conf() {
	cat <<EOF
dataplane dpdk
dpdk_eal_args --no-huge -m 1024 --no-pci --no-telemetry --file-prefix $memif_brk_prefix --vdev=net_memif0,role=server,socket=$memif_sock,id=0,socket-abstract=no,rsize=12
dpdk_address $memif_broker_addr/16
dpdk_mbufs $memif_broker_mbufs
tcp_max_connections $memif_max_conns
control_socket $memif_ctl
EOF
}

# memif_connections <gen args>: the connections a run opens (at least a few hundred
# for the throughput scenarios).
memif_connections() {
	local n
	n="$(sed -nE 's/.*--connections ([0-9]+).*/\1/p' <<<"$1")"
	echo "${n:-200}"
}

# memif_gen_args <connections>: petrel-bench's DPDK options, one per line (the EAL
# arguments are one word with spaces).
memif_gen_args() {
	local naddr last
	naddr=$(($1 / memif_per_addr + 1))
	# The broker's ARP cache holds dpdk_arp_entries neighbours (the default 256 here):
	# past that it evicts and re-resolves all the time (arp_cache_full) and connects
	# crawl (a 10M persist fill: 5,000/s with 668 addresses instead of 50,000/s).
	# persist holds only --conn-inflight connections at once, and each address walks
	# its 64,512 source ports in order, so 250 addresses give 10M connections 40,000
	# each: no 4-tuple comes round while the broker may hold it in TIME-WAIT.
	[[ $naddr -le $memif_max_addrs ]] || naddr=$memif_max_addrs
	last=$((2 + naddr - 1))
	printf '%s\n' --dpdk --dpdk-eal \
		"--no-huge -m 2048 --no-pci --no-telemetry --file-prefix $memif_gen_prefix --vdev=net_memif0,role=client,socket=$memif_sock,id=0,socket-abstract=no,rsize=12" \
		--dpdk-address "$memif_gen_addr/16" --dpdk-mbufs "$memif_gen_mbufs" \
		--source-range "198.18.0.2-198.18.$((last / 256)).$((last % 256))"
}

# Removes the memif socket and both DPDK runtime directories (after a run; a
# process killed with SIGKILL leaves its /var/run/dpdk/PREFIX behind).
memif_release() {
	rm -f "$memif_sock"
	rm -rf "/var/run/dpdk/$memif_brk_prefix" "/var/run/dpdk/$memif_gen_prefix"
}

# petrelctl status's "connections" while a conn row holds them: sampled every second
# from the broker's start; memif_ctl_stop writes the peak to run_kv.
memif_ctl_start() {
	local ctl="$builddir/control/petrelctl"
	(
		peak=0
		while :; do
			n="$("$ctl" -s "$memif_ctl" -t 5 --json status 2>/dev/null |
				python3 -c 'import json,sys; print(json.load(sys.stdin).get("connections",0))' \
					2>/dev/null || echo 0)"
			[[ $n -le $peak ]] || { peak=$n; echo "$peak" >"$tmp/ctl.peak"; }
			sleep 1
		done
	) &
	memif_ctl_pid=$!
}

memif_ctl_stop() {
	[[ -n $memif_ctl_pid ]] || return 0
	kill -TERM "$memif_ctl_pid" 2>/dev/null || true
	wait "$memif_ctl_pid" 2>/dev/null || true
	memif_ctl_pid=""
	echo "ctl_connections_peak=$(cat "$tmp/ctl.peak" 2>/dev/null || echo 0)" >>"$run_kv"
	rm -f "$tmp/ctl.peak"
}

# perf record -g on the broker for the whole run (memif-prof), cpu-clock at 4999 Hz as
# for bench/profile-dpdk.md (this VM has no PMU); memif_perf_report then writes the
# split per packet (perf_split.py) and the top symbols to bench/profile-memif.txt.
memif_perf_start() {
	perf record -q -e cpu-clock -F 4999 -g -o "$tmp/perf.data" -p "$broker_pid" \
		>/dev/null 2>&1 &
	memif_perf_pid=$!
}

memif_perf_stop() {
	[[ -n $memif_perf_pid ]] || return 0
	kill -INT "$memif_perf_pid" 2>/dev/null || true
	wait "$memif_perf_pid" 2>/dev/null || true
	memif_perf_pid=""
}

# After the run: --packets from the frames the broker's port received and sent (its
# dpdk totals in the run's record, the last line of results).
memif_perf_report() {
	local packets ghz
	[[ -s $tmp/perf.data ]] || return 0
	packets="$(tail -n 1 "$results" | python3 -c '
import json, sys
t = dict(kv.split("=", 1) for kv in json.load(sys.stdin).get("dpdk_totals", "").split() if "=" in kv)
print(int(t.get("port_rx_frames", 0)) + int(t.get("port_tx_frames", 0)))' 2>/dev/null || echo 0)"
	ghz="$(awk '/^cpu MHz/ { printf "%.2f", $4 / 1000; exit }' /proc/cpuinfo)"
	{
		echo "# memif-prof-fanin-q1: perf record -e cpu-clock -F 4999 -g -p BROKER;" \
			"frames rx+tx $packets; cpu ${ghz} GHz"
		echo "# perf script --comms w0 -F ip,sym,dso | perf_split.py --objs" \
			"build-release/control/libpetrel_core.a.p --packets $packets --hz 4999 --ghz $ghz"
		timeout 300 perf script -i "$tmp/perf.data" --comms w0 -F ip,sym,dso 2>/dev/null |
			python3 "$PETREL_ROOT/scripts/bench/perf_split.py" \
				--objs "$builddir/control/libpetrel_core.a.p" --packets "$packets" \
				--hz 4999 --ghz "$ghz" 2>&1
		echo "# perf report --comms w0 --no-children --sort sym (>= 0.5 %)"
		timeout 300 perf report -i "$tmp/perf.data" --comms w0 --no-children --stdio \
			-g none --percent-limit 0.5 --sort sym 2>/dev/null | grep -v '^#' |
			grep -v '^$' | head -n 60
	} >"$benchdir/profile-memif.txt" || true
	rm -f "$tmp/perf.data" "$tmp/perf.data.old"
}

# The restarted broker of memif-persist: its RSS once it listens, its load line.
memif_started_stats() {
	echo "rss_started_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$broker_pid/status" 2>/dev/null)" >>"$run_kv"
	echo "listen_ms=$broker_ready_ms" >>"$run_kv"
}

memif_load_stats() {
	petrel_load_stats | tr ' ' '\n' >>"$run_kv"
}

# run_memif <row> <kind> <primary> <better> <title> <variants> <gen args>: every
# variant REPS times, as run_reps, with the broker's limits sized from the row and the
# hooks of its kind.
run_memif() {
	local row="$1" kind="$2" primary="$3" better="$4" title="$5" variants="$6" gargs="$7"
	local n saved_stop=$stop_wait_s nreps=$reps

	n="$(memif_connections "$gargs")"
	memif_max_conns=$((n + n / 10 + 1024))
	[[ $memif_max_conns -ge 65536 ]] || memif_max_conns=65536
	# Closing a million connections (and saving a store) takes a while.
	[[ $n -lt 100000 ]] || stop_wait_s=180
	case "$kind" in
	memif-conn)
		run_on_start=memif_ctl_start
		run_on_end=memif_ctl_stop
		;;
	memif-prof)
		run_on_start=memif_perf_start
		run_on_end=memif_perf_stop
		nreps=1
		;;
	esac
	# The rows at scale run once: each is minutes long.
	[[ $kind != memif-scale && $kind != memif-conn ]] || nreps=1
	local saved_reps=$reps
	reps=$nreps
	if [[ $kind == memif-persist ]]; then
		run_memif_persist "$@"
	else
		run_reps "$row" "$kind" "$primary" "$better" "$title" "$variants" "$gargs"
	fi
	[[ $kind != memif-prof ]] || memif_perf_report
	reps=$saved_reps
	run_on_start="" run_on_end=""
	stop_wait_s=$saved_stop
}

# run_memif_persist: per variant, the fill (persist --phase fill) on an empty store,
# then the broker restarted on that store (run_one starts it: the time until it listens
# with the sessions loaded, its RSS, its load line) and the verify half.
run_memif_persist() {
	local row="$1" kind="$2" primary="$3" better="$4" title="$5" variants="$6" gargs="$7"
	local v broker variant workers saved_wait=$start_wait_s

	# Loading millions of stored sessions before it listens.
	start_wait_s=600
	for v in $variants; do
		[[ -z $only_variants || $v =~ $only_variants ]] || continue
		IFS=/ read -r broker variant workers <<<"$v"
		store_keep=0
		run_on_start="" run_on_end=""
		run_one "$row" "$kind" "$primary" "$better" "$title" "$gargs --phase fill" \
			"$broker" "$variant" "$workers" 0 1 1
		store_keep=1
		run_on_start=memif_started_stats
		run_on_end=memif_load_stats
		run_one "$row" "$kind" "$primary" "$better" "$title" "$gargs --phase verify" \
			"$broker" "$variant" "$workers" 0 1 1
		store_keep=0
	done
	start_wait_s=$saved_wait
}
