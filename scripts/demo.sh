#!/usr/bin/env bash
# make demo: the Rampart story end to end on the embedded default — rampartd with SQLite, a
# device with the software root of trust (labelled INSECURE: for development only) running as
# real processes. Every command shown is a real binary a user would run.
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

step "7b. Attestation: the device proves what it runs and gets 24 h certificates; any MQTT broker that trusts the tenant CA accepts them"
AGENT="$BUILD/src/device/agent/rampart-agent"
say "The tenant uploads its OS bundle; the boot stage measures it into PCR 8 (here, by hand, through the monitor)."
mkdir -p "$DEMO/developer/os" && echo "rampart os 1" >"$DEMO/developer/os/release"
show "$RAMPART" image-package pack --type os-bundle --payload-directory "$DEMO/developer/os" \
	--component-id 0a0b0c0d-1111-4222-8333-444455556666 --name rampart-os --key "$DEMO/developer/release.key" \
	--version 1 --output "$DEMO/developer/os-1.imagepackage"
show "$RAMPART" image add --image "$DEMO/developer/os-1.imagepackage"
OS_SHA=$(sha256sum "$DEMO/developer/os-1.imagepackage" | cut -d' ' -f1)
"$MONITOR" --state "$DEMO/device" --rot soft --socket "$DEMO/device/monitor.sock" --allow "agent=$(id -u)" \
	--allow "boot=$(id -u)" >"$DEMO/device/monitor.log" 2>&1 &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do grep -q monitor.ready "$DEMO/device/monitor.log" 2>/dev/null && break; sleep 0.1; done
show "$RAMPART_OS" measure --socket "$DEMO/device/monitor.sock" --pcr 8 --name os-bundle --version 1 --sha256 "$OS_SHA"
AGENT_ARGS=(--state "$DEMO/device" --monitor-socket "$DEMO/device/monitor.sock" --service "https://127.0.0.1:$PORT"
	--service-ca "$DEMO/service/tls/cert.pem")
show "$AGENT" "${AGENT_ARGS[@]}" --once
show openssl x509 -in "$DEMO/device/agent/client.pem" -noout -subject -issuer -startdate -enddate
show openssl verify -CAfile "$DEMO/operator/tenant-ca-chain.pem" -purpose sslclient "$DEMO/device/agent/client.pem"
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
	show "${PUB[@]}" --cert "$DEMO/device/agent/client.pem" --key "$DEMO/device/agent/client.key"
	say "-> accepted: the device's 24 h certificate chains to the tenant CA"
	refused "${PUB[@]}"
	TENANT_ID=$("$RAMPART" tenant show --output json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tenant_id"])')
	"$BUILD/src/device/agent/attest-ca-tool" --ca-dir "$DEMO/service/ca/$TENANT_ID" --tenant "$TENANT_ID" \
		--device-id "$DEVICE_ID" --now "$(date +%s)" --expired --key-out "$MQ/old.key" --cert-out "$MQ/old.pem"
	say "An expired certificate from the same tenant CA:"
	refused "${PUB[@]}" --cert "$MQ/old.pem" --key "$MQ/old.key"
fi
say "The operator revokes the device: it gets no certificate again."
show "$RAMPART" device revoke --device "$DEVICE_ID"
refused "$AGENT" "${AGENT_ARGS[@]}" --once

step "8. Every change is in the audit log"
show "$RAMPART" audit list

step "Done"
say "The service, the operator's CLI, signed packages and the device identity worked end to end."
