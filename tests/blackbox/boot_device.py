"""Helpers for the boot-stage black-box tests: a device state directory with the soft root of
trust, a trusted image-signing key, OS bundles built with `rampart image-package pack --type
os-bundle`, and runners for `rampart-boot` (install, run --until-healthy, status).

Every run of the boot stage is a power-on: it gets a fresh kernel boot ID (a private mount
namespace with /proc/sys/kernel/random/boot_id bound to a new UUID), which is what resets the soft
root of trust's PCRs, as a TPM's reset at power-on. When rampart-boot exits with REBOOT_EXIT the
harness powers the device on again, as the board's reset would."""
import json
import os
import pathlib
import signal
import struct
import hashlib
import shutil
import subprocess
import time
import uuid

from conftest import find_binary, run

COMPONENT_ID = "0f5e1a52-7d1c-4a4e-9a43-2f0c1d9e8b11"

# A healthy component records which bundle version is running (the test's proof that a verified
# bundle started), then stays up; a broken one exits at once and so fails the health check.
GOOD_COMPONENT = ('#!/bin/sh\necho "$RAMPART_OS_VERSION" > "$1/running-version.tmp"\n'
                  'mv "$1/running-version.tmp" "$1/running-version"\nexec sleep 600\n')
BROKEN_COMPONENT = '#!/bin/sh\necho "broken bundle starting" >&2\nexit 3\n'

# rampart-boot run's exit status for "power-cycle me" (docs/protocol.md).
REBOOT_EXIT = 80
# Bound on power-ons while one update is decided: 16 attempts at most, plus the fallback.
MAX_POWER_ONS = 20


def power_cycles_supported():
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def power_on_command(tmp, args):
    """ARGS run as a fresh power-on: a new kernel boot ID in a private mount namespace. The
    process keeps its pid (unshare and sh exec), so session-wide kills still reach it."""
    if not power_cycles_supported():
        return [str(a) for a in args]
    idf = pathlib.Path(tmp) / "power-on-id"
    idf.write_text(str(uuid.uuid4()))
    return ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
            'mount --bind "$1" /proc/sys/kernel/random/boot_id && shift && exec "$@"', "sh", str(idf),
            *map(str, args)]


class Device:
    def __init__(self, tmp, settle_ms=100, health_timeout=5, state=None, rot="soft", tcti=None, on_power_on=None):
        self.tmp = pathlib.Path(tmp)
        # --rot (and --tpm2-tcti) for every rampart-boot and rampart-os call; ON_POWER_ON() runs
        # before each power-on, where the board's reset would reset a hardware TPM.
        self.rot_args = ["--rot", rot, *(["--tpm2-tcti", tcti] if tcti else [])]
        self.on_power_on = on_power_on
        self.state = pathlib.Path(state) if state else self.tmp / "state"
        self.settle_ms = settle_ms
        self.health_timeout = health_timeout
        self.power_ons = 0
        self.key = self.tmp / "release.pem"
        self.pub = self.tmp / "release.pub"
        self.state.mkdir(parents=True, exist_ok=True)
        run("rampart-os", "provision", "--state", self.state, *self.rot_args, check=True)
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
        return run("rampart-boot", "install", "--state", self.state, *self.rot_args, "--attempts", attempts,
                   bundle, check=check, env=env)

    def boot_args(self):
        return ["--state", str(self.state), *self.rot_args, "--health-timeout", str(self.health_timeout)]

    def boot(self, check=True, env=None, timeout=60):
        """Power on and boot until the slot decision is taken: every time rampart-boot asks for a
        power cycle, power on again (bounded). Returns the last run with the stderr of every
        power-on joined, so the whole story is in one log."""
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        logs = []
        for _ in range(MAX_POWER_ONS):
            self.clear_running()
            self.power_ons += 1
            if self.on_power_on:
                self.on_power_on()
            proc = subprocess.run(power_on_command(self.tmp, [find_binary("rampart-boot"), *self.boot_args(),
                                                              "--until-healthy"]),
                                  capture_output=True, text=True, env=full_env, timeout=timeout)
            logs.append(proc.stderr)
            if proc.returncode != REBOOT_EXIT:
                break
        proc.stderr = "".join(logs)
        if check is True:
            assert proc.returncode == 0, f"rampart-boot failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        elif check is False:
            assert proc.returncode != 0, f"rampart-boot unexpectedly succeeded:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def status(self):
        proc = run("rampart-boot", "status", "--state", self.state, *self.rot_args, "--output", "json", check=True)
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


def start_boot(device, extra_env=None, until_healthy=True, extra_args=()):
    """One power-on of the device, running in its own session."""
    env = dict(os.environ)
    if extra_env:
        env.update(extra_env)
    args = [find_binary("rampart-boot"), *device.boot_args(), *extra_args]
    if until_healthy:
        args.append("--until-healthy")
    device.power_ons += 1
    if device.on_power_on:
        device.on_power_on()
    return subprocess.Popen(power_on_command(device.tmp, args), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def start_device(device, ready, timeout=60, extra_env=None, extra_args=()):
    """Power the device on and keep it running (supervising), powering it on again each time the
    boot stage asks for a power cycle, until READY() is true. Returns (proc, log of the earlier
    power-ons). Bounded in power-ons and time."""
    logs = []
    deadline = time.monotonic() + timeout
    for _ in range(MAX_POWER_ONS):
        proc = start_boot(device, extra_env=extra_env, until_healthy=False, extra_args=extra_args)
        while proc.poll() is None and not ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None or proc.returncode != REBOOT_EXIT:
            return proc, "".join(logs)
        logs.append(proc.stderr.read())
    raise AssertionError(f"the device did not come up within {MAX_POWER_ONS} power-ons:\n{''.join(logs)}")


def committed(device, version, **kw):
    """Install VERSION (keyword arguments go to Device.bundle), boot it and check it runs."""
    device.install(device.bundle(version, **kw))
    device.boot()
    assert device.running_version() == int(version)
