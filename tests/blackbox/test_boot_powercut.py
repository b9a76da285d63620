"""Power cuts during OS install, slot switch, boot and commit: the whole device process tree is
SIGKILLed at a random point (a named fault point compiled into rampart-boot, RAMPART_FAULT_POINT,
or a random delay), then the device boots again. After every cut a verified bundle runs, its
version is one that was committed or the newest healthy update, the version floor never goes
down, and the device eventually reaches the newest good version (the update client retries an
install that was lost). RAMPART_POWERCUT_ITERATIONS (default 200; 60 in a sanitizer build) and
RAMPART_POWERCUT_SEED select the run; tests/soak/boot_powercut.sh runs thousands."""
import json
import os
import pathlib
import random
import shutil
import subprocess
import tempfile
import time

import pytest

from boot_device import REBOOT_EXIT, Device, kill_session, session_pids
from conftest import BUILD, find_binary

INSTALL_POINTS = ["install.verified", "install.copy", "install.before-rename", "install.after-rename",
                  "install.after-switch"]
BOOT_POINTS = ["boot.attempt-counted", "boot.measured", "boot.extracted", "boot.started"]
COMMIT_POINTS = ["commit.before-state", "commit.after-state", "commit.after-floor"]
ROLLBACK_POINTS = ["rollback.before-state", "rollback.after-state"]


def sanitized_build():
    """True for an ASan/UBSan build, where every process start costs several times more."""
    try:
        opts = json.loads((BUILD / "meson-info" / "intro-buildoptions.json").read_text())
    except (OSError, ValueError):
        return False
    return any(o.get("name") == "b_sanitize" and o.get("value") not in ("none", "") for o in opts)


# 200 cuts in the normal build; the sanitizer build repeats a shorter loop to catch memory errors
# on the same recovery paths without tripling the suite's time.
ITERATIONS = int(os.environ.get("RAMPART_POWERCUT_ITERATIONS", "60" if sanitized_build() else "200"))
MAX_SECONDS = int(os.environ.get("RAMPART_POWERCUT_MAX_SECONDS", "900"))


def run_device(args, env=None, cut_after=None):
    """Run rampart-boot in its own session. With CUT_AFTER seconds, cut the power then (if it is
    still running). Returns (returncode, stderr). Afterwards no process of the device may remain."""
    full_env = dict(os.environ)
    full_env.pop("RAMPART_FAULT_POINT", None)
    if env:
        full_env.update(env)
    proc = subprocess.Popen([str(find_binary("rampart-boot")), *map(str, args)], env=full_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    if cut_after is not None:
        try:
            proc.wait(timeout=cut_after)
        except subprocess.TimeoutExpired:
            kill_session(proc)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        kill_session(proc)
        raise
    # SIGKILL and the reaping of orphans by init are asynchronous: give them a bounded moment.
    deadline = time.monotonic() + 5
    while session_pids(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    left = [open(f"/proc/{pid}/stat").read() for pid in session_pids(proc.pid)]
    assert not left, f"processes of the device survived the cut: {left}"
    return proc.returncode, err


@pytest.fixture
def flash_dir(tmp_path):
    """The device's state on tmpfs when there is one: a SIGKILL cut loses no page cache, so fsync
    latency adds nothing to what is tested and only slows the loop down."""
    shm = pathlib.Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    d = pathlib.Path(tempfile.mkdtemp(prefix="rampart-powercut-", dir=shm))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_power_cuts(flash_dir):
    tmp_path = flash_dir
    seed = int(os.environ.get("RAMPART_POWERCUT_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    device = Device(tmp_path, settle_ms=50, health_timeout=5)
    device.install(device.bundle(1))
    device.boot()
    committed = {1}
    current, floor, next_version = 1, 1, 2
    cuts = {"hook": 0, "time": 0}
    start = time.monotonic()
    for it in range(ITERATIONS):
        assert time.monotonic() - start < MAX_SECONDS, f"seed {seed}: over {MAX_SECONDS} s after {it} iterations"
        v = next_version
        next_version += 1
        broken = rng.random() < 0.15
        bundle = device.bundle(v, broken=broken)
        for old in tmp_path.glob(f"os-{v - 3}*.rpkg"):
            old.unlink()
        # A good update is cut while committing, a broken one while falling back.
        boot_points = BOOT_POINTS + (ROLLBACK_POINTS if broken else COMMIT_POINTS)
        point = rng.choice(INSTALL_POINTS + boot_points + ["time"] * 4)
        where = f"seed {seed} iteration {it} version {v}{' (broken)' if broken else ''} cut at {point}"

        install = ["install", "--state", device.state, "--rot", "soft", "--attempts", "2", bundle]
        if point in INSTALL_POINTS:
            rc, err = run_device(install, env={"RAMPART_FAULT_POINT": point})
            assert rc == -9, f"{where}: fault point not reached (rc {rc}): {err}"
            cuts["hook"] += 1
        else:
            rc, err = run_device(install)
            assert rc == 0, f"{where}: install failed: {err}"
        device.clear_running()
        if point in boot_points:
            # A failed attempt asks for a power cycle before the next attempt or the fallback.
            for _ in range(4):
                rc, err = run_device(device.boot_args() + ["--until-healthy"], env={"RAMPART_FAULT_POINT": point})
                if rc != REBOOT_EXIT:
                    break
            assert rc == -9, f"{where}: fault point not reached (rc {rc}): {err}"
            cuts["hook"] += 1
        elif point == "time":
            run_device(device.boot_args() + ["--until-healthy"], cut_after=rng.uniform(0.0, 0.35))
            cuts["time"] += 1

        # Recovery: boot until the update is decided, retrying a lost install as the agent would.
        for attempt in range(8):
            rc, err = run_device(device.boot_args() + ["--until-healthy"])
            assert rc in (0, REBOOT_EXIT), f"{where}: boot after the cut failed: {err}"
            running = device.running_version()
            st = device.status()
            assert st["floor"] >= floor, f"{where}: floor went down {floor} -> {st['floor']}"
            floor = st["floor"]
            if rc == REBOOT_EXIT:
                continue  # the decision continues after a power cycle
            assert running is not None, f"{where}: nothing runs"
            assert running in committed or (running == v and not broken), f"{where}: runs {running}"
            assert running >= floor, f"{where}: runs {running} below the floor {floor}"
            if st["pending"]:
                continue
            if broken or running == v:
                break
            rc, err = run_device(install)
            assert rc == 0, f"{where}: retrying the install failed: {err}"
        else:
            raise AssertionError(f"{where}: no decision after 8 boots")
        if not broken:
            committed.add(v)
            current = v
        assert running == current, where
        assert st["floor"] == current and st["committed_version"] == current, where
    assert cuts["hook"] + cuts["time"] == ITERATIONS, cuts
    print(f"power cuts: {cuts} in {ITERATIONS} iterations, seed {seed}, {time.monotonic() - start:.0f} s")
