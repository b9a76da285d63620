"""Images are unique per tenant, not across the service: two tenants that trust the same vendor key
can each upload the same package, each sees only its own image, each tenant's users can download
the shared blob, and a database from before this rule is upgraded in place."""
import hashlib
import pathlib
import sqlite3

import pytest

from conftest import run
from service_client import Rampartd
from schema_downgrade import LATEST_SCHEMA, undo_step_7


@pytest.fixture
def svc(tmp_path):
    d = Rampartd(tmp_path).start()
    yield d
    assert d.stop() == 0, d.log.read_text()


def make_key(tmp):
    priv, pub = pathlib.Path(tmp) / "vendor.pem", pathlib.Path(tmp) / "vendor.pub"
    run("rampart", "image-package", "keygen", "--private-key", priv, "--public-key", pub, check=True)
    return priv, pub


def make_bundle(tmp, key, tag="1"):
    payload = pathlib.Path(tmp) / f"payload-{tag}"
    payload.mkdir()
    (payload / "data").write_text(f"vendor os {tag}\n")
    out = pathlib.Path(tmp) / f"vendor-os-{tag}.imagepackage"
    run("rampart", "image-package", "pack", "--type", "os-bundle", "--payload-directory", payload, "--component-id",
        "0a0b0c0d-1111-4222-8333-444455556666", "--name", "vendor-os", "--key", key, "--output", out, "--version",
        "3", check=True)
    return out.read_bytes()


def trust(svc, tenant, pub):
    r = svc.request("POST", f"/v1/tenants/{tenant}/image-signing-keys", {"name": "vendor",
                                                                         "public_key_pem": pub.read_text()})
    assert r.status == 201, r


def upload(svc, tenant, data, token="admin"):
    return svc.request("POST", f"/v1/tenants/{tenant}/images", data, content_type="application/octet-stream",
                       token=token)


def images(svc, tenant, token="admin"):
    r = svc.request("GET", f"/v1/tenants/{tenant}/images", token=token)
    assert r.status == 200, r
    return r.json["items"]


def test_two_tenants_upload_the_same_package(svc, tmp_path):
    a, b, c = svc.create_tenant("Contoso"), svc.create_tenant("Fabrikam"), svc.create_tenant("Northwind")
    priv, pub = make_key(tmp_path)
    for t in (a, b, c):
        trust(svc, t, pub)
    bundle = make_bundle(tmp_path, priv)
    digest = hashlib.sha256(bundle).hexdigest()
    ann, bob, cid = svc.add_user(a, "ann", "Contributor"), svc.add_user(b, "bob", "Contributor"), \
        svc.add_user(c, "cid", "Administrator")

    first = upload(svc, a, bundle, token=ann)
    assert first.status == 201, first
    # The second tenant's upload of the very same bytes succeeds: nothing says A has it.
    second = upload(svc, b, bundle, token=bob)
    assert second.status == 201, second
    assert first.json["image_id"] == second.json["image_id"] and first.json["sha256"] == second.json["sha256"] == digest
    assert first.json["tenant_id"] == a and second.json["tenant_id"] == b
    assert second.json["uploaded_by"] == "bob"
    # Uploading it again into a tenant that has it: refused, in either tenant.
    again = upload(svc, b, bundle, token=bob)
    assert again.status == 409 and "this tenant" in again.json["error"]["message"], again
    assert upload(svc, a, bundle, token=ann).status == 409

    # Each tenant sees its own image, once, and only its own.
    for tenant, token, user in ((a, ann, "ann"), (b, bob, "bob")):
        items = images(svc, tenant, token)
        assert [(i["image_id"], i["tenant_id"], i["uploaded_by"]) for i in items] == \
            [(first.json["image_id"], tenant, user)]
        r = svc.request("GET", f"/v1/tenants/{tenant}/images/{first.json['image_id']}", token=token)
        assert r.status == 200 and r.json["tenant_id"] == tenant, r
    assert images(svc, c, cid) == []
    assert svc.request("GET", f"/v1/tenants/{c}/images/{first.json['image_id']}", token=cid).status == 404
    # Neither sees the other's tenant at all.
    assert svc.request("GET", f"/v1/tenants/{b}/images", token=ann).status == 404

    # Both tenants' users can download the one blob; a third tenant cannot, however it asks.
    for token in (ann, bob, "admin"):
        dl = svc.request("GET", f"/v1/blobs/sha256/{digest}", token=token)
        assert dl.status == 200 and dl.body == bundle, dl
    assert svc.request("GET", f"/v1/blobs/sha256/{digest}", token=cid).status == 404
    assert svc.request("GET", f"/v1/blobs/sha256/{'0' * 64}", token=ann).status == 404
    assert (svc.state / "blobs" / "sha256" / digest).read_bytes() == bundle

    # Both tenants can deploy it: each deployment takes the tenant's own image.
    for tenant, token in ((a, ann), (b, bob)):
        r = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Widget"})
        assert r.status == 201, r
        groups = svc.request("GET", f"/v1/tenants/{tenant}/products/{r.json['product_id']}/device-groups").json
        group = groups["items"][0]["device_group_id"]
        r = svc.request("POST", f"/v1/tenants/{tenant}/device-groups/{group}/deployments",
                        {"image_ids": [first.json["image_id"]]}, token=token)
        assert r.status == 201, r


def test_a_third_tenant_without_the_package_learns_nothing(svc, tmp_path):
    """An image ID or hash held by another tenant is answered exactly like an unknown one."""
    a, b = svc.create_tenant("Contoso"), svc.create_tenant("Fabrikam")
    priv, pub = make_key(tmp_path)
    trust(svc, a, pub)
    bundle = make_bundle(tmp_path, priv)
    img = upload(svc, a, bundle).json
    bob = svc.add_user(b, "bob", "Administrator")
    unknown = svc.request("GET", f"/v1/tenants/{b}/images/00000000-0000-4000-8000-000000000000", token=bob)
    held = svc.request("GET", f"/v1/tenants/{b}/images/{img['image_id']}", token=bob)
    assert unknown.status == held.status == 404
    assert held.json["error"]["code"] == unknown.json["error"]["code"]
    # The same words too, once each names the ID it was asked about.
    assert held.json["error"]["message"].replace(img["image_id"], "ID") == \
        unknown.json["error"]["message"].replace("00000000-0000-4000-8000-000000000000", "ID")
    missing = svc.request("GET", f"/v1/blobs/sha256/{'0' * 64}", token=bob)
    other = svc.request("GET", f"/v1/blobs/sha256/{img['sha256']}", token=bob)
    assert missing.status == other.status == 404 and missing.json["error"]["code"] == other.json["error"]["code"]
    assert other.json["error"]["message"].replace(img["sha256"], "HASH") == \
        missing.json["error"]["message"].replace("0" * 64, "HASH")


# The images table as schema version 5 made it: IDs and hashes unique across the whole service.
V5_IMAGES = """
CREATE TABLE images (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  tenant_seq INTEGER NOT NULL REFERENCES tenants(seq),
  component_id TEXT NOT NULL,
  name TEXT NOT NULL,
  image_type TEXT NOT NULL,
  version_string TEXT NOT NULL,
  version INTEGER NOT NULL,
  development INTEGER NOT NULL CHECK (development IN (0, 1)),
  sha256 TEXT NOT NULL UNIQUE,
  size INTEGER NOT NULL,
  signing_key_id TEXT NOT NULL,
  uploaded_at INTEGER NOT NULL,
  uploaded_by TEXT NOT NULL)"""


def downgrade_images_to_v5(db_path):
    """Turn the database back into what a schema-5 rampartd left: the old images table (same rows and
    seqs, so deployments keep their references), the old nonce table, and no record of steps 6 and 7."""
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        assert db.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == LATEST_SCHEMA
        db.execute("PRAGMA foreign_keys=OFF")
        db.execute("BEGIN")
        undo_step_7(db)
        # New table, copy, drop, rename: renaming the old table away would rename the references too.
        db.execute(V5_IMAGES.replace("CREATE TABLE images", "CREATE TABLE images_v5"))
        db.execute("INSERT INTO images_v5 SELECT seq, id, tenant_seq, component_id, name, image_type, version_string, "
                   "version, development, sha256, size, signing_key_id, uploaded_at, uploaded_by FROM images")
        db.execute("DROP TABLE images")
        db.execute("ALTER TABLE images_v5 RENAME TO images")
        db.execute("CREATE INDEX images_tenant ON images (tenant_seq, seq)")
        db.execute("DELETE FROM schema_migrations WHERE version = 6")
        db.execute("COMMIT")
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'images'").fetchone()[0]
        assert "id TEXT NOT NULL UNIQUE" in sql and "sha256 TEXT NOT NULL UNIQUE" in sql
    finally:
        db.close()


def test_upgrade_in_place_keeps_images_and_deployments(tmp_path):
    svc = Rampartd(tmp_path).start()
    try:
        a, b = svc.create_tenant("Contoso"), svc.create_tenant("Fabrikam")
        priv, pub = make_key(tmp_path)
        trust(svc, a, pub)
        trust(svc, b, pub)
        bundle = make_bundle(tmp_path, priv)
        img = upload(svc, a, bundle).json
        r = svc.request("POST", f"/v1/tenants/{a}/products", {"name": "Widget"})
        groups = svc.request("GET", f"/v1/tenants/{a}/products/{r.json['product_id']}/device-groups").json
        group = groups["items"][0]["device_group_id"]
        dep = svc.request("POST", f"/v1/tenants/{a}/device-groups/{group}/deployments",
                          {"image_ids": [img["image_id"]]})
        assert dep.status == 201, dep
    finally:
        assert svc.stop() == 0, svc.log.read_text()

    db_path = svc.state / "rampart.db"
    assert db_path.exists(), sorted(p.name for p in svc.state.iterdir())
    downgrade_images_to_v5(db_path)
    svc.start()
    try:
        # Upgraded on start: the second tenant may now hold the same package.
        r = upload(svc, b, bundle)
        assert r.status == 201, r
        assert [i["image_id"] for i in images(svc, a)] == [img["image_id"]]
        assert [i["tenant_id"] for i in images(svc, b)] == [b]
        r = svc.request("GET", f"/v1/tenants/{a}/device-groups/{group}/deployments")
        assert r.status == 200, r
        assert [d["image_ids"] for d in r.json["items"]] == [[img["image_id"]]], r.json
        dl = svc.request("GET", f"/v1/blobs/sha256/{img['sha256']}")
        assert dl.status == 200 and dl.body == bundle
    finally:
        assert svc.stop() == 0, svc.log.read_text()
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == LATEST_SCHEMA
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'images'").fetchone()[0]
        assert "UNIQUE (tenant_seq, sha256)" in sql and "sha256 TEXT NOT NULL UNIQUE" not in sql
    finally:
        db.close()
