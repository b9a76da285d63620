"""Helpers for the boot-stage black-box tests: a device state directory with the soft root of
trust, a trusted image-signing key, OS bundles built with `rampart image-package pack --type
os-bundle`, and runners for `rampart-boot` (install, run --until-healthy, status)."""
import json
import os
import pathlib
import signal
import struct
import hashlib
import subprocess
import time

from conftest import find_binary, run

COMPONENT_ID = "0f5e1a52-7d1c-4a4e-9a43-2f0c1d9e8b11"

# A healthy component records which bundle version is running (the test's proof that a verified
# bundle started), then stays up; a broken one exits at once and so fails the health check.
GOOD_COMPONENT = ('#!/bin/sh\necho "$RAMPART_OS_VERSION" > "$1/running-version.tmp"\n'
                  'mv "$1/running-version.tmp" "$1/running-version"\nexec sleep 600\n')
BROKEN_COMPONENT = '#!/bin/sh\necho "broken bundle starting" >&2\nexit 3\n'


class Device:
    def __init__(self, tmp, settle_ms=100, health_timeout=5, state=None):
        self.tmp = pathlib.Path(tmp)
        self.state = pathlib.Path(state) if state else self.tmp / "state"
        self.settle_ms = settle_ms
        self.health_timeout = health_timeout
        self.key = self.tmp / "release.pem"
        self.pub = self.tmp / "release.pub"
        self.state.mkdir(parents=True, exist_ok=True)
        run("rampart-os", "provision", "--state", self.state, "--rot", "soft", check=True)
        if not self.key.exists():
            run("rampart", "image-package", "keygen", "--private-key", self.key, "--public-key", self.pub, check=True)
        (self.state / "trust").mkdir(exist_ok=True)
        (self.state / "trust" / "release.pub").write_bytes(self.pub.read_bytes())

    # --- bundles -------------------------------------------------------------------------------
    def bundle(self, version, broken=False, key=None, image_type="os-bundle", extra_bytes=0, name=None):
        out = self.tmp / (name or f"os-{version}{'-broken' if broken else ''}.rpkg")
        if out.exists() and key is None and not extra_bytes:
            return out
        payload = self.tmp / f"payload-{out.stem}"
        (payload / "bin").mkdir(parents=True, exist_ok=True)
        comp = payload / "bin" / "svc.sh"
        comp.write_text(BROKEN_COMPONENT if broken else GOOD_COMPONENT)
        comp.chmod(0o755)
        if extra_bytes:
            (payload / "blob.bin").write_bytes(os.urandom(extra_bytes))
        (payload / "os.json").write_text(json.dumps({
            "version": 1,
            "components": [{"name": "svc", "exec": "bin/svc.sh", "args": ["${RUN}"],
                            "ready_file": "${RUN}/running-version"}],
            "health": {"settle_ms": self.settle_ms},
        }))
        run("rampart", "image-package", "pack", "--type", image_type, "--payload-directory", payload,
            "--component-id", COMPONENT_ID, "--name", "rampart-os", "--key", key or self.key,
            "--output", out, "--version", version, check=True)
        return out

    # --- rampart-boot --------------------------------------------------------------------------
    def install(self, bundle, attempts=2, check=True, env=None):
        return run("rampart-boot", "install", "--state", self.state, "--rot", "soft", "--attempts", attempts,
                   bundle, check=check, env=env)

    def boot_args(self):
        return ["--state", str(self.state), "--rot", "soft", "--health-timeout", str(self.health_timeout)]

    def boot(self, check=True, env=None, timeout=60):
        self.clear_running()
        return run("rampart-boot", *self.boot_args(), "--until-healthy", check=check, env=env, timeout=timeout)

    def status(self):
        proc = run("rampart-boot", "status", "--state", self.state, "--rot", "soft", "--output", "json", check=True)
        return json.loads(proc.stdout)

    def running_version(self):
        f = self.state / "boot" / "run" / "running-version"
        return int(f.read_text().strip()) if f.exists() else None

    def clear_running(self):
        f = self.state / "boot" / "run" / "running-version"
        if f.exists():
            f.unlink()

    def slot_file(self, slot):
        return self.state / "boot" / "slots" / slot / "bundle.rpkg"


def encode_state(generation=1, active=0, previous=0xff, pending=False, attempts=0, bad=0, committed=0,
                 result=b""):
    """The boot-state record (docs/protocol.md), as someone with write access to the disk could
    forge it: the checksum protects against damage, not against an attacker."""
    body = struct.pack(">IHQBBBBBQH", 0x52504253, 1, generation, active, previous, 1 if pending else 0, attempts,
                       bad, committed, len(result)) + result
    return body + hashlib.sha256(body).digest()


def session_pids(sid):
    """Every process in session SID (the whole device process tree started with start_new_session)."""
    pids = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        # A zombie is already dead (its parent, or init after the cut, has yet to reap it).
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(d.name))
    return pids


def kill_session(proc):
    """A power cut: SIGKILL every process of the device at once, then reap the leader."""
    for pid in session_pids(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)
    # Stragglers that were being forked at the moment of the cut.
    deadline = time.monotonic() + 5
    while session_pids(proc.pid) and time.monotonic() < deadline:
        for pid in session_pids(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def start_boot(device, extra_env=None, until_healthy=True):
    env = dict(os.environ)
    if extra_env:
        env.update(extra_env)
    args = [str(find_binary("rampart-boot")), *device.boot_args()]
    if until_healthy:
        args.append("--until-healthy")
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
