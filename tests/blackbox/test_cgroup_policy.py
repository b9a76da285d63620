"""The application manager's cgroup policy (--cgroup auto|v1|v2) against this host's real cgroup
layout: a manager that must use cgroup v2 refuses to start when the cgroup2 mount cannot hold the
app limits (memory and pids bound to v1 hierarchies, as on hybrid hosts), and says why; in auto
mode it falls back to v1 with a log line naming the reason, and apps still start limited."""
import pathlib
import uuid

import pytest

from conftest import find_binary, run


def cgroup2_mount():
    for line in pathlib.Path("/proc/self/mounts").read_text().splitlines():
        f = line.split()
        if len(f) > 2 and f[2] == "cgroup2":
            return f[1]
    return None


def v2_controllers(mount):
    return pathlib.Path(mount, "cgroup.controllers").read_text().split()


@pytest.fixture
def hybrid():
    mount = cgroup2_mount()
    if mount is None:
        pytest.skip("no cgroup2 file system is mounted on this host")
    ctl = v2_controllers(mount)
    if "memory" in ctl and "pids" in ctl:
        pytest.skip(f"the cgroup2 mount at {mount} has memory and pids: nothing to refuse here")
    return mount


def test_v2_policy_refuses_a_v2_mount_without_controllers(tmp_path, hybrid):
    proc = run("rampart-appmgr", "--state", tmp_path / "state", "--cgroup", "v2",
               "--cgroup-parent", f"rampart-cgpolicy-{uuid.uuid4().hex[:8]}", "status", check=False)
    assert proc.returncode != 0, proc.stdout
    assert "requires cgroup v2" in proc.stderr, proc.stderr
    assert hybrid in proc.stderr and "lacks" in proc.stderr, proc.stderr
    assert "--cgroup auto" in proc.stderr, proc.stderr


def test_auto_policy_falls_back_to_v1_with_the_reason(tmp_path, hybrid):
    root = tmp_path / "pkg"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "app").write_bytes(find_binary("sbx_trivial").read_bytes())
    (root / "bin" / "app").chmod(0o755)
    cid = str(uuid.uuid4())
    (root / "app_manifest.json").write_text(
        '{"SchemaVersion":1,"Name":"cg","ComponentId":"%s","EntryPoint":"/bin/app","CmdArgs":["marker"],'
        '"ApplicationType":"Default","Capabilities":{}}' % cid)
    opts = ["--state", tmp_path / "state", "--cgroup-parent", f"rampart-cgpolicy-{uuid.uuid4().hex[:8]}",
            "--no-broker"]
    install = run("rampart-appmgr", *opts, "install", root, check=True)
    assert "appmgr.cgroup.v1" in install.stderr, install.stderr
    assert hybrid in install.stderr and "bound to the cgroup v1 hierarchies" in install.stderr, install.stderr
    assert "cgroup v1" in install.stderr
    # The explicit v1 policy takes the same layout, and the app runs under it.
    proc = run("rampart-appmgr", *opts, "--cgroup", "v1", "run", cid, "--timeout-ms", "20000", check=True)
    assert "exited: status 0" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert "rampart-marker" in (tmp_path / "state" / "apps" / cid / "log").read_text()


def test_unknown_policy_is_rejected(tmp_path):
    proc = run("rampart-appmgr", "--state", tmp_path / "state", "--cgroup", "v3", "status", check=False)
    assert proc.returncode != 0
    assert "--cgroup: expected auto, v1 or v2" in proc.stderr, proc.stderr
