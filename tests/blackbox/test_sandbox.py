"""Application sandbox and manager: every escape attempt of issue 6 is refused and logged.

Each test installs a small static app (tests/apps/sbx_escape.c) as an unpacked package tree,
runs it with `rampart-appmgr run`, and reads the refusal the app reported into its log (the
manager keeps each app's stdout/stderr in STATE/apps/<id>/log). Runs as root: creating
containers needs it.
"""
import json
import os
import platform
import shutil
import socket
import subprocess
import time
import uuid

import pytest

from conftest import find_binary, run, remove_cgroups

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandbox tests create containers and must run as root")


class Device:
    """One state directory and cgroup parent for one test's application manager."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.state = tmp_path / "state"
        self.cgroup_parent = f"rampart-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.opts = ["--state", str(self.state), "--cgroup-parent", self.cgroup_parent]

    def package(self, args, storage_kb=None, binary="sbx_escape", cid=None, name="escape"):
        cid = cid or str(uuid.uuid4())
        root = self.tmp / f"pkg-{cid}"
        if root.exists():
            shutil.rmtree(root)
        (root / "bin").mkdir(parents=True)
        shutil.copy(find_binary(binary), root / "bin" / "app")
        manifest = {"SchemaVersion": 1, "Name": name, "ComponentId": cid, "EntryPoint": "/bin/app",
                    "CmdArgs": list(args), "ApplicationType": "Default", "Capabilities": {}}
        if storage_kb:
            manifest["Capabilities"]["MutableStorage"] = {"SizeKB": storage_kb}
        (root / "app_manifest.json").write_text(json.dumps(manifest))
        return root, cid

    def mgr(self, *args, check=None, timeout=60):
        return run("rampart-appmgr", *self.opts, *args, check=check, timeout=timeout)

    def install(self, root):
        return self.mgr("install", root, check=True).stdout.strip()

    def run_app(self, args, storage_kb=None, opts=(), timeout_ms=None, cid=None, check=True):
        root, cid = self.package(args, storage_kb=storage_kb, cid=cid)
        self.install(root)
        extra = list(opts) + (["--timeout-ms", str(timeout_ms)] if timeout_ms else [])
        proc = self.mgr("run", cid, *extra, check=check)
        status = json.loads(proc.stdout) if proc.returncode == 0 else None
        return status, self.log(cid), proc

    def log(self, cid):
        path = self.state / "apps" / cid / "log"
        return path.read_text() if path.exists() else ""


@pytest.fixture
def device(tmp_path):
    d = Device(tmp_path)
    yield d
    remove_cgroups(d.cgroup_parent)


def assert_refused(log, attack, errnos=None):
    lines = [l for l in log.splitlines() if l.startswith(f"ATTACK {attack}:")]
    assert lines, f"the app did not report attack {attack}; log:\n{log}"
    assert "SUCCEEDED" not in lines[0], lines[0]
    assert "refused" in lines[0], lines[0]
    if errnos:
        assert any(e in lines[0] for e in errnos), lines[0]


def test_app_runs_unprivileged_without_capabilities(device):
    status, log, _ = device.run_app(["whoami"])
    assert status["last_exit"] == "exited: status 0"
    assert "uid=100000 gid=100000 pid=1" in log  # own user, init of its own PID namespace
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert f"{field}:\t0000000000000000" in log, log
    assert "NoNewPrivs:\t1" in log
    assert "Seccomp:\t2" in log
    assert "hostname=escape" in log
    fds = [l for l in log.splitlines() if l.startswith("open fd")]
    # Every inherited fd closed except fd 3, the app's own broker channel (docs/protocol.md).
    assert fds == ["open fd 0", "open fd 1", "open fd 2", "open fd 3"], fds
    assert "sid=1" in log  # a new session
    assert "cwd-write=no" in log


@pytest.mark.parametrize("attack,errnos", [
    ("read-shadow", ["ENOENT", "EACCES"]),
    ("write-package", ["EROFS", "EACCES"]),
    ("write-package-existing", ["EROFS", "EACCES"]),
    ("write-root", ["EROFS", "EACCES"]),
    ("raw-socket", ["EPERM", "EACCES"]),
    ("packet-socket", ["EPERM", "EACCES"]),
    ("netlink-socket", ["EPERM"]),
    ("connect-internet", ["EACCES", "ENETUNREACH"]),
    ("ptrace", ["EPERM"]),
    ("ptrace-traceme", ["EPERM"]),
    ("mount", ["EPERM"]),
    ("umount", ["EPERM"]),
    ("unshare", ["EPERM"]),
    ("unshare-ns", ["EPERM"]),
    ("clone-newuser", ["EPERM"]),
    ("setns", ["EPERM"]),
    ("keyctl", ["EPERM"]),
    ("bpf", ["EPERM"]),
    ("perf_event_open", ["EPERM"]),
    ("init_module", ["EPERM"]),
    ("finit_module", ["EPERM"]),
    ("delete_module", ["EPERM"]),
    ("chroot", ["EPERM"]),
    ("mknod", ["EPERM"]),
])
def test_escape_attempt_refused(device, attack, errnos):
    status, log, _ = device.run_app([attack])
    assert status["last_exit"] == "exited: status 0", status
    assert_refused(log, attack, errnos)


def test_host_tcp_listener_unreachable(device):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        _, log, _ = device.run_app(["connect-tcp", str(port)])
    assert_refused(log, "connect-tcp", ["EACCES", "ECONNREFUSED"])


def test_monitor_socket_unreachable(device, tmp_path):
    path = str(tmp_path / "monitor.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind(path)
        srv.listen(1)
        _, log, _ = device.run_app(["connect-unix", path])
    assert_refused(log, "connect-unix", ["ENOENT", "EACCES"])


def test_abstract_socket_unreachable(device):
    name = f"rampart-monitor-{uuid.uuid4().hex[:8]}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind("\0" + name)
        srv.listen(1)
        _, log, _ = device.run_app(["connect-abstract", name])
    assert_refused(log, "connect-abstract", ["ECONNREFUSED", "EPERM"])


def test_cannot_see_host_processes(device):
    _, log, _ = device.run_app(["list-procs"])
    assert "ATTACK list-procs: 1 visible" in log, log
    assert "visible pid 1" in log


def run_beside_victim(device, args_of):
    """Install an app, start a host process under the app's own uid (so permissions alone would
    let the app signal it: only the PID namespace hides it), then run the app with ARGS_OF(pid).
    Returns (app log, victim)."""
    root, cid = device.package(["whoami"])
    device.install(root)
    uid = json.loads((device.state / "apps" / cid / "app.json").read_text())["uid"]
    assert uid != 0
    victim = subprocess.Popen(["sleep", "60"], user=uid, group=uid)
    try:
        root, _ = device.package(args_of(victim.pid), cid=cid)
        device.install(root)
        assert json.loads((device.state / "apps" / cid / "app.json").read_text())["uid"] == uid
        device.mgr("run", cid, check=True)
        return device.log(cid), victim
    except BaseException:
        victim.kill()
        victim.wait()
        raise


def test_cannot_signal_processes_outside(device):
    log, victim = run_beside_victim(device, lambda pid: ["kill-host", str(pid)])
    try:
        assert_refused(log, "kill-host", ["ESRCH"])
        assert victim.poll() is None, "a process outside the container was killed"
    finally:
        victim.kill()
        victim.wait()


def test_kill_all_reaches_only_the_container(device):
    log, victim = run_beside_victim(device, lambda pid: ["kill-all"])
    try:
        assert "ATTACK kill-all: kill(-1) returned -1 (ESRCH)" in log, log
        assert victim.poll() is None, "kill(-1) inside the app reached the host"
    finally:
        victim.kill()
        victim.wait()


def test_other_apps_storage_unreachable(device):
    owner = str(uuid.uuid4())
    _, owner_log, _ = device.run_app(["write-storage", "secret-of-a"], storage_kb=64, cid=owner)
    assert "STORAGE wrote secret-of-a" in owner_log
    for host_path in (device.state / "apps" / owner / "storage.img", device.state / "run" / "storage" / owner / "data"):
        _, log, _ = device.run_app(["read-path", str(host_path)], storage_kb=64)
        assert_refused(log, "read-path", ["ENOENT", "EACCES"])
    _, log, _ = device.run_app(["read-storage"], storage_kb=64)
    assert "STORAGE read (nothing)" in log  # a second app has storage of its own, empty
    _, owner_log, _ = device.run_app(["read-storage"], storage_kb=64, cid=owner)
    assert "STORAGE read secret-of-a" in owner_log


def test_fork_bomb_contained(device):
    status, log, _ = device.run_app(["fork-bomb"], opts=["--pids", "16"])
    assert_refused(log, "fork-bomb", ["EAGAIN"])
    line = [l for l in log.splitlines() if l.startswith("ATTACK fork-bomb")][0]
    assert int(line.split("after ")[1].split()[0]) < 16, line
    assert status["state"] == "stopped"


def test_memory_bomb_killed_and_reported(device):
    status, log, _ = device.run_app(["memory-bomb"], opts=["--memory", "32M"])
    assert "SUCCEEDED" not in log
    assert status["last_exit"] == "killed: memory limit", status


def test_storage_quota_enforced(device):
    status, log, _ = device.run_app(["fill-storage"], storage_kb=64)
    assert_refused(log, "fill-storage", ["ENOSPC", "EDQUOT"])
    line = [l for l in log.splitlines() if l.startswith("ATTACK fill-storage")][0]
    written = int(line.split("after ")[1].split()[0])
    assert 0 < written <= 64 * 1024, line


def test_storage_survives_restart_and_update_and_goes_with_remove(device):
    cid = str(uuid.uuid4())
    _, log, _ = device.run_app(["write-storage", "kept"], storage_kb=64, cid=cid)
    assert "STORAGE wrote kept" in log
    # Reinstalling the same component ID is an update: new code, same storage.
    _, log, _ = device.run_app(["read-storage"], storage_kb=64, cid=cid)
    assert "STORAGE read kept" in log
    device.mgr("remove", cid, check=True)
    assert not (device.state / "apps" / cid).exists()
    _, log, _ = device.run_app(["read-storage"], storage_kb=64, cid=cid)
    assert "STORAGE read (nothing)" in log


def test_package_with_device_node_refused(device):
    root, _ = device.package(["whoami"])
    os.mknod(root / "bin" / "mem", 0o600 | 0o020000, os.makedev(1, 1))
    proc = device.mgr("install", root, check=False)
    assert "device node" in proc.stderr and "bin/mem" in proc.stderr, proc.stderr


def test_package_with_setuid_file_refused(device):
    root, _ = device.package(["whoami"])
    os.chmod(root / "bin" / "app", 0o4755)
    proc = device.mgr("install", root, check=False)
    assert "setuid" in proc.stderr and "bin/app" in proc.stderr, proc.stderr


@pytest.mark.parametrize("target", ["/etc/shadow", "../../etc/shadow", "../.."])
def test_package_with_escaping_symlink_refused(device, target):
    root, _ = device.package(["whoami"])
    os.symlink(target, root / "bin" / "link")
    proc = device.mgr("install", root, check=False)
    assert "symlink that leaves the package" in proc.stderr, proc.stderr


def test_package_with_reserved_top_level_refused(device):
    root, _ = device.package(["whoami"])
    (root / "proc").mkdir()
    proc = device.mgr("install", root, check=False)
    assert "top-level proc" in proc.stderr, proc.stderr


def test_landlock_missing_refused_unless_degraded(device):
    root, cid = device.package(["whoami"])
    device.install(root)
    proc = device.mgr("run", cid, "--landlock-abi", "99", check=False)
    assert "refusing to start" in proc.stderr and "degraded" in proc.stderr, proc.stderr
    assert device.log(cid) == ""
    proc = device.mgr("run", cid, "--landlock-abi", "99", "--landlock-degraded", check=True)
    assert "sandbox.degraded" in proc.stderr and "DEGRADED" in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["last_exit"] == "exited: status 0"


def test_stop_sends_sigterm_then_sigkill(device):
    root, cid = device.package(["sleep-term"], binary="sbx_trivial")
    device.install(root)
    status = json.loads(device.mgr("run", cid, "--timeout-ms", "300", check=True).stdout)
    assert status["last_exit"] == "exited: status 0", status
    assert "got SIGTERM" in device.log(cid)
    root, cid = device.package(["sleep"], binary="sbx_trivial")
    device.install(root)
    start = time.monotonic()
    status = json.loads(device.mgr("run", cid, "--timeout-ms", "300", check=True).stdout)
    assert status["last_exit"].startswith("killed: signal 9"), status
    assert time.monotonic() - start >= 2.0  # the 2 s grace period was honoured


def ctl(device, sock, *args, check=True):
    return run("rampart-appmgr", "ctl", "--socket", sock, *args, check=check)


def wait_for(predicate, seconds=10):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def test_daemon_runs_several_apps_and_restarts_exited_ones(device, tmp_path):
    sleeper1, cid1 = device.package(["sleep-term"], binary="sbx_trivial", name="one")
    sleeper2, cid2 = device.package(["sleep"], binary="sbx_trivial", name="two")
    crasher, cid3 = device.package(["exit", "3"], binary="sbx_trivial", name="crash")
    for root in (sleeper1, sleeper2, crasher):
        device.install(root)
    sock = str(tmp_path / "appmgr.sock")
    daemon = subprocess.Popen([str(find_binary("rampart-appmgr")), *device.opts, "daemon", "--socket", sock],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: os.path.exists(sock)), "daemon did not listen"
        for cid in (cid1, cid2, cid3):
            ctl(device, sock, "start", cid)
        s1 = json.loads(ctl(device, sock, "status", cid1).stdout)
        s2 = json.loads(ctl(device, sock, "status", cid2).stdout)
        assert s1["state"] == "running" and s2["state"] == "running"
        assert s1["uid"] != s2["uid"] and s1["pid"] != s2["pid"]
        restarted = wait_for(lambda: json.loads(ctl(device, sock, "status", cid3).stdout)["restarts"] >= 2)
        assert restarted, "the exited app was not restarted"
        assert json.loads(ctl(device, sock, "status", cid3).stdout)["last_exit"] == "exited: status 3"
        ctl(device, sock, "stop", cid1)
        assert wait_for(lambda: json.loads(ctl(device, sock, "status", cid1).stdout)["state"] == "stopped")
        bad = ctl(device, sock, "start", "00000000-0000-0000-0000-000000000000", check=False)
        assert "no app" in bad.stderr
    finally:
        daemon.terminate()
        out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    assert "app.stop.killed" in err  # app two ignores SIGTERM: killed after 2 s at power-down


@pytest.fixture
def signed(device, tmp_path):
    """A signing key pair and a packed, signed copy of the escape app (args: whoami)."""
    priv, pub = tmp_path / "dev.pem", tmp_path / "dev.pub"
    run("rampart", "image-package", "keygen", "--private-key", priv, "--public-key", pub, check=True)
    root, cid = device.package(["whoami"])
    pkg = tmp_path / "app.imagepackage"
    run("rampart", "image-package", "pack-application", "--package-directory", root, "--key", priv,
        "--output", pkg, check=True)
    return {"pub": pub, "priv": priv, "pkg": pkg, "cid": cid}


def test_signed_package_installs_and_runs(device, signed):
    assert device.mgr("--trust-key", signed["pub"], "install", signed["pkg"], check=True).stdout.strip() == signed["cid"]
    status = json.loads(device.mgr("--trust-key", signed["pub"], "run", signed["cid"], check=True).stdout)
    assert status["source"] == "package" and status["last_exit"] == "exited: status 0", status
    assert "NoNewPrivs:\t1" in device.log(signed["cid"])


def test_untrusted_package_refused(device, signed, tmp_path):
    other_priv, other_pub = tmp_path / "other.pem", tmp_path / "other.pub"
    run("rampart", "image-package", "keygen", "--private-key", other_priv, "--public-key", other_pub, check=True)
    proc = device.mgr("--trust-key", other_pub, "install", signed["pkg"], check=False)
    assert "installing" in proc.stderr and not (device.state / "apps" / signed["cid"]).exists(), proc.stderr
    proc = device.mgr("install", signed["pkg"], check=False)
    assert "no trusted package signing keys" in proc.stderr, proc.stderr


def test_package_verified_again_at_every_start(device, signed):
    device.mgr("--trust-key", signed["pub"], "install", signed["pkg"], check=True)
    stored = device.state / "apps" / signed["cid"] / "package"
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01  # tamper with the installed copy after installation
    stored.write_bytes(bytes(data))
    proc = device.mgr("--trust-key", signed["pub"], "run", signed["cid"], check=False)
    assert proc.returncode != 0 and "signature does not match" in proc.stderr, proc.stderr
    assert "cannot be loaded" in proc.stderr.splitlines()[-1], proc.stderr
    assert device.log(signed["cid"]) == ""  # nothing ran


def test_apps_die_with_the_manager(device, tmp_path):
    root, cid = device.package(["sleep"], binary="sbx_trivial")
    device.install(root)
    sock = str(tmp_path / "appmgr.sock")
    daemon = subprocess.Popen([str(find_binary("rampart-appmgr")), *device.opts, "daemon", "--socket", sock],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: os.path.exists(sock)), "daemon did not listen"
        pid = json.loads(ctl(device, sock, "start", cid).stdout)["pid"]
        assert os.path.exists(f"/proc/{pid}")
    finally:
        daemon.kill()  # a crash: no orderly stop
        daemon.wait()
    # Unsupervised apps must not linger (PR_SET_PDEATHSIG): nothing would stop them.
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
                    open(f"/proc/{pid}/stat").read().split()[2] == "Z", 5), "the app outlived its manager"


def test_update_through_daemon_stops_replaces_and_restarts(device, tmp_path):
    cid = str(uuid.uuid4())
    v1, _ = device.package(["sleep-term"], binary="sbx_trivial", cid=cid)
    device.install(v1)
    sock = str(tmp_path / "appmgr.sock")
    daemon = subprocess.Popen([str(find_binary("rampart-appmgr")), *device.opts, "daemon", "--socket", sock],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: os.path.exists(sock)), "daemon did not listen"
        ctl(device, sock, "start", cid)
        assert wait_for(lambda: "sleeping" in device.log(cid))
        v2, _ = device.package(["whoami"], cid=cid)  # same component ID: an update
        status = json.loads(ctl(device, sock, "install", str(v2)).stdout)
        assert status["component_id"] == cid and status["state"] == "running", status
        assert wait_for(lambda: "hostname=escape" in device.log(cid)), device.log(cid)
        log = device.log(cid)
        assert log.index("got SIGTERM") < log.index("hostname=escape")  # old version stopped first
        ctl(device, sock, "remove", cid)
        assert not (device.state / "apps" / cid).exists()
        bad = ctl(device, sock, "install", "relative/path", check=False)
        assert "absolute" in bad.stderr
    finally:
        daemon.terminate()
        daemon.communicate(timeout=30)


def test_one_manager_per_state_directory(device, tmp_path):
    sock = str(tmp_path / "appmgr.sock")
    daemon = subprocess.Popen([str(find_binary("rampart-appmgr")), *device.opts, "daemon", "--socket", sock],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: os.path.exists(sock)), "daemon did not listen"
        proc = device.mgr("status", check=False)
        assert "another rampart-appmgr is using" in proc.stderr and "ctl" in proc.stderr, proc.stderr
        assert json.loads(ctl(device, sock, "status").stdout) == []
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


def test_refused_system_calls_are_logged_by_the_kernel(device):
    """Besides the app's own report, seccomp logs each refusal (SECCOMP_FILTER_FLAG_LOG)."""
    ptrace_nr = {"x86_64": 101, "aarch64": 117}.get(platform.machine())
    if ptrace_nr is None:
        pytest.skip(f"ptrace's system call number on {platform.machine()} is not listed in this test")
    try:
        kmsg = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        pytest.skip(f"/dev/kmsg is not readable here: {e}")
    try:
        os.lseek(kmsg, 0, os.SEEK_END)
        status, log, _ = device.run_app(["ptrace"])
        assert_refused(log, "ptrace", ["EPERM"])
        records = []
        for _ in range(1000):
            try:
                records.append(os.read(kmsg, 8192).decode(errors="replace"))
            except BlockingIOError:
                break
            except OSError:  # EPIPE: records overwritten while reading; keep going
                continue
        uid = status["uid"]
        hits = [r for r in records if "type=1326" in r and f" uid={uid} " in r and f" syscall={ptrace_nr} " in r]
        assert hits, f"no seccomp audit record for the refused ptrace(2) (syscall {ptrace_nr})"
    finally:
        os.close(kmsg)
