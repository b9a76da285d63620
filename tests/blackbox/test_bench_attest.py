"""bench/attest's load tool against a real rampartd: its simulated devices complete full
attestations (evidence bound to its connection or after a challenge, a client certificate back) over
fresh TLS connections, and the
JSON line it prints counts them truthfully, over either TLS client (GnuTLS or libssl), and a service
certificate that fails verification fails every attestation. Speed is bench/attest/run.sh's
business, not checked here.
"""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import run
from service_client import Rampartd


def attest_load(tmp_path, *args):
    svc = Rampartd(tmp_path).start()
    try:
        return run("attest-load", "--service", f"https://127.0.0.1:{svc.port}",
                   "--service-ca", svc.state / "tls" / "cert.pem", "--token", svc.token,
                   "--seconds", 1, "--threads", 2, "--devices", 3, "--service-pid", svc.proc.pid, *args,
                   timeout=120)
    finally:
        svc.stop()


@pytest.mark.parametrize("tls", ["gnutls", "openssl"])
@pytest.mark.parametrize("connections,nonce", [(1, "tls-exporter"), (1, "challenge"), (2, "challenge")])
def test_attest_load_completes_attestations_without_failures(tmp_path, connections, nonce, tls):
    proc = attest_load(tmp_path, "--connections", connections, "--tls", tls, "--nonce", nonce)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["tls"] == tls and result["nonce"] == nonce
    assert result["failures"] == 0, proc.stderr
    assert result["attestations"] > 0
    # Every attestation opened exactly the connections it was told to: one for both requests, or
    # one per request.
    assert result["connections"] == pytest.approx(connections)
    assert result["load_cpu_ms"] > 0 and result["service_cpu_ms"] >= 0


def test_tls_handshake_bench_measures_rampartd_and_both_reference_servers():
    """bench/attest/tls_handshake.sh drives rampartd and a real GnuTLS and OpenSSL server with the
    same certificate and prints a CPU cost per handshake for each, then the attestation floor
    against openssl speed (numbers not judged here: speed is the bench's business)."""
    build = os.environ.get("RAMPART_BUILD", "build")
    script = Path(__file__).resolve().parents[2] / "bench" / "attest" / "tls_handshake.sh"
    proc = subprocess.run(["bash", str(script), "1", "1", build], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "HS_CLIENTS": "2"}, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"rampartd ([0-9.]+) ms \((\d+) conns\), GnuTLS ([0-9.]+) ms \((\d+) conns\), "
                  r"OpenSSL ([0-9.]+) ms \((\d+) conns\)", proc.stdout)
    assert m, proc.stdout
    for i in range(1, 7, 2):
        assert float(m.group(i)) > 0 and int(m.group(i + 1)) > 0, proc.stdout
    assert re.search(r"attestation floor at rampartd: bare handshake [0-9.]+ ms \+ evidence ECDSA [0-9.]+ ms "
                     r"\(2 signs \+ 3 verifies\) = [0-9.]+ ms, \d+ % of the [0-9.]+ ms", proc.stdout), proc.stdout


@pytest.mark.parametrize("pin", ["0", "1"])
def test_attest_bench_script_runs_pinned_and_shared(pin):
    """bench/attest/run.sh end to end (rampartd, attest-load, openssl speed): with ATTEST_PIN=1 the
    service runs on CPU 0 alone and the ceiling is one core's; the rates are not judged here."""
    build = os.environ.get("RAMPART_BUILD", "build")
    script = Path(__file__).resolve().parents[2] / "bench" / "attest" / "run.sh"
    proc = subprocess.run(["bash", str(script), build, "1", "2", "3"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "ATTEST_PIN": pin},
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"measured: \d+ attestations/s \(0 failures\)", proc.stdout), proc.stdout
    if pin == "1" and os.cpu_count() >= 2:
        assert "pinned: rampartd alone on CPU 0" in proc.stdout and "one core" in proc.stdout
    else:
        assert "pinned" not in proc.stdout


def test_attest_load_defaults_to_gnutls_and_bound_evidence(tmp_path):
    proc = attest_load(tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["tls"] == "gnutls" and result["failures"] == 0 and result["attestations"] > 0
    assert result["nonce"] == "tls-exporter" and result["connections"] == pytest.approx(1)


def test_attest_load_refuses_two_connections_with_a_bound_nonce(tmp_path):
    proc = attest_load(tmp_path, "--connections", 2)
    assert proc.returncode == 2 and "--connections 2 needs --nonce challenge" in proc.stderr


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 that did not sign the service's certificate."""
    d = tmp_path_factory.mktemp("other-ca")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", d / "key.pem", "-out", d / "cert.pem", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1"], check=True, capture_output=True)
    return d / "cert.pem"


@pytest.mark.parametrize("tls", ["gnutls", "openssl"])
@pytest.mark.parametrize("wrong", ["ca", "ip", "dns"])
def test_attest_load_fails_every_attestation_when_the_service_is_not_verified(tmp_path, other_ca, tls, wrong):
    """Setup runs with the right CA; the timed attestations then trust another CA, or expect another
    IP address or host name than the service's certificate holds: none may succeed."""
    args = {"ca": ["--attest-ca", other_ca], "ip": ["--attest-name", "127.0.0.9"],
            "dns": ["--attest-name", "other.invalid"]}[wrong]
    proc = attest_load(tmp_path, "--tls", tls, *args)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["tls"] == tls
    assert result["attestations"] == 0 and result["failures"] > 0, proc.stdout
    assert "TLS handshake with 127.0.0.1" in proc.stderr, proc.stderr


def test_attest_load_accepts_the_services_other_names(tmp_path):
    """The service's certificate also names localhost and ::1: expecting either still verifies."""
    for name in ("localhost", "::1"):
        d = tmp_path / name.replace(":", "_")
        d.mkdir()
        proc = attest_load(d, "--attest-name", name)
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result["failures"] == 0 and result["attestations"] > 0, proc.stderr


def test_ca_issue_bench_issues_certificates_and_prints_the_ratio():
    """bench/ca_issue issues real device certificates at a fresh tenant CA and prints what one
    costs in signatures: at least one, as every certificate carries an ECDSA signature (a run that
    issued nothing, or a ratio below one, would mean it measured something else)."""
    proc = run("ca_issue", "0.3", timeout=120)
    assert proc.returncode == 0, proc.stderr
    issued = re.search(r"certificates issued: (\d+)/s \((\d+)-byte PEM each\)", proc.stdout)
    ratio = re.search(r"one certificate costs ([0-9.]+) signatures", proc.stdout)
    assert issued and ratio, proc.stdout
    assert int(issued.group(1)) > 0 and int(issued.group(2)) > 500
    assert float(ratio.group(1)) >= 1.0
