"""DeviceAuthentication through the real application manager and sandbox.

A fake agent directory (STATE/agent/deviceauth/client.pem: certificate chain then key, root-owned
0640, as the agent writes it) holds a client certificate from a test CA; `openssl s_server
-Verify 1` on 127.0.0.1 requires a client certificate from that CA. The static test app
tests/apps/deviceauth_probe.c connects through the network broker and does mutual TLS with
DeviceAuth_GetCertificatePath(). Runs as root: creating containers needs it.
"""
import json
import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest

from conftest import find_binary, free_port, run, remove_cgroups

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandbox tests create containers and must run as root")

TENANT = "5a3d0b8e-1c2f-4e6a-9b7d-0f1e2d3c4b5a"
OTHER_TENANT = "0b9c5e1a-7d2f-4c3b-8a6e-1f2e3d4c5b6a"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def issue(d, name, cn, ext):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    (d / f"{name}.ext").write_text(ext + "\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext", cwd=d)
    return (d / f"{name}.pem").read_text() + (d / "ca.pem").read_text() + (d / f"{name}.key").read_text()


def write_bundle(agent_dir, text):
    """What the agent does: write a temporary file, then rename over client.pem."""
    tmp = agent_dir / ".client.pem.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.rename(tmp, agent_dir / "client.pem")


@pytest.fixture
def pki(tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl command not installed")
    d = tmp_path / "pki"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "1", "-subj", "/CN=Rampart test tenant CA", cwd=d)
    issue(d, "server", "localhost", "subjectAltName=DNS:localhost")
    bundle = issue(d, "client", "device", "extendedKeyUsage=clientAuth")
    renewed = issue(d, "client2", "device", "extendedKeyUsage=clientAuth")
    return d, bundle, renewed


@pytest.fixture
def tls_server(pki):
    d, _, _ = pki
    port = free_port()
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", "server.pem",
                               "-key", "server.key", "-CAfile", "ca.pem", "-Verify", "1", "-verify_return_error",
                               "-www", "-quiet"], cwd=d, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as c:
            if c.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        server.kill()
        pytest.fail("openssl s_server did not start")
    yield port
    server.terminate()
    server.wait(timeout=10)


class Device:
    def __init__(self, tmp_path, pki, tenant=TENANT):
        self.tmp = tmp_path
        self.pki_dir = pki[0]
        self.state = tmp_path / "state"
        self.agent_dir = tmp_path / "agentstate" / "agent" / "deviceauth"
        self.agent_dir.mkdir(parents=True)
        os.chmod(self.agent_dir.parent, 0o700)
        write_bundle(self.agent_dir, pki[1])
        self.cgroup_parent = f"rampart-datest-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.opts = ["--state", str(self.state), "--cgroup-parent", self.cgroup_parent, "--no-restart",
                     "--broker-allow-loopback-targets", "--deviceauth-dir", str(self.agent_dir)]
        if tenant:
            self.opts += ["--tenant-id", tenant]

    def package(self, args, caps, binary="deviceauth_probe", name="daprobe", check=True, opts=None):
        cid = str(uuid.uuid4())
        root = self.tmp / f"pkg-{cid}"
        (root / "bin").mkdir(parents=True)
        (root / "certs").mkdir()
        shutil.copy(self.pki_dir / "ca.pem", root / "certs" / "ca.pem")
        (root / "bin" / "app").write_bytes(find_binary(binary).read_bytes())
        os.chmod(root / "bin" / "app", 0o755)
        manifest = {"SchemaVersion": 1, "Name": name, "ComponentId": cid, "EntryPoint": "/bin/app",
                    "CmdArgs": list(args), "ApplicationType": "Default", "Capabilities": caps}
        (root / "app_manifest.json").write_text(json.dumps(manifest))
        proc = run("rampart-appmgr", *(opts or self.opts), "install", root, check=check)
        return cid, proc

    def run_app(self, cid, timeout_ms=20000, check=True, opts=None):
        return run("rampart-appmgr", *(opts or self.opts), "run", cid, "--timeout-ms", str(timeout_ms), check=check)

    def log(self, cid):
        path = self.state / "apps" / cid / "log"
        text = path.read_text() if path.exists() else ""
        assert "Sanitizer" not in text, text
        return text

    def copy_dir(self, cid):
        return self.state / "run" / "deviceauth" / cid


@pytest.fixture
def device(tmp_path, pki):
    d = Device(tmp_path, pki)
    yield d
    remove_cgroups(d.cgroup_parent)


def caps(port, tenant=TENANT):
    c = {"AllowedConnections": ["localhost"]}
    if tenant:
        c["DeviceAuthentication"] = tenant
    return c


def test_mutual_tls_with_the_device_certificate(device, tls_server):
    cid, _ = device.package(["tls", "localhost", str(tls_server), "/certs/ca.pem"], caps(tls_server))
    device.run_app(cid)
    log = device.log(cid)
    assert "cert ready readable" in log, log
    assert "tls ok HTTP/1.0 200 ok" in log, log
    # The copy belongs to the app's uid alone, read-only; the agent's file is untouched.
    uid = json.loads((device.state / "apps" / cid / "app.json").read_text())["uid"]
    d = device.copy_dir(cid)
    st_dir, st_file = os.stat(d), os.stat(d / "client.pem")
    assert (st_dir.st_uid, st_dir.st_mode & 0o7777) == (uid, 0o500)
    assert (st_file.st_uid, st_file.st_gid, st_file.st_mode & 0o7777) == (uid, uid, 0o400)
    assert (d / "client.pem").read_text() == (device.agent_dir / "client.pem").read_text()
    st_agent = os.stat(device.agent_dir / "client.pem")
    assert (st_agent.st_uid, st_agent.st_mode & 0o7777) == (0, 0o640)


def test_without_the_capability_there_is_no_certificate(device, tls_server):
    cid, _ = device.package(["tls", "localhost", str(tls_server), "/certs/ca.pem"], caps(tls_server, tenant=None))
    device.run_app(cid)
    log = device.log(cid)
    assert "cert absent No such file or directory" in log, log
    assert "tls refused" in log and "tls ok" not in log, log
    assert not device.copy_dir(cid).exists()


def test_the_certificate_is_read_only_in_the_sandbox(device):
    cid, _ = device.package(["write"], caps(0))
    device.run_app(cid)
    log = device.log(cid)
    for what in ("open-existing", "create", "chmod", "unlink"):
        assert f"write {what} " in log, log
    assert "SUCCEEDED" not in log, log
    assert (device.copy_dir(cid) / "client.pem").exists()


def test_another_app_cannot_read_the_certificate(device):
    owner, _ = device.package(["write"], caps(0))
    device.run_app(owner)  # creates the owner's copy
    copy = device.copy_dir(owner) / "client.pem"
    assert copy.exists()
    for path in ("/run/rampart/deviceauth/client.pem", str(copy), str(device.agent_dir / "client.pem")):
        cid, _ = device.package(["read-path", path], {}, binary="sbx_escape", name="escape")
        device.run_app(cid)
        log = device.log(cid)
        assert "ATTACK read-path: refused" in log, (path, log)
        assert "SUCCEEDED" not in log, (path, log)


def test_an_app_for_another_tenant_is_refused(device):
    _, proc = device.package(["write"], caps(0, tenant=OTHER_TENANT), check=False)
    assert (f"declares DeviceAuthentication for tenant {OTHER_TENANT}, but this device belongs to tenant "
            f"{TENANT}") in proc.stderr, proc.stderr


def test_a_device_without_a_tenant_refuses_deviceauth_apps(tmp_path, pki):
    d = Device(tmp_path, pki, tenant=None)
    try:
        _, proc = d.package(["write"], caps(0), check=False)
        assert "this device's tenant is not configured" in proc.stderr and "--tenant-id" in proc.stderr, proc.stderr
        # Apps without the capability are unaffected.
        cid, _ = d.package(["write"], {})
        d.run_app(cid)
    finally:
        remove_cgroups(d.cgroup_parent)


def test_the_tenant_is_checked_again_at_start(device):
    cid, _ = device.package(["write"], caps(0))
    other = [o if o != TENANT else OTHER_TENANT for o in device.opts]
    proc = device.run_app(cid, check=False, opts=other)
    assert f"but this device belongs to tenant {OTHER_TENANT}" in proc.stderr, proc.stderr
    assert not device.log(cid)


def test_a_renewed_certificate_reaches_the_running_app(device, pki):
    cid, _ = device.package(["wait-change", "20"], caps(0))
    proc = subprocess.Popen([str(find_binary("rampart-appmgr")), *device.opts, "run", cid, "--timeout-ms", "30000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while "wait-change watching" not in device.log(cid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "wait-change watching" in device.log(cid), device.log(cid)
        write_bundle(device.agent_dir, pki[2])  # the agent renews
        out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = device.log(cid)
    assert "wait-change ok" in log, (log, err)
    assert (device.copy_dir(cid) / "client.pem").read_text() == pki[2]


def wait_for(predicate, seconds=20):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def test_a_container_prepared_before_attestation_gets_the_certificate(device, tls_server, pki, tmp_path):
    (device.agent_dir / "client.pem").unlink()  # the agent has not attested yet
    cid, _ = device.package(["tls", "localhost", str(tls_server), "/certs/ca.pem"], caps(tls_server))
    sock = str(tmp_path / "appmgr.sock")
    daemon = subprocess.Popen([str(find_binary("rampart-appmgr")), *device.opts, "daemon", "--socket", sock],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: os.path.exists(sock)), "daemon did not listen"
        # The daemon prepared the container already; the copy directory is there, empty.
        assert wait_for(lambda: device.copy_dir(cid).is_dir())
        assert not (device.copy_dir(cid) / "client.pem").exists()
        write_bundle(device.agent_dir, pki[1])  # first attestation
        run("rampart-appmgr", "ctl", "--socket", sock, "start", cid, check=True)

        def stopped():
            s = json.loads(run("rampart-appmgr", "ctl", "--socket", sock, "status", cid, check=True).stdout)
            return s["state"] == "stopped" and s.get("last_exit")
        assert wait_for(stopped) == "exited: status 0", device.log(cid)
    finally:
        daemon.terminate()
        _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    log = device.log(cid)
    assert "cert ready readable" in log and "tls ok HTTP/1.0 200 ok" in log, log
    # Withdrawn by the agent: the copy goes too (checked at the next refresh, here a new manager).
    (device.agent_dir / "client.pem").unlink()
    device.run_app(cid, check=None)
    assert "cert absent" in device.log(cid).splitlines()[-2], device.log(cid)
