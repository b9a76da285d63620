"""A trust update must not leave the device without a bootable slot: one whose key set drops the
key that signed the running OS bundle is refused (not for good) and the old keys stay; one that
keeps that key is applied."""
import json

from conftest import run
from update_repos import pack_trust_update
from test_update_device import check, env, image_state, status  # noqa: F401 (env is a fixture)

def trust_package(dev, tmp_path, version, keep_old):
    new_key, new_pub = tmp_path / "new.pem", tmp_path / "new.pub"
    if not new_key.exists():
        run("rampart", "image-package", "keygen", "--private-key", new_key, "--public-key", new_pub, check=True)
    keys = {"release-2027.pub": new_pub}
    if keep_old:
        keys["release.pub"] = dev.pub
    return pack_trust_update(tmp_path, dev.key, version, keys), new_key


def test_trust_update_dropping_running_signer_refused(env, tmp_path):
    dev, repos, srv = env
    before = sorted(p.name for p in (dev.state / "trust").iterdir())
    pkg, _ = trust_package(dev, tmp_path, 2, keep_old=False)
    name, _ = repos.release(pkg)
    proc = check(dev, srv, ok=False)
    assert "the new trusted keys do not include the key that signed the running OS bundle" in proc.stderr, \
        proc.stderr
    st = image_state(dev, name)
    assert st["state"] == "failed" and st["permanent"] is False, st
    assert sorted(p.name for p in (dev.state / "trust").iterdir()) == before
    assert not (dev.state / "update" / "trust-version").exists()
    # The device still boots the bundle it ran.
    dev.boot()
    assert dev.running_version() == 1


def test_trust_update_keeping_running_signer_applied(env, tmp_path):
    dev, repos, srv = env
    pkg, _ = trust_package(dev, tmp_path, 2, keep_old=True)
    name, _ = repos.release(pkg)
    rep = json.loads(check(dev, srv, ok=True).stdout)
    assert rep["installed"] == 1
    assert image_state(dev, name)["state"] == "installed"
    assert sorted(p.name for p in (dev.state / "trust").iterdir()) == ["release-2027.pub", "release.pub"]
    dev.boot()
    assert dev.running_version() == 1


def test_one_release_rotation_waits_instead_of_refusing_the_new_bundle(env, tmp_path):
    """A release whose trust update drops the old key and whose OS bundle is signed only by the new
    one: the trust update is refused (it would orphan the running bundle), and the OS bundle is not
    tried without the keys it needs, so it is not recorded as a permanent refusal. Once a trust
    update that keeps the old key arrives, the same OS bundle installs in that check."""
    dev, repos, srv = env
    pkg, new_key = trust_package(dev, tmp_path, 2, keep_old=False)
    os_pkg = dev.bundle("2", key=new_key, name="os-2-newkey.rpkg")
    os_name, _ = repos.release(os_pkg)
    repos.release(pkg)
    check(dev, srv, ok=False)
    os_state = status(dev)["images"].get(os_name)
    assert os_state is None or not os_state.get("permanent"), os_state
    assert dev.running_version() == 1
    keep, _ = trust_package(dev, tmp_path, 3, keep_old=True)
    repos.release(keep)
    # The test repositories still list the dropped trust update 2: now older than the installed 3,
    # it is refused for good, which does not hold back the OS bundle.
    rep = json.loads(check(dev, srv, ok=False).stdout)
    assert rep["installed"] == 2, rep
    assert status(dev)["images"][os_name]["state"] == "installed"
    dev.boot()
    assert dev.running_version() == 2
