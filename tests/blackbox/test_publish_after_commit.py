"""Update metadata and signed capabilities leave rampartd only after the change they belong to has
committed: when the transaction fails (here, its audit entry cannot be written, so nothing is
saved), devices see no new release, no new deployment and no capability. Failures are injected
with SQLite triggers written into the database while rampartd is stopped."""
import sqlite3

from service_client import Rampartd
from test_service_images import make_image, make_key, upload


def add_trigger(svc, action):
    svc.stop()
    db = sqlite3.connect(str(svc.state / "rampart.db"))
    try:
        db.execute(f"CREATE TRIGGER fail_{action.replace('.', '_')} BEFORE INSERT ON audit "
                   f"WHEN NEW.action = '{action}' AND NEW.result = 'success' "
                   "BEGIN SELECT RAISE(ABORT, 'audit insert failed'); END")
        db.commit()
    finally:
        db.close()
    svc.start()


def public_json(svc, path):
    """A TUF metadata file as a device fetches it (no token); None when the service has none."""
    r = svc.request("GET", path, token=None)
    return r.json if r.status == 200 else None


def test_nothing_is_published_for_a_change_that_did_not_commit(tmp_path):
    svc = Rampartd(tmp_path / "svc").start()
    try:
        tenant = svc.create_tenant("Contoso")
        priv, pub = make_key(tmp_path, "signer")
        r = svc.request("POST", f"/v1/tenants/{tenant}/image-signing-keys",
                        {"name": "release", "public_key_pem": pub.read_text()})
        assert r.status == 201, r
        pid = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Widget"}).json["product_id"]
        gid = svc.request("GET", f"/v1/tenants/{tenant}/products/{pid}/device-groups").json["items"][0][
            "device_group_id"]
        first = upload(svc, tenant, make_image(tmp_path, priv, tag="1"))
        assert first.status == 201, first
        targets_path = f"/v1/tuf/tenants/{tenant}/image/targets.json"
        released = public_json(svc, targets_path)
        assert released and len(released["signed"]["targets"]) == 1, released

        # An upload whose transaction fails is not released: the image repository is unchanged.
        add_trigger(svc, "image.add")
        r = upload(svc, tenant, make_image(tmp_path, priv, tag="2"))
        assert r.status == 500, r
        after = public_json(svc, targets_path)
        assert after["signed"]["version"] == released["signed"]["version"], after
        assert len(after["signed"]["targets"]) == 1, after
        assert len(svc.request("GET", f"/v1/tenants/{tenant}/images").json["items"]) == 1

        # A deployment whose transaction fails is not published to the group's director.
        add_trigger(svc, "deployment.create")
        director = f"/v1/tuf/device-groups/{gid}/director/targets.json"
        before = public_json(svc, director)
        r = svc.request("POST", f"/v1/tenants/{tenant}/device-groups/{gid}/deployments",
                        {"image_ids": [first.json["image_id"]]})
        assert r.status == 500, r
        now = public_json(svc, director)
        if before is None:
            assert now is None or not now["signed"]["targets"], now
        else:
            assert now["signed"]["version"] == before["signed"]["version"], now
        assert svc.request("GET", f"/v1/tenants/{tenant}/device-groups/{gid}/deployments").json["items"] == []
    finally:
        svc.stop()
