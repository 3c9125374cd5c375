# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # bench.sh's globals, read and set for it
# bench_persist.sh - the persistence rows of scripts/bench.sh (issue 8): sourced by it,
# using its brokers (start_broker, stop_broker), its generator and its results file.
#
#   persist-fanin-q1      an ordinary row (run_reps); only the stores are new: every
#                         run starts on an empty store (store_fresh) and records the
#                         store's size after the broker stopped (store_stats)
#   persist-startup-*     run_startup: fill a store through the real broker, then start
#                         the broker on it REPS times
#   persist-size          run_size: one long run per variant, the store's size sampled
#                         every size_every seconds while it runs
#
# Nothing here writes a store itself: every session and message in it came through
# the broker from petrel-bench.

sampler_pid=""

# store_fresh <broker>: an empty persist_dir for the next run. mosquitto started as
# root drops to the user "mosquitto" (or "nobody" if there is none) before it saves
# (mosquitto.conf(5), "user"), so that user must be able to reach and write it.
store_fresh() {
	local user=mosquitto
	rm -rf "$persist_dir"
	mkdir -p "$persist_dir"
	if [[ $1 == mosquitto* && $(id -u) -eq 0 ]]; then
		id "$user" >/dev/null 2>&1 || user=nobody
		chmod 711 "$tmp" "$data_root"
		chown "$user" "$persist_dir"
	fi
}

# store_stats: "key=value" words about the store in persist_dir: which file (Petrel's
# data.mdb or mosquitto's mosquitto.db), its size and the bytes allocated to it.
store_stats() {
	local f size blocks bsize
	for f in "$persist_dir/data.mdb" "$persist_dir/mosquitto.db"; do
		[[ -e $f ]] || continue
		read -r size blocks bsize < <(stat -c '%s %b %B' "$f")
		echo "store_file=${f##*/} store_file_bytes=$size store_alloc_bytes=$((blocks * bsize))"
		return 0
	done
	echo "store_file=none"
}

# mdb_stats: LMDB's own view of Petrel's store as "key=value" words (mdb_stat from
# lmdb-utils, if installed): page size, pages in use, free pages, entries per
# database. mdb_stat opens the environment read-only; run it on a stopped broker's
# store only.
mdb_stats() {
	[[ -e $persist_dir/data.mdb ]] && command -v mdb_stat >/dev/null || return 0
	timeout 60 mdb_stat -efa "$persist_dir" 2>/dev/null | awk '
		/^Status of / { db = $3; next }
		/Page size:/ { printf " mdb_page_size=%s", $3 }
		/Number of pages used:/ { printf " mdb_pages_used=%s", $5 }
		/Free pages:/ { printf " mdb_free_pages=%s", $3 }
		/Entries:/ && db != "" && db != "Main" { printf " mdb_entries_%s=%s", db, $2 }
		END { print "" }' || true
}

# The store's size every size_every seconds into $tmp/size.samples, one line
# "milliseconds-since-start file-bytes allocated-bytes broker-RSS-kB", until
# size_sampler_stop.
size_sampler_start() {
	local f="$persist_dir/data.mdb" out="$tmp/size.samples" t0 pid="$broker_pid"
	: >"$out"
	t0="$(date +%s%N)"
	(
		while :; do
			if [[ -e $f ]]; then
				read -r size blocks bsize < <(stat -c '%s %b %B' "$f")
				rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)"
				echo "$((($(date +%s%N) - t0) / 1000000)) $size $((blocks * bsize))" \
					"${rss:-0}"
			fi
			sleep "$size_every"
		done
	) >>"$out" 2>/dev/null &
	sampler_pid=$!
}

size_sampler_stop() {
	[[ -n $sampler_pid ]] || return 0
	kill -TERM "$sampler_pid" 2>/dev/null || true
	wait "$sampler_pid" 2>/dev/null || true
	sampler_pid=""
}

# session_present <port> <client id>: connects to 127.0.0.1:<port> with cleanSession 0
# and prints CONNACK's session present flag (1: the broker had the session,
# MQTT-3.2.2-2), then disconnects; prints nothing if no CONNACK 0 came within 10 s.
session_present() {
	python3 - "$1" "$2" <<'EOF' 2>/dev/null || true
import socket, struct, sys
port, cid = int(sys.argv[1]), sys.argv[2].encode()
# CONNECT, MQTT 3.1.1: level 4, flags 0 (cleanSession 0), keep alive 60 s.
body = b"\x00\x04MQTT\x04\x00\x00\x3c" + struct.pack("!H", len(cid)) + cid
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(bytes([0x10, len(body)]) + body)
ack = b""
while len(ack) < 4:
    chunk = s.recv(4 - len(ack))
    if not chunk:
        sys.exit(1)
    ack += chunk
if ack[0] == 0x20 and ack[3] == 0:
    print(ack[2] & 1)
s.sendall(b"\xe0\x00")
s.close()
EOF
}

# mqtt_ready_ms <port> <t0 ns> <timeout s>: milliseconds from <t0> (date +%s%N) until
# the broker answers a CONNECT (cleanSession 1) with CONNACK 0 on 127.0.0.1:<port>, or
# nothing after <timeout>. A listening socket takes TCP connections into its backlog
# before any thread accepts them (Petrel listens before it loads its store), so only
# an MQTT answer says the broker serves.
mqtt_ready_ms() {
	python3 - "$@" <<'EOF' 2>/dev/null || true
import socket, sys, time
port, t0, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + limit
body = b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x0epb-ready-probe"
while time.monotonic() < deadline:
    try:
        s = socket.create_connection(("127.0.0.1", port),
                                     timeout=max(0.1, deadline - time.monotonic()))
        s.sendall(bytes([0x10, len(body)]) + body)
        ack = b""
        while len(ack) < 4:
            chunk = s.recv(4 - len(ack))
            if not chunk:
                break
            ack += chunk
        if len(ack) == 4 and ack[0] == 0x20 and ack[3] == 0:
            print((time.time_ns() - t0) // 1000000)
            s.sendall(b"\xe0\x00")
            s.close()
            sys.exit(0)
        s.close()
    except OSError:
        pass
    time.sleep(0.01)
EOF
}

# Petrel's start-up line "store: loaded N sessions (S subscriptions, M messages), R
# retained from PATH in X ms" as key=value words, or nothing.
petrel_load_stats() {
	sed -nE 's/.*store: loaded ([0-9]+) sessions \(([0-9]+) subscriptions, ([0-9]+) messages\), ([0-9]+) retained from .* in ([0-9.]+) ms.*/loaded_sessions=\1 loaded_subs=\2 loaded_msgs=\3 loaded_retained=\4 load_ms=\5/p' \
		"$tmp/broker.log" | tail -n 1
}

# fill_store <row> <broker> <variant> <workers> <port> <wanted> <gen args>: creates
# <wanted> offline sessions on the running broker, in chunks of at most fill_chunk
# (one petrel-bench conn run each, ids pb-<row>-k<chunk>-c<i>). Sets fill_connects,
# fill_errors, fill_ms and fill_cmd; returns 1 on a generator usage error.
fill_store() {
	local row="$1" broker="$2" variant="$3" workers="$4" port="$5" want="$6" gargs="$7"
	local k=0 n=0 chunk rc c e t0 line
	local -a args gen

	fill_connects=0
	fill_errors=0
	t0="$(date +%s%N)"
	while [[ $n -lt $want ]]; do
		chunk=$((want - n < fill_chunk ? want - n : fill_chunk))
		read -ra args <<<"$(sed -E "s/--connections [0-9]+/--connections $chunk/" <<<"$gargs")"
		gen=(taskset -c 1 "$gen_bin" "${args[@]}" --host 127.0.0.1 --port "$port"
			--threads 1 --label "$row/$broker-$variant/w$workers/fill$k"
			--client-prefix "pb-$row-k$k-")
		fill_cmd="timeout -k 5 600 ${gen[*]}"
		rc=0
		timeout -k 5 600 "${gen[@]}" </dev/null >"$tmp/gen.out" 2>"$tmp/gen.err" &
		gen_pid=$!
		wait "$gen_pid" || rc=$?
		gen_pid=""
		if [[ $rc -eq 2 ]]; then
			petrel_log "petrel-bench rejected the arguments: $fill_cmd"
			tail -n 5 "$tmp/gen.err" >&2 || true
			return 1
		fi
		line="$(tail -n 1 "$tmp/gen.out")"
		read -r c e < <(python3 -c '
import json, sys
try:
    r = json.loads(sys.argv[1])
    print(int(r.get("connects", 0)), int(r.get("connect_errors", 0)))
except ValueError:
    print(0, 0)' "$line")
		fill_connects=$((fill_connects + c))
		fill_errors=$((fill_errors + e))
		[[ $rc -eq 0 ]] || petrel_log "$row: fill chunk $k: generator exit status $rc"
		n=$((n + chunk))
		k=$((k + 1))
	done
	fill_ms=$((($(date +%s%N) - t0) / 1000000))
	return 0
}

# startup_record <row> <kind> <primary> <better> <title> <broker> <variant> <workers>
#                <rep> <error> <key=value ...>: one start in results.
startup_record() {
	local row="$1" kind="$2" primary="$3" better="$4" title="$5" broker="$6"
	local variant="$7" workers="$8" rep="$9" err="${10}" json
	shift 10
	json="{\"scenario\":\"startup\",\"connections\":${want_sessions:-0},"
	json+="\"connects\":${fill_connects:-0},\"connect_errors\":${fill_errors:-0}}"
	python3 "$report" append --file "$results" --json "$json" \
		--set row="$row" kind="$kind" primary="$primary" better="$better" \
		title="$title" broker="$broker" variant="$variant" workers="$workers" \
		rep="$rep" broker_cpus=0 gen_cpus=1 error="$err" exit="$([[ -z $err ]] && echo 0 || echo 1)" \
		variant_conf="$(variant_conf "$broker" "$variant" | sed "s|$persist_dir|DATA|g" || true)" \
		broker_cmd="$(broker_cmd "$broker" "$workers" 0 "$tmp/${broker%%-*}.conf" |
			sed "s|$PETREL_ROOT/||g; s|$tmp/||g")" \
		gen_cmd="${fill_cmd//"$PETREL_ROOT/"/}" \
		sessions_wanted="$want_sessions" fill_ms="${fill_ms:-}" "$@"
}

# run_startup <row> <kind> <primary> <better> <title> <variants> <gen args>: per
# broker variant, an empty store filled with --connections offline sessions through
# the broker (fill_store), the broker stopped (SIGTERM: it saves what it has), then
# REPS starts on that store, each timed until it accepts connections, with Petrel's
# load line, its RSS once it accepts, and whether the first session came back.
run_startup() {
	local row="$1" kind="$2" primary="$3" better="$4" title="$5" variants="$6" gargs="$7"
	local v broker variant workers rep port err fill_stats load rss present started mdb ready
	local saved_stop=$stop_wait_s saved_wait=$start_wait_s saved_poll=$start_poll_s

	want_sessions="$(sed -nE 's/.*--connections ([0-9]+).*/\1/p' <<<"$gargs")"
	# Loading or saving a million sessions takes a while; the probe is fine-grained
	# because its period is the resolution of the start-up time.
	stop_wait_s=300
	start_wait_s=300
	for v in $variants; do
		[[ -z $only_variants || $v =~ $only_variants ]] || continue
		IFS=/ read -r broker variant workers <<<"$v"
		fill_connects=0 fill_errors=0 fill_ms="" fill_cmd=""
		store_fresh "$broker"
		port="$(free_port)"
		start_poll_s=0.05
		if ! start_broker "$broker" "$variant" "$workers" 0 "$port"; then
			startup_record "$row" "$kind" "$primary" "$better" "$title" "$broker" \
				"$variant" "$workers" 1 "broker did not start (fill)"
			continue
		fi
		if ! fill_store "$row" "$broker" "$variant" "$workers" "$port" \
			"$want_sessions" "$gargs"; then
			stop_broker
			exit 1
		fi
		stop_broker
		fill_stats="$(store_stats)"
		petrel_log "  $row/$broker-$variant: filled $fill_connects of $want_sessions" \
			"sessions in $((fill_ms / 1000)) s ($fill_errors errors); $fill_stats"
		start_poll_s=0.01
		for rep in $(seq 1 "$reps"); do
			started=$SECONDS
			port="$(free_port)"
			err="" load="" rss="" present="" mdb=""
			ready=""
			if start_broker "$broker" "$variant" "$workers" 0 "$port"; then
				ready="$(mqtt_ready_ms "$port" "$broker_t0_ns" "$start_wait_s")"
				[[ -n $ready ]] || err="no CONNACK within $start_wait_s s"
				rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$broker_pid/status" 2>/dev/null || true)"
				[[ $broker != petrel* ]] || load="$(petrel_load_stats)"
				present="$(session_present "$port" "pb-$row-k0-c0")"
				stop_broker
			else
				err="broker did not accept connections within $start_wait_s s"
			fi
			# LMDB's view once, after the last start (mdb_stat opens the store).
			[[ $rep -lt $reps ]] || mdb="$(mdb_stats)"
			# shellcheck disable=SC2086 # key=value words
			startup_record "$row" "$kind" "$primary" "$better" "$title" "$broker" \
				"$variant" "$workers" "$rep" "$err" startup_ms="$ready" \
				listen_ms="$broker_ready_ms" \
				rss_started_kb="$rss" session_present="$present" \
				wall_s="$((SECONDS - started))" $fill_stats $load \
				$mdb
			petrel_log "  $row/$broker-$variant/rep$rep: CONNACK after ${ready:-?} ms" \
				"(TCP listen after ${broker_ready_ms:-?} ms); ${load:-no load line};" \
				"RSS ${rss:-?} kB;" \
				"session present: ${present:-no answer}${err:+; $err}"
		done
	done
	stop_wait_s=$saved_stop
	start_wait_s=$saved_wait
	start_poll_s=$saved_poll
}

# run_size <row> <kind> <primary> <better> <title> <variants> <gen args>: one long run
# per variant (whatever --reps) with the store's size sampled while it runs.
run_size() {
	local row="$1" kind="$2" primary="$3" better="$4" title="$5" variants="$6" gargs="$7"
	local v broker variant workers

	for v in $variants; do
		[[ -z $only_variants || $v =~ $only_variants ]] || continue
		IFS=/ read -r broker variant workers <<<"$v"
		run_on_start=size_sampler_start
		run_on_end=size_sampler_stop
		run_samples="$tmp/size.samples"
		run_one "$row" "$kind" "$primary" "$better" "$title" "$gargs" \
			"$broker" "$variant" "$workers" 0 1 1
		run_on_start="" run_on_end="" run_samples=""
	done
}
