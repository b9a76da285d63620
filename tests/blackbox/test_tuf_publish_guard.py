"""Guards on rampartd's TUF publishing: after a root rotation the service never signs with a key the
root no longer lists (every device would refuse the result), keys and the state directory are only
adopted when nobody else could have written them, repositories appear whole or not at all, other
rampartd instances sharing the state directory are serialised by a file lock, and unauthenticated
metadata errors do not reveal paths."""
import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import threading

import pytest

from conftest import find_binary, run
from service_client import Rampartd

COMPONENT = "11111111-2222-3333-4444-555555555555"


def openssl_key(path):
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                    str(path)], check=True, capture_output=True, timeout=60)
    return path


def public_of(priv, out=None):
    proc = subprocess.run(["openssl", "pkey", "-in", str(priv), "-pubout"], check=True, capture_output=True,
                          text=True, timeout=60)
    if out:
        pathlib.Path(out).write_text(proc.stdout)
        return out
    return proc.stdout


def make_image(tmp, key, tag):
    payload = pathlib.Path(tmp) / f"payload-{tag}"
    payload.mkdir()
    (payload / "data").write_text(f"demo {tag}\n")
    out = pathlib.Path(tmp) / f"demo-{tag}.imagepackage"
    run("rampart", "image-package", "pack", "--type", "application", "--payload-directory", payload,
        "--component-id", COMPONENT, "--name", "demo", "--key", key, "--output", out, check=True)
    return out.read_bytes()


class World:
    def __init__(self, tmp):
        self.tmp = pathlib.Path(tmp)
        self.svc = Rampartd(self.tmp / "svc").start()
        self.tenant = self.svc.create_tenant("Contoso")
        self.signer = self.tmp / "signer.pem"
        pub = self.tmp / "signer.pub"
        run("rampart", "image-package", "keygen", "--private-key", self.signer, "--public-key", pub, check=True)
        r = self.svc.request("POST", f"/v1/tenants/{self.tenant}/image-signing-keys",
                             {"name": "release", "public_key_pem": pub.read_text()})
        assert r.status == 201, r
        self.tags = 0

    @property
    def tdir(self):
        return self.svc.state / "tuf" / "tenants" / self.tenant

    @property
    def repo(self):
        return self.tdir / "image"

    def upload(self):
        self.tags += 1
        data = make_image(self.tmp, self.signer, str(self.tags))
        return self.svc.request("POST", f"/v1/tenants/{self.tenant}/images", data,
                                content_type="application/octet-stream")

    def get(self, name):
        return self.svc.request("GET", f"/v1/tuf/tenants/{self.tenant}/image/{name}", token=None)

    def verify(self):
        """What a device provisioned with version 1 of the root sees."""
        trusted = self.tmp / "trusted-1.root.json"
        trusted.write_bytes(self.get("1.root.json").body)
        return run("rampart-tuf", "verify", self.repo, "--trusted-root", trusted)

    def rotate_to_offline_targets(self, expires_days=None):
        """The tenant rotates the root to its own root and targets keys (the service keeps snapshot and
        timestamp), then signs and uploads a targets version offline."""
        keys = self.svc.state / "tuf" / "tenants" / self.tenant / "keys" / "image"
        new_root, new_targets = openssl_key(self.tmp / "newR.pem"), openssl_key(self.tmp / "newT.pem")
        new_targets_pub = public_of(new_targets, self.tmp / "newT.pub")
        run("rampart-tuf", "rotate-root", self.repo, "--old-root-key", keys / "root.pem", "--root-key", new_root,
            "--targets-key", new_targets_pub, check=True)
        work = self.tmp / "offline"
        shutil.copytree(self.repo, work)
        payload = self.tmp / "offline-payload"
        payload.write_bytes(b"released offline\n")
        extra = ["--expires-days", str(expires_days)] if expires_days else []
        run("rampart-tuf", "add-target", work, payload, "--targets-key", new_targets, "--name", "offline-release",
            *extra, check=True)
        data = (work / "metadata" / "targets.json").read_bytes()
        r = self.svc.request("PUT", f"/v1/tenants/{self.tenant}/tuf/image/targets", data,
                             content_type="application/octet-stream")
        assert r.status == 200, r
        return json.loads(data)["signed"]["version"]


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    assert w.svc.stop() == 0, w.svc.log.read_text()


def test_stale_targets_key_is_not_used_after_root_rotation(world):
    w = world
    r = w.upload()
    assert r.status == 201 and "release" not in r.json, r
    uploaded = w.rotate_to_offline_targets()
    assert w.verify().returncode == 0

    # keys/image/targets.pem is still on the service, but root version 2 no longer lists it: the
    # image is recorded, its release awaits offline signing, and nothing devices refuse is published.
    r = w.upload()
    assert r.status == 201, r
    assert r.json["release"] == "awaiting_offline_signing", r
    assert w.svc.request("GET", f"/v1/tenants/{w.tenant}/images/{r.json['image_id']}").status == 200
    proc = w.verify()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    targets = w.get("targets.json").json
    assert targets["signed"]["version"] == uploaded
    assert r.json["image_id"] not in targets["signed"]["targets"]
    assert "tuf.image.offline" in w.svc.log.read_text()


def test_refresh_near_expiry_does_not_resign_targets_with_stale_key(world):
    w = world
    assert w.upload().status == 201
    # Offline targets that expire in 10 days: within half the 30-day lifetime, so every read asks
    # the service to refresh them. It cannot (its key is stale) and must leave them as signed.
    uploaded = w.rotate_to_offline_targets(expires_days=10)
    r = w.get("timestamp.json")
    assert r.status == 200, r
    proc = w.verify()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert w.get("targets.json").json["signed"]["version"] == uploaded
    assert "tuf.image.offline" in w.svc.log.read_text()


def test_state_dir_open_to_others_is_refused(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    proc = subprocess.run([str(find_binary("rampartd")), "init", "--state-dir", str(state)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0
    assert "writable by group or others" in proc.stderr and "chmod 700" in proc.stderr, proc.stderr
    assert not (state / "rampart.db").exists()

    state.chmod(0o700)
    os.chown(state, 65534, 65534)
    proc = subprocess.run([str(find_binary("rampartd")), "init", "--state-dir", str(state)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and "chown" in proc.stderr, proc.stderr

    os.chown(state, os.geteuid(), os.getegid())
    proc = subprocess.run([str(find_binary("rampartd")), "init", "--state-dir", str(state)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr

    fresh = tmp_path / "fresh" / "state"
    proc = subprocess.run([str(find_binary("rampartd")), "init", "--state-dir", str(fresh)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert fresh.stat().st_mode & 0o777 == 0o700


def test_keys_placed_before_the_repository_are_not_adopted(world):
    w = world
    keys = w.tdir / "keys" / "image"
    keys.mkdir(parents=True)
    planted = {}
    for role in ("root", "targets", "snapshot", "timestamp"):
        openssl_key(keys / f"{role}.pem")
        (keys / f"{role}.pem").chmod(0o600)
        planted[role] = public_of(keys / f"{role}.pem")
    r = w.upload()
    assert r.status == 201, r
    root = w.get("1.root.json").json["signed"]
    listed = {k["keyval"]["public"].strip() for k in root["keys"].values()}
    for role, pem in planted.items():
        assert pem.strip() not in listed, f"planted {role} key adopted"
        assert public_of(keys / f"{role}.pem").strip() != pem.strip()
    assert "tuf.keys.replaced" in w.svc.log.read_text()


def test_director_key_not_ours_or_symlinked_is_refused(world):
    w = world
    keys = w.tdir / "keys" / "director"
    keys.mkdir(parents=True)
    for role in ("root", "targets", "snapshot"):
        openssl_key(keys / f"{role}.pem")
        (keys / f"{role}.pem").chmod(0o600)
    os.chown(keys / "targets.pem", 65534, 65534)  # another user's file
    outside = openssl_key(w.tmp / "outside.pem")
    (keys / "timestamp.pem").symlink_to(outside)
    r = w.upload()
    assert r.status == 403, r
    assert "must belong to this service's user" in r.json["error"]["message"], r
    assert w.get("timestamp.json").status == 404  # no repository was created with such keys

    (keys / "targets.pem").unlink()
    r = w.upload()
    assert r.status == 403 and "timestamp.pem is a symbolic link" in r.json["error"]["message"], r
    (keys / "timestamp.pem").unlink()
    r = w.upload()
    assert r.status == 201, r


def test_half_created_repository_is_completed(world):
    w = world
    # What an interrupted creation used to leave: root.json and nothing else. It answered 404 (or
    # 500) forever; now the next change creates the repository whole.
    (w.repo / "metadata").mkdir(parents=True)
    (w.repo / "metadata" / "root.json").write_text('{"signed": {"_type": "root"}, "signatures": []}')
    assert w.get("timestamp.json").status == 404
    r = w.upload()
    assert r.status == 201 and "release" not in r.json, r
    assert w.get("timestamp.json").status == 200
    proc = w.verify()
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_leftover_or_obstacle_at_the_creation_path(world):
    w = world
    tmp = pathlib.Path(str(w.repo) + ".new")
    w.tdir.mkdir(parents=True, exist_ok=True)
    # A file in the way: creation fails, nothing half made is served.
    tmp.write_text("in the way")
    r = w.upload()
    assert r.status == 409 and "in the way" in r.json["error"]["message"], r
    assert w.get("root.json").status == 404 and not w.repo.exists()
    # A crash after root.json in the building directory: redone from scratch.
    tmp.unlink()
    (tmp / "metadata").mkdir(parents=True)
    (tmp / "metadata" / "root.json").write_text("{}")
    r = w.upload()
    assert r.status == 201, r
    assert not tmp.exists()
    proc = w.verify()
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_other_instances_are_serialised_by_the_tenant_lock(world):
    w = world
    assert w.upload().status == 201
    before = w.get("timestamp.json").json["signed"]["version"]
    fd = os.open(w.tdir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    result = {}
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another rampartd publishing for this tenant
        t = threading.Thread(target=lambda: result.setdefault("r", w.upload()))
        t.start()
        t.join(2)
        assert t.is_alive(), "published while another instance held the tenant lock"
        assert w.repo.joinpath("metadata", "timestamp.json").exists()
        assert json.loads((w.repo / "metadata" / "timestamp.json").read_text())["signed"]["version"] == before
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    t.join(60)
    assert not t.is_alive() and result["r"].status == 201, result
    assert w.get("timestamp.json").json["signed"]["version"] == before + 1


def test_unauthenticated_metadata_errors_name_no_paths(world):
    w = world
    assert w.upload().status == 201
    (w.repo / "metadata" / "targets.json").write_text("{ broken")
    r = w.get("timestamp.json")
    assert r.status == 503, r
    body = r.body.decode()
    assert str(w.svc.state) not in body and "/" not in r.json["error"]["message"], body
    assert "temporarily unavailable" in r.json["error"]["message"]
    assert "targets.json" in w.svc.log.read_text()  # the operator still sees the cause


def test_targets_upload_refused_when_snapshot_key_is_stale(world):
    w = world
    assert w.upload().status == 201
    keys = w.tdir / "keys" / "image"
    new_targets = openssl_key(w.tmp / "newT.pem")
    new_snapshot = openssl_key(w.tmp / "newS.pem")
    run("rampart-tuf", "rotate-root", w.repo, "--old-root-key", keys / "root.pem", "--root-key", keys / "root.pem",
        "--targets-key", public_of(new_targets, w.tmp / "newT.pub"), "--snapshot-key",
        public_of(new_snapshot, w.tmp / "newS.pub"), check=True)
    work = w.tmp / "offline"
    shutil.copytree(w.repo, work)
    payload = w.tmp / "offline-payload"
    payload.write_bytes(b"released offline\n")
    run("rampart-tuf", "add-target", work, payload, "--targets-key", new_targets, "--name", "offline-release",
        check=True)
    before = w.get("targets.json").json["signed"]["version"]
    r = w.svc.request("PUT", f"/v1/tenants/{w.tenant}/tuf/image/targets",
                      (work / "metadata" / "targets.json").read_bytes(), content_type="application/octet-stream")
    # The service could sign only a snapshot root version 2 refuses: nothing is published.
    assert r.status == 409 and "snapshot or timestamp key" in r.json["error"]["message"], r
    assert w.get("targets.json").json["signed"]["version"] == before
