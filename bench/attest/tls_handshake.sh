#!/usr/bin/env bash
# bench/attest/tls_handshake.sh: what one full TLS handshake costs each side on this host, for the
# two TLS stacks Debian 12 offers a server here: GnuTLS (what rampartd's libmicrohttpd uses) and
# OpenSSL 3.0 (the alternative front end). Both servers get the same P-256 certificate and the same
# client, `openssl s_time -new` (a fresh connection and full handshake each time, no resumption);
# the script prints each server's CPU time per connection and their ratio, and the client's.
#   bench/attest/tls_handshake.sh [SECONDS] [ROUNDS]
# The numbers bound what any front end can do for bench/attest: an attestation is one such
# handshake at each end on the same cores, before any HTTP, evidence or issuance work.
set -euo pipefail
SECONDS_RUN=${1:-5}
ROUNDS=${2:-2}
for tool in openssl gnutls-serv; do
	command -v "$tool" >/dev/null || { echo "tls_handshake.sh: $tool is missing (apt-get install openssl gnutls-bin)" >&2; exit 2; }
done
TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/rampart-bench-tls.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/key.pem" \
	-out "$TMP/cert.pem" -subj /CN=127.0.0.1 -days 2 2>/dev/null
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
OSSL_PORT=$(free_port)
GNUTLS_PORT=$(free_port)
openssl s_server -quiet -accept "127.0.0.1:$OSSL_PORT" -cert "$TMP/cert.pem" -key "$TMP/key.pem" \
	-naccept 10000000 </dev/null >/dev/null 2>&1 &
PIDS+=($!)
OSSL_PID=$!
gnutls-serv --echo --port "$GNUTLS_PORT" --x509certfile "$TMP/cert.pem" --x509keyfile "$TMP/key.pem" -q \
	</dev/null >/dev/null 2>&1 &
PIDS+=($!)
GNUTLS_PID=$!
for port in "$OSSL_PORT" "$GNUTLS_PORT"; do
	for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in clock ticks
HZ=$(getconf CLK_TCK)
echo "host: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
measure() { # NAME PID PORT: prints "server_ms client_ms connections"
	local before after out n client
	before=$(ticks "$2")
	out=$(timeout $((SECONDS_RUN + 30)) openssl s_time -connect "127.0.0.1:$3" -new -time "$SECONDS_RUN" 2>&1 |
		grep -m1 'connections in')
	after=$(ticks "$2")
	n=${out%% *}
	client=$(echo "$out" | sed -n 's/.*; \([0-9.]*\) connections\/user sec.*/\1/p')
	[[ $n =~ ^[1-9][0-9]*$ && $client =~ ^[0-9.]+$ ]] || { echo "tls_handshake.sh: s_time against port $3 printed: $out" >&2; exit 1; }
	awk -v t=$((after - before)) -v hz="$HZ" -v n="$n" -v c="$client" 'BEGIN { printf "%.4f %.4f %d\n", t * 1000 / hz / n, 1000 / c, n }'
}
for round in $(seq "$ROUNDS"); do
	ossl=$(measure openssl "$OSSL_PID" "$OSSL_PORT")
	gnutls=$(measure gnutls "$GNUTLS_PID" "$GNUTLS_PORT")
	read -r o_ms o_client o_n <<<"$ossl"
	read -r g_ms g_client g_n <<<"$gnutls"
	printf 'round %d: server CPU per handshake: GnuTLS %.3f ms (%d conns), OpenSSL %.3f ms (%d conns): OpenSSL/GnuTLS = %.2f; client (OpenSSL s_time) user CPU %.3f / %.3f ms\n' \
		"$round" "$g_ms" "$g_n" "$o_ms" "$o_n" "$(awk -v o="$o_ms" -v g="$g_ms" 'BEGIN { print (g > 0 ? o / g : 0) }')" "$g_client" "$o_client"
done
