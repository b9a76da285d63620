"""Update delivery through rampartd end to end: uploading an image releases it in the tenant's TUF
image repository, a deployment sets the device group's director, and the device's rampart-update
checks over pinned HTTPS, installs into the inactive slot, resumes an interrupted download with a
Range request, and reports per-image status that the service shows back."""
import hashlib
import http.server
import json
import threading

import pytest

from boot_device import Device
from conftest import run
from service_client import Rampartd, device_key


@pytest.fixture
def world(tmp_path):
    svc = Rampartd(tmp_path / "svc").start()
    dev = Device(tmp_path / "dev")
    dev.install(dev.bundle("1"))
    dev.boot()
    tenant = svc.create_tenant("Contoso")
    r = svc.request("POST", f"/v1/tenants/{tenant}/image-signing-keys", {"name": "release",
                                                                         "public_key_pem": dev.pub.read_text()})
    assert r.status == 201, r
    pid = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Widget"}).json["product_id"]
    group = svc.request("GET", f"/v1/tenants/{tenant}/products/{pid}/device-groups").json["items"][1]
    gid = group["device_group_id"]
    device_id, pem = device_key(tmp_path, "dev")
    assert svc.request("POST", "/v1/devices", {"device_id": device_id, "public_key_pem": pem}).status == 201
    r = svc.request("POST", f"/v1/tenants/{tenant}/devices/claim", {"device_id": device_id, "device_group_id": gid})
    assert r.status in (200, 201), r
    token = tmp_path / "token"
    token.write_text(svc.token + "\n")
    token.chmod(0o600)
    (dev.state / "update").mkdir(exist_ok=True)
    (dev.state / "update" / "config.json").write_text(json.dumps(
        {"tenant_id": tenant, "device_group_id": gid, "device_id": device_id, "bootstrap_root": True}))
    w = {"svc": svc, "dev": dev, "tenant": tenant, "gid": gid, "device_id": device_id, "token": token,
         "tmp": tmp_path}
    yield w
    svc.stop()


def upload(w, pkg):
    r = w["svc"].request("POST", f"/v1/tenants/{w['tenant']}/images", pkg.read_bytes(),
                         content_type="application/octet-stream")
    assert r.status == 201, r
    return r.json["image_id"]


def deploy(w, *image_ids):
    r = w["svc"].request("POST", f"/v1/tenants/{w['tenant']}/device-groups/{w['gid']}/deployments",
                         {"image_ids": list(image_ids)})
    assert r.status == 201, r


def check(w, ok=True):
    svc = w["svc"]
    proc = run("rampart-update", "check", "--state", w["dev"].state, "--service", f"https://127.0.0.1:{svc.port}",
               "--service-ca", svc.state / "tls" / "cert.pem", "--token-file", w["token"], "--rot", "soft",
               "--output", "json")
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    else:
        assert proc.returncode != 0, proc.stdout + proc.stderr
    return proc


def test_release_deploy_install_report(world):
    w = world
    svc, dev = w["svc"], w["dev"]
    # The repositories are public TUF metadata, versioned and signed.
    root = svc.request("GET", f"/v1/tuf/tenants/{w['tenant']}/image/1.root.json", token=None)
    assert root.status == 404  # nothing uploaded yet: no repository
    bundle = dev.bundle("2", extra_bytes=200000)
    image_id = upload(w, bundle)
    root = svc.request("GET", f"/v1/tuf/tenants/{w['tenant']}/image/1.root.json", token=None)
    assert root.status == 200 and root.json["signed"]["_type"] == "root"
    assert svc.request("GET", f"/v1/tuf/tenants/{w['tenant']}/image/..%2Fkeys", token=None).status == 404
    targets = svc.request("GET", f"/v1/tuf/tenants/{w['tenant']}/image/targets.json", token=None).json
    assert image_id in targets["signed"]["targets"]

    # Released but not deployed: the director lists nothing, so nothing is installed.
    deploy(w)
    rep = json.loads(check(w).stdout)
    assert rep["targets"] == 0 and rep["installed"] == 0

    # Deployed: an interrupted download resumes from rampartd with a Range request.
    deploy(w, image_id)
    data = bundle.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    dl = dev.state / "update" / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    (dl / f"{digest}.part").write_bytes(data[:len(data) // 2])
    rep = json.loads(check(w).stdout)
    assert rep["installed"] == 1 and rep["os_installed"]
    assert rep["bytes"] < len(data)
    dev.boot()
    assert dev.running_version() == 2

    # The next check reports the commit; the service shows installed and targeted images.
    rep = json.loads(check(w).stdout)
    assert rep["skipped"] == 1 and rep["installed"] == 0
    st = svc.request("GET", f"/v1/tenants/{w['tenant']}/devices/{w['device_id']}/update-status").json
    assert [i["state"] for i in st["images"]] == ["committed"]
    assert [t["image_id"] for t in st["targeted"]] == [image_id]
    assert st["reported_at"]


def test_status_report_is_validated_and_scoped(world):
    w = world
    svc = w["svc"]
    url = f"/v1/devices/{w['device_id']}/update-status"
    assert svc.request("POST", url, {"images": []}, token=None).status == 401
    bad = svc.request("POST", url, {"images": [{"name": "x", "sha256": "0" * 64, "state": "pwned"}]})
    assert bad.status == 400 and "state" in bad.json["error"]["message"]
    assert svc.request("POST", url, {"images": [], "extra": 1}).status == 400
    other = svc.create_tenant("Fabrikam")
    reader = svc.add_user(other, "mallory", "Contributor")
    assert svc.request("POST", url, {"images": []}, token=reader).status == 404
    assert svc.request("POST", url, {"images": []}).status == 200
    assert svc.request("GET", f"/v1/tenants/{other}/devices/{w['device_id']}/update-status").status == 404


def test_metadata_refreshed_before_expiry_and_offline_upload(world):
    w = world
    svc, dev = w["svc"], w["dev"]
    upload(w, dev.bundle("2"))
    ts1 = svc.request("GET", f"/v1/tuf/tenants/{w['tenant']}/image/timestamp.json", token=None).json
    # Offline setup: targets signed elsewhere must verify against the root, so a forged upload fails.
    targets = svc.request("GET", f"/v1/tuf/tenants/{w['tenant']}/image/targets.json", token=None).json
    targets["signed"]["version"] += 1
    r = svc.request("PUT", f"/v1/tenants/{w['tenant']}/tuf/image/targets", json.dumps(targets).encode(),
                    content_type="application/octet-stream")
    assert r.status in (400, 403, 409, 422) and "signature" in r.body.decode().lower(), r
    ts2 = svc.request("GET", f"/v1/tuf/tenants/{w['tenant']}/image/timestamp.json", token=None).json
    assert ts2["signed"]["version"] == ts1["signed"]["version"]  # fresh: not re-signed on every read


def test_cli_shows_deployment_status(world):
    from cli_service import Cli
    w = world
    svc, dev = w["svc"], w["dev"]
    image_id = upload(w, dev.bundle("2"))
    deploy(w, image_id)
    check(w)

    class Server:
        url = f"https://127.0.0.1:{svc.port}"
        ca_cert = svc.state / "tls" / "cert.pem"

    cli = Cli(w["tmp"] / "cli.json")
    cli.login(Server, svc.token)
    cli.run("tenant", "select", "--tenant", w["tenant"])
    st = cli.json("device", "show-deployment-status", "--device", w["device_id"])
    assert [i["state"] for i in st["images"]] == ["installed"]
    table = cli.run("device", "show-deployment-status", "--device", w["device_id"]).stdout
    assert "installed" in table and "os-bundle" in table
    installed = cli.json("device", "image", "list-installed", "--device", w["device_id"])
    assert [i["image_id"] for i in installed] == [image_id]
    targeted = cli.json("device", "image", "list-targeted", "--device", w["device_id"])
    assert [t["image_id"] for t in targeted] == [image_id]
    bad = cli.run("device", "show-deployment-status", "--device", "zz", code=None)
    assert bad.returncode != 0 and "device" in bad.stderr.lower()


def test_tuf_js_validates_the_served_image_repository(world):
    """An independent TUF client (tuf-js) refreshes rampartd's image repository over HTTPS and
    downloads a target; the target file comes from a static server (content-addressed names)."""
    import os
    import shutil
    import subprocess
    from test_tuf_interop import INTEROP, NODE, NPM, Server
    if not NODE or not NPM or not (INTEROP / "node_modules" / "tuf-js").is_dir():
        pytest.skip("tuf-js is not installed (tests/interop/tuf-js: npm ci)")
    w = world
    svc, dev = w["svc"], w["dev"]
    bundle = dev.bundle("2")
    image_id = upload(w, bundle)
    upload(w, dev.bundle("3"))  # a second release: several targets and snapshot versions
    base = f"https://127.0.0.1:{svc.port}/v1/tuf/tenants/{w['tenant']}/image"
    root = w["tmp"] / "trusted-root.json"
    root.write_bytes(svc.request("GET", f"/v1/tuf/tenants/{w['tenant']}/image/1.root.json", token=None).body)
    www = w["tmp"] / "targets"
    www.mkdir()
    data = bundle.read_bytes()
    shutil.copy(bundle, www / f"{hashlib.sha256(data).hexdigest()}.{image_id}")
    static = Server(www)
    try:
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=str(svc.state / "tls" / "cert.pem"))
        proc = subprocess.run([NODE, str(INTEROP / "verify.mjs"), base, f"http://127.0.0.1:{static.port}", str(root),
                               image_id, str(w["tmp"] / "tufjs")], capture_output=True, text=True, timeout=120,
                              env=env)
    finally:
        static.stop()
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["length"] == len(data)


def test_device_api_mtls_downloads_and_reports(tmp_path):
    """With the device-API certificate from attestation (rampart-agent), the device needs no token:
    blobs come from the device API and the report is recorded for the authenticated device."""
    from attest_world import World, make_key, make_package
    world = World(tmp_path)
    try:
        dev = world.device("d1")
        world.agent_once(dev, check=True)
        cert, key = dev.state / "agent" / "device-api.pem", dev.state / "agent" / "device-api.key"
        assert cert.exists() and key.exists()
        priv, pub = make_key(tmp_path, "apps")
        r = world.svc.request("POST", f"/v1/tenants/{world.tenant}/image-signing-keys",
                              {"name": "apps", "public_key_pem": pub.read_text()})
        assert r.status == 201, r
        (dev.state / "trust").mkdir(exist_ok=True)
        (dev.state / "trust" / "apps.pub").write_bytes(pub.read_bytes())
        app = make_package(tmp_path, priv, "application", "blink", 4, "5b0e6a1c-2f3d-4e5f-8a9b-0c1d2e3f4a5b")
        image_id = world.upload(world.tenant, app)["image_id"]
        gid = world.groups["Field Test"]
        r = world.svc.request("POST", f"/v1/tenants/{world.tenant}/device-groups/{gid}/deployments",
                              {"image_ids": [image_id]})
        assert r.status == 201, r
        (dev.state / "update").mkdir(exist_ok=True)
        (dev.state / "update" / "config.json").write_text(json.dumps(
            {"tenant_id": world.tenant, "device_group_id": gid, "device_id": dev.id, "bootstrap_root": True}))
        base = ["check", "--state", dev.state, "--service", world.url, "--service-ca", world.ca_file, "--output",
                "json"]
        # Without the certificate the device API refuses the blob (and nothing is installed).
        proc = run("rampart-update", *base)
        assert proc.returncode != 0 and ("401" in proc.stderr or "403" in proc.stderr), proc.stderr
        proc = run("rampart-update", *base, "--client-cert", cert, "--client-key", key)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["installed"] == 1
        staged = dev.state / "update" / "apps" / "5b0e6a1c-2f3d-4e5f-8a9b-0c1d2e3f4a5b.rpkg"
        assert staged.read_bytes() == app
        st = world.svc.request("GET", f"/v1/tenants/{world.tenant}/devices/{dev.id}/update-status").json
        assert [(i["image_id"], i["state"]) for i in st["images"]] == [(image_id, "installed")]
    finally:
        world.close()


def test_device_moved_to_another_group_follows_its_director(world):
    w = world
    svc, dev = w["svc"], w["dev"]
    image_id = upload(w, dev.bundle("2"))
    deploy(w)  # group A: an empty deployment, published several times
    deploy(w)
    deploy(w)
    check(w)
    # Group B (Production) deploys the bundle; the device is moved there.
    pid = svc.request("GET", f"/v1/tenants/{w['tenant']}/products").json["items"][0]["product_id"]
    groups = svc.request("GET", f"/v1/tenants/{w['tenant']}/products/{pid}/device-groups").json["items"]
    other = next(g["device_group_id"] for g in groups if g["device_group_id"] != w["gid"])
    r = svc.request("POST", f"/v1/tenants/{w['tenant']}/device-groups/{other}/deployments", {"image_ids": [image_id]})
    assert r.status == 201, r
    assert svc.request("PATCH", f"/v1/tenants/{w['tenant']}/devices/{w['device_id']}",
                       {"device_group_id": other}).status == 200
    # Without the reset the new director's lower versions look like a rollback.
    run("rampart-update", "set-group", "--state", dev.state, "--tenant", w["tenant"], "--device-group", other,
        "--device-id", w["device_id"], check=True)
    rep = json.loads(check(w).stdout)
    assert rep["installed"] == 1


class BlobMirror:
    """A plain HTTP mirror of blobs by SHA-256 on another port (another origin than the service),
    recording the Authorization header of every request it gets."""

    def __init__(self, blobs):
        seen = self.auth = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.headers.get("Authorization"))
                data = blobs.get(self.path.rsplit("/", 1)[-1])
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_bearer_token_goes_to_the_service_only(world):
    """Blobs from a mirror on another origin: the download works, and the service's bearer token is
    sent to the service (metadata, status report) but never to the mirror."""
    w = world
    svc, dev = w["svc"], w["dev"]
    bundle = dev.bundle("2", extra_bytes=50000)
    image_id = upload(w, bundle)
    deploy(w, image_id)
    data = bundle.read_bytes()
    mirror = BlobMirror({hashlib.sha256(data).hexdigest(): data})
    try:
        cfg_path = dev.state / "update" / "config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["blobs"] = f"http://127.0.0.1:{mirror.port}/mirror/sha256"
        cfg_path.write_text(json.dumps(cfg))
        rep = json.loads(check(w).stdout)
    finally:
        mirror.close()
    assert rep["installed"] == 1 and rep["os_installed"], rep
    assert mirror.auth and all(a is None for a in mirror.auth), mirror.auth
    # The status report needs the token: the service got it.
    st = svc.request("GET", f"/v1/tenants/{w['tenant']}/devices/{w['device_id']}/update-status").json
    assert st["reported_at"], st
