#!/usr/bin/python3
"""Idle resident memory of the device's security monitor and agent (issue 4: together <= 1.5 MiB PSS).

Starts rampartd with a tenant and an OS bundle (tests/blackbox/attest_world.py), then for each build
and root-of-trust backend: provisions a device, starts rampart-monitor and rampart-agent the way the
black-box tests do, waits until the first attestation succeeded and the update check that follows
it ended (the agent is then idle in its loop), and reads each process' memory.

PSS on a shared host depends on what else maps the same library pages (rampartd, other tests), so
the monitor and agent run with private copies of every library but the C library and the dynamic
loader (LD_LIBRARY_PATH to a fresh directory: new inodes, so no page is shared with any other
process). Their PSS is then what they cost on a device where nothing else maps those libraries;
libc and ld.so, which every process of a device maps, count with the kernel's split as usual.
Values are from /proc/PID/smaps_rollup; --detail adds the largest mappings from /proc/PID/smaps.

  RAMPART_BUILD=build-x bench/device_memory.py [--reference-build build-y] [--backend soft|tpm2|both]
                                               [--runs N] [--detail]

--reference-build measures that build's rampart-monitor and rampart-agent in the same run (the
service and rampart-os come from RAMPART_BUILD), and prints the ratio against it.
"""
import argparse
import collections
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "blackbox"))
sys.path.insert(0, str(ROOT / "bench"))

import device_bench  # noqa: E402
from device_bench import binary, wait_for  # noqa: E402

from attest_world import World  # noqa: E402
from conftest import free_port, run  # noqa: E402

GOAL_KIB = 1536


def rollup(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                out[parts[0][:-1]] = int(parts[1])
    return out


def mappings(pid):
    """Per mapping name: (Rss, Pss, Private_Dirty) in KiB."""
    agg = collections.defaultdict(lambda: [0, 0, 0])
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and not parts[0].endswith(":"):
                name = parts[5] if len(parts) > 5 else "[anon]"
                name = os.path.basename(name) if name.startswith("/") else name
            elif parts[0] in ("Rss:", "Pss:", "Private_Dirty:"):
                agg[name][("Rss:", "Pss:", "Private_Dirty:").index(parts[0])] += int(parts[1])
    return agg


def private_libs(builds, dest):
    """Private copies of the monitor's and agent's libraries (bench/device_bench.py); the TPM's
    transport is chosen at run time (dlopen by the TCTI loader), so its libraries are added."""
    tctis = [str(p) for p in pathlib.Path("/usr/lib/x86_64-linux-gnu").glob("libtss2-tcti-*.so.0")]
    return device_bench.private_libs(builds, ["rampart-monitor", "rampart-agent", "rampart-agent-work"], dest,
                                     tctis)


def start_swtpm(tmp):
    state = pathlib.Path(tmp) / "tpm"
    state.mkdir()
    port = free_port()
    proc = subprocess.Popen([shutil.which("swtpm"), "socket", "--tpm2", "--server",
                             f"type=tcp,port={port},bindaddr=127.0.0.1", "--ctrl",
                             f"type=tcp,port={port + 1},bindaddr=127.0.0.1", "--tpmstate", f"dir={state}",
                             "--flags", "not-need-init,startup-clear"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"swtpm:host=127.0.0.1,port={port}"


def measure_one(world, build, backend, n, detail, env):
    tmp = world.tmp / f"m-{n}"
    tmp.mkdir()
    tcti = None
    state = tmp / "state"
    rundir = pathlib.Path(tempfile.mkdtemp(prefix="rp-mem-"))
    os.chmod(rundir, 0o755)
    procs = []
    try:
        if backend == "tpm2":  # a TPM of its own per device: its own identity
            swtpm, tcti = start_swtpm(tmp)
            procs.append(swtpm)
        args = ["provision", "--state", state, "--rot", backend, "--output", "json"]
        if tcti:
            args += ["--tpm2-tcti", tcti]
        import json
        info = json.loads(run("rampart-os", *args, check=True).stdout)
        sock = rundir / "monitor.sock"
        mlog = open(tmp / "monitor.log", "w+")
        margs = [binary(build, "rampart-monitor"), "--state", str(state), "--rot", backend, "--socket", str(sock),
                 "--allow", f"agent={os.geteuid()}", "--allow", "boot=0"]
        if tcti:
            margs += ["--tpm2-tcti", tcti]
        mon = subprocess.Popen(margs, stdout=mlog, stderr=subprocess.STDOUT, env=env)
        procs.append(mon)
        wait_for(lambda: "monitor.ready" in (tmp / "monitor.log").read_text() or mon.poll() is not None,
                 "the monitor", 20)
        assert mon.poll() is None, (tmp / "monitor.log").read_text()
        run("rampart-os", "measure", "--socket", sock, "--pcr", "8", "--name", "os-bundle", "--version", "1",
            "--sha256", world.os_sha, check=True)
        r = world.svc.request("POST", "/v1/devices", {"device_id": info["device_id"],
                                                      "public_key_pem": info["public_key_pem"]})
        assert r.status == 201, r
        r = world.svc.request("POST", f"/v1/tenants/{world.tenant}/devices/claim",
                              {"device_id": info["device_id"], "device_group_id": world.groups["Field Test"]})
        assert r.status in (200, 201), r
        alog_path = tmp / "agent.log"
        alog = open(alog_path, "w+")
        agent = subprocess.Popen([binary(build, "rampart-agent"), "--state", str(state), "--monitor-socket",
                                  str(sock), "--service", world.url, "--service-ca", str(world.ca_file), "--rot",
                                  backend], stdout=alog, stderr=subprocess.STDOUT, env=env)
        procs.append(agent)
        wait_for(lambda: "agent.update.done" in alog_path.read_text() or "agent.update.failed" in alog_path.read_text()
                 or agent.poll() is not None, "the first attestation and update check", 120, alog_path)
        text = alog_path.read_text()
        assert agent.poll() is None and "agent.attest.ok" in text, text
        # Idle: the agent is back in poll(), its workers have exited, and the monitor released memory
        # one second after its last request. Settled when two readings a second apart agree.
        last = None
        for _ in range(15):
            time.sleep(1.0)
            now = (rollup(mon.pid)["Pss"], rollup(agent.pid)["Pss"])
            if last and abs(now[0] - last[0]) <= 8 and abs(now[1] - last[1]) <= 8:
                break
            last = now
        pids = {"monitor": mon.pid, "agent": agent.pid}
        rows = {}
        for role, pid in pids.items():
            r = rollup(pid)
            rows[role] = {"rss": r["Rss"], "pss": r["Pss"], "pclean": r["Private_Clean"], "pdirty": r["Private_Dirty"]}
            if detail:
                print(f"  {build} {backend} {role}: top mappings (Rss Pss Private_Dirty KiB)")
                for name, (rss, pss, pd) in sorted(mappings(pid).items(), key=lambda kv: -kv[1][1])[:12]:
                    print(f"    {name:40s} {rss:6d} {pss:6d} {pd:6d}")
        return rows
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(rundir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference-build")
    ap.add_argument("--backend", choices=["soft", "tpm2", "both"], default="soft")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--detail", action="store_true", help="print the largest mappings of each process")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (pagemap, and the monitor checks peer UIDs)")
    build = os.environ.get("RAMPART_BUILD", str(ROOT / "build"))
    builds = [build] + ([a.reference_build] if a.reference_build else [])
    backends = ["soft", "tpm2"] if a.backend == "both" else [a.backend]
    if "tpm2" in backends and not shutil.which("swtpm"):
        sys.exit("tpm2 needs swtpm")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="rp-devmem-"))
    world = World(tmp)
    env = dict(os.environ, LD_LIBRARY_PATH=str(private_libs(builds, tmp / "libs")))
    results = collections.defaultdict(list)
    n = 0
    try:
        for backend in backends:
            for _ in range(a.runs):
                for b in builds:
                    n += 1
                    rows = measure_one(world, b, backend, n, a.detail, env)
                    results[(b, backend)].append(rows)
                    print(f"run {n}: {b} {backend}: " + ", ".join(
                        f"{role} PSS {r['pss']} (clean {r['pclean']}, dirty {r['pdirty']})" for role, r in rows.items()),
                        flush=True)
    finally:
        world.close()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nIdle memory, KiB (median of {a.runs} run(s); range of the PSS sums in brackets)")
    keys = ("rss", "pss", "pclean", "pdirty")
    print(f"{'build':22s} {'backend':7s} {'process':8s} {'RSS':>7s} {'PSS':>7s} {'PrivClean':>9s} {'PrivDirty':>9s}")
    sums = {}
    for (b, backend), runs in results.items():
        def med(role, key):
            vals = sorted(r[role][key] for r in runs)
            return vals[len(vals) // 2]
        total = {k: 0 for k in keys}
        for role in ("monitor", "agent"):
            row = {k: med(role, k) for k in keys}
            for k in keys:
                total[k] += row[k]
            print(f"{b:22s} {backend:7s} {role:8s} {row['rss']:7d} {row['pss']:7d} {row['pclean']:9d} "
                  f"{row['pdirty']:9d}")
        pss = sorted(r["monitor"]["pss"] + r["agent"]["pss"] for r in runs)
        print(f"{b:22s} {backend:7s} {'sum':8s} {total['rss']:7d} {total['pss']:7d} {total['pclean']:9d} "
              f"{total['pdirty']:9d}  [{pss[0]}..{pss[-1]}]  goal {GOAL_KIB}: "
              f"{'met' if total['pss'] <= GOAL_KIB else 'missed'}")
        sums[(b, backend)] = total["pss"]
    if a.reference_build:
        for backend in backends:
            ours, ref = sums[(build, backend)], sums[(a.reference_build, backend)]
            print(f"{backend}: PSS sum {ours} KiB vs reference {ref} KiB: ratio {ours / ref:.2f}")


if __name__ == "__main__":
    main()
