"""The device agent's update round through real processes: rampartd, the security monitor, the
agent daemon and (as root) the application manager daemon. After attesting, the agent learns its
group from the service, checks for updates, installs the deployed app through the application
manager's control socket and claims it in its next evidence; `rampart device update --now` asks
for a check through the device-local API; development mode pauses cloud app updates."""
import json
import os
import shutil
import time

import pytest

from attest_world import World, make_package
from conftest import find_binary, run

HELLO_CID = "4780b14f-8b59-4715-810e-a021efdabec8"
BLINK_CID = "5b0e6a1c-2f3d-4e5f-8a9b-0c1d2e3f4a5b"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def wait_for(predicate, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()
    # The agents have exited: a sanitizer build reports leaks and errors into their logs.
    for log in list(tmp_path.glob("agent-*.log")) + list(tmp_path.glob("appmgr.log")):
        text = log.read_text()
        assert "Sanitizer" not in text and "runtime error" not in text, text


def trust_signer(w, dev):
    """The device trusts the tenant's release key (the World's signer)."""
    (dev.state / "trust").mkdir(exist_ok=True)
    shutil.copy(w.tmp / "signer.pub", dev.state / "trust" / "signer.pub")


def deploy(w, *packages):
    ids = [w.upload(w.tenant, p)["image_id"] for p in packages]
    r = w.svc.request("POST", f"/v1/tenants/{w.tenant}/device-groups/{w.groups['Field Test']}/deployments",
                      {"image_ids": ids})
    assert r.status == 201, r
    return ids


def agent_status(sock):
    proc = run("rampart", "agent", "status", "--socket", sock, "--output", "json")
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def update_now(sock, check=None):
    proc = run("rampart", "device", "update", "--now", "--socket", sock, "--output", "json", check=check,
               timeout=300)
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
    return proc


def test_update_now_installs_and_evidence_claims_nothing_unknown(world, tmp_path):
    """Without an application manager the verified app is staged; `device update --now` runs a check."""
    w = world
    dev = w.device("d1")
    trust_signer(w, dev)
    deploy(w)  # an empty deployment: the group's director exists and targets nothing
    sock = str(dev.rundir / "agent.sock")
    proc, log = w.agent_daemon(dev, "--socket", sock)
    assert wait_for(lambda: agent_status(sock).get("update", {}).get("ran")), open(log.name).read()
    st = agent_status(sock)
    assert st["ok"] is True and st["update"]["ok"] is True, st
    assert st["update"]["targets"] == 0, st
    # The agent learned its group from the service (GET /v1/device/self) for the update client.
    cfg = json.loads((dev.state / "update" / "config.json").read_text())
    assert cfg["device_group_id"] == w.groups["Field Test"] and cfg["tenant_id"] == w.tenant, cfg

    app = make_package(tmp_path, w.tmp / "signer.pem", "application", "blink", 4, BLINK_CID)
    deploy(w, app)
    out = update_now(sock, check=True)
    rep = json.loads(out.stdout)
    assert rep["update"]["ok"] is True and rep["update"]["installed"] == 1, rep
    assert (dev.state / "update" / "apps" / f"{BLINK_CID}.rpkg").read_bytes() == app
    # The check ran in the lean update worker, and the agent reports that worker's peak memory.
    assert "update checks run in " in open(log.name).read() and "rampart-agent-update" in open(log.name).read()
    assert 0 < rep["update"]["worker_peak_rss_kib"] < 64 * 1024, rep
    # A second check finds nothing new.
    rep = json.loads(update_now(sock, check=True).stdout)
    assert rep["update"]["installed"] == 0 and rep["update"]["skipped"] == 1, rep
    # Staged apps are not claimed (the agent did not install them): attestation still succeeds.
    run("rampart", "agent", "attest", "--socket", sock, check=True)
    assert "agent.update.requested" in open(log.name).read()


def test_update_now_usage_and_disabled(world):
    w = world
    dev = w.device("d2")
    sock = str(dev.rundir / "agent.sock")
    proc = run("rampart", "device", "update", "--now", "--device", dev.id, "--socket", sock)
    assert proc.returncode == 64, proc.stderr
    w.agent_daemon(dev, "--socket", sock, "--no-update")
    assert wait_for(lambda: agent_status(sock).get("ok") is True)
    proc = update_now(sock, check=False)
    assert "updates are disabled" in proc.stderr, proc.stderr
    # Nothing reaches the service's device API for updates.
    assert not (dev.state / "update" / "config.json").exists()


def test_update_check_failure_is_reported(world):
    """A device whose update trust is broken reports the failed check; attestation is unaffected."""
    w = world
    dev = w.device("d3")
    # The device's trusted director root is damaged (a group without a deployment is no failure:
    # the service serves it signed, empty director metadata).
    director = dev.state / "update" / "tuf" / "director"
    director.mkdir(parents=True, exist_ok=True)
    (dev.state / "update" / "config.json").write_text(json.dumps(
        {"tenant_id": w.tenant, "device_group_id": w.groups["Field Test"], "bootstrap_root": True}))
    (director / "root.json").write_text("{not json")
    sock = str(dev.rundir / "agent.sock")
    w.agent_daemon(dev, "--socket", sock)
    assert wait_for(lambda: agent_status(sock).get("update", {}).get("ran"))
    st = agent_status(sock)
    assert st["ok"] is True, st
    proc = update_now(sock, check=False)
    assert proc.returncode != 0 and "update check failed" in proc.stderr, proc.stderr
    assert "director: loading the trusted root" in proc.stderr, proc.stderr


class Appmgr:
    def __init__(self, tmp, trust_key):
        self.state = tmp / "appmgr-state"
        self.sock = str(tmp / "appmgr.sock")
        self.cgroup = f"rampart-agent-test-{os.getpid()}-{int(time.monotonic() * 1000) % 100000}"
        import subprocess
        self.log = open(tmp / "appmgr.log", "w+")
        self.proc = subprocess.Popen([str(find_binary("rampart-appmgr")), "--state", str(self.state), "--trust-key",
                                      str(trust_key), "--cgroup-parent", self.cgroup, "daemon", "--socket",
                                      self.sock], stdout=self.log, stderr=subprocess.STDOUT)
        assert wait_for(lambda: os.path.exists(self.sock)), open(self.log.name).read()

    def status(self):
        proc = run("rampart-appmgr", "ctl", "--socket", self.sock, "status", check=True)
        st = json.loads(proc.stdout)
        return st if isinstance(st, list) else [st]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.log.close()
        from test_sandbox import remove_cgroups
        remove_cgroups(self.cgroup)


@pytest.mark.skipif(os.geteuid() != 0, reason="the application manager creates containers: root only")
def test_app_installed_through_appmgr_claimed_and_paused_in_devmode(world, tmp_path):
    w = world
    dev = w.device("d4")
    trust_signer(w, dev)
    mgr = Appmgr(tmp_path, w.tmp / "signer.pub")
    try:
        pkgs = {}
        for v in (1, 2):
            out = tmp_path / f"hello-{v}.imagepackage"
            run("rampart", "image-package", "pack-application", "--manifest",
                os.path.join(REPO, "samples", "hello", "app_manifest.json"), "--executable",
                find_binary("sample_hello"), "--key", w.tmp / "signer.pem", "--version", str(v),
                "--version-string", f"{v}.0.0", "--output", out, check=True)
            pkgs[v] = out.read_bytes()
        ids = deploy(w, pkgs[1])
        sock = str(dev.rundir / "agent.sock")
        _, log = w.agent_daemon(dev, "--socket", sock, "--appmgr-socket", mgr.sock, "--appmgr-state", mgr.state)
        # On start: attest, check, install through the application manager, start the app.
        assert wait_for(lambda: any(a["component_id"] == HELLO_CID and a["state"] == "running"
                                    for a in mgr.status())), open(log.name).read()
        assert not (dev.state / "update" / "apps").exists()
        # The next evidence claims hello with the version string the service knows.
        run("rampart", "agent", "attest", "--socket", sock, check=True)
        attests = [e for e in w.audit() if e["action"] == "device.attest" and e["result"] == "success"]
        assert "1 images" in attests[-1]["detail"], attests[-1]
        claims = json.loads((dev.state / "agent" / "images.json").read_text())
        assert claims[HELLO_CID] == {"image_id": ids[0], "version": "1.0.0"}, claims

        # Development mode on: the cloud app update is not installed, and the check says why.
        cap = mgr.state / "devmode" / "capability"
        cap.parent.mkdir(parents=True, exist_ok=True)
        cap.write_text("test capability placeholder\n")
        ids2 = deploy(w, pkgs[2])
        proc = update_now(sock, check=False)
        assert proc.returncode != 0, proc.stdout
        status = json.loads((dev.state / "update" / "status.json").read_text())["images"]
        entry = next(v for v in status.values() if v["image_id"] == ids2[0])
        assert entry["state"] == "failed" and "development mode" in entry["reason"], entry
        assert json.loads((dev.state / "agent" / "images.json").read_text())[HELLO_CID]["version"] == "1.0.0"

        # Development mode off: the next check installs hello 2, which replaces the claim.
        cap.unlink()
        rep = json.loads(update_now(sock, check=True).stdout)
        assert rep["update"]["installed"] == 1, rep
        assert json.loads((dev.state / "agent" / "images.json").read_text())[HELLO_CID] == {
            "image_id": ids2[0], "version": "2.0.0"}
        assert wait_for(lambda: any(a["component_id"] == HELLO_CID and a["state"] == "running"
                                    for a in mgr.status()))
        run("rampart", "agent", "attest", "--socket", sock, check=True)
    finally:
        mgr.stop()
