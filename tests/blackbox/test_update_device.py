"""The device's update client end to end: rampart-update against real TUF repositories (image
repository + director) served over HTTP, installing into the real A/B slots of rampart-boot. Each
attack must leave the device running what it had."""
import json
import re
import resource

import pytest

from boot_device import Device
from conftest import run
from update_repos import Repos, RepoServer, make_key, pack_trust_update


def device_with_repos(tmp_path, handler=None):
    """A device running version 1, both update repositories and their server (HANDLER: another
    request handler class for the server), with rampart-update initialised against them."""
    dev = Device(tmp_path / "dev")
    dev.install(dev.bundle("1"))
    dev.boot()
    assert dev.running_version() == 1
    repos = Repos(tmp_path / "repos")
    srv = RepoServer(repos)
    if handler:
        srv.httpd.RequestHandlerClass = handler
    run("rampart-update", "init", "--state", dev.state, "--image-root", repos.image.root(), "--director-root",
        repos.director.root(), check=True)
    return dev, repos, srv


@pytest.fixture
def env(tmp_path):
    dev, repos, srv = device_with_repos(tmp_path)
    yield dev, repos, srv
    srv.stop()


def check(dev, srv, *extra, ok=None, env=None, preexec=None):
    args = ["check", "--state", dev.state, "--image-repo", f"{srv.url}/image", "--director", f"{srv.url}/director",
            "--blobs", f"{srv.url}/blobs", "--rot", "soft", "--output", "json", *extra]
    if preexec:
        import subprocess
        from conftest import find_binary
        proc = subprocess.run([str(find_binary("rampart-update")), *map(str, args)], capture_output=True, text=True,
                              timeout=120, preexec_fn=preexec)
    else:
        proc = run("rampart-update", *args, env=env)
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
    if ok is True:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    elif ok is False:
        assert proc.returncode != 0, proc.stdout + proc.stderr
    return proc


def status(dev):
    return json.loads(run("rampart-update", "status", "--state", dev.state, check=True).stdout)


def image_state(dev, name):
    return status(dev)["images"][name]


def slot_versions(dev):
    return dev.status()


def test_os_update_installs_commits_and_then_moves_nothing(env):
    dev, repos, srv = env
    name, _ = repos.release(dev.bundle("2"))
    proc = check(dev, srv, ok=True)
    rep = json.loads(proc.stdout)
    assert rep["installed"] == 1 and rep["os_installed"] is True
    assert image_state(dev, name)["state"] == "installed"
    dev.boot()
    assert dev.running_version() == 2
    # The next check learns the commit and, nothing having changed, downloads no blob.
    srv.requests.clear()
    rep = json.loads(check(dev, srv, ok=True).stdout)
    assert rep["installed"] == 0 and rep["skipped"] == 1
    assert not [p for p, _ in srv.requests if p.startswith("/blobs/")]
    assert image_state(dev, name)["state"] == "committed"


def test_broken_bundle_is_reported_rolled_back(env):
    dev, repos, srv = env
    name, _ = repos.release(dev.bundle("2", broken=True))
    check(dev, srv, ok=True)
    dev.boot(check=None)
    dev.boot(check=None)
    assert dev.running_version() == 1
    check(dev, srv)
    st = image_state(dev, name)
    assert st["state"] == "rolled-back", st
    assert st.get("reason")


def test_arbitrary_package_wrong_bytes_refused(env):
    dev, repos, srv = env
    name, _ = repos.release(dev.bundle("2"))
    srv.blob_mode = "wrong"
    proc = check(dev, srv, ok=False)
    assert "does not match the sha-256" in proc.stderr.lower(), proc.stderr
    st = image_state(dev, name)
    assert st["state"] == "failed" and st["reason"]
    assert not list((dev.state / "update" / "downloads").iterdir())  # wrong bytes are not kept
    dev.boot()
    assert dev.running_version() == 1
    srv.blob_mode = None
    check(dev, srv, ok=True)  # the next check with honest bytes succeeds
    assert image_state(dev, name)["state"] == "installed"


def test_endless_data_stopped_at_signed_length(env):
    dev, repos, srv = env
    repos.release(dev.bundle("2"))
    srv.blob_mode = "endless"
    proc = check(dev, srv, ok=False)
    assert "more than" in proc.stderr, proc.stderr
    dev.boot()
    assert dev.running_version() == 1


def test_slow_retrieval_dropped(env):
    dev, repos, srv = env
    repos.release(dev.bundle("2"))
    srv.blob_mode = "slow"
    proc = check(dev, srv, "--low-speed-limit", "1000", "--low-speed-time", "2", ok=False)
    assert "too slow" in proc.stderr, proc.stderr
    # Nothing was installed: slot a stays active, nothing is pending, slot b holds no bundle.
    st = dev.status()
    assert st["active"] == "a" and st["pending"] is False and st["slots"]["b"]["error"] == "empty", st
    assert not dev.slot_file("b").exists()
    dev.boot()
    assert dev.running_version() == 1


def test_interrupted_download_resumes_with_range(env):
    dev, repos, srv = env
    name, digest = repos.release(dev.bundle("2", extra_bytes=200000))
    srv.blob_mode = "cut"
    check(dev, srv, ok=False)
    part = dev.state / "update" / "downloads" / f"{digest}.part"
    assert part.exists() and part.stat().st_size > 0
    assert image_state(dev, name)["state"] != "installed"  # a partial file never counts
    have = part.stat().st_size
    srv.requests.clear()
    check(dev, srv, ok=True)
    ranges = [r for p, r in srv.requests if p == f"/blobs/{digest}"]
    assert ranges == [f"bytes={have}-"], ranges
    assert image_state(dev, name)["state"] == "installed"


def test_expired_timestamp_freeze_refused(env):
    dev, repos, srv = env
    repos.release(dev.bundle("2"))
    proc = check(dev, srv, "--now=2099-01-01T00:00:00Z", ok=False)
    assert "expire" in proc.stderr.lower(), proc.stderr
    assert status(dev)["images"] == {}


def test_older_metadata_version_refused(env):
    dev, repos, srv = env
    old_ts = (repos.image.metadata / "timestamp.json").read_bytes()
    repos.release(dev.bundle("2"))
    check(dev, srv, ok=True)
    srv.overrides[("image", "timestamp.json")] = old_ts  # replay the older, still valid timestamp
    proc = check(dev, srv, ok=False)
    assert "rollback" in proc.stderr.lower() or "older" in proc.stderr.lower(), proc.stderr


def test_mix_and_match_refused(env):
    dev, repos, srv = env
    name1, _ = repos.release(dev.bundle("2"))
    snap = json.loads((repos.image.metadata / "snapshot.json").read_text())
    tv = snap["signed"]["meta"]["targets.json"]["version"]
    old_targets = (repos.image.metadata / f"{tv}.targets.json").read_bytes()
    repos.release(dev.bundle("3"))
    # Serve the new snapshot but the previous targets under the new targets' name.
    snap = json.loads((repos.image.metadata / "snapshot.json").read_text())
    tv2 = snap["signed"]["meta"]["targets.json"]["version"]
    srv.overrides[("image", f"{tv2}.targets.json")] = old_targets
    proc = check(dev, srv, ok=False)
    assert re.search(r"updating targets: \d+\.targets\.json is \d+ bytes, but \d+ were signed for", proc.stderr), \
        proc.stderr
    # The same length but other bytes (one hex digit of its signature changed): the hash refuses it.
    new_targets = (repos.image.metadata / f"{tv2}.targets.json").read_bytes()
    sig = json.loads(new_targets)["signatures"][0]["sig"].encode()
    forged = sig[:-1] + (b"0" if sig[-1:] != b"0" else b"1")
    assert new_targets.count(sig) == 1
    srv.overrides[("image", f"{tv2}.targets.json")] = new_targets.replace(sig, forged)
    proc = check(dev, srv, ok=False)
    assert re.search(r"\d+\.targets\.json does not match the SHA-256 signed for it \(mix-and-match\?\)",
                     proc.stderr), proc.stderr
    dev.boot()
    assert dev.running_version() == 1


def test_timestamp_by_unknown_key_below_threshold(env, tmp_path):
    dev, repos, srv = env
    repos.release(dev.bundle("2"))
    repos.image.sign(timestamp_key=make_key(tmp_path / "rogue.pem"))
    proc = check(dev, srv, ok=False)
    assert "signature" in proc.stderr.lower() or "threshold" in proc.stderr.lower(), proc.stderr
    assert status(dev)["images"] == {}


def test_compromised_director_key_alone_cannot_install(env):
    dev, repos, srv = env
    # The attacker holds every director key and targets a bundle the image repository never released
    # (signed by a key the device trusts, which is the worst case).
    name, _ = repos.release(dev.bundle("5"), image=False)
    proc = check(dev, srv, ok=False)
    assert name in proc.stderr or "image repository" in proc.stderr, proc.stderr
    assert status(dev)["images"] == {}
    dev.boot()
    assert dev.running_version() == 1


def test_compromised_image_online_keys_alone_cannot_install(env):
    dev, repos, srv = env
    name, _ = repos.release(dev.bundle("2"))
    # With only the snapshot and timestamp keys, the attacker rewrites the targets to another bundle
    # and re-signs snapshot and timestamp; the targets signature (offline key) no longer matches.
    evil = dev.bundle("6")
    snap = json.loads((repos.image.metadata / "snapshot.json").read_text())
    tv = snap["signed"]["meta"]["targets.json"]["version"]
    tpath = repos.image.metadata / f"{tv}.targets.json"
    doc = json.loads(tpath.read_text())
    import hashlib
    data = evil.read_bytes()
    doc["signed"]["targets"][name]["hashes"]["sha256"] = hashlib.sha256(data).hexdigest()
    doc["signed"]["targets"][name]["length"] = len(data)
    for p in (tpath, repos.image.metadata / "targets.json"):
        p.write_text(json.dumps(doc, separators=(",", ":"), sort_keys=True))
    repos.add_blob(evil)
    repos.image.sign()
    proc = check(dev, srv, ok=False)
    assert "signature" in proc.stderr.lower() or "threshold" in proc.stderr.lower(), proc.stderr
    dev.boot()
    assert dev.running_version() == 1


def test_older_bundle_refused_and_not_downloaded_again(env):
    dev, repos, srv = env
    repos.release(dev.bundle("2"))
    check(dev, srv, ok=True)
    dev.boot()
    assert dev.running_version() == 2
    name, digest = repos.release(dev.bundle("1", name="os-1-again.rpkg"))
    proc = check(dev, srv, ok=False)
    assert "version" in proc.stderr, proc.stderr
    st = image_state(dev, name)
    assert st["state"] == "failed"
    srv.requests.clear()
    check(dev, srv)
    assert not [p for p, _ in srv.requests if p == f"/blobs/{digest}"]
    dev.boot()
    assert dev.running_version() == 2


def test_disk_full_during_download(env):
    dev, repos, srv = env
    name, digest = repos.release(dev.bundle("2", extra_bytes=300000))

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))

    proc = check(dev, srv, ok=False, preexec=small_disk)
    assert "too large" in proc.stderr.lower() or "space" in proc.stderr.lower(), proc.stderr
    assert not (dev.state / "update" / "downloads" / f"{digest}.part").exists()
    dev.boot()
    assert dev.running_version() == 1
    check(dev, srv, ok=True)
    assert image_state(dev, name)["state"] == "installed"


def test_trust_update_installed_before_os_bundle(env, tmp_path):
    dev, repos, srv = env
    new_key, new_pub = tmp_path / "new.pem", tmp_path / "new.pub"
    run("rampart", "image-package", "keygen", "--private-key", new_key, "--public-key", new_pub, check=True)
    trust_pkg = pack_trust_update(tmp_path, dev.key, 2, {"release.pub": dev.pub, "release-2027.pub": new_pub})
    # The OS bundle is signed only by the new key: it verifies only if the trust update went first.
    os_pkg = dev.bundle("2", key=new_key, name="os-2-newkey.rpkg")
    repos.release(os_pkg)
    repos.release(trust_pkg)
    rep = json.loads(check(dev, srv, ok=True).stdout)
    assert rep["installed"] == 2
    assert sorted(p.name for p in (dev.state / "trust").iterdir()) == ["release-2027.pub", "release.pub"]
    dev.boot()
    assert dev.running_version() == 2
    assert (dev.state / "update" / "trust-version").read_text().strip() == "2"
    # An older trust update (one that could bring back a revoked key) is refused for good, though it
    # is otherwise acceptable: it keeps the key of the running OS bundle.
    old_key, old_pub = tmp_path / "revoked.pem", tmp_path / "revoked.pub"
    run("rampart", "image-package", "keygen", "--private-key", old_key, "--public-key", old_pub, check=True)
    trust_1 = pack_trust_update(tmp_path, dev.key, 1, {"release.pub": dev.pub, "release-2027.pub": new_pub,
                                                      "release-2019.pub": old_pub})
    trust_before = {p.name: p.read_bytes() for p in (dev.state / "trust").iterdir()}
    name_1, _ = repos.release(trust_1)
    proc = check(dev, srv, ok=False)
    assert "trust update version 1 is older than the installed 2 (rollback refused)" in proc.stderr, proc.stderr
    st = image_state(dev, name_1)
    assert st["state"] == "failed" and st["permanent"] is True, st
    assert {p.name: p.read_bytes() for p in (dev.state / "trust").iterdir()} == trust_before
    assert (dev.state / "update" / "trust-version").read_text().strip() == "2"


def test_local_fault_is_not_a_permanent_refusal(env):
    """A fault of the device's own (here more trusted-key files than it accepts) fails the OS
    install with the same error codes a bad bundle gets, but the bundle was never refused: the
    target is not marked failed for good and installs at the first check after the fault is fixed."""
    dev, repos, srv = env
    name, _ = repos.release(dev.bundle("2"))
    extra = [dev.state / "trust" / f"extra-{i:02d}.pub" for i in range(16)]
    for p in extra:
        p.write_bytes(dev.pub.read_bytes())
    proc = check(dev, srv, ok=False)
    assert "more than 16 keys" in proc.stderr, proc.stderr
    st = image_state(dev, name)
    assert st["state"] == "failed" and st["permanent"] is False, st
    for p in extra:
        p.unlink()
    check(dev, srv, ok=True)
    assert image_state(dev, name)["state"] == "installed"
    dev.boot()
    assert dev.running_version() == 2
