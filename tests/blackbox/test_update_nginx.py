"""Blobs are content-addressed, so any static HTTP server can serve them: here nginx serves the blob
directory (with its own Range support) while the signed metadata comes from another server, and
the device installs, including resuming a partial download."""
import json
import os
import shutil
import subprocess
import time

import pytest

from boot_device import Device
from conftest import free_port, run
from update_repos import Repos, RepoServer

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def nginx(tmp_path):
    if not os.path.exists(NGINX):
        pytest.fail("nginx is not installed (Debian package nginx-light, scripts/debian-packages.txt)")
    root = tmp_path / "www"
    root.mkdir()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    port = free_port()
    conf = prefix / "nginx.conf"
    temp = {k: prefix / k for k in ("client", "proxy", "fastcgi", "uwsgi", "scgi")}
    conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log {prefix}/access.log;
  client_body_temp_path {temp['client']};
  proxy_temp_path {temp['proxy']};
  fastcgi_temp_path {temp['fastcgi']};
  uwsgi_temp_path {temp['uwsgi']};
  scgi_temp_path {temp['scgi']};
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port};
    root {root};
    location / {{ }}
  }}
}}
""")
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(prefix), "-e", str(prefix / "error.log")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    import socket
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
    yield {"root": root, "url": f"http://127.0.0.1:{port}", "log": prefix / "access.log"}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def test_blobs_from_nginx_with_resume(tmp_path, nginx):
    dev = Device(tmp_path / "dev")
    dev.install(dev.bundle("1"))
    dev.boot()
    repos = Repos(tmp_path / "repos")
    meta = RepoServer(repos)
    try:
        run("rampart-update", "init", "--state", dev.state, "--image-root", repos.image.root(), "--director-root",
            repos.director.root(), check=True)
        name, digest = repos.release(dev.bundle("2", extra_bytes=300000))
        shutil.copytree(repos.blobs, nginx["root"] / "sha256")
        # A download that was interrupted half way: the device resumes it from nginx.
        data = (repos.blobs / digest).read_bytes()
        dl = dev.state / "update" / "downloads"
        dl.mkdir(parents=True, exist_ok=True)
        (dl / f"{digest}.part").write_bytes(data[:len(data) // 2])
        proc = run("rampart-update", "check", "--state", dev.state, "--image-repo", f"{meta.url}/image",
                   "--director", f"{meta.url}/director", "--blobs", f"{nginx['url']}/sha256", "--rot", "soft",
                   "--output", "json", check=True)
        rep = json.loads(proc.stdout)
        assert rep["installed"] == 1
        assert rep["bytes"] < len(data)  # only the missing half (plus metadata) moved
        log = nginx["log"].read_text()
        assert f"GET /sha256/{digest} HTTP/1.1\" 206" in log, log
        # No blob came from the metadata server.
        assert not [p for p, _ in meta.requests if p.startswith("/blobs/")]
        dev.boot()
        assert dev.running_version() == 2
    finally:
        meta.stop()
