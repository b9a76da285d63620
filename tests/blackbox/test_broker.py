"""Black-box tests of the peripheral broker and the applibs SDK samples.

Each test starts the real rampart-periph-broker with a manifest and the simulated board, hands
one end of a SOCK_SEQPACKET socketpair to it and the other to an app (a sample, or
rampart-applibs-probe) through RAMPART_BROKER_FD, outside any sandbox, and checks what the app saw
and what the broker logged.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import ROOT, find_binary, free_port

BOARD = ROOT / "samples" / "boards" / "simulated.json"
BLINK_ID = "077d9def-fa59-467f-a843-1d35e48470b6"
OTHER_APP = "4780b14f-8b59-4715-810e-a021efdabec8"


def manifest(tmp_path, capabilities, name="Probe"):
    doc = {
        "SchemaVersion": 1,
        "Name": name,
        "ComponentId": BLINK_ID,
        "EntryPoint": "/bin/app",
        "CmdArgs": [],
        "ApplicationType": "Default",
        "Capabilities": capabilities,
    }
    path = tmp_path / f"manifest-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps(doc))
    return path


class Session:
    """A broker serving one app over a socketpair."""

    def __init__(self, tmp_path, manifest_path, board=BOARD, extra=()):
        self.log = tmp_path / "events.jsonl"
        if self.log.exists():
            self.log.unlink()
        broker_end, self.app_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.broker = subprocess.Popen(
            [str(find_binary("rampart-periph-broker")), "--board", str(board), "--manifest", str(manifest_path),
             "--socket-fd", str(broker_end.fileno()), "--log", str(self.log), *extra],
            pass_fds=[broker_end.fileno()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        broker_end.close()

    def run(self, binary, *args, env=None, timeout=60):
        full_env = dict(os.environ)
        full_env["RAMPART_BROKER_FD"] = str(self.app_end.fileno())
        full_env.update(env or {})
        path = binary if os.path.isabs(str(binary)) else str(find_binary(binary))
        return subprocess.run([path, *map(str, args)], pass_fds=[self.app_end.fileno()], env=full_env,
                              capture_output=True, text=True, timeout=timeout)

    def probe(self, *args, **kw):
        proc = self.run("rampart-applibs-probe", *args, **kw)
        assert "Sanitizer" not in proc.stderr, proc.stderr
        return proc

    def close(self):
        """Close the app's end; the broker must then exit. Returns (exit status, stderr)."""
        self.app_end.close()
        try:
            _, err = self.broker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.broker.kill()
            _, err = self.broker.communicate()
            pytest.fail("the broker did not exit when its app closed the socket")
        assert "Sanitizer" not in err, err
        return self.broker.returncode, err

    def events(self):
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def session(tmp_path):
    made = []

    def start(capabilities, **kw):
        s = Session(tmp_path, manifest(tmp_path, capabilities), **kw)
        made.append(s)
        return s

    yield start
    for s in made:
        if s.broker.poll() is None:
            s.broker.kill()
            s.broker.wait()


def lines(proc):
    return proc.stdout.splitlines()


def test_blink_toggles_the_simulated_led(session):
    s = session({"Gpio": ["$SAMPLE_LED"]})
    app = s.run("sample_blink", 4, 20, env={"RAMPART_APP_NAME": "Blink"})
    assert app.returncode == 0, app.stderr
    assert "Blink: LED on" in app.stderr
    status, err = s.close()
    assert status == 0, err
    ev = s.events()
    opens = [e for e in ev if e["event"] == "open"]
    assert opens and opens[0]["name"] == "SAMPLE_LED" and opens[0]["direction"] == "output"
    sets = [e["value"] for e in ev if e["event"] == "gpio.set" and e["id"] == 8]
    assert sets == [0, 1, 0, 1]
    assert ev[-2]["event"] == "close" and ev[-1]["event"] == "stop"


def test_blink_without_the_gpio_capability_gets_eperm(session):
    s = session({})
    app = s.run("sample_blink", 2, 20)
    assert app.returncode == 1
    assert "could not open SAMPLE_LED: Operation not permitted" in app.stderr
    s.close()
    denied = [e for e in s.events() if e["event"] == "denied"]
    assert denied and denied[0]["errno"] == "EPERM" and denied[0]["request"] == "gpio.open"
    assert not [e for e in s.events() if e["event"] == "gpio.set"]


def test_undeclared_and_unknown_gpios_fail_with_eperm(session):
    s = session({"Gpio": ["$SAMPLE_LED"]})
    out = lines(s.probe("gpio-out", 9, 1, "gpio-out", 99, 0, "gpio-out", 8, 1, "gpio-set", 0))
    assert out == ["gpio-out err EPERM", "gpio-out err EPERM", "gpio-out ok ", "gpio-set ok "]
    s.close()
    ev = s.events()
    assert [e["request_id"] for e in ev if e["event"] == "denied"] == [9, 99]
    assert [e["value"] for e in ev if e["event"] == "gpio.set"] == [0]


def test_numeric_manifest_entries_and_busy_peripherals(session):
    s = session({"Gpio": [8, "12"]})
    out = lines(s.probe("gpio-out", 8, 1, "gpio-out", 8, 1, "gpio-close", "gpio-out", 8, 0, "gpio-in", 12,
                        "gpio-set", 1))
    assert out == ["gpio-out ok ", "gpio-out err EBUSY", "gpio-close ok ", "gpio-out ok ", "gpio-in ok 1",
                   "gpio-set err EPERM"]
    # close() releases the GPIO at once: reopening right after never sees EBUSY.
    out = lines(s.probe(*(["gpio-out", 8, 1, "gpio-set", 0, "gpio-close"] * 50)))
    assert out == ["gpio-out ok ", "gpio-set ok ", "gpio-close ok "] * 50
    s.close()


def test_a_manifest_gpio_missing_on_the_board_is_a_clear_error(session):
    s = session({"Gpio": ["$SAMPLE_LED", "$NOT_ON_THIS_BOARD"]})
    status, err = s.close()
    assert status != 0
    assert "$NOT_ON_THIS_BOARD" in err and "is not defined by board" in err


def test_all_simulated_peripherals(session):
    s = session({"Gpio": ["$SAMPLE_LED"], "Uart": ["ISU0"], "I2cMaster": ["$SAMPLE_I2C"], "SpiMaster": ["ISU1"],
                 "Adc": ["ADC-CONTROLLER-0"], "Pwm": ["PWM-CONTROLLER-0"]})
    out = lines(s.probe("uart", 4, "i2c", 6, 0x48, 0, "i2c", 6, 0x49, 0, "spi", 5, 0, "adc", 0, 1, "adc", 0, 7,
                        "pwm", 0, 1, "pwm", 0, 9))
    assert out == ["uart ok ping", "i2c ok 19a0", "i2c err ENXIO", "spi ok 616263", "adc ok 12 2048",
                   "adc err EINVAL", "pwm ok ", "pwm err EINVAL"]
    s.close()
    ev = s.events()
    assert {"event": "uart.write", "data": "70696e67"}.items() <= next(
        e for e in ev if e["event"] == "uart.write").items()
    i2c = next(e for e in ev if e["event"] == "i2c.write")
    assert i2c["address"] == 0x48 and i2c["data"] == "00"
    pwm = next(e for e in ev if e["event"] == "pwm.apply")
    assert pwm["period_ns"] == 1000000 and pwm["duty_ns"] == 250000 and pwm["enabled"] is True


def test_peripherals_of_other_kinds_are_refused(session):
    s = session({"Gpio": ["$SAMPLE_LED"]})
    out = lines(s.probe("uart", 4, "i2c", 6, 0x48, 0, "spi", 5, 0, "adc", 0, 1, "pwm", 0, 0))
    assert out == ["uart err EPERM", "i2c err EPERM", "spi err EPERM", "adc err EPERM", "pwm err EPERM"]
    s.close()


def test_system_capabilities_are_enforced(session):
    s = session({})
    out = lines(s.probe("net", "sysevent", "defer", "reboot", "profile", "connect", OTHER_APP))
    assert out[0].startswith("net ok ")
    assert out[1:] == ["sysevent err EPERM", "defer err EPERM", "reboot err EPERM", "profile err EPERM",
                       "connect err EPERM"]
    s.close()

    s = session({"SystemEventNotifications": True, "SoftwareUpdateDeferral": True,
                 "PowerControls": ["ForceReboot"], "AllowedApplicationConnections": [OTHER_APP]},
                extra=("--network-ready", "yes"))
    out = lines(s.probe("net", "sysevent", "defer", "reboot", "profile", "connect", OTHER_APP))
    assert out == ["net ok ready", "sysevent ok ", "defer err EINVAL", "reboot ok ", "profile err EPERM",
                   "connect err ECONNREFUSED"]
    s.close()
    assert [e["action"] for e in s.events() if e["event"] == "power"] == ["ForceReboot"]


def test_malformed_message_ends_the_session(session):
    s = session({"Gpio": ["$SAMPLE_LED"]})
    s.app_end.send(b"\x00\x01\x00\x01garbage")
    status, err = s.close()
    assert status == 0
    assert "broker.protocol_error" in err or "protocol_error" in err
    assert any(e["event"] == "protocol_error" for e in s.events())


def test_hostile_board_file_is_refused(tmp_path, session):
    board = tmp_path / "board.json"
    doc = json.loads(BOARD.read_text())
    doc["Peripherals"][0]["Backdoor"] = True
    board.write_text(json.dumps(doc))
    s = session({"Gpio": ["$SAMPLE_LED"]}, board=board)
    status, err = s.close()
    assert status != 0
    assert "Backdoor" in err and "Peripherals[0]" in err


def test_no_broker_socket_means_enotconn():
    env = dict(os.environ)
    env["RAMPART_BROKER_FD"] = "2"  # stderr, not a socket
    proc = subprocess.run([str(find_binary("rampart-applibs-probe")), "gpio-out", "8", "1", "net"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert lines(proc) == ["gpio-out err ENOTCONN", "net err ENOTCONN"]


def test_hello_logs_with_the_app_name():
    proc = subprocess.run([str(find_binary("sample_hello")), "2"], env={"RAMPART_APP_NAME": "Hello"},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    assert proc.stderr.splitlines() == ["Hello: Hello from Rampart, tick 1", "Hello: Hello from Rampart, tick 2"]


def test_mutable_storage_counter(tmp_path):
    storage = tmp_path / "storage"
    storage.mkdir()
    env = {"RAMPART_MUTABLE_STORAGE": str(storage), "RAMPART_APP_NAME": "Counter"}
    binary = str(find_binary("sample_mutable_storage"))
    for expected in (1, 2, 3):
        proc = subprocess.run([binary], env=env, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        assert f"start count: {expected}" in proc.stderr
    assert (storage / "mutable").read_text() == "3\n"
    assert subprocess.run([binary, "--delete"], env=env, capture_output=True, timeout=30).returncode == 0
    assert not (storage / "mutable").exists()
    # No MutableStorage capability: the directory is not mounted.
    proc = subprocess.run([binary], env={"RAMPART_MUTABLE_STORAGE": str(tmp_path / "absent")},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "Operation not permitted" in proc.stderr


def test_crash_sample_dies_with_sigsegv():
    proc = subprocess.run([str(find_binary("sample_crash")), "0"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == -signal.SIGSEGV
    assert "crashing now" in proc.stderr


def test_samples_are_static_executables():
    for name in ("sample_hello", "sample_blink", "sample_mutable_storage", "sample_crash", "sample_https_client"):
        with open(find_binary(name), "rb") as f:
            elf = f.read()
        assert elf[:4] == b"\x7fELF" and elf[4] == 2  # 64-bit
        phoff = int.from_bytes(elf[0x20:0x28], "little")
        phentsize = int.from_bytes(elf[0x36:0x38], "little")
        phnum = int.from_bytes(elf[0x38:0x3a], "little")
        types = [int.from_bytes(elf[phoff + i * phentsize:phoff + i * phentsize + 4], "little") for i in range(phnum)]
        assert 3 not in types, f"{name} has a PT_INTERP: it needs a dynamic loader"
        assert 2 not in types, f"{name} has a PT_DYNAMIC: it needs shared libraries"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def tls_server(tmp_path):
    """openssl s_server on loopback that requires a client certificate from the test CA."""
    if not shutil.which("openssl"):
        pytest.skip("openssl command not installed")
    d = tmp_path / "pki"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "1", "-subj", "/CN=Rampart test CA", cwd=d)
    for name, cn, ext in (("server", "localhost", "subjectAltName=DNS:localhost"),
                          ("client", "device", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext", cwd=d)
    (d / "device.pem").write_text((d / "client.pem").read_text() + (d / "client.key").read_text())
    port = free_port()
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", "server.pem",
                               "-key", "server.key", "-CAfile", "ca.pem", "-Verify", "1", "-verify_return_error",
                               "-www", "-quiet"], cwd=d, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as c:
            if c.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        server.kill()
        pytest.fail("openssl s_server did not start")
    yield d, port
    server.terminate()
    server.wait(timeout=10)


def test_https_client_uses_the_device_certificate(tls_server):
    d, port = tls_server
    binary = str(find_binary("sample_https_client"))
    env = {"RAMPART_DEVICEAUTH_CERT": str(d / "device.pem"), "RAMPART_APP_NAME": "HttpsClient"}
    proc = subprocess.run([binary, "localhost", str(port), "127.0.0.1", str(d / "ca.pem")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "connected to localhost with the device certificate" in proc.stderr
    assert "HTTP/1.0 200 ok" in proc.stderr

    # Without the certificate the app is told device auth is not ready, and does not connect.
    env["RAMPART_DEVICEAUTH_CERT"] = str(d / "missing.pem")
    proc = subprocess.run([binary, "localhost", str(port), "127.0.0.1", str(d / "ca.pem")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "not available yet" in proc.stderr

    # A server whose name does not match is refused.
    env["RAMPART_DEVICEAUTH_CERT"] = str(d / "device.pem")
    proc = subprocess.run([binary, "otherhost", str(port), "127.0.0.1", str(d / "ca.pem")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "TLS handshake" in proc.stderr


def test_deviceauth_readiness_follows_the_certificate_file(tmp_path):
    cert = tmp_path / "client.pem"
    binary = str(find_binary("rampart-applibs-probe"))
    env = dict(os.environ, RAMPART_DEVICEAUTH_CERT=str(cert))
    assert lines(subprocess.run([binary, "deviceauth"], env=env, capture_output=True, text=True,
                                timeout=30)) == ["deviceauth ok not-ready"]
    cert.write_text("placeholder")
    assert lines(subprocess.run([binary, "deviceauth"], env=env, capture_output=True, text=True,
                                timeout=30)) == ["deviceauth ok ready"]


def test_package_files_cannot_escape_the_package(tmp_path):
    root = tmp_path / "pkg"
    (root / "data").mkdir(parents=True)
    (root / "data" / "x.txt").write_text("x")
    (root / "link").symlink_to("/etc/passwd")
    env = dict(os.environ, RAMPART_PACKAGE_ROOT=str(root))
    out = lines(subprocess.run([str(find_binary("rampart-applibs-probe")), "package", "data/x.txt", "package",
                                "../x", "package", "/etc/passwd", "package", "link"], env=env, capture_output=True,
                               text=True, timeout=30))
    assert out == ["package ok ", "package err EINVAL", "package err EINVAL", "package err ELOOP"]


def test_real_uart_backend_on_a_pty(tmp_path, session):
    """The Linux UART backend: the broker opens and configures a tty (a pty here) and hands it over."""
    import pty
    import threading
    master, slave = pty.openpty()
    slave_path = os.ttyname(slave)
    board = tmp_path / "pty-board.json"
    board.write_text(json.dumps({
        "Metadata": {"Type": "Rampart Board Definition", "Version": 1}, "Name": "pty",
        "Peripherals": [{"Name": "SAMPLE_UART", "Type": "Uart", "Id": 4, "AppManifestValue": "ISU0",
                         "Linux": {"Device": slave_path}}]}))
    received = []

    def peer():
        data = b""
        deadline = time.monotonic() + 20
        while b"ping" not in data and time.monotonic() < deadline:
            try:
                data += os.read(master, 64)
            except OSError:
                return
        received.append(data)
        os.write(master, b"pong")

    t = threading.Thread(target=peer, daemon=True)
    t.start()
    s = session({"Uart": ["$SAMPLE_UART"]}, board=board)
    out = lines(s.probe("uart", 4, "uart", 5))
    t.join(timeout=30)
    s.close()
    os.close(slave)
    os.close(master)
    assert received and b"ping" in received[0]
    assert out == ["uart ok pong", "uart err EPERM"]
    opened = [e for e in s.events() if e["event"] == "open"]
    assert opened and opened[0]["baud"] == 115200


def test_missing_real_devices_fail_cleanly(tmp_path, session):
    """Linux backends whose device node is absent: the app gets the OS error, the broker keeps serving."""
    board = tmp_path / "absent-board.json"
    board.write_text(json.dumps({
        "Metadata": {"Type": "Rampart Board Definition", "Version": 1}, "Name": "absent",
        "Peripherals": [
            {"Name": "LED", "Type": "Gpio", "Id": 40, "Linux": {"Chip": "gpiochip99", "Line": 3}},
            {"Name": "BUS", "Type": "I2cMaster", "Id": 1, "Linux": {"Device": "/dev/i2c-99"}},
            {"Name": "SPI", "Type": "SpiMaster", "Id": 1, "Linux": {"Devices": ["/dev/spidev99.0"]}},
            {"Name": "ADC", "Type": "Adc", "Id": 0, "Linux": {"Device": "/sys/bus/iio/devices/iio:device99"}},
            {"Name": "PWM", "Type": "Pwm", "Id": 0, "Linux": {"Device": "/sys/class/pwm/pwmchip99"}},
            {"Name": "SIM", "Type": "Gpio", "Id": 8, "Simulated": {}}]}))
    s = session({"Gpio": ["$LED", "$SIM"], "I2cMaster": ["$BUS"], "SpiMaster": ["$SPI"], "Adc": ["$ADC"],
                 "Pwm": ["$PWM"]}, board=board)
    out = lines(s.probe("gpio-out", 40, 1, "i2c", 1, 0x48, 0, "spi", 1, 0, "spi", 1, 1, "adc", 0, 0, "pwm", 0, 0,
                        "gpio-out", 8, 1))
    assert out == ["gpio-out err ENOENT", "i2c err ENOENT", "spi err ENOENT", "spi err EINVAL", "adc err ENOENT",
                   "pwm err ENOENT", "gpio-out ok "]
    status, _ = s.close()
    assert status == 0


def broker_status(pid, seconds=15):
    """/proc/PID/status of a broker once it has installed its seccomp filter (its last start-up step)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        st = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status").read().splitlines())
        st = {k: v.strip() for k, v in st.items()}
        if st["Seccomp"] == "2":
            return st
        time.sleep(0.05)
    pytest.fail(f"broker {pid} never finished dropping its privileges")


def linux_clock_board(tmp_path):
    doc = json.loads(BOARD.read_text())
    doc["Clock"] = {"Linux": {}}  # the system clock, no RTC
    path = tmp_path / "linux-clock.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
@pytest.mark.parametrize("caps,board,expected", [
    ({}, "simulated", 0),
    ({"SystemTime": True}, "simulated", 0),          # the simulated clock needs no privilege
    ({"SystemTime": True}, "linux", 1 << 25),        # CAP_SYS_TIME, for the real clock only
    ({"TimeSyncConfig": True}, "linux", 0),
    ({"AllowedTcpServerPorts": [80]}, "simulated", 1 << 10),  # CAP_NET_BIND_SERVICE
])
def test_broker_keeps_only_the_capabilities_its_manifest_needs(tmp_path, session, caps, board, expected):
    s = session(caps, board=linux_clock_board(tmp_path) if board == "linux" else BOARD, extra=["--user", "4242"])
    st = broker_status(s.broker.pid)
    assert st["Uid"].split() == ["4242"] * 4 and st["Gid"].split() == ["4242"] * 4, st
    assert int(st["CapEff"], 16) == expected and int(st["CapPrm"], 16) == expected, st
    assert int(st["CapBnd"], 16) == expected and int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0, st
    assert st["NoNewPrivs"] == "1"
    out = lines(s.probe("net"))  # still serving
    assert len(out) == 1 and out[0].startswith("net ok"), out
    status, err = s.close()
    assert status == 0, err


def test_broker_without_user_still_drops_capabilities(session):
    s = session({"Gpio": ["$SAMPLE_LED"]})
    st = broker_status(s.broker.pid)
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0 and st["NoNewPrivs"] == "1", st
    s.close()


def test_broker_refuses_to_run_as_root_user(tmp_path):
    proc = subprocess.run([str(find_binary("rampart-periph-broker")), "--board", str(BOARD), "--manifest",
                           str(manifest(tmp_path, {})), "--user", "0"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "--user" in proc.stderr
