#!/usr/bin/env bash
# test.sh - builds build/ (as the developers run it, default compiler) and build-asan/
# (clang, ASan+UBSan with every UBSan report fatal, libFuzzer targets), runs every test
# executable of the meson suites "unit", "integration" and "e2e" (DPDK builds: brokers
# on DPDK in network namespaces, so root, as CI runs) in both, prints each binary's
# criterion synthesis, then runs each fuzz target of build-asan/ for
# PETREL_FUZZ_SECONDS (default 45) from the seed corpus in tests/fuzz/corpus, and ends
# with exactly one summary line,
#
#     N passed, N failed
#
# summed over all binaries, both builds and the fuzz targets (one test each). Exit
# status 0 only if nothing failed and something passed. A crashing test, a binary that
# dies, times out or prints no synthesis, a sanitizer report, a fuzz target that finds
# a crash, leak, sanitizer report or hang (its reproducer's path is printed), and a
# build that fails all count as failures.
#
# The integration suites run over kernel sockets in both builds and once more over
# each DPDK PMD, each PMD in one build: net_tap (multi-queue, RSS) in the gcc build,
# net_af_xdp (single queue, worker 0 steering to the others) in the ASan build, where
# frames pass between workers through rings and a shared pool. Both builds ran both
# once; that took CI past its 30 minutes. So do the two longest e2e tests, the
# generator over memif and the fault injection rounds: in the ASan build only, where
# their memory errors show. meson test runs every mode and test in any build.
#
# Unit binaries run with criterion's default parallelism (one job per core). Each
# integration test starts real brokers on free ports and measures timeouts, so those
# binaries run one after another with --jobs 1, so they never compete for the CPUs;
# so do the e2e ones.
#
# Environment: PETREL_TEST_TIMEOUT (seconds per binary, default 600),
# PETREL_FUZZ_SECONDS (per fuzz target, default 45; scripts/fuzz.sh runs them longer).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PETREL_ROOT"

timeout_s="${PETREL_TEST_TIMEOUT:-600}"
passed=0
failed=0
logdir="$(mktemp -d "${TMPDIR:-/tmp}/petrel-test.XXXXXX")"
trap 'rm -rf "$logdir"' EXIT

# A crashing test must not leave core files in the tree.
ulimit -c 0 2>/dev/null || true

summary() {
	echo "$passed passed, $failed failed"
	if [[ $failed -eq 0 && $passed -gt 0 ]]; then
		exit 0
	fi
	exit 1
}

# Lists "suite<TAB>name<TAB>executable<TAB>dataplane" for the unit, integration and
# e2e (DPDK end-to-end: root, network namespaces) tests meson knows in build dir <dir>,
# unit first, leaving out the suites over data plane <skip> (tap, af_xdp; - for none)
# and the tests named in <skip_names> (comma-separated; - for none).
# meson's list (not a glob) so that a stale binary of a removed test is never run.
# list_tests <dir> <skip> <skip_names>
list_tests() {
	meson introspect "$1" --tests | python3 -c '
import json, sys
tests = json.load(sys.stdin)
skip = sys.argv[1]
skip_names = set(sys.argv[2].split(","))
for want in ("unit", "integration", "e2e"):
    for t in tests:
        # suites appear as "unit" or "project:unit"
        if want in (s.split(":")[-1] for s in t["suite"]):
            # e2e: the data plane a suite runs over (harness.h), "-" for none
            mode = (t.get("env") or {}).get("PETREL_TEST_DATAPLANE", "-")
            if mode != skip and t["name"] not in skip_names:
                print(want, t["name"], t["cmd"][0], mode, sep="\t")
' "$2" "$3"
}

# Runs one criterion binary and adds its counts to passed/failed.
# run_binary <label> <suite> <name> <exe> <petrel-bin> <asan:0|1> <dataplane|->
run_binary() {
	local label="$1" suite="$2" name="$3" exe="$4" petrel="$5" asan="$6" mode="$7"
	local log="$logdir/$label-$name.log" rc synth p=0 f=0 teardown note=""
	# petrelctl is built beside petrel (control/meson.build).
	local args=() envs=("PETREL_BIN=$petrel" "PETRELCTL_BIN=${petrel%/*}/petrelctl"
		"PETREL_TEST_SRC=$PETREL_ROOT/tests/integration")

	if [[ $suite == integration || $suite == e2e ]]; then
		args+=(--jobs 1)
	fi
	if [[ $mode != - ]]; then
		envs+=("PETREL_TEST_DATAPLANE=$mode")
	fi
	if [[ $asan -eq 1 ]]; then
		envs+=("${PETREL_ASAN_ENV[@]}")
	fi
	local start=$SECONDS
	rc=0
	timeout -k 10 "$timeout_s" env "${envs[@]}" "$exe" "${args[@]}" </dev/null \
		>"$log" 2>&1 || rc=$?

	# Criterion's closing line; colour codes stripped in case a tty crept in.
	synth="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -a 'Synthesis:' | tail -n 1 || true)"
	if [[ $synth =~ Passing:\ ([0-9]+)\ \|\ Failing:\ ([0-9]+) ]]; then
		p="${BASH_REMATCH[1]}"
		f="${BASH_REMATCH[2]}"	# criterion's Failing already includes Crashing
	else
		synth="(no criterion synthesis)"
	fi
	# A test whose process dies after its body (a leak report from LeakSanitizer
	# at exit, a crash in a fini) is counted as passing by criterion, with this
	# warning. It is a failure for us.
	teardown="$(grep -ac 'crashed during its setup or teardown' "$log" || true)"
	if [[ $teardown -gt 0 ]]; then
		p=$((p > teardown ? p - teardown : 0))
		f=$((f + teardown))
		note+=" [$teardown crashed in setup/teardown]"
	fi
	if [[ $rc -eq 124 || $rc -eq 137 ]]; then
		note+=" [timed out after ${timeout_s}s]"
	fi
	if [[ $rc -ne 0 && $f -eq 0 ]]; then
		# Died, timed out, or failed on its own terms without a failing test.
		f=1
		note+=" [exit status $rc]"
		if [[ $rc -eq 1 ]] && grep -aq '^\[WARN\]' "$log"; then
			note+=" [criterion exits 1 after any warning, cr_log_warn included]"
		fi
	fi
	if [[ $synth == "(no criterion synthesis)" && $f -eq 0 ]]; then
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	printf '%-10s %-28s %s (%ds)%s\n' "$label" "$name" "$synth" \
		"$((SECONDS - start))" "$note"
	if [[ $f -gt 0 ]]; then
		echo "----- last lines of $label/$name output -----"
		tail -n 80 "$log"
		echo "----- end of $label/$name output -----"
	fi
}

# The last figures of a libFuzzer log: "N runs, cov C, corpus K".
fuzz_stats() {
	local runs done_line
	runs="$(grep -a '^stat::number_of_executed_units:' "$1" | awk '{print $2}' | tail -n 1)"
	done_line="$(grep -aE '^#[0-9]+[[:space:]]+DONE' "$1" | tail -n 1)"
	[[ $done_line =~ cov:\ ([0-9]+).*corp:\ ([0-9]+) ]] &&
		printf '%s runs, cov %s, corpus %s' "${runs:-?}" "${BASH_REMATCH[1]}" \
			"${BASH_REMATCH[2]}"
}

# Runs each fuzz target (one per tests/fuzz/fuzz_*.c) of <dir> for PETREL_FUZZ_SECONDS
# under ASan/UBSan, from the tree's seeds only (the work corpus is emptied first, so a
# local run fuzzes what CI fuzzes). The targets run side by side: the engine target
# mostly waits for RCU grace periods, so this costs one target's time, not the sum.
# Each target is one test.
# run_fuzz <label> <dir> <built:0|1>
run_fuzz() {
	local label="$1" dir="$2" built="$3" src target work log rc start
	local seconds="${PETREL_FUZZ_SECONDS:-45}"
	local targets=() pids=()

	echo "=== $label: fuzzing, ${seconds}s per target ==="
	start=$SECONDS
	for src in "$PETREL_ROOT"/tests/fuzz/fuzz_*.c; do
		target="$(basename "$src" .c)"
		target="${target#fuzz_}"
		if [[ ! -x $dir/tests/fuzz/fuzz_$target ]] ||
			{ [[ $built -eq 0 ]] &&
				! petrel_up_to_date "$dir" "tests/fuzz/fuzz_$target"; }; then
			printf '%-10s %-28s %s\n' "$label" "fuzz_$target" \
				"NOT BUILT (counted as 1 failure)"
			failed=$((failed + 1))
			continue
		fi
		work="$PETREL_ROOT/$dir/fuzz-ci/$target"
		rm -rf "$work"
		petrel_fuzz_run "$dir" "$target" "$seconds" "$work" </dev/null \
			>"$logdir/$label-fuzz_$target.log" &
		targets+=("$target")
		pids+=("$!")
	done
	for i in "${!targets[@]}"; do
		target="${targets[$i]}"
		log="$logdir/$label-fuzz_$target.log"
		rc=0
		wait "${pids[$i]}" || rc=$?
		if [[ $rc -eq 0 ]]; then
			passed=$((passed + 1))
			printf '%-10s %-28s ok: %s (%ds)\n' "$label" "fuzz_$target" \
				"$(fuzz_stats "$log")" "$((SECONDS - start))"
			continue
		fi
		failed=$((failed + 1))
		printf '%-10s %-28s FAILED, exit status %s (%ds)\n' "$label" "fuzz_$target" \
			"$rc" "$((SECONDS - start))"
		echo "----- last lines of $label/fuzz_$target output -----"
		tail -n 60 "$log"
		echo "----- end of $label/fuzz_$target output -----"
		grep -a 'Test unit written to' "$log" | sed 's/^.*Test unit written to /reproducer: /' || true
		echo "reproduce: ${PETREL_ASAN_ENV[*]} $dir/tests/fuzz/fuzz_$target <reproducer>"
	done
}

# run_build <label> <dir> <setup function> <data plane whose suites it skips>
#           <tests it skips, comma-separated, or ->
run_build() {
	local label="$1" dir="$2" setup="$3" skip="$4" skip_names="$5"
	local suite name exe rel n=0 tests asan=0 petrel built=1

	[[ $label == asan ]] && asan=1
	petrel="$PETREL_ROOT/$dir/control/petrel"
	echo "=== $label: building $dir ==="
	if ! "$setup" "$dir"; then
		echo "$label: meson setup FAILED for $dir"
		failed=$((failed + 1))
		return 0
	fi
	# -k 0: one broken file should not hide the results of every other test.
	# The failed build still counts as a failure, and tests whose executable
	# (or, for integration tests, petrel) did not build are not run.
	if ! ninja -C "$dir" -k 0; then
		echo "$label: BUILD FAILED in $dir (counted as 1 failure; running what built)"
		failed=$((failed + 1))
		built=0
	fi
	if ! tests="$(list_tests "$dir" "$skip" "$skip_names")"; then
		echo "$label: could not list the tests of $dir"
		failed=$((failed + 1))
		return 0
	fi
	echo "=== $label: running tests ==="
	while IFS=$'\t' read -r suite name exe mode; do
		[[ -n $suite ]] || continue
		n=$((n + 1))
		rel="${exe#"$PETREL_ROOT/$dir/"}"
		if [[ $built -eq 0 ]] && { ! petrel_up_to_date "$dir" "$rel" ||
			{ [[ $suite != unit ]] &&
				! petrel_up_to_date "$dir" control/petrel; }; }; then
			printf '%-10s %-28s %s\n' "$label" "$name" "NOT BUILT (counted as 1 failure)"
			failed=$((failed + 1))
			continue
		fi
		run_binary "$label" "$suite" "$name" "$exe" "$petrel" "$asan" "$mode"
	done <<<"$tests"
	if [[ $n -eq 0 ]]; then
		echo "$label: no unit or integration test executables in $dir"
	fi
	if [[ $asan -eq 1 ]]; then
		run_fuzz "$label" "$dir" "$built"
	fi
}

if ! petrel_install_deps; then
	echo "installing the Debian packages failed"
	failed=$((failed + 1))
	summary
fi

run_build plain build petrel_setup af_xdp e2e_bench_memif,e2e_faults
run_build asan "$PETREL_ASAN_DIR" petrel_setup_asan tap -

summary
