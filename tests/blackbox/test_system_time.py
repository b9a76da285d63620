"""The SystemTime capability, and what a per-app broker keeps after dropping its privileges.

Apps (the static tests/apps/time_probe.c) run in real sandboxes under `rampart-appmgr run`; their
brokers use the simulated board, whose clock is an offset kept by the broker, so nothing here moves
the host's clock (every test checks that too). clock_settime()/settimeofday() in an app linked with
applibs reach the broker, which checks SystemTime and logs to STATE/apps/<id>/broker.log. The
protocol-level tests talk to a standalone broker over a socketpair.
Runs as root: containers and brokers that drop privileges need it.
"""
import json
import os
import socket
import struct
import subprocess
import time
import uuid

import pytest

from conftest import ROOT, find_binary, run, remove_cgroups

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandbox tests create containers and must run as root")

BOARD = ROOT / "samples" / "boards" / "simulated.json"
WHEN = 1900000000  # 2030-03-17T17:46:40Z, far from the host's clock
CAP_NET_BIND_SERVICE = 10
CAP_SYS_TIME = 25
BROKER_TIME = 16


class Device:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.state = tmp_path / "state"
        self.cgroup_parent = f"rampart-timetest-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.opts = ["--state", str(self.state), "--cgroup-parent", self.cgroup_parent, "--no-restart",
                     "--broker-allow-loopback-targets"]

    def package(self, args, caps, binary="time_probe"):
        cid = str(uuid.uuid4())
        name = "timeprobe" if binary == "time_probe" else "netprobe"
        root = self.tmp / f"pkg-{cid}"
        (root / "bin").mkdir(parents=True)
        (root / "bin" / "app").write_bytes(find_binary(binary).read_bytes())
        os.chmod(root / "bin" / "app", 0o755)
        manifest = {"SchemaVersion": 1, "Name": name, "ComponentId": cid, "EntryPoint": "/bin/app",
                    "CmdArgs": [str(a) for a in args], "ApplicationType": "Default", "Capabilities": caps}
        (root / "app_manifest.json").write_text(json.dumps(manifest))
        run("rampart-appmgr", *self.opts, "install", root, check=True)
        return cid

    def run_app(self, args, caps):
        cid = self.package(args, caps)
        proc = run("rampart-appmgr", *self.opts, "run", cid, "--timeout-ms", "20000", check=True)
        return json.loads(proc.stdout), self.log(cid), self.events(cid)

    def start_app(self, args, caps, binary="time_probe"):
        cid = self.package(args, caps, binary=binary)
        proc = subprocess.Popen([str(find_binary("rampart-appmgr")), *self.opts, "run", cid, "--timeout-ms", "30000"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return cid, proc

    def log(self, cid):
        path = self.state / "apps" / cid / "log"
        text = path.read_text() if path.exists() else ""
        assert "Sanitizer" not in text, text
        return text

    def events(self, cid):
        path = self.state / "apps" / cid / "broker.log"
        return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []

    def broker_pid(self, cid, seconds=15):
        """The running broker of app CID: its --log names this device's state directory."""
        needle = str(self.state / "apps" / cid / "broker.log")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
                except OSError:
                    continue
                if args and args[0].endswith(b"rampart-periph-broker") and needle.encode() in args:
                    return int(pid)
            time.sleep(0.05)
        pytest.fail(f"no broker for {cid} appeared")


@pytest.fixture
def device(tmp_path):
    before = time.time()
    d = Device(tmp_path)
    yield d
    remove_cgroups(d.cgroup_parent)
    # Nothing here may move the host's clock (the simulated board's clock is the broker's own).
    assert abs(time.time() - before) < 3600


def lines(log, prefix):
    return [l for l in log.splitlines() if l.startswith(prefix)]


def denials(events, request=None):
    return [e for e in events if e["event"] == "denied" and (request is None or e["request"] == request)]


def test_app_with_system_time_sets_the_simulated_clock(device):
    status, log, events = device.run_app(
        ["settime", WHEN, 5, "settimeofday", WHEN + 60, 250000, "systohc", "sync-set", 0, "sync-get"],
        {"SystemTime": True})
    assert status["last_exit"] == "exited: status 0", log
    assert lines(log, "settime ") == ["settime ok"]
    assert lines(log, "settimeofday ") == ["settimeofday ok"]
    assert lines(log, "systohc ") == ["systohc ok"]
    assert lines(log, "sync-get ") == ["sync-get ok 0"]
    sets = [(e["seconds"], e["nanoseconds"], e["clock"]) for e in events if e["event"] == "time.set"]
    assert sets == [(WHEN, 5, "simulated"), (WHEN + 60, 250000000, "simulated")], events
    rtc = [e for e in events if e["event"] == "time.systohc"]
    # The RTC got the simulated clock (set a moment ago), not the host's.
    assert rtc and WHEN + 60 <= rtc[0]["seconds"] < WHEN + 60 + 120, events
    assert [e["enabled"] for e in events if e["event"] == "time.sync"] == [False]
    assert "broker.time_set" in log  # the broker's own line lands next to the app's output


def test_app_without_system_time_is_refused_and_logged(device):
    status, log, events = device.run_app(
        ["settime", WHEN, 0, "settimeofday", WHEN, 0, "systohc", "sync-set", 0, "sync-get"], {})
    assert lines(log, "settime ") == ["settime err EPERM"]
    assert lines(log, "settimeofday ") == ["settimeofday err EPERM"]
    assert lines(log, "systohc ") == ["systohc err EACCES"]  # as Azure Sphere's clock_systohc
    assert lines(log, "sync-set ") == ["sync-set err EACCES"]
    assert lines(log, "sync-get ") == ["sync-get ok 1"]  # reading the state needs no capability
    assert not [e for e in events if e["event"] in ("time.set", "time.systohc", "time.sync")], events
    d = denials(events, "time.set")
    assert len(d) == 2 and all(e["errno"] == "EPERM" and "SystemTime" in e["reason"] for e in d), events
    assert denials(events, "time.systohc") and denials(events, "time.sync.set")


def test_time_sync_config_alone_allows_time_sync_but_not_the_clock(device):
    _, log, events = device.run_app(["sync-set", 0, "settime", WHEN, 0], {"TimeSyncConfig": True})
    assert lines(log, "sync-set ") == ["sync-set ok"]
    assert lines(log, "settime ") == ["settime err EPERM"]
    assert [e["enabled"] for e in events if e["event"] == "time.sync"] == [False]


@pytest.mark.parametrize("args,reason", [
    (["settime-clock", 1, WHEN, 0], "only CLOCK_REALTIME"),         # CLOCK_MONOTONIC
    (["settime-clock", -2, WHEN, 0], "only CLOCK_REALTIME"),        # a CPU-time clock
    (["settime", WHEN, 1000000000], "nanoseconds"),
    (["settime", WHEN, -1], "nanoseconds"),
    (["settime", 100, 0], "seconds"),                               # 1970
    (["settime", 4200000000, 0], "seconds"),                        # 2103
])
def test_malformed_time_is_refused_with_einval_and_logged(device, args, reason):
    status, log, events = device.run_app(args, {"SystemTime": True})
    assert lines(log, args[0] + " ") == [f"{args[0]} err EINVAL"], log
    d = denials(events, "time.set")
    assert len(d) == 1 and reason in d[0]["reason"], events
    assert not [e for e in events if e["event"] == "time.set"]


def test_settimeofday_with_bad_microseconds_is_einval(device):
    _, log, events = device.run_app(["settimeofday", WHEN, 1000000], {"SystemTime": True})
    assert lines(log, "settimeofday ") == ["settimeofday err EINVAL"]
    assert not [e for e in events if e["event"] == "time.set"]


@pytest.mark.parametrize("caps", [{}, {"SystemTime": True}])
def test_direct_system_calls_from_the_sandbox_fail(device, caps):
    # Bypassing applibs: the app has no CAP_SYS_TIME and its seccomp policy refuses the calls.
    status, log, events = device.run_app(["raw-settime", WHEN, "raw-settimeofday", WHEN], caps)
    assert lines(log, "raw-settime ") == ["raw-settime err EPERM"], log
    assert lines(log, "raw-settimeofday ") == ["raw-settimeofday err EPERM"], log
    assert not [e for e in events if e["event"] == "time.set"]


# ---- the protocol, against a standalone broker ----

def time_msg(op, clock=0, sec=WHEN, nsec=0, enabled=0, seq=1, version=1, trailing=b""):
    return (struct.pack(">HHII", version, BROKER_TIME, seq, 0) +
            struct.pack(">BIqIB", op, clock, sec, nsec, enabled) + trailing)


@pytest.fixture
def broker(tmp_path):
    procs = []

    def start(caps, board=BOARD):
        m = tmp_path / f"manifest-{len(procs)}.json"
        m.write_text(json.dumps({"SchemaVersion": 1, "Name": "Probe", "ComponentId": str(uuid.uuid4()),
                                 "EntryPoint": "/bin/app", "CmdArgs": [], "ApplicationType": "Default",
                                 "Capabilities": caps}))
        log = tmp_path / f"events-{len(procs)}.jsonl"
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        p = subprocess.Popen([str(find_binary("rampart-periph-broker")), "--board", str(board), "--manifest", str(m),
                              "--socket-fd", str(theirs.fileno()), "--log", str(log)],
                             pass_fds=[theirs.fileno()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        theirs.close()
        mine.settimeout(20)
        procs.append((p, mine))
        return p, mine, log

    yield start
    for p, mine in procs:
        mine.close()
        try:
            _, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            pytest.fail("the broker did not exit when its app closed the socket")
        assert "Sanitizer" not in err, err


def status_of(reply):
    version, rtype, seq, status = struct.unpack(">HHII", reply[:12])
    assert version == 1 and rtype == BROKER_TIME | 0x8000
    return seq, status, reply[12:]


def test_time_request_round_trip_and_value_checks(broker):
    p, s, log = broker({"SystemTime": True})
    s.send(time_msg(1, sec=WHEN, nsec=999999999, seq=7))
    assert status_of(s.recv(4096)) == (7, 0, b"\x00")
    s.send(time_msg(1, sec=WHEN, nsec=1000000000, seq=8))
    assert status_of(s.recv(4096))[:2] == (8, 22)  # EINVAL, and the session goes on
    s.send(time_msg(4, seq=9))
    assert status_of(s.recv(4096)) == (9, 0, b"\x01")
    events = [json.loads(l) for l in log.read_text().splitlines()]
    assert [e["nanoseconds"] for e in events if e["event"] == "time.set"] == [999999999]


@pytest.mark.parametrize("raw", [
    time_msg(0),                          # operation 0
    time_msg(5),                          # operation beyond time sync query
    time_msg(3, enabled=2),               # enabled must be 0 or 1
    time_msg(1)[:-1],                     # truncated
    time_msg(1, trailing=b"\x00"),        # trailing byte
    time_msg(1, version=2),               # another protocol version
])
def test_malformed_time_messages_close_the_session(broker, raw):
    p, s, log = broker({"SystemTime": True})
    s.send(raw)
    assert s.recv(4096) == b""  # no answer: the broker ends the session
    assert p.wait(timeout=20) == 0
    events = [json.loads(l) for l in log.read_text().splitlines()]
    assert any(e["event"] == "protocol_error" for e in events), events
    assert not [e for e in events if e["event"] == "time.set"]


# ---- broker privileges ----

def proc_status(pid):
    fields = {}
    for l in open(f"/proc/{pid}/status"):
        k, _, v = l.partition(":")
        fields[k] = v.strip()
    return fields


def dropped_status(pid, seconds=15):
    """/proc/PID/status once the broker has switched users (it does so right after start-up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        st = proc_status(pid)
        if st["Uid"].split()[0] != "0" and st["Seccomp"] == "2":
            return st
        time.sleep(0.05)
    pytest.fail(f"broker {pid} still runs as root or without seccomp: {proc_status(pid)}")


def app_uid(device, cid):
    return json.loads((device.state / "apps" / cid / "app.json").read_text())["uid"]


def finish(proc):
    out, _ = proc.communicate(timeout=60)
    return json.loads(out)


def test_broker_starts_with_no_signal_blocked(device, tmp_path):
    # The manager's daemon blocks SIGTERM and SIGINT for its signalfd; its brokers must not inherit
    # that, or the SIGTERM that stops one is held until it exits on its own.
    cid = device.package(["sleep", 3000], {"Gpio": ["$SAMPLE_LED"]})
    sock = tmp_path / "appmgr.sock"
    daemon = subprocess.Popen([str(find_binary("rampart-appmgr")), *device.opts, "--no-prewarm", "daemon",
                               "--socket", str(sock)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        run("rampart-appmgr", "ctl", "--socket", sock, "start", cid, check=True)
        st = dropped_status(device.broker_pid(cid))
    finally:
        daemon.terminate()
        _, err = daemon.communicate(timeout=60)
    assert int(st["SigBlk"], 16) == 0, st
    # Standard signals only: glibc's internal real-time signals are outside a program's reach.
    assert int(st["SigIgn"], 16) & 0x7FFFFFFF == 0, st
    assert "Sanitizer" not in err, err


def test_broker_runs_as_its_own_user_with_no_capabilities(device):
    caps = {"SystemTime": True, "Gpio": ["$SAMPLE_LED"], "AllowedTcpServerPorts": [8080]}
    cid, proc = device.start_app(["sleep", 3000, "settime", WHEN, 0], caps)
    try:
        st = dropped_status(device.broker_pid(cid))
    finally:
        status = finish(proc)
    uid = app_uid(device, cid)
    # Its own uid and gid, not the app's (the range after the apps'), and never root.
    assert st["Uid"].split() == [str(uid + 1000)] * 4, st
    assert st["Gid"].split() == [str(uid + 1000)] * 4, st
    assert st["Groups"] == ""
    # The simulated board's clock and GPIO need no privilege: nothing is kept, not even in the bounding set.
    for k in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
        assert int(st[k], 16) == 0, (k, st)
    assert st["NoNewPrivs"] == "1"
    # ...and the dropped broker still serves its app.
    assert status["last_exit"] == "exited: status 0", device.log(cid)
    assert lines(device.log(cid), "settime ") == ["settime ok"]


def privileged_free_port():
    for port in range(1023, 899, -1):
        with socket.socket(socket.AF_INET6) as s:
            try:
                s.bind(("::", port))
                return port
            except OSError:
                continue
    pytest.skip("no free port below 1024")


def test_broker_keeps_only_net_bind_service_for_a_privileged_server_port(device):
    port = privileged_free_port()
    cid, proc = device.start_app(["listen", "tcp", port], {"AllowedTcpServerPorts": [port]}, binary="net_probe")
    got = b""
    try:
        st = dropped_status(device.broker_pid(cid))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not got:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                    got = c.recv(64)
            except OSError:
                time.sleep(0.1)
    finally:
        finish(proc)
    assert int(st["CapEff"], 16) == 1 << CAP_NET_BIND_SERVICE, st
    assert int(st["CapBnd"], 16) == 1 << CAP_NET_BIND_SERVICE, st
    assert got == b"hello from app\n", device.log(cid)
