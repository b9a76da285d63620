#!/usr/bin/python3
"""bench/update/idle_bytes.py: bytes a device moves per day when nothing changes.

Starts rampartd, releases and deploys one OS bundle, lets rampart-update install it, then runs
idle checks through a byte-counting TCP proxy (so TLS handshakes and HTTP headers count) and
prints bytes per check and per day at one check every 20 h (issue 5 goal: <= 10 KB/day).
Usage: RAMPART_BUILD=build bench/update/idle_bytes.py [--checks N]"""
import json
import pathlib
import shutil
import socket
import sys
import tempfile
import threading

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "blackbox"))

from boot_device import Device  # noqa: E402
from conftest import run  # noqa: E402
from service_client import Rampartd, device_key  # noqa: E402


class CountingProxy:
    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.up = self.down = 0
        self.conns = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def pipe(self, src, dst, up):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    if up:
                        self.up += len(data)
                    else:
                        self.down += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = socket.create_connection(self.target)
            with self.lock:
                self.conns += 1
            threading.Thread(target=self.pipe, args=(c, s, True), daemon=True).start()
            threading.Thread(target=self.pipe, args=(s, c, False), daemon=True).start()

    def reset(self):
        with self.lock:
            self.up = self.down = self.conns = 0


def main():
    checks = int(sys.argv[sys.argv.index("--checks") + 1]) if "--checks" in sys.argv else 5
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="rp-bench-update-"))
    svc = Rampartd(tmp / "svc").start()
    try:
        dev = Device(tmp / "dev")
        dev.install(dev.bundle("1"))
        dev.boot()
        tenant = svc.create_tenant("Bench")
        svc.request("POST", f"/v1/tenants/{tenant}/image-signing-keys", {"public_key_pem": dev.pub.read_text()})
        pid = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "P"}).json["product_id"]
        gid = svc.request("GET", f"/v1/tenants/{tenant}/products/{pid}/device-groups").json["items"][1][
            "device_group_id"]
        device_id, pem = device_key(tmp, "d")
        svc.request("POST", "/v1/devices", {"device_id": device_id, "public_key_pem": pem})
        svc.request("POST", f"/v1/tenants/{tenant}/devices/claim", {"device_id": device_id, "device_group_id": gid})
        img = svc.request("POST", f"/v1/tenants/{tenant}/images", dev.bundle("2").read_bytes(),
                          content_type="application/octet-stream").json["image_id"]
        svc.request("POST", f"/v1/tenants/{tenant}/device-groups/{gid}/deployments", {"image_ids": [img]})
        token = tmp / "token"
        token.write_text(svc.token)
        (dev.state / "update").mkdir(exist_ok=True)
        (dev.state / "update" / "config.json").write_text(json.dumps(
            {"tenant_id": tenant, "device_group_id": gid, "device_id": device_id, "bootstrap_root": True}))
        proxy = CountingProxy(svc.port)
        # The proxy listens on another port; the certificate names 127.0.0.1, so TLS still verifies.
        args = ["check", "--state", dev.state, "--service", f"https://127.0.0.1:{proxy.port}", "--service-ca",
                svc.state / "tls" / "cert.pem", "--token-file", token, "--output", "json"]
        first = json.loads(run("rampart-update", *args, check=True).stdout)
        print(f"first check (install): {proxy.up + proxy.down} bytes on the wire, "
              f"{first['bytes']} bytes of bodies, {first['requests']} requests")
        totals = []
        for _ in range(checks):
            proxy.reset()
            rep = json.loads(run("rampart-update", *args, check=True).stdout)
            assert rep["installed"] == 0, rep
            totals.append(proxy.up + proxy.down)
        per_check = sum(totals) / len(totals)
        print(f"idle check: {per_check:.0f} bytes on the wire (up {proxy.up}, down {proxy.down}, "
              f"{proxy.conns} TCP connection(s), {rep['requests']} requests, {rep['bytes']} bytes of bodies; "
              f"includes the status report)")
        print(f"per day at one check every 20 h: {per_check * 24 / 20:.0f} bytes (goal <= 10240)")
    finally:
        svc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
