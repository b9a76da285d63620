"""Helpers for rampartd's black-box tests: a real rampartd on 127.0.0.1 with a fresh state
directory, and a small HTTPS JSON client (http.client + ssl, trusting the server's own
certificate) that speaks to it with a given token."""
import http.client
import json
import pathlib
import re
import signal
import ssl
import subprocess
import time

from conftest import find_binary, free_port

TOKEN_RE = re.compile(r"^rpt_[0-9a-f]{64}$", re.M)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def code(self):
        """The error code of an error response."""
        return self.json["error"]["code"]

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Rampartd:
    def __init__(self, tmp, state=None, cafile=None):
        self.tmp = pathlib.Path(tmp)
        self.cafile = cafile
        self.state = pathlib.Path(state) if state else self.tmp / "state"
        self.port = None
        self.proc = None
        self.token = None
        self.log = self.tmp / "rampartd.log"
        self._ssl = None

    def init(self):
        proc = subprocess.run([str(find_binary("rampartd")), "init", "--state-dir", str(self.state)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        m = TOKEN_RE.search(proc.stdout)
        if m:
            self.token = m.group(0)
        return proc

    def start(self, *extra):
        if self.token is None:
            self.init()
        self.port = free_port()
        self._logf = open(self.log, "a")
        self.proc = subprocess.Popen([str(find_binary("rampartd")), "serve", "--state-dir", str(self.state),
                                      "--listen", f"127.0.0.1:{self.port}", *extra],
                                     stdout=self._logf, stderr=subprocess.STDOUT)
        self._ssl = None
        for _ in range(400):  # bounded: 400 x 0.025 s
            if self.proc.poll() is not None:
                raise AssertionError(f"rampartd exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if self.request("GET", "/v1/health", token=None).status == 200:
                    return self
            except (OSError, ssl.SSLError):
                pass
            time.sleep(0.025)
        raise AssertionError(f"rampartd did not come up:\n{self.log.read_text()}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        if self.proc:
            self._logf.close()
        return self.proc.returncode if self.proc else None

    def ssl_context(self):
        if self._ssl is None:
            ctx = ssl.create_default_context(cafile=str(self.cafile or self.state / "tls" / "cert.pem"))
            self._ssl = ctx
        return self._ssl

    def connection(self):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl_context(), timeout=60)

    def request(self, method, path, body=None, token="admin", content_type=None, headers=None, conn=None):
        """BODY: dict/list (sent as JSON), bytes or str (sent as is). TOKEN 'admin' = bootstrap token."""
        hdrs = dict(headers or {})
        if token == "admin":
            token = self.token
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            content_type = content_type or "application/json"
        elif isinstance(body, str):
            body = body.encode()
            content_type = content_type or "application/json"
        if content_type:
            hdrs["Content-Type"] = content_type
        own = conn is None
        conn = conn or self.connection()
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return Response(r.status, dict(r.getheaders()), r.read())
        finally:
            if own:
                conn.close()

    # Shortcuts used by several tests.
    def create_tenant(self, name):
        r = self.request("POST", "/v1/tenants", {"name": name})
        assert r.status == 201, r
        return r.json["tenant_id"]

    def add_user(self, tenant, user, role):
        r = self.request("POST", f"/v1/tenants/{tenant}/roles", {"user": user, "role": role})
        assert r.status == 201, r
        return r.json.get("token")


def device_key(tmp, name):
    """A P-256 key made with openssl: returns (device_id, public PEM)."""
    priv = pathlib.Path(tmp) / f"{name}.key"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(priv)],
                   check=True, capture_output=True)
    pem = subprocess.run(["openssl", "ec", "-in", str(priv), "-pubout"], check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "ec", "-in", str(priv), "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest(), pem.decode()
