"""rampartd's TLS policy, seen from clients: TLS 1.2 and 1.3 with AEAD ciphers and ECDHE only.
A client that offers only CBC suites or static-RSA key exchange (no forward secrecy) is refused at
the handshake; the usual AEAD + ECDHE suites connect, with the service's P-256 certificate and
with an operator's RSA certificate."""
import socket
import ssl

import pytest

from service_client import Rampartd
from test_service_cli import KEY_TYPES, make_certificate


def handshake(port, cafile, ciphers=None, tls12=False):
    """The negotiated (cipher, version), or the ssl.SSLError that ended the handshake."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if ciphers:
        ctx.set_ciphers(ciphers)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                return tls.cipher()[0], tls.version()
        except ssl.SSLError as e:
            return e


@pytest.fixture(scope="module")
def ecdsa_service(tmp_path_factory):
    svc = Rampartd(tmp_path_factory.mktemp("tls-ecdsa"))
    svc.init()
    svc.start()
    yield svc, svc.state / "tls" / "cert.pem"
    assert svc.stop() == 0


@pytest.fixture(scope="module")
def rsa_service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls-rsa")
    cert, key = make_certificate(tmp, "rsa", KEY_TYPES["rsa"])
    svc = Rampartd(tmp, cafile=cert)
    svc.init()
    svc.start("--tls-cert", str(cert), "--tls-key", str(key))
    yield svc, cert
    assert svc.stop() == 0


@pytest.mark.parametrize("ciphers,tls12,expect", [
    (None, False, ("TLS_AES_256_GCM_SHA384", "TLSv1.3")),
    ("ECDHE-ECDSA-AES128-GCM-SHA256", True, ("ECDHE-ECDSA-AES128-GCM-SHA256", "TLSv1.2")),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", True, ("ECDHE-ECDSA-CHACHA20-POLY1305", "TLSv1.2")),
])
def test_aead_with_ecdhe_connects(ecdsa_service, ciphers, tls12, expect):
    svc, cafile = ecdsa_service
    assert handshake(svc.port, cafile, ciphers, tls12) == expect


@pytest.mark.parametrize("ciphers", ["ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256"])
def test_cbc_suites_are_refused(ecdsa_service, ciphers):
    svc, cafile = ecdsa_service
    assert isinstance(handshake(svc.port, cafile, ciphers, tls12=True), ssl.SSLError)
    # The same client with an AEAD suite beside them is served, with the AEAD suite.
    assert handshake(svc.port, cafile, f"{ciphers}:ECDHE-ECDSA-AES128-GCM-SHA256", tls12=True) == \
        ("ECDHE-ECDSA-AES128-GCM-SHA256", "TLSv1.2")


@pytest.mark.parametrize("ciphers", ["AES128-GCM-SHA256", "DHE-RSA-AES128-GCM-SHA256"])
def test_key_exchange_without_ecdhe_is_refused(rsa_service, ciphers):
    svc, cafile = rsa_service
    assert isinstance(handshake(svc.port, cafile, ciphers, tls12=True), ssl.SSLError)
    assert handshake(svc.port, cafile, "ECDHE-RSA-AES128-GCM-SHA256", tls12=True) == \
        ("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2")
