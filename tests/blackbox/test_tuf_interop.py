"""TUF interoperability: repositories made by rampart-tuf must be accepted by an independent TUF
client (tuf-js from npm, tests/interop/tuf-js), and refused by it when tampered with or expired.
Each test serves the repository over HTTP on 127.0.0.1 and stops the server afterwards."""
import datetime
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT, free_port, run

INTEROP = ROOT / "tests" / "interop" / "tuf-js"
NODE = shutil.which("node")
NPM = shutil.which("npm")


@pytest.fixture(scope="module")
def tuf_js():
    """The tuf-js checker, installing its pinned dependencies once when missing."""
    if not NODE or not NPM:
        pytest.skip("node and npm are needed for the tuf-js interoperability test")
    if not (INTEROP / "node_modules" / "tuf-js").is_dir():
        cmd = [NPM, "ci", "--no-audit", "--no-fund"] if (INTEROP / "package-lock.json").exists() else \
            [NPM, "install", "--no-audit", "--no-fund"]
        proc = subprocess.run(cmd, cwd=INTEROP, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"npm failed:\n{proc.stdout}\n{proc.stderr}"
    return INTEROP / "verify.mjs"


def make_key(path):
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                    str(path)], check=True, capture_output=True, timeout=60)
    return path


@pytest.fixture
def keys(tmp_path):
    d = tmp_path / "keys"
    d.mkdir()
    return {name: make_key(d / f"{name}.pem") for name in
            ("root", "targets", "snapshot", "timestamp", "root2", "timestamp2")}


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def repo(tmp_path, keys):
    """An image repository with one released target."""
    r = tmp_path / "repo"
    run("rampart-tuf", "init-repo", r, "--root-key", keys["root"], "--targets-key", keys["targets"],
        "--snapshot-key", keys["snapshot"], "--timestamp-key", keys["timestamp"], check=True)
    payload = tmp_path / "app.bin"
    payload.write_bytes(b"rampart image payload\n" * 100)
    run("rampart-tuf", "add-target", r, payload, "--targets-key", keys["targets"], "--custom",
        '{"image_id":"0f6b1f04-4b1b-4cbf-8d2c-3b0f3b0a8b11","version":3,"type":"app"}', check=True)
    run("rampart-tuf", "sign", r, "--snapshot-key", keys["snapshot"], "--timestamp-key", keys["timestamp"],
        check=True)
    return r


class Server:
    def __init__(self, directory):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
                                      "--directory", str(directory)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the HTTP server did not start")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def tuf_js_check(script, repo_dir, trusted_root, target, workdir):
    server = Server(repo_dir)
    try:
        base = f"http://127.0.0.1:{server.port}"
        return subprocess.run([NODE, str(script), f"{base}/metadata", f"{base}/targets", str(trusted_root), target,
                               str(workdir)], capture_output=True, text=True, timeout=120)
    finally:
        server.stop()


def test_tuf_js_accepts_image_repository(tuf_js, repo, tmp_path):
    trusted = repo / "metadata" / "1.root.json"
    out = run("rampart-tuf", "verify", repo, "--trusted-root", trusted, check=True).stdout
    assert "target app.bin length 2200" in out
    proc = tuf_js_check(tuf_js, repo, trusted, "app.bin", tmp_path / "client")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["length"] == 2200
    assert (tmp_path / "client" / "targets" / "app.bin").read_bytes() == (repo / "targets" / "app.bin").read_bytes()


def tamper_targets(repo):
    """Point app.bin at other bytes in targets.json without the targets key (signature kept)."""
    meta = repo / "metadata"
    doc = json.loads((meta / "targets.json").read_text())
    version = doc["signed"]["version"]
    evil = b"evil payload\n"
    entry = doc["signed"]["targets"]["app.bin"]
    entry["length"] = len(evil)
    digest = hashlib.sha256(evil).hexdigest()
    entry["hashes"] = {"sha256": digest}
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True)
    for name in ("targets.json", f"{version}.targets.json"):
        (meta / name).write_text(text)
    (repo / "targets" / f"{digest}.app.bin").write_bytes(evil)
    (repo / "targets" / "app.bin").write_bytes(evil)


def test_tuf_js_refuses_tampered_targets(tuf_js, repo, keys, tmp_path):
    trusted = repo / "metadata" / "1.root.json"
    tamper_targets(repo)
    # Without re-signing, the snapshot's hash of targets.json no longer matches (mix-and-match).
    proc = tuf_js_check(tuf_js, repo, trusted, "app.bin", tmp_path / "c1")
    assert proc.returncode != 0 and "refused" in proc.stderr, proc.stdout
    run("rampart-tuf", "verify", repo, "--trusted-root", trusted, check=False)
    # With the online snapshot and timestamp keys (a compromised service), the snapshot matches
    # again, but the targets signature does not: still refused by both clients.
    run("rampart-tuf", "sign", repo, "--snapshot-key", keys["snapshot"], "--timestamp-key", keys["timestamp"],
        check=True)
    proc = tuf_js_check(tuf_js, repo, trusted, "app.bin", tmp_path / "c2")
    assert proc.returncode != 0 and "refused" in proc.stderr, proc.stdout
    err = run("rampart-tuf", "verify", repo, "--trusted-root", trusted, check=False).stderr
    assert "targets" in err and "signatures" in err


def test_tuf_js_refuses_expired_timestamp(tuf_js, repo, keys, tmp_path):
    trusted = repo / "metadata" / "1.root.json"
    three_days_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=3)
    run("rampart-tuf", "sign", repo, "--snapshot-key", keys["snapshot"], "--timestamp-key", keys["timestamp"],
        "--expires-days", "30", check=True)
    # A timestamp signed three days ago with the default one-day lifetime: a frozen repository.
    run("rampart-tuf", "sign", repo, "--snapshot-key", keys["snapshot"], "--timestamp-key", keys["timestamp"],
        "--now", iso(three_days_ago), "--expires-days", "1", check=True)
    proc = tuf_js_check(tuf_js, repo, trusted, "app.bin", tmp_path / "client")
    assert proc.returncode != 0 and "expired" in proc.stderr.lower(), proc.stdout + proc.stderr
    err = run("rampart-tuf", "verify", repo, "--trusted-root", trusted, check=False).stderr
    assert "expired" in err


def test_tuf_js_follows_root_rotation(tuf_js, repo, keys, tmp_path):
    trusted = repo / "metadata" / "1.root.json"
    run("rampart-tuf", "rotate-root", repo, "--old-root-key", keys["root"], "--root-key", keys["root2"],
        "--timestamp-key", keys["timestamp2"], check=True)
    run("rampart-tuf", "sign", repo, "--snapshot-key", keys["snapshot"], "--timestamp-key", keys["timestamp2"],
        check=True)
    assert (repo / "metadata" / "2.root.json").exists()
    proc = tuf_js_check(tuf_js, repo, trusted, "app.bin", tmp_path / "client")
    assert proc.returncode == 0, proc.stderr
    run("rampart-tuf", "verify", repo, "--trusted-root", trusted, check=True)
    # The old timestamp key alone no longer counts.
    run("rampart-tuf", "sign", repo, "--snapshot-key", keys["snapshot"], "--timestamp-key", keys["timestamp"],
        check=True)
    proc = tuf_js_check(tuf_js, repo, trusted, "app.bin", tmp_path / "client2")
    assert proc.returncode != 0
    run("rampart-tuf", "verify", repo, "--trusted-root", trusted, check=False)


def test_director_must_agree_with_image_repository(repo, keys, tmp_path):
    """Uptane split through the CLI: the director alone cannot pick an unreleased image."""
    director = tmp_path / "director"
    dkeys = {name: make_key(tmp_path / "keys" / f"director-{name}.pem") for name in
             ("root", "targets", "snapshot", "timestamp")}
    run("rampart-tuf", "init-repo", director, "--root-key", dkeys["root"], "--targets-key", dkeys["targets"],
        "--snapshot-key", dkeys["snapshot"], "--timestamp-key", dkeys["timestamp"], check=True)
    released = tmp_path / "app.bin"
    run("rampart-tuf", "add-target", director, released, "--targets-key", dkeys["targets"], "--custom",
        '{"version":3}', check=True)
    run("rampart-tuf", "sign", director, "--snapshot-key", dkeys["snapshot"], "--timestamp-key",
        dkeys["timestamp"], check=True)
    args = ["verify", repo, "--trusted-root", repo / "metadata" / "1.root.json", "--director", director,
            "--director-root", director / "metadata" / "1.root.json"]
    out = run("rampart-tuf", *args, check=True).stdout
    assert "target app.bin length 2200" in out
    # With every director key, an attacker lists bytes the tenant never released.
    evil = tmp_path / "evil" / "app.bin"
    evil.parent.mkdir()
    evil.write_bytes(b"malware")
    run("rampart-tuf", "add-target", director, evil, "--targets-key", dkeys["targets"], check=True)
    run("rampart-tuf", "sign", director, "--snapshot-key", dkeys["snapshot"], "--timestamp-key",
        dkeys["timestamp"], check=True)
    proc = run("rampart-tuf", *args, check=False)
    assert "director asks for target app.bin with length 7 but the release is 2200 bytes" in proc.stderr
    # Or claims another version for the released bytes.
    run("rampart-tuf", "add-target", director, released, "--targets-key", dkeys["targets"], "--custom",
        '{"version":4}', check=True)
    run("rampart-tuf", "sign", director, "--snapshot-key", dkeys["snapshot"], "--timestamp-key",
        dkeys["timestamp"], check=True)
    proc = run("rampart-tuf", *args, check=False)
    assert "version for target app.bin is not what was released" in proc.stderr


def test_targets_rollback_refused_after_online_key_rotation(repo, keys, tmp_path):
    """Rotating the snapshot and timestamp keys makes the client forget the old snapshot; the
    targets version it trusts must still hold, or the old online keys' successor could serve an
    older, validly signed targets list."""
    trusted = repo / "metadata" / "1.root.json"
    state = tmp_path / "state"
    second = tmp_path / "second.bin"
    second.write_bytes(b"second image\n")
    run("rampart-tuf", "add-target", repo, second, "--targets-key", keys["targets"], check=True)
    run("rampart-tuf", "sign", repo, "--snapshot-key", keys["snapshot"], "--timestamp-key", keys["timestamp"],
        check=True)
    run("rampart-tuf", "verify", repo, "--trusted-root", trusted, "--state", state, check=True)
    targets = json.loads((repo / "metadata" / "targets.json").read_text())
    assert targets["signed"]["version"] == 3
    # Root 2 with new online keys; the repository serves the older targets 2 (still validly signed).
    snapshot2 = make_key(tmp_path / "keys" / "snapshot2.pem")
    run("rampart-tuf", "rotate-root", repo, "--old-root-key", keys["root"], "--snapshot-key", snapshot2,
        "--timestamp-key", keys["timestamp2"], check=True)
    shutil.copyfile(repo / "metadata" / "2.targets.json", repo / "metadata" / "targets.json")
    run("rampart-tuf", "sign", repo, "--snapshot-key", snapshot2, "--timestamp-key", keys["timestamp2"],
        check=True)
    proc = run("rampart-tuf", "verify", repo, "--trusted-root", trusted, "--state", state, "--target", "second.bin",
               check=False)
    assert proc.returncode != 0
    assert "targets version 2 is older than the trusted 3 (rollback attack)" in proc.stderr
    # A device that never saw targets 3 takes the repository as it is: the refusal is the rollback.
    out = run("rampart-tuf", "verify", repo, "--trusted-root", trusted, "--target", "app.bin", check=True).stdout
    assert "target app.bin" in out


def canonical_json(o):
    """TUF's canonical JSON (only quote and backslash escaped), enough for key objects."""
    if isinstance(o, dict):
        return "{" + ",".join(canonical_json(k) + ":" + canonical_json(o[k]) for k in sorted(o)) + "}"
    if isinstance(o, str):
        return '"' + o.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(type(o))


@pytest.mark.parametrize("spelling,message", [
    (lambda k: k["keyval"].__setitem__("public", "junk\n" + k["keyval"]["public"]),
     "is not the canonical PEM of a P-256 public key"),
    (lambda k: k["keyval"].__setitem__("note", "same key"), "are the same public key"),
])
def test_root_listing_one_key_twice_refused_by_both_backends(repo, tmp_path, spelling, message):
    """One targets key listed under a second key ID (threshold 2) would let one signature count
    twice; rampart-tuf (OpenSSL) and rampart-update (mbedTLS) both refuse such a root."""
    root = json.loads((repo / "metadata" / "1.root.json").read_text())
    keys, targets = root["signed"]["keys"], root["signed"]["roles"]["targets"]
    key = json.loads(json.dumps(keys[targets["keyids"][0]]))
    assert hashlib.sha256(canonical_json(key).encode()).hexdigest() == targets["keyids"][0]
    spelling(key)
    second = hashlib.sha256(canonical_json(key).encode()).hexdigest()
    keys[second] = key
    targets["keyids"].append(second)
    targets["threshold"] = 2
    bad = tmp_path / "bad-root.json"
    bad.write_text(json.dumps(root))
    proc = run("rampart-tuf", "verify", repo, "--trusted-root", bad, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    good = repo / "metadata" / "1.root.json"
    proc = run("rampart-update", "init", "--state", tmp_path / "state", "--image-root", bad, "--director-root", good,
               check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    run("rampart-update", "init", "--state", tmp_path / "state", "--image-root", good, "--director-root", good,
        check=True)
