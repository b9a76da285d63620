"""Killing rampartd with SIGKILL while clients write loses no acknowledged write: a 201 is sent
only after the SQLite transaction is durable (WAL, synchronous=FULL)."""
import signal
import threading
import time

from service_client import Rampartd


def test_sigkill_while_writing_loses_no_acknowledged_write(tmp_path):
    svc = Rampartd(tmp_path).start()
    tenant = svc.create_tenant("Durable")
    acked = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n):
        conn = svc.connection()
        for i in range(2000):  # bounded in count; the kill ends it much sooner
            if stop.is_set():
                return
            name = f"w{n}-{i}"
            try:
                r = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": name}, conn=conn)
            except OSError:
                return
            if r.status == 201:
                with lock:
                    acked.append(name)
            else:
                return

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for _ in range(400):  # bounded: at most ~20 s waiting for enough writes
        with lock:
            if len(acked) >= 150:
                break
        time.sleep(0.05)
    svc.proc.send_signal(signal.SIGKILL)
    svc.proc.wait(timeout=30)
    stop.set()
    for t in threads:
        t.join(60)
    assert svc.proc.returncode == -signal.SIGKILL
    assert len(acked) >= 20, "too few writes were acknowledged before the kill to prove anything"

    svc.start()
    present, token = set(), None
    for _ in range(100):  # bounded pagination
        q = "?limit=1000" + (f"&page_token={token}" if token else "")
        page = svc.request("GET", f"/v1/tenants/{tenant}/products{q}").json
        present.update(p["name"] for p in page["items"])
        token = page["next_page_token"]
        if not token:
            break
    lost = set(acked) - present
    assert not lost, f"{len(lost)} acknowledged writes lost: {sorted(lost)[:10]}"
    # Every product came with its five default groups, or not at all (one transaction).
    groups = svc.request("GET", f"/v1/tenants/{tenant}/device-groups?limit=1000").json
    if groups["next_page_token"] is None:
        assert len(groups["items"]) == 5 * len(present)
    assert svc.stop() == 0
