"""Helpers for the update black-box tests: an Uptane pair of TUF repositories (image repository and
director) built with rampart-tuf, a content-addressed blob directory, and a small HTTP server on
127.0.0.1 that serves them (with Range support) and can misbehave on purpose: wrong bytes, endless
data, slow retrieval, a connection cut half way, or stale metadata."""
import hashlib
import http.server
import json
import pathlib
import shutil
import subprocess
import threading
import time

from conftest import run


def make_key(path):
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                    str(path)], check=True, capture_output=True, timeout=60)
    return path


TRUST_COMPONENT = "2d1f8a30-5c1e-4b7f-8f0e-6a3c9b1d2e44"


def pack_trust_update(tmp, signing_key, version, keys):
    """A trust-update package of VERSION, signed with SIGNING_KEY, whose trust/ directory holds
    KEYS ({file name: public key file})."""
    payload = pathlib.Path(tmp) / f"trust-payload-{version}"
    (payload / "trust").mkdir(parents=True)
    for name, pub in keys.items():
        shutil.copy(pub, payload / "trust" / name)
    out = pathlib.Path(tmp) / f"trust-{version}.rpkg"
    run("rampart", "image-package", "pack", "--type", "trust-update", "--payload-directory", payload,
        "--component-id", TRUST_COMPONENT, "--name", "trust", "--key", signing_key, "--output", out,
        "--version", str(version), check=True)
    return out


def package_info(path):
    md = json.loads(run("rampart", "image-package", "show", path, "--output", "json", check=True).stdout)["metadata"]
    return {"image_id": md["image_id"], "type": md["image_type"], "version": md["version"],
            "component_id": md["component_id"]}


class Repo:
    """One TUF repository directory with its keys."""

    def __init__(self, base, name):
        self.dir = pathlib.Path(base) / name
        kd = pathlib.Path(base) / f"{name}-keys"
        kd.mkdir(parents=True)
        self.keys = {r: make_key(kd / f"{r}.pem") for r in ("root", "targets", "snapshot", "timestamp")}
        run("rampart-tuf", "init-repo", self.dir, "--root-key", self.keys["root"], "--targets-key",
            self.keys["targets"], "--snapshot-key", self.keys["snapshot"], "--timestamp-key", self.keys["timestamp"],
            check=True)

    @property
    def metadata(self):
        return self.dir / "metadata"

    def root(self):
        return self.metadata / "1.root.json"

    def add(self, pkg, name, custom, targets_key=None):
        run("rampart-tuf", "add-target", self.dir, pkg, "--targets-key", targets_key or self.keys["targets"],
            "--name", name, "--custom", json.dumps(custom), check=True)

    def sign(self, now=None, timestamp_key=None):
        extra = ["--now", now] if now else []
        run("rampart-tuf", "sign", self.dir, "--snapshot-key", self.keys["snapshot"], "--timestamp-key",
            timestamp_key or self.keys["timestamp"], *extra, check=True)


class Repos:
    """Image repository + director + blobs, as rampartd publishes them."""

    def __init__(self, base):
        self.base = pathlib.Path(base)
        self.image = Repo(self.base, "image")
        self.director = Repo(self.base, "director")
        self.blobs = self.base / "blobs" / "sha256"
        self.blobs.mkdir(parents=True)
        self.image.sign()
        self.director.sign()

    def add_blob(self, pkg):
        data = pathlib.Path(pkg).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        (self.blobs / digest).write_bytes(data)
        return digest

    def release(self, pkg, image=True, director=True, name=None):
        """Publish PKG: released in the image repository and/or targeted by the director."""
        info = package_info(pkg)
        name = name or info["image_id"]
        custom = {"image_id": info["image_id"], "type": info["type"], "version": info["version"]}
        self.add_blob(pkg)
        if image:
            self.image.add(pkg, name, custom)
            self.image.sign()
        if director:
            self.director.add(pkg, name, custom)
            self.director.sign()
        return name, hashlib.sha256(pathlib.Path(pkg).read_bytes()).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle on, each small response on a kept-alive
    # connection waits ~40 ms for the client's delayed ACK, which real servers do not impose.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server.owner
        srv.requests.append((self.path, self.headers.get("Range")))
        parts = self.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] not in ("image", "director", "blobs") or ".." in parts[1]:
            return self.reply(404, b"")
        kind, name = parts
        override = srv.overrides.get((kind, name))
        if override is not None:
            return self.reply(200, override)
        if kind == "blobs":
            path = srv.repos.blobs / name
        else:
            path = getattr(srv.repos, kind).metadata / name
        if not path.is_file():
            return self.reply(404, b"")
        data = path.read_bytes()
        mode = srv.blob_mode if kind == "blobs" else None
        if mode == "wrong":
            data = bytes(b ^ 0x55 for b in data)
        elif mode == "endless":
            return self.endless(len(data))
        elif mode == "slow":
            return self.slow(data)
        elif mode == "cut":
            srv.blob_mode = None  # once
            return self.cut(data)
        rng = self.headers.get("Range")
        if kind == "blobs" and rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                return self.reply(416, b"")
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])
            return
        self.reply(200, data)

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def endless(self, length):
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"\0" * 65536
        try:
            for _ in range(10 * (length // 65536 + 1) + 16):  # bounded: the client must stop first
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def slow(self, data):
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            for i in range(min(len(data), 120)):  # at most ~60 s, far past the client's limit
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def cut(self, data):
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:len(data) // 2])
        self.wfile.flush()
        self.close_connection = True


class RepoServer:
    def __init__(self, repos):
        self.repos = repos
        self.overrides = {}
        self.blob_mode = None
        self.requests = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def snapshot_dir(src, dst):
    shutil.copytree(src, dst)
    return dst
