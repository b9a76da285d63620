#!/usr/bin/python3
"""Regenerate the seed corpus for fuzz_package (tests/fuzz/corpus/package/): small valid packages,
hostile payloads and structural damage. Usage: make_corpus_package.py BUILD_DIR"""
import json
import os
import pathlib
import struct
import subprocess
import sys
import tempfile

build = pathlib.Path(sys.argv[1])
rampart = next(p for p in build.rglob("rampart") if p.is_file() and os.access(p, os.X_OK))
out = pathlib.Path(__file__).resolve().parent / "corpus" / "package"
out.mkdir(parents=True, exist_ok=True)
GUID = "1689d8b2-c835-2e27-27ad-e894d6d15fa9"


def rp(*args):
    subprocess.run([str(rampart), "image-package", *map(str, args)], check=True, capture_output=True)


with tempfile.TemporaryDirectory() as t:
    t = pathlib.Path(t)
    rp("keygen", "--private-key", t / "k", "--public-key", t / "k.pub")
    app = t / "app"
    (app / "bin").mkdir(parents=True)
    (app / "app_manifest.json").write_text(json.dumps({
        "SchemaVersion": 1, "Name": "Fuzz", "ComponentId": GUID, "EntryPoint": "/bin/app",
        "CmdArgs": [], "Capabilities": {}, "ApplicationType": "Default"}))
    (app / "bin" / "app").write_text("#!/bin/sh\n")
    (app / "bin" / "app").chmod(0o755)
    rp("pack-application", "--package-directory", app, "--key", t / "k", "--output", out / "valid_app",
       "--target-api-set", "15")

    def raw(name, packlist, comp="zstd"):
        (t / "f").write_text("x\n")
        (t / "pl").write_text(packlist)
        subprocess.run(["gensquashfs", "-q", "-f", "-c", comp, "-F", t / "pl", "-D", t, t / "img"], check=True)
        rp("pack-raw", "--payload", t / "img", "--type", "os-bundle", "--component-id", GUID, "--name", name,
           "--key", t / "k", "--output", out / name)

    raw("symlinks_ok", "dir /a 0755 0 0\nfile /a/f 0644 0 0 f\nslink /a/l 0777 0 0 f\nslink /b 0777 0 0 a/f\n")
    raw("devnode", "nod /dev 0600 0 0 c 1 1\n")
    raw("setuid", "file /su 4755 0 0 f\n")
    raw("hardlink", "file /a 0644 0 0 f\nlink /b 0644 0 0 /a\n")
    raw("escape_symlink", "dir /a 0755 0 0\nslink /a/up 0777 0 0 ../../x\n")
    raw("gzip", "file /a 0644 0 0 f\n", comp="gzip")
    raw("fifo_socket", "pipe /p 0644 0 0\nsock /s 0644 0 0\n")

    data = (out / "valid_app").read_bytes()
    (out / "truncated").write_bytes(data[:len(data) // 2])
    (out / "header_only").write_bytes(data[:32])
    bad = bytearray(data)
    bad[32 + 24 + 16:32 + 24 + 24] = struct.pack(">Q", 1 << 40)
    (out / "lying_length").write_bytes(bad)
    bad = bytearray(data)
    bad[32 + 48:32 + 52] = struct.pack(">I", 1)
    (out / "duplicate_section").write_bytes(bad)
    moff = struct.unpack(">Q", data[32 + 8:32 + 16])[0]
    bad = bytearray(data)
    bad[moff + 1] = 6  # first tag becomes "name": out of order
    (out / "bad_metadata").write_bytes(bad)
for f in sorted(out.iterdir()):
    assert f.stat().st_size < 64 * 1024, f
    print(f.name, f.stat().st_size)
