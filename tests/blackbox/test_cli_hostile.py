"""Black-box tests of the rampart CLI against hostile peers: a proxy in the environment or a DNS
name dressed as a loopback address must not get the bearer token; a sandboxed app's log, the
application manager's errors and the service's text must not drive the operator's terminal; a
service that pages forever must not exhaust the CLI's memory; an image streamed to standard output
reaches it only once its SHA-256 is verified; and keygen never silently replaces a private key."""
import hashlib
import http.server
import json
import os
import socket
import subprocess
import threading

import pytest

from conftest import find_binary, run

TENANT = "11111111-2222-3333-4444-555555555555"
SECRET = "SECRET-token-must-stay-here"
# Terminal controls an attacker would use: OSC (set title), CSI (clear screen, colour), BEL, and
# the one-byte C1 CSI U+009B and OSC U+009D, which some terminals obey like ESC [ and ESC ].
HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\x1b[31mfake prompt\x1b[0m \u009b2J \u009d0;T\u009c \x7f"


def cli_env(tmp_path, **extra):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy", "no_proxy",
              "NO_PROXY", "RAMPART_SERVICE", "RAMPART_TOKEN", "RAMPART_TENANT"):
        env[k] = ""
    env.update(extra)
    return env


def assert_no_controls(text):
    """No C0 control but newline and tab, no DEL, no C1 control."""
    bad = [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f]
    assert not bad, f"control characters reached the terminal: {bad!r} in {text!r}"


class Service:
    """A loopback HTTP service; HANDLER(path) returns (status, body bytes)."""

    def __init__(self, handler):
        self.requests = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                status, body = handler(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service():
    made = []

    def make(handler):
        s = Service(handler)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def whoami_or(path, other):
    if path.startswith("/v1/whoami"):
        return 200, json.dumps({"user": "u", "roles": [{"tenant_id": TENANT, "role": "Reader"}]}).encode()
    return other(path)


# ---- the token stays on this machine --------------------------------------------------------

def test_plain_http_to_a_dns_name_starting_with_127_is_refused(tmp_path):
    out = run("rampart", "whoami", "--service", "http://127.attacker.example:8080", "--token", SECRET,
              env=cli_env(tmp_path), check=False)
    assert "plain http to a non-loopback host" in out.stderr, out.stderr
    # Real loopback literals are still accepted (the request then fails to connect, nothing more).
    for url in ("http://127.0.0.1:1", "http://127.9.8.7:1", "http://[::1]:1", "http://localhost:1"):
        out = run("rampart", "whoami", "--service", url, "--token", SECRET, env=cli_env(tmp_path), check=False)
        assert "non-loopback" not in out.stderr and "could not reach the service" in out.stderr, (url, out.stderr)


def test_plain_http_token_never_goes_through_a_proxy(tmp_path):
    """A proxy from the environment would carry the token across the network in clear text."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    proxy = f"http://127.0.0.1:{listener.getsockname()[1]}"
    seen = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():  # bounded by the test's end
            try:
                c, _ = listener.accept()
            except OSError:
                continue
            c.settimeout(5)
            try:
                seen.append(c.recv(65536))
            except OSError:
                pass
            c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        env = cli_env(tmp_path, ALL_PROXY=proxy, all_proxy=proxy, http_proxy=proxy, HTTP_PROXY=proxy)
        for url in ("http://localhost:1", "http://127.0.0.1:1"):
            out = run("rampart", "whoami", "--service", url, "--token", SECRET, env=env, check=False, timeout=60)
            assert out.returncode != 0
            assert "could not reach the service" in out.stderr, out.stderr
    finally:
        stop.set()
        t.join(timeout=10)
        listener.close()
    assert not seen, f"the proxy received {seen!r}"


# ---- terminal escapes ---------------------------------------------------------------------

def fake_appmgr(path, replies):
    """A SOCK_SEQPACKET application manager answering each request with REPLIES(request)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(str(path))
    s.listen(4)
    s.settimeout(30)

    def serve():
        for _ in range(8):  # bounded
            try:
                c, _ = s.accept()
            except OSError:
                return
            with c:
                req = json.loads(c.recv(65536))
                c.send(json.dumps(replies(req)).encode())
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return s


def test_app_log_and_manager_errors_cannot_drive_the_terminal(tmp_path):
    sock = tmp_path / "appmgr.sock"
    log = "hello\n\tindented\n" + HOSTILE + "\nnaïve ünïcode ✓\n"

    def replies(req):
        if req.get("op") == "logs":
            return {"ok": True, "status": {"component_id": req["app"], "log": log}}
        return {"ok": False, "code": "invalid", "error": "refused " + HOSTILE}
    s = fake_appmgr(sock, replies)
    try:
        cid = "0b5a2e26-3c1d-4c68-8a7e-1f9b4d1c2a33"
        out = run("rampart", "device", "app", "logs", "--component-id", cid, "--local-socket", sock,
                  env=cli_env(tmp_path), check=True)
        assert_no_controls(out.stdout)
        # Newlines, tabs and ordinary UTF-8 survive; the controls become visible '?'.
        assert out.stdout.startswith("hello\n\tindented\n"), out.stdout
        assert "naïve ünïcode ✓" in out.stdout and "fake prompt" in out.stdout and "?" in out.stdout
        # JSON output keeps the text but escapes every control (C1 too).
        out = run("rampart", "device", "app", "logs", "--component-id", cid, "--local-socket", sock,
                  "--output", "json", env=cli_env(tmp_path), check=True)
        assert_no_controls(out.stdout.replace("\n", ""))
        assert json.loads(out.stdout)["log"] == log
        # The manager's own error text.
        out = run("rampart", "device", "app", "start", "--component-id", cid, "--local-socket", sock,
                  env=cli_env(tmp_path), check=False)
        assert "refused" in out.stderr and "fake prompt" in out.stderr, out.stderr
        assert_no_controls(out.stderr)
    finally:
        s.close()


def test_service_text_with_c1_controls_is_neutralised(tmp_path, service):
    def handler(path):
        if path.startswith("/v1/tenants?"):
            return 200, json.dumps({"items": [{"tenant_id": TENANT, "name": "evil" + HOSTILE}]}).encode()
        return 400, json.dumps({"error": {"code": "invalid", "message": "bad" + HOSTILE}}).encode()
    svc = service(handler)
    env = cli_env(tmp_path)
    out = run("rampart", "tenant", "list", "--service", svc.url, "--token", "t", env=env, check=True)
    assert "evil" in out.stdout
    assert_no_controls(out.stdout)
    out = run("rampart", "whoami", "--service", svc.url, "--token", "t", env=env, check=False)
    assert "bad" in out.stderr and "HTTP 400" in out.stderr, out.stderr
    assert_no_controls(out.stderr)


# ---- list paging ----------------------------------------------------------------------------

def test_list_paging_that_repeats_its_token_is_stopped(tmp_path, service):
    def handler(path):
        if len(svc.requests) > 50:  # bounded even if the CLI kept asking
            return 500, b'{"error":{"code":"unavailable","message":"the test service gave up"}}'
        return 200, json.dumps({"items": [{"tenant_id": TENANT, "name": "t"}], "next_page_token": "x"}).encode()
    svc = service(handler)
    out = run("rampart", "tenant", "list", "--service", svc.url, "--token", "t", env=cli_env(tmp_path), check=False)
    assert "same next_page_token twice" in out.stderr, out.stderr
    assert len(svc.requests) == 2


@pytest.mark.parametrize("shape", ["many-items", "large-pages"])
def test_list_paging_is_bounded_in_total(tmp_path, service, shape):
    """Each page is within the per-response limit; the sum across pages is not."""
    pages = 40
    if shape == "many-items":
        page_items = [{}] * 20000               # 100,000 items after 5 pages
    else:
        page_items = [{"name": "x" * (4 << 20)}]  # 32 MiB after 8 pages

    body_cache = {}

    def handler(path):
        n = len(svc.requests)
        if n not in body_cache:
            reply = {"items": page_items}
            if n < pages:
                reply["next_page_token"] = f"p{n}"
            body_cache.clear()
            body_cache[n] = json.dumps(reply).encode()
        return 200, body_cache[n]
    svc = service(handler)
    out = run("rampart", "tenant", "list", "--service", svc.url, "--token", "t", "--output", "json",
              env=cli_env(tmp_path), check=False, timeout=300)
    assert out.returncode != 0
    assert "larger than the CLI accepts" in out.stderr and "narrow the query" in out.stderr, out.stderr[-2000:]
    assert len(svc.requests) < pages


# ---- verified bytes only on standard output --------------------------------------------------

@pytest.mark.parametrize("honest", [False, True])
def test_image_download_to_stdout_writes_only_verified_bytes(tmp_path, service, honest):
    payload = b"echo substituted-payload-ran\n" * 100
    recorded = hashlib.sha256(payload).hexdigest() if honest else "00" * 32

    def handler(path):
        if path.startswith("/v1/blobs/"):
            return 200, payload
        return 200, json.dumps({"image_id": "i", "sha256": recorded, "size": len(payload)}).encode()
    svc = service(lambda p: whoami_or(p, handler))
    image = "22222222-3333-4444-5555-666666666666"
    proc = subprocess.run(
        [str(find_binary("rampart")), "image", "download", "--image", image,
         "--destination", "-", "--service", svc.url, "--token", "t", "--tenant", TENANT],
        capture_output=True, env={**os.environ, **cli_env(tmp_path)}, timeout=120)
    if honest:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == payload
    else:
        assert proc.returncode != 0
        assert proc.stdout == b"", "unverified bytes reached standard output"
        assert b"nothing was written to standard output" in proc.stderr, proc.stderr


# ---- keygen -------------------------------------------------------------------------------

def test_keygen_refuses_to_replace_an_existing_key(tmp_path):
    priv, pub = tmp_path / "signing.key", tmp_path / "signing.pub"
    run("rampart", "image-package", "keygen", "--private-key", priv, "--public-key", pub, check=True)
    before = (priv.read_bytes(), pub.read_bytes())
    out = run("rampart", "image-package", "keygen", "--private-key", priv, "--public-key", pub, check=False)
    assert f"{priv} already exists" in out.stderr and "--force" in out.stderr, out.stderr
    assert (priv.read_bytes(), pub.read_bytes()) == before
    # Only the public key in the way: refused too, and no private key is left behind.
    priv2 = tmp_path / "other.key"
    out = run("rampart", "image-package", "keygen", "--private-key", priv2, "--public-key", pub, check=False)
    assert f"{pub} already exists" in out.stderr, out.stderr
    assert not priv2.exists() and pub.read_bytes() == before[1]
    # A symlink at the private key's path is not followed or replaced either.
    link = tmp_path / "link.key"
    link.symlink_to(tmp_path / "nowhere")
    out = run("rampart", "image-package", "keygen", "--private-key", link, "--public-key", tmp_path / "l.pub",
              check=False)
    assert "already exists" in out.stderr and not (tmp_path / "nowhere").exists()
    # --force replaces both, deliberately.
    run("rampart", "image-package", "keygen", "--private-key", priv, "--public-key", pub, "--force", check=True)
    assert priv.read_bytes() != before[0] and pub.read_bytes() != before[1]
    assert priv.stat().st_mode & 0o777 == 0o600
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
