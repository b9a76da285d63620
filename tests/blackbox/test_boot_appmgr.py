"""rampart-boot starts the application manager fully wired: the OS bundle's os.json passes the
device ID from the root of trust (${DEVICE_ID}), the device state (${STATE}, where the agent
records the tenant the service told it and keeps the 24 h certificate bundle) and the tenant's
capability-signing key shipped in the signed bundle (${ROOT}/etc). A device started by the boot
stage then runs a DeviceAuthentication app once the agent has learned its tenant, and accepts an
appDevelopment capability that a real rampartd issued for it (`rampart device capability
download`), with no flag given by hand. Runs as root (containers)."""
import json
import os
import shutil
import time
import uuid

import pytest

from boot_device import Device, kill_session, start_device
from cli_service import Cli, Server
from conftest import find_binary, run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the application manager creates containers: root only")

BUNDLE_COMPONENT = "2b6f0c1e-5a7d-4e8b-9c31-7d2e4f6a8b90"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(predicate, seconds=30):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("rampartd"))
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def admin(server, tmp_path_factory):
    cli = Cli(tmp_path_factory.mktemp("admin") / "config.json")
    cli.login(server, server.admin_token)
    tenant = cli.json("tenant", "create", "--name", unique("Contoso"))
    cli.run("tenant", "select", "--tenant", tenant["tenant_id"])
    cli.product = cli.json("product", "create", "--name", unique("Thermostat"), "--description", "boot wiring")
    return cli


def os_bundle(device, admin, tmp_path, cgroup_parent):
    """The tenant's OS bundle: the application manager and its loader, the tenant's
    capability-signing key, and an os.json that wires the manager from the boot stage's variables."""
    payload = tmp_path / "os-payload"
    (payload / "bin").mkdir(parents=True)
    (payload / "etc").mkdir()
    for name in ("rampart-appmgr", "rampart-app-loader"):
        shutil.copy(find_binary(name), payload / "bin" / name)
    admin.run("device", "capability", "signing-key", "--destination", payload / "etc" / "capability-signing.pub")
    (payload / "os.json").write_text(json.dumps({
        "version": 1,
        "health": {"settle_ms": 200},
        "components": [{
            "name": "appmgr", "exec": "bin/rampart-appmgr", "ready_file": "${RUN}/appmgr.sock",
            "args": ["--state", "${STATE}/appmgr", "--trust-key", "${STATE}/trust/release.pub",
                     "--device-id", "${DEVICE_ID}", "--device-state", "${STATE}",
                     "--capability-key", "${ROOT}/etc/capability-signing.pub",
                     "--cgroup-parent", cgroup_parent, "--no-broker",
                     "daemon", "--socket", "${RUN}/appmgr.sock"]}],
    }))
    out = tmp_path / "os-1.rpkg"
    run("rampart", "image-package", "pack", "--type", "os-bundle", "--payload-directory", payload,
        "--component-id", BUNDLE_COMPONENT, "--name", "rampart-os", "--key", device.key, "--output", out,
        "--version", "1", check=True)
    return out


def app_tree(tmp_path, tenant):
    root = tmp_path / "da-app"
    (root / "bin").mkdir(parents=True)
    shutil.copy(find_binary("sbx_escape"), root / "bin" / "app")
    cid = str(uuid.uuid4())
    (root / "app_manifest.json").write_text(json.dumps({
        "SchemaVersion": 1, "Name": "DaApp", "ComponentId": cid, "EntryPoint": "/bin/app",
        "CmdArgs": ["read-path", "/run/rampart/deviceauth/client.pem"], "ApplicationType": "Default",
        "Capabilities": {"DeviceAuthentication": tenant}}))
    return root, cid


def remove_cgroups(name):
    """A power cut leaves the manager's (empty) cgroups behind: remove them, deepest first."""
    for top in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified"):
        for dirpath, dirnames, _ in os.walk(top, topdown=False):
            if os.path.basename(dirpath) == name or f"/{name}/" in dirpath + "/":
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass


def ctl(sock, *args, check=True):
    return run("rampart-appmgr", "ctl", "--socket", sock, *args, check=check)


def test_boot_stage_wires_the_application_manager(server, admin, tmp_path):
    device = Device(tmp_path / "device")
    ident = json.loads(run("rampart-os", "provision", "--state", device.state, "--rot", "soft", "--output", "json",
                           check=True).stdout)
    device_id = ident["device_id"]
    pub = tmp_path / "identity.pub"
    pub.write_text(ident["public_key_pem"])
    admin.run("device", "register", "--public-key", pub)
    admin.run("device", "claim", "--device", device_id, "--device-group",
              f"{admin.product['product_id']}/Field Test")
    record = admin.json("device", "show", "--device", device_id)
    tenant = record["tenant_id"]

    cgroup_parent = unique("rampart-bootwire")
    device.install(os_bundle(device, admin, tmp_path, cgroup_parent))
    sock = device.state / "boot" / "run" / "appmgr.sock"
    proc, _ = start_device(device, lambda: sock.exists())
    try:
        assert wait_for(sock.exists), proc.stderr.read() if proc.poll() is not None else "no socket"
        cmdline = None
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    args = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
                except OSError:
                    continue
                if args and args[0].endswith(b"rampart-appmgr") and str(sock).encode() in args:
                    cmdline = [a.decode() for a in args if a]
        assert cmdline, "rampart-appmgr is not running under rampart-boot"
        # The boot stage filled in what the manager needs: the root of trust's device ID.
        assert cmdline[cmdline.index("--device-id") + 1] == device_id, cmdline

        # Before the agent learned the tenant, a DeviceAuthentication app is refused (fail closed).
        root, cid = app_tree(tmp_path, tenant)
        refused = ctl(sock, "install", root, check=False)
        assert "tenant is not configured" in refused.stderr, refused.stderr

        # What the agent records after attestation and its first contact with the service.
        (device.state / "update").mkdir(exist_ok=True)
        (device.state / "update" / "config.json").write_text(json.dumps(
            {"tenant_id": tenant, "device_group_id": record["device_group_id"], "device_id": device_id,
             "bootstrap_root": True}))
        agent_dir = device.state / "agent" / "deviceauth"
        agent_dir.mkdir(parents=True, exist_ok=True)
        bundle = "-----BEGIN CERTIFICATE-----\nMIIBboot\n-----END CERTIFICATE-----\n"
        (agent_dir / "client.pem").write_text(bundle)

        ctl(sock, "install", root)
        ctl(sock, "start", cid)
        log = device.state / "appmgr" / "apps" / cid / "log"
        line = "ATTACK read-path: SUCCEEDED (/run/rampart/deviceauth/client.pem)"
        assert wait_for(lambda: log.exists() and line in log.read_text()), log.read_text() if log.exists() else ""
        copy = device.state / "appmgr" / "run" / "deviceauth" / cid / "client.pem"
        assert copy.read_text() == bundle

        # A capability the service issued for this device is accepted: the device ID and the
        # tenant's capability-signing key came from the boot stage and the signed bundle.
        cap = tmp_path / "dev.cap"
        admin.run("device", "capability", "download", "--device", device_id, "--type", "appDevelopment",
                  "--destination", cap)
        shown = json.loads(admin.run("device", "enable-development", "--capability", cap, "--device", device_id,
                                     "--local-socket", sock, "--output", "json").stdout)
        assert shown["device_id"] == device_id, shown
        status = json.loads(admin.run("device", "capability", "show-attached", "--local-socket", sock,
                                      "--output", "json").stdout)
        assert status.get("development") is True and status.get("valid") is True, status
    finally:
        kill_session(proc)
        remove_cgroups(cgroup_parent)
