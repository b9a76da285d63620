#!/usr/bin/env bash
# Install the Debian packages Rampart needs (scripts/debian-packages.txt) that are missing.
# Runs apt-get as root (directly, or through sudo when available).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t wanted < <(grep -vE '^\s*(#|$)' scripts/debian-packages.txt)
missing=()
for pkg in "${wanted[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
# The TUF interoperability test runs an independent client (tuf-js) on Node.js; a machine that
# already has Node.js and npm keeps them, a fresh Debian gets its own packages.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
((${#missing[@]} == 0)) && exit 0
echo "Installing missing Debian packages: ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
	sudo=()
elif command -v sudo >/dev/null; then
	sudo=(sudo)
else
	echo "error: these packages are missing and this user cannot install them: ${missing[*]}" >&2
	echo "Run 'make deps' as root, or install them with apt-get." >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
