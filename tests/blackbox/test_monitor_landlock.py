"""Black-box tests of the security monitor's Landlock confinement. The monitor runs as uid 0
without capabilities, so file permissions alone would still let a subverted monitor rewrite any
root-owned file; Landlock limits it to files under STATE/monitor and STATE/rot-BACKEND, its TPM
device node and (TCP simulators) the TPM's command port.

monitor-landlock-probe (tests/tools, never installed) applies the very hardening call
rampart-monitor makes and then tries what a subverted monitor might. The real monitor is checked
from outside: it keeps saving its state under the confinement, and cannot even remove its own
socket (outside its state directories) when it stops."""
import ctypes
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile

import pytest

from conftest import find_binary, run
from test_monitor import Monitor

GRANTS = ("boot=0", "agent=0")  # root drives the monitor as both

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the monitor runs as root")


def landlock_abi():
    """The kernel's Landlock ABI version (0: none), asked as the monitor asks."""
    libc = ctypes.CDLL(None, use_errno=True)
    sys_landlock_create_ruleset = {"x86_64": 444, "aarch64": 444}.get(os.uname().machine)
    if sys_landlock_create_ruleset is None:
        return 0
    v = libc.syscall(sys_landlock_create_ruleset, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(v, 0)


ABI = landlock_abi()
needs_landlock = pytest.mark.skipif(ABI < 1, reason="this kernel has no Landlock")


def probe(state, backend, tcti, outside, *ports):
    proc = subprocess.run([str(find_binary("monitor-landlock-probe")), str(state), backend, tcti or "-",
                           str(outside), *map(str, ports)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines()), proc.stderr


def layout(tmp_path, backend):
    state = tmp_path / "state"
    for d in ("monitor", f"rot-{backend}"):
        (state / d).mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "root-owned").write_text("keep")
    return state, outside


@needs_landlock
def test_hardened_monitor_writes_only_its_state_directories(tmp_path):
    state, outside = layout(tmp_path, "soft")
    got, _ = probe(state, "soft", None, outside)
    # what the monitor needs: its atomic saves (temporary file, rename, unlink) in both directories
    for name in ("monitor_create", "monitor_atomic_save", "monitor_rename", "monitor_unlink", "rot_atomic_save"):
        assert got[name] == "ok", (name, got)
    assert (state / "monitor" / "eventlog.bin").read_bytes() == b"state"
    assert (state / "rot-soft" / "probe-state.bin").read_bytes() == b"state"
    # what a subverted monitor must not do, although uid 0 owns every file involved
    for name in ("state_create", "state_atomic_save", "outside_create", "outside_write", "outside_read",
                 "outside_unlink", "etc_write"):
        assert got[name] == "EACCES", (name, got)
    assert got["monitor_mkdir"] != "ok"
    assert sorted(p.name for p in state.iterdir()) == ["monitor", "rot-soft"]
    assert sorted(p.name for p in outside.iterdir()) == ["root-owned"]
    assert (outside / "root-owned").read_text() == "keep"


@needs_landlock
def test_tpm2_backend_gets_its_own_directory_not_the_soft_one(tmp_path):
    state, outside = layout(tmp_path, "tpm2")
    (state / "rot-soft").mkdir()
    got, _ = probe(state, "tpm2", "swtpm:host=127.0.0.1,port=2321", outside)
    assert got["rot_atomic_save"] == "ok", got
    assert (state / "rot-tpm2" / "probe-state.bin").exists()
    assert not any((state / "rot-soft").iterdir())


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(ABI < 4, reason="TCP rules need Landlock ABI 4")
def test_tcp_tpm_connects_only_to_the_tcti_port(tmp_path):
    state, outside = layout(tmp_path, "tpm2")
    port = _free_port()  # nothing listens: an allowed connect is refused by the peer, not by Landlock
    other = _free_port()
    got, _ = probe(state, "tpm2", f"swtpm:host=127.0.0.1,port={port}", outside, port, port + 1, other)
    assert got[f"connect_{port}"] == "ECONNREFUSED", got
    assert got[f"connect_{port + 1}"] == "EACCES", got  # the simulator's platform port can reset the TPM
    assert got[f"connect_{other}"] == "EACCES", got


def test_bad_tcti_port_fails_closed(tmp_path):
    state, outside = layout(tmp_path, "tpm2")
    proc = subprocess.run([str(find_binary("monitor-landlock-probe")), str(state), "tpm2",
                           "swtpm:host=127.0.0.1,port=99999", str(outside)], capture_output=True, text=True,
                          timeout=60)
    if ABI < 1:
        pytest.skip("this kernel has no Landlock")
    assert proc.returncode != 0 and "port" in proc.stderr and "99999" in proc.stderr, proc.stderr
    assert "outside_create" not in proc.stdout


def test_missing_state_directory_fails_closed(tmp_path):
    state, outside = layout(tmp_path, "soft")
    (state / "monitor").rmdir()
    proc = subprocess.run([str(find_binary("monitor-landlock-probe")), str(state), "soft", "-", str(outside)],
                          capture_output=True, text=True, timeout=60)
    if ABI < 1:
        pytest.skip("this kernel has no Landlock")
    assert proc.returncode != 0 and "monitor" in proc.stderr and "No such file" in proc.stderr, proc.stderr


@needs_landlock
def test_real_monitor_keeps_its_state_under_confinement_and_nothing_else(tmp_path):
    """The real rampart-monitor, confined: counters and the event log are saved (atomic replace
    inside its directories) and survive a restart; the files it was given nothing for (its own
    socket, outside STATE/monitor and STATE/rot-soft) it cannot remove when it stops."""
    state = tmp_path / "state"
    run("rampart-os", "provision", "--state", state, "--rot", "soft", check=True)
    rundir = pathlib.Path(tempfile.mkdtemp(prefix="rp-monll-"))
    try:
        sock = rundir / "monitor.sock"
        mon = Monitor(state, rundir, allow=GRANTS)
        try:
            run("rampart-os", "advance-counter", "--socket", sock, "--index", 3, "--value", 9, check=True)
            run("rampart-os", "measure", "--socket", sock, "--pcr", 8, "--name", "os-bundle", "--version", "7",
                "--sha256", "cd" * 32, check=True)
        finally:
            text = mon.stop()
        assert "WITHOUT filesystem confinement" not in text
        # The monitor could not unlink its socket: the socket directory is outside its rules.
        assert sock.exists() and sock.is_socket()
        before = sorted(p.name for p in rundir.iterdir())
        mon = Monitor(state, rundir, allow=GRANTS, start=2)  # replaces the stale socket at start-up, before confinement
        try:
            out = run("rampart-os", "counters", "--socket", sock, check=True).stdout
            assert "counter3: 9" in out, out
            ev = rundir / "ev.bin"
            run("rampart-os", "attest", "--socket", sock, "--nonce", os.urandom(32).hex(), "--out", ev, check=True)
            shown = json.loads(run("rampart-os", "evidence-show", ev, check=True).stdout)
            assert [(m["name"], m["version"]) for m in shown["measurements"]] == [("os-bundle", "7")], shown
        finally:
            mon.stop()
        assert sorted(p.name for p in rundir.iterdir()) == sorted(before + ["ev.bin"])
        assert sorted(p.name for p in state.iterdir()) == ["monitor", "rot-soft"]
    finally:
        shutil.rmtree(rundir)
