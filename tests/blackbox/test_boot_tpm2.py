"""The A/B update and rollback story of the boot stage on the tpm2 root of trust, against swtpm on
loopback. Every power-on of the device is also a power cycle of the TPM, as on a board: the test
sends swtpm the hardware initialisation signal (_TPM_Init, `swtpm_ioctl -i`) before each
power-on, which drops the TPM's volatile state (PCRs back to zero, TPM2_Startup needed again)
while its NV (the identity's hierarchy, the version-floor counter) persists.

The OS version floor is read through rampart (rampart-boot status, the monitor) and, when
tpm2-tools are installed, straight from the TPM's NV counter; PCR 8 is read straight from the
TPM too, to show that a power-on's measurement is fresh and not accumulated from before."""
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from boot_device import (Device, encode_state, kill_session, power_cycles_supported, session_pids, start_boot,
                         start_device)
from conftest import run
from test_boot import attest_os_measurements, monitor_bundle
from test_tpm2 import SWTPM, swtpm  # noqa: F401  (fixture)

SWTPM_IOCTL = shutil.which("swtpm_ioctl")
TPM2_TOOLS = all(shutil.which(t) for t in ("tpm2_pcrread", "tpm2_nvread"))
pytestmark = [
    pytest.mark.skipif(SWTPM is None or SWTPM_IOCTL is None,
                       reason="swtpm and swtpm_ioctl are not installed (apt-get install swtpm swtpm-tools)"),
    pytest.mark.skipif(not power_cycles_supported(), reason="simulated power cycles need root and unshare"),
]

# The rot's NV counter for the OS floor (counter 0) and the write-once index of counter bases
# (src/device/rot/rot_tpm2.c): the logical floor is the hardware count minus its base.
NV_FLOOR = 0x01525000
PCR_OS = 8
# The monitor started from a bundle reaches the same TPM as the boot stage.
TPM2_MONITOR_ARGS = ("--tpm2-tcti", "${TCTI}")


class Tpm:
    """The swtpm of the `swtpm` fixture, seen as the board's TPM chip."""

    def __init__(self, tcti):
        self.tcti = tcti
        port = int(tcti.rsplit("port=", 1)[1])
        self.ctrl = f"127.0.0.1:{port + 1}"
        self.resets = 0
        self.state = None  # the device's state directory, for the NV counters' authValue

    def power_cycle(self):
        """_TPM_Init: the TPM forgets its volatile state (PCRs) and waits for TPM2_Startup."""
        proc = subprocess.run([SWTPM_IOCTL, "--tcp", self.ctrl, "-i"], capture_output=True, text=True, timeout=20)
        assert proc.returncode == 0, f"swtpm_ioctl -i failed: {proc.stdout}{proc.stderr}"
        self.resets += 1

    def _tool(self, *args):
        proc = subprocess.run([*args, "-T", self.tcti], capture_output=True, timeout=30)
        assert proc.returncode == 0, f"{args[0]} failed: {proc.stderr.decode(errors='replace')}"
        return proc.stdout

    def pcr(self, index):
        """PCR INDEX (SHA-256) read straight from the TPM, or None without tpm2-tools. Only while
        the device is off: swtpm serves one connection at a time and the monitor keeps one."""
        if not TPM2_TOOLS:
            return None
        with tempfile.NamedTemporaryFile() as f:
            self._tool("tpm2_pcrread", f"sha256:{index}", "-o", f.name)
            out = pathlib.Path(f.name).read_bytes()
        assert len(out) == 32, out
        return out

    def nv_counter(self, index):
        """The raw hardware count of NV counter INDEX, or None without tpm2-tools."""
        if not TPM2_TOOLS:
            return None
        auth = (self.state / "rot-tpm2" / "nv-auth").read_bytes()
        out = self._tool("tpm2_nvread", "-C", hex(index), "-P", "hex:" + auth.hex(), "-s", "8", hex(index))
        assert len(out) == 8, out
        return int.from_bytes(out, "big")


@pytest.fixture
def tpm(swtpm):  # noqa: F811
    return Tpm(swtpm)


@pytest.fixture
def device(tmp_path, tpm):
    dev = Device(tmp_path, rot="tpm2", tcti=tpm.tcti, on_power_on=tpm.power_cycle)
    tpm.state = dev.state
    # Everything the root of trust holds is in the TPM: no soft backend state on this device.
    assert (dev.state / "rot-tpm2").is_dir() and not (dev.state / "rot-soft").exists()
    return dev


def sha256(data):
    return hashlib.sha256(data).digest()


def status_no_rot(device, sock=None):
    """rampart-boot status while the device runs (the boot stage, then the monitor, hold the root of
    trust): the floor comes through the monitor's socket."""
    args = ["status", "--state", device.state, "--output", "json"]
    if sock:
        args += ["--monitor-socket", sock]
    return json.loads(run("rampart-boot", *args, check=True).stdout)


def run_until_up(device, version, sock):
    """Power the device on (TPM reset included) and keep it running until VERSION runs, its
    monitor answers and the boot decision is saved; returns (proc, log of earlier power-ons)."""
    def up():
        return (device.running_version() == version and sock.exists()
                and not status_no_rot(device)["pending"])
    # What an earlier power-on left behind must not count as this one's readiness.
    device.clear_running()
    sock.unlink(missing_ok=True)
    proc, earlier = start_device(device, up)
    assert proc.poll() is None, f"{earlier}{proc.stderr.read()}"
    return proc, earlier


def power_off(proc):
    proc.terminate()
    assert proc.wait(timeout=20) == 0, proc.stderr.read()


def check_one_fresh_measurement(device, sock, version, slot):
    """The monitor's quote, verified against the TPM identity, shows exactly one OS bundle: VERSION
    from SLOT, measured in this power-on."""
    bundle = attest_os_measurements(device, sock)
    assert len(bundle) == 1, f"the measurement log holds more than this power-on's OS bundle: {bundle}"
    assert bundle[0]["version"] == str(version) and bundle[0]["pcr"] == PCR_OS
    assert bundle[0]["sha256"] == hashlib.sha256(device.slot_file(slot).read_bytes()).hexdigest()


def check_pcr_is_one_boot(device, tpm, slot):
    """PCR 8, straight from the TPM: one extend of SLOT's bundle from zero, nothing left over from
    an earlier power-on."""
    value = tpm.pcr(PCR_OS)
    if value is not None:
        want = sha256(bytes(32) + sha256(device.slot_file(slot).read_bytes()))
        assert value == want, f"PCR {PCR_OS} is {value.hex()}, want one measurement of slot {slot}: {want.hex()}"


def test_good_update_on_tpm2_advances_nv_floor_and_measures_fresh(device, tpm):
    sock = device.state / "boot" / "run" / "monitor.sock"
    device.install(monitor_bundle(device, 1, monitor_args=TPM2_MONITOR_ARGS))
    device.boot()
    assert device.running_version() == 1
    st = device.status()
    assert st["floor"] == 1 and st["committed_version"] == 1, st
    raw_v1 = tpm.nv_counter(NV_FLOOR)

    device.install(monitor_bundle(device, 2, monitor_args=TPM2_MONITOR_ARGS))
    st = device.status()
    assert st["pending"] and st["active"] == "b" and st["floor"] == 1, st
    resets = tpm.resets
    proc, _ = run_until_up(device, 2, sock)
    try:
        assert tpm.resets == resets + 1
        st = status_no_rot(device, sock)
        assert st["last_result"] == "committed version 2 (slot b)" and st["floor"] == 2, st
        check_one_fresh_measurement(device, sock, 2, "b")
        power_off(proc)
    finally:
        if proc.poll() is None:
            kill_session(proc)
    # The floor lives in the TPM's NV counter: one increment for the one commit.
    st = device.status()
    assert st["floor"] == 2 and st["committed_version"] == 2 and st["active"] == "b", st
    if raw_v1 is not None:
        assert tpm.nv_counter(NV_FLOOR) == raw_v1 + 1
    check_pcr_is_one_boot(device, tpm, "b")

    # Power cycle: the TPM's PCRs start from zero again, the floor stays; v2 boots and the quote
    # shows this power-on's measurement of v2 only.
    proc, earlier = run_until_up(device, 2, sock)
    try:
        assert tpm.resets == resets + 2, earlier
        assert status_no_rot(device, sock)["floor"] == 2
        check_one_fresh_measurement(device, sock, 2, "b")
        power_off(proc)
    finally:
        if proc.poll() is None:
            kill_session(proc)
    check_pcr_is_one_boot(device, tpm, "b")
    assert device.status()["floor"] == 2


def test_broken_update_on_tpm2_falls_back_floor_kept(device, tpm):
    sock = device.state / "boot" / "run" / "monitor.sock"
    for v in (1, 2):
        device.install(monitor_bundle(device, v, monitor_args=TPM2_MONITOR_ARGS))
        device.boot()
    assert device.running_version() == 2 and device.status()["floor"] == 2
    raw = tpm.nv_counter(NV_FLOOR)

    device.install(monitor_bundle(device, 3, broken=True, monitor_args=TPM2_MONITOR_ARGS), attempts=2)
    assert device.status()["active"] == "a"
    before, resets = device.power_ons, tpm.resets
    proc, earlier = run_until_up(device, 2, sock)
    try:
        # Two attempts, each in its own power-on, then the fallback after one more power cycle;
        # the TPM was reset before each of them.
        assert device.power_ons - before == 3 and tpm.resets - resets == 3, earlier
        assert earlier.count("boot.health.failed") == 2 and "boot.rollback" in earlier, earlier
        st = status_no_rot(device, sock)
        assert st["active"] == "b" and not st["pending"] and st["bad_slots"] == ["a"], st
        assert st["last_result"].startswith("rolled back: version 3 in slot a failed"), st
        assert st["floor"] == 2 and st["committed_version"] == 2, st
        check_one_fresh_measurement(device, sock, 2, "b")
        power_off(proc)
    finally:
        if proc.poll() is None:
            kill_session(proc)
    check_pcr_is_one_boot(device, tpm, "b")
    if raw is not None:
        assert tpm.nv_counter(NV_FLOOR) == raw, "a bundle that failed its health check moved the NV floor"
    assert device.status()["floor"] == 2
    # Version 1 is still signed and valid, but below the floor the TPM holds.
    refused = device.install(device.bundle(1), check=False)
    assert refused.returncode == 3, refused.stderr
    assert "version 1 is below the device's OS version floor 2: downgrades are refused" in refused.stderr
    assert device.status()["slots"]["a"]["version"] == 3


@pytest.mark.parametrize("point", ["commit.before-state", "commit.after-state", "commit.after-floor"])
@pytest.mark.parametrize("with_monitor", [False, True], ids=["rot-direct", "via-monitor"])
def test_power_cut_around_commit_on_tpm2(device, tpm, point, with_monitor):
    """The whole device (boot stage, and the monitor that advances the floor when the bundle runs
    one) loses power right before the commit is saved, right after, or right after the floor
    moved."""
    def bundle(v):
        return monitor_bundle(device, v, monitor_args=TPM2_MONITOR_ARGS) if with_monitor else device.bundle(v)
    device.install(bundle(1))
    device.boot()
    raw = tpm.nv_counter(NV_FLOOR)
    device.install(bundle(2), attempts=2)
    device.clear_running()
    proc = start_boot(device, extra_env={"RAMPART_FAULT_POINT": point})
    try:
        rc = proc.wait(timeout=60)
    finally:
        kill_session(proc)  # the whole device process tree goes with the power, and the TPM's
        tpm.power_cycle()   # volatile state (PCRs, loaded objects) with it
    assert rc == -9, f"fault point {point} not reached (rc {rc}): {proc.stderr.read()}"

    # What the TPM and the disk hold right after the cut: the floor never ahead of the committed
    # version (it follows the commit on disk), and never below what was committed before.
    st = device.status()
    committed_on_disk = 2 if point != "commit.before-state" else 1
    assert st["committed_version"] == committed_on_disk, json.dumps(st)
    assert st["floor"] == (2 if point == "commit.after-floor" else 1), json.dumps(st)
    if raw is not None:
        assert tpm.nv_counter(NV_FLOOR) - raw == st["floor"] - 1

    # Power on again (TPM reset): a verified bundle runs, the update ends committed and the floor
    # caught up with it.
    proc = device.boot()
    assert device.running_version() == 2
    if point == "commit.after-state":
        assert "boot.floor.advanced" in proc.stderr, proc.stderr
    st = device.status()
    assert st["floor"] == 2 and st["committed_version"] == 2 and not st["pending"] and st["active"] == "b", st
    assert st["slots"]["b"]["verified"] and st["slots"]["b"]["version"] == 2
    if raw is not None:
        assert tpm.nv_counter(NV_FLOOR) == raw + 1
    # The older bundle never comes back: refused at install, and refused at boot when a forged
    # state file points at slot a (version 1) after the TPM's reset.
    refused = device.install(device.bundle(1), check=False)
    assert refused.returncode == 3 and "below the device's OS version floor 2" in refused.stderr, refused.stderr
    (device.state / "boot" / "state").write_bytes(encode_state(generation=99, active=0, previous=1, committed=1))
    proc = device.boot()
    assert "version 1 is below the OS version floor 2" in proc.stderr, proc.stderr
    assert device.running_version() == 2 and device.status()["active"] == "b"


def test_power_cuts_after_attesting_keep_the_identity_usable(device, tpm):
    """A power cut gives the TPM no TPM2_Shutdown. Had the identity key been used since the last
    one and were it subject to dictionary-attack protection, the TPM would count each such cut as
    a failed authorisation and, after a few (three on swtpm), refuse every quote: a device that
    loses power now and then would lose its attestation. The identity key has no authValue to
    guess, so it is created exempt (noDA) and quotes keep working across any number of cuts."""
    sock = device.state / "boot" / "run" / "monitor.sock"
    device.install(monitor_bundle(device, 1, monitor_args=TPM2_MONITOR_ARGS))
    device.boot()
    for cut in range(5):
        proc, earlier = run_until_up(device, 1, sock)
        try:
            try:
                check_one_fresh_measurement(device, sock, 1, "a")
            except AssertionError as e:
                raise AssertionError(f"attestation failed after {cut} power cuts: {e}") from e
        finally:
            kill_session(proc)


def test_monitor_killed_is_restarted_and_attests_on_tpm2(device, tpm):
    """The monitor dies without closing the root of trust (SIGKILL, no power cut): a TPM reached
    without a resource manager (swtpm here, a raw /dev/tpm0 on a board) keeps the objects it had
    loaded. The boot stage's supervisor restarts it, and the new monitor must still be able to load
    the identity and attest this power-on, not fail for want of TPM object slots until a reboot."""
    sock = device.state / "boot" / "run" / "monitor.sock"
    device.install(monitor_bundle(device, 1, monitor_args=TPM2_MONITOR_ARGS))
    device.boot()
    proc, _ = run_until_up(device, 1, sock)
    try:
        check_one_fresh_measurement(device, sock, 1, "a")
        for kill in range(2):
            monitors = [pid for pid in session_pids(proc.pid)
                        if b"rampart-monitor" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]]
            assert len(monitors) == 1, monitors
            os.kill(monitors[0], signal.SIGKILL)
            # Restarted after the supervisor's backoff (1 s, then 2 s); bounded wait.
            deadline = time.monotonic() + 30
            for attempt in range(150):
                try:
                    check_one_fresh_measurement(device, sock, 1, "a")
                    break
                except AssertionError as e:
                    assert proc.poll() is None, proc.stderr.read()
                    if time.monotonic() > deadline or attempt == 149:
                        kill_session(proc)
                        raise AssertionError(f"no attestation after the monitor was killed {kill + 1} times: {e}\n"
                                             f"device log: {proc.stderr.read()[-3000:]}")
                    time.sleep(0.2)
        power_off(proc)
        log = proc.stderr.read()
        assert log.count("component 'monitor' was killed by signal 9") == 2, log
    finally:
        if proc.poll() is None:
            kill_session(proc)
