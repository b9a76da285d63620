"""bench/attest's load tool against a real rampartd: its simulated devices complete full
attestations (challenge, evidence, a client certificate back) over fresh TLS connections, and the
JSON line it prints counts them truthfully. Speed is bench/attest/run.sh's business, not checked here.
"""
import json

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
