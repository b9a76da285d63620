#!/usr/bin/env bash
# bench/attest/tls_handshake.sh: what one full TLS handshake costs a server on this host, for
# rampartd itself (libmicrohttpd on GnuTLS, a connection that sends no request) and for the two
# reference servers Debian 12 offers: `gnutls-serv` (the same TLS library) and `openssl s_server`
# (OpenSSL 3.0, the alternative front end). All three serve rampartd's own P-256 certificate and key
# and face the same client, CLIENTS concurrent `openssl s_time -new` (a fresh connection and full
# TLS 1.3 handshake each time, no resumption, nothing sent); the script prints each server's CPU time
# per handshake. It then runs `openssl speed ecdsap256` on one core and prints the floor of a
# full attestation at rampartd: its bare handshake plus the evidence route's own ECDSA work (two
# certificate signatures, three verifications: evidence and two CSRs) at openssl speed's rates,
# next to the budget that bench/attest/run.sh's goal of 30 % of the crypto ceiling allows.
#   bench/attest/tls_handshake.sh [SECONDS] [ROUNDS] [BUILD_DIR]
# HS_PIN=0 leaves the servers unpinned (by default, on two or more cores, they run alone on CPU 0
# and the clients on the others, as ATTEST_PIN=1 does for run.sh); HS_CLIENTS sets CLIENTS (4).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_RUN=${1:-5}
ROUNDS=${2:-2}
BUILD=$(cd "$ROOT" && cd "${3:-build}" && pwd)
RAMPARTD=${HS_RAMPARTD:-$BUILD/src/service/rampartd}
CLIENTS=${HS_CLIENTS:-4}
[[ $CLIENTS =~ ^[1-9][0-9]?$ ]] || { echo "tls_handshake.sh: HS_CLIENTS must be 1..99" >&2; exit 2; }
for tool in openssl gnutls-serv; do
	command -v "$tool" >/dev/null || { echo "tls_handshake.sh: $tool is missing (apt-get install openssl gnutls-bin)" >&2; exit 2; }
done
[[ -x $RAMPARTD ]] || { echo "tls_handshake.sh: no rampartd at $RAMPARTD (build first: make build)" >&2; exit 2; }
TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/rampart-bench-tls.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
SVC_PIN=() CLIENT_PIN=()
if [[ ${HS_PIN:-1} == 1 && $(nproc) -ge 2 ]]; then
	SVC_PIN=(taskset -c 0) CLIENT_PIN=(taskset -c "1-$(($(nproc) - 1))")
fi
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
"$RAMPARTD" init --state-dir "$TMP/state" >/dev/null 2>&1
RAMPARTD_PORT=$(free_port)
"${SVC_PIN[@]}" "$RAMPARTD" serve --state-dir "$TMP/state" --listen "127.0.0.1:$RAMPARTD_PORT" >"$TMP/rampartd.log" 2>&1 &
PIDS+=($!)
RAMPARTD_PID=$!
wait_port "$RAMPARTD_PORT" || { echo "tls_handshake.sh: rampartd did not start: $(tail -3 "$TMP/rampartd.log")" >&2; exit 1; }
# The certificate and key rampartd made for itself on its first start serve the references too.
CERT=$TMP/state/tls/cert.pem KEY=$TMP/state/tls/key.pem
[[ -r $CERT && -r $KEY ]] || { echo "tls_handshake.sh: rampartd left no TLS certificate and key in $TMP/state/tls" >&2; exit 1; }
OSSL_PORT=$(free_port)
GNUTLS_PORT=$(free_port)
"${SVC_PIN[@]}" openssl s_server -quiet -accept "127.0.0.1:$OSSL_PORT" -cert "$CERT" -key "$KEY" \
	-naccept 10000000 </dev/null >/dev/null 2>&1 &
PIDS+=($!)
OSSL_PID=$!
"${SVC_PIN[@]}" gnutls-serv --echo --port "$GNUTLS_PORT" --x509certfile "$CERT" --x509keyfile "$KEY" -q \
	</dev/null >/dev/null 2>&1 &
PIDS+=($!)
GNUTLS_PID=$!
for port in "$OSSL_PORT" "$GNUTLS_PORT"; do
	wait_port "$port" || { echo "tls_handshake.sh: a reference server did not start on port $port" >&2; exit 1; }
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in clock ticks
HZ=$(getconf CLK_TCK)
echo "host: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
[[ ${#SVC_PIN[@]} -gt 0 ]] && echo "pinned: each server alone on CPU 0, $CLIENTS s_time clients on the others"
measure() { # PID PORT: prints "server_ms connections"
	local before after n=0 i out clients=()
	before=$(ticks "$1")
	for i in $(seq "$CLIENTS"); do
		timeout $((SECONDS_RUN + 30)) "${CLIENT_PIN[@]}" openssl s_time -connect "127.0.0.1:$2" -new -time "$SECONDS_RUN" \
			>"$TMP/s_time.$i" 2>&1 &
		clients+=($!)
	done
	wait "${clients[@]}" || true
	after=$(ticks "$1")
	for i in $(seq "$CLIENTS"); do
		out=$(grep -m1 'connections in' "$TMP/s_time.$i" || true)
		[[ ${out%% *} =~ ^[1-9][0-9]*$ ]] || { echo "tls_handshake.sh: s_time against port $2 printed: $(head -c 400 "$TMP/s_time.$i")" >&2; exit 1; }
		n=$((n + ${out%% *}))
	done
	awk -v t=$((after - before)) -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.4f %d\n", t * 1000 / hz / n, n }'
}
sum_r=0
for round in $(seq "$ROUNDS"); do
	read -r r_ms r_n <<<"$(measure "$RAMPARTD_PID" "$RAMPARTD_PORT")"
	read -r g_ms g_n <<<"$(measure "$GNUTLS_PID" "$GNUTLS_PORT")"
	read -r o_ms o_n <<<"$(measure "$OSSL_PID" "$OSSL_PORT")"
	printf 'round %d: server CPU per handshake: rampartd %.3f ms (%d conns), GnuTLS %.3f ms (%d conns), OpenSSL %.3f ms (%d conns): OpenSSL/GnuTLS = %.2f\n' \
		"$round" "$r_ms" "$r_n" "$g_ms" "$g_n" "$o_ms" "$o_n" "$(awk -v o="$o_ms" -v g="$g_ms" 'BEGIN { print (g > 0 ? o / g : 0) }')"
	sum_r=$(awk -v a="$sum_r" -v b="$r_ms" 'BEGIN { print a + b }')
done
# openssl speed on the servers' core, with nothing else on it (the servers are idle now).
SPEED=$("${SVC_PIN[@]}" openssl speed -seconds 2 -mr ecdsap256 2>/dev/null | grep '^+F4' | tail -1)
/usr/bin/python3 - "$SPEED" "$sum_r" "$ROUNDS" <<'PY'
import sys
f = sys.argv[1].split(":")  # +F4:<n>:<bits>:<sign/s>:<verify/s>
sign, verify = float(f[3]), float(f[4])
handshake = float(sys.argv[2]) / int(sys.argv[3])
ecdsa = 1000.0 * (2 / sign + 3 / verify)  # the evidence route's own ECDSA, ms
# run.sh's ceiling: the service's ECDSA alone (3 signs, TLS included, + 3 verifies); 30 % of that
# rate leaves this much CPU per attestation.
budget = 1000.0 * (3 / sign + 3 / verify) / 0.30
floor = handshake + ecdsa
print(f"openssl speed ecdsap256 (one core): {sign:.0f} sign/s, {verify:.0f} verify/s")
print(f"attestation floor at rampartd: bare handshake {handshake:.3f} ms + evidence ECDSA {ecdsa:.3f} ms "
      f"(2 signs + 3 verifies) = {floor:.3f} ms, {100 * floor / budget:.0f} % of the {budget:.3f} ms per "
      f"attestation that 30 % of the crypto ceiling allows, before any HTTP, JSON, X.509 or database work")
PY
