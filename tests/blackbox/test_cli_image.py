"""Images through the CLI against a real rampartd: trusted signing keys, upload of packages made
with `rampart image-package`, show, list, verified download, deployment, refusals, and the
progress bar that appears only when stderr is a terminal."""
import json
import os
import pty
import select
import shutil
import subprocess
import uuid

import pytest

from cli_service import Cli, Server
from conftest import find_binary

EXIT_INVALID, EXIT_VERIFY, EXIT_NOT_FOUND, EXIT_PERMISSION, EXIT_CONFLICT, EXIT_LIMIT = 2, 3, 4, 5, 6, 8

MANIFEST = {
    "SchemaVersion": 1,
    "Name": "hello",
    "ComponentId": "3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "EntryPoint": "/bin/app",
    "CmdArgs": [],
    "ApplicationType": "Default",
    "Capabilities": {},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("rampartd"), extra_args=["--max-image-size", "8M"])
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def admin(server, tmp_path_factory):
    cli = Cli(tmp_path_factory.mktemp("admin") / "config.json")
    cli.login(server, server.admin_token)
    tenant = cli.json("tenant", "create", "--name", f"Images-{uuid.uuid4().hex[:6]}")
    cli.run("tenant", "select", "--tenant", tenant["tenant_id"])
    cli.tenant = tenant
    return cli


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for name in ("trusted", "untrusted"):
        priv, pub = d / f"{name}.pem", d / f"{name}.pub.pem"
        subprocess.run([str(find_binary("rampart")), "image-package", "keygen", "--private-key", priv,
                        "--public-key", pub], check=True, capture_output=True)
        out[name] = (priv, pub)
    return out


def pack(directory, key, name="hello", payload_bytes=0):
    """A signed application package (fresh image ID each time)."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = dict(MANIFEST, Name=name)
    (directory / "app_manifest.json").write_text(json.dumps(manifest))
    app = directory / "app"
    app.write_bytes(b"#!/bin/sh\necho hi\n" + os.urandom(payload_bytes))
    app.chmod(0o755)
    out = directory / f"{name}-{uuid.uuid4().hex[:6]}.imagepackage"
    subprocess.run([str(find_binary("rampart")), "image-package", "pack-application", "--manifest",
                    directory / "app_manifest.json", "--executable", app, "--key", key, "--output", out],
                   check=True, capture_output=True)
    return out


def test_trusted_keys_and_images(admin, keys, tmp_path):
    priv, pub = keys["trusted"]
    k = admin.json("image", "trusted-key", "add", "--public-key", pub, "--name", "release")
    assert len(k["key_id"]) == 64 and k["name"] == "release"
    assert k["key_id"] in [x["key_id"] for x in admin.json("image", "trusted-key", "list")]
    assert "release" in admin.run("image", "trusted-key", "list").stdout
    admin.run("image", "trusted-key", "add", "--public-key", pub, code=EXIT_CONFLICT)
    admin.run("image", "trusted-key", "add", "--public-key", priv.parent / "missing.pem", code=EXIT_NOT_FOUND)

    package = pack(tmp_path / "p1", priv)
    image = admin.json("image", "add", "--image", package)
    assert image["signing_key_id"] == k["key_id"] and image["size"] == package.stat().st_size
    assert image["component_id"] == MANIFEST["ComponentId"]
    shown = admin.json("image", "show", "--image", image["image_id"])
    assert shown == image
    assert image["image_id"] in admin.run("image", "show", "--image", image["image_id"]).stdout
    assert image["image_id"] in [i["image_id"] for i in admin.json("image", "list")]
    # Download: bytes identical, hash checked, no partial file left behind.
    dest = tmp_path / "down.imagepackage"
    out = admin.json("image", "download", "--image", image["image_id"], "--destination", dest)
    assert dest.read_bytes() == package.read_bytes() and out["sha256"] == image["sha256"]
    assert "verified" in admin.run("image", "download", "--image", image["image_id"], "--destination",
                                   tmp_path / "again.imagepackage").stdout
    # The same package again is refused: images never change.
    admin.run("image", "add", "--image", package, code=EXIT_CONFLICT)
    # Deploy it.
    product = admin.json("product", "create", "--name", f"P-{uuid.uuid4().hex[:6]}")
    group = f"{product['name']}/Field Test"
    d = admin.json("device-group", "deployment", "create", "--device-group", group, "--image", image["image_id"])
    assert d["image_ids"] == [image["image_id"]]
    assert image["image_id"] in admin.run("device-group", "deployment", "list", "--device-group", group).stdout
    admin.run("image", "show", "--image", str(uuid.uuid4()), code=EXIT_NOT_FOUND)
    admin.run("image", "show", "--image", "nope", code=EXIT_INVALID)


def test_untrusted_and_damaged_packages_refused(admin, keys, tmp_path):
    # The tenant trusts a key (whichever test runs first adds it), so the refusal is for the signer.
    added = admin.run("image", "trusted-key", "add", "--public-key", keys["trusted"][1], code=None)
    assert added.returncode in (0, EXIT_CONFLICT), added.stderr
    before = admin.json("image", "list")
    package = pack(tmp_path / "u", keys["untrusted"][0])
    proc = admin.run("image", "add", "--image", package, code=EXIT_VERIFY)
    assert "is by a trusted key (untrusted signer)" in proc.stderr, proc.stderr
    damaged = tmp_path / "damaged.imagepackage"
    data = bytearray(pack(tmp_path / "d", keys["trusted"][0]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    proc = admin.run("image", "add", "--image", damaged, code=None)
    assert proc.returncode in (EXIT_INVALID, EXIT_VERIFY), proc.stderr
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a package")
    admin.run("image", "add", "--image", junk, code=EXIT_INVALID)
    admin.run("image", "add", "--image", tmp_path / "missing", code=EXIT_NOT_FOUND)
    assert admin.json("image", "list") == before


def test_other_tenant_cannot_use_image(admin, keys, server, tmp_path):
    admin.run("image", "trusted-key", "add", "--public-key", keys["trusted"][1], code=None)
    image = admin.json("image", "add", "--image", pack(tmp_path / "o", keys["trusted"][0]))
    other = Cli(tmp_path / "other.json")
    other.login(server, server.admin_token)
    t2 = other.json("tenant", "create", "--name", f"Other-{uuid.uuid4().hex[:6]}")
    other.run("tenant", "select", "--tenant", t2["tenant_id"])
    boss = other.json("role", "add", "--user", f"boss-{uuid.uuid4().hex[:6]}", "--role", "Administrator")
    b = Cli(tmp_path / "b.json")
    b.login(server, boss["token"])
    b.run("image", "show", "--image", image["image_id"], code=EXIT_NOT_FOUND)
    b.run("image", "download", "--image", image["image_id"], "--destination", tmp_path / "x", code=EXIT_NOT_FOUND)
    product = b.json("product", "create", "--name", "Theirs")
    proc = b.run("device-group", "deployment", "create", "--device-group", f"{product['name']}/Production",
                 "--image", image["image_id"], code=EXIT_NOT_FOUND)
    assert "is not an image of this tenant" in proc.stderr, proc.stderr
    assert b.json("device-group", "deployment", "list", "--device-group", f"{product['name']}/Production") == []


def run_on_pty(cli, *args):
    """Run rampart with stderr on a pseudo-terminal; returns (exit status, stderr text)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(find_binary("rampart")), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=slave, env=cli.env())
    os.close(slave)
    chunks = []
    for _ in range(2000):  # bounded
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=60)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


def test_progress_bar_only_on_a_terminal(admin, keys, tmp_path):
    admin.run("image", "trusted-key", "add", "--public-key", keys["trusted"][1], code=None)
    package = pack(tmp_path / "big", keys["trusted"][0], name="big", payload_bytes=3 * 1024 * 1024)
    status, err = run_on_pty(admin, "image", "add", "--image", package, "--output", "json")
    assert status == 0, err
    assert "100%" in err and "[####" in err
    image_id = json.loads(admin.run("image", "list", "--output", "json").stdout)[-1]["image_id"]
    status, err = run_on_pty(admin, "image", "download", "--image", image_id, "--destination", tmp_path / "b.pkg")
    assert status == 0 and "100%" in err
    # Not a terminal: no progress output at all.
    proc = admin.run("image", "download", "--image", image_id, "--destination", tmp_path / "c.pkg")
    assert proc.stderr == ""
    assert (tmp_path / "c.pkg").read_bytes() == package.read_bytes()


def test_image_over_the_service_limit(admin, tmp_path):
    """The service refuses before the body is sent (Expect: 100-continue): exit 8, its message shown."""
    big = tmp_path / "huge.imagepackage"
    with open(big, "wb") as f:
        f.truncate(9 * 1024 * 1024)
    before = admin.json("image", "list")
    proc = admin.run("image", "add", "--image", big, code=EXIT_LIMIT)
    assert "HTTP 413" in proc.stderr and "limit" in proc.stderr
    assert admin.json("image", "list") == before
