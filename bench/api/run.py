#!/usr/bin/python3
"""bench/api: rampartd requests per second and latency for a read (device show) and a write
(device update), against nginx serving a static file of the same size over TLS in the same run.
Also reports rampartd's memory with N registered devices (default 100,000).

Usage: bench/api/run.py [--build DIR] [--devices N] [--duration S] [--connections C]
Everything runs on 127.0.0.1 and stops by itself."""
import argparse
import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "blackbox"))
os.environ.setdefault("RAMPART_BUILD", str(ROOT / "build"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

import conftest  # noqa: E402
from service_client import Rampartd  # noqa: E402


def make_devices(n):
    out = []
    for _ in range(n):
        pub = ec.generate_private_key(ec.SECP256R1()).public_key()
        der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        pem = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        out.append({"device_id": hashlib.sha256(der).hexdigest(), "public_key_pem": pem.decode()})
    return out


def rss_kib(pid):
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    return {k: int(re.search(rf"{k}:\s+(\d+)", status).group(1)) for k in ("VmRSS", "VmHWM")}


def wrk(url, duration, connections, headers=(), script=None):
    cmd = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99), "non2xx": int(non2xx.group(1)) if non2xx else 0}


NGINX_CONF = """worker_processes auto;
daemon off;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/nginx-body;
  proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fastcgi;
  uwsgi_temp_path {tmp}/nginx-uwsgi;
  scgi_temp_path {tmp}/nginx-scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    root {tmp}/www;
    default_type application/json;
  }}
}}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ["RAMPART_BUILD"])
    ap.add_argument("--devices", type=int, default=100000)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    os.environ["RAMPART_BUILD"] = args.build
    conftest.BUILD = pathlib.Path(args.build).resolve()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        svc = Rampartd(tmp).start()
        try:
            tenant = svc.create_tenant("Bench")
            pid = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": "P"}).json["product_id"]
            groups = svc.request("GET", f"/v1/tenants/{tenant}/products/{pid}/device-groups").json["items"]
            g1, g2 = groups[1]["device_group_id"], groups[2]["device_group_id"]
            rss_empty = rss_kib(svc.proc.pid)
            t0 = time.monotonic()
            devices = make_devices(args.devices)
            t_keys = time.monotonic() - t0
            t0 = time.monotonic()
            conn = svc.connection()
            for i in range(0, len(devices), 1000):
                r = svc.request("POST", "/v1/devices/bulk", {"devices": devices[i:i + 1000]}, conn=conn)
                assert r.status == 201, r
            t_register = time.monotonic() - t0
            dev = devices[0]["device_id"]
            r = svc.request("POST", f"/v1/tenants/{tenant}/devices/claim", {"device_id": dev, "device_group_id": g1})
            assert r.status == 200, r
            rss_loaded = rss_kib(svc.proc.pid)
            show_path = f"/v1/tenants/{tenant}/devices/{dev}"
            body = svc.request("GET", show_path).body
            base = f"https://127.0.0.1:{svc.port}"
            auth = f"Authorization: Bearer {svc.token}"

            read = wrk(base + show_path, args.duration, args.connections, [auth])
            script = tmp / "update.lua"
            script.write_text('wrk.method = "PATCH"\n'
                              'wrk.headers["Content-Type"] = "application/json"\n'
                              f'wrk.body = \'{json.dumps({"device_group_id": g2})}\'\n')
            write = wrk(base + show_path, args.duration, args.connections, [auth], script)
            rss_after = rss_kib(svc.proc.pid)

            # nginx: a static file of the same size, same certificate, same TLS versions.
            (tmp / "www").mkdir()
            (tmp / "www" / "device.json").write_bytes(body)
            port = conftest.free_port()
            (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=port, cert=svc.state / "tls" / "cert.pem",
                                                              key=svc.state / "tls" / "key.pem"))
            nginx = subprocess.Popen(["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                for _ in range(100):  # bounded wait for nginx
                    if subprocess.run(["curl", "-sk", "-o", "/dev/null", f"https://127.0.0.1:{port}/device.json"]
                                      ).returncode == 0:
                        break
                    time.sleep(0.05)
                static = wrk(f"https://127.0.0.1:{port}/device.json", args.duration, args.connections)
            finally:
                nginx.terminate()
                nginx.wait(timeout=30)
        finally:
            svc.stop()

    print(f"devices registered: {args.devices} (keys {t_keys:.1f} s, bulk registration {t_register:.1f} s, "
          f"{args.devices / t_register:.0f} devices/s)")
    print(f"rampartd RSS: empty {rss_empty['VmRSS'] / 1024:.1f} MiB, with devices "
          f"{rss_loaded['VmRSS'] / 1024:.1f} MiB, after load {rss_after['VmRSS'] / 1024:.1f} MiB "
          f"(peak {rss_after['VmHWM'] / 1024:.1f} MiB)")
    print(f"response size: {len(body)} bytes; wrk: 2 threads, {args.connections} connections, {args.duration} s each")
    print(f"{'':28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    for name, r in (("rampartd device show", read), ("rampartd device update", write),
                    ("nginx static same size", static)):
        print(f"{name:28}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['non2xx']:>10}")
    print(f"ratio read / nginx: {read['rps'] / static['rps']:.2f} (goal >= 0.30); "
          f"write / nginx: {write['rps'] / static['rps']:.3f}")


if __name__ == "__main__":
    main()
