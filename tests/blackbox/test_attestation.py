"""Black-box tests of remote attestation with the soft root of trust: real rampartd, rampart-monitor,
rampart-agent and rampart CLI. A registered, claimed device with a known OS bundle gets a 24 h
client certificate and its device-API credential; every bad input of the attestation protocol is
refused with its precise reason (in the response, the audit log and the agent's log) and nothing is
issued."""
import base64
import hashlib
import hmac
import concurrent.futures
import json
import os
import pathlib
import shutil
import socket
import sqlite3
import struct
import subprocess
import tempfile
import time

import pytest

from attest_world import World, openssl_csr
from cli_service import Cli
from conftest import run
from schema_downgrade import LATEST_SCHEMA, undo_step_7

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the monitor tests need root (peer UIDs)")


def make_nonce(key, device_id, expires_at):
    """An attestation nonce as rampartd makes them (docs/protocol.md, "Attestation nonces")."""
    head = os.urandom(8) + struct.pack(">I", expires_at)
    svc = hmac.new(key, b"rampart attestation nonce v1\0" + head, hashlib.sha256).digest()[:10]
    dev = hmac.new(key, b"rampart attestation nonce v1 device\0" + head + device_id.encode(), hashlib.sha256).digest()[:10]
    return (head + svc + dev).hex()


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def cert_text(pem_path):
    return subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(pem_path)], capture_output=True,
                          text=True, check=True).stdout


def chain_file(world, dev):
    return dev.state / "agent" / "ca-chain.pem"


def verify(world, dev, cert):
    return subprocess.run(["openssl", "verify", "-CAfile", str(chain_file(world, dev)), "-purpose", "sslclient",
                           str(cert)], capture_output=True, text=True)


def test_agent_attests_and_gets_both_certificates(world):
    dev = world.device("good")
    out = world.agent_once(dev, check=True)
    assert "agent.attest.ok" in out.stderr or "attested as device" in out.stderr, out.stderr
    agent = dev.state / "agent"
    for name in ("client.pem", "client.key", "device-api.pem", "device-api.key", "ca-chain.pem",
                 "deviceauth/client.pem", "status.json"):
        assert (agent / name).exists(), name
    assert (agent / "client.key").stat().st_mode & 0o777 == 0o600
    assert (agent / "device-api.key").stat().st_mode & 0o777 == 0o600
    # Both chain to the tenant CA, as `openssl verify` sees it.
    for cert in ("client.pem", "device-api.pem"):
        v = verify(world, dev, agent / cert)
        assert v.returncode == 0, v.stdout + v.stderr
    text = cert_text(agent / "client.pem")
    assert f"urn:rampart:device:{dev.id}" in text and f"urn:rampart:tenant:{world.tenant}" in text
    # 24 h.
    start = subprocess.run(["openssl", "x509", "-noout", "-startdate", "-enddate", "-in", str(agent / "client.pem")],
                           capture_output=True, text=True, check=True).stdout
    assert "notBefore" in start and "notAfter" in start
    life = subprocess.run(["openssl", "x509", "-noout", "-checkend", str(23 * 3600), "-in",
                           str(agent / "client.pem")], capture_output=True)
    assert life.returncode == 0
    life = subprocess.run(["openssl", "x509", "-noout", "-checkend", str(25 * 3600), "-in",
                           str(agent / "client.pem")], capture_output=True)
    assert life.returncode != 0, "the client certificate outlives 24 h"
    # Only the device-API credential carries the device-API purpose.
    assert "2.25.239344030698435211120034577052294411421" in cert_text(agent / "device-api.pem")
    assert "2.25.239344030698435211120034577052294411421" not in text
    # The applications' bundle holds certificate chain and key.
    bundle = (agent / "deviceauth" / "client.pem").read_text()
    assert bundle.index("BEGIN CERTIFICATE") < bundle.index("PRIVATE KEY")
    status = json.loads((agent / "status.json").read_text())
    assert status["ok"] is True and status["device_id"] == dev.id
    # Audited in the tenant.
    entries = [e for e in world.audit() if e["action"] == "device.attest"]
    assert entries and entries[-1]["result"] == "success" and entries[-1]["target"] == dev.id

    # A second round gives fresh keys.
    old_key = (agent / "client.key").read_text()
    world.agent_once(dev, check=True)
    assert (agent / "client.key").read_text() != old_key


def refused(world, dev, reason):
    out = world.agent_once(dev, check=False)
    assert out.returncode != 0
    assert f"attestation refused ({reason})" in out.stderr, out.stderr
    assert not (dev.state / "agent" / "client.pem").exists()
    status = json.loads((dev.state / "agent" / "status.json").read_text())
    assert status["ok"] is False and reason in status["reason"]
    return out


def test_unregistered_unclaimed_and_revoked_devices_get_nothing(world, rampart):
    refused(world, world.device("stranger", register=False, claim=False), "device_unknown")
    refused(world, world.device("unclaimed", claim=False), "device_unclaimed")

    dev = world.device("revoked")
    world.agent_once(dev, check=True)
    # The operator revokes it with the CLI.
    cli = Cli(world.tmp / "cli.json")
    cli.run("login", "--service", world.url, "--ca-cert", world.ca_file, "--token-stdin", input=world.svc.token + "\n")
    cli.run("tenant", "select", "--tenant", world.tenant)
    shown = cli.json("device", "revoke", "--device", dev.id)
    assert shown["revoked"] is True and shown["revoked_at"]
    out = world.agent_once(dev, check=False)
    assert "attestation refused (device_revoked)" in out.stderr, out.stderr
    entries = [e for e in world.audit() if e["action"] == "device.attest" and e["target"] == dev.id]
    assert entries[-1]["result"] == "refused" and "device_revoked" in entries[-1]["detail"]
    # Revoking is tenant-scoped: another tenant cannot even see the device.
    r = world.svc.request("POST", f"/v1/tenants/{world.other_tenant}/devices/{dev.id}/revoke")
    assert r.status == 404, r


def test_unknown_os_bundle_and_unmeasured_os(world):
    dev = world.device("badOS", measure=False)
    dev.measure_os("ab" * 32)
    refused(world, dev, "os_bundle_unknown")
    # No OS measured at all: only the Development group may attest.
    refused(world, world.device("bare", measure=False), "os_bundle_unmeasured")
    dev = world.device("devboard", measure=False, group="Development")
    world.agent_once(dev, check=True)


def test_other_tenants_os_bundle_is_unknown(world):
    # Claimed by Fabrikam, which never uploaded the OS bundle Contoso knows.
    dev = world.device("fab", tenant=world.other_tenant)
    refused(world, dev, "os_bundle_unknown")
    entries = [e for e in world.audit(world.other_tenant) if e["action"] == "device.attest"]
    assert entries and entries[-1]["result"] == "refused"


def test_nonce_is_single_use_and_bound_to_the_device(world):
    dev = world.device("n1")
    other = world.device("n2")
    r = world.challenge(dev.id)
    assert r.status == 200, r
    nonce = r.json["nonce"]
    ev = dev.evidence(nonce)
    ok = world.submit(dev.id, nonce, ev)
    assert ok.status == 200, ok
    assert "BEGIN CERTIFICATE" in ok.json["client_certificate"]
    again = world.submit(dev.id, nonce, ev)
    assert again.status == 422 and "nonce_replayed" in again.json["error"]["message"], again
    # A nonce issued to another device.
    n2 = world.challenge(other.id).json["nonce"]
    r = world.submit(dev.id, n2, dev.evidence(n2))
    assert r.status == 422 and "nonce_wrong_device" in r.json["error"]["message"], r
    # An expired nonce: made with the service's own nonce key from its state directory (a test-only
    # path; waiting out the 5 minutes would make the suite slow). This also pins the documented
    # nonce layout (docs/protocol.md "Attestation nonces").
    key = (world.svc.state / "attestation-nonce.key").read_bytes()
    n3 = make_nonce(key, dev.id, int(time.time()) - 600)
    r = world.submit(dev.id, n3, dev.evidence(n3))
    assert r.status == 422 and "nonce_expired" in r.json["error"]["message"], r
    # The same layout with a fresh expiry is accepted: the expiry alone made the difference.
    n4 = make_nonce(key, dev.id, int(time.time()) + 120)
    r = world.submit(dev.id, n4, dev.evidence(n4))
    assert r.status == 200, r
    # A nonce further ahead than the service ever issues is refused even with valid tags.
    n6 = make_nonce(key, dev.id, int(time.time()) + 3600)
    r = world.submit(dev.id, n6, dev.evidence(n6))
    assert r.status == 422 and "later than any nonce this service issues" in r.json["error"]["message"], r
    # A nonce whose expiry was moved forward by its holder no longer carries the service's tag.
    n5 = bytearray.fromhex(world.challenge(dev.id).json["nonce"])
    n5[11] ^= 0x40
    r = world.submit(dev.id, n5.hex(), dev.evidence(n5.hex()))
    assert r.status == 422 and "nonce_unknown" in r.json["error"]["message"], r
    # A nonce the service never issued.
    r = world.submit(dev.id, "cd" * 32, dev.evidence("cd" * 32))
    assert r.status == 422 and "nonce_unknown" in r.json["error"]["message"], r


def test_used_nonces_survive_the_schema_upgrade(world):
    """Schema step 7 moves used nonces into a table keyed by (expiry, nonce): a nonce used before a
    rampartd upgrade must still count as used after it."""
    dev = world.device("u1")
    nonce = world.challenge(dev.id).json["nonce"]
    ev = dev.evidence(nonce)
    assert world.submit(dev.id, nonce, ev).status == 200
    assert world.svc.stop() == 0
    db = sqlite3.connect(world.svc.state / "rampart.db", isolation_level=None)
    try:
        db.execute("BEGIN")
        undo_step_7(db)
        db.execute("COMMIT")
        assert db.execute("SELECT count(*) FROM attestation_nonces WHERE nonce = ?", (nonce,)).fetchone()[0] == 1
    finally:
        db.close()
    world.svc.start()
    again = world.submit(dev.id, nonce, ev)
    assert again.status == 422 and "nonce_replayed" in again.json["error"]["message"], again
    fresh = world.challenge(dev.id).json["nonce"]
    assert world.submit(dev.id, fresh, dev.evidence(fresh)).status == 200
    db = sqlite3.connect(world.svc.state / "rampart.db")
    try:
        assert db.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == LATEST_SCHEMA
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'attestation_nonces'").fetchone()[0]
        assert "WITHOUT ROWID" in sql and "PRIMARY KEY (expires_at, nonce)" in sql, sql
        assert db.execute("SELECT count(*) FROM attestation_nonces").fetchone()[0] >= 2
    finally:
        db.close()


def test_simultaneous_submissions_of_one_nonce_issue_once(world):
    """Evidence is verified and the certificates signed before the nonce is consumed (outside the
    store's write lock); the consumption decides. Of eight simultaneous submissions of the same
    nonce exactly one gets certificates and only its issuance is recorded."""
    dev = world.device("c1")
    nonce = world.challenge(dev.id).json["nonce"]
    body = {"device_id": dev.id, "nonce": nonce, "evidence": base64.b64encode(dev.evidence(nonce)).decode(),
            "client_csr": openssl_csr(world.tmp, "sim-c"), "device_api_csr": openssl_csr(world.tmp, "sim-a")}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: world.submit(None, None, None, raw=body), range(8)))
    assert [r.status for r in results].count(200) == 1, results
    for r in results:
        assert r.status == 200 or (r.status == 422 and "nonce_replayed" in r.json["error"]["message"]), r
    db = sqlite3.connect(str(world.svc.state / "rampart.db"), timeout=30)
    n = db.execute("SELECT count(*) FROM device_certificates c JOIN devices d ON d.seq = c.device_seq "
                   "WHERE d.id = ?", (dev.id,)).fetchone()[0]
    db.close()
    assert n == 2  # one client certificate, one device-API credential
    entries = [e for e in world.audit() if e["action"] == "device.attest" and e["target"] == dev.id]
    assert [e["result"] for e in entries].count("success") == 1, entries
    assert [e["result"] for e in entries].count("refused") == 7, entries


def test_evidence_of_another_device_or_tampered_is_refused(world):
    dev = world.device("t1")
    other = world.device("t2")
    # Another device's genuine evidence over this device's nonce.
    nonce = world.challenge(dev.id).json["nonce"]
    r = world.submit(dev.id, nonce, other.evidence(nonce))
    assert r.status == 422 and "device_mismatch" in r.json["error"]["message"], r
    # A flipped bit inside the measurement log (the OS bundle's version string).
    nonce = world.challenge(dev.id).json["nonce"]
    ev = bytearray(dev.evidence(nonce))
    at = ev.find(b"os-bundle")
    assert at > 0
    ev[at + len(b"os-bundle") + 1] ^= 0x01
    r = world.submit(dev.id, nonce, bytes(ev))
    assert r.status == 422 and "attestation refused (evidence_signature)" in r.json["error"]["message"], r
    # Nothing issued in either case: two refusals audited, no certificate recorded.
    entries = [e for e in world.audit() if e["action"] == "device.attest" and e["target"] == dev.id]
    assert [e["result"] for e in entries] == ["refused", "refused"], entries
    db = sqlite3.connect(str(world.svc.state / "rampart.db"), timeout=30)
    n = db.execute("SELECT count(*) FROM device_certificates c JOIN devices d ON d.seq = c.device_seq "
                   "WHERE d.id = ?", (dev.id,)).fetchone()[0]
    db.close()
    assert n == 0


def test_malformed_and_oversized_requests(world):
    dev = world.device("m1")
    nonce = world.challenge(dev.id).json["nonce"]
    r = world.submit(dev.id, nonce, b"not evidence at all")
    assert r.status == 400 and "evidence_malformed" in r.json["error"]["message"], r
    nonce = world.challenge(dev.id).json["nonce"]
    r = world.submit(dev.id, nonce, b"\0" * 70000)
    assert r.status == 413 and "evidence_too_large" in r.json["error"]["message"], r
    # Evidence in the retired format 1 (a body signature beside the quote) is refused by name.
    nonce = world.challenge(dev.id).json["nonce"]
    ev = bytearray(dev.evidence(nonce))
    assert ev[:6] == b"RPEV\x00\x02"
    ev[5] = 1
    r = world.submit(dev.id, nonce, bytes(ev))
    assert r.status == 400 and "evidence_malformed" in r.json["error"]["message"], r
    assert "format version 1" in r.json["error"]["message"] and "update the device's OS" in r.json["error"]["message"], r
    for raw in ({}, {"device_id": dev.id}, {"device_id": "XYZ", "nonce": nonce, "evidence": "",
                                            "client_csr": "", "device_api_csr": ""},
                {"device_id": dev.id, "nonce": nonce, "evidence": "!!!", "client_csr": "", "device_api_csr": ""},
                {"device_id": dev.id, "nonce": nonce, "evidence": "AA==", "client_csr": "", "device_api_csr": "",
                 "admin": True}):
        r = world.submit(None, None, None, raw=raw)
        assert r.status == 400, (raw, r)
        assert "attestation refused" in r.json["error"]["message"], r
    r = world.svc.request("POST", "/v1/attestation/challenge", "{not json", token=None)
    assert r.status == 400, r
    r = world.challenge("00" * 31)
    assert r.status == 400, r
    # The service still serves.
    assert world.svc.request("GET", "/v1/health", token=None).status == 200


def test_csr_with_wrong_key_or_extensions_is_refused(world):
    dev = world.device("csr")
    cases = [
        (openssl_csr(world.tmp, "rsa", curve=False), None),
        (None, openssl_csr(world.tmp, "ca", extra_ext="basicConstraints=critical,CA:TRUE")),
        (openssl_csr(world.tmp, "san", extra_ext="subjectAltName=DNS:evil.example"), None),
    ]
    for client_csr, api_csr in cases:
        nonce = world.challenge(dev.id).json["nonce"]
        r = world.submit(dev.id, nonce, dev.evidence(nonce), client_csr=client_csr, api_csr=api_csr)
        assert r.status == 400 and "csr_invalid" in r.json["error"]["message"], r
    same = openssl_csr(world.tmp, "same")
    nonce = world.challenge(dev.id).json["nonce"]
    r = world.submit(dev.id, nonce, dev.evidence(nonce), client_csr=same, api_csr=same)
    assert r.status == 400 and "csr_invalid" in r.json["error"]["message"], r


def test_installed_images_must_be_known(world):
    dev = world.device("img")
    nonce = world.challenge(dev.id).json["nonce"]
    r = world.submit(dev.id, nonce, dev.evidence(nonce, images=["99999999-8888-4777-8666-555555555555=1.0"]))
    assert r.status == 422 and "image_unknown" in r.json["error"]["message"], r
    # The OS bundle image claimed as installed: accepted with its version string, refused with another.
    version = world.svc.request("GET", f"/v1/tenants/{world.tenant}/images/{world.os_image_id}").json["version_string"]
    world.agent_once(dev, "--image", f"{world.os_image_id}={version}", check=True)
    out = world.agent_once(dev, "--image", f"{world.os_image_id}={version}9", check=False)
    assert "attestation refused (image_unknown)" in out.stderr, out.stderr


def test_daemon_local_api_and_backoff(world, tmp_path):
    dev = world.device("daemon")
    proc, log = world.agent_daemon(dev)
    sock = dev.state / "agent.sock"
    for _ in range(200):  # bounded: the first attestation runs on start
        if sock.exists() and (dev.state / "agent" / "client.pem").exists():
            break
        time.sleep(0.05)
    assert (dev.state / "agent" / "client.pem").exists(), pathlib.Path(log.name).read_text()

    def ask(line, uid=None, path=None):
        def drop():
            if uid is not None:
                os.setgid(uid)
                os.setuid(uid)
        # A refused peer may get its reply and the hang-up before it has sent: the reply still reads.
        script = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n"
                  "try:\n s.sendall(sys.argv[2].encode())\nexcept (BrokenPipeError, ConnectionResetError):\n pass\n"
                  "print(s.makefile().readline())")
        p = subprocess.run(["/usr/bin/python3", "-c", script, str(path or sock), line], capture_output=True,
                           text=True, timeout=60, preexec_fn=drop)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    st = json.loads(ask("status\n"))
    assert st["ok"] is True and st["device_id"] == dev.id and st["next_attestation"] > time.time()
    old = (dev.state / "agent" / "client.pem").read_text()
    st = json.loads(ask("attest-now\n"))
    assert st["ok"] is True
    assert (dev.state / "agent" / "client.pem").read_text() != old
    # The same through the CLI on the device.
    old = (dev.state / "agent" / "client.pem").read_text()
    out = run("rampart", "agent", "attest", "--socket", sock, "--output", "json", check=True)
    assert json.loads(out.stdout)["ok"] is True
    assert (dev.state / "agent" / "client.pem").read_text() != old
    out = run("rampart", "agent", "status", "--socket", sock, "--output", "json", check=True)
    assert json.loads(out.stdout)["device_id"] == dev.id
    assert json.loads(ask("bogus\n"))["ok"] is False
    # Another user is refused by SO_PEERCRED. The socket is reached through a hard link in a
    # world-readable directory with its mode opened up, so only the agent's peer check stands in the way.
    public = pathlib.Path(tempfile.mkdtemp(prefix="rampart-agent-"))
    old_mode = sock.stat().st_mode & 0o7777
    try:
        os.chmod(public, 0o755)
        os.link(sock, public / "agent.sock")
        os.chmod(sock, 0o666)
        refused_reply = ask("status\n", uid=65534, path=public / "agent.sock")
    finally:
        os.chmod(sock, old_mode)
        shutil.rmtree(public, ignore_errors=True)
    assert json.loads(refused_reply) == {"ok": False, "error": "permission denied: this user may not use the agent"}
    text = pathlib.Path(log.name).read_text()
    assert "agent.local.refused" in text and "refused a local connection from uid 65534" in text, text
    assert json.loads(ask("status\n"))["ok"] is True
    # Revoked: attest-now fails with the precise reason, and the agent schedules a retry.
    r = world.svc.request("POST", f"/v1/tenants/{world.tenant}/devices/{dev.id}/revoke")
    assert r.status == 200, r
    st = json.loads(ask("attest-now\n"))
    assert st["ok"] is False and "device_revoked" in st["reason"] and st["consecutive_failures"] >= 1
    out = run("rampart", "agent", "attest", "--socket", sock, check=False)
    assert "device_revoked" in out.stdout + out.stderr
    assert st["next_attestation"] <= time.time() + 3600
    proc.terminate()
    assert proc.wait(timeout=20) == 0
    text = pathlib.Path(log.name).read_text()
    assert "agent.attest.requested" in text and "device_revoked" in text


def device_api(world, cert=None, key=None):
    args = ["curl", "-sS", "--cacert", str(world.ca_file), "-o", "-", "-w", "\n%{http_code}"]
    if cert:
        args += ["--cert", str(cert), "--key", str(key)]
    p = subprocess.run(args + [world.url + "/v1/device/self"], capture_output=True, text=True, timeout=60)
    body, _, code = p.stdout.rpartition("\n")
    return int(code or 0), body


def test_device_api_takes_only_the_device_api_certificate(world, tmp_path):
    dev = world.device("mtls")
    world.agent_once(dev, check=True)
    agent = dev.state / "agent"
    code, body = device_api(world, agent / "device-api.pem", agent / "device-api.key")
    assert code == 200, body
    me = json.loads(body)
    assert me["device_id"] == dev.id and me["tenant_id"] == world.tenant and me["revoked"] is False
    # The applications' client certificate is not a device-API credential.
    code, body = device_api(world, agent / "client.pem", agent / "client.key")
    assert code == 403 and "client certificate refused" in body, body
    # No certificate at all, or another tenant's. The other tenant's device-API credential is valid
    # for its purpose and chains to that tenant's CA: only the tenant binding refuses it.
    code, body = device_api(world)
    assert code == 403 and "mutual TLS" in body, body
    run("attest-ca-tool", "--ca-dir", world.svc.state / "ca" / world.other_tenant, "--tenant", world.other_tenant,
        "--device-id", dev.id, "--now", int(time.time()), "--key-out", tmp_path / "o.key", "--cert-out",
        tmp_path / "o.pem", "--device-api", check=True)
    code, body = device_api(world, tmp_path / "o.pem", tmp_path / "o.key")
    assert code == 403 and f"device {dev.id} is not claimed by tenant {world.other_tenant}" in body, body
    # Revoked: the still-valid credential stops working at once.
    r = world.svc.request("POST", f"/v1/tenants/{world.tenant}/devices/{dev.id}/revoke")
    assert r.status == 200, r
    code, body = device_api(world, agent / "device-api.pem", agent / "device-api.key")
    assert code == 403 and "revoked" in body, body


def test_refusals_anyone_can_cause_are_audited_within_a_rate_limit(world):
    """Challenges for a revoked device need no credential. The first ten refusals are audited, the
    rest are answered the same but only counted, and once the device's bucket refills the next
    audited refusal says how many were left out."""
    dev = world.device("noisy")
    r = world.svc.request("POST", f"/v1/tenants/{world.tenant}/devices/{dev.id}/revoke")
    assert r.status == 200, r
    for _ in range(13):
        r = world.challenge(dev.id)
        assert r.status == 403 and "device_revoked" in r.json["error"]["message"], r

    def refusals():
        return [e for e in world.audit() if e["action"] == "device.attest" and e["target"] == dev.id
                and e["result"] == "refused"]
    assert len(refusals()) == 10, refusals()
    # Another device's refusals have their own bucket.
    other = world.device("quiet")
    assert world.svc.request("POST", f"/v1/tenants/{world.tenant}/devices/{other.id}/revoke").status == 200
    assert world.challenge(other.id).status == 403
    assert len([e for e in world.audit() if e["target"] == other.id and e["result"] == "refused"]) == 1
    # One token comes back every 6 s (the service's clock, not the test's, decides).
    deadline = time.monotonic() + 30
    while len(refusals()) == 10 and time.monotonic() < deadline:
        time.sleep(1)
        assert world.challenge(dev.id).status == 403
    rows = refusals()
    assert len(rows) == 11, rows
    assert "earlier refusals for this device not audited" in rows[-1]["detail"], rows[-1]
    assert "device_revoked" in rows[-1]["detail"], rows[-1]


def test_tokenless_routes_take_a_smaller_body(world):
    """Attestation needs no token, so its bodies are capped at 384 KiB, not the 1 MiB of
    authenticated JSON routes: announced larger, the request is answered 413 before its body is
    read; the largest real evidence still fits (its own limit answers, not the server's)."""
    conn = world.svc.connection()
    conn.putrequest("POST", "/v1/attestation/evidence")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(384 * 1024 + 1))
    conn.endheaders()
    r = conn.getresponse()
    body = json.loads(r.read())
    assert r.status == 413 and body["error"]["code"] == "limit" and "393216 bytes" in body["error"]["message"], body
    conn.close()
    dev = world.device("big")
    nonce = world.challenge(dev.id).json["nonce"]
    r = world.submit(dev.id, nonce, b"\0" * (48 * 1024 + 1))
    assert r.status == 413 and "evidence_too_large" in r.json["error"]["message"], r
    # Authenticated JSON routes keep the larger limit.
    r = world.svc.request("POST", f"/v1/tenants/{world.tenant}/products", "x" * (512 * 1024))
    assert r.status == 400, r
