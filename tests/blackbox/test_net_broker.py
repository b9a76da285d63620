"""Network broker and per-app brokers through the real application manager and sandbox.

Apps (the static tests/apps/net_probe.c, and the blink sample) run with `rampart-appmgr run` or
under the daemon; each gets its own rampart-periph-broker on fd 3. Outbound connections, listening
sockets and app-to-app connections exist only when the manifest grants them; every refusal is
logged by the broker (STATE/apps/<id>/broker.log, one JSON object per line, and the app's log).
Runs as root: creating containers needs it. Test servers listen on 127.0.0.1, so most tests run
the manager with --broker-allow-loopback-targets; one checks that loopback is refused without it.
"""
import json
import os
import socket
import subprocess
import threading
import time
import uuid

import pytest

from conftest import find_binary, free_port, run, remove_cgroups

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandbox tests create containers and must run as root")


class Device:
    def __init__(self, tmp_path, loopback=True):
        self.tmp = tmp_path
        self.state = tmp_path / "state"
        self.cgroup_parent = f"rampart-nettest-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.opts = ["--state", str(self.state), "--cgroup-parent", self.cgroup_parent, "--no-restart"]
        if loopback:
            self.opts.append("--broker-allow-loopback-targets")
        self.netns = None  # a network namespace of the test's own (UDP filter tests): the manager runs there

    def appmgr_argv(self, *args):
        argv = [str(find_binary("rampart-appmgr")), *self.opts, *map(str, args)]
        return ["nsenter", f"--net=/run/netns/{self.netns}", *argv] if self.netns else argv

    def appmgr(self, *args, check=True):
        proc = subprocess.run(self.appmgr_argv(*args), capture_output=True, text=True, timeout=120)
        if check:
            assert proc.returncode == 0, f"rampart-appmgr {args} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def package(self, args, caps, binary="net_probe", name="netprobe", cid=None):
        cid = cid or str(uuid.uuid4())
        root = self.tmp / f"pkg-{cid}"
        (root / "bin").mkdir(parents=True)
        (root / "bin" / "app").write_bytes(find_binary(binary).read_bytes())
        os.chmod(root / "bin" / "app", 0o755)
        manifest = {"SchemaVersion": 1, "Name": name, "ComponentId": cid, "EntryPoint": "/bin/app",
                    "CmdArgs": list(args), "ApplicationType": "Default", "Capabilities": caps}
        (root / "app_manifest.json").write_text(json.dumps(manifest))
        self.appmgr("install", root)
        return cid

    def run_app(self, args, caps, timeout_ms=20000, **kw):
        cid = self.package(args, caps, **kw)
        proc = self.appmgr("run", cid, "--timeout-ms", timeout_ms)
        return json.loads(proc.stdout), self.log(cid), self.events(cid)

    def log(self, cid):
        path = self.state / "apps" / cid / "log"
        text = path.read_text() if path.exists() else ""
        # The broker's stderr is the app's log: a sanitizer report from it (ASan builds) lands here.
        assert "Sanitizer" not in text, text
        return text

    def events(self, cid):
        path = self.state / "apps" / cid / "broker.log"
        return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def device(tmp_path):
    d = Device(tmp_path)
    yield d
    remove_cgroups(d.cgroup_parent)


@pytest.fixture
def device_strict(tmp_path):
    d = Device(tmp_path, loopback=False)
    yield d
    remove_cgroups(d.cgroup_parent)


class PongServer:
    """A TCP server on 127.0.0.1 that answers each line with "pong"; counts connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(64)
                    conn.sendall(b"pong\n")
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def server():
    s = PongServer()
    yield s
    s.close()


def line(log, prefix):
    hits = [l for l in log.splitlines() if l.startswith(prefix)]
    assert hits, f"no line starting with {prefix!r} in the app's log:\n{log}"
    return hits[0]


def denials(events):
    return [e for e in events if e["event"] == "denied"]


@pytest.mark.parametrize("host", ["localhost", "LocalHost", "127.0.0.1"])
def test_connect_to_an_allowed_host(device, server, host):
    status, log, events = device.run_app(["connect", host, str(server.port)],
                                         {"AllowedConnections": ["localhost", "127.0.0.1"]})
    assert status["last_exit"] == "exited: status 0", log
    assert line(log, "connect ") == "connect ok pong"
    assert server.accepted == 1
    assert any(e["event"] == "net.connect" and e["port"] == server.port for e in events), events


def test_wildcard_entry_does_not_cover_the_domain_or_other_hosts(device, server):
    _, log, events = device.run_app(["connect", "localhost", str(server.port)],
                                    {"AllowedConnections": ["*.localhost.example"]})
    assert line(log, "connect ") == "connect err EPERM"
    assert denials(events)[0]["reason"] == "the host is not in AllowedConnections"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.2", "::1"])
def test_connect_to_a_host_not_allowed_is_refused_and_logged(device, server, host):
    _, log, events = device.run_app(["connect", host, str(server.port)], {"AllowedConnections": ["example.com"]})
    assert line(log, "connect ") == "connect err EPERM"
    assert server.accepted == 0
    d = denials(events)
    assert d and d[0]["request"] == "net.connect" and d[0]["host"] == host and d[0]["errno"] == "EPERM", events
    assert "broker.denied" in log  # the broker's own log line lands next to the app's output


def test_no_capabilities_no_network(device, server):
    _, log, events = device.run_app(["connect", "localhost", str(server.port)], {})
    assert line(log, "connect ") == "connect err EPERM"
    assert server.accepted == 0 and denials(events)


def test_loopback_targets_are_refused_without_the_device_flag(device_strict, server):
    _, log, events = device_strict.run_app(["connect", "localhost", str(server.port)],
                                           {"AllowedConnections": ["localhost", "127.0.0.1"]})
    assert line(log, "connect ") == "connect err EPERM"
    assert server.accepted == 0
    assert "loopback" in denials(events)[0]["reason"], events


def test_outbound_udp_is_not_offered(device, server):
    _, log, events = device.run_app(["connect-udp", "localhost", str(server.port)],
                                    {"AllowedConnections": ["localhost"]})
    assert line(log, "connect-udp ") == "connect-udp err EPROTONOSUPPORT"
    assert denials(events)[0]["protocol"] == "udp"


def test_sockets_made_inside_the_sandbox_reach_nothing(device, server):
    # The app's own namespace has only loopback (not the host's) and Landlock refuses TCP connect.
    _, log, _ = device.run_app(["direct", "127.0.0.1", str(server.port)], {"AllowedConnections": ["127.0.0.1"]})
    assert line(log, "direct ").split()[1] == "err", log
    assert server.accepted == 0


def run_in_background(device, cid, timeout_ms=20000):
    return subprocess.Popen([str(find_binary("rampart-appmgr")), *device.opts, "run", cid, "--timeout-ms",
                             str(timeout_ms)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_listen_on_a_declared_tcp_port(device):
    port = free_port()
    cid = device.package(["listen", "tcp", str(port)], {"AllowedTcpServerPorts": [port]})
    proc = run_in_background(device, cid)
    got = b""
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not got:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                    got = c.recv(64)
            except OSError:
                time.sleep(0.1)
    finally:
        out, err = proc.communicate(timeout=60)
    assert got == b"hello from app\n", device.log(cid)
    assert "served ok" in device.log(cid)
    assert json.loads(out)["last_exit"] == "exited: status 0"


def test_listen_on_a_declared_udp_port(udp_device):
    # In a namespace of the test's own: the manager installs the UDP reply-only filter (see below).
    port = free_port()
    cid = udp_device.package(["listen", "udp", str(port)], {"AllowedUdpServerPorts": [port]})
    proc = subprocess.Popen(udp_device.appmgr_argv("run", cid, "--timeout-ms", 20000), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        client = in_netns(udp_device, "/usr/bin/python3", "-c", UDP_CLIENT, port, free_port())
    finally:
        proc.communicate(timeout=60)
    assert json.loads(client.stdout)["got"] == "hello from app\n", udp_device.log(cid)


@pytest.mark.parametrize("proto,caps", [
    ("tcp", {}),
    ("tcp", {"AllowedTcpServerPorts": [1]}),
    ("tcp", {"AllowedUdpServerPorts": ["PORT"]}),  # the other protocol's list does not count
    ("udp", {"AllowedTcpServerPorts": ["PORT"]}),
])
def test_listen_on_an_undeclared_port_is_refused(udp_device, proto, caps):
    device = udp_device  # AllowedUdpServerPorts installs a filter: keep it out of the host's namespace
    port = free_port()
    caps = {k: [port if p == "PORT" else p for p in v] for k, v in caps.items()}
    _, log, events = device.run_app(["listen", proto, str(port)], caps)
    assert line(log, "listen ") == "listen err EPERM"
    d = denials(events)
    assert d and d[0]["request"] == "net.listen" and d[0]["port"] == port, events


def test_blink_toggles_the_simulated_led_through_its_own_broker(device):
    caps = {"Gpio": ["$SAMPLE_LED"]}  # as samples/blink/app_manifest.json
    status, log, events = device.run_app(["4", "20"], caps, binary="sample_blink", name="Blink")
    assert status["last_exit"] == "exited: status 0", log
    sets = [e["value"] for e in events if e["event"] == "gpio.set" and e["name"] == "SAMPLE_LED"]
    assert sets == [0, 1, 0, 1], events
    assert events[0]["event"] == "start" and events[-1]["event"] == "stop"


def test_blink_without_the_gpio_capability_is_refused(device):
    status, log, events = device.run_app(["2", "20"], {}, binary="sample_blink", name="Blink")
    assert status["last_exit"] != "exited: status 0"
    assert denials(events) and denials(events)[0]["request"] == "gpio.open"


def ctl(sock, *args, check=True):
    return run("rampart-appmgr", "ctl", "--socket", sock, *args, check=check)


def wait_for(predicate, seconds=20):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def app_to_app(device, tmp_path, server_lists_client):
    """Start a listening app and a connecting app under the daemon; return both logs."""
    server_cid, client_cid, other = (str(uuid.uuid4()) for _ in range(3))
    device.package(["app-listen"], {"AllowedApplicationConnections": [client_cid if server_lists_client else other]},
                   name="server", cid=server_cid)
    device.package(["app-connect", server_cid], {"AllowedApplicationConnections": [server_cid]}, name="client",
                   cid=client_cid)
    sock = str(tmp_path / "appmgr.sock")
    daemon = subprocess.Popen([str(find_binary("rampart-appmgr")), *device.opts, "daemon", "--socket", sock],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: os.path.exists(sock)), "daemon did not listen"
        ctl(sock, "start", server_cid)
        assert wait_for(lambda: "app-listen ok" in device.log(server_cid)), device.log(server_cid)
        ctl(sock, "start", client_cid)
        assert wait_for(lambda: "app-connect " in device.log(client_cid)), device.log(client_cid)
        if server_lists_client:
            assert wait_for(lambda: "accepted" in device.log(server_cid)), device.log(server_cid)
    finally:
        daemon.terminate()
        _, err = daemon.communicate(timeout=30)
    return server_cid, client_cid, err


def test_app_to_app_when_both_declare_each_other(device, tmp_path):
    server_cid, client_cid, _ = app_to_app(device, tmp_path, server_lists_client=True)
    assert line(device.log(client_cid), "app-connect ") == f"app-connect ok hi {client_cid}"
    assert f"accepted {client_cid}" in device.log(server_cid)
    assert any(e["event"] == "app.incoming" and e["peer"] == client_cid for e in device.events(server_cid))


def test_app_to_app_is_refused_when_only_one_side_declares(device, tmp_path):
    server_cid, client_cid, err = app_to_app(device, tmp_path, server_lists_client=False)
    assert line(device.log(client_cid), "app-connect ") == "app-connect err EPERM"
    assert "accepted" not in device.log(server_cid)
    assert "app.connect.denied" in err
    assert denials(device.events(client_cid))[0]["request"] == "app.connect"


def test_app_connect_to_an_undeclared_app_is_refused_by_its_broker(device):
    _, log, events = device.run_app(["app-connect", str(uuid.uuid4())], {})
    assert line(log, "app-connect ") == "app-connect err EPERM"
    assert denials(events)[0]["reason"] == "AllowedApplicationConnections does not list this component"


def test_app_connect_to_a_peer_that_is_not_running_is_refused(device):
    server_cid, client_cid = str(uuid.uuid4()), str(uuid.uuid4())
    device.package(["app-listen"], {"AllowedApplicationConnections": [client_cid]}, name="server", cid=server_cid)
    _, log, events = device.run_app(["app-connect", server_cid, "1"],
                                    {"AllowedApplicationConnections": [server_cid]}, name="client", cid=client_cid)
    assert line(log, "app-connect ") == "app-connect err ECONNREFUSED"
    assert "not running" in denials(events)[0]["reason"] or "not accepting" in denials(events)[0]["reason"]


# --- UDP server ports answer only their clients (nftables reply-only filter, appmgr_firewall.c) ---
# Each test runs the manager in a network namespace it creates, so no rule touches the host's.

UDP_CLIENT = r"""
import json, socket, sys, time
port, other = int(sys.argv[1]), int(sys.argv[2])
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", other))
rx.settimeout(2)
got = ""
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(0.2)
    for _ in range(150):  # bounded: the app may still be starting
        s.sendto(b"hi", ("127.0.0.1", port))
        try:
            got = s.recv(64).decode()
            break
        except OSError:
            continue
stray = ""
if got:
    try:
        stray = rx.recv(64).decode()
    except OSError:
        stray = "timeout"
print(json.dumps({"got": got, "stray": stray}))
"""


@pytest.fixture
def udp_device(tmp_path):
    d = Device(tmp_path)
    d.netns = f"rampart-udp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", d.netns], check=True)
    try:
        subprocess.run(["ip", "-n", d.netns, "link", "set", "lo", "up"], check=True)
        yield d
    finally:
        subprocess.run(["ip", "netns", "delete", d.netns])
        remove_cgroups(d.cgroup_parent)


def in_netns(device, *argv):
    return subprocess.run(["nsenter", f"--net=/run/netns/{device.netns}", *map(str, argv)], capture_output=True,
                          text=True, timeout=120)


def nft_rules(device):
    out = in_netns(device, "nft", "list", "ruleset")
    assert out.returncode == 0, out.stderr
    return out.stdout


def udp_serve(device, extra=()):
    """Run a "udp-serve" app; a client in the namespace sends to it. Returns (client result, app log, run)."""
    port, other = free_port(), free_port()
    cid = device.package(["udp-serve", str(port), str(other)], {"AllowedUdpServerPorts": [port]})
    proc = subprocess.Popen(device.appmgr_argv(*extra, "run", cid, "--timeout-ms", 20000), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        client = in_netns(device, "/usr/bin/python3", "-c", UDP_CLIENT, port, other)
    finally:
        out, err = proc.communicate(timeout=60)
    assert client.returncode == 0, client.stderr
    return json.loads(client.stdout), device.log(cid), (proc.returncode, out, err)


def block_filter_chain(device, cid):
    """Put a foreign chain where the app's filter goes, so nftables refuses to install it."""
    uid = json.loads(device.appmgr("status", cid).stdout)["uid"] + 1000  # uidalloc_broker_uid, default range
    for cmd in (["add", "table", "inet", "rampart"], ["add", "chain", "inet", "rampart", f"udp_servers_{uid}"]):
        assert in_netns(device, "nft", *cmd).returncode == 0


def test_udp_server_answers_its_client_but_cannot_reach_a_new_peer(udp_device):
    result, log, (rc, out, err) = udp_serve(udp_device)
    assert result["got"] == "hello from app\n", log + err
    assert line(log, "udp-serve ok") == "udp-serve ok stray err EPERM", log
    assert result["stray"] == "timeout"
    assert rc == 0 and json.loads(out)["last_exit"] == "exited: status 0"
    # The rule lived exactly as long as the app's broker.
    assert "udp_servers_" not in nft_rules(udp_device)


def test_udp_server_app_is_not_started_when_its_filter_cannot_be_installed(udp_device):
    port = free_port()
    cid = udp_device.package(["udp-serve", str(port), str(free_port())], {"AllowedUdpServerPorts": [port]})
    block_filter_chain(udp_device, cid)
    proc = udp_device.appmgr("run", cid, "--timeout-ms", 5000, check=False)
    assert proc.returncode != 0, proc.stdout
    assert "AllowedUdpServerPorts" in proc.stderr and "--allow-unfiltered-udp-servers" in proc.stderr, proc.stderr
    assert "udp-serve ok" not in udp_device.log(cid)


def test_udp_server_runs_unfiltered_only_in_the_degraded_mode(udp_device):
    port, other = free_port(), free_port()
    cid = udp_device.package(["udp-serve", str(port), str(other)], {"AllowedUdpServerPorts": [port]})
    block_filter_chain(udp_device, cid)
    proc = subprocess.Popen(udp_device.appmgr_argv("--allow-unfiltered-udp-servers", "run", cid, "--timeout-ms",
                                                   20000), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        client = in_netns(udp_device, "/usr/bin/python3", "-c", UDP_CLIENT, port, other)
    finally:
        out, err = proc.communicate(timeout=60)
    result = json.loads(client.stdout)
    assert result["got"] == "hello from app\n", udp_device.log(cid) + err
    assert "appmgr.udp_filter.degraded" in err and "UNFILTERED" in err, err  # loudly, at start and for the app
    assert line(udp_device.log(cid), "udp-serve ok") == "udp-serve ok stray ok"
    assert result["stray"] == "stray\n"


def test_tcp_server_ports_get_no_filter(udp_device):
    port = free_port()
    cid = udp_device.package(["listen", "tcp", str(port)], {"AllowedTcpServerPorts": [port]})
    udp_device.appmgr("run", cid, "--timeout-ms", 500, check=False)
    assert "rampart" not in nft_rules(udp_device)
