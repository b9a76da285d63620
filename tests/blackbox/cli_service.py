"""Helpers for the CLI black-box tests: a real rampartd on loopback and a `rampart` runner with
its own configuration file per user (so an admin, a Reader and another tenant's admin can be
driven side by side)."""
import json
import os
import pathlib
import re
import signal
import ssl
import subprocess
import time
import urllib.request

from conftest import find_binary, free_port

TOKEN_RE = re.compile(r"rpt_[0-9a-f]{64}")


class Server:
    """rampartd with a fresh state directory: `init` (captures the bootstrap admin token), then
    `serve` on 127.0.0.1:<free port>, stopped with SIGTERM."""

    def __init__(self, tmp, extra_args=()):
        self.extra_args = [str(a) for a in extra_args]
        self.state = pathlib.Path(tmp) / "state"
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.proc = None
        self.admin_token = None
        self.ca_cert = None
        self.log = pathlib.Path(tmp) / "rampartd.log"

    def start(self):
        binary = str(find_binary("rampartd"))
        init = subprocess.run([binary, "init", "--state-dir", str(self.state)], capture_output=True, text=True,
                              timeout=120)
        assert init.returncode == 0, f"rampartd init failed:\n{init.stdout}\n{init.stderr}"
        found = TOKEN_RE.search(init.stdout + init.stderr)
        assert found, f"rampartd init printed no bootstrap token:\n{init.stdout}\n{init.stderr}"
        self.admin_token = found.group(0)
        self.serve()
        self.ca_cert = self._find_tls_cert()

    def serve(self):
        """Start (or restart) `serve` on the same state directory and port."""
        self._log_file = open(self.log, "a")
        self.proc = subprocess.Popen([str(find_binary("rampartd")), "serve", "--state-dir", str(self.state),
                                      "--listen", f"127.0.0.1:{self.port}", *self.extra_args],
                                     stdout=self._log_file, stderr=subprocess.STDOUT)
        self._wait_ready()

    def kill(self):
        """SIGKILL: no chance to flush or clean up."""
        self.proc.kill()
        self.proc.wait(timeout=30)
        self._log_file.close()

    def _wait_ready(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        for _ in range(200):  # bounded: 200 x 0.05 s
            if self.proc.poll() is not None:
                raise AssertionError(f"rampartd exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/v1/health", context=ctx, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"rampartd did not answer on {self.url}:\n{self.log.read_text()}")

    def _find_tls_cert(self):
        """The self-signed certificate rampartd created in its state directory."""
        if (self.state / "tls" / "cert.pem").exists():
            return self.state / "tls" / "cert.pem"
        candidates = sorted(p for p in self.state.rglob("*.pem")
                            if "CERTIFICATE" in p.read_text(errors="replace") and "tls" in str(p).lower())
        assert candidates, f"no TLS certificate found under {self.state}"
        return candidates[0]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
                raise AssertionError("rampartd did not stop within 30 s of SIGTERM")
            assert self.proc.returncode == 0, f"rampartd exited {self.proc.returncode} on SIGTERM:\n" + \
                self.log.read_text()[-4000:]
        if self.proc:
            self._log_file.close()


class Cli:
    """Runs `rampart` with a private configuration file (RAMPART_CONFIG) and no inherited
    RAMPART_* variables."""

    def __init__(self, config_path):
        self.config = pathlib.Path(config_path)

    def env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAMPART_") or k == "RAMPART_BUILD"}
        env["RAMPART_CONFIG"] = str(self.config)
        if extra:
            env.update(extra)
        return env

    def run(self, *args, code=0, input=None, env=None, timeout=120):
        """Run and assert the exit status CODE (None: any)."""
        proc = subprocess.run([str(find_binary("rampart")), *[a if isinstance(a, bytes) else str(a) for a in args]],
                              input=input, capture_output=True, env=self.env(env), timeout=timeout,
                              text=not any(isinstance(a, bytes) for a in args))
        if not isinstance(proc.stdout, str):
            proc.stdout = proc.stdout.decode(errors="replace")
            proc.stderr = proc.stderr.decode(errors="replace")
        if code is not None:
            assert proc.returncode == code, (f"rampart {args} exited {proc.returncode}, expected {code}:\n"
                                             f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def json(self, *args, **kw):
        proc = self.run(*args, "--output", "json", **kw)
        return json.loads(proc.stdout)

    def login(self, server, token, *extra):
        return self.run("login", "--service", server.url, "--ca-cert", server.ca_cert, "--token-stdin", *extra,
                        input=token + "\n")


def device_key(directory, name):
    """A P-256 identity key pair made with openssl; returns (public PEM path, device ID, base64 DER)."""
    import base64
    import hashlib
    directory = pathlib.Path(directory)
    priv = directory / f"{name}.key.pem"
    pub = directory / f"{name}.pub.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                    str(priv)], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(priv), "-pubout", "-out", str(pub)], check=True,
                   capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", str(pub), "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return pub, hashlib.sha256(der).hexdigest(), base64.b64encode(der).decode()


def api(server, method, path, body=None):
    """A direct API call (for fast setup only; the tests drive the CLI)."""
    ctx = ssl.create_default_context(cafile=str(server.ca_cert))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {server.admin_token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
        return json.loads(r.read() or b"null")
