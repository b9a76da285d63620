"""rampartd decides who is asking before it takes the database's writer lock, and an image upload
verifies its package and writes its blob before it does: while another process holds the SQLite
writer lock (BEGIN IMMEDIATE on STATE/rampart.db), anonymous and badly authenticated write
requests are still refused as such, readers go on, and a package that does not verify is refused
with what is wrong with it instead of waiting for the lock and failing as busy."""
import contextlib
import hashlib
import sqlite3

import pytest

from service_client import Rampartd
from test_service_images import make_image, make_key, upload

WRONG_TOKEN = "rpt_" + "0" * 64


@pytest.fixture
def svc(tmp_path):
    d = Rampartd(tmp_path).start()
    yield d
    assert d.stop() == 0, d.log.read_text()


@contextlib.contextmanager
def writer_lock_held(svc):
    """Hold the database's writer lock from this (another) process until the block ends."""
    db = sqlite3.connect(str(svc.state / "rampart.db"), timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        yield
        db.execute("ROLLBACK")
    finally:
        db.close()


def image_ids(svc, tenant):
    r = svc.request("GET", f"/v1/tenants/{tenant}/images?limit=1000")
    assert r.status == 200, r
    return [i["image_id"] for i in r.json["items"]]


def test_unauthenticated_writes_are_refused_while_the_writer_lock_is_held(svc):
    tenant = svc.create_tenant("Locked")
    reader = svc.add_user(tenant, "rita", "Reader")
    with writer_lock_held(svc):
        r = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Anon"}, token=None)
        assert r.status == 401, r
        assert "needs an API token" in r.json["error"]["message"], r
        r = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Wrong"}, token=WRONG_TOKEN)
        assert r.status == 401, r
        r = svc.request("DELETE", f"/v1/tenants/{tenant}/roles/rita", token=WRONG_TOKEN)
        assert r.status == 401, r
        # A reader's request is decided on a snapshot and does not wait either.
        r = svc.request("GET", f"/v1/tenants/{tenant}/products", token=reader)
        assert r.status == 200 and r.json["items"] == [], r
    # Nothing was changed, and the service goes on once the lock is gone.
    r = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "After"})
    assert r.status == 201, r
    names = [p["name"] for p in svc.request("GET", f"/v1/tenants/{tenant}/products").json["items"]]
    assert names == ["After"], names
    roles = svc.request("GET", f"/v1/tenants/{tenant}/roles?limit=1000").json["items"]
    assert "rita" in [x["user"] for x in roles], roles


def test_package_is_verified_before_the_writer_lock(svc, tmp_path):
    tenant = svc.create_tenant("Verified")
    priv, pub = make_key(tmp_path, "signer")
    stranger, _ = make_key(tmp_path, "stranger")
    r = svc.request("POST", f"/v1/tenants/{tenant}/image-signing-keys", {"public_key_pem": pub.read_text()})
    assert r.status == 201, r
    image = make_image(tmp_path, priv)
    tampered = bytearray(image)
    tampered[len(tampered) // 2] ^= 1
    untrusted = make_image(tmp_path, stranger, tag="2")

    with writer_lock_held(svc):
        r = upload(svc, tenant, bytes(tampered))
        assert r.status == 422, r
        assert "checking the image package" in r.json["error"]["message"], r
        assert "does not match the package contents" in r.json["error"]["message"], r
        r = upload(svc, tenant, untrusted)
        assert r.status == 422 and "untrusted signer" in r.json["error"]["message"], r
        r = upload(svc, tenant, image, token=WRONG_TOKEN)
        assert r.status == 401, r
        # Listing works on a snapshot meanwhile.
        assert image_ids(svc, tenant) == []

    r = upload(svc, tenant, image)
    assert r.status == 201, r
    img = r.json
    digest = hashlib.sha256(image).hexdigest()
    assert img["sha256"] == digest and img["size"] == len(image)
    assert image_ids(svc, tenant) == [img["image_id"]]
    assert r.headers.get("Location") == f"/v1/tenants/{tenant}/images/{img['image_id']}"
    dl = svc.request("GET", f"/v1/blobs/sha256/{digest}")
    assert dl.status == 200 and dl.body == image
    # The refused uploads left no blob behind.
    assert sorted(p.name for p in (svc.state / "blobs" / "sha256").iterdir()) == [digest]


def test_upload_whose_write_fails_leaves_no_image(svc, tmp_path):
    tenant = svc.create_tenant("Failing")
    priv, pub = make_key(tmp_path, "signer")
    r = svc.request("POST", f"/v1/tenants/{tenant}/image-signing-keys", {"public_key_pem": pub.read_text()})
    assert r.status == 201, r
    first = make_image(tmp_path, priv)
    r = upload(svc, tenant, first)
    assert r.status == 201, r
    first_id = r.json["image_id"]

    # The same package again: verified and written outside the transaction, refused by the insert.
    r = upload(svc, tenant, first)
    assert r.status == 409, r
    assert image_ids(svc, tenant) == [first_id]
    dl = svc.request("GET", f"/v1/blobs/sha256/{hashlib.sha256(first).hexdigest()}")
    assert dl.status == 200 and dl.body == first

    # The insert itself fails (injected with a trigger while rampartd is stopped).
    svc.stop()
    db = sqlite3.connect(str(svc.state / "rampart.db"))
    db.execute("CREATE TRIGGER fail_image BEFORE INSERT ON images "
               "BEGIN SELECT RAISE(ABORT, 'image insert failed'); END")
    db.commit()
    db.close()
    svc.start()
    second = make_image(tmp_path, priv, tag="2")
    r = upload(svc, tenant, second)
    assert r.status == 500, r
    assert image_ids(svc, tenant) == [first_id]
    audit = svc.request("GET", f"/v1/tenants/{tenant}/audit?action=image.add&limit=1000").json["items"]
    assert sorted(a["result"] for a in audit) == ["failed", "refused", "success"], audit

    # The service keeps working: other writes go on, and the upload succeeds once the cause is gone.
    assert svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Still"}).status == 201
    svc.stop()
    db = sqlite3.connect(str(svc.state / "rampart.db"))
    db.execute("DROP TRIGGER fail_image")
    db.commit()
    db.close()
    svc.start()
    r = upload(svc, tenant, second)
    assert r.status == 201, r
    assert sorted(image_ids(svc, tenant)) == sorted([first_id, r.json["image_id"]])
    dl = svc.request("GET", f"/v1/blobs/sha256/{hashlib.sha256(second).hexdigest()}")
    assert dl.status == 200 and dl.body == second
