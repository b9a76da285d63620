#!/usr/bin/python3
"""bench/api/upload_lock: how much large image uploads delay other writes. One client uploads a
few large signed packages, one after another; another client creates products meanwhile and records each request's
latency. Run against a reference build and ours in the same invocation; prints both and the ratio.

Usage: bench/api/upload_lock.py --ref-build DIR [--build DIR] [--size-mib N] [--uploads N]
Everything runs on 127.0.0.1 and stops by itself."""
import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "blackbox"))
os.environ.setdefault("RAMPART_BUILD", str(ROOT / "build"))

import conftest  # noqa: E402
from service_client import Rampartd  # noqa: E402


def make_packages(tmp, cli, size_mib, count):
    priv, pub = tmp / "signer.pem", tmp / "signer.pub"
    subprocess.run([cli, "image-package", "keygen", "--private-key", priv, "--public-key", pub], check=True,
                   capture_output=True)
    packages = []
    for i in range(count):
        payload = tmp / f"payload{i}"
        payload.mkdir()
        with open(payload / "data", "wb") as f:
            f.write(os.urandom(size_mib * 1024 * 1024))
        out = tmp / f"big{i}.imagepackage"
        subprocess.run([cli, "image-package", "pack", "--type", "application", "--payload-directory", payload,
                        "--component-id", "11111111-2222-3333-4444-555555555555", "--name", f"big{i}", "--key", priv,
                        "--output", out], check=True, capture_output=True)
        packages.append(out.read_bytes())
    return pub.read_text(), packages


def measure(build, tmp, pub, packages):
    conftest._binaries["rampartd"] = pathlib.Path(build).resolve() / "src" / "service" / "rampartd"
    svc = Rampartd(tmp).start("--max-image-size", f"{max(map(len, packages)) + 1024 * 1024}")
    try:
        tenant = svc.create_tenant("Bench")
        assert svc.request("POST", f"/v1/tenants/{tenant}/image-signing-keys", {"public_key_pem": pub}).status == 201

        def write_once(i):
            t0 = time.monotonic()
            r = svc.request("POST", f"/v1/tenants/{tenant}/products", {"name": f"p{i}"})
            assert r.status == 201, r
            return time.monotonic() - t0

        idle = [write_once(i) for i in range(20)]
        statuses = []

        def uploader():
            for package in packages:
                statuses.append(svc.request("POST", f"/v1/tenants/{tenant}/images", package,
                                            content_type="application/octet-stream").status)

        th = threading.Thread(target=uploader)
        th.start()
        busy = []
        deadline = time.monotonic() + 600
        i = 100
        while th.is_alive() and len(busy) < 5000 and time.monotonic() < deadline:
            busy.append(write_once(i))
            i += 1
        th.join(timeout=600)
        assert statuses == [201] * len(packages), statuses
        return idle, busy
    finally:
        svc.stop()


def summary(xs):
    return {"n": len(xs), "p50_ms": round(statistics.median(xs) * 1000, 1), "max_ms": round(max(xs) * 1000, 1),
            "over_100ms": sum(x > 0.1 for x in xs), "slowest_ms": [round(x * 1000) for x in sorted(xs)[-5:]]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref-build", required=True)
    ap.add_argument("--build", default=os.environ["RAMPART_BUILD"])
    ap.add_argument("--size-mib", type=int, default=60)
    ap.add_argument("--uploads", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        pub, packages = make_packages(tmp, str(pathlib.Path(a.build).resolve() / "src" / "cli" / "rampart"),
                                      a.size_mib, a.uploads)
        results = {}
        for label, build in (("reference", a.ref_build), ("rampart", a.build)):
            idle, busy = measure(build, tmp / label, pub, packages)
            results[label] = (summary(idle), summary(busy))
            print(f"{label:9s} ({build}): idle writes {results[label][0]}; writes during uploads {results[label][1]}")
        ref, ours = results["reference"][1], results["rampart"][1]
        print(f"write latency during {a.size_mib} MiB uploads, ours/reference: "
              f"p50 {ours['p50_ms'] / ref['p50_ms']:.2f}x, max {ours['max_ms'] / ref['max_ms']:.2f}x")


if __name__ == "__main__":
    main()
