"""Black-box tests of the security monitor with the soft root of trust: provisioning, peers by UID
(the test runs as root and connects as other UIDs), and malformed messages that must be refused
with a precise reason while the monitor keeps serving."""
import hashlib
import json
import os
import pathlib
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import find_binary, run

AGENT_UID, APPMGR_UID, STRANGER_UID = 1001, 1002, 1003
MAGIC = 0x52504D4E
ERRC = {"INVALID": 1, "PERMISSION": 5, "LIMIT": 7, "UNSUPPORTED": 8, "CONFLICT": 10}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as other UIDs")


def msg(mtype, body=b"", version=1, magic=MAGIC, length=None):
    return struct.pack(">IHHI", magic, version, mtype, len(body) if length is None else length) + body


def parse_reply(data):
    magic, version, mtype, length = struct.unpack(">IHHI", data[:12])
    assert magic == MAGIC and version == 1 and length == len(data) - 12
    status, tlen = struct.unpack(">HH", data[12:16])
    return mtype, status, data[16:16 + tlen].decode(), data[16 + tlen:]


_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(20)
s.connect(sys.argv[1])
for h in sys.stdin.read().split():
    try:
        s.send(b"" if h == "-" else bytes.fromhex(h))
    except (BrokenPipeError, ConnectionResetError):
        pass  # a refused peer is told why before the monitor hangs up; read that below
    print(s.recv(70000).hex(), flush=True)
"""


def send_as(uid, sock, *messages):
    """Connect to SOCK as UID and send each message; returns the parsed replies."""
    def drop():
        os.setgid(uid)
        os.setuid(uid)
    proc = subprocess.run([sys.executable, "-c", _CLIENT, str(sock)], input="\n".join(m.hex() or "-" for m in messages),
                          capture_output=True, text=True, preexec_fn=drop if uid else None, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [parse_reply(bytes.fromhex(line)) for line in proc.stdout.split()]


def run_as(uid, binary, *args, check=None):
    def drop():
        os.setgid(uid)
        os.setuid(uid)
    proc = subprocess.run([str(find_binary(binary)), *map(str, args)], capture_output=True, text=True,
                          preexec_fn=drop if uid else None, timeout=60)
    if check is True:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    if check is False:
        assert proc.returncode != 0, proc.stdout + proc.stderr
    return proc


def spki_id(pem):
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem.encode(),
                         capture_output=True, check=True).stdout
    return hashlib.sha256(der).hexdigest()


class Monitor:
    def __init__(self, state, rundir, backend="soft", extra=(), allow=None, start=1):
        """ALLOW: the --allow role=uid grants (default: agent, appmgr and boot as in a device).
        START: which start this is; a restart (START > 1) appends to RUNDIR's log, where each start
        logs one monitor.ready."""
        self.sock = rundir / "monitor.sock"
        self.log = open(rundir / "monitor.log", "a+" if start > 1 else "w+")
        grants = allow or (f"agent={AGENT_UID}", f"appmgr={APPMGR_UID}", "boot=0")
        self.proc = subprocess.Popen(
            [str(find_binary("rampart-monitor")), "--state", str(state), "--rot", backend, "--socket",
             str(self.sock), *[a for g in grants for a in ("--allow", g)], *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(400):  # ready = socket bound and hardening applied
            if self.text().count("monitor.ready") >= start or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        assert self.proc.poll() is None, self.text()

    def text(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        """Stop with SIGTERM; asserts a clean exit (in sanitizer builds: no leaks)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        text = self.text()
        self.log.close()
        assert self.proc.returncode == 0, text
        return text


@pytest.fixture
def device(tmp_path):
    # The socket lives where the unprivileged test UIDs can reach it.
    rundir = pathlib.Path(tempfile.mkdtemp(prefix="rp-mon-"))
    os.chmod(rundir, 0o755)
    state = tmp_path / "state"
    out = run("rampart-os", "provision", "--state", state, "--rot", "soft", "--output", "json", check=True)
    info = json.loads(out.stdout)
    mon = Monitor(state, rundir)
    yield {"state": state, "rundir": rundir, "mon": mon, "info": info}
    mon.stop()
    shutil.rmtree(rundir)


def test_provision_soft_prints_identity_and_is_idempotent(tmp_path):
    state = tmp_path / "s"
    first = run("rampart-os", "provision", "--state", state, "--rot", "soft", check=True)
    assert "INSECURE" in first.stdout and "INSECURE" in first.stderr
    assert "identity created" in first.stdout
    pem = first.stdout[first.stdout.index("-----BEGIN PUBLIC KEY-----"):]
    device_id = first.stdout.split("device-id: ")[1].split()[0]
    assert device_id == spki_id(pem)
    again = json.loads(run("rampart-os", "provision", "--state", state, "--rot", "soft", "--output", "json",
                           check=True).stdout)
    assert again["device_id"] == device_id and again["created"] is False and again["insecure"] is True
    key = state / "rot-soft" / "identity.pem"
    assert (key.stat().st_mode & 0o777) == 0o600


def test_monitor_refuses_unprovisioned_state(tmp_path):
    proc = run("rampart-monitor", "--state", tmp_path / "empty", "--rot", "soft", "--socket", tmp_path / "s",
               "--allow", "agent=1", check=False)
    assert "not provisioned" in proc.stderr and "rampart-os provision" in proc.stderr


def test_allowed_peers_get_their_operations(device):
    sock, mon = device["mon"].sock, device["mon"]
    # app manager: device ID only
    out = run_as(APPMGR_UID, "rampart-os", "device-id", "--socket", sock, "--output", "json", check=True)
    assert json.loads(out.stdout)["device_id"] == device["info"]["device_id"]
    # boot stage (root): measure
    run_as(0, "rampart-os", "measure", "--socket", sock, "--pcr", 8, "--name", "os-bundle", "--version", "1.0",
           "--sha256", "ab" * 32, check=True)
    # agent: attest over a fresh nonce, verified with the registered key by the pure verifier
    nonce = os.urandom(32).hex()
    agent_dir = device["rundir"] / "agent"
    agent_dir.mkdir()
    os.chown(agent_dir, AGENT_UID, AGENT_UID)
    ev = agent_dir / "ev.bin"
    run_as(AGENT_UID, "rampart-os", "attest", "--socket", sock, "--nonce", nonce, "--image",
           "aaaaaaaa-2222-3333-4444-555555555555=3", "--out", ev, check=True)
    pub = device["rundir"] / "pub.pem"
    pub.write_text(device["info"]["public_key_pem"])
    ok = run("rampart-os", "evidence-verify", ev, "--public-key", pub, "--nonce", nonce, check=True)
    assert "INSECURE" in ok.stdout
    shown = json.loads(run("rampart-os", "evidence-show", ev, check=True).stdout)
    assert shown["measurements"][0]["name"] == "os-bundle" and shown["insecure"] is True
    # replayed nonce and tampered evidence are refused
    stale = run("rampart-os", "evidence-verify", ev, "--public-key", pub, "--nonce", os.urandom(32).hex(),
                check=False)
    assert "another nonce" in stale.stderr
    data = bytearray(ev.read_bytes())
    data[80] ^= 1
    ev.write_bytes(bytes(data))
    bad = run("rampart-os", "evidence-verify", ev, "--public-key", pub, "--nonce", nonce, check=False)
    assert bad.returncode != 0
    assert "INSECURE" in mon.text()


def test_soft_backend_runs_in_the_build_without_openssl(device):
    """For --rot soft, rampart-monitor continues as rampart-monitor-soft (mbedTLS, linked statically):
    the process that serves the device maps no libcrypto and no TSS, and still signs what the
    OpenSSL-based verifier accepts (test_allowed_peers_get_their_operations) for an identity that
    rampart-os (OpenSSL) created."""
    pid = device["mon"].proc.pid
    assert os.readlink(f"/proc/{pid}/exe").endswith("/rampart-monitor-soft")
    maps = pathlib.Path(f"/proc/{pid}/maps").read_text()
    for banned in ("libcrypto", "libssl", "libtss2", "libmbed", "libcurl"):
        assert banned not in maps, banned
    out = run_as(APPMGR_UID, "rampart-os", "device-id", "--socket", device["mon"].sock, "--output", "json", check=True)
    assert json.loads(out.stdout)["device_id"] == device["info"]["device_id"]
    # The soft-only build names the program to use for a TPM instead of failing obscurely.
    p = run("rampart-monitor-soft", "--state", device["state"], "--rot", "tpm2", "--socket",
            device["rundir"] / "other.sock", "--allow", "agent=1", check=False)
    assert p.returncode != 0 and "only the soft backend" in p.stderr and "rampart-monitor" in p.stderr, p.stderr


def test_stranger_is_refused_by_uid(device):
    (reply,) = send_as(STRANGER_UID, device["mon"].sock, msg(1))
    mtype, status, text, payload = reply
    assert status == ERRC["PERMISSION"] and payload == b""
    assert f"peer uid {STRANGER_UID}" in text and "not allowed to use the security monitor" in text


def test_message_types_are_authorised_per_role(device):
    sock = device["mon"].sock
    ident, attest = send_as(APPMGR_UID, sock, msg(2), msg(5, b"\x01" * 32 + b"\x00\x00"))
    assert ident[1] == ERRC["PERMISSION"] and ident[3] == b""
    assert f"GET_IDENTITY is not allowed for uid {APPMGR_UID} (roles: appmgr" in ident[2]
    assert attest[1] == ERRC["PERMISSION"] and "ATTEST is not allowed" in attest[2]
    (extend,) = send_as(AGENT_UID, sock, msg(3, b"\x08\x01x\x00" + b"\x00" * 32))
    assert extend[1] == ERRC["PERMISSION"] and "EXTEND is not allowed" in extend[2]


def test_malformed_messages_are_refused_and_monitor_keeps_serving(device):
    sock = device["mon"].sock
    cases = [
        (b"", ERRC["INVALID"], "message of 0 bytes is shorter than the 12-byte header"),
        (b"RPM", ERRC["INVALID"], "shorter than the 12-byte header"),
        (msg(1, b"\x00"), ERRC["INVALID"], "unexpected trailing bytes"),
        (msg(7, b"\x01\x00"), ERRC["INVALID"], "ADVANCE_COUNTER is truncated"),
        (msg(99), ERRC["UNSUPPORTED"], "unknown message type 99"),
        (msg(1, version=2), ERRC["UNSUPPORTED"], "protocol version 2 is not supported"),
        (msg(1, magic=0xDEADBEEF), ERRC["INVALID"], "monitor magic"),
        (msg(1, length=40), ERRC["INVALID"], "header says the body is 40 bytes but 0 arrived"),
        (msg(8, b"\x04\x00"), ERRC["INVALID"], "GET_RANDOM: length 1024"),
        (msg(5, b"\x01" * 32 + b"\x00\x01" + b"Z" * 36 + b"\x00"), ERRC["INVALID"], "not a lowercase GUID"),
        (os.urandom(200), None, ""),
        (msg(1, b"\x00" * 70000), ERRC["LIMIT"], "above the limit of 65536"),
    ]
    replies = send_as(AGENT_UID, sock, *[c[0] for c in cases])
    assert len(replies) == len(cases), replies
    for (raw, code, text), (mtype, status, reply_text, payload) in zip(cases, replies):
        assert status != 0 and payload == b"", (raw[:16], reply_text)
        if code is not None:
            assert status == code, reply_text
            assert text in reply_text, reply_text
    # nothing crashed: the same connection style still works, and the process is alive
    (ok,) = send_as(AGENT_UID, sock, msg(1))
    assert ok[1] == 0 and ok[0] == 0x8001 and len(ok[3]) > 32
    assert device["mon"].proc.poll() is None


def test_counters_only_move_forward(device):
    sock = device["mon"].sock
    run_as(AGENT_UID, "rampart-os", "advance-counter", "--socket", sock, "--index", 1, "--value", 5, check=True)
    back = run_as(AGENT_UID, "rampart-os", "advance-counter", "--socket", sock, "--index", 1, "--value", 4,
                  check=False)
    assert "only moves forward" in back.stderr
    proc = run_as(AGENT_UID, "rampart-os", "counters", "--socket", sock, check=True)
    assert "counter1: 5" in proc.stdout
    assert "INSECURE 'soft' root of trust" in proc.stderr


def test_monitor_is_hardened(device):
    status = pathlib.Path(f"/proc/{device['mon'].proc.pid}/status").read_text()
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2"
    assert int(fields["CapEff"].strip(), 16) == 0
    assert int(fields["CapBnd"].strip(), 16) == 0


def test_provision_while_monitor_runs_is_refused(device):
    proc = run("rampart-os", "provision", "--state", device["state"], "--rot", "soft", check=False)
    assert "in use by another process" in proc.stderr


def test_only_the_boot_stage_moves_the_os_floor(device):
    """Counter 0 is the OS version floor the boot stage enforces: an agent (or anything running as
    its UID) that could raise it would brick the device."""
    sock = device["mon"].sock
    up = run_as(AGENT_UID, "rampart-os", "advance-counter", "--socket", sock, "--index", 0, "--value", 4096,
                check=False)
    assert f"ADVANCE_COUNTER of counter 0 (the OS version floor) is not allowed for uid {AGENT_UID}" in up.stderr
    assert "counter 0 needs: boot" in up.stderr
    (raw,) = send_as(AGENT_UID, sock, msg(7, b"\x00" + struct.pack(">Q", 7)))
    assert raw[1] == ERRC["PERMISSION"] and raw[3] == b""
    assert "counter0: 0" in run_as(AGENT_UID, "rampart-os", "counters", "--socket", sock, check=True).stdout
    # the agent keeps the other counters; the boot stage (root here) still moves the floor
    run_as(AGENT_UID, "rampart-os", "advance-counter", "--socket", sock, "--index", 2, "--value", 3, check=True)
    run_as(0, "rampart-os", "advance-counter", "--socket", sock, "--index", 0, "--value", 2, check=True)
    out = run_as(AGENT_UID, "rampart-os", "counters", "--socket", sock, check=True).stdout
    assert "counter0: 2" in out and "counter2: 3" in out
    assert "is not allowed for uid" in device["mon"].text()


_HOLDER = r"""
import socket, sys
conns = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(20)
    s.connect(sys.argv[1])
    try:
        s.send(bytes.fromhex(sys.argv[3]))
    except (BrokenPipeError, ConnectionResetError):
        pass
    print(s.recv(70000).hex(), flush=True)
    conns.append(s)
sys.stdin.read()  # hold every connection open until told to stop
"""


def test_one_uid_cannot_take_every_connection(device):
    """A peer with a role (here the app manager, allowed only GET_DEVICE_ID) that opens connections
    without closing them gets at most its share of the monitor; the boot stage and the agent are
    still served."""
    sock = device["mon"].sock
    attempts = 16  # as many as the monitor has connection slots

    def drop():
        os.setgid(APPMGR_UID)
        os.setuid(APPMGR_UID)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(sock), str(attempts), msg(1).hex()],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=drop)
    try:
        lines = [holder.stdout.readline().strip() for _ in range(attempts)]
        assert all(lines), "|".join(line[:36] for line in lines) + (holder.stderr.read() if holder.poll() is not None else "")
        replies = [parse_reply(bytes.fromhex(line)) for line in lines]
        served = [r for r in replies if r[1] == 0]
        limited = [r for r in replies if r[1] == ERRC["LIMIT"]]
        assert len(served) == 4 and len(limited) == attempts - 4, replies
        assert f"uid {APPMGR_UID} already has 4 connections" in limited[0][2]
        # while the app manager holds every slot, the others still get in
        (agent,) = send_as(AGENT_UID, sock, msg(1))
        assert agent[1] == 0, agent
        run_as(0, "rampart-os", "measure", "--socket", sock, "--pcr", 8, "--name", "os-bundle", "--version", "1.0",
               "--sha256", "ab" * 32, check=True)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # twelve refusals, one log line
    limit_lines = [line for line in device["mon"].text().splitlines() if "monitor.peer.limit" in line]
    assert len(limit_lines) == 1 and "counted, not logged" in limit_lines[0], limit_lines
    # once it let go, the app manager is served again
    (again,) = send_as(APPMGR_UID, sock, msg(1))
    assert again[1] == 0, again


_REPEAT = r"""
import socket, sys
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(20)
    s.connect(sys.argv[1])
    print(s.recv(70000).hex(), flush=True)
    s.close()
"""


def test_refused_connects_do_not_flood_the_log(device):
    sock = device["mon"].sock
    tries = 50

    def drop():
        os.setgid(STRANGER_UID)
        os.setuid(STRANGER_UID)
    proc = subprocess.run([sys.executable, "-c", _REPEAT, str(sock), str(tries)], capture_output=True, text=True,
                          preexec_fn=drop, timeout=120)
    assert proc.returncode == 0, proc.stderr
    replies = [parse_reply(bytes.fromhex(line)) for line in proc.stdout.split()]
    assert len(replies) == tries and all(r[1] == ERRC["PERMISSION"] for r in replies)
    # every connect was refused and told why; the log got one line, not fifty
    (ok,) = send_as(AGENT_UID, sock, msg(1))
    assert ok[1] == 0
    lines = [line for line in device["mon"].text().splitlines() if "monitor.peer.refused" in line]
    assert len(lines) == 1, lines
    assert f"peer uid {STRANGER_UID}" in lines[0] and "counted, not logged" in lines[0]
