#!/usr/bin/python3
"""Peak resident memory of the device agent during an OS update (goal: agent <= 4 MiB).

The agent (rampart-agent, an idle scheduler) runs each update check in a short-lived worker: the
lean rampart-agent-update (mbedTLS) when it is installed next to rampart-agent, otherwise
rampart-agent-work (OpenSSL + libcurl). The agent reports the last update worker's peak resident
set from the kernel (wait4 ru_maxrss) as update.worker_peak_rss_kib in `rampart agent status`.
(The kernel's figure also covers the forked copy of the agent before the worker's exec, so it is
never below the agent's own resident set at that moment: the agent's VmHWM shows how much that is.)

Per run: rampartd with a tenant (tests/blackbox/attest_world.py), a device with the soft root of
trust, its security monitor and agent, in a product of its own (so its group has no deployment
before the measurement); after the agent's first check an OS bundle of --mib MiB signed by a key
the device trusts is deployed to the group and `rampart device update --now` runs the check. The
run counts only when the check installed the OS bundle and the bundle lies in a slot byte for
byte. Read then: the worker's peak RSS, the agent daemon's VmHWM and the monitor's VmHWM
(/proc/PID/status).

The goal is judged on the agent as a whole: every ~10 ms during the update, the PFNs of the pages
resident in the daemon and its live descendants (/proc/PID/maps + /proc/PID/pagemap, every mapping)
are united; a page both map (libc, ld.so, copy-on-write pages before the worker's exec) is resident
once, where worker RSS + agent VmHWM counts it twice. The largest union x page size is kept; it can
miss a shorter spike, so the worker's ru_maxrss (max over runs) is printed beside the sampled worker.

Two variants in the same invocation: "lean" (the build's own directory: rampart-agent-update
present) and "reference" (a directory holding copies of only rampart-agent and
rampart-agent-work, so updates fall back to the OpenSSL/libcurl worker). As in
bench/device_memory.py the device processes load private copies of every library but the C
library and the loader (LD_LIBRARY_PATH to fresh files, evicted from the page cache).

  RAMPART_BUILD=build-x bench/update/agent_memory.py [--mib 64] [--runs 3]

Root only (the monitor checks peer UIDs; the agent installs into the device's slots).
"""
import argparse
import array
import errno
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "blackbox"))
sys.path.insert(0, str(ROOT / "bench"))

import device_bench  # noqa: E402
from device_bench import binary, built, wait_for  # noqa: E402

GOAL_KIB = 4096
LEAN, REFERENCE = "lean", "reference"
DEVICE_BINARIES = ("rampart-monitor", "rampart-agent", "rampart-agent-work", "rampart-agent-update")
# A valid OS bundle layout (tests/blackbox/boot_device.py): one component, never started here.
OS_JSON = {"version": 1, "components": [{"name": "svc", "exec": "bin/svc.sh", "args": ["${RUN}"],
                                         "ready_file": "${RUN}/running-version"}],
           "health": {"settle_ms": 100}}


def private_libs(build, dest):
    return device_bench.private_libs([build], DEVICE_BINARIES, dest)


def reference_dir(build, dest):
    """rampart-agent and rampart-agent-work alone: the agent finds no lean update worker."""
    dest.mkdir()
    for n in ("rampart-agent", "rampart-agent-work"):
        shutil.copy(binary(build, n), dest / n)
    return dest


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmHWM for process {pid}")


def os_bundle(tmp, key, mib, version):
    """An OS bundle of MIB MiB of random payload (beside a valid os.json) signed with KEY."""
    payload = tmp / "bundle-payload"
    (payload / "bin").mkdir(parents=True)
    (payload / "bin" / "svc.sh").write_text("#!/bin/sh\nexec sleep 600\n")
    (payload / "bin" / "svc.sh").chmod(0o755)
    (payload / "os.json").write_text(json.dumps(OS_JSON))
    with open(payload / "rootfs.img", "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    out = tmp / "os-bench.rpkg"
    run("rampart", "image-package", "pack", "--type", "os-bundle", "--payload-directory", payload, "--component-id",
        OS_COMPONENT, "--name", "rampart-os", "--key", key, "--output", out, "--version", str(version), check=True,
        timeout=600)
    shutil.rmtree(payload)
    return out


def new_group(world, n):
    """A product of its own per run: its Field Test group has no deployment yet."""
    r = world.svc.request("POST", f"/v1/tenants/{world.tenant}/products", {"name": f"Bench {n}"})
    assert r.status == 201, r
    r = world.svc.request("GET", f"/v1/tenants/{world.tenant}/products/{r.json['product_id']}/device-groups")
    assert r.status == 200, r
    return next(g["device_group_id"] for g in r.json["items"] if g["name"] == "Field Test")


def deploy(world, group, image_ids):
    r = world.svc.request("POST", f"/v1/tenants/{world.tenant}/device-groups/{group}/deployments",
                          {"image_ids": image_ids})
    assert r.status == 201, r


def agent_status(sock):
    try:
        proc = run("rampart", "agent", "status", "--socket", sock, "--output", "json", timeout=30)
        return json.loads(proc.stdout) if proc.stdout.strip() else {}
    except (ValueError, subprocess.TimeoutExpired):
        return {}


def stop_all(procs):
    """SIGTERM each process started here (newest first), then SIGKILL whatever is left of its
    session (an agent's worker still running)."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        deadline = time.monotonic() + 5
        while session_pids(p.pid) and time.monotonic() < deadline:
            for pid in session_pids(p.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)


PAGE = os.sysconf("SC_PAGE_SIZE")
PM_PRESENT, PM_SWAPPED, PM_PFN = 1 << 63, 1 << 62, (1 << 55) - 1
# Kernel-provided mappings that are not the process's memory (RSS does not count them either).
NOT_PROCESS_MEMORY = ("[vsyscall]", "[vvar]", "[vvar_vclock]")
GONE = (errno.ENOENT, errno.ESRCH)  # the process exited (or exec'd) between two reads


def descendants(root):
    """Live (non-zombie) descendants of ROOT, from one scan of /proc (no task/*/children here)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and fields[0] != b"Z":
            kids.setdefault(int(fields[1]), []).append(int(d))
    out, todo = [], list(kids.get(root, ()))
    while todo and len(out) < 64:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


def resident_pages(pid):
    """(PFNs of the pages resident in PID, swap entries of PID) from /proc/PID/maps and
    /proc/PID/pagemap, or None when the process is gone. Every mapping is read: anonymous, file,
    stack and heap alike, as the kernel's RSS counts them."""
    try:
        fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    except OSError as e:
        if e.errno in GONE:
            return None
        raise
    try:
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read()
        pfns, swapped = set(), set()
        for line in maps.splitlines():
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].strip() in NOT_PROCESS_MEMORY:
                continue
            start, end = (int(x, 16) for x in parts[0].split("-"))
            for lo in range(start, end, 1 << 30):  # 1 GiB of address space (2 MiB of entries) a read
                want = (min(end, lo + (1 << 30)) - lo) // PAGE * 8
                buf = os.pread(fd, want, lo // PAGE * 8)
                if len(buf) != want:  # EOF: the address space is gone
                    return None
                entries = array.array("Q", buf)
                pfns.update(e & PM_PFN for e in entries if e & PM_PRESENT)
                swapped.update(e & PM_PFN for e in entries if e & PM_SWAPPED and not e & PM_PRESENT)  # type+offset
        return pfns, swapped
    except OSError as e:
        if e.errno in GONE or e.errno == errno.EIO:
            return None
        raise
    finally:
        os.close(fd)


def vm_rss(pid):
    """VmRSS of PID in KiB (the kernel's counters, for comparison), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:")), None)
    except OSError:
        return None


def exe_name(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return f"pid {pid}"


class PageSampler(threading.Thread):
    """Every ~10 ms until stop() (and at most SECONDS): the distinct physical pages resident in the
    agent daemon and its descendants together; keeps the largest union seen."""

    def __init__(self, agent_pid, seconds=900, interval=0.01):
        super().__init__(daemon=True)
        self.agent, self.seconds, self.interval = agent_pid, seconds, interval
        self.done = threading.Event()
        self.samples = self.with_worker = 0
        self.peak = {"kib": 0, "swapped_kib": 0, "procs": []}
        self.swapped_max = self.worker_max = 0
        self.error = None

    def run(self):
        end = time.monotonic() + self.seconds
        try:
            while not self.done.is_set() and time.monotonic() < end and self.samples < 200000:
                self.sample()
                self.done.wait(self.interval)
        except Exception as e:  # reported by stop(): a sampler that dies must not pass unnoticed
            self.error = e

    def sample(self):
        procs = []
        for pid in [self.agent] + descendants(self.agent):
            pages = resident_pages(pid)
            if pages is not None:
                procs.append((pid, pages, vm_rss(pid)))
        if not procs or procs[0][0] != self.agent:
            return  # the daemon itself is gone: nothing to measure
        self.samples += 1
        self.with_worker += len(procs) > 1
        union = set().union(*(p[0] for _, p, _ in procs))
        swapped = set().union(*(p[1] for _, p, _ in procs))
        self.swapped_max = max(self.swapped_max, len(swapped) * PAGE // 1024)
        self.worker_max = max([self.worker_max] + [len(p[0]) * PAGE // 1024 for _, p, _ in procs[1:]])
        if len(union) * PAGE // 1024 > self.peak["kib"]:
            self.peak = {"kib": len(union) * PAGE // 1024, "swapped_kib": len(swapped) * PAGE // 1024,
                         "procs": [(exe_name(pid), len(p[0]) * PAGE // 1024, rss) for pid, p, rss in procs]}

    def stop(self):
        self.done.set()
        self.join(timeout=60)
        if self.is_alive():
            raise SystemExit("the page sampler did not stop within 60 s")
        if self.error:
            raise SystemExit(f"the page sampler failed: {self.error!r}")
        if not self.with_worker:
            raise SystemExit(f"the page sampler never saw the agent's update worker ({self.samples} samples)")
        return self.peak


def measure_one(world, agent_dir, variant, n, bundle, bundle_sha, image_id, env):
    tmp = world.tmp / f"run-{n}"
    tmp.mkdir()
    state = tmp / "state"
    rundir = pathlib.Path(tempfile.mkdtemp(prefix="rp-agentmem-"))
    os.chmod(rundir, 0o755)
    procs = []
    try:
        info = json.loads(run("rampart-os", "provision", "--state", state, "--rot", "soft", "--output", "json",
                              check=True).stdout)
        (state / "trust").mkdir(exist_ok=True)
        shutil.copy(world.tmp / "signer.pub", state / "trust" / "signer.pub")
        sock = rundir / "monitor.sock"
        mlog_path = tmp / "monitor.log"
        mon = subprocess.Popen([binary(BUILD, "rampart-monitor"), "--state", str(state), "--rot", "soft", "--socket",
                                str(sock), "--allow", f"agent={os.geteuid()}", "--allow", "boot=0"],
                               stdout=open(mlog_path, "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
        procs.append(mon)
        wait_for(lambda: "monitor.ready" in mlog_path.read_text() or mon.poll() is not None, "the monitor", 20)
        assert mon.poll() is None, mlog_path.read_text()
        run("rampart-os", "measure", "--socket", sock, "--pcr", "8", "--name", "os-bundle", "--version", "1",
            "--sha256", world.os_sha, check=True)
        group = new_group(world, n)
        r = world.svc.request("POST", "/v1/devices", {"device_id": info["device_id"],
                                                      "public_key_pem": info["public_key_pem"]})
        assert r.status == 201, r
        r = world.svc.request("POST", f"/v1/tenants/{world.tenant}/devices/claim",
                              {"device_id": info["device_id"], "device_group_id": group})
        assert r.status in (200, 201), r
        deploy(world, group, [])  # the group's director exists and targets nothing
        asock = str(rundir / "agent.sock")
        alog_path = tmp / "agent.log"
        agent = subprocess.Popen([str(agent_dir / "rampart-agent"), "--state", str(state), "--monitor-socket",
                                  str(sock), "--service", world.url, "--service-ca", str(world.ca_file), "--rot",
                                  "soft", "--socket", asock], stdout=open(alog_path, "w"), stderr=subprocess.STDOUT,
                                 env=env, start_new_session=True)
        procs.append(agent)
        # The first attestation and the (empty) update check that follows it.
        wait_for(lambda: agent_status(asock).get("update", {}).get("ran") or agent.poll() is not None,
                 "the agent's first update check", 120, alog_path)
        assert agent.poll() is None, alog_path.read_text()
        text = alog_path.read_text()
        worker = next((ln.split("update checks run in ", 1)[1].split()[0] for ln in text.splitlines()
                       if "update checks run in " in ln), None)
        want = "rampart-agent-update" if variant == LEAN else "rampart-agent-work"
        if not worker or os.path.basename(worker.strip("\"'.,")) != want:
            raise SystemExit(f"{variant}: the agent does not run update checks in {want}:\n{text}")
        st = agent_status(asock)
        assert st.get("update", {}).get("ok") is True and st["update"]["installed"] == 0, st

        deploy(world, group, [image_id])
        sampler = PageSampler(agent.pid)
        sampler.start()
        try:
            t0 = time.monotonic()
            proc = run("rampart", "device", "update", "--now", "--socket", asock, "--output", "json", timeout=900)
            seconds = time.monotonic() - t0
            if proc.returncode != 0:
                raise SystemExit(f"{variant}: the update check failed:\n{proc.stdout}{proc.stderr}\n"
                                 f"{alog_path.read_text()}")
            wait_for(lambda: agent_status(asock).get("update", {}).get("os_installed") is True, "os_installed in "
                     "the agent's status", 60, alog_path)
        finally:
            sampler.done.set()
        peak = sampler.stop()
        up = agent_status(asock)["update"]
        assert up["ok"] is True and up["installed"] == 1, up
        # The bundle landed: a slot holds it byte for byte, so the number is from a real install.
        size = bundle.stat().st_size
        slot = None
        for s in sorted((state / "boot" / "slots").glob("*/bundle.rpkg")):
            if s.stat().st_size == size and sha256_file(s) == bundle_sha:
                slot = s.parent.name
        if not slot:
            raise SystemExit(f"{variant}: no slot holds the {size}-byte bundle after the check: "
                             f"{[(str(s), s.stat().st_size) for s in (state / 'boot' / 'slots').glob('*/*')]}")
        return {"worker": int(up["worker_peak_rss_kib"]), "agent": vm_hwm(agent.pid), "monitor": vm_hwm(mon.pid),
                "seconds": seconds, "slot": slot, "size": size, "distinct": peak["kib"], "peak": peak,
                "samples": sampler.samples, "with_worker": sampler.with_worker, "swapped": sampler.swapped_max,
                "worker_sampled": sampler.worker_max}
    finally:
        stop_all(procs)
        shutil.rmtree(rundir, ignore_errors=True)
        shutil.rmtree(state / "boot" / "slots", ignore_errors=True)  # the bundle copy: free the space
        shutil.rmtree(state / "update" / "downloads", ignore_errors=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def median(vals):
    vals = sorted(vals)
    return vals[len(vals) // 2] if len(vals) % 2 else (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2


def mib(kib):
    return f"{kib / 1024:.2f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=64, help="size of the OS bundle's payload (default 64)")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (the monitor checks peer UIDs; the agent installs into the device's slots)")
    if not 1 <= a.mib <= 900 or not 1 <= a.runs <= 20:
        sys.exit("--mib must be 1..900 and --runs 1..20")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="rp-agentmem-"))
    variants = {}
    if built(BUILD, "rampart-agent-update"):
        variants[LEAN] = pathlib.Path(binary(BUILD, "rampart-agent")).parent
    else:
        print(f"lean variant unavailable: rampart-agent-update is not built in {BUILD}; measuring the reference only",
              flush=True)
    variants[REFERENCE] = reference_dir(BUILD, tmp / "reference-bin")
    env = dict(os.environ, LD_LIBRARY_PATH=str(private_libs(BUILD, tmp / "libs")))
    # The bundle must fit rampartd's upload limit (64 MiB by default).
    max_image = (a.mib + 16) << 20

    class BigRampartd(attest_world.Rampartd):
        def start(self, *extra):
            return super().start("--max-image-size", str(max_image), *extra)

    attest_world.Rampartd = BigRampartd
    world = World(tmp)
    results = {v: [] for v in variants}
    try:
        bundle = os_bundle(tmp, world.tmp / "signer.pem", a.mib, 4)
        bundle_sha = sha256_file(bundle)
        image_id = world.upload(world.tenant, bundle.read_bytes())["image_id"]
        print(f"OS bundle: {bundle.stat().st_size} bytes ({a.mib} MiB payload), build {BUILD}", flush=True)
        n = 0
        for i in range(a.runs):
            for variant, agent_dir in variants.items():
                n += 1
                r = measure_one(world, agent_dir, variant, n, bundle, bundle_sha, image_id, env)
                results[variant].append(r)
                each = ", ".join(f"{name} {kib} (VmRSS {rss})" for name, kib, rss in r["peak"]["procs"])
                print(f"run {i + 1} {variant:9s}: agent+worker distinct pages peak {r['distinct']} KiB "
                      f"({mib(r['distinct'])}) [at that moment, distinct KiB each: {each}; {r['with_worker']} of "
                      f"{r['samples']} samples saw the worker; swapped max {r['swapped']} KiB]", flush=True)
                print(f"    worker ru_maxrss {r['worker']} KiB ({mib(r['worker'])}), agent VmHWM {r['agent']} KiB, "
                      f"plain sum (double-counts shared pages) {r['worker'] + r['agent']} KiB "
                      f"({mib(r['worker'] + r['agent'])}), monitor VmHWM {r['monitor']} KiB; installed into slot "
                      f"{r['slot']} in {r['seconds']:.1f} s", flush=True)
            if LEAN in variants:
                lean, ref = results[LEAN][-1], results[REFERENCE][-1]
                print(f"run {i + 1} ratio lean/reference: "
                      f"agent+worker distinct {lean['distinct'] / ref['distinct']:.2f}, "
                      f"worker ru_maxrss {lean['worker'] / ref['worker']:.2f}, "
                      f"plain sum {(lean['worker'] + lean['agent']) / (ref['worker'] + ref['agent']):.2f}",
                      flush=True)
    finally:
        world.close()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nMedian of {a.runs} run(s), KiB ([min..max] of the agent+worker distinct pages peak)")
    print(f"{'variant':9s} {'agent+worker distinct pages peak':>32s} {'worker ru_maxrss':>16s} {'agent VmHWM':>11s} "
          f"{'plain sum':>9s} {'monitor VmHWM':>13s} {'install s':>9s}")
    med = {}
    for variant, runs in results.items():
        m = {k: median([r[k] for r in runs]) for k in ("distinct", "worker", "agent", "monitor", "seconds")}
        m["sum"] = median([r["worker"] + r["agent"] for r in runs])
        m["worker_max"] = max(r["worker"] for r in runs)
        m["worker_sampled_max"] = max(r["worker_sampled"] for r in runs)
        med[variant] = m
        ds = sorted(r["distinct"] for r in runs)
        print(f"{variant:9s} {m['distinct']:13.0f} KiB / {m['distinct'] / 1024:5.2f} MiB {m['worker']:16.0f} "
              f"{m['agent']:11.0f} {m['sum']:9.0f} {m['monitor']:13.0f} {m['seconds']:9.1f}  [{ds[0]}..{ds[-1]}]")
    if LEAN in med:
        lean, ref = med[LEAN], med[REFERENCE]
        print(f"ratio lean/reference: agent+worker distinct {lean['distinct'] / ref['distinct']:.2f}, "
              f"worker ru_maxrss {lean['worker'] / ref['worker']:.2f}, plain sum {lean['sum'] / ref['sum']:.2f}")
    else:
        print("ratio lean/reference: n/a (the lean worker is not built)")
    judged = LEAN if LEAN in med else REFERENCE
    m = med[judged]
    print(f"goal: agent (daemon + update worker) peak resident <= 4 MiB: "
          f"{'met' if m['distinct'] <= GOAL_KIB else 'missed'}")
    print(f"  (judged on the {judged} variant's median agent+worker distinct pages peak, {mib(m['distinct'])})")
    gap = m["worker_max"] - m["worker_sampled_max"]
    bound = (f"{gap} KiB above the largest sampled worker ({m['worker_sampled_max']} KiB): at most this much of "
             f"the worker alone may have been missed by the ~10 ms sampling" if gap >= 0 else
             f"{-gap} KiB BELOW the largest sampled worker ({m['worker_sampled_max']} KiB, = its VmRSS then): the "
             f"kernel's high-water mark lags here, so it is no strict bound of the worker alone")
    print(f"  for comparison: worker alone, kernel ru_maxrss: median {mib(m['worker'])}, max {mib(m['worker_max'])}, "
          f"{bound}")
    print(f"  for comparison: plain sum worker ru_maxrss + agent VmHWM (counts libc, ld.so and other shared pages "
          f"twice): median {mib(m['sum'])}")

if __name__ == "__main__":
    BUILD = os.environ.get("RAMPART_BUILD", str(ROOT / "build"))
    os.environ["RAMPART_BUILD"] = BUILD  # read by the black-box harness at import
    import attest_world  # noqa: E402
    from attest_world import OS_COMPONENT, World  # noqa: E402
    from boot_device import session_pids  # noqa: E402
    from conftest import run  # noqa: E402
    main()
