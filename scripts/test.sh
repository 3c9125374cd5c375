#!/usr/bin/env bash
# test.sh - builds build/ (as the developers run it) and build-asan/ (ASan+UBSan),
# runs every test executable of the meson suites "unit" and "integration" in both,
# prints each binary's criterion synthesis, and ends with exactly one summary line,
#
#     N passed, N failed
#
# summed over all binaries and both builds. Exit status 0 only if nothing failed and
# something passed. A crashing test, a binary that dies, times out or prints no
# synthesis, a sanitizer report, and a build that fails all count as failures.
#
# Unit binaries run with criterion's default parallelism (one job per core). Each
# integration test starts real brokers on free ports and measures timeouts, so those
# binaries run one after another with --jobs 1, so they never compete for the CPUs.
#
# Environment: PETREL_TEST_TIMEOUT (seconds per binary, default 600).
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

# Lists "suite<TAB>name<TAB>executable" for the unit and integration tests meson
# knows in build dir <dir>, unit first. meson's list (not a glob) so that a stale
# binary of a removed test is never run.
list_tests() {
	meson introspect "$1" --tests | python3 -c '
import json, sys
tests = json.load(sys.stdin)
for want in ("unit", "integration"):
    for t in tests:
        # suites appear as "unit" or "project:unit"
        if want in (s.split(":")[-1] for s in t["suite"]):
            print(want, t["name"], t["cmd"][0], sep="\t")
'
}

# Runs one criterion binary and adds its counts to passed/failed.
# run_binary <label> <suite> <name> <exe> <petrel-bin> <asan:0|1>
run_binary() {
	local label="$1" suite="$2" name="$3" exe="$4" petrel="$5" asan="$6"
	local log="$logdir/$label-$name.log" rc synth p=0 f=0 teardown note=""
	local args=() envs=("PETREL_BIN=$petrel" "PETREL_TEST_SRC=$PETREL_ROOT/tests/integration")

	if [[ $suite == integration ]]; then
		args+=(--jobs 1)
	fi
	if [[ $asan -eq 1 ]]; then
		envs+=("ASAN_OPTIONS=detect_leaks=1:abort_on_error=1"
			"UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
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

# run_build <label> <dir> [meson options...]
run_build() {
	local label="$1" dir="$2"
	shift 2
	local suite name exe rel n=0 tests asan=0 petrel built=1

	[[ $label == asan ]] && asan=1
	petrel="$PETREL_ROOT/$dir/control/petrel"
	echo "=== $label: building $dir ==="
	if ! petrel_setup "$dir" "$@"; then
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
	if ! tests="$(list_tests "$dir")"; then
		echo "$label: could not list the tests of $dir"
		failed=$((failed + 1))
		return 0
	fi
	echo "=== $label: running tests ==="
	while IFS=$'\t' read -r suite name exe; do
		[[ -n $suite ]] || continue
		n=$((n + 1))
		rel="${exe#"$PETREL_ROOT/$dir/"}"
		if [[ $built -eq 0 ]] && { ! petrel_up_to_date "$dir" "$rel" ||
			{ [[ $suite == integration ]] &&
				! petrel_up_to_date "$dir" control/petrel; }; }; then
			printf '%-10s %-28s %s\n' "$label" "$name" "NOT BUILT (counted as 1 failure)"
			failed=$((failed + 1))
			continue
		fi
		run_binary "$label" "$suite" "$name" "$exe" "$petrel" "$asan"
	done <<<"$tests"
	if [[ $n -eq 0 ]]; then
		echo "$label: no unit or integration test executables in $dir"
	fi
}

if ! petrel_install_deps; then
	echo "installing the Debian packages failed"
	failed=$((failed + 1))
	summary
fi

run_build plain build
run_build asan build-asan -Db_sanitize=address,undefined -Db_lundef=false

summary
