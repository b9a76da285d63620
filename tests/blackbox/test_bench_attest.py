"""bench/attest's load tool against a real rampartd: its simulated devices complete full
attestations (challenge, evidence, a client certificate back) over fresh TLS connections, and the
JSON line it prints counts them truthfully. Speed is bench/attest/run.sh's business, not checked here.
"""
import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import run
from service_client import Rampartd


@pytest.mark.parametrize("connections", [1, 2])
def test_attest_load_completes_attestations_without_failures(tmp_path, connections):
    svc = Rampartd(tmp_path).start()
    try:
        proc = run("attest-load", "--service", f"https://127.0.0.1:{svc.port}",
                   "--service-ca", svc.state / "tls" / "cert.pem", "--token", svc.token,
                   "--seconds", 1, "--threads", 2, "--devices", 3, "--connections", connections,
                   "--service-pid", svc.proc.pid, timeout=120)
    finally:
        svc.stop()
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["failures"] == 0, proc.stderr
    assert result["attestations"] > 0
    # Every attestation opened exactly the connections it was told to: one for both requests, or
    # one per request.
    assert result["connections"] == pytest.approx(connections)
    assert result["load_cpu_ms"] > 0 and result["service_cpu_ms"] >= 0


def test_tls_handshake_bench_measures_both_servers():
    """bench/attest/tls_handshake.sh drives a real GnuTLS and a real OpenSSL server and prints a CPU
    cost per handshake for each (numbers not judged here: speed is the bench's business)."""
    script = Path(__file__).resolve().parents[2] / "bench" / "attest" / "tls_handshake.sh"
    proc = subprocess.run(["bash", str(script), "1", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"GnuTLS ([0-9.]+) ms \((\d+) conns\), OpenSSL ([0-9.]+) ms \((\d+) conns\)", proc.stdout)
    assert m, proc.stdout
    assert float(m.group(1)) > 0 and int(m.group(2)) > 0 and float(m.group(3)) > 0 and int(m.group(4)) > 0
