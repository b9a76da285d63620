"""Bounded logs: an app cannot fill the state partition through its log (STATE/apps/<id>/log,
its stdout and stderr) or through the broker's event log (STATE/apps/<id>/broker.log).

The app log is capped by RLIMIT_FSIZE (at least 1 MiB) and rotated to log.1 at each start, and
fallocate and ftruncate on it are refused; the broker caps broker.log at 1 MiB, shows at most 64
bytes of each data dump, and rate-limits refusals. See docs/threat-model.md.
"""
import json
import os
import socket
import subprocess

import pytest

from conftest import find_binary
from test_broker import BOARD, lines, manifest, session  # noqa: F401 (session is a fixture)
from test_sandbox import Device, remove_cgroups

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandbox tests create containers and must run as root")

CAP = 1 << 20          # SANDBOX_LOG_MAX_BYTES: the default /tmp size and the RLIMIT_FSIZE floor
BROKER_CAP = 1 << 20   # BROKER_LOG_MAX_BYTES


@pytest.fixture
def device(tmp_path):
    d = Device(tmp_path)
    yield d
    remove_cgroups(d.cgroup_parent)


def install(device, args, storage_kb=None):
    root, cid = device.package(args, storage_kb=storage_kb, binary="log_flood", name="logs")
    device.install(root)
    return cid


def run(device, cid):
    proc = device.mgr("run", cid, check=True)
    return json.loads(proc.stdout)["last_exit"]


def test_flooding_stdout_stops_at_the_cap_and_rotates_across_restarts(device):
    cid = install(device, ["flood"])
    app_dir = device.state / "apps" / cid
    # 64 MiB attempted: the write past the cap fails with EFBIG and the app lives to say so.
    assert run(device, cid) == "exited: status 10"
    assert CAP // 2 < (app_dir / "log").stat().st_size <= CAP
    for _ in range(3):  # restarts: the full log moves to log.1 (replacing the older one)
        assert run(device, cid) == "exited: status 10"
    assert (app_dir / "log").stat().st_size <= CAP
    assert (app_dir / "log.1").stat().st_size <= CAP
    assert sorted(p.name for p in app_dir.iterdir() if p.name.startswith("log")) == ["log", "log.1"]
    used = sum(p.stat().st_blocks * 512 for p in app_dir.iterdir() if p.name.startswith("log"))
    assert used <= 2 * CAP + 64 * 1024


def test_storage_quota_still_usable_above_the_log_cap(device):
    """RLIMIT_FSIZE follows the app's storage quota: a 4 MiB storage app logs up to 4 MiB."""
    cid = install(device, ["flood"], storage_kb=4096)
    assert run(device, cid) == "exited: status 10"
    size = (device.state / "apps" / cid / "log").stat().st_size
    assert 2 * CAP < size <= 4 * CAP


def test_fallocate_on_the_log_is_refused(device):
    cid = install(device, ["fallocate"])
    assert run(device, cid) == "exited: status 0"
    log = device.log(cid)
    assert "fallocate fd1: EOPNOTSUPP, dup: EOPNOTSUPP" in log, log
    used = sum(p.stat().st_blocks * 512 for p in (device.state / "apps" / cid).iterdir())
    assert used < 16 << 20  # nothing near the 1 GiB asked for


def test_ftruncate_of_the_log_is_refused(device):
    cid = install(device, ["ftruncate"])
    assert run(device, cid) == "exited: status 0"
    assert "ftruncate fd1: EPERM" in device.log(cid)


def test_hammering_undeclared_gpio_leaves_a_bounded_broker_log(session):
    s = session({"Gpio": ["$SAMPLE_LED"]})
    out = lines(s.probe(*(["gpio-out", 9, 1] * 500)))
    assert out == ["gpio-out err EPERM"] * 500  # every request still refused
    _, err = s.close()
    ev = s.events()
    denied = [e for e in ev if e["event"] == "denied"]
    assert 1 <= len(denied) <= 10, len(denied)
    assert err.count("broker.denied") <= 10
    assert s.log.stat().st_size < 8 * 1024


def test_broker_log_stops_at_its_cap_across_runs(tmp_path):
    log = tmp_path / "events.jsonl"
    # An earlier run left the log just under its cap.
    log.write_text(("x" * 1023 + "\n") * (BROKER_CAP // 1024 - 1))
    path = manifest(tmp_path, {"Gpio": ["$SAMPLE_LED"], "Uart": ["ISU0"]})
    broker_end, app_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    broker = subprocess.Popen(
        [str(find_binary("rampart-periph-broker")), "--board", str(BOARD), "--manifest", str(path),
         "--socket-fd", str(broker_end.fileno()), "--log", str(log)],
        pass_fds=[broker_end.fileno()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    broker_end.close()
    try:
        env = dict(os.environ, RAMPART_BROKER_FD=str(app_end.fileno()))
        proc = subprocess.run([str(find_binary("rampart-applibs-probe")),
                               *map(str, ["gpio-out", 8, 1, "gpio-set", 0, "gpio-close"] * 20), "uart", "4"],
                              pass_fds=[app_end.fileno()], env=env, capture_output=True, text=True, timeout=60)
        assert proc.stdout.splitlines()[-1] == "uart ok ping"
        app_end.close()
        _, err = broker.communicate(timeout=20)
    finally:
        if broker.poll() is None:
            broker.kill()
            broker.wait()
    assert "broker.log_truncated" in err
    assert log.stat().st_size <= BROKER_CAP
    events = [json.loads(l) for l in log.read_text().splitlines() if l.startswith("{")]
    assert events and events[-1]["event"] == "log_truncated"
    assert not any(e["event"] == "uart.write" for e in events)


def test_data_dumps_carry_their_length(session):
    s = session({"Uart": ["ISU0"]})
    assert lines(s.probe("uart", 4)) == ["uart ok ping"]
    s.close()
    w = next(e for e in s.events() if e["event"] == "uart.write")
    assert w["data"] == "70696e67" and w["length"] == 4
