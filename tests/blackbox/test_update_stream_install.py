"""One-pass OS bundle install: the bundle streams into the inactive slot while it is hashed, and the
verdict (signature over the hashed bytes) only comes at the end. Each attack on that path must leave
the slot as it was (no temporary file either), the boot state untouched and the device running
what it had; memory stays bounded whatever the bundle's size."""
import json
import os
import subprocess

import pytest

from boot_device import committed, Device
from conftest import BUILD, find_binary, run
from update_repos import Repos, RepoServer

SIG_SECTION = 2 + 106  # one signature slot: u16 count + {32-byte key ID, u16 length, 72 bytes}


def sanitized_build():
    try:
        opts = json.loads((BUILD / "meson-info" / "intro-buildoptions.json").read_text())
    except (OSError, ValueError):
        return False
    return any(o.get("name") == "b_sanitize" and o.get("value") not in ("none", "") for o in opts)



@pytest.fixture
def device(tmp_path):
    """Slot a: version 1 (inactive, committed earlier); slot b: version 2 running. An install now
    targets slot a, so whatever an attack leaves there is visible against version 1's bytes."""
    dev = Device(tmp_path)
    committed(dev, 1)
    committed(dev, 2)
    assert dev.status()["active"] == "b"
    return dev


def assert_untouched(dev, slot_a_bytes):
    assert dev.slot_file("a").read_bytes() == slot_a_bytes
    assert not (dev.state / "boot" / "slots" / "a" / "bundle.rpkg.tmp").exists()
    st = dev.status()
    assert st["active"] == "b" and not st["pending"] and st["slots"]["a"]["version"] == 1
    dev.boot()
    assert dev.running_version() == 2


def tampered(dev, how):
    """Version 3 with a 1 MiB payload (several stream chunks), damaged after signing."""
    data = bytearray(dev.bundle(3, extra_bytes=1 << 20, name="os-3-big.rpkg").read_bytes())
    if how == "altered":
        data[len(data) // 2] ^= 0x01  # inside the payload: found only when the stream ends
    elif how == "truncated":
        data = data[:len(data) - SIG_SECTION - 4096]
    elif how == "longer":
        data += b"\0" * 4096
    out = dev.tmp / f"os-3-{how}.rpkg"
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("how,message", [
    ("altered", "does not match the package contents"),
    ("truncated", "truncated"),
    ("longer", "trailing data"),
])
def test_damaged_bundle_leaves_slot_and_state(device, how, message):
    before = device.slot_file("a").read_bytes()
    proc = device.install(tampered(device, how), check=False)
    assert proc.returncode != 0, proc.stderr
    assert "verifying the bundle" in proc.stderr and message in proc.stderr, proc.stderr
    assert_untouched(device, before)
    # The intact bundle still installs afterwards.
    device.install(device.bundle(3, extra_bytes=1 << 20, name="os-3-big.rpkg"))
    device.boot()
    assert device.running_version() == 3


def test_install_memory_bounded(device):
    """A 24 MiB bundle installs with a peak RSS far below its size: nothing holds the whole bundle."""
    if sanitized_build():
        pytest.skip("sanitizer shadow memory makes RSS meaningless")
    if not os.path.exists("/usr/bin/time"):
        pytest.skip("needs /usr/bin/time")
    big = device.bundle(3, extra_bytes=24 << 20, name="os-3-huge.rpkg")
    # Measured by a small parent: a child forked from this Python process would start with its RSS.
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", str(find_binary("rampart-boot")), "install", "--state",
                           str(device.state), "--rot", "soft", str(big)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    peak_kib = int(proc.stderr.strip().splitlines()[-1])
    assert peak_kib < 16 * 1024, f"peak RSS {peak_kib} KiB for a {big.stat().st_size} byte bundle"
    device.boot()
    assert device.running_version() == 3


# ---- through the update client ----

def update_env(tmp_path, state=None):
    (tmp_path / "dev").mkdir(exist_ok=True)
    dev = Device(tmp_path / "dev", state=state)
    dev.install(dev.bundle("1"))
    dev.boot()
    repos = Repos(tmp_path / "repos")
    srv = RepoServer(repos)
    run("rampart-update", "init", "--state", dev.state, "--image-root", repos.image.root(), "--director-root",
        repos.director.root(), check=True)
    return dev, repos, srv


def check(dev, srv):
    return run("rampart-update", "check", "--state", dev.state, "--image-repo", f"{srv.url}/image", "--director",
               f"{srv.url}/director", "--blobs", f"{srv.url}/blobs", "--rot", "soft", "--output", "json")


def image_state(dev, name):
    st = json.loads(run("rampart-update", "status", "--state", dev.state, check=True).stdout)
    return st["images"][name]


def test_repository_signed_altered_bundle_refused_at_end_of_stream(tmp_path):
    """The repository (its keys compromised) signs a bundle altered after the image signature: the
    TUF hash matches, the download is kept, and only the package signature over the streamed bytes
    catches it. The slot stays empty, the failure is permanent, the device runs version 1."""
    dev, repos, srv = update_env(tmp_path)
    try:
        data = bytearray(dev.bundle("2", extra_bytes=1 << 20).read_bytes())
        data[len(data) // 2] ^= 0x80
        evil = dev.tmp / "os-2-evil.rpkg"
        evil.write_bytes(bytes(data))
        name, _ = repos.release(evil)
        proc = check(dev, srv)
        assert proc.returncode != 0
        assert "does not match the package contents" in proc.stderr, proc.stderr
        st = image_state(dev, name)
        assert st["state"] == "failed"
        assert not (dev.state / "boot" / "slots" / "b" / "bundle.rpkg").exists()
        assert not (dev.state / "boot" / "slots" / "b" / "bundle.rpkg.tmp").exists()
        assert not dev.status()["pending"]
        dev.boot()
        assert dev.running_version() == 1
    finally:
        srv.stop()


def test_disk_full_while_writing_slot(tmp_path):
    """The download fits on the flash but the slot copy does not: the install fails with the disk's
    error, the partial slot copy and the download are removed, the device keeps version 1, and once
    space is back the next check installs."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "flash"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], check=True)
    srv = None
    try:
        dev, repos, srv = update_env(tmp_path, state=mnt / "state")
        bundle = dev.bundle("2", extra_bytes=3 << 20)
        size = bundle.stat().st_size
        name, digest = repos.release(bundle)
        stat = os.statvfs(mnt)
        free = stat.f_bavail * stat.f_frsize
        with open(mnt / "filler", "wb") as f:
            f.write(b"\0" * max(0, free - size - size // 2))  # room for the download, not the slot copy
        proc = check(dev, srv)
        assert proc.returncode != 0
        assert "No space left on device" in proc.stderr and "keeps its current OS" in proc.stderr, proc.stderr
        assert not (dev.state / "boot" / "slots" / "b" / "bundle.rpkg.tmp").exists()
        assert not (dev.state / "update" / "downloads" / f"{digest}.part").exists()
        assert image_state(dev, name)["state"] == "failed"
        dev.boot()
        assert dev.running_version() == 1
        (mnt / "filler").unlink()
        proc = check(dev, srv)
        assert proc.returncode == 0, proc.stderr
        assert image_state(dev, name)["state"] == "installed", proc.stdout + proc.stderr
        boot = dev.boot()
        assert dev.running_version() == 2, boot.stderr
    finally:
        if srv:
            srv.stop()
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_leftover_temporary_bundle_removed(tmp_path):
    """A power cut while a bundle streamed into the inactive slot leaves bundle.rpkg.tmp behind. The
    next install removes it before writing (so a small disk is not filled for good), and so does
    the boot stage at start-up."""
    dev, repos, srv = update_env(tmp_path)
    try:
        left = dev.state / "boot" / "slots" / "b" / "bundle.rpkg.tmp"
        left.parent.mkdir(parents=True, exist_ok=True)
        left.write_bytes(b"\xa5" * (2 << 20))
        other = dev.state / "boot" / "slots" / "a" / "bundle.rpkg.tmp"
        other.write_bytes(b"\x5a" * 4096)
        name, _ = repos.release(dev.bundle("2"))
        proc = check(dev, srv)
        assert proc.returncode == 0, proc.stderr
        assert image_state(dev, name)["state"] == "installed"
        assert not left.exists() and not other.exists()
        dev.boot()
        assert dev.running_version() == 2
        # At boot: a file left by an install cut short is gone after the next start.
        other.write_bytes(b"\x5a" * 4096)
        dev.boot()
        assert not other.exists()
        assert dev.running_version() == 2
    finally:
        srv.stop()
