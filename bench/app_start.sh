#!/bin/sh
# bench/app_start: start latency of rampart-appmgr vs bwrap vs crun for one trivial static app,
# plus the idle manager's resident memory (PSS). Usage: bench/app_start.sh [BUILD_DIR] [ITERATIONS]
# Needs root, bubblewrap and crun (scripts/debian-packages.txt).
set -eu
BUILD=$(cd "${1:-build}" && pwd)
ITER=${2:-50}
APPMGR=$BUILD/src/device/appmgr/rampart-appmgr
APP=$BUILD/src/device/appmgr/sbx_trivial
BENCH=$BUILD/bench/app_start
[ "$(id -u)" = 0 ] || { echo "app_start: run as root (containers)"; exit 1; }
for t in bwrap crun; do command -v $t >/dev/null || { echo "app_start: install $t"; exit 1; }; done
W=$(mktemp -d /tmp/rampart-app-start.XXXXXX)
CID=5e1ec7ed-0000-4000-8000-0000000000a1
mkdir -p "$W/pkg/bin"
cp "$APP" "$W/pkg/bin/app"
cat > "$W/pkg/app_manifest.json" <<JSON
{"SchemaVersion":1,"Name":"bench","ComponentId":"$CID","EntryPoint":"/bin/app","CmdArgs":["marker"],"ApplicationType":"Default","Capabilities":{}}
JSON
# bwrap and crun need mount points inside their (read-only) root; the manager builds its own.
mkdir -p "$W/bundle/rootfs/bin" "$W/bundle/rootfs/dev" "$W/bundle/rootfs/proc" "$W/bundle/rootfs/tmp"
cp "$APP" "$W/bundle/rootfs/bin/app"
(cd "$W/bundle" && crun spec)
python3 - "$W/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["args"] = ["/bin/app", "marker"]; c["process"]["terminal"] = False
c["process"]["user"] = {"uid": 100998, "gid": 100998}
c["root"] = {"path": "rootfs", "readonly": True}
c["linux"]["namespaces"].append({"type": "cgroup"})
json.dump(c, open(p, "w"))
PY
OPTS="--state $W/state --cgroup-parent rampart-bench-$$ --no-restart"
$APPMGR $OPTS install "$W/pkg" >/dev/null 2>&1
: > "$W/state/apps/$CID/log"
PID=
trap '[ -z "$PID" ] || { kill $PID; wait $PID; } 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT

pss() { awk '/^Pss:/ {print $2}' /proc/$1/smaps_rollup; }

# One daemon per mode: "prewarm" keeps a prepared container per stopped app (the default);
# "cold" builds the container on the start request.
for MODE in prewarm cold; do
	EXTRA=
	[ $MODE = cold ] && EXTRA=--no-prewarm
	rm -f "$W/appmgr.sock"
	$APPMGR $OPTS $EXTRA --log-format json daemon --socket "$W/appmgr.sock" 2>"$W/appmgr-$MODE.log" &
	PID=$!
	for i in $(seq 100); do [ -S "$W/appmgr.sock" ] && break; sleep 0.05; done
	echo "== rampart-appmgr $MODE =="
	"$BENCH" "$W/appmgr.sock" "$CID" "$W/state/apps/$CID/log" "$W/bundle/rootfs" "$W/bundle" "$W" "$ITER"
	sleep 0.5
	KIDS=$(cat /proc/$PID/task/*/children 2>/dev/null || true)
	WARM=0
	for k in $KIDS; do WARM=$((WARM + $(pss $k))); done
	echo "rampart-appmgr idle: PSS $(pss $PID) KiB (manager), prepared containers: $(echo $KIDS | wc -w) process(es), PSS $WARM KiB"
	kill $PID; wait $PID 2>/dev/null || true
	PID=
done
