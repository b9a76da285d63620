"""Attestation across tenants and strangers: a device attests with an OS bundle its tenant uploaded
even when another tenant uploaded the same bundle first, and attempts for device IDs nobody
registered go to the service log, not the audit table (anonymous requests cause no writes), while
refusals for a registered device are still audited."""
import os

import pytest

from attest_world import openssl_csr, world  # noqa: F401 (the fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the monitor tests need root (peer UIDs)")


def service_audit(world, **query):
    """The service administrator's view of the whole audit table (every tenant and none)."""
    q = "&".join(f"{k}={v}" for k, v in query.items())
    r = world.svc.request("GET", f"/v1/audit?limit=1000&{q}")
    assert r.status == 200, r
    assert r.json.get("next") in (None, ""), "more audit rows than one page"
    return r.json["items"]


def test_device_attests_with_a_bundle_another_tenant_uploaded_first(world):
    # Contoso uploaded the vendor's OS bundle (World does); Fabrikam trusts the same vendor key.
    dev = world.device("fab", tenant=world.other_tenant)
    out = world.agent_once(dev, check=False)
    assert "attestation refused (os_bundle_unknown)" in out.stderr, out.stderr
    # Fabrikam uploads the very same bytes: accepted, and now its device attests.
    img = world.upload(world.other_tenant, world.os_image)
    assert img["sha256"] == world.os_sha and img["tenant_id"] == world.other_tenant
    world.agent_once(dev, check=True)
    assert (dev.state / "agent" / "client.pem").exists()
    entries = [e for e in world.audit(world.other_tenant) if e["action"] == "device.attest" and e["target"] == dev.id]
    assert entries[-1]["result"] == "success" and world.os_sha in entries[-1]["detail"], entries
    # Contoso's devices are unaffected, and Contoso's audit holds nothing of Fabrikam's device.
    own = world.device("own")
    world.agent_once(own, check=True)
    assert not [e for e in world.audit() if e["target"] == dev.id]


def test_anonymous_attempts_for_unknown_devices_are_logged_not_audited(world):
    client_csr, api_csr = openssl_csr(world.tmp, "anon-c"), openssl_csr(world.tmp, "anon-a")
    before = service_audit(world)
    strangers = [os.urandom(32).hex() for _ in range(20)]
    for device_id in strangers:
        r = world.challenge(device_id)
        assert r.status == 403 and "device_unknown" in r.json["error"]["message"], r
        # Well-formed evidence with a made-up nonce: refused for the same reason.
        r = world.submit(device_id, os.urandom(32).hex(), b"x" * 64, client_csr=client_csr, api_csr=api_csr)
        assert r.status == 403 and "device_unknown" in r.json["error"]["message"], r
    after = service_audit(world)
    assert after == before, [e for e in after if e not in before]
    log = world.svc.log.read_text()
    assert all(d in log for d in strangers), "refusals of unknown devices go to the log"

    # A registered device's refusals still belong in the audit: unclaimed (no tenant yet) ...
    unclaimed = world.device("unclaimed", claim=False)
    r = world.challenge(unclaimed.id)
    assert r.status == 403 and "device_unclaimed" in r.json["error"]["message"], r
    rows = [e for e in service_audit(world, action="device.attest") if e["target"] == unclaimed.id]
    assert len(rows) == 1 and rows[0]["result"] == "refused" and "device_unclaimed" in rows[0]["detail"], rows
    # ... and claimed ones, in the tenant, for a bad nonce on the evidence path.
    dev = world.device("claimed")
    r = world.submit(dev.id, "00" * 32, dev.evidence("00" * 32))
    assert r.status in (403, 422), r
    rows = [e for e in world.audit() if e["action"] == "device.attest" and e["target"] == dev.id]
    assert len(rows) == 1 and rows[0]["result"] == "refused" and "nonce_unknown" in rows[0]["detail"], rows


def device_get(world, dev, path):
    """GET on the device API with the device-API certificate attestation issued (mutual TLS)."""
    import http.client
    import ssl
    ctx = ssl.create_default_context(cafile=str(world.ca_file))
    ctx.load_cert_chain(str(dev.state / "agent" / "device-api.pem"), str(dev.state / "agent" / "device-api.key"))
    conn = http.client.HTTPSConnection("127.0.0.1", world.svc.port, context=ctx, timeout=60)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_devices_of_both_tenants_download_a_shared_blob(world):
    world.upload(world.other_tenant, world.os_image)
    own, fab = world.device("own"), world.device("fab", tenant=world.other_tenant)
    for dev in (own, fab):
        world.agent_once(dev, check=True)
    assert device_get(world, own, f"/v1/device/blobs/sha256/{world.os_sha}") == (200, world.os_image)
    assert device_get(world, fab, f"/v1/device/blobs/sha256/{world.os_sha}") == (200, world.os_image)
