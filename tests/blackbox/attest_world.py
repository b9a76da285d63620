"""A whole attestation setup from real processes for black-box tests: rampartd with a tenant that
knows an OS bundle, a provisioned device (soft or tpm2) registered and claimed, its security
monitor, the OS bundle measured into PCR 8, and helpers to run rampart-agent or to speak the
attestation protocol by hand (to send hostile requests)."""
import base64
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from conftest import find_binary, run
from service_client import Rampartd
from test_monitor import Monitor

OS_COMPONENT = "0a0b0c0d-1111-4222-8333-444455556666"


def make_key(tmp, name):
    priv, pub = pathlib.Path(tmp) / f"{name}.pem", pathlib.Path(tmp) / f"{name}.pub"
    run("rampart", "image-package", "keygen", "--private-key", priv, "--public-key", pub, check=True)
    return priv, pub


def make_package(tmp, key, kind, name, version, component):
    payload = pathlib.Path(tmp) / f"payload-{name}-{version}"
    payload.mkdir()
    (payload / "data").write_text(f"{name} {version}\n")
    out = pathlib.Path(tmp) / f"{name}-{version}.imagepackage"
    run("rampart", "image-package", "pack", "--type", kind, "--payload-directory", payload, "--component-id",
        component, "--name", name, "--key", key, "--output", out, "--version", str(version), check=True)
    return out.read_bytes()


def openssl_csr(tmp, name, curve=True, extra_ext=None):
    """A key and CSR made with openssl (for hostile CSRs)."""
    key = pathlib.Path(tmp) / f"{name}.key"
    csr = pathlib.Path(tmp) / f"{name}.csr"
    if curve:
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                        str(key)], check=True, capture_output=True)
    else:
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                        str(key)], check=True, capture_output=True)
    cmd = ["openssl", "req", "-new", "-key", str(key), "-subj", "/CN=device", "-out", str(csr)]
    if extra_ext:
        cmd += ["-addext", extra_ext]
    subprocess.run(cmd, check=True, capture_output=True)
    return csr.read_text()


class Device:
    """A provisioned device with its own state directory and monitor."""

    def __init__(self, tmp, name, backend="soft", tcti=None):
        self.tmp = pathlib.Path(tmp)
        self.state = self.tmp / f"dev-{name}"
        self.rundir = pathlib.Path(tempfile.mkdtemp(prefix="rp-att-"))
        os.chmod(self.rundir, 0o755)
        args = ["provision", "--state", self.state, "--rot", backend, "--output", "json"]
        if tcti:
            args += ["--tpm2-tcti", tcti]
        info = json.loads(run("rampart-os", *args, check=True).stdout)
        self.id = info["device_id"]
        self.public_key_pem = info["public_key_pem"]
        extra = ["--allow", f"agent={os.geteuid()}"]
        if tcti:
            extra += ["--tpm2-tcti", tcti]
        self.mon = Monitor(self.state, self.rundir, backend=backend, extra=extra)
        self.sock = self.mon.sock

    def measure_os(self, sha256_hex, version="1"):
        run("rampart-os", "measure", "--socket", self.sock, "--pcr", "8", "--name", "os-bundle", "--version", version,
            "--sha256", sha256_hex, check=True)

    def evidence(self, nonce_hex, images=()):
        out = self.tmp / f"ev-{self.id[:8]}-{nonce_hex[:8]}.bin"
        args = ["attest", "--socket", self.sock, "--nonce", nonce_hex, "--out", out]
        for i in images:
            args += ["--image", i]
        run("rampart-os", *args, check=True)
        return out.read_bytes()

    def stop(self):
        self.mon.stop()
        shutil.rmtree(self.rundir, ignore_errors=True)


class World:
    def __init__(self, tmp):
        self.tmp = pathlib.Path(tmp)
        self.svc = Rampartd(self.tmp).start()
        self.tenant = self.svc.create_tenant("Contoso")
        self.other_tenant = self.svc.create_tenant("Fabrikam")
        priv, pub = make_key(self.tmp, "signer")
        for t in (self.tenant, self.other_tenant):
            r = self.svc.request("POST", f"/v1/tenants/{t}/image-signing-keys",
                                 {"name": "release", "public_key_pem": pub.read_text()})
            assert r.status == 201, r
        self.os_image = make_package(self.tmp, priv, "os-bundle", "rampart-os", 3, OS_COMPONENT)
        self.os_sha = hashlib.sha256(self.os_image).hexdigest()
        r = self.upload(self.tenant, self.os_image)
        self.os_image_id = r["image_id"]
        self.groups = {}
        r = self.svc.request("POST", f"/v1/tenants/{self.tenant}/products", {"name": "Widget"})
        assert r.status == 201, r
        self.product = r.json["product_id"]
        # A product comes with the default groups (Development, Field Test, Production).
        r = self.svc.request("GET", f"/v1/tenants/{self.tenant}/products/{self.product}/device-groups")
        assert r.status == 200, r
        self.groups = {g["name"]: g["device_group_id"] for g in r.json["items"]}
        assert "Development" in self.groups and "Field Test" in self.groups, self.groups
        self.devices = []
        self.agents = []

    @property
    def ca_file(self):
        return self.svc.state / "tls" / "cert.pem"

    @property
    def url(self):
        return f"https://127.0.0.1:{self.svc.port}"

    def upload(self, tenant, data):
        r = self.svc.request("POST", f"/v1/tenants/{tenant}/images", data, content_type="application/octet-stream")
        assert r.status == 201, r
        return r.json

    def device(self, name, register=True, claim=True, group="Field Test", measure=True, backend="soft", tcti=None,
               tenant=None):
        d = Device(self.tmp, name, backend=backend, tcti=tcti)
        self.devices.append(d)
        if register:
            r = self.svc.request("POST", "/v1/devices", {"device_id": d.id, "public_key_pem": d.public_key_pem})
            assert r.status == 201, r
        if claim:
            t = tenant or self.tenant
            body = {"device_id": d.id}
            if group and t == self.tenant:
                body["device_group_id"] = self.groups[group]
            r = self.svc.request("POST", f"/v1/tenants/{t}/devices/claim", body)
            assert r.status in (200, 201), r
        if measure:
            d.measure_os(self.os_sha)
        return d

    def agent_once(self, dev, *extra, check=None):
        return run("rampart-agent", "--state", dev.state, "--monitor-socket", dev.sock, "--service", self.url,
                   "--service-ca", self.ca_file, "--once", *extra, check=check)

    def agent_daemon(self, dev, *extra):
        log = open(self.tmp / f"agent-{dev.id[:8]}.log", "w+")
        proc = subprocess.Popen([str(find_binary("rampart-agent")), "--state", str(dev.state), "--monitor-socket",
                                 str(dev.sock), "--service", self.url, "--service-ca", str(self.ca_file), *extra],
                                stdout=log, stderr=subprocess.STDOUT)
        self.agents.append((proc, log))
        return proc, log

    # The protocol by hand.
    def challenge(self, device_id):
        return self.svc.request("POST", "/v1/attestation/challenge", {"device_id": device_id}, token=None)

    def submit(self, device_id, nonce_hex, evidence, client_csr=None, api_csr=None, raw=None):
        body = raw if raw is not None else {
            "device_id": device_id, "nonce": nonce_hex, "evidence": base64.b64encode(evidence).decode(),
            "client_csr": client_csr or openssl_csr(self.tmp, f"c-{nonce_hex[:8]}"),
            "device_api_csr": api_csr or openssl_csr(self.tmp, f"a-{nonce_hex[:8]}"),
        }
        return self.svc.request("POST", "/v1/attestation/evidence", body, token=None)

    def audit(self, tenant=None):
        r = self.svc.request("GET", f"/v1/tenants/{tenant or self.tenant}/audit?limit=1000")
        assert r.status == 200, r
        return r.json["items"]

    def close(self):
        for proc, log in self.agents:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
            log.close()
        for d in self.devices:
            d.stop()
        assert self.svc.stop() == 0, self.svc.log.read_text()


@pytest.fixture
def world(tmp_path):
    """A fresh World per test (import this fixture into a test module to use it)."""
    w = World(tmp_path)
    yield w
    w.close()
