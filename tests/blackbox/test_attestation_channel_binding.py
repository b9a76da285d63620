"""Black-box tests of channel-bound attestation (nonce_binding "tls-exporter") against the real
rampartd and a real device (provisioned state, security monitor, `rampart-os attest`).

Evidence may name, instead of a challenge's nonce, the TLS 1.3 exporter value of the very
connection it arrives on (RFC 8446 exporter, label EXPORTER-rampart-attestation-nonce, empty
context, 32 bytes). Python's ssl module cannot compute exporters, so each connection here is a real
`openssl s_client` that prints its exporter value; the HTTP request is written through it by hand.
These tests prove that:
  - evidence over the connection's own exporter value gets both certificates (and is audited);
  - evidence made for another connection is refused (nonce_unknown), and issues nothing;
  - a connection's exporter value is single use: a second request on it is refused (nonce_replayed);
  - "nonce" and "nonce_binding" together, or another binding name, are malformed requests;
  - a TLS 1.2 connection cannot bind evidence, even with its own (RFC 5705) exporter value;
  - another device's evidence, bound to the right connection, is still another device's.
"""
import base64
import json
import os
import re
import select
import shutil
import sqlite3
import subprocess
import time

import pytest

from attest_world import openssl_csr, world  # noqa: F401  (world is the fixture)
from service_client import Response

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the monitor tests need root (peer UIDs)"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line tool"),
]

EXPORTER_LABEL = "EXPORTER-rampart-attestation-nonce"
KEYING_RE = re.compile(rb"Keying material: ([0-9A-Fa-f]+)\r?\n")
PROTOCOL_RE = re.compile(rb"\nNew, (TLSv1\.[0-9]),")
TIMEOUT = 60  # seconds for any one wait on s_client


class BoundConnection:
    """One TLS connection to rampartd made by `openssl s_client`, which reports the connection's
    exporter value; HTTP requests are written through its stdin and the responses parsed from its
    stdout (where they follow the session summary s_client prints)."""

    _count = 0

    def __init__(self, world, tls="1.3"):
        BoundConnection._count += 1
        self.port = world.svc.port
        self._err = open(world.tmp / f"s_client-{BoundConnection._count}.err", "w+b")
        self.proc = subprocess.Popen(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-CAfile", str(world.ca_file),
             "-verify_ip", "127.0.0.1", "-verify_return_error", "-noservername", f"-tls{tls.replace('.', '_')}",
             "-keymatexport", EXPORTER_LABEL, "-keymatexportlen", "32",
             # -ign_eof: closing stdin does not end the connection; s_client reads until the server closes.
             "-ign_eof"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err)
        self.out = bytearray()
        self.eof = False
        try:
            m = self._read_until(lambda: KEYING_RE.search(self.out))
            assert m, f"s_client printed no keying material:\n{self.out.decode(errors='replace')}\n{self.stderr()}"
            self.exporter_hex = m.group(1).decode().lower()
            assert len(self.exporter_hex) == 64, self.exporter_hex
            self._data_start = m.end()  # the server's bytes follow the session summary
            self.protocol = PROTOCOL_RE.search(self.out).group(1).decode()
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def stderr(self):
        self._err.seek(0)
        return self._err.read().decode(errors="replace")

    def _read_until(self, done, timeout=TIMEOUT):
        """Read s_client's stdout until done() is true, stdout ends or TIMEOUT passes; done()'s value."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        for _ in range(100000):  # bounded in count as well as in time
            result = done()
            left = deadline - time.monotonic()
            if result or self.eof or left <= 0:
                return result
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 65536)
                if chunk:
                    self.out += chunk
                else:
                    self.eof = True
        return done()

    def send(self, body, keep_alive=False):
        """POST BODY (a dict, sent as JSON) to /v1/attestation/evidence on this connection."""
        data = json.dumps(body).encode()
        head = (f"POST /v1/attestation/evidence HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
        self.proc.stdin.write(head.encode() + data)
        self.proc.stdin.flush()
        if not keep_alive:
            self.proc.stdin.close()

    def responses(self):
        """The complete HTTP responses received so far, in order."""
        out, pos, found = bytes(self.out), self._data_start, []
        for _ in range(100):  # bounded: a test sends a few requests per connection
            at = out.find(b"HTTP/1.1 ", pos)
            end = out.find(b"\r\n\r\n", at) if at >= 0 else -1
            if end < 0:
                break
            lines = out[at:end].decode("latin-1").split("\r\n")
            headers = dict((k.strip().lower(), v.strip()) for k, _, v in (h.partition(":") for h in lines[1:]))
            length = int(headers.get("content-length", "0"))
            body = out[end + 4:end + 4 + length]
            if len(body) < length:
                break
            found.append(Response(int(lines[0].split()[1]), headers, body))
            pos = end + 4 + length
        return found

    def request(self, body, keep_alive=False):
        """Send BODY and wait for its response."""
        before = len(self.responses())
        self.send(body, keep_alive)
        got = self._read_until(lambda: len(self.responses()) > before)
        assert got, f"no response on the connection:\n{self.out[self._data_start:].decode(errors='replace')}\n" \
                    f"{self.stderr()}"
        return self.responses()[before]

    def close(self):
        try:
            if not self.proc.stdin.closed:
                self.proc.stdin.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self._err.close()


def bound_body(world, evidence, device_id, tag):
    """An evidence request that names the connection as its nonce (no "nonce")."""
    return {"device_id": device_id, "nonce_binding": "tls-exporter",
            "evidence": base64.b64encode(evidence).decode(),
            "client_csr": openssl_csr(world.tmp, f"c-{tag}"), "device_api_csr": openssl_csr(world.tmp, f"a-{tag}")}


def attest_audit(world, dev):
    return [e for e in world.audit() if e["action"] == "device.attest" and e["target"] == dev.id]


def issued(world, dev):
    """How many certificates the service recorded for DEV."""
    db = sqlite3.connect(str(world.svc.state / "rampart.db"), timeout=30)
    try:
        return db.execute("SELECT count(*) FROM device_certificates c JOIN devices d ON d.seq = c.device_seq "
                          "WHERE d.id = ?", (dev.id,)).fetchone()[0]
    finally:
        db.close()


def refused(r, reason):
    """R is the service's refusal for REASON (RP_E_VERIFY: 422), with no certificate in it."""
    assert r.status == 422, r
    assert r.json["error"]["code"] == "verification-failed", r
    assert f"attestation refused ({reason})" in r.json["error"]["message"], r
    assert b"BEGIN CERTIFICATE" not in r.body, r


def test_evidence_over_the_connections_exporter_value_is_accepted(world):
    dev = world.device("cb-ok")
    with BoundConnection(world) as conn:
        assert conn.protocol == "TLSv1.3"
        r = conn.request(bound_body(world, dev.evidence(conn.exporter_hex), dev.id, "ok"))
    assert r.status == 200, r
    for name in ("client_certificate", "device_api_certificate"):
        assert "BEGIN CERTIFICATE" in r.json[name], r
    assert r.json["ca_chain"], r
    assert issued(world, dev) == 2  # one client certificate, one device-API credential
    entries = attest_audit(world, dev)
    assert [e["result"] for e in entries] == ["success"], entries


def test_evidence_made_for_another_connection_is_refused(world):
    dev = world.device("cb-relay")
    with BoundConnection(world) as a, BoundConnection(world) as b:
        assert a.exporter_hex != b.exporter_hex  # each connection has its own value
        evidence_a = dev.evidence(a.exporter_hex)
        # A's evidence relayed on B: genuine, fresh, signed by the right device, but not B's value.
        r = b.request(bound_body(world, evidence_a, dev.id, "relay-b"), keep_alive=True)
        refused(r, "nonce_unknown")
        assert "another connection" in r.json["error"]["message"], r
        assert issued(world, dev) == 0
        # The refusal consumed B's value (as a refusal consumes a challenge's nonce): even B's own
        # evidence is now a replay on B.
        r = b.request(bound_body(world, dev.evidence(b.exporter_hex), dev.id, "own-b"))
        refused(r, "nonce_replayed")
        # A was never touched: the same evidence on its own connection is accepted.
        r = a.request(bound_body(world, evidence_a, dev.id, "own-a"))
        assert r.status == 200 and "BEGIN CERTIFICATE" in r.json["client_certificate"], r
    entries = attest_audit(world, dev)
    assert [e["result"] for e in entries] == ["refused", "refused", "success"], entries
    assert "nonce_unknown" in entries[0]["detail"] and "nonce_replayed" in entries[1]["detail"], entries


def test_second_evidence_on_one_connection_is_a_replay(world):
    dev = world.device("cb-replay")
    with BoundConnection(world) as conn:
        first = conn.request(bound_body(world, dev.evidence(conn.exporter_hex), dev.id, "first"), keep_alive=True)
        assert first.status == 200, first
        # Fresh evidence and fresh CSRs over the same exporter value, on the same (kept-alive) connection.
        again = conn.request(bound_body(world, dev.evidence(conn.exporter_hex), dev.id, "again"))
    refused(again, "nonce_replayed")
    assert "already sent on this TLS connection" in again.json["error"]["message"], again
    assert issued(world, dev) == 2  # only the first request's two certificates
    assert [e["result"] for e in attest_audit(world, dev)] == ["success", "refused"]


def test_nonce_and_binding_together_or_unknown_binding_are_malformed(world):
    dev = world.device("cb-malformed")
    ev = base64.b64encode(dev.evidence("ab" * 32)).decode()
    base = {"device_id": dev.id, "evidence": ev, "client_csr": openssl_csr(world.tmp, "mc"),
            "device_api_csr": openssl_csr(world.tmp, "ma")}
    # Exactly one source of freshness: a challenge's nonce (here a real one) or the connection.
    nonce = world.challenge(dev.id).json["nonce"]
    r = world.submit(None, None, None, raw={**base, "nonce": nonce, "nonce_binding": "tls-exporter"})
    assert r.status == 400, r
    assert "attestation refused (request_malformed)" in r.json["error"]["message"], r
    assert "not both" in r.json["error"]["message"], r
    # Only the TLS exporter is a binding; tls-unique (TLS 1.2's finished message) is not.
    for binding in ("tls-unique", "TLS-EXPORTER", ""):
        r = world.submit(None, None, None, raw={**base, "nonce_binding": binding})
        assert r.status == 400, (binding, r)
        assert "attestation refused (request_malformed)" in r.json["error"]["message"], (binding, r)
    # The challenge's nonce was not consumed by the malformed request: it still attests.
    r = world.submit(dev.id, nonce, dev.evidence(nonce))
    assert r.status == 200, r


def test_tls12_connection_cannot_bind_evidence(world):
    """rampartd accepts TLS 1.2 (test_service_tls_policy), but its exporter value only binds the
    handshake with the extended master secret, so binding needs TLS 1.3. The evidence sent here is
    over the TLS 1.2 connection's own RFC 5705 exporter value (which the service could compute):
    only the protocol version refuses it."""
    dev = world.device("cb-tls12")
    with BoundConnection(world, tls="1.2") as conn:
        assert conn.protocol == "TLSv1.2"
        r = conn.request(bound_body(world, dev.evidence(conn.exporter_hex), dev.id, "tls12"))
    assert r.status == 400, r
    assert r.json["error"]["code"] == "invalid", r
    assert "attestation refused (request_malformed)" in r.json["error"]["message"], r
    assert "needs TLS 1.3" in r.json["error"]["message"], r
    assert b"BEGIN CERTIFICATE" not in r.body
    assert issued(world, dev) == 0
    # Refused for a registered device: audited in its tenant like every other refusal.
    entries = attest_audit(world, dev)
    assert [e["result"] for e in entries] == ["refused"], entries
    assert "needs TLS 1.3" in entries[0]["detail"], entries


def test_another_devices_evidence_bound_to_the_connection_is_refused(world):
    dev = world.device("cb-victim")
    other = world.device("cb-other")
    with BoundConnection(world) as conn:
        # OTHER's genuine evidence over this connection's value, sent in DEV's name.
        r = conn.request(bound_body(world, other.evidence(conn.exporter_hex), dev.id, "mismatch"))
    refused(r, "device_mismatch")
    assert f"the evidence is for device {other.id}, not {dev.id}" in r.json["error"]["message"], r
    assert issued(world, dev) == 0 and issued(world, other) == 0
    entries = attest_audit(world, dev)
    assert [e["result"] for e in entries] == ["refused"] and "device_mismatch" in entries[0]["detail"], entries
