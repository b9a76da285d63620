#!/usr/bin/env bash
# Configure (once) and build one build directory.
#   scripts/build.sh build        normal hardened build (gcc)
#   scripts/build.sh build-asan   ASan + UBSan
#   scripts/build.sh build-fuzz   clang + libFuzzer targets
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
if [[ ! -f "$dir/build.ninja" ]]; then
	case "$dir" in
	*asan*) meson setup "$dir" -Db_sanitize=address,undefined -Db_lundef=false ;;
	*fuzz*) CC=clang meson setup "$dir" -Dfuzzing=true -Dtests=false -Db_sanitize=address,undefined -Db_lundef=false ;;
	*) meson setup "$dir" ;;
	esac
fi
ninja -C "$dir"
