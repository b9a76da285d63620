"""Black-box tests of the authValue on the tpm2 backend's NV counters: an outside TPM client
(tpm2-tools on the same swtpm) cannot raise an anti-rollback counter; the monitor refuses a
missing, loose, linked or damaged authorization file; a device provisioned before counters had
an authValue keeps working and says it is unprotected."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import run
from test_monitor import Monitor, run_as
from test_tpm2 import BASES_INDEX, provision, rundir, swtpm, with_monitor  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.skipif(shutil.which("swtpm") is None, reason="swtpm is not installed (apt-get install swtpm)"),
    pytest.mark.skipif(shutil.which("tpm2_nvincrement") is None, reason="tpm2-tools is not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as other UIDs"),
]

COUNTER0 = "0x01525000"
COUNTERS = [f"0x{0x01525000 + i:08x}" for i in range(4)]


def tpm2_tool(tool, tcti, *args):
    """Run a tpm2-tools command against the test's swtpm; returns the CompletedProcess."""
    env = dict(os.environ, TPM2TOOLS_TCTI=tcti)
    return subprocess.run([tool, *map(str, args)], capture_output=True, text=True, env=env, timeout=60)


def counters(state, rundir, tcti):
    """The counter values the monitor reports, as {index: value}; the monitor is stopped again
    (swtpm serves one TPM client at a time)."""
    (out,), _ = with_monitor(state, tcti, rundir, ("counters",))
    return {int(k.strip()[len("counter"):]): int(v) for k, v in
            (line.split(":") for line in out.splitlines() if line.startswith("counter"))}


def advance(state, rundir, tcti, index, value):
    mon = Monitor(state, rundir, backend="tpm2", extra=("--tpm2-tcti", tcti))
    try:
        run_as(0, "rampart-os", "advance-counter", "--socket", mon.sock, "--index", index, "--value", value,
               check=True)
    finally:
        mon.stop()


def start_monitor(state, rundir, tcti):
    return run("rampart-monitor", "--state", state, "--rot", "tpm2", "--tpm2-tcti", tcti, "--socket",
               rundir / "monitor.sock", "--allow", "boot=0", check=False, timeout=60)


def test_outside_tpm_client_cannot_raise_a_counter(tmp_path, swtpm, rundir):
    state = tmp_path / "state"
    provision(state, swtpm)
    auth = state / "rot-tpm2" / "nv-auth"
    st = auth.stat()
    assert (st.st_mode & 0o777) == 0o600 and st.st_size == 32 and st.st_uid == os.geteuid()
    advance(state, rundir, swtpm, 0, 2)
    assert counters(state, rundir, swtpm)[0] == 2
    # a process that can reach the TPM but does not hold the authValue: refused, on every counter
    for index in COUNTERS:
        refused = tpm2_tool("tpm2_nvincrement", swtpm, index)
        assert refused.returncode != 0, f"{index} was incremented with an empty authorization"
        # TPM_RC_BAD_AUTH for session 1: refused by the authorization check, not for another reason
        assert "0x000009a2" in refused.stderr, refused.stderr
    # nor can it read the counter bases (the write lock already stops writes)
    assert tpm2_tool("tpm2_nvread", swtpm, BASES_INDEX, "-C", BASES_INDEX, "-s", 32).returncode != 0
    assert counters(state, rundir, swtpm) == {0: 2, 1: 0, 2: 0, 3: 0}
    # the monitor still advances its counters
    advance(state, rundir, swtpm, 0, 3)
    advance(state, rundir, swtpm, 1, 1)
    assert counters(state, rundir, swtpm) == {0: 3, 1: 1, 2: 0, 3: 0}
    # the same tool with the file's value does move the counter: what refused it was the authValue
    ok = tpm2_tool("tpm2_nvincrement", swtpm, COUNTER0, "-P", "hex:" + auth.read_bytes().hex())
    assert ok.returncode == 0, ok.stderr
    assert counters(state, rundir, swtpm)[0] == 4
    # provisioning again keeps the file (and so the counters' value) as it is
    before = auth.read_bytes()
    assert json.loads(provision(state, swtpm).stdout)["created"] is False
    assert auth.read_bytes() == before


def test_damaged_auth_file_is_refused(tmp_path, swtpm, rundir):
    state = tmp_path / "state"
    provision(state, swtpm)
    auth = state / "rot-tpm2" / "nv-auth"
    good = auth.read_bytes()
    saved = tmp_path / "nv-auth.saved"
    shutil.copy2(auth, saved)

    def restore():
        if auth.is_symlink() or auth.exists():
            auth.unlink()
        shutil.copy2(saved, auth)
        os.chmod(auth, 0o600)

    def loose():
        os.chmod(auth, 0o644)

    def linked():
        auth.unlink()
        os.symlink(saved, auth)

    def short():
        auth.write_bytes(good[:16])

    def long():
        auth.write_bytes(good + b"\x01")

    def other():
        auth.write_bytes(bytes(b ^ 0x5a for b in good))

    def missing():
        auth.unlink()

    cases = [
        (loose, ["nv-auth must belong to this service's user", "mode 0644", "chmod 600"]),
        (linked, [f"{auth} is a symbolic link"]),
        (short, [f"{auth} holds 16 bytes, not 32"]),
        (long, [f"{auth} is longer than 32 bytes"]),
        (other, ["the TPM refuses the authorization value in", "NV index 0x01525000", "another device"]),
        (missing, ["the anti-rollback counters have an authorization value, but", f"{auth}", "is missing",
                   "restore it"]),
    ]
    for damage, expected in cases:
        damage()
        refused = start_monitor(state, rundir, swtpm)
        assert refused.returncode != 0, f"{damage.__name__}: the monitor started:\n{refused.stderr}"
        for text in expected:
            assert text in refused.stderr, f"{damage.__name__}: {text!r} not in:\n{refused.stderr}"
        # provisioning does not paper over it either (no new value, no fallback to the empty one)
        again = provision(state, swtpm, check=False)
        assert again.returncode != 0, f"{damage.__name__}: provisioning accepted it:\n{again.stderr}"
        assert expected[0] in again.stderr, again.stderr
        if damage is missing:
            assert not auth.exists(), "provisioning made a new authorization file"
        restore()
    assert counters(state, rundir, swtpm) == {0: 0, 1: 0, 2: 0, 3: 0}


def test_device_provisioned_without_nv_auth_keeps_working(tmp_path, swtpm, rundir):
    """Counters defined the way earlier Rampart versions did (empty authValue) and no auth file:
    provisioning and the monitor carry on, and say once that the counters are unprotected."""
    for index in COUNTERS:
        made = tpm2_tool("tpm2_nvdefine", swtpm, index, "-C", "o", "-s", 8, "-a",
                         "nt=counter|authwrite|authread|no_da")
        assert made.returncode == 0, made.stderr
    state = tmp_path / "state"
    prov = provision(state, swtpm)
    assert "empty authorization value" in prov.stderr, prov.stderr
    assert not (state / "rot-tpm2" / "nv-auth").exists()
    # The owner authorization stays empty: undefining these counters (to give them an authValue
    # at the next provisioning) needs it.
    assert "left empty while the counters have no authorization value" in prov.stderr, prov.stderr
    caps = tpm2_tool("tpm2_getcap", swtpm, "properties-variable").stdout
    assert next(l for l in caps.splitlines() if "ownerAuthSet" in l).split(":")[1].strip() == "0", caps
    mon = Monitor(state, rundir, backend="tpm2", extra=("--tpm2-tcti", swtpm))
    try:
        run_as(0, "rampart-os", "advance-counter", "--socket", mon.sock, "--index", 0, "--value", 2, check=True)
        out = run_as(0, "rampart-os", "counters", "--socket", mon.sock, check=True).stdout
        assert "counter0: 2" in out, out
        log = mon.text()
    finally:
        mon.stop()
    assert log.count("empty authorization value") == 1, log
    # what the warning says: an outside client can raise them
    assert tpm2_tool("tpm2_nvincrement", swtpm, COUNTER0).returncode == 0
    assert counters(state, rundir, swtpm)[0] == 3
