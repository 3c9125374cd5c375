#!/usr/bin/env bash
# conn_memif.sh - broker memory per idle connection and connect rate over net_memif,
# with the DPDK generator (petrel-bench --dpdk) as the memif client.
#
#     scripts/bench/conn_memif.sh BUILDDIR CONNECTIONS [-- petrel-bench args]
#
# Petrel with one worker, memif server on a socket in a temporary directory
# (docs/operations.md "On memif"), pinned to CPU 0; petrel-bench --dpdk conn on CPU 1
# from one address per 15,000 connections (--source-range from 198.18.0.2). No
# network namespace: memif never touches the kernel's network. PETREL_BENCH_BIN
# overrides the generator (default BUILDDIR/tests/bench/petrel-bench). Prints
# petrel-bench's JSON line (rss_per_conn_bytes: the broker's VmRSS before and after
# over the connections, connect_rate) and `petrelctl status` connections while held.
set -euo pipefail
build="$1"
conns="$2"
shift 2
[[ ${1:-} != -- ]] || shift
gen_bin="${PETREL_BENCH_BIN:-$build/tests/bench/petrel-bench}"
# petrel-bench --dpdk takes its source ports from 49152-65535 (RFC 6335): 16384
# connections per address to one broker address and port.
naddr=$((conns / 15000 + 1))
tmp="$(mktemp -d /tmp/petrel-connmemif.XXXXXX)"
broker_pid=""
cleanup() {
	[[ -z $broker_pid ]] || kill -TERM "$broker_pid" 2>/dev/null || true
	# Closing a million connections takes a while: wait up to 60 s for the
	# totals line before SIGKILL.
	for ((i = 0; i < 600; i++)); do
		[[ -n $broker_pid ]] && kill -0 "$broker_pid" 2>/dev/null || break
		sleep 0.1
	done
	[[ -z $broker_pid ]] || kill -KILL "$broker_pid" 2>/dev/null || true
	# DPDK's runtime directories of both processes (--file-prefix).
	rm -rf "/var/run/dpdk/connmemif-b-$$" "/var/run/dpdk/connmemif-g-$$"
	[[ -n ${KEEP:-} ]] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT
cat >"$tmp/petrel.conf" <<CONF
listener 1883 198.18.0.1
persistence false
control_socket $tmp/ctl.sock
dataplane dpdk
dpdk_eal_args --no-huge -m 1024 --no-pci --no-telemetry --file-prefix connmemif-b-$$ --vdev=net_memif0,role=server,socket=$tmp/memif.sock,id=0,socket-abstract=no,rsize=${MEMIF_RSIZE:-12}
dpdk_address 198.18.0.1/16
dpdk_mbufs ${BROKER_MBUFS:-16384}
tcp_max_connections $((conns + conns / 10 + 1024))
CONF
env ${BROKER_ENV:-} taskset -c 0 "$build/control/petrel" -c "$tmp/petrel.conf" -w 1 >"$tmp/broker.log" 2>&1 &
broker_pid=$!
for ((i = 0; i < 100; i++)); do
	grep -q "listening on" "$tmp/broker.log" && break
	kill -0 "$broker_pid" || { cat "$tmp/broker.log" >&2; exit 1; }
	sleep 0.1
done
last=$((2 + naddr - 1))
taskset -c 1 "$gen_bin" conn --connections "$conns" --clean 1 --host 198.18.0.1 \
	--port 1883 --dpdk --dpdk-eal "--no-huge -m 2048 --no-pci --no-telemetry --file-prefix connmemif-g-$$ --vdev=net_memif0,role=client,socket=$tmp/memif.sock,id=0,socket-abstract=no,rsize=${MEMIF_RSIZE:-12}" \
	--dpdk-address 198.18.0.2/16 --source-range "198.18.0.2-198.18.$((last / 256)).$((last % 256))" \
	--duration "${HOLD:-5}" --broker-pid "$broker_pid" --threads 1 "$@" \
	>"$tmp/gen.out" 2>"$tmp/gen.err" &
gen=$!
# PERF=FILE: the broker's profile over the run (perf record -g).
perf_pid=""
if [[ -n ${PERF:-} ]]; then
	perf record -q -g -o "$PERF" -p "$broker_pid" >/dev/null 2>&1 &
	perf_pid=$!
fi
peak=0
while kill -0 "$gen" 2>/dev/null; do
	n="$("$build/control/petrelctl" -s "$tmp/ctl.sock" -t 5 --json status 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin).get("connections",0))' \
		2>/dev/null || echo 0)"
	[[ $n -le $peak ]] || peak=$n
	sleep 1
done
[[ -z $perf_pid ]] || { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
wait "$gen" || { tail -5 "$tmp/gen.err" >&2; tail -5 "$tmp/broker.log" >&2; exit 1; }
cat "$tmp/gen.out"
grep -v "^progress" "$tmp/gen.err" >&2 || true
echo "petrelctl status: connections (peak while held) $peak"
