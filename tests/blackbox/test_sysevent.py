"""System events and update deferral end to end: rampartd deploys an update, the real agent finds
it, asks the application manager, which tells every running app's broker; the sample
update_deferral app (samples/update_deferral) registers for events, logs them and defers. Checks:
a deferral holds the update back (status "deferred") until it ends, then the update installs and
the app hears UpdateStarted before it is stopped; the 24 h total caps what an app may ask for and
then the update installs regardless; an app without SoftwareUpdateDeferral cannot defer; an app
without SystemEventNotifications hears nothing.

Time is moved by editing the device's state between checks, as a device that slept would find it:
the deferral's end in STATE/agent/deferral.json and the first deferral in STATE/update/status.json
(deferred_since), both read afresh by each check."""
import json
import os
import re
import time

import pytest

from conftest import find_binary, run
from test_agent_update import Appmgr, agent_status, trust_signer, update_now, wait_for, world  # noqa: F401

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DEFERRER = "752b8200-4886-4dec-afc9-9ea3ba1c29c2"  # the sample's own component ID
NO_DEFER = "9c1f3a52-7d4e-4b8a-9e61-2f0c5d7a8b31"
NO_EVENTS = "3e8d2b7c-1a5f-4c9e-8d02-6b4a1f7e9c53"
SILENT = "6f2a9d41-0c7b-4e3a-b5d8-91e4c2a7f086"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the application manager creates containers: root only")


def pack(tmp, signer, cid, name, version, args, caps):
    manifest = tmp / f"{name}-{version}.json"
    manifest.write_text(json.dumps({
        "SchemaVersion": 1, "Name": name, "ComponentId": cid, "EntryPoint": "/bin/app",
        "CmdArgs": args + ["--tag", f"v{version}"], "ApplicationType": "Default", "Capabilities": caps}))
    out = tmp / f"{name}-{version}.imagepackage"
    run("rampart", "image-package", "pack-application", "--manifest", manifest, "--executable",
        find_binary("sample_update_deferral"), "--key", signer, "--version", str(version), "--version-string",
        f"{version}.0.0", "--output", out, check=True)
    return out.read_bytes()


BOTH = {"SystemEventNotifications": True, "SoftwareUpdateDeferral": True}


class Site:
    """rampartd, a claimed device with its agent daemon, and the application manager (with brokers)."""

    def __init__(self, w, tmp, name):
        self.w, self.tmp = w, tmp
        self.dev = w.device(name)
        trust_signer(w, self.dev)
        self.mgr = Appmgr(tmp, w.tmp / "signer.pub")
        self.sock = str(self.dev.rundir / "agent.sock")
        self.ids = {}

    def upload(self, key, data):
        self.ids[key] = self.w.upload(self.w.tenant, data)["image_id"]

    def deploy(self, *keys):
        r = self.w.svc.request("POST", f"/v1/tenants/{self.w.tenant}/device-groups/"
                               f"{self.w.groups['Field Test']}/deployments", {"image_ids": [self.ids[k] for k in keys]})
        assert r.status == 201, r

    def start_agent(self):
        _, self.agent_log = self.w.agent_daemon(self.dev, "--socket", self.sock, "--appmgr-socket", self.mgr.sock,
                                                "--appmgr-state", self.mgr.state)

    def app(self, cid):
        return next((a for a in self.mgr.status() if a["component_id"] == cid), None)

    def running(self, cid):
        a = self.app(cid)
        return a is not None and a["state"] == "running"

    def app_log(self, cid):
        p = self.mgr.state / "apps" / cid / "log"
        return p.read_text() if p.exists() else ""

    def broker_events(self, cid):
        p = self.mgr.state / "apps" / cid / "broker.log"
        return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []

    def check(self):
        proc = update_now(self.sock, check=True)
        return json.loads(proc.stdout)["update"]

    def status_entry(self, image_key):
        images = json.loads((self.dev.state / "update" / "status.json").read_text())["images"]
        return next(((k, v) for k, v in images.items() if v["image_id"] == self.ids[image_key]), (None, None))

    def edit_status(self, image_key, **fields):
        path = self.dev.state / "update" / "status.json"
        doc = json.loads(path.read_text())
        name, _ = self.status_entry(image_key)
        doc["images"][name].update(fields)
        path.write_text(json.dumps(doc))

    def deferral(self):
        path = self.dev.state / "agent" / "deferral.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def end_deferrals(self):
        """As if the deferral had run out: every recorded end moves into the past."""
        path = self.dev.state / "agent" / "deferral.json"
        doc = self.deferral()
        for v in doc.values():
            v["until"] = int(time.time()) - 1
        path.write_text(json.dumps(doc))

    def close(self):
        self.mgr.stop()


@pytest.fixture
def site(world, tmp_path):
    s = Site(world, tmp_path, "sev")
    yield s
    s.close()
    for log in (tmp_path / "appmgr-state" / "apps").glob("*/log"):
        text = log.read_text()
        assert "Sanitizer" not in text and "runtime error" not in text, text


def wait_log(site, cid, pattern, seconds=30):
    return wait_for(lambda: re.search(pattern, site.app_log(cid)) is not None, seconds)


def test_app_defers_update_until_deferral_ends_and_hears_update_started_first(site, tmp_path):
    s = site
    signer = s.w.tmp / "signer.pem"
    s.upload("v1", pack(tmp_path, signer, DEFERRER, "Deferrer", 1, ["--defer", "30", "--times", "1"], BOTH))
    s.upload("v2", pack(tmp_path, signer, DEFERRER, "Deferrer", 2, ["--defer", "30", "--times", "1"], BOTH))
    s.deploy("v1")
    s.start_agent()
    assert wait_for(lambda: s.running(DEFERRER), 60), open(s.agent_log.name).read() + s.app_log(DEFERRER)
    assert wait_log(s, DEFERRER, "registered for update events"), s.app_log(DEFERRER)

    # A check that finds nothing new: NoUpdateAvailable reaches the app.
    rep = s.check()
    assert rep["installed"] == 0 and rep["deferred"] == 0, rep
    assert wait_log(s, DEFERRER, r"event NoUpdateAvailable status Complete"), s.app_log(DEFERRER)

    # Version 2 is deployed: the app is told (Pending, the whole 24 h open) and defers by 30 min.
    s.deploy("v2")
    pid = s.app(DEFERRER)["pid"]
    rep = s.check()
    assert rep["installed"] == 0 and rep["deferred"] == 1, rep
    log = s.app_log(DEFERRER)
    assert "event UpdateReadyForInstall status Pending: App update, max deferral 1440 minutes" in log, log
    assert "deferred the update by 30 minutes" in log, log
    assert wait_log(s, DEFERRER, r"event UpdateReadyForInstall status Deferred"), s.app_log(DEFERRER)
    name, entry = s.status_entry("v2")
    assert entry["state"] == "deferred" and entry["deferred_since"] > 0, entry
    until = s.deferral()[name]["until"]
    assert 29 * 60 <= until - time.time() <= 30 * 60 + 5, until
    # The agent looks again when the deferral ends, not a whole period later.
    assert agent_status(s.sock)["update"]["next_check"] == until, agent_status(s.sock)
    assert s.app(DEFERRER)["pid"] == pid and "tag v2" not in s.app_log(DEFERRER)
    assert any(e["event"] == "sysevent.defer" and e["minutes"] == 30 for e in s.broker_events(DEFERRER))

    # Checked again before the deferral ends: still deferred, and the app is not asked again.
    rep = s.check()
    assert rep["installed"] == 0 and rep["deferred"] == 1, rep
    assert s.app_log(DEFERRER).count("status Pending") == 1, s.app_log(DEFERRER)
    assert s.status_entry("v2")[1]["state"] == "deferred"

    # The deferral ran out: the app is asked again, lets it proceed (it defers once), hears
    # UpdateStarted, and only then is stopped and replaced by version 2.
    s.end_deferrals()
    rep = s.check()
    assert rep["installed"] == 1 and rep["deferred"] == 0, rep
    assert s.status_entry("v2")[1]["state"] == "installed"
    assert wait_for(lambda: s.running(DEFERRER) and "tag v2" in s.app_log(DEFERRER), 60), s.app_log(DEFERRER)
    log = s.app_log(DEFERRER)
    assert log.count("status Pending") == 2 and "let the update proceed" in log, log
    started = log.index("event UpdateStarted status Final")
    assert started < log.index("UpdateDeferral stopping") < log.index("tag v2"), log
    assert s.deferral() == {}, s.deferral()


def test_deferral_is_capped_at_24_hours_in_total(site, tmp_path):
    s = site
    signer = s.w.tmp / "signer.pem"
    # This app would defer every update by a whole day, every time.
    s.upload("v1", pack(tmp_path, signer, DEFERRER, "Deferrer", 1, ["--defer", "1440"], BOTH))
    s.upload("v2", pack(tmp_path, signer, DEFERRER, "Deferrer", 2, ["--defer", "1440"], BOTH))
    s.deploy("v1")
    s.start_agent()
    assert wait_for(lambda: s.running(DEFERRER), 60), open(s.agent_log.name).read() + s.app_log(DEFERRER)
    assert wait_log(s, DEFERRER, "registered for update events"), s.app_log(DEFERRER)
    s.deploy("v2")
    rep = s.check()
    assert rep["deferred"] == 1, rep
    name, entry = s.status_entry("v2")
    assert entry["deferred_since"] > 0, entry

    # 23 h 50 min after the first deferral only 10 minutes are left: that is all the app is offered,
    # and its request for 1440 is cut to it.
    first = int(time.time()) - (24 * 3600 - 600)
    s.edit_status("v2", deferred_since=first)
    s.end_deferrals()
    rep = s.check()
    assert rep["deferred"] == 1 and rep["installed"] == 0, rep
    log = s.app_log(DEFERRER)
    assert re.search(r"status Pending: App update, max deferral (9|10) minutes", log), log
    until = s.deferral()[name]["until"]
    assert until - time.time() <= 10 * 60 + 5, until
    assert any(e["event"] == "sysevent.defer" and e["requested"] == 1440 and e["minutes"] <= 10
               for e in s.broker_events(DEFERRER)), s.broker_events(DEFERRER)
    assert s.status_entry("v2")[1]["deferred_since"] == first  # the 24 h still count from the first one

    # 24 h after the first deferral the update installs, although the app still wants to defer and
    # the agent's own record says the last deferral has not ended.
    s.edit_status("v2", deferred_since=int(time.time()) - 24 * 3600 - 1)
    rep = s.check()
    assert rep["installed"] == 1 and rep["deferred"] == 0, rep
    assert s.status_entry("v2")[1]["state"] == "installed"
    assert wait_for(lambda: s.running(DEFERRER) and "tag v2" in s.app_log(DEFERRER), 60), s.app_log(DEFERRER)
    log = s.app_log(DEFERRER)
    assert log.index("event UpdateStarted status Final") < log.index("tag v2"), log
    assert "update.defer.expired" in open(s.agent_log.name).read()


def test_capabilities_gate_events_and_deferral(site, tmp_path):
    s = site
    signer = s.w.tmp / "signer.pem"
    notify_only = {"SystemEventNotifications": True}
    defer_only = {"SoftwareUpdateDeferral": True}
    for v in (1, 2):
        s.upload(f"a{v}", pack(tmp_path, signer, NO_DEFER, "NoDefer", v, ["--defer", "60"], notify_only))
        s.upload(f"b{v}", pack(tmp_path, signer, NO_EVENTS, "NoEvents", v, ["--defer", "60"], defer_only))
        # Holds both capabilities but never answers: its silence must not hold anything back.
        s.upload(f"c{v}", pack(tmp_path, signer, SILENT, "Silent", v, ["--defer", "60", "--silent"], BOTH))
    s.deploy("a1", "b1", "c1")
    s.start_agent()
    assert wait_for(lambda: s.running(NO_DEFER) and s.running(NO_EVENTS) and s.running(SILENT), 60), \
        open(s.agent_log.name).read()
    assert wait_log(s, NO_DEFER, "registered for update events"), s.app_log(NO_DEFER)
    assert wait_log(s, SILENT, "registered for update events"), s.app_log(SILENT)
    # Without SystemEventNotifications the registration itself is refused.
    assert wait_log(s, NO_EVENTS, r"ERROR: SysEvent_RegisterForEventNotifications: Operation not permitted"), \
        s.app_log(NO_EVENTS)

    s.deploy("a2", "b2", "c2")
    rep = s.check()
    # Nobody deferred: all three updates install in this check.
    assert rep["installed"] == 3 and rep["deferred"] == 0, rep
    assert wait_for(lambda: "tag v2" in s.app_log(NO_DEFER) and "tag v2" in s.app_log(NO_EVENTS), 60)

    # The app with notifications only heard the update and was refused when it tried to defer.
    log = s.app_log(NO_DEFER)
    assert "event UpdateReadyForInstall status Pending" in log, log
    assert "ERROR: SysEvent_DeferEvent: Operation not permitted (1)" in log, log
    assert "deferred the update" not in log, log
    assert log.index("event UpdateStarted status Final") < log.index("tag v2"), log
    denied = [e for e in s.broker_events(NO_DEFER) if e["event"] == "denied" and e["request"] == "sysevent.defer"]
    assert denied and denied[0]["errno"] == "EPERM", s.broker_events(NO_DEFER)
    assert "SoftwareUpdateDeferral is not declared" in log  # the broker's refusal, in the app's log

    # The app without SystemEventNotifications heard nothing, and its broker was never told.
    log = s.app_log(NO_EVENTS)
    assert not re.search(r"event (UpdateReadyForInstall|UpdateStarted|NoUpdateAvailable)", log), log
    assert not any(e["event"] == "sysevent.notify" for e in s.broker_events(NO_EVENTS))

    # The silent app was waited for (boundedly), then the updates went ahead; it was replaced too.
    assert "event UpdateReadyForInstall status Pending" in s.app_log(SILENT), s.app_log(SILENT)
    assert "appmgr.sysevent.timeout" in open(s.mgr.log.name).read()
    assert wait_for(lambda: "tag v2" in s.app_log(SILENT), 60), s.app_log(SILENT)
