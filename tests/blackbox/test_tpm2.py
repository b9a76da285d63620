"""Black-box tests of the tpm2 root of trust against swtpm, which each test starts on loopback:
provisioning, a non-exportable identity key, quotes checked by the pure verifier, and NV
counters that only move forward across restarts."""
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import free_port, run
from test_monitor import AGENT_UID, Monitor, run_as, spki_id

SWTPM = shutil.which("swtpm")
pytestmark = [
    pytest.mark.skipif(SWTPM is None, reason="swtpm is not installed (apt-get install swtpm)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as other UIDs"),
]


def _port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.fixture
def swtpm(tmp_path):
    state = tmp_path / "tpm"
    state.mkdir()
    for _ in range(20):
        port = free_port()
        if _port_free(port + 1):
            break
    proc = subprocess.Popen([SWTPM, "socket", "--tpm2",
                             "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                             "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                             "--tpmstate", f"dir={state}", "--flags", "not-need-init,startup-clear"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
    yield f"swtpm:host=127.0.0.1,port={port}"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)


@pytest.fixture
def rundir():
    d = pathlib.Path(tempfile.mkdtemp(prefix="rp-tpm-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d)


def with_monitor(state, tcti, rundir, *commands):
    """Run each `rampart-os` command (a tuple: the verb, then its options) as root against a tpm2
    monitor on STATE; returns their outputs and the monitor's log. The monitor is stopped again
    (swtpm serves one TPM client at a time)."""
    mon = Monitor(state, rundir, backend="tpm2", extra=("--tpm2-tcti", tcti))
    try:
        outs = [run_as(0, "rampart-os", cmd[0], "--socket", mon.sock, *cmd[1:], check=True).stdout for cmd in commands]
        return outs, mon.text()
    finally:
        mon.stop()


def provision(state, tcti, *extra, check=True):
    return run("rampart-os", "provision", "--state", state, "--rot", "tpm2", "--tpm2-tcti", tcti, "--output", "json",
               *extra, check=check)


def test_provision_is_idempotent_and_id_is_spki_hash(tmp_path, swtpm):
    state = tmp_path / "state"
    first = json.loads(provision(state, swtpm).stdout)
    assert first["created"] is True and first["insecure"] is False and first["backend"] == "tpm2"
    assert first["device_id"] == spki_id(first["public_key_pem"])
    again = json.loads(provision(state, swtpm).stdout)
    assert again["created"] is False and again["device_id"] == first["device_id"]


def test_identity_key_cannot_leave_the_tpm(tmp_path, swtpm):
    state = tmp_path / "state"
    provision(state, swtpm)
    files = sorted(p.name for p in (state / "rot-tpm2").iterdir())
    assert files == ["identity.priv", "identity.pub", "lock", "nv-auth"]
    # what is stored is a TPM-wrapped blob, not a key anyone can load
    priv = (state / "rot-tpm2" / "identity.priv").read_bytes()
    assert b"PRIVATE KEY" not in priv
    assert subprocess.run(["openssl", "pkey", "-inform", "DER", "-noout"], input=priv,
                          capture_output=True).returncode != 0
    # the TPM object is fixedTPM + fixedParent + sensitiveDataOrigin + restricted signing
    if shutil.which("tpm2_print"):
        out = subprocess.run(["tpm2_print", "-t", "TPM2B_PUBLIC", str(state / "rot-tpm2" / "identity.pub")],
                             capture_output=True, text=True, check=True).stdout
        for attr in ("fixedtpm", "fixedparent", "sensitivedataorigin", "restricted", "sign"):
            assert attr in out, out
        assert "decrypt" not in out.split("attributes:")[1].split("\n")[1]


def test_quote_evidence_verifies_and_counters_are_monotonic(tmp_path, swtpm):
    state = tmp_path / "state"
    info = json.loads(provision(state, swtpm).stdout)
    rundir = pathlib.Path(tempfile.mkdtemp(prefix="rp-tpm-"))
    os.chmod(rundir, 0o755)
    agent_dir = rundir / "agent"
    agent_dir.mkdir()
    os.chown(agent_dir, AGENT_UID, AGENT_UID)
    pub = rundir / "pub.pem"
    pub.write_text(info["public_key_pem"])
    mon = Monitor(state, rundir, backend="tpm2", extra=("--tpm2-tcti", swtpm))
    try:
        sock = mon.sock
        # provisioning needs the root of trust to itself
        busy = provision(state, swtpm, check=False)
        assert "in use by another process" in busy.stderr
        run_as(0, "rampart-os", "measure", "--socket", sock, "--pcr", 8, "--name", "os-bundle", "--version", "2.0",
               "--sha256", "cd" * 32, check=True)
        run_as(0, "rampart-os", "measure", "--socket", sock, "--pcr", 9, "--name", "rampart-agent", "--version",
               "0.1.0", "--sha256", "ef" * 32, check=True)
        nonce = os.urandom(32).hex()
        ev = agent_dir / "ev.bin"
        run_as(AGENT_UID, "rampart-os", "attest", "--socket", sock, "--nonce", nonce, "--out", ev, check=True)
        ok = run("rampart-os", "evidence-verify", ev, "--public-key", pub, "--nonce", nonce, check=True)
        assert "INSECURE" not in ok.stdout
        shown = json.loads(run("rampart-os", "evidence-show", ev, check=True).stdout)
        assert shown["backend"] == "tpm2" and [m["name"] for m in shown["measurements"]] == ["os-bundle",
                                                                                            "rampart-agent"]
        stale = run("rampart-os", "evidence-verify", ev, "--public-key", pub, "--nonce", os.urandom(32).hex(),
                    check=False)
        assert "another nonce" in stale.stderr
        # counters: the OS floor (counter 0) is the boot stage's (root here)
        run_as(0, "rampart-os", "advance-counter", "--socket", sock, "--index", 0, "--value", 3, check=True)
        down = run_as(0, "rampart-os", "advance-counter", "--socket", sock, "--index", 0, "--value", 2,
                      check=False)
        assert "only moves forward" in down.stderr
        rnd = run_as(AGENT_UID, "rampart-os", "random", "--socket", sock, "--bytes", 16, check=True)
        assert len(rnd.stdout.strip()) == 32 and "INSECURE" not in rnd.stderr
    finally:
        mon.stop()
    # the floor survives a monitor restart, and the measurement log still replays to the PCRs
    mon = Monitor(state, rundir, backend="tpm2", extra=("--tpm2-tcti", swtpm))
    try:
        out = run_as(AGENT_UID, "rampart-os", "counters", "--socket", mon.sock, check=True).stdout
        assert "counter0: 3" in out and "counter1: 0" in out
        nonce = os.urandom(32).hex()
        ev = agent_dir / "ev2.bin"
        run_as(AGENT_UID, "rampart-os", "attest", "--socket", mon.sock, "--nonce", nonce, "--out", ev, check=True)
        run("rampart-os", "evidence-verify", ev, "--public-key", pub, "--nonce", nonce, check=True)
    finally:
        mon.stop()
        shutil.rmtree(rundir)


BASES_INDEX = "0x01525010"


def _tpm2_tool(tool, tcti, *args):
    return subprocess.run([tool, *map(str, args), "-T", tcti], capture_output=True, check=True, timeout=60)


@pytest.mark.skipif(shutil.which("tpm2_nvdefine") is None, reason="tpm2-tools is not installed")
def test_unlocked_counter_bases_are_refused_until_provisioning_locks_them(tmp_path, swtpm):
    """Provisioning that stopped between writing the counter bases and write-locking them leaves
    an index anyone who can reach the TPM may rewrite (and so set the floor back to 0). The
    monitor refuses such a TPM; provisioning again keeps the bases and locks them. Recreating that
    state takes the owner authorization, so this device is provisioned with it left empty."""
    state = tmp_path / "state"
    kept = provision(state, swtpm, "--tpm2-owner", "keep")
    assert "owner authorization is empty" in kept.stderr and "--tpm2-owner keep" in kept.stderr, kept.stderr
    rundir = pathlib.Path(tempfile.mkdtemp(prefix="rp-tpm-"))
    os.chmod(rundir, 0o755)
    try:
        mon = Monitor(state, rundir, backend="tpm2", extra=("--tpm2-tcti", swtpm))
        try:
            run_as(0, "rampart-os", "advance-counter", "--socket", mon.sock, "--index", 0, "--value", 3, check=True)
        finally:
            mon.stop()
        # recreate the interrupted state: the same bases, written but not locked
        saved = tmp_path / "bases.bin"
        auth = "hex:" + (state / "rot-tpm2" / "nv-auth").read_bytes().hex()
        _tpm2_tool("tpm2_nvread", swtpm, BASES_INDEX, "-C", BASES_INDEX, "-P", auth, "-s", 32, "-o", saved)
        assert "writelocked" in _tpm2_tool("tpm2_nvreadpublic", swtpm, BASES_INDEX).stdout.decode()
        _tpm2_tool("tpm2_nvundefine", swtpm, BASES_INDEX, "-C", "o")
        _tpm2_tool("tpm2_nvdefine", swtpm, BASES_INDEX, "-C", "o", "-s", 32, "-p", auth, "-a",
                   "authwrite|authread|no_da|writedefine")
        _tpm2_tool("tpm2_nvwrite", swtpm, BASES_INDEX, "-C", BASES_INDEX, "-P", auth, "-i", saved)
        assert "writelocked" not in _tpm2_tool("tpm2_nvreadpublic", swtpm, BASES_INDEX).stdout.decode()
        refused = run("rampart-monitor", "--state", state, "--rot", "tpm2", "--tpm2-tcti", swtpm, "--socket",
                      rundir / "monitor.sock", "--allow", "boot=0", check=False, timeout=60)
        assert "counter bases index (NV 0x01525010) is not write-locked" in refused.stderr, refused.stderr
        assert "rampart-os provision" in refused.stderr
        # provisioning again finishes the job: same bases (the floor is kept), now locked, and
        # (by default) the owner authorization set
        again = json.loads(provision(state, swtpm).stdout)
        assert again["created"] is False
        assert "writelocked" in _tpm2_tool("tpm2_nvreadpublic", swtpm, BASES_INDEX).stdout.decode()
        mon = Monitor(state, rundir, backend="tpm2", extra=("--tpm2-tcti", swtpm))
        try:
            out = run_as(0, "rampart-os", "counters", "--socket", mon.sock, check=True).stdout
            assert "counter0: 3" in out and "counter1: 0" in out, out
        finally:
            mon.stop()
    finally:
        shutil.rmtree(rundir)


def _owner_auth_set(tcti):
    out = _tpm2_tool("tpm2_getcap", tcti, "properties-variable").stdout.decode()
    line = next(l for l in out.splitlines() if "ownerAuthSet" in l)
    return line.split(":")[1].strip() == "1"


@pytest.mark.skipif(shutil.which("tpm2_nvundefine") is None, reason="tpm2-tools is not installed")
def test_provisioning_sets_the_owner_authorization_so_the_bases_cannot_be_redefined(tmp_path, swtpm, rundir):
    """With an empty owner authorization, whoever can reach the TPM could undefine the write-locked
    counter bases and (holding the counters' authValue) define them again higher: a rollback.
    Provisioning sets a random owner authorization kept nowhere; the storage root key it needs at
    every start is persistent, so the monitor still starts, attests and counts after a restart,
    and provisioning again changes nothing."""
    assert not _owner_auth_set(swtpm)
    state = tmp_path / "state"
    first = provision(state, swtpm)
    assert _owner_auth_set(swtpm)
    assert "0x81525000" in _tpm2_tool("tpm2_getcap", swtpm, "handles-persistent").stdout.decode()
    # The attack: undefine the bases index (owner authorization, tried empty) or evict the SRK.
    undefine = subprocess.run(["tpm2_nvundefine", BASES_INDEX, "-C", "o", "-T", swtpm], capture_output=True,
                              timeout=60)
    assert undefine.returncode != 0, undefine
    assert "writelocked" in _tpm2_tool("tpm2_nvreadpublic", swtpm, BASES_INDEX).stdout.decode()
    evict = subprocess.run(["tpm2_evictcontrol", "-C", "o", "-c", "0x81525000", "-T", swtpm], capture_output=True,
                           timeout=60)
    assert evict.returncode != 0, evict
    # Still a working device: same identity, counters move, provisioning again is a no-op.
    again = json.loads(provision(state, swtpm).stdout)
    assert again["created"] is False and again["device_id"] == json.loads(first.stdout)["device_id"]
    (_, out), log = with_monitor(state, swtpm, rundir, ("advance-counter", "--index", 1, "--value", 4), ("counters",))
    assert "counter1: 4" in out, out
    assert "owner authorization is empty" not in log, log


def test_provisioning_refuses_an_unknown_owner_choice(tmp_path, swtpm):
    bad = provision(tmp_path / "state", swtpm, "--tpm2-owner", "open", check=False)
    assert bad.returncode != 0 and '--tpm2-owner is "lock" or "keep"' in bad.stderr, bad.stderr
    assert not (tmp_path / "state").exists()


@pytest.mark.skipif(shutil.which("tpm2_evictcontrol") is None, reason="tpm2-tools is not installed")
def test_device_provisioned_before_the_owner_lock_keeps_its_identity_when_provisioned_again(tmp_path, swtpm,
                                                                                          rundir):
    """A device provisioned by an older Rampart has no persistent storage root key and an empty
    owner authorization (recreated here: provisioned with the owner kept, the SRK evicted). It keeps
    working, re-creating the SRK from the owner seed and warning at each start; provisioning it
    again persists the SRK and sets the owner authorization without changing its identity."""
    state = tmp_path / "state"
    first = json.loads(provision(state, swtpm, "--tpm2-owner", "keep").stdout)
    _tpm2_tool("tpm2_evictcontrol", swtpm, "-C", "o", "-c", "0x81525000")
    assert "0x81525000" not in _tpm2_tool("tpm2_getcap", swtpm, "handles-persistent").stdout.decode()
    _, log = with_monitor(state, swtpm, rundir, ("advance-counter", "--index", 2, "--value", 5))
    assert "owner authorization is empty" in log and "rampart-os provision' again" in log, log
    again = json.loads(provision(state, swtpm).stdout)
    assert again["created"] is False and again["device_id"] == first["device_id"]
    assert _owner_auth_set(swtpm)
    assert "0x81525000" in _tpm2_tool("tpm2_getcap", swtpm, "handles-persistent").stdout.decode()
    (out,), log = with_monitor(state, swtpm, rundir, ("counters",))
    assert "counter2: 5" in out, out
    assert "owner authorization is empty" not in log, log


def _sent_commands(trace):
    """TPM commands as tpm2-tss's TCTI trace (TSS2_LOG=tcti+trace) shows them: (code, bytes)."""
    commands, lines = [], trace.splitlines()
    for i, line in enumerate(lines):
        if "Sending command with TPM_CC" not in line:
            continue
        code = int(line.split("TPM_CC ")[1].split()[0], 16)
        data = bytearray()
        for dump in lines[i + 1:]:
            head, _, rest = dump.partition(": ")
            if len(head) == 4 and all(c in "0123456789abcdef" for c in head):
                data += bytes.fromhex(rest.split("  ")[0])
            elif data:
                break
        commands.append((code, bytes(data)))
    return commands


def test_owner_authorization_crosses_the_tpm_interface_encrypted(tmp_path, swtpm):
    """The new owner value goes in TPM2_HierarchyChangeAuth under an HMAC session with the decrypt
    attribute (salted to the SRK), not a password session: a bus sniffer sees ciphertext."""
    prov = run("rampart-os", "provision", "--state", tmp_path / "state", "--rot", "tpm2", "--tpm2-tcti", swtpm,
               env={"TSS2_LOG": "tcti+trace"}, check=True)
    change = [data for code, data in _sent_commands(prov.stderr) if code == 0x129]
    assert len(change) == 1, prov.stderr[-2000:]
    cmd = change[0]
    assert cmd[:2] == b"\x80\x02" and cmd[10:14] == bytes.fromhex("40000001"), cmd.hex()  # sessions, owner
    session = int.from_bytes(cmd[18:22], "big")
    assert session >> 24 == 0x02, hex(session)  # an HMAC session, not TPM_RS_PW (0x40000009)
    nonce_len = int.from_bytes(cmd[22:24], "big")
    attributes = cmd[24 + nonce_len]
    assert attributes & 0x20, hex(attributes)  # TPMA_SESSION_DECRYPT: the first parameter is encrypted
