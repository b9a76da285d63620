"""The OS version floor never strands a device: an update that jumps further than the floor can
follow in one step (ROT_COUNTER_MAX_STEP, 4096) is refused at install; a floor that lags the
committed version is caught up in steps at boot, and a catch-up that cannot finish does not stop
the boot; a power cut between the commit record and the floor advance does not let an older
fallback slot run. A trust update that would leave the running OS bundle unverifiable is refused
(tests/blackbox/test_update_trust_guard.py)."""
import shutil

import pytest

from boot_device import committed, Device, encode_state

FLOOR_STEP = 4096


@pytest.fixture
def device(tmp_path):
    return Device(tmp_path)



def test_jump_above_floor_step_refused_at_install(device):
    committed(device, 1)
    proc = device.install(device.bundle("5000"), check=False)
    assert proc.returncode != 0
    assert "version 5000 is more than 4096 above the device's OS version floor 1" in proc.stderr, proc.stderr
    assert "install an intermediate version (at most 4097) first" in proc.stderr, proc.stderr
    st = device.status()
    assert st["active"] == "a" and not st["pending"] and st["committed_version"] == 1
    device.boot()
    assert device.running_version() == 1
    # The largest step the floor can follow is accepted, commits and moves the floor all the way.
    committed(device, 1 + FLOOR_STEP)
    assert device.status()["floor"] == 1 + FLOOR_STEP


def plant_committed(device, version):
    """A device that installed VERSION before installs were bounded: slot b holds it, the record
    says it was committed, the floor is still at 1 (its advance failed)."""
    committed(device, 1)
    device.slot_file("b").parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(device.bundle(str(version)), device.slot_file("b"))
    (device.state / "boot" / "state").write_bytes(encode_state(generation=50, active=1, previous=0,
                                                               committed=version))


def test_lagging_floor_caught_up_in_steps(device):
    plant_committed(device, 5000)
    proc = device.boot()
    assert device.running_version() == 5000, proc.stderr
    assert "OS version floor caught up to 5000" in proc.stderr
    assert device.status()["floor"] == 5000


def test_floor_catch_up_that_cannot_finish_does_not_stop_boot(device):
    """8 steps of 4096 per power-on: a floor 40000 versions behind cannot catch up in one boot. The
    verified, committed bundle runs anyway and the next power-on finishes the catch-up."""
    plant_committed(device, 40000)
    proc = device.boot()
    assert device.running_version() == 40000, proc.stderr
    assert "boot.floor.deferred" in proc.stderr and "after 8 steps" in proc.stderr, proc.stderr
    assert device.status()["floor"] == 1 + 8 * FLOOR_STEP
    proc = device.boot()
    assert device.running_version() == 40000
    assert device.status()["floor"] == 40000


def test_power_cut_during_catch_up_keeps_booting(device):
    plant_committed(device, 9000)
    proc = device.boot(check=None, env={"RAMPART_FAULT_POINT": "boot.floor.catch-up:2"})
    assert proc.returncode != 0 and device.running_version() is None
    assert device.status()["floor"] == 1 + FLOOR_STEP
    device.boot()
    assert device.running_version() == 9000
    assert device.status()["floor"] == 9000


def test_power_cut_before_floor_advance_then_damaged_slot_runs_nothing_older(device):
    """Version 2 committed but the power was cut before the floor followed; then slot b is damaged.
    Slot a (version 1) verifies but is older than the committed version: it must not run."""
    committed(device, 1)
    device.install(device.bundle("2"))
    proc = device.boot(check=None, env={"RAMPART_FAULT_POINT": "commit.after-state"})
    assert proc.returncode != 0
    st = device.status()
    assert st["committed_version"] == 2 and st["floor"] == 1 and not st["pending"], st
    data = bytearray(device.slot_file("b").read_bytes())
    data[-10] ^= 0x01  # inside the signature
    device.slot_file("b").write_bytes(bytes(data))
    proc = device.boot(check=False)
    assert proc.returncode == 3, proc.stderr
    assert "no bootable slot" in proc.stderr
    assert "version 1 is below the committed version 2" in proc.stderr, proc.stderr
    assert device.running_version() is None
    # Once slot b holds version 2 again the device boots it.
    shutil.copy(device.bundle("2"), device.slot_file("b"))
    device.boot()
    assert device.running_version() == 2
