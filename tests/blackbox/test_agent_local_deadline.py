"""Black-box test of the agent's device-local API deadline: the agent serves one local peer at a
time, so a peer that trickles its request a byte at a time must be cut off after one deadline for
the whole request, and a concurrent request from another connection is answered meanwhile."""
import json
import pathlib
import select
import socket
import subprocess
import threading
import time

import pytest

from conftest import find_binary

STEPS = 16          # the slow peer sends one byte per step ...
STEP_S = 0.5        # ... every half second: 8 s in all, well past the agent's 2 s request deadline


@pytest.fixture
def agent(tmp_path):
    ca_key, ca = tmp_path / "ca.key", tmp_path / "ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=unused test CA", "-days", "1", "-keyout", str(ca_key), "-out", str(ca)],
                   check=True, capture_output=True, timeout=60)
    state = tmp_path / "state"
    state.mkdir()
    log = open(tmp_path / "agent.log", "w+")
    # No monitor and no service: attestation fails and is retried with backoff, the local API works.
    proc = subprocess.Popen([str(find_binary("rampart-agent")), "--state", str(state), "--monitor-socket",
                             str(tmp_path / "no-monitor.sock"), "--service", "https://127.0.0.1:1", "--service-ca",
                             str(ca), "--no-update"], stdout=log, stderr=subprocess.STDOUT)
    sock = state / "agent.sock"
    try:
        for _ in range(600):  # bounded: up to a minute (ASan)
            if sock.exists() and ask(sock, b"status\n").get("ok") is not None:
                break
            assert proc.poll() is None, pathlib.Path(log.name).read_text()
            time.sleep(0.1)
        yield sock, log
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        log.close()


def ask(path, line):
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(60)
            s.connect(str(path))
            s.sendall(line)
            return json.loads(s.makefile().readline() or "{}")
    except (OSError, ValueError):
        return {}


def test_trickling_peer_is_cut_off_and_others_are_served(agent):
    sock, log = agent
    events = []
    slow_reply = []
    slow_started = threading.Event()

    def slow_peer():
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(sock))
        got = b""
        for i in range(STEPS):
            try:
                s.send(b"s")
            except OSError:
                pass  # cut off: keep to the schedule all the same, so "finished" means the same in both cases
            if i == 0:
                slow_started.set()
            time.sleep(STEP_S)
            if select.select([s], [], [], 0)[0]:
                try:
                    got += s.recv(4096, socket.MSG_DONTWAIT)
                except OSError:
                    pass
        events.append("slow peer finished")
        slow_reply.append(got)
        s.close()

    t = threading.Thread(target=slow_peer)
    t.start()
    assert slow_started.wait(30)
    time.sleep(STEP_S / 2)  # the slow peer is first in the agent's queue
    reply = ask(sock, b"status\n")
    events.append("status answered")
    t.join(timeout=120)
    assert reply.get("ok") is not None, (reply, pathlib.Path(log.name).read_text())
    assert events == ["status answered", "slow peer finished"], events
    answer = json.loads(slow_reply[0].decode().splitlines()[0])
    assert answer["ok"] is False and "timed out" in answer["error"], answer
    text = pathlib.Path(log.name).read_text()
    assert "did not send its request in time" in text, text
