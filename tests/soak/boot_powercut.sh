#!/bin/sh
# Soak test for power cuts during OS install, slot switch, boot and commit: runs the black-box
# power-cut loop (tests/blackbox/test_boot_powercut.py) for ITERATIONS cuts (default 2000).
# Usage: tests/soak/boot_powercut.sh [ITERATIONS] [SEED]   (RAMPART_BUILD selects the build, default build/)
set -eu
iterations=${1:-2000}
seed=${2:-$(date +%s)}
root=$(cd "$(dirname "$0")/../.." && pwd)
export RAMPART_BUILD="${RAMPART_BUILD:-$root/build}"
export RAMPART_POWERCUT_ITERATIONS="$iterations"
export RAMPART_POWERCUT_SEED="$seed"
# About 1 s per cut on two cores; allow three times that before giving up.
export RAMPART_POWERCUT_MAX_SECONDS=$((iterations * 3 + 60))
echo "boot power-cut soak: $iterations cuts, seed $seed, build $RAMPART_BUILD"
cd "$root/tests/blackbox"
exec /usr/bin/python3 -m pytest -q -s -p no:cacheprovider test_boot_powercut.py
