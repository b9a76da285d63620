"""Any cloud: a real Mosquitto broker that trusts only the tenant CA chain (downloaded from
rampartd) and requires client certificates accepts the device's 24 h certificate from attestation,
and refuses an expired certificate, another tenant's certificate and no certificate at all."""
import os
import pwd
import pathlib
import re
import shutil
import socket
import subprocess
import time

import pytest

from attest_world import World
from conftest import free_port, run

MOSQUITTO = shutil.which("mosquitto") or (os.path.exists("/usr/sbin/mosquitto") and "/usr/sbin/mosquitto")
PUB = shutil.which("mosquitto_pub")
pytestmark = [
    pytest.mark.skipif(not MOSQUITTO or not PUB, reason="mosquitto and mosquitto-clients are not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the monitor tests need root (peer UIDs)"),
]


def broker_cert(tmp):
    """A throwaway CA and a server certificate for 127.0.0.1, made with openssl."""
    tmp = pathlib.Path(tmp)

    def ossl(*args):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)

    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         tmp / "bca.key", "-out", tmp / "bca.pem", "-days", "2", "-subj", "/CN=broker test CA")
    ossl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         tmp / "broker.key", "-out", tmp / "broker.csr", "-subj", "/CN=127.0.0.1")
    (tmp / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    ossl("x509", "-req", "-in", tmp / "broker.csr", "-CA", tmp / "bca.pem", "-CAkey", tmp / "bca.key",
         "-CAcreateserial", "-out", tmp / "broker.pem", "-days", "2", "-extfile", tmp / "ext.cnf")
    return tmp / "bca.pem", tmp / "broker.pem", tmp / "broker.key"


class Broker:
    def __init__(self, tmp, cafile):
        self.tmp = pathlib.Path(tmp)
        self.port = free_port()
        self.bca, cert, key = broker_cert(tmp)
        conf = self.tmp / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"cafile {cafile}\ncertfile {cert}\nkeyfile {key}\n"
            "require_certificate true\nuse_identity_as_username true\n"
            "allow_anonymous false\npersistence false\n"
            # Run as whoever started it (root in CI would otherwise switch to "mosquitto", which
            # cannot read the test's private directory).
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
            f"log_dest file {self.tmp / 'mosquitto.log'}\nlog_type all\n")
        for p in (cafile, cert, key):
            os.chmod(p, 0o644)
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        for _ in range(200):  # bounded wait for the listener
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.proc.poll() is None, self.proc.stderr.read().decode()
                time.sleep(0.05)
        raise AssertionError("mosquitto did not start")

    def publish(self, cert=None, key=None):
        args = [PUB, "-h", "127.0.0.1", "-p", str(self.port), "--cafile", str(self.bca), "-t", "rampart/test",
                "-m", "hello from a device", "-q", "1", "-i", f"c{time.monotonic_ns()}"]
        if cert:
            args += ["--cert", str(cert), "--key", str(key)]
        return subprocess.run(args, capture_output=True, text=True, timeout=60)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def test_mosquitto_accepts_attested_device_and_refuses_others(world, tmp_path):
    dev = world.device("mqtt")
    world.agent_once(dev, check=True)
    agent = dev.state / "agent"

    # The chain relying parties install, as the CLI downloads it.
    chain = tmp_path / "tenant-chain.pem"
    r = world.svc.request("GET", f"/v1/tenants/{world.tenant}/ca-chain")
    assert r.status == 200, r
    chain.write_bytes(r.body)
    assert b"BEGIN CERTIFICATE" in r.body

    broker = Broker(tmp_path, chain)
    try:
        ok = broker.publish(agent / "client.pem", agent / "client.key")
        assert ok.returncode == 0, ok.stdout + ok.stderr

        # The device-API credential works too (it is a client certificate of the same tenant), but
        # applications get client.pem; that is what DeviceAuth hands out.
        bundle = agent / "deviceauth" / "client.pem"
        ok = broker.publish(bundle, bundle)
        assert ok.returncode == 0, ok.stdout + ok.stderr

        # Expired: issued by the same tenant CA, its validity moved to the day before yesterday
        # (re-signed with the tenant CA key by the test tool).
        ca_dir = world.svc.state / "ca" / world.tenant
        now = int(time.time())
        run("attest-ca-tool", "--ca-dir", ca_dir, "--tenant", world.tenant, "--device-id", dev.id, "--now", now,
            "--validity", 86400, "--expired", "--key-out", tmp_path / "old.key", "--cert-out", tmp_path / "old.pem",
            check=True)
        v = subprocess.run(["openssl", "verify", "-CAfile", str(chain),
                            "-no_check_time", str(tmp_path / "old.pem")], capture_output=True, text=True)
        assert v.returncode == 0, "the expired test certificate must otherwise be genuine: " + v.stdout + v.stderr
        assert subprocess.run(["openssl", "x509", "-checkend", "0", "-noout", "-in", str(tmp_path / "old.pem")],
                              capture_output=True).returncode != 0, "the test certificate is not expired"
        bad = broker.publish(tmp_path / "old.pem", tmp_path / "old.key")
        assert bad.returncode != 0, "an expired certificate was accepted"

        # Another tenant's certificate (Fabrikam's CA, valid now).
        run("attest-ca-tool", "--ca-dir", world.svc.state / "ca" / world.other_tenant, "--tenant",
            world.other_tenant, "--device-id", dev.id, "--now", now, "--validity", 86400, "--key-out",
            tmp_path / "fab.key", "--cert-out", tmp_path / "fab.pem", check=True)
        bad = broker.publish(tmp_path / "fab.pem", tmp_path / "fab.key")
        assert bad.returncode != 0, "another tenant's certificate was accepted"

        # No certificate.
        bad = broker.publish()
        assert bad.returncode != 0, "a client without a certificate was accepted"
        # The client only sees the broker drop the connection (how depends on timing); the broker's
        # log, checked below, says why each was refused.

        # The refusals were the handshake's, not a broker that went away: it still serves the device.
        assert broker.proc.poll() is None, "mosquitto exited"
        ok = broker.publish(agent / "client.pem", agent / "client.key")
        assert ok.returncode == 0, ok.stdout + ok.stderr
    finally:
        broker.stop()
    log = (tmp_path / "mosquitto.log").read_text(errors="replace")
    assert dev.id in log or "New client connected" in log
    # Expired and other tenant: the chain check refused them; no certificate: refused for that.
    assert len(re.findall(r"OpenSSL Error\[0\]: .*certificate verify failed", log)) == 2, log
    assert len(re.findall(r"OpenSSL Error\[0\]: .*peer did not return a certificate", log)) == 1, log
