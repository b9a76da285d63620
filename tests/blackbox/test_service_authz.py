"""rampartd's authorisation and bookkeeping edges, against the real service: user names shared
across tenants, update-status reports the service could not read back, capabilities for revoked
devices, and audit records of routes whose path names no tenant."""
import pytest

from service_client import Rampartd, device_key

SHA = "ab" * 32


@pytest.fixture
def svc(tmp_path):
    d = Rampartd(tmp_path).start()
    yield d
    assert d.stop() == 0, d.log.read_text()


def roles_of(svc, tenant):
    return {r["user"]: r["role"] for r in svc.request("GET", f"/v1/tenants/{tenant}/roles").json["items"]}


def claimed_device(svc, tmp_path, tenant, name="dev"):
    device_id, pem = device_key(tmp_path, name)
    assert svc.request("POST", "/v1/devices", {"device_id": device_id, "public_key_pem": pem}).status == 201
    r = svc.request("POST", f"/v1/tenants/{tenant}/devices/claim", {"device_id": device_id})
    assert r.status in (200, 201), r
    return device_id


# ---- 1: user names are service-wide ---------------------------------------------------------------

def test_tenant_admin_cannot_bind_another_tenants_user(svc):
    a, b = svc.create_tenant("Contoso"), svc.create_tenant("Fabrikam")
    alice = svc.add_user(a, "alice", "Administrator")
    bob = svc.add_user(b, "bob", "Administrator")
    r = svc.request("POST", f"/v1/tenants/{a}/roles", {"user": "ci", "role": "Contributor"}, token=alice)
    assert r.status == 201 and r.json["token"].startswith("rpt_"), r
    ci = r.json["token"]

    # Tenant B's Administrator means a new account "ci": refused, and A's "ci" gets nothing in B.
    r = svc.request("POST", f"/v1/tenants/{b}/roles", {"user": "ci", "role": "Administrator"}, token=bob)
    assert r.status == 409 and r.code == "conflict", r
    msg = r.json["error"]["message"]
    assert "taken" in msg and "choose another" in msg and "service administrator" in msg
    assert "ci" not in roles_of(svc, b)
    assert svc.request("GET", f"/v1/tenants/{b}/products", token=ci).status == 404
    assert [x["tenant_id"] for x in svc.request("GET", "/v1/whoami", token=ci).json["roles"]] == [a]
    refused = svc.request("GET", f"/v1/tenants/{b}/audit?action=role.add&result=refused").json["items"]
    assert [(e["actor"], e["target"]) for e in refused] == [("bob", "ci as Administrator")]

    # A fresh name works and comes with its own token.
    r = svc.request("POST", f"/v1/tenants/{b}/roles", {"user": "ci-fab", "role": "Administrator"}, token=bob)
    assert r.status == 201 and r.json["token"].startswith("rpt_"), r
    assert svc.request("GET", f"/v1/tenants/{b}/products", token=r.json["token"]).status == 200

    # A user of this tenant may have its role changed (no new token).
    r = svc.request("POST", f"/v1/tenants/{b}/roles", {"user": "ci-fab", "role": "Reader"}, token=bob)
    assert r.status == 200 and r.json["role"] == "Reader" and "token" not in r.json, r
    assert roles_of(svc, b) == {"bob": "Administrator", "ci-fab": "Reader"}
    # ... but not so that the tenant loses its last Administrator.
    r = svc.request("POST", f"/v1/tenants/{b}/roles", {"user": "bob", "role": "Reader"}, token=bob)
    assert r.status == 409 and "last Administrator" in r.json["error"]["message"], r
    assert roles_of(svc, b)["bob"] == "Administrator"

    # The service administrator may still bind an existing user to any tenant, on purpose.
    r = svc.request("POST", f"/v1/tenants/{b}/roles", {"user": "ci", "role": "Reader"})
    assert r.status == 201 and "token" not in r.json, r
    assert svc.request("GET", f"/v1/tenants/{b}/products", token=ci).status == 200


# ---- 2: a stored status must stay readable -------------------------------------------------------

def test_update_status_too_large_to_read_back_is_refused(svc, tmp_path):
    tenant = svc.create_tenant("Contoso")
    device_id = claimed_device(svc, tmp_path, tenant)
    url = f"/v1/devices/{device_id}/update-status"
    first = {"images": [{"name": "app", "sha256": SHA, "state": "committed"}]}
    assert svc.request("POST", url, first).status == 200
    # Valid field by field and under the 1 MiB body limit, but each quote is stored escaped.
    big = {"images": [{"name": f"{i:03d}" + "n" * 252, "sha256": SHA, "state": "failed", "reason": '"' * 1024}
                      for i in range(256)]}
    import json
    assert len(json.dumps(big)) < 1024 * 1024
    r = svc.request("POST", url, big)
    assert r.status == 413 and r.code == "limit", r
    assert "262144" in r.json["error"]["message"] and "bytes" in r.json["error"]["message"]
    st = svc.request("GET", f"/v1/tenants/{tenant}/devices/{device_id}/update-status")
    assert st.status == 200, st
    assert [(i["name"], i["state"]) for i in st.json["images"]] == [("app", "committed")]


# ---- 3: no capability for a revoked device -------------------------------------------------------

def test_no_capability_for_a_revoked_device(svc, tmp_path):
    tenant = svc.create_tenant("Contoso")
    device_id = claimed_device(svc, tmp_path, tenant)
    cap = f"/v1/tenants/{tenant}/devices/{device_id}/capabilities/appDevelopment"
    issued = svc.request("POST", cap, {})
    assert issued.status == 201, issued
    assert svc.request("POST", f"/v1/tenants/{tenant}/devices/{device_id}/revoke").status in (200, 204)
    r = svc.request("POST", cap, {})
    assert r.status == 403 and r.code == "permission", r
    assert "revoked" in r.json["error"]["message"]
    # The one issued before stays readable to operators, unchanged.
    got = svc.request("GET", cap)
    assert got.status == 200 and got.json == issued.json
    refused = svc.request("GET", f"/v1/tenants/{tenant}/audit?action=device.capability.issue&result=refused")
    assert len(refused.json["items"]) == 1


# ---- 4: audit of the token-form update-status report ---------------------------------------------

def test_token_form_status_report_is_audited_in_the_device_tenant(svc, tmp_path):
    tenant = svc.create_tenant("Contoso")
    device_id = claimed_device(svc, tmp_path, tenant)
    reader = svc.add_user(tenant, "rita", "Reader")
    url = f"/v1/devices/{device_id}/update-status"
    assert svc.request("POST", url, {"images": []}).status == 200
    assert svc.request("POST", url, {"images": []}, token=reader).status == 403
    audit = f"/v1/tenants/{tenant}/audit?action=device.update_status"
    rows = svc.request("GET", audit).json["items"]
    assert [(e["actor"], e["result"], e["target"], e["tenant_id"]) for e in rows] == [
        ("admin", "success", device_id, tenant), ("rita", "refused", device_id, tenant)]
