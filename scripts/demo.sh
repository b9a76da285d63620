#!/usr/bin/env bash
# make demo: the Rampart story end to end on the embedded default — rampartd with SQLite, a
# device with the software root of trust (labelled INSECURE: for development only) running as
# real processes started by rampart-boot from a verified OS bundle: provisioned, registered,
# claimed, attested, the sample app deployed and running, then a new OS bundle and app version,
# then a broken OS bundle that fails its health check and is rolled back. Every command shown is a
# real binary a user would run. Runs as root (the app sandbox and the simulated power cycles need it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$ROOT/${1:-build}" && pwd)
cd "$ROOT"

RAMPART="$BUILD/src/cli/rampart"
RAMPARTD="$BUILD/src/service/rampartd"
RAMPART_OS="$BUILD/src/device/rampart-os"
MONITOR="$BUILD/src/device/rampart-monitor"

DEMO=$(mktemp -d /tmp/rampart-demo.XXXXXX)
export RAMPART_CONFIG="$DEMO/operator/config.json"
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	# The app manager's cgroups (named after this script's PID), innermost first.
	local cg
	for cg in $(find /sys/fs/cgroup -type d -name "rampart-demo-$$" 2>/dev/null); do
		find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done
	if [[ ${KEEP_DEMO:-0} == 1 ]]; then echo "demo files kept in $DEMO"; else rm -rf "$DEMO"; fi
}
trap cleanup EXIT

bold=$(tput bold 2>/dev/null || true)
plain=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '   %s\n' "$*"; }
show() {
	printf '%s$ %s%s\n' "$bold" "$*" "$plain"
	"$@"
}
# Run a command that must fail; show its error and exit status.
refused() {
	printf '%s$ %s%s\n' "$bold" "$*" "$plain"
	local status=0
	"$@" || status=$?
	if ((status == 0)); then
		echo "demo: expected this command to be refused" >&2
		exit 1
	fi
	say "-> refused as expected (exit status $status)"
}
wait_for_port() {
	local port=$1 i
	for ((i = 0; i < 100; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "demo: nothing is listening on port $port" >&2
	return 1
}
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$DEMO"/{service,operator,developer,device}
if ((EUID != 0)); then
	echo "demo: run as root: the application manager's sandbox and the device's simulated power cycles need it" >&2
	exit 1
fi

step "1. The security service: rampartd with SQLite"
PORT=$(free_port)
say "rampartd init creates the database, the service's TLS certificate and a one-time admin token."
TOKEN=$("$RAMPARTD" init --state-dir "$DEMO/service" 2>/dev/null)
say "admin token: ${TOKEN:0:12}… (shown once, stored only as a hash)"
"$RAMPARTD" serve --state-dir "$DEMO/service" --listen "127.0.0.1:$PORT" >"$DEMO/service/rampartd.log" 2>&1 &
PIDS+=($!)
wait_for_port "$PORT"
say "rampartd is serving https://127.0.0.1:$PORT (log: $DEMO/service/rampartd.log)"

step "2. The operator logs in and sets up a tenant and a product"
printf '%s\n' "$TOKEN" | show "$RAMPART" login --service "https://127.0.0.1:$PORT" --ca-cert "$DEMO/service/tls/cert.pem" --token-stdin
show "$RAMPART" tenant create --name Contoso
show "$RAMPART" tenant select --tenant Contoso
show "$RAMPART" product create --name Thermostat --description "Smart thermostat, model T1"
say "Creating a product created its five default device groups:"
show "$RAMPART" device-group list --product Thermostat

step "3. The app developer signs and packs the sample app"
show "$RAMPART" image-package keygen --private-key "$DEMO/developer/release.key" --public-key "$DEMO/developer/release.pub"
HELLO_BIN="$BUILD/src/sdk/sample_hello"
show "$RAMPART" image-package pack-application --manifest samples/hello/app_manifest.json \
	--executable "$HELLO_BIN" --key "$DEMO/developer/release.key" --version 1 --version-string 1.0.0 \
	--output "$DEMO/developer/hello-1.imagepackage"
show "$RAMPART" image-package show "$DEMO/developer/hello-1.imagepackage"
show "$RAMPART" image-package verify "$DEMO/developer/hello-1.imagepackage" --trusted-key "$DEMO/developer/release.pub"
say "An attacker flips one byte of the package: verification names the problem and refuses it."
cp "$DEMO/developer/hello-1.imagepackage" "$DEMO/developer/tampered.imagepackage"
size=$(stat -c %s "$DEMO/developer/tampered.imagepackage")
printf '\x5a' | dd of="$DEMO/developer/tampered.imagepackage" bs=1 seek=$((size / 2)) conv=notrunc status=none
refused "$RAMPART" image-package verify "$DEMO/developer/tampered.imagepackage" --trusted-key "$DEMO/developer/release.pub"

step "4. Manufacturing: the device creates its identity in its root of trust"
show "$RAMPART_OS" provision --state "$DEMO/device" --rot soft
"$RAMPART_OS" provision --state "$DEMO/device" --rot soft --output json >"$DEMO/device/identity.json" 2>/dev/null
DEVICE_ID=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["device_id"])' "$DEMO/device/identity.json")
/usr/bin/python3 -c 'import json,sys; open(sys.argv[2],"w").write(json.load(open(sys.argv[1]))["public_key_pem"])' \
	"$DEMO/device/identity.json" "$DEMO/device/identity.pub"

step "5. The maker registers the device; the tenant claims it into a device group"
show "$RAMPART" device register --public-key "$DEMO/device/identity.pub"
show "$RAMPART" device claim --device "$DEVICE_ID" --device-group "Thermostat/Field Test"
show "$RAMPART" device show --device "$DEVICE_ID"

step "6. The tenant trusts the release key, uploads the image and deploys it to Field Test"
show "$RAMPART" image trusted-key add --public-key "$DEMO/developer/release.pub"
show "$RAMPART" image add --image "$DEMO/developer/hello-1.imagepackage"
IMAGE_ID=$("$RAMPART" image-package show "$DEMO/developer/hello-1.imagepackage" --output json |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["image_id"])')
show "$RAMPART" device-group deployment create --device-group "Thermostat/Field Test" --image "$IMAGE_ID"
show "$RAMPART" device-group deployment list --device-group "Thermostat/Field Test"

step "7. The tenant CA: relying parties trust its chain; openssl agrees"
show "$RAMPART" ca-certificate list
show "$RAMPART" ca-certificate download-chain --destination "$DEMO/operator/tenant-ca-chain.pem"
show openssl verify -CAfile "$DEMO/operator/tenant-ca-chain.pem" "$DEMO/operator/tenant-ca-chain.pem"

step "7b. The device's OS bundle: the runtime (monitor, agent, app manager) and os.json, signed"
BOOT="$BUILD/src/device/boot/rampart-boot"
AGENT="$BUILD/src/device/agent/rampart-agent"
DEV="$DEMO/device"
RUN="$DEV/boot/run"
cp "$DEMO/service/tls/cert.pem" "$DEV/service-ca.pem"
mkdir -p "$DEV/trust" && cp "$DEMO/developer/release.pub" "$DEV/trust/release.pub"
say "The device trusts the tenant's release key (STATE/trust/release.pub) and the service's TLS CA."
OS_COMPONENT=0a0b0c0d-1111-4222-8333-444455556666
# pack_os VERSION [broken]: the device runtime copied from the build, os.json naming each component
# with its arguments; a broken bundle adds a required component that exits at once.
pack_os() {
	local version=$1 broken=${2:-} payload="$DEMO/developer/os-payload-$1"
	mkdir -p "$payload/bin" "$payload/etc"
	cp "$MONITOR" "$BUILD/src/device/rampart-monitor-soft" "$BUILD/src/device/agent/rampart-agent" "$BUILD/src/device/agent/rampart-agent-work" \
		"$BUILD/src/device/agent/rampart-agent-update" \
		"$BUILD/src/device/appmgr/rampart-appmgr" \
		"$BUILD/src/device/appmgr/rampart-app-loader" "$BUILD/src/device/broker/rampart-periph-broker" "$payload/bin/"
	echo "Rampart OS $version" >"$payload/etc/os-release"
	local extra=""
	if [[ -n $broken ]]; then
		printf '#!/bin/sh\necho "sensor-hub: cannot open /dev/sensor0" >&2\nexit 3\n' >"$payload/bin/sensor-hub"
		chmod 755 "$payload/bin/sensor-hub"
		extra=', {"name": "sensor-hub", "exec": "bin/sensor-hub", "required": true}'
	fi
	cat >"$payload/os.json" <<-EOF
	{"version": 1, "monitor_socket": "\${RUN}/monitor.sock", "health": {"settle_ms": 3000},
	 "components": [
	  {"name": "monitor", "exec": "bin/rampart-monitor", "required": true, "ready_file": "\${RUN}/monitor.sock",
	   "args": ["--state", "\${STATE}", "--rot", "\${ROT}", "--socket", "\${RUN}/monitor.sock",
	            "--allow", "boot=0", "--allow", "agent=0", "--allow", "appmgr=0"]},
	  {"name": "appmgr", "exec": "bin/rampart-appmgr", "required": true, "ready_file": "\${RUN}/appmgr.sock",
	   "args": ["--state", "\${STATE}/appmgr", "--trust-key", "\${STATE}/trust/release.pub",
	            "--device-id", "\${DEVICE_ID}", "--device-state", "\${STATE}",
	            "--cgroup-parent", "rampart-demo-$$", "daemon", "--socket", "\${RUN}/appmgr.sock"]},
	  {"name": "agent", "exec": "bin/rampart-agent", "required": true, "ready_file": "\${RUN}/agent.sock",
	   "args": ["--state", "\${STATE}", "--monitor-socket", "\${RUN}/monitor.sock", "--rot", "\${ROT}",
	            "--service", "https://127.0.0.1:$PORT", "--service-ca", "\${STATE}/service-ca.pem",
	            "--socket", "\${RUN}/agent.sock", "--appmgr-socket", "\${RUN}/appmgr.sock",
	            "--appmgr-state", "\${STATE}/appmgr"]}$extra
	 ]}
	EOF
	"$RAMPART" image-package pack --type os-bundle --payload-directory "$payload" --component-id "$OS_COMPONENT" \
		--name rampart-os --key "$DEMO/developer/release.key" --version "$version" \
		--output "$DEMO/developer/os-$version.imagepackage" >/dev/null
}
pack_os 1
show cat "$DEMO/developer/os-payload-1/os.json"
show "$RAMPART" image-package show "$DEMO/developer/os-1.imagepackage"
say "The tenant uploads it: attestation accepts only OS bundles the tenant released."
show "$RAMPART" image add --image "$DEMO/developer/os-1.imagepackage"
say "Manufacturing installs OS 1 into slot A; rampart-boot verifies the signature and the version floor."
show "$BOOT" install --state "$DEV" --rot soft "$DEMO/developer/os-1.imagepackage"

step "7c. The device boots: rampart-boot verifies, measures and starts the runtime as real processes"
# Each power-on gets a new kernel boot ID, which is what resets the soft root of trust's PCRs (as a
# TPM's reset at power-on): the device runs in its own mount namespace with a fresh boot_id. When
# rampart-boot exits with status 80 (reboot requested: an update attempt failed, or an app asked
# for a reboot) the board resets: the loop below powers it on again. SIGTERM stops the device.
start_device() {
	(
		child=""
		trap '[[ -n $child ]] && kill -TERM "$child" 2>/dev/null; [[ -n $child ]] && wait "$child"; exit 0' TERM
		for ((n = 0; n < 20; n++)); do
			cat /proc/sys/kernel/random/uuid >"$DEV/power-on-id"
			unshare --mount --propagation private /bin/sh -c 'mount --bind "$1" /proc/sys/kernel/random/boot_id && shift && exec "$@"' \
				sh "$DEV/power-on-id" "$BOOT" --state "$DEV" --rot soft --health-timeout 20 >>"$DEV/device.log" 2>&1 &
			child=$!
			status=0
			wait "$child" || status=$?
			child=""
			((status == 80)) || exit "$status"
			echo "demo: power cycle (rampart-boot asked for a reboot)" >>"$DEV/device.log"
		done
	) &
	DEVICE_PID=$!
	PIDS+=("$DEVICE_PID")
}
# Stop the device like a reboot: rampart-boot stops its components and exits.
stop_device() {
	kill -TERM "$DEVICE_PID" 2>/dev/null || true
	wait "$DEVICE_PID" 2>/dev/null || true
	# Forget it, so the exit trap never signals a PID the system may have reused.
	local keep=() pid
	for pid in "${PIDS[@]}"; do [[ $pid == "$DEVICE_PID" ]] || keep+=("$pid"); done
	PIDS=("${keep[@]}")
}
# wait_log PATTERN SECONDS: wait until the device log shows PATTERN.
wait_log() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		grep -q "$1" "$DEV/device.log" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "demo: the device did not log '$1' within $2 s (log: $DEV/device.log)" >&2
	tail -n 30 "$DEV/device.log" >&2
	return 1
}
boot_status() { show "$BOOT" status --state "$DEV" --monitor-socket "$RUN/monitor.sock"; }
device_log() { say "device log:"; grep -E "$1" "$DEV/device.log" | tail -n "${2:-12}" | sed 's/^/     | /'; }
start_device
wait_log "boot.running" 60
device_log "boot\.|monitor.ready|agent.start|appmgr" 14
boot_status

step "7d. Attestation: the device proves what it runs and gets 24 h certificates; any MQTT broker that trusts the tenant CA accepts them"
show "$RAMPART" agent attest --socket "$RUN/agent.sock"
show openssl x509 -in "$DEV/agent/client.pem" -noout -subject -issuer -startdate -enddate
show openssl verify -CAfile "$DEMO/operator/tenant-ca-chain.pem" -purpose sslclient "$DEV/agent/client.pem"
if command -v mosquitto >/dev/null || [[ -x /usr/sbin/mosquitto ]]; then
	say "Mosquitto with require_certificate true and the tenant CA chain as its CA file:"
	MQ="$DEMO/mqtt" && mkdir -p "$MQ" && MQPORT=$(free_port)
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$MQ/bca.key" -out "$MQ/bca.pem" \
		-days 1 -subj "/CN=demo broker CA" 2>/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$MQ/broker.key" -out "$MQ/broker.csr" \
		-subj "/CN=127.0.0.1" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$MQ/ext.cnf"
	openssl x509 -req -in "$MQ/broker.csr" -CA "$MQ/bca.pem" -CAkey "$MQ/bca.key" -CAcreateserial -days 1 \
		-extfile "$MQ/ext.cnf" -out "$MQ/broker.pem" 2>/dev/null
	printf 'listener %s 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\nuse_identity_as_username true\nallow_anonymous false\nuser %s\n' \
		"$MQPORT" "$DEMO/operator/tenant-ca-chain.pem" "$MQ/broker.pem" "$MQ/broker.key" "$(id -un)" >"$MQ/mosquitto.conf"
	"$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$MQ/mosquitto.conf" >"$MQ/mosquitto.log" 2>&1 &
	PIDS+=($!)
	wait_for_port "$MQPORT"
	PUB=(mosquitto_pub -h 127.0.0.1 -p "$MQPORT" --cafile "$MQ/bca.pem" -t thermostat/temperature -m 21.5)
	show "${PUB[@]}" --cert "$DEV/agent/client.pem" --key "$DEV/agent/client.key"
	say "-> accepted: the device's 24 h certificate chains to the tenant CA"
	refused "${PUB[@]}"
	TENANT_ID=$("$RAMPART" tenant show --output json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tenant_id"])')
	"$BUILD/src/device/agent/attest-ca-tool" --ca-dir "$DEMO/service/ca/$TENANT_ID" --tenant "$TENANT_ID" \
		--device-id "$DEVICE_ID" --now "$(date +%s)" --expired --key-out "$MQ/old.key" --cert-out "$MQ/old.pem"
	say "An expired certificate from the same tenant CA:"
	refused "${PUB[@]}" --cert "$MQ/old.pem" --key "$MQ/old.key"
fi

step "8. The deployed app arrives: the agent checks for updates (TUF: image repository + director), downloads, verifies, installs"
say "After its first attestation the agent checked for updates: the director targets hello 1, so it"
say "downloaded it, verified it against the trusted release key and had the app manager install and start it."
say "The agent checks on start, every 20 h ± 2 h, and on demand through its device-local API:"
show "$RAMPART" device update --now --socket "$RUN/agent.sock"
device_log "agent\.(update|app)|update\.(target|app)" 8
HELLO_CID=4780b14f-8b59-4715-810e-a021efdabec8
say "The app manager runs hello in its sandbox; its log:"
for ((i = 0; i < 50; i++)); do
	[[ -s "$DEV/appmgr/apps/$HELLO_CID/log" ]] && grep -q tick "$DEV/appmgr/apps/$HELLO_CID/log" && break
	sleep 0.1
done
show "$RAMPART" device app show-status --local-socket "$RUN/appmgr.sock"
show tail -n 3 "$DEV/appmgr/apps/$HELLO_CID/log"
show "$RAMPART" device show-deployment-status --device "$DEVICE_ID"

step "9. A new release: hello 2 and OS bundle 2, deployed together"
show "$RAMPART" image-package pack-application --manifest samples/hello/app_manifest.json \
	--executable "$HELLO_BIN" --key "$DEMO/developer/release.key" --version 2 --version-string 2.0.0 \
	--output "$DEMO/developer/hello-2.imagepackage"
pack_os 2
image_id() { "$RAMPART" image-package show "$1" --output json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["image_id"])'; }
show "$RAMPART" image add --image "$DEMO/developer/hello-2.imagepackage"
show "$RAMPART" image add --image "$DEMO/developer/os-2.imagepackage"
HELLO2_ID=$(image_id "$DEMO/developer/hello-2.imagepackage")
OS2_ID=$(image_id "$DEMO/developer/os-2.imagepackage")
show "$RAMPART" device-group deployment create --device-group "Thermostat/Field Test" --image "$HELLO2_ID" --image "$OS2_ID"
show "$RAMPART" device update --now --socket "$RUN/agent.sock"
say "OS 2 waits in the inactive slot (slot B); hello 2 is already running:"
boot_status
show "$RAMPART" device app show-status --local-socket "$RUN/appmgr.sock"
say "The device reboots into slot B; the boot stage health-checks OS 2 and commits it (the version floor rises to 2)."
stop_device
: >"$DEV/device.log"
start_device
wait_log "boot.commit" 60
wait_log "boot.running" 30
device_log "boot\." 8
boot_status
say "The app manager starts the installed apps again after the restart:"
show "$RAMPART" device app show-status --local-socket "$RUN/appmgr.sock"
show "$RAMPART" device update --now --socket "$RUN/agent.sock"
show "$RAMPART" device image list-installed --device "$DEVICE_ID"

step "10. A broken OS bundle 3: it installs, fails its health check, and the device rolls back to OS 2"
pack_os 3 broken
show "$RAMPART" image add --image "$DEMO/developer/os-3.imagepackage"
OS3_ID=$(image_id "$DEMO/developer/os-3.imagepackage")
show "$RAMPART" device-group deployment create --device-group "Thermostat/Field Test" --image "$HELLO2_ID" --image "$OS3_ID"
show "$RAMPART" device update --now --socket "$RUN/agent.sock"
say "The device reboots into OS 3: its sensor-hub component exits at once, so the health check fails;"
say "each attempt, and the fallback to OS 2, starts after a power cycle (rampart-boot asks for one)."
stop_device
: >"$DEV/device.log"
start_device
wait_log "boot.rollback" 90
wait_log "boot.running" 60
device_log "boot\.|sensor-hub|power cycle" 16
boot_status
say "OS 2 came back in a fresh power-on: its measurement is the only one, so it attests at once."
show "$RAMPART" agent attest --socket "$RUN/agent.sock"
say "The agent reports the rollback with its next check; the service shows it:"
show "$RAMPART" device update --now --socket "$RUN/agent.sock"
show "$RAMPART" device show-deployment-status --device "$DEVICE_ID"

step "11. The operator revokes the device: it gets no certificate again"
show "$RAMPART" device revoke --device "$DEVICE_ID"
refused "$RAMPART" agent attest --socket "$RUN/agent.sock"
stop_device

step "12. Every change is in the audit log"
show "$RAMPART" audit list

step "Done"
say "The service, the operator's CLI, signed packages, the device identity, attestation and renewable"
say "security (signed updates of apps and the OS, with a health-checked rollback) worked end to end."
