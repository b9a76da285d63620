"""Power cuts during an update: rampart-update is SIGKILLed at fault points in the download, the
trust-key swap, the slot install (rampart-boot's install.* points run inside it) and before the
status is saved. After every cut the next checks finish the update, the device boots a verified
bundle, and the status ends right (trust update installed, OS bundle committed)."""
import json

import pytest

from boot_device import Device
from conftest import run
from update_repos import Repos, RepoServer, pack_trust_update

POINTS = [
    "update.download.write:1", "update.download.write:6", "update.download.done:1",
    "update.download.done:2", "update.trust.before-swap", "update.trust.after-swap",
    "install.copy", "install.before-rename", "install.after-rename", "install.after-switch",
    "update.installed:1", "update.installed:2",
]


def check(dev, srv, env=None):
    args = ["check", "--state", dev.state, "--image-repo", f"{srv.url}/image", "--director", f"{srv.url}/director",
            "--blobs", f"{srv.url}/blobs", "--rot", "soft", "--output", "json"]
    proc = run("rampart-update", *args, env=env)
    assert "Sanitizer" not in proc.stderr, proc.stderr
    return proc


@pytest.mark.parametrize("point", POINTS)
def test_power_cut_during_update(tmp_path, point):
    dev = Device(tmp_path / "dev")
    dev.install(dev.bundle("1"))
    dev.boot()
    repos = Repos(tmp_path / "repos")
    srv = RepoServer(repos)
    try:
        run("rampart-update", "init", "--state", dev.state, "--image-root", repos.image.root(), "--director-root",
            repos.director.root(), check=True)
        new_key, new_pub = tmp_path / "new.pem", tmp_path / "new.pub"
        run("rampart", "image-package", "keygen", "--private-key", new_key, "--public-key", new_pub, check=True)
        trust_pkg = pack_trust_update(tmp_path, dev.key, 2, {"release.pub": dev.pub, "next.pub": new_pub})
        os_name, _ = repos.release(dev.bundle("2", key=new_key, name="os-2.rpkg", extra_bytes=300000))
        trust_name, _ = repos.release(trust_pkg)

        cut = check(dev, srv, env={"RAMPART_FAULT_POINT": point})
        assert cut.returncode == -9, f"fault point {point} was not reached:\n{cut.stdout}{cut.stderr}"
        # The trusted key set is always complete: the old one or the new one.
        keys = sorted(p.name for p in (dev.state / "trust").iterdir())
        assert keys in (["release.pub"], ["next.pub", "release.pub"]), keys

        for _ in range(3):  # bounded: the update finishes within a few checks
            if check(dev, srv).returncode == 0:
                break
        else:
            raise AssertionError(check(dev, srv).stderr)
        dev.boot()
        assert dev.running_version() == 2
        assert check(dev, srv).returncode == 0
        images = json.loads(run("rampart-update", "status", "--state", dev.state, check=True).stdout)["images"]
        assert images[os_name]["state"] == "committed", images
        assert images[trust_name]["state"] == "installed", images
        assert not list((dev.state / "update" / "downloads").iterdir())
    finally:
        srv.stop()
