# shellcheck shell=bash
# lib.sh - shared by scripts/*.sh (source it; do not run it). One list of the Debian
# packages Petrel needs to build, test and benchmark, and the one function that
# installs whichever are missing. Bash only; the caller sets `set -euo pipefail`.

# Absolute path of the repository root, whatever the caller's working directory.
PETREL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Build: compiler, meson/ninja, pkg-config and the libraries we link.
# Test: criterion; clients no one here wrote (libmosquitto, mosquitto_pub/sub, paho).
# Sanitizers and fuzzing: clang, whose UBSan checks more than GCC's (pointer overflow),
# and its runtimes, libFuzzer included (libclang-rt-14-dev).
# Benchmark: the mosquitto broker as a reference, gnuplot for the plots, mdb_stat
# (lmdb-utils) for what the persistence rows' stores hold.
# Control and observation (issue 9): libmicrohttpd serves metrics_listener, libsystemd's
# sd_notify tells systemd the broker is ready (Type=notify), python3-prometheus-client
# is the real Prometheus text parser the tests check `metrics` with; systemd brings
# systemd-analyze, which checks dist/petrel.service (test_systemd).
# DPDK data plane: DPDK (testpmd in dpdk-dev), the virtual PMDs the end-to-end tests
# use (tap, AF_XDP, memif), iproute2 for their network namespaces.
PETREL_DEBIAN_PACKAGES=(
	build-essential
	clang
	libclang-rt-14-dev
	meson
	ninja-build
	pkg-config
	liburcu-dev
	libcriterion-dev
	libmosquitto-dev
	mosquitto-clients
	mosquitto
	python3-paho-mqtt
	libjansson-dev
	liblmdb-dev
	libssl-dev
	libmicrohttpd-dev
	libsystemd-dev
	systemd
	python3-prometheus-client
	gnuplot-nox
	lmdb-utils
	libdpdk-dev
	dpdk-dev
	librte-net-tap23
	librte-net-af-xdp23
	librte-net-memif23
	iproute2
	ethtool
)

petrel_log() {
	printf '%s: %s\n' "$(basename "$0")" "$*" >&2
}

# Prints "sudo" when commands that need root must go through it, nothing when we
# are root; fails with a hint when neither works.
petrel_sudo() {
	if [[ $(id -u) -eq 0 ]]; then
		return 0
	fi
	if command -v sudo >/dev/null 2>&1; then
		echo sudo
		return 0
	fi
	petrel_log "not root and no sudo: install these as root: $*"
	return 1
}

# Installs the packages of PETREL_DEBIAN_PACKAGES that are not installed yet.
# apt-get update runs only when something is missing, so a ready machine starts in
# a second and works offline.
petrel_install_deps() {
	local missing=() pkg status sudo fresh_mosquitto=0

	for pkg in "${PETREL_DEBIAN_PACKAGES[@]}"; do
		status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
		if [[ $status != "install ok installed" ]]; then
			missing+=("$pkg")
			[[ $pkg == mosquitto ]] && fresh_mosquitto=1
		fi
	done
	if [[ ${#missing[@]} -eq 0 ]]; then
		return 0
	fi
	petrel_log "installing missing Debian packages: ${missing[*]}"
	sudo="$(petrel_sudo "${missing[@]}")" || return 1
	# noninteractive: CI has no stdin, and no package here needs a question
	# answered.
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}"

	# Debian starts the mosquitto service on install, and it takes port 1883,
	# which petrel wants. We need mosquitto only as a reference binary for
	# benchmarks (started on its own port), so stop the service we just caused;
	# a mosquitto that was installed before is left alone.
	if [[ $fresh_mosquitto -eq 1 ]] && command -v systemctl >/dev/null 2>&1 &&
		systemctl is-active --quiet mosquitto 2>/dev/null; then
		petrel_log "stopping and disabling the mosquitto service the package started" \
			"(it would hold port 1883)"
		$sudo systemctl disable --now mosquitto || true
	fi
}

# Configures <builddir> with the given meson options. An existing directory is
# reconfigured every time: the meson.build files add sources and tests only if the
# file exists (fs.exists), which meson checks at configure time alone, so a file
# added since the last run would otherwise be missed. Takes a second. The source
# dir is always the repository root.
petrel_setup() {
	local dir="$1"
	shift
	# Explicit returns: callers may run this inside "if", where set -e is off.
	if [[ -f "$dir/meson-private/coredata.dat" ]]; then
		meson setup --reconfigure "$dir" "$PETREL_ROOT" "$@" >/dev/null || return 1
	else
		meson setup "$dir" "$PETREL_ROOT" "$@" || return 1
	fi
}

# petrel_setup, then builds everything in <builddir>.
petrel_build() {
	petrel_setup "$@" || return 1
	ninja -C "$1" || return 1
}

# True if <target> (a path relative to <builddir>) is up to date, i.e. the last
# build produced it from the current sources; after a failed build this keeps a
# stale binary from an earlier build from being taken for the current one.
petrel_up_to_date() {
	local plan
	# Captured first: "ninja | grep -q" under pipefail fails when grep quits
	# early and ninja gets SIGPIPE.
	plan="$(ninja -C "$1" -n "$2" 2>&1)" || return 1
	[[ $plan != *$'\n['* ]]
}

# The C compiler <builddir> compiles with ("cc", "gcc", "clang", ...: the command's
# name, from the first C source of its targets); empty if it has none.
petrel_build_cc() {
	meson introspect "$1" --targets 2>/dev/null | python3 -c '
import json, os, sys
for t in json.load(sys.stdin):
    for src in t.get("target_sources", []):
        if src.get("language") == "c" and src.get("compiler"):
            print(os.path.basename(src["compiler"][0]))
            sys.exit(0)' 2>/dev/null || true
}

# The sanitizer build, shared by test.sh and fuzz.sh so neither reconfigures the
# other's: clang with ASan and UBSan (UB reports fatal, see meson.build) and the
# libFuzzer targets of tests/fuzz.
PETREL_ASAN_DIR=build-asan
PETREL_ASAN_OPTIONS=(-Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=enabled)

# petrel_setup for the sanitizer build <builddir>. meson keeps the compiler a build
# dir was made with, so one made with gcc (before the switch to clang) is remade.
petrel_setup_asan() {
	local dir="$1" cc
	if [[ -f "$dir/meson-private/coredata.dat" ]]; then
		cc="$(petrel_build_cc "$dir")"
		if [[ $cc != clang ]]; then
			petrel_log "$dir was configured with '${cc:-?}', not clang: recreating it"
			rm -rf "$dir"
		fi
	fi
	CC=clang petrel_setup "$dir" "${PETREL_ASAN_OPTIONS[@]}"
}

# Sanitizer settings for running the sanitizer build's binaries: leaks checked, and
# every report ends the process with a signal a test runner counts as a crash.
# tests/lsan.supp names the few leaks of system libraries that are not ours.
PETREL_ASAN_ENV=(
	"ASAN_OPTIONS=detect_leaks=1:abort_on_error=1"
	"UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1"
	"LSAN_OPTIONS=suppressions=$PETREL_ROOT/tests/lsan.supp:print_suppressions=0"
)

# The fuzz targets meson built in <builddir>, one name per line (codec, engine, ...).
petrel_fuzz_targets() {
	local f
	for f in "$1"/tests/fuzz/fuzz_*; do
		[[ -x $f && -f $f ]] && basename "$f" | sed 's/^fuzz_//'
	done
}

# petrel_fuzz_run <builddir> <target> <seconds> <workdir> [libFuzzer flags...]
# Runs fuzz_<target> for <seconds>: new inputs go to <workdir>/corpus (the tree's
# tests/fuzz/corpus/<target> is read as a second, read-only corpus), a crash, leak,
# sanitizer report or hang (an input over 30 s) stops it and leaves the input in
# <workdir>/artifacts/. libFuzzer's output goes to stdout; returns its exit status
# (0: nothing found).
petrel_fuzz_run() {
	local dir="$1" target="$2" seconds="$3" work="$4"
	shift 4
	mkdir -p "$work/corpus" "$work/artifacts"
	nice env "${PETREL_ASAN_ENV[@]}" \
		"$dir/tests/fuzz/fuzz_$target" \
		-max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" \
		"$work/corpus" "$PETREL_ROOT/tests/fuzz/corpus/$target" 2>&1
}
