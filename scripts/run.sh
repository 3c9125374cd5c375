#!/usr/bin/env bash
# run.sh - the newcomer's first command: installs what is missing, builds build/,
# and runs petrel in the foreground. With no arguments it listens on 127.0.0.1:1883
# with the embedded defaults; any arguments go to petrel (try --help).
# Ctrl-C stops it.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

petrel_install_deps
petrel_build "$PETREL_ROOT/build"

bin="$PETREL_ROOT/build/control/petrel"
if [[ ! -x $bin ]]; then
	petrel_log "the build did not produce $bin (is control/main.c there yet?)"
	exit 1
fi

# The data directory petrel's defaults point at (persistence_location ./data,
# relative to where petrel runs: here, the current directory).
mkdir -p data

# A port held by another broker makes petrel fail at bind; say who to blame.
if [[ $# -eq 0 ]] && (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
	petrel_log "127.0.0.1:1883 is already in use (a mosquitto service? try:" \
		"sudo systemctl stop mosquitto), or pass another port: $0 -p 1884"
	exit 1
fi

petrel_log "starting $bin $* (Ctrl-C stops it)"
exec "$bin" "$@"
