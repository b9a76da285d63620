"""rampartd's own command line: --help/--version, init printing the token once, the route table,
configuration file plus flags (flags win), unknown settings refused, JSON logs, clean SIGTERM."""
import json
import signal

from conftest import run
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


def test_given_certificate_is_used(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    import subprocess
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=given",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    svc = Rampartd(tmp_path, cafile=cert)
    svc.init()
    svc.start("--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert svc.request("GET", "/v1/health", token=None).status == 200
        assert not (svc.state / "tls" / "cert.pem").exists()
    finally:
        assert svc.stop() == 0


def test_sigint_stops_cleanly(tmp_path):
    svc = Rampartd(tmp_path).start()
    assert svc.stop(signal.SIGINT) == 0
