"""rampartd's API, driven over HTTPS by a plain client: model, roles, audit and bad input.
Every refused request must change nothing and the server must keep serving."""
import json
import subprocess
import threading

import pytest

from service_client import Rampartd, device_key


@pytest.fixture
def svc(tmp_path):
    d = Rampartd(tmp_path).start()
    yield d
    assert d.stop() == 0, d.log.read_text()


@pytest.fixture
def tenant(svc):
    return svc.create_tenant("Contoso")


def test_health_and_whoami(svc):
    assert svc.request("GET", "/v1/health", token=None).json["status"] == "ok"
    me = svc.request("GET", "/v1/whoami").json
    assert me == {"user": "admin", "service_admin": True, "roles": []}


@pytest.mark.parametrize("auth", [None, "Basic abc", "Bearer nope", "Bearer rpt_" + "0" * 64])
def test_missing_or_bad_token_is_401(svc, auth):
    r = svc.request("GET", "/v1/whoami", token=None, headers={"Authorization": auth} if auth else None)
    assert r.status == 401 and r.code == "permission"


def test_unknown_route_and_method(svc):
    assert svc.request("GET", "/v1/nothing").status == 404
    r = svc.request("DELETE", "/v1/tenants")
    assert r.status == 405 and r.code == "unsupported"


def test_tenant_create_list_show_and_duplicate(svc, tenant):
    assert svc.request("GET", f"/v1/tenants/{tenant}").json["name"] == "Contoso"
    r = svc.request("POST", "/v1/tenants", {"name": "Contoso"})
    assert r.status == 409 and r.code == "exists"
    names = [t["name"] for t in svc.request("GET", "/v1/tenants").json["items"]]
    assert names == ["Contoso"]


def test_product_creates_five_default_groups(svc, tenant):
    r = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Coffee Maker", "description": "v1"})
    assert r.status == 201, r
    pid = r.json["product_id"]
    assert r.headers["Location"] == f"/v1/tenants/{tenant}/products/{pid}"
    groups = svc.request("GET", f"/v1/tenants/{tenant}/products/{pid}/device-groups").json["items"]
    got = {g["name"]: (g["os_feed"], g["update_policy"], g["allow_crash_dumps"]) for g in groups}
    assert got == {
        "Development": ("Retail", "No3rdPartyAppUpdates", False),
        "Field Test": ("Retail", "UpdateAll", False),
        "Production": ("Retail", "UpdateAll", False),
        "Production OS Evaluation": ("RetailEval", "UpdateAll", False),
        "Field Test OS Evaluation": ("RetailEval", "UpdateAll", False),
    }
    assert all(g["current_deployment"] is None for g in groups)
    # Show by name (URL-encoded space) as well as by ID.
    assert svc.request("GET", f"/v1/tenants/{tenant}/products/Coffee%20Maker").json["product_id"] == pid


def test_update_with_stale_version_is_conflict(svc, tenant):
    p = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "P"}).json
    url = f"/v1/tenants/{tenant}/products/{p['product_id']}"
    r1 = svc.request("PATCH", url, {"description": "first", "version": p["version"]})
    assert r1.status == 200 and r1.json["version"] == p["version"] + 1
    r2 = svc.request("PATCH", url, {"description": "second", "version": p["version"]})
    assert r2.status == 409 and r2.code == "conflict"
    assert svc.request("GET", url).json["description"] == "first"


def test_concurrent_conflicting_updates_one_wins(svc, tenant):
    p = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Race"}).json
    url = f"/v1/tenants/{tenant}/products/{p['product_id']}"
    results = []

    def worker(i):
        results.append(svc.request("PATCH", url, {"description": f"writer {i}", "version": p["version"]}).status)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [200] + [409] * 7
    assert svc.request("GET", url).json["version"] == p["version"] + 1


def test_device_group_crud_and_enums(svc, tenant):
    pid = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "P"}).json["product_id"]
    base = f"/v1/tenants/{tenant}/device-groups"
    r = svc.request("POST", base, {"product_id": pid, "name": "Beta", "os_feed": "RetailEval",
                                   "update_policy": "No3rdPartyAppUpdates", "allow_crash_dumps": True})
    assert r.status == 201, r
    g = r.json
    assert (g["os_feed"], g["update_policy"], g["allow_crash_dumps"]) == ("RetailEval", "No3rdPartyAppUpdates", True)
    bad = svc.request("PATCH", f"{base}/{g['device_group_id']}", {"os_feed": "Nightly"})
    assert bad.status == 400 and "os_feed" in bad.json["error"]["message"]
    ok = svc.request("PATCH", f"{base}/{g['device_group_id']}", {"allow_crash_dumps": False})
    assert ok.status == 200 and ok.json["allow_crash_dumps"] is False
    assert svc.request("DELETE", f"{base}/{g['device_group_id']}").status == 204
    assert svc.request("GET", f"{base}/{g['device_group_id']}").status == 404


def test_roles_reader_contributor_and_other_tenant(svc, tenant):
    reader = svc.add_user(tenant, "rita", "Reader")
    contrib = svc.add_user(tenant, "carl", "Contributor")
    other_tenant = svc.create_tenant("Fabrikam")
    outsider = svc.add_user(other_tenant, "olga", "Administrator")
    products = f"/v1/tenants/{tenant}/products"

    assert svc.request("GET", products, token=reader).status == 200
    r = svc.request("POST", products, {"name": "X"}, token=reader)
    assert r.status == 403 and r.code == "permission"
    assert svc.request("POST", products, {"name": "Y"}, token=contrib).status == 201
    r = svc.request("POST", f"/v1/tenants/{tenant}/roles", {"user": "eve", "role": "Administrator"}, token=contrib)
    assert r.status == 403
    # Another tenant's administrator cannot even see the tenant.
    assert svc.request("GET", products, token=outsider).status == 404
    assert svc.request("POST", products, {"name": "Z"}, token=outsider).status == 404
    names = [p["name"] for p in svc.request("GET", products).json["items"]]
    assert names == ["Y"]
    roles = {r["user"]: r["role"] for r in svc.request("GET", f"/v1/tenants/{tenant}/roles").json["items"]}
    assert roles == {"rita": "Reader", "carl": "Contributor"}
    whoami = svc.request("GET", "/v1/whoami", token=reader).json
    assert whoami["roles"] == [{"tenant_id": tenant, "tenant_name": "Contoso", "role": "Reader"}]
    # Only tenants with a role are listed.
    assert [t["tenant_id"] for t in svc.request("GET", "/v1/tenants", token=outsider).json["items"]] == [other_tenant]
    assert svc.request("DELETE", f"/v1/tenants/{tenant}/roles/rita").status == 204
    assert svc.request("GET", products, token=reader).status == 404


def test_audit_records_changes_and_refusals(svc, tenant):
    reader = svc.add_user(tenant, "rita", "Reader")
    svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Audited"})
    svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Nope"}, token=reader)
    entries = svc.request("GET", f"/v1/tenants/{tenant}/audit?action=product.create").json["items"]
    assert [(e["actor"], e["result"]) for e in entries] == [("admin", "success"), ("rita", "refused")]
    assert "permission" in entries[1]["detail"]
    refused = svc.request("GET", f"/v1/tenants/{tenant}/audit?result=refused").json["items"]
    assert len(refused) == 1
    assert svc.request("GET", f"/v1/tenants/{tenant}/audit", token=reader).status == 403
    all_entries = svc.request("GET", "/v1/audit?action=tenant.create").json["items"]
    assert len(all_entries) == 1 and all_entries[0]["tenant_id"] is None
    assert svc.request("GET", f"/v1/tenants/{tenant}/audit?since=yesterday").status == 400


def test_pagination(svc, tenant):
    for i in range(5):
        svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": f"P{i}"})
    seen, token = [], None
    for _ in range(10):  # bounded
        q = "?limit=2" + (f"&page_token={token}" if token else "")
        page = svc.request("GET", f"/v1/tenants/{tenant}/products{q}").json
        seen += [p["name"] for p in page["items"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == [f"P{i}" for i in range(5)]
    assert svc.request("GET", f"/v1/tenants/{tenant}/products?limit=0").status == 400
    assert svc.request("GET", f"/v1/tenants/{tenant}/products?page_token=abc").status == 400


def test_device_register_claim_move(svc, tenant, tmp_path):
    other = svc.create_tenant("Fabrikam")
    dev_id, pem = device_key(tmp_path, "d1")
    _, other_pem = device_key(tmp_path, "d2")
    r = svc.request("POST", "/v1/devices", {"device_id": dev_id, "public_key_pem": other_pem})
    assert r.status == 400 and "does not match" in r.json["error"]["message"]
    r = svc.request("POST", "/v1/devices", {"device_id": dev_id, "public_key_pem": pem})
    assert r.status == 201 and r.json["tenant_id"] is None and r.json["revoked"] is False
    assert svc.request("POST", "/v1/devices", {"device_id": dev_id, "public_key_pem": pem}).status == 409

    pid = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "P"}).json["product_id"]
    groups = svc.request("GET", f"/v1/tenants/{tenant}/device-groups?product_id={pid}").json["items"]
    dev_group = next(g for g in groups if g["name"] == "Development")["device_group_id"]
    prod_group = next(g for g in groups if g["name"] == "Production")["device_group_id"]

    claim = svc.request("POST", f"/v1/tenants/{tenant}/devices/claim", {"device_id": dev_id,
                                                                          "device_group_id": dev_group})
    assert claim.status == 200 and claim.json["tenant_id"] == tenant and claim.json["product_id"] == pid
    again = svc.request("POST", f"/v1/tenants/{tenant}/devices/claim", {"device_id": dev_id})
    assert again.status == 409 and again.code == "conflict"
    stolen = svc.request("POST", f"/v1/tenants/{other}/devices/claim", {"device_id": dev_id})
    assert stolen.status == 409
    assert svc.request("GET", f"/v1/tenants/{other}/devices/{dev_id}").status == 404
    unknown = svc.request("POST", f"/v1/tenants/{tenant}/devices/claim", {"device_id": "ab" * 32})
    assert unknown.status == 404

    url = f"/v1/tenants/{tenant}/devices/{dev_id}"
    moved = svc.request("PATCH", url, {"device_group_id": prod_group})
    assert moved.status == 200 and moved.json["device_group_id"] == prod_group
    in_group = svc.request("GET", f"/v1/tenants/{tenant}/device-groups/{prod_group}/devices").json["items"]
    assert [d["device_id"] for d in in_group] == [dev_id]
    # A group of another tenant is not found; the device stays where it was.
    other_pid = svc.request("POST", f"/v1/tenants/{other}/products", {"name": "Q"}).json["product_id"]
    other_group = svc.request("GET", f"/v1/tenants/{other}/products/{other_pid}/device-groups").json["items"][0]
    r = svc.request("PATCH", url, {"device_group_id": other_group["device_group_id"]})
    assert r.status == 404
    assert svc.request("GET", url).json["device_group_id"] == prod_group
    # Groups and products holding devices cannot be deleted.
    assert svc.request("DELETE", f"/v1/tenants/{tenant}/device-groups/{prod_group}").status == 409
    assert svc.request("DELETE", f"/v1/tenants/{tenant}/products/{pid}").status == 409


def test_bulk_register_is_all_or_nothing(svc, tmp_path):
    devices = [dict(zip(("device_id", "public_key_pem"), device_key(tmp_path, f"b{i}"))) for i in range(3)]
    broken = devices + [{"device_id": "0" * 64, "public_key_pem": devices[0]["public_key_pem"]}]
    r = svc.request("POST", "/v1/devices/bulk", {"devices": broken})
    assert r.status == 400 and "devices[3]" in r.json["error"]["message"]
    r = svc.request("POST", "/v1/devices/bulk", {"devices": devices})
    assert r.status == 201 and r.json == {"registered": 3}
    # None of the first attempt was kept, so registering one of them again now conflicts only once.
    assert svc.request("POST", "/v1/devices", devices[0]).status == 409


BAD_BODIES = [
    ("{", "invalid"),
    ("[]", "invalid"),
    ('{"name": "A", "extra": 1}', "invalid"),
    ('{"name": 5}', "invalid"),
    ('{"name": "A\\u0000B"}', "invalid"),
    ('{"name": "' + "x" * 101 + '"}', "invalid"),
    ('{"name": "line\\nbreak"}', "invalid"),
    ('{"name": " padded"}', "invalid"),
    ('{"name": "A", "name": "B"}', "invalid"),
    ('{"description": "no name"}', "invalid"),
]


@pytest.mark.parametrize("body,code", BAD_BODIES)
def test_bad_bodies_are_refused_and_change_nothing(svc, tenant, body, code):
    r = svc.request("POST", f"/v1/tenants/{tenant}/products", body)
    assert r.status == 400 and r.code == code, r
    assert svc.request("GET", f"/v1/tenants/{tenant}/products").json["items"] == []


def test_invalid_utf8_and_wrong_content_type(svc, tenant):
    r = svc.request("POST", f"/v1/tenants/{tenant}/products", b'{"name": "\xff\xfe"}', content_type="application/json")
    assert r.status == 400
    r = svc.request("POST", f"/v1/tenants/{tenant}/products", b'{"name": "A"}', content_type="text/plain")
    assert r.status == 415 and r.code == "unsupported"


@pytest.mark.parametrize("name", ["Robert'); DROP TABLE products;--", 'quote " and \\ backslash', "semi;colon",
                                  "Ünïcödé ☕", "1 OR 1=1"])
def test_hostile_names_are_stored_verbatim(svc, tenant, name):
    r = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": name})
    assert r.status == 201, r
    assert [p["name"] for p in svc.request("GET", f"/v1/tenants/{tenant}/products").json["items"]] == [name]


def test_body_over_limit_is_413_and_server_keeps_serving(svc, tenant):
    url = f"/v1/tenants/{tenant}/products"
    # Announced too large: answered before the body is sent (as a client using Expect would see it).
    conn = svc.connection()
    conn.putrequest("POST", url)
    conn.putheader("Authorization", f"Bearer {svc.token}")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(2 * 1024 * 1024))
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413 and json.loads(r.read())["error"]["code"] == "limit"
    conn.close()
    # Streamed (chunked) past the limit: cut at the limit, then refused.
    chunks = (b"x" * 65536 for _ in range(24))
    conn = svc.connection()
    conn.request("POST", url, body=chunks, encode_chunked=True,
                 headers={"Authorization": f"Bearer {svc.token}", "Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 413
    conn.close()
    assert svc.request("GET", "/v1/health", token=None).status == 200
    assert svc.request("GET", url).json["items"] == []


def test_path_parameters_are_checked(svc, tenant):
    assert svc.request("GET", "/v1/tenants/not-a-guid").status == 400
    assert svc.request("GET", f"/v1/tenants/{tenant}/devices/XYZ").status == 400
    assert svc.request("GET", f"/v1/tenants/{tenant}/products/a%00b").status == 400
    assert svc.request("GET", f"/v1/tenants/{tenant}/products/%zz").status == 400
    assert svc.request("GET", "/v1/blobs/sha256/" + "0" * 64).status == 404


def test_ca_certificates_verify_with_openssl(svc, tenant, tmp_path):
    items = svc.request("GET", f"/v1/tenants/{tenant}/ca-certificates").json["items"]
    assert len(items) == 1 and items[0]["status"] == "Active"
    thumb = items[0]["thumbprint"]
    cert = svc.request("GET", f"/v1/tenants/{tenant}/ca-certificates/{thumb}")
    assert cert.status == 200 and cert.body.startswith(b"-----BEGIN CERTIFICATE-----")
    der = svc.request("GET", f"/v1/tenants/{tenant}/ca-certificates/active?format=der")
    assert der.status == 200 and der.body[0] == 0x30
    chain = svc.request("GET", f"/v1/tenants/{tenant}/ca-chain")
    (tmp_path / "chain.pem").write_bytes(chain.body)
    p7 = svc.request("GET", f"/v1/tenants/{tenant}/ca-chain?format=pkcs7")
    (tmp_path / "chain.p7b").write_bytes(p7.body)
    out = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-in", str(tmp_path / "chain.p7b"), "-print_certs"],
                         capture_output=True, text=True, check=True).stdout
    assert "BEGIN CERTIFICATE" in out
    proof = svc.request("POST", f"/v1/tenants/{tenant}/ca-certificates/{thumb}/proof",
                        {"verification_code": "ABC123-xyz"})
    assert proof.status == 200, proof
    (tmp_path / "proof.pem").write_bytes(proof.body)
    v = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "chain.pem"), str(tmp_path / "proof.pem")],
                       capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    subj = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "proof.pem"), "-noout", "-subject"],
                          capture_output=True, text=True, check=True).stdout
    assert "ABC123-xyz" in subj
    bad = svc.request("POST", f"/v1/tenants/{tenant}/ca-certificates/{thumb}/proof", {"verification_code": "a b"})
    assert bad.status == 400
    assert svc.request("GET", f"/v1/tenants/{tenant}/ca-certificates/{'0' * 64}").status == 404


def test_reads_during_writes_see_each_acknowledged_write(svc, tenant):
    """Reads run on separate snapshot connections; a read issued after a write was acknowledged
    must see it, and a reader never sees a version go backwards."""
    p = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Live"}).json
    url = f"/v1/tenants/{tenant}/products/{p['product_id']}"
    acked = [p["version"]]
    errors = []
    done = threading.Event()

    def reader():
        conn = svc.connection()
        last = 0
        for _ in range(2000):  # bounded
            if done.is_set():
                break
            floor = acked[-1]
            v = svc.request("GET", url, conn=conn).json["version"]
            if v < last or v < floor:
                errors.append((v, last, floor))
                break
            last = v

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    conn = svc.connection()
    for i in range(40):
        r = svc.request("PATCH", url, {"description": f"d{i}"}, conn=conn)
        assert r.status == 200
        acked.append(r.json["version"])
    done.set()
    for t in readers:
        t.join(60)
    assert not errors, errors
    assert svc.request("GET", url).json["version"] == acked[-1]


def _headers_only(svc, method, path, length, auth=None):
    """Sends a request line and headers announcing LENGTH body bytes, none of the body, and returns
    the status the service answers with (None if it answers nothing within 15 s)."""
    import socket
    import ssl as _ssl
    raw = socket.create_connection(("127.0.0.1", svc.port), timeout=15)
    s = svc.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1")
    try:
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {length}\r\n" + (f"Authorization: {auth}\r\n" if auth else "") + "\r\n")
        s.sendall(head.encode())
        try:
            first = s.recv(4096)
        except (socket.timeout, _ssl.SSLError, OSError):
            return None
        return int(first.split(b" ", 2)[1]) if first.startswith(b"HTTP/1.1 ") else None
    finally:
        s.close()


def test_upload_is_refused_from_its_headers_before_any_body(svc, tenant):
    """An anonymous or unprivileged client must not make rampartd buffer an upload-sized body: the
    route and the caller are checked from the headers, and the answer comes without the body."""
    reader = svc.add_user(tenant, "reader-upl", "Reader")
    big = 60 * 1024 * 1024
    path = f"/v1/tenants/{tenant}/images"
    assert _headers_only(svc, "POST", path, big) == 401
    assert _headers_only(svc, "POST", path, big, "Bearer rpt_" + "0" * 64) == 401
    assert _headers_only(svc, "POST", path, big, f"Bearer {reader}") == 403
    assert _headers_only(svc, "POST", "/v1/tenants/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12 + "/images", big,
                         f"Bearer {svc.token}") == 404
    # Not a route at all: no body is read either.
    assert _headers_only(svc, "POST", "/v1/no/such/route", big) == 404
    # The Reader's refusal is audited as any refused change is; the anonymous ones go to the log.
    audit = svc.request("GET", f"/v1/tenants/{tenant}/audit").json["items"]
    refused = [a for a in audit if a["action"] == "image.add"]
    assert [a["actor"] for a in refused] == ["reader-upl"] and refused[0]["result"] == "refused"
    assert "auth.refused" in svc.log.read_text()
    assert svc.request("GET", "/v1/health", token=None).status == 200
