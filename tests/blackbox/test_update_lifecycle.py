"""Update status over a device's life: a device group without any deployment yet is a normal
"nothing to install" (the service serves the group's director with signed, empty targets), and an
image replaced by a newer version of the same component stops being listed as installed."""
import json

import pytest

from attest_world import World
from test_agent_update import agent_status, update_now, wait_for
from test_update_service import check, deploy, upload, world  # noqa: F401 (fixture)


@pytest.fixture
def agent_world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()
    for log in tmp_path.glob("agent-*.log"):
        text = log.read_text()
        assert "Sanitizer" not in text and "runtime error" not in text, text


def test_group_without_deployment_is_nothing_to_install(agent_world):
    w = agent_world
    dev = w.device("d1")
    gid = w.groups["Field Test"]
    # Nothing released, nothing deployed: the device's check must still succeed, through TUF.
    sock = str(dev.rundir / "agent.sock")
    proc, log = w.agent_daemon(dev, "--socket", sock)
    assert wait_for(lambda: agent_status(sock).get("update", {}).get("ran")), open(log.name).read()
    st = agent_status(sock)
    assert st["update"]["ok"] is True and st["update"]["targets"] == 0, (st, open(log.name).read())
    rep = json.loads(update_now(sock, check=True).stdout)
    assert rep["update"]["ok"] is True and rep["update"]["installed"] == 0, rep
    # What the device verified is the group's signed director with no targets, not a missing file.
    targets = w.svc.request("GET", f"/v1/tuf/device-groups/{gid}/director/targets.json", token=None)
    assert targets.status == 200 and targets.json["signed"]["targets"] == {}
    assert targets.json["signatures"], targets.json
    # Anyone may read metadata, but asking for a group that does not exist creates nothing.
    missing = w.svc.request("GET", "/v1/tuf/device-groups/0f5e1a52-7d1c-4a4e-9a43-2f0c1d9e8b99/director/"
                            "targets.json", token=None)
    assert missing.status == 404


def test_committed_os_supersedes_the_previous_version(world):  # noqa: F811
    w = world
    svc, dev = w["svc"], w["dev"]
    url = f"/v1/tenants/{w['tenant']}/devices/{w['device_id']}/update-status"

    def states():
        return {i["image_id"]: (i["state"], i.get("reason")) for i in svc.request("GET", url).json["images"]}

    os2 = upload(w, dev.bundle("2"))
    deploy(w, os2)
    check(w)
    dev.boot()
    check(w)
    assert states()[os2][0] == "committed"
    os3 = upload(w, dev.bundle("3"))
    deploy(w, os3)
    check(w)
    # Installed but not committed: version 2 still runs and is still what the device has.
    assert states()[os2][0] == "committed" and states()[os3][0] == "installed"
    dev.boot()
    assert dev.running_version() == 3
    check(w)
    st = states()
    assert st[os3][0] == "committed"
    assert st[os2][0] == "superseded" and os3 in st[os2][1], st
    installed = [i for i, (s, _) in st.items() if s in ("installed", "committed")]
    assert installed == [os3], st
