"""Robustness of rampart-update's download transport against a misbehaving server or resolver: a
206 answer to a resume must carry exactly the Content-Range asked for (else the partial download is
discarded, never appended to), and a name lookup is bounded by the connect timeout even when the
DNS server never answers."""
import json
import os
import shutil
import socket
import subprocess
import threading

import pytest

from conftest import find_binary, run
from test_update_device import device_with_repos
from update_repos import Handler

# rampart-update's connect bound (UPDATE_FETCH_DEFAULT_CONNECT_TIMEOUT): the name lookup is part of it.
CONNECT_TIMEOUT_S = 20


class RangeHandler(Handler):
    """Answers a resume ("Range: bytes=N-") of a blob with a wrong 206 when the server's
    bad_range says so; everything else as the normal repository server."""

    def do_GET(self):
        srv = self.server.owner
        rng = self.headers.get("Range")
        mode = getattr(srv, "bad_range", None)
        if mode is None or not self.path.startswith("/blobs/") or not rng or not rng.startswith("bytes="):
            return super().do_GET()
        srv.requests.append((self.path, rng))
        data = (srv.repos.blobs / self.path.split("/")[-1]).read_bytes()
        start, total = int(rng[6:-1]), len(data)
        if mode == "later-start":
            # A cache answering another range: consistent in itself, the wrong bytes for this file.
            start = min(start + 1000, total - 1)
            cr = f"bytes {start}-{total - 1}/{total}"
        elif mode == "wrong-total":
            cr = f"bytes {start}-{total - 1}/{total + 4096}"
        else:  # "missing"
            cr = None
        body = data[start:]
        self.send_response(206)
        if cr:
            self.send_header("Content-Range", cr)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def env(tmp_path):
    dev, repos, srv = device_with_repos(tmp_path, RangeHandler)
    yield dev, repos, srv
    srv.stop()


def check_args(dev, base):
    return ["check", "--state", dev.state, "--image-repo", f"{base}/image", "--director", f"{base}/director",
            "--blobs", f"{base}/blobs", "--rot", "soft", "--output", "json"]


def check(dev, srv, ok):
    proc = run("rampart-update", *check_args(dev, srv.url))
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
    assert (proc.returncode == 0) == ok, proc.stdout + proc.stderr
    return proc


def image_state(dev, name):
    return json.loads(run("rampart-update", "status", "--state", dev.state, check=True).stdout)["images"][name]


@pytest.mark.parametrize("mode,problem", [
    ("later-start", "which starts at byte"),
    ("wrong-total", "is not the"),
    ("missing", "has no Content-Range"),
])
def test_resume_with_wrong_content_range_is_refused_then_restarts(env, mode, problem):
    dev, repos, srv = env
    name, digest = repos.release(dev.bundle("2", extra_bytes=200000))
    part = dev.state / "update" / "downloads" / f"{digest}.part"
    # An interrupted download leaves a partial file that the next check resumes with a Range.
    srv.blob_mode = "cut"
    check(dev, srv, ok=False)
    assert part.exists() and part.stat().st_size > 0
    have = part.stat().st_size

    srv.bad_range = mode
    srv.requests.clear()
    proc = check(dev, srv, ok=False)
    assert [r for p, r in srv.requests if p == f"/blobs/{digest}"] == [f"bytes={have}-"]
    assert "Content-Range" in proc.stderr and problem in proc.stderr, proc.stderr
    assert f'"Range: bytes={have}-"' in proc.stderr, proc.stderr
    # Nothing of the wrong answer was kept: the partial file is empty (or gone), not appended to.
    assert not part.exists() or part.stat().st_size == 0
    st = image_state(dev, name)
    assert st["state"] == "failed" and "Content-Range" in st["reason"], st
    dev.boot()
    assert dev.running_version() == 1

    # The next attempt starts from byte 0 (no Range) and installs the right bytes.
    srv.bad_range = None
    srv.requests.clear()
    check(dev, srv, ok=True)
    assert [r for p, r in srv.requests if p == f"/blobs/{digest}"] == [None]
    assert image_state(dev, name)["state"] == "installed"
    dev.boot()
    assert dev.running_version() == 2


class SilentDns:
    """A UDP socket on a loopback address, port 53, that takes queries and never answers."""

    def __init__(self, addr):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, 53))
        self.sock.settimeout(0.5)
        self.queries = 0
        self.stopping = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        for _ in range(2000):  # bounded: ~1000 s of polling at most; stopped long before
            if self.stopping:
                return
            try:
                self.sock.recvfrom(4096)
                self.queries += 1
            except socket.timeout:
                pass

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=5)
        self.sock.close()


DNS_ADDR = "127.0.0.87"


def namespaces_usable():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("mount"):
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind /dev/null /etc/hostname"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not namespaces_usable(), reason="needs root and private mount namespaces")
def test_name_lookup_bounded_by_connect_timeout(env, tmp_path):
    dev, _, _ = env
    # In a private mount namespace: a resolv.conf naming a DNS server that never answers, with
    # glibc retrying for 3 x 30 s; a hosts file without the name and "hosts: files dns", so the
    # lookup really goes to that server.
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "resolv.conf").write_text(f"nameserver {DNS_ADDR}\noptions timeout:30 attempts:3\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    (etc / "nsswitch.conf").write_text("hosts: files dns\n")
    dns = SilentDns(DNS_ADDR)
    try:
        script = ('mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts && '
                  'mount --bind "$3" /etc/nsswitch.conf && shift 3 && exec "$@"')
        cmd = ["unshare", "-m", "sh", "-c", script, "sh", etc / "resolv.conf", etc / "hosts", etc / "nsswitch.conf",
               find_binary("rampart-update"), *check_args(dev, "http://updates.invalid.test:8080")]
        # The resolver alone would wait 90 s per lookup; the client's bound is its connect
        # timeout. The outer limit is generous: this checks that the client gives up, not its speed.
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                              timeout=3 * CONNECT_TIMEOUT_S + 20)
    finally:
        dns.stop()
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert f"resolving updates.invalid.test: no answer within {CONNECT_TIMEOUT_S} s" in proc.stderr, proc.stderr
    assert dns.queries > 0  # the name went to the silent server, not to a file
