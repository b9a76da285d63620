"""Images in rampartd: uploads are verified against the tenant's trusted keys, stored
content-addressed and never changed; deployments take only the tenant's own images; blobs are
only served to the owning tenant."""
import hashlib
import pathlib

import pytest

from conftest import run
from service_client import Rampartd


@pytest.fixture
def svc(tmp_path):
    d = Rampartd(tmp_path).start()
    yield d
    assert d.stop() == 0, d.log.read_text()


def make_key(tmp, name):
    priv, pub = pathlib.Path(tmp) / f"{name}.pem", pathlib.Path(tmp) / f"{name}.pub"
    run("rampart", "image-package", "keygen", "--private-key", priv, "--public-key", pub, check=True)
    return priv, pub


def make_image(tmp, key, name="demo", tag="1"):
    payload = pathlib.Path(tmp) / f"payload-{name}-{tag}"
    payload.mkdir()
    (payload / "data").write_text(f"{name} {tag}\n")
    out = pathlib.Path(tmp) / f"{name}-{tag}.imagepackage"
    run("rampart", "image-package", "pack", "--type", "application", "--payload-directory", payload,
        "--component-id", "11111111-2222-3333-4444-555555555555", "--name", name, "--key", key, "--output", out,
        check=True)
    return out.read_bytes()


def upload(svc, tenant, data, token="admin"):
    return svc.request("POST", f"/v1/tenants/{tenant}/images", data, content_type="application/octet-stream",
                       token=token)


def test_image_upload_verify_store_and_deploy(svc, tmp_path):
    tenant = svc.create_tenant("Contoso")
    other = svc.create_tenant("Fabrikam")
    priv, pub = make_key(tmp_path, "signer")
    image = make_image(tmp_path, priv)

    # No trusted key yet: refused.
    r = upload(svc, tenant, image)
    assert r.status == 422 and r.code == "verification-failed"
    r = svc.request("POST", f"/v1/tenants/{tenant}/image-signing-keys", {"name": "release", "public_key_pem":
                                                                         pub.read_text()})
    assert r.status == 201, r
    key_id = r.json["key_id"]

    r = upload(svc, tenant, image)
    assert r.status == 201, r
    img = r.json
    digest = hashlib.sha256(image).hexdigest()
    assert img["sha256"] == digest and img["size"] == len(image) and img["signing_key_id"] == key_id
    assert img["name"] == "demo" and img["image_type"] == "application"
    blob = svc.state / "blobs" / "sha256" / digest
    assert blob.read_bytes() == image

    # The same image again, and a tampered one: refused, nothing changes.
    assert upload(svc, tenant, image).status == 409
    tampered = bytearray(image)
    tampered[len(tampered) // 2] ^= 1
    r = upload(svc, tenant, bytes(tampered))
    assert r.status == 422 and "does not match the package contents" in r.json["error"]["message"], r
    assert upload(svc, tenant, b"not a package").status == 400
    assert len(svc.request("GET", f"/v1/tenants/{tenant}/images").json["items"]) == 1

    # Another tenant cannot upload it (it trusts only its own key), see it, or download its blob.
    _, other_pub = make_key(tmp_path, "other-signer")
    r = svc.request("POST", f"/v1/tenants/{other}/image-signing-keys", {"name": "own", "public_key_pem":
                                                                        other_pub.read_text()})
    assert r.status == 201, r
    r = upload(svc, other, make_image(tmp_path, priv, tag="2"))
    assert r.status == 422 and "is by a trusted key (untrusted signer)" in r.json["error"]["message"], r
    assert svc.request("GET", f"/v1/tenants/{other}/images/{img['image_id']}").status == 404
    outsider = svc.add_user(other, "olga", "Administrator")
    assert svc.request("GET", f"/v1/blobs/sha256/{digest}", token=outsider).status == 404
    dl = svc.request("GET", f"/v1/blobs/sha256/{digest}")
    assert dl.status == 200 and dl.body == image

    # Deployments: newest wins, history kept, other tenants' images refused.
    pid = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "P"}).json["product_id"]
    group = svc.request("GET", f"/v1/tenants/{tenant}/products/{pid}/device-groups").json["items"][1]
    url = f"/v1/tenants/{tenant}/device-groups/{group['device_group_id']}/deployments"
    d1 = svc.request("POST", url, {"image_ids": [img["image_id"]]})
    assert d1.status == 201 and d1.json["image_ids"] == [img["image_id"]]
    d2 = svc.request("POST", url, {"image_ids": []})
    assert d2.status == 201
    history = svc.request("GET", url).json["items"]
    assert [d["deployment_id"] for d in history] == [d1.json["deployment_id"], d2.json["deployment_id"]]
    shown = svc.request("GET", f"/v1/tenants/{tenant}/device-groups/{group['device_group_id']}").json
    assert shown["current_deployment"]["deployment_id"] == d2.json["deployment_id"]

    r = svc.request("POST", f"/v1/tenants/{other}/image-signing-keys", {"public_key_pem": pub.read_text()})
    assert r.status == 201, r
    other_img = upload(svc, other, make_image(tmp_path, priv, tag="3")).json
    r = svc.request("POST", url, {"image_ids": [other_img["image_id"]]})
    assert r.status == 404 and "not an image of this tenant" in r.json["error"]["message"]
    assert len(svc.request("GET", url).json["items"]) == 2
    r = svc.request("POST", url, {"image_ids": [img["image_id"], img["image_id"]]})
    assert r.status == 400


def test_upload_over_limit(tmp_path):
    svc = Rampartd(tmp_path).start("--max-image-size", "1K")
    try:
        tenant = svc.create_tenant("Small")
        conn = svc.connection()
        conn.putrequest("POST", f"/v1/tenants/{tenant}/images")
        conn.putheader("Authorization", f"Bearer {svc.token}")
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", "4096")
        conn.endheaders()
        assert conn.getresponse().status == 413
        conn.close()
    finally:
        assert svc.stop() == 0
