"""The device agent's process split: the long-running rampart-agent maps neither libcurl nor
libcrypto (each attestation and update check runs in a short-lived rampart-agent-work), and a worker
that is missing, crashes or sends a malformed result costs one failed round, never the agent."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from attest_world import world  # noqa: F401 (the fixture)
from conftest import find_binary, run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the monitor tests need root (peer UIDs)")


def mapped_libraries(pid):
    names = set()
    for line in pathlib.Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[5].startswith("/"):
            names.add(os.path.basename(fields[5]))
    return names


def test_idle_agent_maps_no_curl_or_crypto_and_still_serves(world):
    dev = world.device("split")
    proc, log = world.agent_daemon(dev, "--no-update")
    client = dev.state / "agent" / "client.pem"
    for _ in range(600):  # bounded: the first attestation runs on start, in a worker
        if client.exists() and "agent.attest.ok" in pathlib.Path(log.name).read_text():
            break
        assert proc.poll() is None, pathlib.Path(log.name).read_text()
        time.sleep(0.05)
    assert client.exists(), pathlib.Path(log.name).read_text()
    # The agent answers its socket only between jobs: after this the first worker has been reaped.
    out = run("rampart", "agent", "status", "--socket", dev.state / "agent.sock", "--output", "json", check=True)
    assert json.loads(out.stdout)["ok"] is True
    libs = mapped_libraries(proc.pid)
    assert not any(n.startswith(("libcurl", "libcrypto", "libssl", "libtss2")) for n in libs), sorted(libs)
    # The worker has exited: no child is left behind.
    children = pathlib.Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert children == [], children
    # Attestation on demand still renews the certificates, through a new worker.
    old = client.read_text()
    out = run("rampart", "agent", "attest", "--socket", dev.state / "agent.sock", "--output", "json", check=True)
    st = json.loads(out.stdout)
    assert st["ok"] is True and st["device_id"] == dev.id and st["not_after"] > time.time()
    assert client.read_text() != old
    assert not any(n.startswith(("libcurl", "libcrypto")) for n in mapped_libraries(proc.pid))


def agent_with_worker(tmp_path, script):
    """A copy of rampart-agent next to a stand-in worker (a shell script)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    agent = bindir / "rampart-agent"
    shutil.copy(find_binary("rampart-agent"), agent)
    if script is not None:
        worker = bindir / "rampart-agent-work"
        worker.write_text("#!/bin/sh\n" + script)
        worker.chmod(0o755)
    return agent


def run_once(world, dev, agent):
    return subprocess.run([str(agent), "--state", str(dev.state), "--monitor-socket", str(dev.sock), "--service",
                           world.url, "--service-ca", str(world.ca_file), "--once"], capture_output=True, text=True,
                          timeout=120)


def test_agent_without_its_worker_refuses_to_start(world, tmp_path):
    dev = world.device("noworker", register=False, claim=False, measure=False)
    p = run_once(world, dev, agent_with_worker(tmp_path, None))
    assert p.returncode == 1
    assert "rampart-agent-work" in p.stderr, p.stderr


@pytest.mark.parametrize("script,expect", [
    ("printf 'garbage' >&3\n", "agent worker result"),                 # not a result message
    ("printf '\\001\\001\\001' >&3\n", "agent worker result"),         # cut short
    ("kill -9 $$\n", "killed by signal 9"),                             # crashed without a result
    ("exit 0\n", "exited with status 0 without a result"),
])
def test_a_misbehaving_worker_is_a_failed_round(world, tmp_path, script, expect):
    dev = world.device("bad", register=False, claim=False, measure=False)
    p = run_once(world, dev, agent_with_worker(tmp_path, script))
    assert p.returncode == 1, p.stderr
    assert "agent.attest.failed" in p.stderr and expect in p.stderr, p.stderr
    assert not (dev.state / "agent" / "client.pem").exists()


def test_worker_that_closes_its_pipe_and_hangs_does_not_hold_the_agent(world, tmp_path):
    """A worker that closes its result pipe and then hangs: the agent still honours a stop request
    (SIGTERM): it stops the worker and exits instead of waiting for it without end."""
    dev = world.device("hang", register=False, claim=False, measure=False)
    agent = agent_with_worker(tmp_path, "exec 3>&-\nexec sleep 600\n")
    log = tmp_path / "agent.log"
    with open(log, "w") as out:  # a file, not a pipe: a stray worker cannot hold the test's read
        proc = subprocess.Popen([str(agent), "--state", str(dev.state), "--monitor-socket", str(dev.sock),
                                 "--service", world.url, "--service-ca", str(world.ca_file), "--no-update",
                                 "--socket", str(tmp_path / "agent.sock")], stdout=out, stderr=subprocess.STDOUT)
    worker = None
    try:
        children = pathlib.Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        for _ in range(400):  # bounded: until the worker has exec'd its sleep (pipe closed)
            try:
                kids = children.read_text().split() if proc.poll() is None else []
                cmd = pathlib.Path(f"/proc/{kids[0]}/cmdline").read_bytes() if kids else b""
            except OSError:
                kids, cmd = [], b""
            if b"sleep" in cmd:
                worker = int(kids[0])
                break
            time.sleep(0.05)
        assert worker, "the worker did not start"
        time.sleep(0.5)  # the agent has seen the pipe's end of file and waits for the worker
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("the agent did not stop while its worker hung")
        err = log.read_text()
        assert proc.returncode == 0, err
        assert "Sanitizer" not in err and "runtime error" not in err, err
        # The agent stopped its worker before exiting (it is gone or a zombie awaiting init).
        for _ in range(100):
            try:
                gone = pathlib.Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z"
            except OSError:
                gone = True
            if gone:
                break
            time.sleep(0.05)
        assert gone, "the hung worker outlived the agent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if worker and pathlib.Path(f"/proc/{worker}").exists():
            try:
                os.kill(worker, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_update_worker_links_no_openssl_curl_or_tss():
    """The update job's worker is built on mbedTLS with no root-of-trust backend: none of the large
    libraries the attestation worker needs is even mapped into the process that downloads updates."""
    out = subprocess.run(["ldd", str(find_binary("rampart-agent-update"))], capture_output=True, text=True,
                         check=True).stdout
    libs = {ln.split()[0] for ln in out.splitlines() if ln.strip()}
    for banned in ("libcrypto", "libssl", "libcurl", "libgnutls", "libtss2", "libmbed"):
        assert not any(name.startswith(banned) for name in libs), (banned, out)
    p = subprocess.run([str(find_binary("rampart-agent-update")), "attest"], capture_output=True, text=True)
    assert p.returncode == 2 and "rampart-agent-update update" in p.stderr, p.stderr
