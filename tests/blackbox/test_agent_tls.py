"""What TLS the device agent offers the service (src/device/agent/agent_tls.h): AES-128-GCM with
SHA-256 first, then AES-256-GCM and ChaCha20-Poly1305, with ECDHE, TLS 1.2 at least. A TLS server
in the test, with the service's certificate and the client's order deciding, records what the
agent's attestation connection negotiates and then hangs up."""
import os
import socket
import ssl
import threading

import pytest

from attest_world import world  # noqa: F401 (the fixture)
from conftest import run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the monitor tests need root (peer UIDs)")


def negotiated_by_agent(world, dev, tls12_only):
    """Run one agent round against a server that takes the client's preference; return its
    (cipher, version) or the error that ended the handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(world.svc.state / "tls" / "cert.pem", world.svc.state / "tls" / "key.pem")
    ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if tls12_only:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(60)
    seen = []

    def serve():
        try:
            raw, _ = listener.accept()
        except OSError as e:
            seen.append(e)
            return
        with raw:
            raw.settimeout(30)
            try:
                with ctx.wrap_socket(raw, server_side=True) as tls:
                    seen.append((tls.cipher()[0], tls.version()))
            except (ssl.SSLError, OSError) as e:
                seen.append(e)

    t = threading.Thread(target=serve)
    t.start()
    try:
        run("rampart-agent", "--state", dev.state, "--monitor-socket", dev.sock, "--service",
            f"https://127.0.0.1:{listener.getsockname()[1]}", "--service-ca", world.ca_file, "--once",
            check=False, timeout=120)
    finally:
        t.join(timeout=90)
        listener.close()
    assert seen, "the agent never connected"
    return seen[0]


@pytest.mark.parametrize("tls12_only,expect", [
    (False, ("TLS_AES_128_GCM_SHA256", "TLSv1.3")),
    (True, ("ECDHE-ECDSA-AES128-GCM-SHA256", "TLSv1.2")),
])
def test_agent_prefers_aes128_gcm(world, tls12_only, expect):
    dev = world.device("tls")
    assert negotiated_by_agent(world, dev, tls12_only) == expect
