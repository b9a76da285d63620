"""rampartd's own command line: --help/--version, init printing the token once, the route table,
configuration file plus flags (flags win), unknown settings refused, JSON logs, clean SIGTERM."""
import json
import signal

import pytest

from conftest import free_port, run
from service_client import Rampartd, TOKEN_RE


def test_help_version_and_unknown_command():
    assert "serve" in run("rampartd", "--help", check=True).stdout
    assert run("rampartd", "--version", check=True).stdout.startswith("rampartd ")
    r = run("rampartd", "frobnicate", check=False)
    assert "unknown command" in r.stderr


def test_init_prints_token_once_and_stores_only_its_hash(tmp_path):
    state = tmp_path / "state"
    first = run("rampartd", "init", "--state-dir", state, check=True)
    token = TOKEN_RE.search(first.stdout).group(0)
    second = run("rampartd", "init", "--state-dir", state, check=True)
    assert not TOKEN_RE.search(second.stdout) and "initialised already" in second.stderr
    db = (state / "rampart.db").read_bytes()
    assert token.encode() not in db and token[4:].encode() not in db
    assert (state / "rampart.db").stat().st_mode & 0o077 == 0
    assert state.stat().st_mode & 0o077 == 0


def test_config_file_and_flag_override(tmp_path):
    conf = tmp_path / "rampartd.conf"
    conf.write_text("# test\nlog_format = json\nthreads = 2\nlisten = 127.0.0.1:1\n")
    svc = Rampartd(tmp_path)
    svc.init()
    # --listen (added by start) overrides the file's unusable port 1.
    svc.start("--config", str(conf))
    assert svc.request("GET", "/v1/whoami").status == 200
    assert svc.stop(signal.SIGTERM) == 0
    lines = [json.loads(line) for line in svc.log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("event") == "service.stopped" for line in lines), svc.log.read_text()


def test_bad_configuration_is_refused(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("colour = blue\n")
    r = run("rampartd", "serve", "--state-dir", tmp_path / "s", "--config", conf, check=False)
    assert r.returncode == 2 and "unknown setting" in r.stderr
    r = run("rampartd", "serve", "--state-dir", tmp_path / "s", "--listen", "nowhere", check=False)
    assert r.returncode == 2 and "HOST:PORT" in r.stderr
    r = run("rampartd", "serve", "--state-dir", tmp_path / "s", "--tls-cert", conf, check=False)
    assert r.returncode == 2 and "tls-key" in r.stderr


def make_certificate(tmp_path, name, newkey):
    cert, key = tmp_path / f"{name}-c.pem", tmp_path / f"{name}-k.pem"
    import subprocess
    subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=given", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


# P-256 signs its handshakes through libcrypto (tls_key.c); other key types through the TLS library.
KEY_TYPES = {"p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
             "rsa": ["-newkey", "rsa:2048"], "ed25519": ["-newkey", "ed25519"]}


@pytest.mark.parametrize("key_type", sorted(KEY_TYPES))
def test_given_certificate_is_used(tmp_path, key_type):
    cert, key = make_certificate(tmp_path, key_type, KEY_TYPES[key_type])
    svc = Rampartd(tmp_path, cafile=cert)
    svc.init()
    svc.start("--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert svc.request("GET", "/v1/health", token=None).status == 200
        assert not (svc.state / "tls" / "cert.pem").exists()
    finally:
        assert svc.stop() == 0


def test_certificate_with_another_key_is_refused_at_start(tmp_path):
    cert, _ = make_certificate(tmp_path, "one", KEY_TYPES["p256"])
    _, other_key = make_certificate(tmp_path, "two", KEY_TYPES["p256"])
    run("rampartd", "init", "--state-dir", tmp_path / "s", check=True)
    r = run("rampartd", "serve", "--state-dir", tmp_path / "s", "--listen", f"127.0.0.1:{free_port()}", "--tls-cert", cert,
            "--tls-key", other_key, check=False, timeout=30)
    assert r.returncode != 0
    assert "not the key of the TLS certificate" in r.stderr, r.stderr


def test_sigint_stops_cleanly(tmp_path):
    svc = Rampartd(tmp_path).start()
    assert svc.stop(signal.SIGINT) == 0
