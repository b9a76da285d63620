"""Development mode end to end: a real rampartd issues a signed appDevelopment capability
(`rampart device capability download`), the CLI applies it to a real application manager daemon
through the device-local socket (`rampart device enable-development`), a development package of
the hello sample is sideloaded, started, stopped, inspected (status, quota, logs), and
`enable-cloud-test` removes the app and the capability. Capabilities for another device, tampered
ones, and development packages without a capability are refused. Runs as root (containers)."""
import base64
import json
import os
import pathlib
import shutil
import subprocess
import time
import uuid

import pytest

from cli_service import Cli, Server, device_key
from conftest import find_binary, run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the application manager creates containers: root only")

def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(predicate, seconds=15):
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
    product = cli.json("product", "create", "--name", unique("Thermostat"), "--description", "dev mode test")
    cli.product = product
    return cli


def claimed_device(admin, tmp_path, name):
    """Register and claim a device into its product's Field Test group; returns its ID."""
    pub, device_id, _ = device_key(tmp_path, name)
    admin.run("device", "register", "--public-key", pub)
    admin.run("device", "claim", "--device", device_id, "--device-group",
              f"{admin.product['product_id']}/Field Test")
    return device_id


def group_name(admin, device_id):
    dev = admin.json("device", "show", "--device", device_id)
    group = admin.json("device-group", "show", "--device-group", dev["device_group_id"])
    return group["name"]


class Appmgr:
    """A rampart-appmgr daemon for one device: cloud trust key, capability key, device ID."""

    def __init__(self, tmp_path, device_id, capability_key, cloud_key):
        self.tmp = tmp_path
        self.state = tmp_path / "appmgr-state"
        self.sock = str(tmp_path / "appmgr.sock")
        self.cgroup_parent = f"rampart-devmode-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.opts = ["--state", str(self.state), "--cgroup-parent", self.cgroup_parent, "--trust-key",
                     str(cloud_key), "--capability-key", str(capability_key), "--device-id", device_id]
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([str(find_binary("rampart-appmgr")), *self.opts, "daemon", "--socket",
                                      self.sock], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert wait_for(lambda: os.path.exists(self.sock)), "the application manager did not listen"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            _, err = self.proc.communicate(timeout=30)
            self.stderr = err
            assert self.proc.returncode == 0, err
            assert "Sanitizer" not in err, err
        from test_sandbox import remove_cgroups
        remove_cgroups(self.cgroup_parent)


def keygen(tmp_path, name):
    priv, pub = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub"
    run("rampart", "image-package", "keygen", "--private-key", priv, "--public-key", pub, check=True)
    return priv, pub


def hello_package(tmp_path, key, development, storage_kb=64, name="hello"):
    """The static hello sample as a signed package (with MutableStorage, for show-quota)."""
    root = tmp_path / f"{name}-tree"
    if root.exists():
        shutil.rmtree(root)
    (root / "bin").mkdir(parents=True)
    shutil.copy(find_binary("sample_hello"), root / "bin" / "app")
    cid = str(uuid.uuid4())
    manifest = {"SchemaVersion": 1, "Name": "Hello", "ComponentId": cid, "EntryPoint": "/bin/app", "CmdArgs": [],
                "ApplicationType": "Default", "Capabilities": {"MutableStorage": {"SizeKB": storage_kb}}}
    (root / "app_manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / f"{name}.imagepackage"
    args = ["image-package", "pack-application", "--package-directory", root, "--key", key, "--output", out]
    if development:
        args.append("--development")
    run("rampart", *args, check=True)
    return out, cid


@pytest.fixture
def world(server, admin, tmp_path):
    """A claimed device with a running application manager, a developer key, a cloud key, and the
    tenant's capability-signing key downloaded through the CLI."""
    device_id = claimed_device(admin, tmp_path, "dev1")
    cap_pub = tmp_path / "capability-signing.pub"
    admin.run("device", "capability", "signing-key", "--destination", cap_pub)
    assert "PUBLIC KEY" in cap_pub.read_text()
    dev_priv, dev_pub = keygen(tmp_path, "developer")
    cloud_priv, cloud_pub = keygen(tmp_path, "cloud")
    mgr = Appmgr(tmp_path, device_id, cap_pub, cloud_pub)
    mgr.start()
    w = {"device_id": device_id, "cap_pub": cap_pub, "dev_priv": dev_priv, "dev_pub": dev_pub,
         "cloud_priv": cloud_priv, "cloud_pub": cloud_pub, "mgr": mgr, "tmp": tmp_path}
    try:
        yield w
    finally:
        mgr.stop()


def download(admin, device_id, dest, *extra):
    return admin.run("device", "capability", "download", "--device", device_id, "--type", "appDevelopment",
                     "--destination", dest, *extra)


def local(admin, world, *args, code=0):
    return admin.run("device", *args, "--local-socket", world["mgr"].sock, code=code)


def local_json(admin, world, *args):
    return json.loads(local(admin, world, *args, "--output", "json").stdout)


def test_development_mode_lifecycle(server, admin, world):
    device_id = world["device_id"]
    cap = world["tmp"] / "dev.cap"
    download(admin, device_id, cap, "--development-key", world["dev_pub"])
    assert cap.stat().st_mode & 0o077 == 0
    doc = json.loads(cap.read_text())
    payload = json.loads(base64.b64decode(doc["payload"]))
    assert payload["type"] == "appDevelopment" and payload["device_id"] == device_id
    # The service keeps the latest one: GET returns the same document.
    tenant = payload["tenant_id"]
    from cli_service import api
    assert api(server, "GET", f"/v1/tenants/{tenant}/devices/{device_id}/capabilities/appDevelopment") == doc

    pkg, cid = hello_package(world["tmp"], world["dev_priv"], development=True)
    # Not in development mode yet: sideloading is refused.
    r = local(admin, world, "sideload", "deploy", "--image-package", pkg, code=None)
    assert r.returncode != 0 and "not in development mode" in r.stderr, r.stderr

    shown = local_json(admin, world, "enable-development", "--capability", cap, "--device", device_id)
    assert shown["device_id"] == device_id and shown["serial"] == payload["serial"]
    assert (world["mgr"].state / "devmode" / "capability").exists()  # the flag update clients read
    assert group_name(admin, device_id) == "Development"
    attached = local_json(admin, world, "capability", "show-attached")
    assert attached["development"] is True and attached["valid"] is True

    st = local_json(admin, world, "sideload", "deploy", "--image-package", pkg)
    assert st["component_id"] == cid and st["source"] == "sideload"
    st = local_json(admin, world, "app", "start", "--component-id", cid)
    assert st["state"] == "running"
    assert wait_for(lambda: "Hello from Rampart" in local(admin, world, "app", "logs", "--component-id", cid).stdout)
    quota = local_json(admin, world, "app", "show-quota", "--component-id", cid)
    assert quota["limit_kb"] == 64 and isinstance(quota["used_kb"], int) and 0 <= quota["used_kb"] <= 64 + 64
    listed = local_json(admin, world, "app", "show-status")
    assert [a["component_id"] for a in listed] == [cid]
    local(admin, world, "app", "stop", "--component-id", cid)
    assert wait_for(lambda: local_json(admin, world, "app", "show-status", "--component-id", cid)["state"]
                    == "stopped")
    table = local(admin, world, "app", "show-status").stdout
    assert cid in table and "sideload" in table

    # A cloud app installed meanwhile is not touched by enable-cloud-test.
    cloud_pkg, cloud_cid = hello_package(world["tmp"], world["cloud_priv"], development=False, name="cloud")
    run("rampart-appmgr", "ctl", "--socket", world["mgr"].sock, "install", cloud_pkg, check=True)

    out = local_json(admin, world, "enable-cloud-test", "--device", device_id)
    assert out["capability_removed"] is True and out["removed_apps"] == [cid]
    assert not (world["mgr"].state / "devmode" / "capability").exists()
    assert group_name(admin, device_id) == "Field Test"
    r = local(admin, world, "app", "show-status", "--component-id", cid, code=None)
    assert r.returncode != 0 and "no app" in r.stderr
    assert local_json(admin, world, "app", "show-status", "--component-id", cloud_cid)["source"] == "package"
    assert local_json(admin, world, "capability", "show-attached") == {"development": False}
    # And sideloading is refused again.
    r = local(admin, world, "sideload", "deploy", "--image-package", pkg, code=None)
    assert r.returncode != 0 and "not in development mode" in r.stderr

    audit = api(server, "GET", f"/v1/tenants/{tenant}/audit?action=device.capability.issue")
    assert any(device_id in json.dumps(e) for e in audit["items"]), audit


def test_development_package_refused_without_capability(admin, world):
    pkg, cid = hello_package(world["tmp"], world["dev_priv"], development=True)
    r = local(admin, world, "sideload", "deploy", "--image-package", pkg, code=None)
    assert r.returncode != 0 and "not in development mode" in r.stderr, r.stderr
    # Nor can it come in as a cloud app, even when signed by a trusted key.
    cloud_dev_pkg, _ = hello_package(world["tmp"], world["cloud_priv"], development=True, name="clouddev")
    r = run("rampart-appmgr", "ctl", "--socket", world["mgr"].sock, "install", cloud_dev_pkg, check=False)
    assert r.returncode != 0 and "development image" in r.stderr, r.stderr
    assert local_json(admin, world, "app", "show-status") == []


def test_sideload_rules(admin, world):
    """Sideloaded packages must be development images signed by a key the capability lists."""
    cap = world["tmp"] / "dev.cap"
    download(admin, world["device_id"], cap, "--development-key", world["dev_pub"])
    local(admin, world, "enable-development", "--capability", cap)
    prod_pkg, _ = hello_package(world["tmp"], world["dev_priv"], development=False, name="prod")
    r = local(admin, world, "sideload", "deploy", "--image-package", prod_pkg, code=None)
    assert r.returncode != 0 and "not a development image" in r.stderr, r.stderr
    other_priv, _ = keygen(world["tmp"], "stranger")
    foreign, _ = hello_package(world["tmp"], other_priv, development=True, name="foreign")
    r = local(admin, world, "sideload", "deploy", "--image-package", foreign, code=None)
    assert r.returncode != 0 and "development key" in r.stderr, r.stderr
    # A cloud app cannot be deleted as if sideloaded.
    cloud_pkg, cloud_cid = hello_package(world["tmp"], world["cloud_priv"], development=False, name="cloud")
    run("rampart-appmgr", "ctl", "--socket", world["mgr"].sock, "install", cloud_pkg, check=True)
    r = local(admin, world, "sideload", "delete", "--component-id", cloud_cid, code=None)
    assert r.returncode != 0 and "was not sideloaded" in r.stderr
    # sideload delete removes a sideloaded app.
    pkg, cid = hello_package(world["tmp"], world["dev_priv"], development=True)
    local(admin, world, "sideload", "deploy", "--image-package", pkg)
    local(admin, world, "sideload", "delete", "--component-id", cid)
    assert [a["component_id"] for a in local_json(admin, world, "app", "show-status")] == [cloud_cid]


def test_capability_for_another_device_refused(admin, world):
    other = claimed_device(admin, world["tmp"], "dev2")
    cap = world["tmp"] / "other.cap"
    download(admin, other, cap, "--development-key", world["dev_pub"])
    r = local(admin, world, "enable-development", "--capability", cap, code=None)
    assert r.returncode != 0 and f"capability is for device {other}" in r.stderr, r.stderr
    assert not (world["mgr"].state / "devmode" / "capability").exists()
    assert "capability.refused" in _stop_and_log(world)


def _stop_and_log(world):
    world["mgr"].stop()
    return world["mgr"].stderr


def test_tampered_capability_refused(admin, world):
    cap = world["tmp"] / "dev.cap"
    download(admin, world["device_id"], cap, "--development-key", world["dev_pub"])
    doc = json.loads(cap.read_text())
    payload = json.loads(base64.b64decode(doc["payload"]))
    payload["issued_at"] += 1
    doc["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    bad = world["tmp"] / "tampered.cap"
    bad.write_text(json.dumps(doc))
    r = local(admin, world, "enable-development", "--capability", bad, code=None)
    assert r.returncode != 0 and "signature does not verify" in r.stderr, r.stderr
    assert not (world["mgr"].state / "devmode" / "capability").exists()
    # Garbage is refused by the CLI before it reaches the device.
    bad.write_text("{\"format\": \"rampart-capability-v1\"}")
    r = local(admin, world, "enable-development", "--capability", bad, code=None)
    assert r.returncode != 0 and "payload" in r.stderr


def test_capability_issue_needs_a_known_device(admin, tmp_path):
    r = admin.run("device", "capability", "download", "--device", "ab" * 32, "--destination",
                  tmp_path / "x.cap", code=4)
    assert "not found in this tenant" in r.stderr, r.stderr
    assert not (tmp_path / "x.cap").exists()


def test_non_root_cannot_enable_development(admin, world):
    """Only root on the device may apply a capability. The socket is 0700 (first barrier); even
    when its mode is opened up, the manager refuses a non-root peer by SO_PEERCRED (second)."""
    import tempfile
    cap = world["tmp"] / "dev.cap"
    download(admin, world["device_id"], cap, "--development-key", world["dev_pub"])
    public = pathlib.Path(tempfile.mkdtemp(prefix="rampart-devmode-"))
    try:
        os.chmod(public, 0o755)
        shutil.copy(cap, public / "dev.cap")
        os.chmod(public / "dev.cap", 0o644)
        world["mgr"].stop()
        world["mgr"].sock = str(public / "appmgr.sock")
        world["mgr"].start()

        def as_nobody():
            return subprocess.run([str(find_binary("rampart")), "device", "enable-development", "--capability",
                                   str(public / "dev.cap"), "--local-socket", world["mgr"].sock],
                                  capture_output=True, text=True, timeout=60, user=65534, group=65534,
                                  env={"PATH": "/usr/bin:/bin"})
        proc = as_nobody()
        assert proc.returncode != 0 and "Permission denied" in proc.stderr, proc.stderr
        os.chmod(world["mgr"].sock, 0o777)
        proc = as_nobody()
        assert proc.returncode != 0 and "only root may control the application manager" in proc.stderr, proc.stderr
        assert not (world["mgr"].state / "devmode" / "capability").exists()
    finally:
        shutil.rmtree(public, ignore_errors=True)
