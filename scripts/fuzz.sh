#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer targets of tests/fuzz (in build-asan/: clang, ASan,
# UBSan, the same build scripts/test.sh uses) and runs each for a while.
#
#   scripts/fuzz.sh [-t SECONDS] [-j JOBS] [--merge] [TARGET...]
#
#   -t SECONDS  per target (default 600, i.e. 10 minutes each)
#   -j JOBS     libFuzzer processes per target (-fork=JOBS, default 1). The engine
#               target spends most of each input waiting for RCU grace periods at
#               shutdown, so a few jobs multiply its speed even on a busy machine
#   --merge     afterwards, add the inputs that found new coverage to the seed corpus
#               in the tree (tests/fuzz/corpus/<target>, minimised by libFuzzer's
#               -merge=1) - review and commit them like any other change
#   TARGET      codec, engine, ... (default: every target built)
#
# Without --merge the tree is left alone: new inputs go to build-asan/fuzz/<target>/
# corpus, which later runs go on from, and what a target finds (crash, leak, sanitizer
# report, an input running over 30 s) to build-asan/fuzz/<target>/artifacts/. Targets
# run one after another; the exit status is 1 if any found something. Replay one input:
#   build-asan/tests/fuzz/fuzz_<target> <file>
# A reproducer worth keeping goes to tests/fuzz/corpus/<target>/repro-<what>, where the
# unit suite test_fuzz_replay replays it in every build.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PETREL_ROOT"

usage() {
	# The header comment above, up to its first non-comment line.
	awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
	exit 2
}

seconds=600
jobs=1
merge=0
targets=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	-t)
		[[ $# -ge 2 && $2 =~ ^[0-9]+$ && $2 -gt 0 ]] || usage
		seconds="$2"
		shift 2
		;;
	-j)
		[[ $# -ge 2 && $2 =~ ^[0-9]+$ && $2 -gt 0 ]] || usage
		jobs="$2"
		shift 2
		;;
	--merge)
		merge=1
		shift
		;;
	-h | --help)
		usage
		;;
	-*)
		usage
		;;
	*)
		targets+=("$1")
		shift
		;;
	esac
done

petrel_install_deps
dir="$PETREL_ASAN_DIR"
petrel_setup_asan "$dir"
nice ninja -C "$dir"
if [[ ${#targets[@]} -eq 0 ]]; then
	mapfile -t targets < <(petrel_fuzz_targets "$dir")
fi
if [[ ${#targets[@]} -eq 0 ]]; then
	petrel_log "no fuzz targets in $dir"
	exit 1
fi

status=0
for target in "${targets[@]}"; do
	exe="$dir/tests/fuzz/fuzz_$target"
	if [[ ! -x $exe ]]; then
		petrel_log "no such target: $target (built: $(petrel_fuzz_targets "$dir" | xargs))"
		status=1
		continue
	fi
	work="$PETREL_ROOT/$dir/fuzz/$target"
	petrel_log "fuzzing $target for ${seconds}s (work corpus $work/corpus)"
	mkdir -p "$work"
	# The whole log to a file, the milestones and findings to the terminal.
	set +e
	extra=()
	[[ $jobs -gt 1 ]] && extra=(-fork="$jobs")
	petrel_fuzz_run "$dir" "$target" "$seconds" "$work" "${extra[@]}" </dev/null |
		tee "$work.log" |
		grep -aE '^#[0-9]+.*(DONE|pulse)|^stat::|ERROR|SUMMARY|Test unit written|INFO: exiting'
	rc="${PIPESTATUS[0]}"
	set -e
	if [[ $rc -ne 0 ]]; then
		petrel_log "$target: found something (exit status $rc); full log in $work.log"
		tail -n 40 "$work.log" >&2
		status=1
	fi
	if [[ $merge -eq 1 ]]; then
		petrel_log "$target: merging new coverage into tests/fuzz/corpus/$target"
		env "${PETREL_ASAN_ENV[@]}" "$exe" -merge=1 \
			"$PETREL_ROOT/tests/fuzz/corpus/$target" "$work/corpus" 2>&1 | tail -n 2
	fi
done
exit "$status"
