"""Black-box tests of the boot stage (rampart-boot): verified A/B slots, health-checked commit,
fallback, the monotonic OS version floor, and refusal of tampered, foreign and older bundles."""
import hashlib
import json
import os
import signal
import subprocess
import time

import pytest

from boot_device import (BROKEN_COMPONENT, COMPONENT_ID, GOOD_COMPONENT, REBOOT_EXIT, Device, committed,
                         encode_state, kill_session, power_cycles_supported, start_boot, start_device)
from conftest import find_binary, run


@pytest.fixture
def device(tmp_path):
    return Device(tmp_path)



def test_good_update_commits_and_advances_floor(device):
    committed(device, 1)
    st = device.status()
    assert st["floor"] == 1 and st["committed_version"] == 1 and not st["pending"]
    out = device.install(device.bundle(2)).stdout
    assert "installed version 2 into slot b" in out
    st = device.status()
    assert st["pending"] and st["active"] == "b" and st["attempts_left"] == 2 and st["floor"] == 1
    device.boot()
    assert device.running_version() == 2
    st = device.status()
    assert st["floor"] == 2 and st["committed_version"] == 2 and not st["pending"]
    assert st["active"] == "b" and st["last_result"] == "committed version 2 (slot b)"
    assert st["slots"]["a"]["version"] == 1 and st["slots"]["b"]["version"] == 2


def test_broken_update_rolls_back_and_reports(device):
    committed(device, 1)
    device.install(device.bundle(2, broken=True), attempts=2)
    before = device.power_ons
    proc = device.boot()
    # Both attempts were tried, each in its own power-on, then the device went back to what it had
    # after one more power cycle: never two OS bundles measured in one power-on.
    assert proc.stderr.count("boot.health.failed") == 2
    assert "boot.rollback" in proc.stderr
    assert proc.stderr.count("boot.measured") == 3 and proc.stderr.count("boot.reboot:") == 2, proc.stderr
    assert device.power_ons - before == 3
    assert device.running_version() == 1
    st = device.status()
    assert st["active"] == "a" and not st["pending"] and st["floor"] == 1 and st["committed_version"] == 1
    assert st["last_result"].startswith("rolled back: version 2 in slot b failed")
    assert "exited with status 3" in st["last_result"]
    assert st["bad_slots"] == ["b"]
    # The next update goes into the failed slot and works.
    device.install(device.bundle(3))
    device.boot()
    assert device.running_version() == 3 and device.status()["floor"] == 3


def test_crash_loop_uses_up_attempts(device):
    """A pending slot whose boots never finish (power cut each time) falls back once its
    attempts are spent, without ever passing the health check."""
    committed(device, 1)
    device.install(device.bundle(2), attempts=2)
    for _ in range(2):
        device.boot(check=False, env={"RAMPART_FAULT_POINT": "boot.started"})
    assert device.status()["attempts_left"] == 0
    device.boot()
    assert device.running_version() == 1
    st = device.status()
    assert "no boot attempts left" in st["last_result"] and st["floor"] == 1


def test_older_bundle_refused_at_install(device):
    committed(device, 1)
    committed(device, 2)
    proc = device.install(device.bundle(1), check=False)
    assert proc.returncode == 3
    assert "version 1 is below the device's OS version floor 2: downgrades are refused" in proc.stderr
    proc = device.install(device.bundle(2), check=False)
    assert proc.returncode == 3 and "not newer than the running version 2" in proc.stderr
    st = device.status()
    assert st["active"] == "b" and not st["pending"] and st["slots"]["a"]["version"] == 1


def test_bundle_below_floor_refused_at_boot(device):
    """Slot a holds version 1 below the floor 2; a forged state file tells the boot stage to
    boot it. It is refused and the device boots slot b."""
    committed(device, 1)
    committed(device, 2)
    (device.state / "boot" / "state").write_bytes(encode_state(generation=99, active=0, previous=1, committed=1))
    proc = device.boot()
    assert "below the OS version floor 2" in proc.stderr
    assert device.running_version() == 2
    st = device.status()
    assert st["active"] == "b" and st["floor"] == 2 and "a" in st["bad_slots"]


def test_older_bundles_below_floor_never_boot(device):
    """Both slots end up holding bundles below the floor (an older signed bundle copied over the
    committed one by hand): the boot stage refuses to start anything rather than run an older OS."""
    committed(device, 1)
    committed(device, 2)
    committed(device, 3)  # slot a: 3, slot b: 2
    device.slot_file("a").write_bytes(device.bundle(1).read_bytes())
    proc = device.boot(check=False)
    assert proc.returncode == 3
    assert "version 1 is below the OS version floor 3" in proc.stderr
    assert "version 2 is below the OS version floor 3" in proc.stderr
    assert device.running_version() is None
    assert device.status()["floor"] == 3


def test_tampered_pending_slot_refused_and_device_keeps_old(device):
    committed(device, 1)
    device.install(device.bundle(2))
    data = bytearray(device.slot_file("b").read_bytes())
    data[len(data) // 2] ^= 0x40
    device.slot_file("b").write_bytes(bytes(data))
    proc = device.boot()
    assert "slot b" in proc.stderr and "boot.slot.refused" in proc.stderr
    assert device.running_version() == 1
    st = device.status()
    assert st["active"] == "a" and st["last_result"].startswith("rolled back: ") and st["floor"] == 1
    assert st["slots"]["b"]["verified"] is False


def test_tampered_only_slot_runs_nothing(device):
    committed(device, 1)
    data = bytearray(device.slot_file("a").read_bytes())
    data[-10] ^= 0x01  # inside the signature
    device.slot_file("a").write_bytes(bytes(data))
    proc = device.boot(check=False)
    assert proc.returncode == 3
    assert "no bootable slot" in proc.stderr
    assert device.running_version() is None


def test_foreign_key_and_wrong_type_refused(device, tmp_path):
    committed(device, 1)
    other_key = tmp_path / "other.pem"
    run("rampart", "image-package", "keygen", "--private-key", other_key, "--public-key", tmp_path / "other.pub",
        check=True)
    proc = device.install(device.bundle(5, key=other_key, name="foreign.rpkg"), check=False)
    assert proc.returncode == 3 and "verifying the bundle" in proc.stderr
    proc = device.install(device.bundle(6, image_type="board-config", name="board.rpkg"), check=False)
    assert proc.returncode == 3 and "not an os-bundle" in proc.stderr
    st = device.status()
    assert st["active"] == "a" and not st["pending"] and st["slots"]["b"]["error"] == "empty"


def test_install_refused_while_pending(device):
    committed(device, 1)
    device.install(device.bundle(2))
    proc = device.install(device.bundle(3), check=False)
    assert proc.returncode == 6 and "has not passed its health check yet" in proc.stderr


def test_damaged_state_file_reconstructed(device):
    committed(device, 1)
    committed(device, 2)
    (device.state / "boot" / "state").write_bytes(b"\x00garbage" * 10)
    proc = device.boot()
    assert "boot.state.damaged" in proc.stderr
    assert device.running_version() == 2
    st = device.status()
    assert st["active"] == "b" and st["state"] == "ok"


def test_supervises_until_sigterm_and_restarts(device):
    committed(device, 1)
    device.clear_running()
    proc = start_boot(device, until_healthy=False)
    try:
        deadline = time.monotonic() + 20
        while device.running_version() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert device.running_version() == 1
        time.sleep(0.5)  # past the 100 ms settle time, so the supervisor (not the health check) sees it
        # A component that dies is restarted by the supervisor.
        device.clear_running()
        for _ in range(100):
            out = subprocess.run(["pkill", "-KILL", "-s", str(proc.pid), "-x", "sleep"], capture_output=True)
            if out.returncode == 0:
                break
            time.sleep(0.05)
        assert out.returncode == 0
        deadline = time.monotonic() + 20
        while device.running_version() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert device.running_version() == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        err = proc.stderr.read()
        assert "boot.component.exited" in err and "boot.stopping" in err, err
    finally:
        if proc.poll() is None:
            kill_session(proc)


def test_disk_full_during_install_keeps_running_os(tmp_path):
    mnt = tmp_path / "flash"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], check=True)
    try:
        device = Device(tmp_path, state=mnt / "state")
        committed(device, 1)
        big = device.bundle(2, extra_bytes=1536 * 1024, name="big.rpkg")
        # Leave well under the bundle's size free.
        stat = os.statvfs(mnt)
        free = stat.f_bavail * stat.f_frsize
        with open(mnt / "filler", "wb") as f:
            f.write(b"\0" * max(0, free - 400 * 1024))
        proc = device.install(big, check=False)
        assert proc.returncode != 0
        assert "No space left on device" in proc.stderr and "keeps its current OS" in proc.stderr
        assert not (device.state / "boot" / "slots" / "b" / "bundle.rpkg.tmp").exists()
        st = device.status()
        assert st["active"] == "a" and not st["pending"] and st["slots"]["a"]["version"] == 1
        device.boot()
        assert device.running_version() == 1
        # Once space is back, the same update installs and commits.
        (mnt / "filler").unlink()
        device.install(big)
        device.boot()
        assert device.running_version() == 2
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def monitor_bundle(device, version, broken=False, monitor_args=()):
    """An OS bundle whose runtime is the real security monitor plus the test component; the
    monitor's socket is its readiness signal and the commit goes through it. MONITOR_ARGS are
    added to the monitor's arguments (say, "--tpm2-tcti", "${TCTI}")."""
    payload = device.tmp / f"payload-monitor-{version}"
    (payload / "bin").mkdir(parents=True)
    mon = payload / "bin" / "rampart-monitor"
    mon.write_bytes(find_binary("rampart-monitor").read_bytes())
    mon.chmod(0o755)
    comp = payload / "bin" / "svc.sh"
    comp.write_text(BROKEN_COMPONENT if broken else GOOD_COMPONENT)
    comp.chmod(0o755)
    (payload / "os.json").write_text(json.dumps({
        "version": 1,
        "monitor_socket": "${RUN}/monitor.sock",
        "components": [
            {"name": "monitor", "exec": "bin/rampart-monitor", "ready_file": "${RUN}/monitor.sock",
             "args": ["--state", "${STATE}", "--rot", "${ROT}", "--socket", "${RUN}/monitor.sock",
                      "--allow", "boot=0", "--allow", "agent=0", *monitor_args]},
            {"name": "svc", "exec": "bin/svc.sh", "args": ["${RUN}"], "ready_file": "${RUN}/running-version"},
        ],
        "health": {"settle_ms": 300},
    }))
    out = device.tmp / f"os-monitor-{version}.rpkg"
    run("rampart", "image-package", "pack", "--type", "os-bundle", "--payload-directory", payload,
        "--component-id", COMPONENT_ID, "--name", "rampart-os", "--key", device.key, "--output", out,
        "--version", version, check=True)
    return out


def test_monitor_from_bundle_attests_the_measured_bundle(device):
    """The boot stage measures the bundle before the monitor runs and records it in the monitor's
    measurement log; the monitor started from the bundle then attests that boot, and a commit
    advances the floor through the monitor (which then holds the root of trust)."""
    device.install(monitor_bundle(device, 1))
    device.boot()
    device.install(monitor_bundle(device, 2))
    device.clear_running()
    proc = start_boot(device, until_healthy=False)
    sock = device.state / "boot" / "run" / "monitor.sock"
    try:
        deadline = time.monotonic() + 30
        # Polled without --rot: the boot stage, then the monitor, hold the root of trust.
        def last_result():
            return json.loads(run("rampart-boot", "status", "--state", device.state, "--output", "json",
                                  check=True).stdout)["last_result"]
        while "committed version 2" not in last_result() and time.monotonic() < deadline:
            time.sleep(0.1)
        st = json.loads(run("rampart-boot", "status", "--state", device.state, "--monitor-socket", sock,
                            "--output", "json", check=True).stdout)
        assert st["last_result"] == "committed version 2 (slot b)" and st["floor"] == 2
        nonce = os.urandom(32).hex()
        ev = device.tmp / "ev.bin"
        run("rampart-os", "attest", "--socket", sock, "--nonce", nonce, "--out", ev, check=True)
        shown = json.loads(run("rampart-os", "evidence-show", ev, check=True).stdout)
        bundle = [m for m in shown["measurements"] if m["name"] == "os-bundle"]
        assert bundle and bundle[-1]["version"] == "2" and bundle[-1]["pcr"] == 8
        assert bundle[-1]["sha256"] == hashlib.sha256(device.slot_file("b").read_bytes()).hexdigest()
        pub = device.tmp / "identity.pub"
        info = json.loads(run("rampart-os", "identity", "--socket", sock, "--output", "json", check=True).stdout)
        pub.write_text(info["public_key_pem"])
        run("rampart-os", "evidence-verify", ev, "--public-key", pub, "--nonce", nonce, check=True)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            kill_session(proc)


def attest_os_measurements(device, sock):
    """Evidence from the running monitor, verified against the device identity; returns its
    os-bundle measurements (the service refuses evidence with more than one)."""
    nonce = os.urandom(32).hex()
    ev = device.tmp / "ev.bin"
    run("rampart-os", "attest", "--socket", sock, "--nonce", nonce, "--out", ev, check=True)
    pub = device.tmp / "identity.pub"
    info = json.loads(run("rampart-os", "identity", "--socket", sock, "--output", "json", check=True).stdout)
    pub.write_text(info["public_key_pem"])
    run("rampart-os", "evidence-verify", ev, "--public-key", pub, "--nonce", nonce, check=True)
    shown = json.loads(run("rampart-os", "evidence-show", ev, check=True).stdout)
    return [m for m in shown["measurements"] if m["name"] == "os-bundle"]


@pytest.mark.skipif(not power_cycles_supported(), reason="simulated power cycles need root and unshare")
def test_fallback_reboots_and_attests_without_extra_restart(device):
    """A broken update fails its health check in each of its attempts; every attempt and the
    fallback happen after a power cycle (the boot stage exits asking for one), so the device that
    comes back on the old version attests at once: its log holds exactly one OS measurement."""
    device.install(monitor_bundle(device, 1))
    device.boot()
    device.install(monitor_bundle(device, 2, broken=True), attempts=2)
    device.clear_running()
    sock = device.state / "boot" / "run" / "monitor.sock"
    before = device.power_ons
    proc, earlier = start_device(device, lambda: device.running_version() == 1 and sock.exists())
    try:
        assert proc.poll() is None, proc.stderr.read()
        assert device.power_ons - before == 3, earlier
        assert earlier.count("boot.health.failed") == 2 and "boot.rollback" in earlier, earlier
        st = device.status()
        assert st["active"] == "a" and not st["pending"] and st["bad_slots"] == ["b"]
        assert st["last_result"].startswith("rolled back: version 2 in slot b failed")
        bundle = attest_os_measurements(device, sock)
        assert len(bundle) == 1, bundle
        assert bundle[0]["version"] == "1"
        assert bundle[0]["sha256"] == hashlib.sha256(device.slot_file("a").read_bytes()).hexdigest()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            kill_session(proc)


def test_reboot_exit_status_documented_in_usage():
    out = run("rampart-boot", "--help", check=True).stdout
    assert f"{REBOOT_EXIT} reboot requested" in out and "--reboot exit|system" in out


def requesting_bundle(device, version, script, before_ready=""):
    """An OS bundle whose one component runs BEFORE_READY, signals readiness, then runs SCRIPT."""
    payload = device.tmp / f"payload-request-{version}"
    (payload / "bin").mkdir(parents=True)
    comp = payload / "bin" / "svc.sh"
    comp.write_text('#!/bin/sh\n' + before_ready + 'echo "$RAMPART_OS_VERSION" > "$1/running-version.tmp"\n'
                    'mv "$1/running-version.tmp" "$1/running-version"\n' + script)
    comp.chmod(0o755)
    (payload / "os.json").write_text(json.dumps({
        "version": 1,
        "components": [{"name": "svc", "exec": "bin/svc.sh", "args": ["${RUN}"],
                        "ready_file": "${RUN}/running-version"}],
        "health": {"settle_ms": 100},
    }))
    out = device.tmp / f"os-request-{version}.rpkg"
    run("rampart", "image-package", "pack", "--type", "os-bundle", "--payload-directory", payload,
        "--component-id", COMPONENT_ID, "--name", "rampart-os", "--key", device.key, "--output", out,
        "--version", version, check=True)
    return out


def process_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_stopping_a_component_kills_what_it_left_in_its_process_group(device):
    """A component whose main process exits on SIGTERM while a child it forked ignores SIGTERM:
    the boot stage must not leave that child running after it stopped the component."""
    before = ('(trap "" TERM; exec sleep 600) </dev/null >/dev/null 2>&1 &\n'
              'echo $! > "$1/straggler.pid"\n')
    device.install(requesting_bundle(device, 1, "trap 'exit 0' TERM\nsleep 600 &\nwait\n", before_ready=before))
    pid = None
    try:
        device.boot(timeout=120)
        pid = int((device.state / "boot" / "run" / "straggler.pid").read_text())
        for _ in range(100):  # bounded: the kill is sent before rampart-boot exits; reaping may lag
            if not process_alive(pid):
                break
            time.sleep(0.05)
        assert not process_alive(pid), f"the component's child {pid} outlived its stop"
    finally:
        if pid and process_alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("script", [
    # Asks for a reboot and exits right away: its pid may be reaped before the request is read.
    'sleep 0.5\nkill -USR1 "$RAMPART_BOOT_PID"\nexit 0\n',
    # Asks for a reboot while the boot stage is stopping the components (SIGTERM from the test).
    'trap \'[ -e "$RAMPART_STATE/request-on-term" ] && kill -USR1 "$RAMPART_BOOT_PID"; exit 0\' TERM\n'
    'sleep 600 &\nwait\n',
], ids=["exit-after-request", "request-while-stopping"])
def test_reboot_request_from_component_that_exits_counts(device, script):
    device.install(requesting_bundle(device, 1, script))
    device.boot()
    device.clear_running()
    proc = start_boot(device, until_healthy=False)
    try:
        deadline = time.monotonic() + 20
        while device.running_version() is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert device.running_version() == 1
        if "trap" in script:
            (device.state / "request-on-term").touch()
            time.sleep(0.3)  # the trap is set once the component has written its ready file
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == REBOOT_EXIT, proc.stderr.read()
        err = proc.stderr.read()
        assert "boot.power.requested" in err and "boot.power.refused" not in err, err
    finally:
        if proc.poll() is None:
            kill_session(proc)
