#!/usr/bin/python3
"""bench/update/vs_rauc.py: install a 64 MiB OS bundle with rampart-update (download from a
loopback HTTP server, TUF checks, package verification, copy into the inactive A/B slot) and with
RAUC (Debian package rauc: download the bundle from the same server with curl, then `rauc
install` of a plain bundle into a raw slot), in the same run. Prints both wall times, the ratio,
and rampart-update's peak resident memory, beside the peak of the same check with nothing left to
install (the memory the loaded libraries and the TUF refresh take whatever the bundle's size).

Needs root (RAUC mounts its bundle on a loop device), rauc, squashfs-tools, dbus-daemon.
Usage: RAMPART_BUILD=build bench/update/vs_rauc.py [--mib 64] [--runs 3]"""
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "blackbox"))

from boot_device import Device  # noqa: E402
from conftest import find_binary, run  # noqa: E402
from update_repos import Repos, RepoServer  # noqa: E402

SYSTEM_CONF = """[system]
compatible=rampart-bench
bootloader=custom
data-directory={d}/data
mountprefix={d}/mnt

[handlers]
bootloader-custom-backend={d}/backend.sh

[keyring]
path={d}/cert.pem

[slot.rootfs.0]
device={d}/slotA.img
type=raw
bootname=A

[slot.rootfs.1]
device={d}/slotB.img
type=raw
bootname=B
"""

BACKEND = """#!/bin/sh
case "$1" in
  get-primary) cat {d}/primary 2>/dev/null || echo A ;;
  set-primary) echo "$2" > {d}/primary ;;
  get-state) echo good ;;
  get-current) echo A ;;
esac
"""


def rampart_run(tmp, payload, runs):
    times, rss, idle, floor = [], [], [], []
    for i in range(runs):
        dev = Device(tmp / f"dev{i}")
        dev.install(dev.bundle("1"))
        dev.boot()
        bundle = dev.bundle("2", name=f"big{i}.rpkg")
        # The same bootable bundle, carrying the big image beside its components.
        pl = dev.tmp / f"payload-{bundle.stem}"
        shutil.copy(payload, pl / "rootfs.img")
        run("rampart", "image-package", "pack", "--type", "os-bundle", "--payload-directory", pl, "--component-id",
            "0f5e1a52-7d1c-4a4e-9a43-2f0c1d9e8b11", "--name", "rampart-os", "--key", dev.key, "--output", bundle,
            "--version", "2", check=True)
        repos = Repos(tmp / f"repos{i}")
        srv = RepoServer(repos)
        try:
            run("rampart-update", "init", "--state", dev.state, "--image-root", repos.image.root(),
                "--director-root", repos.director.root(), check=True)
            repos.release(bundle)
            cmd = ["/usr/bin/time", "-f", "%M", str(find_binary("rampart-update")), "check", "--state", str(dev.state),
                   "--image-repo", f"{srv.url}/image", "--director", f"{srv.url}/director", "--blobs",
                   f"{srv.url}/blobs", "--output", "json"]
            t0 = time.monotonic()
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            times.append(time.monotonic() - t0)
            assert proc.returncode == 0, proc.stderr
            rss.append(int(proc.stderr.strip().splitlines()[-1]))
            size = bundle.stat().st_size
            # The same check again, with nothing left to install: the client's memory floor (loaded
            # libraries, TLS, TUF metadata), so the install's own working set can be told apart.
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, proc.stderr
            idle.append(int(proc.stderr.strip().splitlines()[-1]))
            # What the test server alone allows: a bare curl of the same blob from it.
            digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
            t0 = time.monotonic()
            subprocess.run(["curl", "-sf", "-o", str(tmp / "curl.out"), f"{srv.url}/blobs/{digest}"], check=True)
            floor.append(time.monotonic() - t0)
            (tmp / "curl.out").unlink()
        finally:
            srv.stop()
    return times, rss, idle, floor, size


def rauc_run(tmp, payload, runs):
    d = tmp / "rauc"
    d.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", d / "key.pem", "-out", d / "cert.pem", "-subj", "/CN=rauc-bench", "-days", "365"],
                   check=True, capture_output=True)
    b = d / "bundle"
    b.mkdir()
    shutil.copy(payload, b / "rootfs.img")
    (b / "manifest.raucm").write_text("[update]\ncompatible=rampart-bench\nversion=2\n\n[bundle]\nformat=plain\n\n"
                                      "[image.rootfs]\nfilename=rootfs.img\n")
    www = d / "www"
    www.mkdir()
    subprocess.run(["rauc", "bundle", f"--cert={d / 'cert.pem'}", f"--key={d / 'key.pem'}",
                    f"--keyring={d / 'cert.pem'}", str(b), str(www / "update.raucb")], check=True,
                   capture_output=True)
    size = (www / "update.raucb").stat().st_size
    (d / "system.conf").write_text(SYSTEM_CONF.format(d=d))
    (d / "backend.sh").write_text(BACKEND.format(d=d))
    (d / "backend.sh").chmod(0o755)
    for sub in ("data", "mnt"):
        (d / sub).mkdir()
    slot_size = os.path.getsize(payload) + (1 << 20)
    for s in ("slotA.img", "slotB.img"):
        with open(d / s, "wb") as f:
            f.truncate(slot_size)
    bus = subprocess.run(["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
                         capture_output=True, text=True, check=True).stdout.split()
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=bus[0], DBUS_STARTER_BUS_TYPE="session")
    svc = subprocess.Popen(["rauc", "service", f"--conf={d / 'system.conf'}", "--override-boot-slot=A"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    http = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(www)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    times = []
    try:
        port = int(http.stdout.readline().split("port ")[1].split()[0])
        time.sleep(1)
        for i in range(runs):
            dl = d / f"dl{i}.raucb"
            t0 = time.monotonic()
            subprocess.run(["curl", "-sf", "-o", str(dl), f"http://127.0.0.1:{port}/update.raucb"], check=True)
            subprocess.run(["rauc", "install", f"--conf={d / 'system.conf'}", str(dl)], env=env, check=True,
                           capture_output=True)
            times.append(time.monotonic() - t0)
            dl.unlink()
    finally:
        http.terminate()
        svc.terminate()
        svc.wait(timeout=30)
        http.wait(timeout=30)
        os.kill(int(bus[1]), 15)
    return times, size


def main():
    mib = int(sys.argv[sys.argv.index("--mib") + 1]) if "--mib" in sys.argv else 64
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3
    for tool in ("rauc", "mksquashfs", "dbus-daemon", "curl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (scripts/debian-packages.txt)")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="rp-bench-rauc-"))
    try:
        payload = tmp / "rootfs.img"
        with open(payload, "wb") as f:
            f.write(os.urandom((mib << 20) - (64 << 10)))  # the bundle ends up just under MIB MiB
        r_times, r_rss, r_idle, r_floor, r_size = rampart_run(tmp, payload, runs)
        a_times, a_size = rauc_run(tmp, payload, runs)
        r, a = min(r_times), min(a_times)
        spread = lambda ts: " ".join(f"{t:.2f}" for t in ts)  # noqa: E731
        print(f"rampart-update: {r:.2f} s (best of {runs}: {spread(r_times)}; bundle {r_size / 2**20:.1f} MiB; "
              f"download + TUF + package verification + slot copy), peak RSS {max(r_rss) / 1024:.1f} MiB")
        print(f"  same check with nothing to install: peak RSS {max(r_idle) / 1024:.1f} MiB; the install adds "
              f"{(max(r_rss) - max(r_idle)) / 1024:.1f} MiB")
        print(f"  bare curl of the same blob from the same test server: {min(r_floor):.2f} s "
              f"({spread(r_floor)})")
        print(f"rauc 1.8:       {a:.2f} s (best of {runs}: {spread(a_times)}; bundle {a_size / 2**20:.1f} MiB; "
              f"curl download + rauc install, plain bundle, raw slot)")
        print(f"speed ratio (RAUC time / Rampart time): {a / r:.2f}x (goal >= 1.0)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
