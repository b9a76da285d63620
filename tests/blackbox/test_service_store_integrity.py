"""rampartd's database integrity: a change commits together with its audit entry or not at all, a
transaction the database ended on its own is reported as such, and the database file is opened only
when it is a regular file rampartd owns (never through a symbolic link, whose target must not be
touched). Failures of the audit insert are injected with SQLite triggers written into the database
while rampartd is stopped (RAISE works under rampartd's defensive, untrusted-schema connections)."""
import os
import sqlite3
import stat
import subprocess

from conftest import find_binary, free_port
from service_client import Rampartd


def add_trigger(svc, sql):
    svc.stop()
    db = sqlite3.connect(str(svc.state / "rampart.db"))
    try:
        db.execute(sql)
        db.commit()
    finally:
        db.close()
    svc.start()


def product_names(svc, tenant):
    r = svc.request("GET", f"/v1/tenants/{tenant}/products?limit=1000")
    assert r.status == 200, r
    return [p["name"] for p in r.json["items"]]


def audit_rows(svc, tenant, action):
    r = svc.request("GET", f"/v1/tenants/{tenant}/audit?action={action}&limit=1000")
    assert r.status == 200, r
    return r.json["items"]


def test_change_is_not_saved_when_its_audit_entry_cannot_be_written(tmp_path):
    svc = Rampartd(tmp_path).start()
    try:
        tenant = svc.create_tenant("Audited")
        assert svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Before"}).status == 201
        # A statement-level failure of the success row; the transaction stays open.
        add_trigger(svc, "CREATE TRIGGER fail_audit BEFORE INSERT ON audit "
                         "WHEN NEW.action = 'product.create' AND NEW.result = 'success' "
                         "BEGIN SELECT RAISE(ABORT, 'audit insert failed'); END")
        r = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Unaudited"})
        assert r.status == 500, r
        assert "audit entry" in r.json["error"]["message"], r
        assert "Unaudited" not in product_names(svc, tenant)
        # The failed attempt is audited in a transaction of its own.
        rows = audit_rows(svc, tenant, "product.create")
        results = sorted(a["result"] for a in rows)
        assert results == ["failed", "success"], rows
        failed = [a for a in rows if a["result"] == "failed"][0]
        assert "audit entry" in failed["detail"], failed
        # Other audited writes go on.
        svc.create_tenant("Unaffected")
    finally:
        svc.stop()
    assert "audit.write.failed" in svc.log.read_text()


def test_audit_failure_that_ends_the_transaction_saves_nothing(tmp_path):
    svc = Rampartd(tmp_path).start()
    try:
        tenant = svc.create_tenant("Ended")
        # RAISE(ROLLBACK) ends the whole transaction, as SQLITE_FULL or SQLITE_IOERR can.
        add_trigger(svc, "CREATE TRIGGER end_txn BEFORE INSERT ON audit "
                         "WHEN NEW.action = 'product.create' AND NEW.result = 'success' "
                         "BEGIN SELECT RAISE(ROLLBACK, 'transaction ended'); END")
        r = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Lost"})
        assert r.status == 500, r
        assert "cannot commit" not in r.body.decode(), r
        names = product_names(svc, tenant)
        assert "Lost" not in names, names
        # No partial change either: the product's default groups were not written on their own.
        r = svc.request("GET", f"/v1/tenants/{tenant}/device-groups?limit=1000")
        assert r.status == 200 and r.json["items"] == [], r
        rows = audit_rows(svc, tenant, "product.create")
        assert [a["result"] for a in rows] == ["failed"], rows
        # The service keeps working once the cause is gone.
        svc.stop()
        db = sqlite3.connect(str(svc.state / "rampart.db"))
        db.execute("DROP TRIGGER end_txn")
        db.commit()
        db.close()
        svc.start()
        assert svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "Saved"}).status == 201
        assert "Saved" in product_names(svc, tenant)
    finally:
        svc.stop()


def serve_once(svc):
    """Run rampartd serve expecting it to refuse to start; returns (returncode, output)."""
    proc = subprocess.run([str(find_binary("rampartd")), "serve", "--state-dir", str(svc.state),
                           "--listen", f"127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def test_symlinked_database_is_refused_and_its_target_untouched(tmp_path):
    svc = Rampartd(tmp_path).start()
    tenant = svc.create_tenant("Linked")
    svc.stop()
    db = svc.state / "rampart.db"
    elsewhere = tmp_path / "elsewhere.db"
    os.rename(db, elsewhere)
    for side in ("-wal", "-shm"):
        p = svc.state / ("rampart.db" + side)
        if p.exists():
            p.unlink()
    os.chmod(elsewhere, 0o644)
    os.symlink(elsewhere, db)

    rc, out = serve_once(svc)
    assert rc != 0, out
    assert str(db) in out and "symbolic link" in out and str(elsewhere) in out, out
    assert stat.S_IMODE(os.stat(elsewhere).st_mode) == 0o644
    assert not (svc.state / "rampart.db-wal").exists()

    # A dangling link is refused too, and nothing is created at its target.
    dangling = tmp_path / "nowhere.db"
    db.unlink()
    os.symlink(dangling, db)
    rc, out = serve_once(svc)
    assert rc != 0 and "symbolic link" in out, out
    assert not dangling.exists()

    # With the file itself back in place, rampartd starts, keeps the data and sets mode 0600.
    db.unlink()
    os.rename(elsewhere, db)
    svc.start()
    try:
        assert svc.request("GET", f"/v1/tenants/{tenant}/products").status == 200
        assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    finally:
        svc.stop()


def test_database_sidecar_symlink_and_hard_link_are_refused(tmp_path):
    svc = Rampartd(tmp_path).start()
    svc.stop()
    db = svc.state / "rampart.db"
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    wal = svc.state / "rampart.db-wal"
    if wal.exists():
        wal.unlink()
    os.symlink(victim, wal)
    rc, out = serve_once(svc)
    assert rc != 0 and str(wal) in out, out
    assert victim.read_bytes() == b"keep me"
    wal.unlink()

    link = tmp_path / "second-name.db"
    os.link(db, link)
    rc, out = serve_once(svc)
    assert rc != 0 and "hard links" in out and str(db) in out, out
    link.unlink()
    svc.start()
    svc.stop()


def test_database_of_another_user_is_refused(tmp_path):
    svc = Rampartd(tmp_path).start()
    svc.stop()
    db = svc.state / "rampart.db"
    os.chown(db, 12345, 12345)
    rc, out = serve_once(svc)
    assert rc != 0 and str(db) in out and "owned by uid 12345" in out, out
    assert os.stat(db).st_uid == 12345
    os.chown(db, os.geteuid(), os.getegid())
    svc.start()
    svc.stop()
