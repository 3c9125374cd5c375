#!/usr/bin/env bash
# conn_memory.sh - broker memory per idle connection over DPDK, at scale.
#
#     scripts/bench/conn_memory.sh BUILDDIR CONNECTIONS [ADDRESSES] [-- petrel-bench args]
#
# As bench.sh's dpdk-conn row (petrel-tap variant): Petrel with one worker on DPDK's
# net_tap inside a network namespace of its own (198.18.0.1/24), the kernel-mode
# petrel-bench on the tap's kernel side. Past ~60k connections one generator address
# runs out of ports, so the tap gets ADDRESSES (default CONNECTIONS/50000 + 1)
# addresses from 198.18.0.2 up and petrel-bench spreads the connections over them
# (--source-range). Prints petrel-bench's JSON line (rss_per_conn_bytes), then the
# broker's `petrelctl status` connections. Needs root; removes its namespace, also on
# failure. Only 198.18.0.0/24 is used and nothing is routed.
set -euo pipefail
build="$1"
conns="$2"
naddr="${3:-$((conns / 50000 + 1))}"
shift 3 || shift $#
[[ ${1:-} != -- ]] || shift
root="$(cd "$(dirname "$0")/../.." && pwd)"
ns="petrel-connmem-$$"
tmp="$(mktemp -d /tmp/petrel-connmem.XXXXXX)"
broker_pid=""
cleanup() {
	[[ -z $broker_pid ]] || kill -TERM "$broker_pid" 2>/dev/null || true
	sleep 1
	[[ -z $broker_pid ]] || kill -KILL "$broker_pid" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	[[ -z ${KEEP:-} ]] && rm -rf "$tmp" || echo "kept $tmp" >&2
}
trap cleanup EXIT
# A kernel generator needs a descriptor per connection.
ulimit -n "$(ulimit -Hn)"
ip netns add "$ns"
ip -n "$ns" link set lo up
# Wider ephemeral ports (this namespace only): 64k per generator address.
ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
cat >"$tmp/petrel.conf" <<CONF
listener 1883 198.18.0.1
persistence false
control_socket $tmp/ctl.sock
log_level notice
dataplane dpdk
dpdk_eal_args --no-huge -m 512 --no-pci --no-telemetry --file-prefix connmem-$$ --vdev=net_tap0,iface=cmtap0
dpdk_address 198.18.0.1/24
dpdk_mbufs 16384
tcp_max_connections $((conns + 1024))
tcp_syn_backlog 1024
CONF
ip netns exec "$ns" taskset -c 0 "$build/control/petrel" -c "$tmp/petrel.conf" -w 1 \
	>"$tmp/broker.log" 2>&1 &
broker_pid=$!
for ((i = 0; i < 200; i++)); do
	ip netns exec "$ns" test -e /sys/class/net/cmtap0 && break
	sleep 0.1
done
for ((a = 0; a < naddr; a++)); do
	ip -n "$ns" addr add "198.18.0.$((2 + a))/24" dev cmtap0
done
ip -n "$ns" link set cmtap0 up
for ((i = 0; i < 100; i++)); do
	ip netns exec "$ns" timeout 2 bash -c 'exec 3<>/dev/tcp/198.18.0.1/1883' 2>/dev/null && break
	sleep 0.2
done
# One generator per address: a process may hold only RLIMIT_NOFILE sockets (20000
# here, and root in a container may not raise it).
per=$(((conns + naddr - 1) / naddr))
gens=()
left=$conns
for ((a = 0; a < naddr && left > 0; a++)); do
	n=$((left < per ? left : per))
	left=$((left - n))
	ip netns exec "$ns" taskset -c 1 nice -n 10 "$build/tests/bench/petrel-bench" conn \
		--connections "$n" --clean 1 --host 198.18.0.1 --port 1883 \
		--source-range "198.18.0.$((2 + a))-198.18.0.$((2 + a))" --duration "${HOLD:-20}" \
		--threads 1 --client-prefix "cm$a-" "$@" >"$tmp/gen$a.out" 2>"$tmp/gen$a.err" &
	gens+=($!)
done
rss() { awk '/^VmRSS/ {print $2}' "/proc/$broker_pid/status"; }
conns_now() {
	"$build/control/petrelctl" -s "$tmp/ctl.sock" -t 5 --json status 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin).get("connections",0))' \
		2>/dev/null || echo 0
}
rss0="$(rss)"
t0="$(date +%s.%N)"
# PERF=FILE: the broker's profile until all are connected (perf record -g).
perf_pid=""
if [[ -n ${PERF:-} ]]; then
	perf record -q -g -o "$PERF" -p "$broker_pid" >/dev/null 2>&1 &
	perf_pid=$!
fi
n=0
last=-1
still=0
# Until all are up, or the count stood still for 3 samples (some failed: see below).
while [[ $n -lt $conns && $still -lt 3 ]]; do
	sleep 0.5
	n="$(conns_now)"
	echo "t=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))") connections $n rss $(rss) KiB" >&2
	if [[ $n -eq $last ]]; then still=$((still + 1)); else still=0; fi
	last=$n
done
t1="$(date +%s.%N)"
[[ -z $perf_pid ]] || { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
# Settle: delayed ACKs, the last CONNACKs' mbufs.
sleep 2
rss1="$(rss)"
n="$(conns_now)"
python3 -c "
import json
print(json.dumps({'connections': $n, 'rss_before_kb': $rss0, 'rss_after_kb': $rss1,
  'rss_per_conn_bytes': round(($rss1 - $rss0) * 1024 / max($n, 1), 1),
  'connect_s': round($t1 - $t0, 2), 'connect_rate': round($n / ($t1 - $t0))}))"
for ((a = 0; a < ${#gens[@]}; a++)); do
	wait "${gens[$a]}" || true
	grep "petrel-bench" "$tmp/gen$a.err" >&2 || cat "$tmp/gen$a.err" >&2
done
grep -v "^$" "$tmp/broker.log" | tail -3 >&2
