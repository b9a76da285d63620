"""Black-box tests of when rampart-agent attests again after a round whose certificate does not fit
the device's clock. The service dates certificates by its own clock and cuts them short at the end
of their CA generation; a device whose clock is ahead (an app with SystemTime may set any time)
sees them expired or about to expire. The real agent, its worker and security monitor run against
a small HTTPS service on loopback that speaks the attestation protocol (docs/protocol.md) but
issues certificates with the dates a test chooses, and counts the rounds. No clock is faked: the
dates are chosen relative to the host's clock.

Assertions are on counts within a window, with generous bounds: before the agent had a floor, such
a certificate made it attest again at once, hundreds of rounds in the same window."""
import datetime
import http.server
import ipaddress
import json
import os
import pathlib
import socket
import ssl
import subprocess
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from attest_world import Device
from conftest import find_binary

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the monitor tests need root (peer UIDs)")

WINDOW_S = 20  # observed after the first round; the backoff allows about four rounds in it


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, issuer, pubkey, signer, not_before, not_after, ca=False, san=None):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(pubkey)
         .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(signer, hashes.SHA256())


def _utc(t):
    return datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc)


class FakeService:
    """HTTPS on 127.0.0.1: certificates for the agent's CSRs (evidence is not checked) valid over
    validity(now) -> (not_before, not_after), seconds since the epoch."""

    def __init__(self, tmp, validity):
        self.tmp = pathlib.Path(tmp)
        self.validity = validity
        self.rounds = 0
        self.issued = []  # not_after of every client certificate issued
        self.requests = []  # (path, Transfer-Encoding, nonce_binding, has a nonce) of every POST
        self.lock = threading.Lock()
        now = time.time()
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = _cert(_name("Fake Rampart Service CA"), _name("Fake Rampart Service CA"), self.ca_key.public_key(),
                        self.ca_key, _utc(now - 86400 * 3), _utc(now + 86400 * 30), ca=True)
        tls_key = ec.generate_private_key(ec.SECP256R1())
        tls = _cert(_name("127.0.0.1"), self.ca.subject, tls_key.public_key(), self.ca_key, _utc(now - 86400 * 3),
                    _utc(now + 86400 * 30), san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        self.ca_file = self.tmp / "fake-service-ca.pem"
        self.ca_file.write_bytes(self.ca.public_bytes(serialization.Encoding.PEM))
        chain = self.tmp / "fake-service-tls.pem"
        chain.write_bytes(tls.public_bytes(serialization.Encoding.PEM) + tls_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(chain)
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def body(self):
                """Content-Length, or chunked (the agent's evidence request: its body is made once
                the connection is up); at most 1 MiB, at most 1,000 chunks."""
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return self.rfile.read(min(int(self.headers.get("Content-Length", "0")), 1 << 20))
                data = b""
                for _ in range(1000):
                    size = int(self.rfile.readline(64).split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline(64)
                        return data
                    data += self.rfile.read(min(size, (1 << 20) - len(data)))
                    self.rfile.readline(64)
                raise ValueError("too many chunks")

            def do_POST(self):
                body = json.loads(self.body() or b"{}")
                with service.lock:
                    service.requests.append((self.path, self.headers.get("Transfer-Encoding"),
                                             body.get("nonce_binding"), "nonce" in body))
                if self.path == "/v1/attestation/challenge":
                    return self.reply(200, {"nonce": os.urandom(32).hex()})
                if self.path == "/v1/attestation/evidence":
                    return self.reply(200, service.issue(body))
                return self.reply(404, {"error": {"code": "not_found", "message": self.path}})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def issue(self, body):
        nb, na = self.validity(time.time())
        out = {}
        for field, cert_field in (("client_csr", "client_certificate"), ("device_api_csr", "device_api_certificate")):
            csr = x509.load_pem_x509_csr(body[field].encode())
            c = _cert(_name(body["device_id"]), self.ca.subject, csr.public_key(), self.ca_key, _utc(nb), _utc(na))
            out[cert_field] = c.public_bytes(serialization.Encoding.PEM).decode()
        out["ca_chain"] = self.ca.public_bytes(serialization.Encoding.PEM).decode()
        with self.lock:
            self.rounds += 1
            self.issued.append((int(nb), int(na), out["client_certificate"]))
        return out

    def count(self):
        with self.lock:
            return self.rounds

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Agent:
    def __init__(self, tmp, dev, service):
        self.dev = dev
        self.log = open(pathlib.Path(tmp) / f"agent-{dev.id[:8]}.log", "w+")
        self.proc = subprocess.Popen([str(find_binary("rampart-agent")), "--state", str(dev.state),
                                      "--monitor-socket", str(dev.sock), "--service", service.url, "--service-ca",
                                      str(service.ca_file), "--no-update"], stdout=self.log, stderr=subprocess.STDOUT)
        self.sock = dev.state / "agent.sock"

    def status(self):
        for _ in range(100):  # bounded: the socket appears when the agent starts
            if self.sock.exists():
                break
            time.sleep(0.1)
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(120)  # the agent answers between rounds
            s.connect(str(self.sock))
            s.sendall(b"status\n")
            return json.loads(s.makefile().readline())

    def text(self):
        return pathlib.Path(self.log.name).read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            rc = self.proc.wait(timeout=30)
            assert rc == 0, self.text()
        self.log.close()


@pytest.fixture
def setup(tmp_path):
    made = []

    def make(validity):
        svc = FakeService(tmp_path, validity)
        dev = Device(tmp_path, f"sched{len(made)}")
        agent = Agent(tmp_path, dev, svc)
        made.append((svc, dev, agent))
        return svc, dev, agent
    yield make
    for svc, dev, agent in made:
        agent.stop()
        dev.stop()
        svc.close()


def wait_first_round(svc, agent):
    for _ in range(600):  # bounded: up to a minute for the first round (slower under ASan)
        if svc.count() >= 1 and agent.sock.exists():
            st = agent.status()
            if st["ok"] or st["consecutive_failures"] >= 1:
                return st
        assert agent.proc.poll() is None, agent.text()
        time.sleep(0.1)
    raise AssertionError("no attestation round within a minute:\n" + agent.text())


def observe(svc, agent):
    start = svc.count()
    for _ in range(WINDOW_S * 10):
        assert agent.proc.poll() is None, agent.text()
        time.sleep(0.1)
    return svc.count() - start


@pytest.mark.parametrize("validity, case", [
    (lambda now: (now - 2 * 86400, now - 86400), "before"),   # the device's clock is over a day ahead
    (lambda now: (now - 300, now + 40), "just after"),          # cut short at the CA generation's end
])
def test_certificate_lapsing_by_the_device_clock_backs_off(setup, validity, case):
    svc, dev, agent = setup(validity)
    st = wait_first_round(svc, agent)
    assert st["ok"] is False, st
    assert f"{case} this device's clock" in st["reason"] and "check the device clock" in st["reason"], st
    n = observe(svc, agent)
    # The backoff (5 s doubling, jittered) allows about four rounds in the window; attesting again at
    # once would be hundreds.
    assert n <= 6, (n, agent.text())
    # A retry is scheduled ahead. The status gives whole seconds and may be read just as a retry
    # falls due (or while it runs), so look again for a moment (bounded) before judging.
    for _ in range(50):
        st = agent.status()
        if st["next_attestation"] > time.time():
            break
        time.sleep(0.1)
    assert st["ok"] is False and st["consecutive_failures"] >= 2, st
    assert st["next_attestation"] > time.time(), st
    # The issued certificates stay installed, and the status reports their dates.
    installed = (dev.state / "agent" / "client.pem").read_text()
    recent = svc.issued[-2:]  # a retry may have begun since the status was read
    assert any(installed.startswith(pem) for _, _, pem in recent), "the last issued certificate is not installed"
    assert st["not_after"] in [na for _, na, _ in recent], st
    text = agent.text()
    assert "check the device clock" in text and "agent.attest.retry" in text, text


def test_short_certificate_is_renewed_no_sooner_than_a_minute(setup):
    # 90 s left: usable, and its renewal time ("at once", for so short a lifetime) is floored.
    svc, dev, agent = setup(lambda now: (now - 5, now + 90))
    st = wait_first_round(svc, agent)
    assert st["ok"] is True, st
    first = svc.count()
    assert st["next_attestation"] >= st["not_after"] - 90 + 60 - 5, st  # a minute after the round, at least
    n = observe(svc, agent)
    assert n <= 1 and first <= 2, (first, n, agent.text())
    assert agent.status()["ok"] is True


def test_certificate_from_the_future_warns_but_counts(setup):
    # The device's clock is hours behind the service's: the certificate is kept and used, with a warning.
    svc, dev, agent = setup(lambda now: (now + 5 * 3600, now + 29 * 3600))
    st = wait_first_round(svc, agent)
    assert st["ok"] is True and st["consecutive_failures"] == 0, st
    assert st["next_attestation"] > time.time() + 3600, st
    for _ in range(100):  # bounded: the worker's log line may trail its result
        if "agent.attest.clock" in agent.text():
            break
        time.sleep(0.1)
    text = agent.text()
    assert "agent.attest.clock" in text and "valid only from" in text, text
    assert svc.count() == 1
    # One request per round: evidence bound to its connection (no challenge, no nonce of the
    # service's), its body sent chunked since it is made once the connection is up.
    assert svc.requests == [("/v1/attestation/evidence", "chunked", "tls-exporter", False)], svc.requests
