"""The `rampart` CLI against a real rampartd on loopback: every service command group end to end,
table and JSON output, exit statuses scripts rely on, and bad input as seen from the CLI."""
import json
import os
import stat
import subprocess
import uuid

import pytest

from cli_service import Cli, Server, api, device_key

EXIT_INVALID, EXIT_VERIFY, EXIT_NOT_FOUND, EXIT_PERMISSION, EXIT_CONFLICT, EXIT_UNAVAILABLE = 2, 3, 4, 5, 6, 7
EXIT_LIMIT, EXIT_USAGE = 8, 64


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


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
    """The bootstrap service administrator, logged in, with a tenant of its own selected."""
    cli = Cli(tmp_path_factory.mktemp("admin") / "config.json")
    cli.login(server, server.admin_token)
    tenant = cli.json("tenant", "create", "--name", unique("Contoso"))
    cli.run("tenant", "select", "--tenant", tenant["tenant_id"])
    cli.tenant = tenant
    return cli


@pytest.fixture
def product(admin):
    return admin.json("product", "create", "--name", unique("Thermostat"), "--description", "test product")


# ---- login and configuration ------------------------------------------------------------------

def test_login_writes_private_config(server, tmp_path):
    cli = Cli(tmp_path / "cfg" / "config.json")
    out = cli.login(server, server.admin_token).stdout
    assert "Logged in to" in out and "service administrator" in out
    mode = stat.S_IMODE(os.stat(cli.config).st_mode)
    assert mode == 0o600
    saved = json.loads(cli.config.read_text())
    assert saved["service"] == server.url and saved["token"] == server.admin_token
    assert "BEGIN CERTIFICATE" in saved["ca_cert_pem"]
    me = cli.json("whoami")
    assert me["service_admin"] is True
    assert "User:" in cli.run("whoami").stdout




def test_login_refusals(server, tmp_path):
    cli = Cli(tmp_path / "config.json")
    proc = cli.run("login", "--service", server.url, "--ca-cert", server.ca_cert, "--token-stdin",
                   input="rpt_" + "0" * 64 + "\n", code=EXIT_PERMISSION)
    assert "token" in proc.stderr and "nothing was saved" in proc.stderr
    assert not cli.config.exists()
    # The service's self-signed certificate is not in the system store: verification fails (3) and
    # the message says how to fix it.
    proc = cli.run("login", "--service", server.url, "--token-stdin", input=server.admin_token, code=EXIT_VERIFY)
    assert "--ca-cert" in proc.stderr
    assert not cli.config.exists()
    # Plain http to a non-loopback host would leak the token: refused before any connection.
    proc = cli.run("login", "--service", "http://192.0.2.1:8443", "--token-stdin", input=server.admin_token,
                   code=EXIT_INVALID)
    assert "clear text" in proc.stderr
    cli.run("login", "--token-stdin", input=server.admin_token, code=EXIT_USAGE)


def test_insecure_skip_verify_warns(server, tmp_path):
    cli = Cli(tmp_path / "config.json")
    proc = cli.run("whoami", "--service", server.url, "--token", server.admin_token, "--insecure-skip-verify")
    assert "warning" in proc.stderr and "not verifying" in proc.stderr


def test_config_readable_by_others_is_refused(server, tmp_path):
    cli = Cli(tmp_path / "config.json")
    cli.login(server, server.admin_token)
    os.chmod(cli.config, 0o644)
    proc = cli.run("tenant", "list", code=EXIT_PERMISSION)
    assert "chmod 600" in proc.stderr
    os.chmod(cli.config, 0o600)
    cli.run("tenant", "list")
    # A damaged configuration is refused with its path, not half-used.
    cli.config.write_text('{"version": 1, "tokn": "x"}')
    os.chmod(cli.config, 0o600)
    proc = cli.run("tenant", "list", code=EXIT_INVALID)
    assert str(cli.config) in proc.stderr and "tokn" in proc.stderr
    cli.run("logout")


def test_saved_token_is_not_sent_to_another_service(server, tmp_path):
    cli = Cli(tmp_path / "config.json")
    cli.login(server, server.admin_token)
    # Same server reached under another name: the saved token and CA are not used for it.
    other = server.url.replace("127.0.0.1", "localhost")
    proc = cli.run("whoami", "--service", other, "--insecure-skip-verify", code=EXIT_PERMISSION)
    assert "token" in proc.stderr


def test_logout_removes_token(server, tmp_path):
    cli = Cli(tmp_path / "config.json")
    cli.login(server, server.admin_token)
    cli.run("logout")
    assert "token" not in json.loads(cli.config.read_text())
    cli.run("whoami", code=EXIT_PERMISSION)


def test_service_down_is_unavailable(tmp_path):
    from conftest import free_port
    cli = Cli(tmp_path / "config.json")
    proc = cli.run("tenant", "list", "--service", f"http://127.0.0.1:{free_port()}", "--token", "rpt_x",
                   code=EXIT_UNAVAILABLE)
    assert "rampartd is running" in proc.stderr


# ---- tenants, products, device groups ---------------------------------------------------------

def test_tenant_commands(admin):
    tid = admin.tenant["tenant_id"]
    assert admin.run("tenant", "show-selected").stdout.strip() == tid
    shown = admin.json("tenant", "show")
    assert shown["tenant_id"] == tid and shown["name"] == admin.tenant["name"]
    assert admin.tenant["name"] in admin.run("tenant", "show").stdout
    listed = admin.json("tenant", "list")
    assert tid in [t["tenant_id"] for t in listed]
    table = admin.run("tenant", "list").stdout
    assert table.splitlines()[0].split()[:2] == ["Tenant", "ID"] and tid in table
    # Selecting by name works too.
    admin.run("tenant", "select", "--tenant", admin.tenant["name"])
    admin.run("tenant", "select", "--tenant", "no-such-tenant-" + uuid.uuid4().hex, code=EXIT_NOT_FOUND)
    assert admin.run("tenant", "show-selected").stdout.strip() == tid


def test_product_lifecycle(admin):
    name = unique("Sensor")
    p = admin.json("product", "create", "--name", name, "--description", "first")
    assert p["name"] == name and p["description"] == "first"
    assert name in admin.run("product", "list").stdout
    assert p["product_id"] in [x["product_id"] for x in admin.json("product", "list")]
    assert admin.json("product", "show", "--product", name)["product_id"] == p["product_id"]
    assert admin.json("product", "show", "--product", p["product_id"])["name"] == name
    # Five default device groups came with it.
    groups = admin.json("device-group", "list", "--product", name)
    assert groups == admin.json("product", "device-group", "list", "--product", name)
    assert sorted(g["name"] for g in groups) == sorted(
        ["Development", "Field Test", "Production", "Production OS Evaluation", "Field Test OS Evaluation"])
    # Optimistic concurrency: a stale --if-version is a conflict (6) and changes nothing.
    updated = admin.json("product", "update", "--product", name, "--description", "second",
                         "--if-version", str(p["version"]))
    assert updated["description"] == "second"
    proc = admin.run("product", "update", "--product", name, "--description", "third",
                     "--if-version", str(p["version"]), code=EXIT_CONFLICT)
    assert "rampart: error:" in proc.stderr
    assert admin.json("product", "show", "--product", name)["description"] == "second"
    admin.run("product", "create", "--name", name, code=EXIT_CONFLICT)
    admin.run("product", "update", "--product", name, code=EXIT_USAGE)
    admin.run("product", "delete", "--product", name)
    admin.run("product", "show", "--product", name, code=EXIT_NOT_FOUND)


def test_device_group_lifecycle(admin, product):
    pname = product["name"]
    g = admin.json("device-group", "create", "--product", pname, "--name", "Canary", "--description", "early",
                   "--os-feed", "RetailEval", "--update-policy", "No3rdPartyAppUpdates", "--allow-crash-dumps", "true")
    assert (g["os_feed"], g["update_policy"], g["allow_crash_dumps"]) == ("RetailEval", "No3rdPartyAppUpdates", True)
    assert g["product_id"] == product["product_id"]
    spec = f"{pname}/Canary"
    assert admin.json("device-group", "show", "--device-group", spec)["device_group_id"] == g["device_group_id"]
    assert admin.json("device-group", "show", "--device-group", g["device_group_id"])["name"] == "Canary"
    table = admin.run("device-group", "show", "--device-group", spec).stdout
    assert "RetailEval" in table and "Field" in table.splitlines()[0]
    u = admin.json("device-group", "update", "--device-group", spec, "--allow-crash-dumps", "false",
                   "--name", "Canary 2")
    assert u["allow_crash_dumps"] is False and u["name"] == "Canary 2"
    admin.run("device-group", "update", "--device-group", f"{pname}/Canary 2", "--name", "x",
              "--if-version", str(g["version"]), code=EXIT_CONFLICT)
    assert admin.json("device-group", "device", "list", "--device-group", f"{pname}/Canary 2") == []
    d = admin.json("device-group", "deployment", "create", "--device-group", f"{pname}/Canary 2", "--no-images")
    assert d["image_ids"] == []
    history = admin.json("device-group", "deployment", "list", "--device-group", f"{pname}/Canary 2")
    assert [x["deployment_id"] for x in history] == [d["deployment_id"]]
    assert admin.json("device-group", "show", "--device-group", g["device_group_id"])[
        "current_deployment"]["deployment_id"] == d["deployment_id"]
    assert g["device_group_id"] in admin.run("device-group", "list").stdout
    admin.run("device-group", "delete", "--device-group", f"{pname}/Canary 2")
    proc = admin.run("device-group", "show", "--device-group", f"{pname}/Canary 2", code=EXIT_NOT_FOUND)
    assert "PRODUCT/GROUP" in proc.stderr
    # Bad values are refused by the CLI with the allowed ones named.
    proc = admin.run("device-group", "create", "--product", pname, "--name", "X", "--os-feed", "Beta",
                     code=EXIT_USAGE)
    assert "Retail or RetailEval" in proc.stderr
    admin.run("device-group", "create", "--product", pname, "--name", "X", "--allow-crash-dumps", "maybe",
              code=EXIT_USAGE)
    admin.run("device-group", "deployment", "create", "--device-group", f"{pname}/Production",
              "--image", "not-a-guid", code=EXIT_INVALID)
    admin.run("device-group", "deployment", "create", "--device-group", f"{pname}/Production",
              "--image", str(uuid.uuid4()), code=None)  # unknown image: a 4xx, never a crash
    admin.run("device-group", "deployment", "create", "--device-group", f"{pname}/Production", code=EXIT_USAGE)


# ---- devices -----------------------------------------------------------------------------------

def test_device_register_claim_move(admin, product, tmp_path):
    pub, device_id, _ = device_key(tmp_path, "dev1")
    reg = admin.json("device", "register", "--public-key", pub)
    assert reg["device_id"] == device_id and reg["tenant_id"] is None
    admin.run("device", "register", "--public-key", pub, code=EXIT_CONFLICT)
    # A device ID that does not belong to the key is refused before anything is sent.
    proc = admin.run("device", "register", "--public-key", pub, "--device-id", "ab" * 32, code=EXIT_INVALID)
    assert "does not belong" in proc.stderr
    pname = product["name"]
    claimed = admin.json("device", "claim", "--device", device_id.upper(), "--device-group", f"{pname}/Development")
    assert claimed["tenant_id"] == admin.tenant["tenant_id"]
    dev_group = admin.json("device-group", "show", "--device-group", f"{pname}/Development")
    assert claimed["device_group_id"] == dev_group["device_group_id"]
    # Claiming twice is a conflict: exit 6.
    proc = admin.run("device", "claim", "--device", device_id, code=EXIT_CONFLICT)
    assert "rampart: error: claiming device" in proc.stderr
    assert device_id in admin.run("device", "list").stdout
    assert [d["device_id"] for d in admin.json("device", "list", "--device-group", f"{pname}/Development")] == [
        device_id]
    shown = admin.json("device", "show", "--device", device_id)
    moved = admin.json("device", "update", "--device", device_id, "--device-group", f"{pname}/Field Test")
    assert moved["device_group_id"] != shown["device_group_id"]
    assert [d["device_id"] for d in admin.json("device-group", "device", "list", "--device-group",
                                                f"{pname}/Field Test")] == [device_id]
    admin.run("device", "update", "--device", device_id, "--device-group", f"{pname}/Production",
              "--if-version", str(shown["version"]), code=EXIT_CONFLICT)
    # A group with a device in it cannot be deleted.
    admin.run("device-group", "delete", "--device-group", f"{pname}/Field Test", code=EXIT_CONFLICT)
    admin.run("device", "show", "--device", "00" * 32, code=EXIT_NOT_FOUND)
    proc = admin.run("device", "show", "--device", "xyz", code=EXIT_INVALID)
    assert "64 hex digits" in proc.stderr
    admin.run("device", "claim", "--device", "12" * 32, code=EXIT_NOT_FOUND)


def test_bulk_register_from_csv(admin, tmp_path):
    rows_pem, rows_b64 = [], []
    for i in range(3):
        pub, did, b64 = device_key(tmp_path, f"bulk{i}")
        rows_pem.append((did, pub.name))
    for i in range(2):
        _, did, b64 = device_key(tmp_path, f"b64{i}")
        rows_b64.append((did, b64))
    csv_pem = tmp_path / "devices.csv"
    csv_pem.write_text("device_id,public_key_pem_path\n" + "".join(f"{d},{p}\n" for d, p in rows_pem[:2]) +
                       f",{rows_pem[2][1]}\n")
    assert admin.json("device", "register", "--bulk", csv_pem) == {"registered": 3}
    csv_b64 = tmp_path / "devices-b64.csv"
    csv_b64.write_text("device_id,public_key_base64\r\n" + "".join(f"{d},{k}\r\n" for d, k in rows_b64))
    assert "Registered 2 devices." in admin.run("device", "register", "--bulk", csv_b64).stdout
    # All registered: claiming one works.
    admin.json("device", "claim", "--device", rows_b64[0][0])
    # Errors name the file and line; nothing is sent.
    bad = tmp_path / "bad.csv"
    _, did, b64 = device_key(tmp_path, "bad")
    bad.write_text(f"device_id,public_key_base64\n{did},{b64}\n{'cd' * 32},{b64}\n")
    proc = admin.run("device", "register", "--bulk", bad, code=EXIT_INVALID)
    assert f"{bad}:3" in proc.stderr and "does not belong" in proc.stderr
    admin.run("device", "claim", "--device", did, code=EXIT_NOT_FOUND)
    # One already-registered device in a batch: the whole batch is refused (6), none of it registered.
    _, fresh_id, fresh_b64 = device_key(tmp_path, "fresh")
    again = tmp_path / "again.csv"
    again.write_text(f"device_id,public_key_base64\n{fresh_id},{fresh_b64}\n{rows_b64[1][0]},{rows_b64[1][1]}\n")
    proc = admin.run("device", "register", "--bulk", again, code=EXIT_CONFLICT)
    assert "0 devices before it were registered" in proc.stderr
    admin.run("device", "claim", "--device", fresh_id, code=EXIT_NOT_FOUND)
    hdr = tmp_path / "nohdr.csv"
    hdr.write_text(f"{did},{b64}\n")
    proc = admin.run("device", "register", "--bulk", hdr, code=EXIT_INVALID)
    assert "header" in proc.stderr
    admin.run("device", "register", "--bulk", hdr, "--public-key", hdr, code=EXIT_USAGE)


# ---- roles and other tenants --------------------------------------------------------------------

def test_roles_and_reader_cannot_change(admin, product, server, tmp_path):
    user = unique("reader")
    added = admin.json("role", "add", "--user", user, "--role", "Reader")
    assert added["role"] == "Reader" and added["token"].startswith("rpt_")
    roles = admin.json("role", "list")
    assert {"user": user, "role": "Reader"}.items() <= next(r for r in roles if r["user"] == user).items()
    reader = Cli(tmp_path / "reader.json")
    reader.login(server, added["token"])
    assert reader.run("tenant", "show-selected").stdout.strip() == admin.tenant["tenant_id"]
    assert product["product_id"] in [p["product_id"] for p in reader.json("product", "list")]
    proc = reader.run("product", "create", "--name", unique("nope"), code=EXIT_PERMISSION)
    assert "role" in proc.stderr
    reader.run("product", "delete", "--product", product["name"], code=EXIT_PERMISSION)
    reader.run("product", "update", "--product", product["name"], "--name", "x", code=EXIT_PERMISSION)
    reader.run("role", "add", "--user", unique("x"), "--role", "Administrator", code=EXIT_PERMISSION)
    reader.run("device-group", "update", "--device-group", f"{product['name']}/Production",
               "--allow-crash-dumps", "true", code=EXIT_PERMISSION)
    reader.run("device-group", "deployment", "create", "--device-group", f"{product['name']}/Production",
               "--no-images", code=EXIT_PERMISSION)
    reader.run("ca-certificate", "download-proof", "--verification-code", "ABC", "--destination",
               tmp_path / "proof.pem", code=EXIT_PERMISSION)
    assert not (tmp_path / "proof.pem").exists()
    pub, did, _ = device_key(tmp_path, "readerdev")
    admin.json("device", "register", "--public-key", pub)
    reader.run("device", "claim", "--device", did, code=EXIT_PERMISSION)
    reader.run("image", "trusted-key", "add", "--public-key", pub, code=EXIT_PERMISSION)
    assert admin.json("device-group", "deployment", "list", "--device-group", f"{product['name']}/Production") == []
    assert admin.json("product", "show", "--product", product["product_id"])["version"] == product["version"]
    # Contributors may change things but not roles.
    contributor = admin.json("role", "add", "--user", unique("contrib"), "--role", "Contributor")
    c = Cli(tmp_path / "contrib.json")
    c.login(server, contributor["token"])
    c.json("product", "create", "--name", unique("ByContributor"))
    c.run("role", "add", "--user", unique("y"), "--role", "Reader", code=EXIT_PERMISSION)
    # A user has one role per tenant: adding another changes it (no new token).
    changed = admin.json("role", "add", "--user", user, "--role", "Contributor")
    assert changed["role"] == "Contributor" and "token" not in changed
    assert next(r for r in admin.json("role", "list") if r["user"] == user)["role"] == "Contributor"
    admin.run("role", "add", "--user", user, "--role", "Owner", code=EXIT_USAGE)
    admin.run("role", "delete", "--user", user)
    assert user not in [r["user"] for r in admin.json("role", "list")]
    # No role any more: the tenant is not even visible to that token.
    reader.run("product", "list", code=EXIT_NOT_FOUND)


def test_other_tenant_cannot_see_or_take(admin, product, server, tmp_path):
    other = Cli(tmp_path / "other.json")
    other.login(server, server.admin_token)
    t2 = other.json("tenant", "create", "--name", unique("Fabrikam"))
    user = unique("fabadmin")
    boss = other.json("role", "add", "--user", user, "--role", "Administrator", "--tenant", t2["tenant_id"])
    fab = Cli(tmp_path / "fab.json")
    fab.login(server, boss["token"])
    assert fab.run("tenant", "show-selected").stdout.strip() == t2["tenant_id"]
    # User names are service-wide: tenant B's Administrator cannot take over a user of tenant A.
    taken = admin.json("role", "add", "--user", unique("ci"), "--role", "Reader")["user"]
    proc = fab.run("role", "add", "--user", taken, "--role", "Administrator", code=EXIT_CONFLICT)
    assert f'the user name "{taken}" is taken: choose another name' in proc.stderr, proc.stderr
    assert taken not in [r["user"] for r in fab.json("role", "list")]
    # Tenant A's objects do not exist for tenant B.
    fab.run("product", "show", "--product", product["product_id"], code=EXIT_NOT_FOUND)
    fab.run("product", "list", "--tenant", admin.tenant["tenant_id"], code=EXIT_NOT_FOUND)
    fab.run("product", "delete", "--product", product["product_id"], "--tenant", admin.tenant["tenant_id"],
            code=EXIT_NOT_FOUND)
    # A device claimed by tenant A cannot be claimed by tenant B.
    pub, did, _ = device_key(tmp_path, "contested")
    admin.json("device", "register", "--public-key", pub)
    admin.json("device", "claim", "--device", did)
    fab.run("device", "claim", "--device", did, code=EXIT_CONFLICT)
    fab.run("device", "show", "--device", did, code=EXIT_NOT_FOUND)
    assert admin.json("device", "show", "--device", did)["tenant_id"] == admin.tenant["tenant_id"]
    # Registering devices is the service administrator's job.
    pub2, _, _ = device_key(tmp_path, "fabdev")
    fab.run("device", "register", "--public-key", pub2, code=EXIT_PERMISSION)


# ---- hostile and malformed input ----------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "O'Brien \"quoted\"",
    "a; DROP TABLE products; --",
    "x' OR '1'='1",
    "Robert'); DELETE FROM devices;--",
    "名前 ünïcödé ✓",
    "back\\slash/slash?query#frag%41",
])
def test_hostile_names_round_trip(admin, name):
    name = f"{name} {uuid.uuid4().hex[:6]}"
    p = admin.json("product", "create", "--name", name, "--description", name)
    assert p["name"] == name and p["description"] == name
    assert admin.json("product", "show", "--product", name)["product_id"] == p["product_id"]
    assert name in [x["name"] for x in admin.json("product", "list")]
    g = admin.json("device-group", "create", "--product", p["product_id"], "--name", name)
    assert admin.json("device-group", "show", "--device-group", f"{name}/{name}")["device_group_id"] == \
        g["device_group_id"]
    admin.run("device-group", "delete", "--device-group", g["device_group_id"])
    admin.run("product", "delete", "--product", name)


@pytest.mark.parametrize("name,why", [
    (" leading space", "space"),
    ("trailing space ", "space"),
    ("x" * 101, "long"),
    ("tab\there", "control"),
    ("new\nline", "control"),
    ("", "empty"),
])
def test_bad_names_refused_precisely(admin, name, why):
    before = admin.json("product", "list")
    proc = admin.run("product", "create", "--name", name, code=EXIT_INVALID)
    assert "rampart: error: creating product" in proc.stderr and "HTTP 400" in proc.stderr
    assert admin.json("product", "list") == before


def test_invalid_utf8_refused_by_cli(admin):
    proc = admin.run(b"product", b"create", b"--name", b"bad \xff\xfe name", code=EXIT_INVALID)
    assert "UTF-8" in proc.stderr


def test_usage_errors(admin):
    admin.run("product", "list", "--output", "yaml", code=EXIT_USAGE)
    admin.run("product", "list", "--bogus", code=EXIT_USAGE)
    admin.run("product", "show", code=EXIT_USAGE)
    admin.run("product", "list", "extra-arg", code=EXIT_USAGE)
    admin.run("product", "frobnicate", code=EXIT_USAGE)
    admin.run("no-such-group", code=EXIT_USAGE)
    proc = admin.run("product", "update", "--product", "x", "--name", "y", "--if-version", "-3", code=EXIT_INVALID)
    assert "--if-version" in proc.stderr
    admin.run("product", "show", "--product", "a", "--product", "b", code=EXIT_USAGE)


def test_every_help(admin):
    groups = ["login", "logout", "whoami", "tenant", "role", "product", "device-group", "device", "image",
              "ca-certificate", "audit"]
    for g in groups:
        out = admin.run(g, "--help").stdout
        assert out.startswith("Usage: rampart " + g)
    commands = {
        "tenant": ["create", "list", "show", "select", "show-selected"],
        "role": ["add", "list", "delete"],
        "product": ["create", "list", "show", "update", "delete", "device-group list"],
        "device-group": ["create", "list", "show", "update", "delete", "deployment create", "deployment list",
                         "device list"],
        "device": ["register", "claim", "list", "show", "update"],
        "image": ["add", "list", "show", "download", "trusted-key add", "trusted-key list"],
        "ca-certificate": ["list", "download", "download-chain", "download-proof"],
        "audit": ["list"],
    }
    for g, cmds in commands.items():
        for c in cmds:
            out = admin.run(g, *c.split(), "--help").stdout
            assert out.startswith(f"Usage: rampart {g} {c}") and "Options:" in out


# ---- tenant CA ----------------------------------------------------------------------------------

def test_ca_certificates(admin, tmp_path):
    cas = admin.json("ca-certificate", "list")
    assert len(cas) >= 1 and any(c["status"] == "Active" for c in cas)
    assert "Thumbprint" in admin.run("ca-certificate", "list").stdout
    ca = tmp_path / "ca.pem"
    admin.run("ca-certificate", "download", "--destination", ca)
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    der = tmp_path / "ca.der"
    admin.run("ca-certificate", "download", "--format", "der", "--destination", der,
              "--thumbprint", cas[0]["thumbprint"])
    assert der.read_bytes()[0] == 0x30
    chain = tmp_path / "chain.pem"
    admin.run("ca-certificate", "download-chain", "--destination", chain)
    p7 = tmp_path / "chain.p7b"
    admin.run("ca-certificate", "download-chain", "--format", "pkcs7", "--destination", p7)
    subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-in", str(p7), "-print_certs", "-noout"], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "verify", "-CAfile", str(chain), str(ca)], check=True, capture_output=True)
    proof = tmp_path / "proof.pem"
    out = admin.json("ca-certificate", "download-proof", "--verification-code", "3F9A2B-77", "--destination", proof)
    assert out["path"] == str(proof) and len(out["sha256"]) == 64
    subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(proof)], check=True, capture_output=True)
    subject = subprocess.run(["openssl", "x509", "-in", str(proof), "-noout", "-subject"], check=True,
                             capture_output=True, text=True).stdout
    assert "3F9A2B-77" in subject
    admin.run("ca-certificate", "download-proof", "--verification-code", "bad code!", "--destination",
              tmp_path / "p2.pem", code=EXIT_INVALID)
    assert not (tmp_path / "p2.pem").exists()
    assert not [p for p in tmp_path.iterdir() if ".part-" in p.name]
    admin.run("ca-certificate", "download", "--thumbprint", "00" * 32, "--destination", tmp_path / "x.pem",
              code=EXIT_NOT_FOUND)
    admin.run("ca-certificate", "download", "--format", "txt", "--destination", tmp_path / "x.pem", code=EXIT_USAGE)
    pem = admin.run("ca-certificate", "download", "--destination", "-").stdout
    assert pem == ca.read_text()


# ---- audit --------------------------------------------------------------------------------------

def test_audit_log(admin, server, tmp_path):
    name = unique("Audited")
    admin.json("product", "create", "--name", name)
    entries = admin.json("audit", "list", "--action", "product.create")
    assert any(e["result"] == "success" and e["action"] == "product.create" for e in entries)
    # A refused change by a Reader is recorded too.
    r = admin.json("role", "add", "--user", unique("auditreader"), "--role", "Reader")
    reader = Cli(tmp_path / "r.json")
    reader.login(server, r["token"])
    reader.run("product", "create", "--name", unique("nope"), code=EXIT_PERMISSION)
    refused = admin.json("audit", "list", "--result", "refused")
    assert any(e["actor"] == r["user"] for e in refused)
    assert "Action" in admin.run("audit", "list").stdout.splitlines()[0]
    reader.run("audit", "list", code=EXIT_PERMISSION)
    everything = admin.json("audit", "list", "--all", "--action", "tenant.create")
    assert any(e["action"] == "tenant.create" for e in everything)
    admin.run("audit", "list", "--result", "maybe", code=EXIT_USAGE)


def test_lists_fetch_every_page(admin, server):
    """More items than one page (1000): the CLI follows next_page_token to the end."""
    tenant = admin.json("tenant", "create", "--name", unique("Paged"))
    tid = tenant["tenant_id"]
    for i in range(1005):
        api(server, "POST", f"/v1/tenants/{tid}/products", {"name": f"p{i:04d}"})
    items = admin.json("product", "list", "--tenant", tid)
    assert [p["name"] for p in items] == [f"p{i:04d}" for i in range(1005)]
    table = admin.run("product", "list", "--tenant", tid).stdout.splitlines()
    assert len(table) == 2 + 1005
