"""Remote attestation with the tpm2 root of trust against swtpm: the evidence carries a real
TPM2_Quote over PCRs 8..15 that the service replays from the measurement log; the agent gets its
certificates; a quote that does not match the log, or whose signature is broken, is refused."""
import os
import subprocess

import pytest

from attest_world import World
from test_tpm2 import SWTPM, swtpm  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.skipif(SWTPM is None, reason="swtpm is not installed (apt-get install swtpm)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the monitor tests need root (peer UIDs)"),
]


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def test_tpm2_device_attests_with_a_real_quote(world, swtpm):  # noqa: F811
    dev = world.device("tpm", backend="tpm2", tcti=swtpm)
    # By hand first, to see what the service verified.
    nonce = world.challenge(dev.id).json["nonce"]
    r = world.submit(dev.id, nonce, dev.evidence(nonce))
    assert r.status == 200, r
    assert r.json["backend"] == "tpm2" and r.json["insecure"] is False
    assert r.json["os_bundle"]["sha256"] == world.os_sha
    # Then the agent.
    world.agent_once(dev, check=True)
    assert (dev.state / "agent" / "client.pem").exists()
    entries = [e for e in world.audit() if e["action"] == "device.attest" and e["target"] == dev.id]
    assert entries[-1]["result"] == "success" and "tpm2" in entries[-1]["detail"]
    assert "INSECURE" not in entries[-1]["detail"]


def test_tpm2_quote_that_does_not_match_the_log_is_refused(world, swtpm):  # noqa: F811
    """PCR 8 extended behind the monitor's back: the quote is genuine and signed by the device's
    key, but its PCR digest is not what the measurement log replays to."""
    dev = world.device("tpmq", backend="tpm2", tcti=swtpm)
    extend = subprocess.run(["tpm2_pcrextend", "8:sha256=" + "ab" * 32], capture_output=True, text=True,
                            timeout=60, env=dict(os.environ, TPM2TOOLS_TCTI=swtpm))
    assert extend.returncode == 0, extend.stderr
    nonce = world.challenge(dev.id).json["nonce"]
    r = world.submit(dev.id, nonce, dev.evidence(nonce))
    assert r.status == 422 and "attestation refused (measurements_mismatch)" in r.json["error"]["message"], r
    entries = [e for e in world.audit() if e["action"] == "device.attest" and e["target"] == dev.id]
    assert [e["result"] for e in entries] == ["refused"], entries
    assert "measurements_mismatch" in entries[0]["detail"], entries


def test_tpm2_quote_with_a_broken_signature_is_refused(world, swtpm):  # noqa: F811
    dev = world.device("tpmq", backend="tpm2", tcti=swtpm)
    nonce = world.challenge(dev.id).json["nonce"]
    ev = bytearray(dev.evidence(nonce))
    # Flip a bit in the TPMS_ATTEST (its qualifiedSigner, after the TPM_GENERATED magic): the TPM's
    # signature over the quote, the evidence's only signature, no longer verifies.
    at = ev.find(bytes.fromhex("ff544347"))
    assert at > 0
    ev[at + 40] ^= 0x01
    r = world.submit(dev.id, nonce, bytes(ev))
    assert r.status == 422 and "attestation refused (evidence_signature)" in r.json["error"]["message"], r
    entries = [e for e in world.audit() if e["action"] == "device.attest" and e["target"] == dev.id]
    assert [e["result"] for e in entries] == ["refused"], entries
