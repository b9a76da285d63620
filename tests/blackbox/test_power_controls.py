"""PowerControls with real effects: apps run by the real application manager, itself a component
of an OS bundle started by the real boot stage (rampart-boot, soft root of trust, simulated power
cycles). ForceReboot stops every component (apps get their SIGTERM) and the device powers on
again; an app without the grant gets EPERM and the refusal is logged; ForcePowerDown stops the
device tree cleanly; SetPowerProfile is recorded and survives the reboot; an app manager that no
boot stage supervises refuses reboot and power-down with ENOTSUP."""
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from boot_device import (COMPONENT_ID, REBOOT_EXIT, Device, kill_session, power_cycles_supported, session_pids,
                         start_device)
from conftest import find_binary, run
from test_sandbox import remove_cgroups

pytestmark = pytest.mark.skipif(not power_cycles_supported(),
                                reason="apps need root (containers) and power cycles need unshare")


def wait_for(predicate, seconds=30):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


class PoweredDevice:
    """A device whose OS bundle runs the application manager (with its loader and brokers)."""

    def __init__(self, tmp):
        self.dev = Device(tmp, settle_ms=300, health_timeout=20)
        self.cgroup = f"rampart-power-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.appmgr_state = self.dev.state / "appmgr"
        self.sock = self.dev.state / "boot" / "run" / "appmgr.sock"
        self.proc = None
        payload = self.dev.tmp / "payload-appmgr"
        (payload / "bin").mkdir(parents=True)
        for name in ("rampart-appmgr", "rampart-app-loader", "rampart-periph-broker"):
            shutil.copy(find_binary(name), payload / "bin" / name)
        (payload / "os.json").write_text(json.dumps({
            "version": 1,
            "components": [{"name": "appmgr", "exec": "bin/rampart-appmgr", "ready_file": "${RUN}/appmgr.sock",
                            "args": ["--state", "${STATE}/appmgr", "--cgroup-parent", self.cgroup, "--no-prewarm",
                                     "daemon", "--socket", "${RUN}/appmgr.sock"]}],
            "health": {"settle_ms": 300},
        }))
        bundle = self.dev.tmp / "os-appmgr.rpkg"
        run("rampart", "image-package", "pack", "--type", "os-bundle", "--payload-directory", payload,
            "--component-id", COMPONENT_ID, "--name", "rampart-os", "--key", self.dev.key, "--output", bundle,
            "--version", "1", check=True)
        self.dev.install(bundle)

    def app(self, name, args, power=None, binary="power_probe"):
        cid = str(uuid.uuid4())
        root = self.dev.tmp / f"app-{name}"
        (root / "bin").mkdir(parents=True)
        shutil.copy(find_binary(binary), root / "bin" / "app")
        caps = {"PowerControls": power} if power else {}
        (root / "app_manifest.json").write_text(json.dumps({
            "SchemaVersion": 1, "Name": name, "ComponentId": cid, "EntryPoint": "/bin/app", "CmdArgs": args,
            "ApplicationType": "Default", "Capabilities": caps}))
        run("rampart-appmgr", "--state", self.appmgr_state, "--cgroup-parent", self.cgroup, "install", root,
            check=True)
        return cid

    def power_on(self):
        if self.sock.exists():
            self.sock.unlink()  # the manager of this power-on makes a new one
        self.proc, earlier = start_device(self.dev, lambda: self.sock.exists())
        assert self.proc.poll() is None, earlier + self.proc.stderr.read()

    def ctl(self, *args, check=True):
        return run("rampart-appmgr", "ctl", "--socket", self.sock, *args, check=check)

    def status(self, cid):
        return json.loads(self.ctl("status", cid).stdout)

    def log(self, cid):
        path = self.appmgr_state / "apps" / cid / "log"
        return path.read_text() if path.exists() else ""

    def wait_exit(self, seconds=30):
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError("the device did not stop")
        return self.proc.returncode, self.proc.stderr.read()

    def close(self):
        if self.proc and self.proc.poll() is None:
            kill_session(self.proc)
        remove_cgroups(self.cgroup)


@pytest.fixture
def powered(tmp_path):
    d = PoweredDevice(tmp_path)
    yield d
    d.close()


def test_force_reboot_reboots_the_device_and_apps_get_their_shutdown(powered):
    d = powered
    sleeper = d.app("sleeper", ["sleep-term"], binary="sbx_trivial")
    denied = d.app("denied", ["reboot"])
    profile = d.app("profile", ["profile", "0"], power=["SetPowerProfile"])
    rebooter = d.app("rebooter", ["reboot"], power=["ForceReboot"])
    d.power_on()
    first = d.dev.power_ons
    d.ctl("start", sleeper)
    old_pid = wait_for(lambda: d.status(sleeper).get("pid"))
    assert old_pid

    # Without ForceReboot: EPERM for the app, the refusal in its log, and the device keeps running.
    d.ctl("start", denied)
    assert wait_for(lambda: "reboot err EPERM" in d.log(denied)), d.log(denied)
    assert "PowerControls does not list this action" in d.log(denied)
    assert d.proc.poll() is None

    # SetPowerProfile: recorded in the device state (this platform has no governor: logged so).
    d.ctl("start", profile)
    assert wait_for(lambda: "profile ok" in d.log(profile)), d.log(profile)
    assert (d.appmgr_state / "power-profile").read_text() == "PowerSaver"

    # ForceReboot: every component stops (the apps get SIGTERM), the boot stage asks for a power cycle.
    d.ctl("start", rebooter)
    status, err = d.wait_exit()
    assert status == REBOOT_EXIT, err
    assert "boot.power.requested" in err and "boot.rebooting" in err, err
    assert "power.request.sent" in err and "rebooter" in err
    # The request may not return before the shutdown reaches the app (as on a real device).
    assert "reboot err" not in d.log(rebooter) and "got SIGTERM" in d.log(rebooter), d.log(rebooter)
    assert "got SIGTERM" in d.log(sleeper), err + d.log(sleeper)
    assert not session_pids(d.proc.pid)

    # The next power-on: a new boot, a new app manager that restores the profile, apps start again.
    d.power_on()
    assert d.dev.power_ons == first + 1
    assert d.status(sleeper)["state"] == "stopped"
    d.ctl("start", sleeper)
    new_pid = wait_for(lambda: d.status(sleeper).get("pid"))
    assert new_pid and d.status(sleeper)["state"] == "running"
    d.proc.send_signal(15)
    status, err = d.wait_exit()
    assert status == 0, err
    assert "restoring the power profile PowerSaver" in err, err


def test_force_power_down_stops_the_device_tree(powered):
    d = powered
    sleeper = d.app("sleeper", ["sleep-term"], binary="sbx_trivial")
    downer = d.app("downer", ["powerdown"], power=["ForcePowerDown"])
    d.power_on()
    d.ctl("start", sleeper)
    assert wait_for(lambda: d.status(sleeper).get("state") == "running")
    d.ctl("start", downer)
    status, err = d.wait_exit()
    # Powered down: the boot stage exits 0 (no power cycle asked), nothing of the device is left.
    assert status == 0, err
    assert "boot.powering-off" in err and "boot.rebooting" not in err, err
    assert "powerdown err" not in d.log(downer) and "got SIGTERM" in d.log(downer), d.log(downer)
    assert "got SIGTERM" in d.log(sleeper)
    assert not session_pids(d.proc.pid)


def test_without_a_boot_stage_reboot_is_refused(powered, tmp_path):
    d = powered
    rebooter = d.app("rebooter", ["reboot"], power=["ForceReboot"])
    sock = tmp_path / "appmgr.sock"
    # A process that is not the manager's parent, named as its boot stage: never believed (and so
    # never signalled: it stays alive).
    decoy = subprocess.Popen(["sleep", "60"])
    env = dict(os.environ)
    env["RAMPART_BOOT_PID"] = str(decoy.pid)
    daemon = subprocess.Popen([str(find_binary("rampart-appmgr")), "--state", str(d.appmgr_state),
                               "--cgroup-parent", d.cgroup, "--no-prewarm", "daemon", "--socket", str(sock)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert wait_for(lambda: sock.exists()), "daemon did not listen"
        run("rampart-appmgr", "ctl", "--socket", sock, "start", rebooter, check=True)
        assert wait_for(lambda: "reboot err ENOTSUP" in d.log(rebooter)), d.log(rebooter)
        assert "no boot stage supervises" in d.log(rebooter)
        assert decoy.poll() is None
    finally:
        daemon.terminate()
        _, err = daemon.communicate(timeout=30)
        decoy.kill()
        decoy.wait()
    assert "power.request.unavailable" in err, err
