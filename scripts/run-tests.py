#!/usr/bin/python3
"""Run every Rampart test and print one summary line: "N passed, M failed, K skipped".

Stages, each counted per test case:
  1. build the tree three ways: normal (build/), ASan+UBSan (build-asan/), clang+libFuzzer (build-fuzz/)
  2. unit tests (cmocka, counted per case) and seed-corpus replays, in build/ and build-asan/
  3. black-box tests (pytest) against the real binaries of build/ and of build-asan/
  4. a short libFuzzer run of every fuzz target (RAMPART_FUZZ_SECONDS, default 60 s each)

Environment: RAMPART_TEST_STAGES=build,unit,blackbox,fuzz selects stages;
RAMPART_TEST_BUILDS=build,build-asan selects the builds tested; PYTEST_ARGS adds pytest options.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parents[1]
os.chdir(ROOT)
STAGES = os.environ.get("RAMPART_TEST_STAGES", "build,unit,blackbox,fuzz").split(",")
BUILDS = os.environ.get("RAMPART_TEST_BUILDS", "build,build-asan").split(",")
FUZZ_SECONDS = int(os.environ.get("RAMPART_FUZZ_SECONDS", "60"))

SANITIZER_ENV = {
    "ASAN_OPTIONS": "abort_on_error=1:detect_leaks=1:strict_string_checks=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}

totals = {"passed": 0, "failed": 0, "skipped": 0}
failures = []


def record(stage, name, passed=0, failed=0, skipped=0):
    totals["passed"] += passed
    totals["failed"] += failed
    totals["skipped"] += skipped
    if failed:
        failures.append(f"{stage}: {name}")


def banner(text):
    print(f"\n=== {text}", flush=True)


def stage_build(build):
    banner(f"building {build}")
    start = time.monotonic()
    proc = subprocess.run(["scripts/build.sh", build])
    ok = proc.returncode == 0
    record("build", build, passed=ok, failed=not ok)
    print(f"{build}: {'built' if ok else 'BUILD FAILED'} in {time.monotonic() - start:.0f} s", flush=True)
    return ok


CMOCKA_SUMMARY = {
    "passed": re.compile(r"^\[  PASSED  \] (\d+) test", re.M),
    "failed": re.compile(r"^\[  FAILED  \] (\d+) test", re.M),
    "skipped": re.compile(r"^\[  SKIPPED \] (\d+) test", re.M),
}


def stage_unit(build):
    banner(f"unit tests and corpus replays ({build})")
    env = dict(os.environ, **SANITIZER_ENV)
    log = pathlib.Path(build) / "meson-logs" / "testlog.json"
    if log.exists():
        log.unlink()
    subprocess.run(["meson", "test", "-C", build, "--no-rebuild", "--print-errorlogs", "--num-processes", "2"],
                   env=env)
    if not log.exists():
        record("unit", f"{build}: meson test produced no log", failed=1)
        return
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        name = f"{build}: {entry['name']}"
        out = entry.get("stdout", "") or ""
        counts = {k: sum(int(n) for n in rx.findall(out)) for k, rx in CMOCKA_SUMMARY.items()}
        ok = entry["result"] in ("OK", "EXPECTEDFAIL")
        if any(counts.values()):
            if not ok and counts["failed"] == 0:
                counts["failed"] = 1  # crashed after its summary, or a sanitizer report at exit
            record("unit", name, **counts)
        elif entry["result"] == "SKIP":
            record("unit", name, skipped=1)
        else:
            record("unit", name, passed=ok, failed=not ok)


def stage_blackbox(build):
    banner(f"black-box tests ({build})")
    junit = pathlib.Path(tempfile.mkdtemp()) / "junit.xml"
    env = dict(os.environ, RAMPART_BUILD=str(ROOT / build), **SANITIZER_ENV)
    args = ["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
            "tests/blackbox"] + os.environ.get("PYTEST_ARGS", "").split()
    proc = subprocess.run(args, env=env)
    if not junit.exists():
        record("blackbox", f"{build}: pytest did not run (exit {proc.returncode})", failed=1)
        return
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    for s in suites:
        tests = int(s.get("tests", 0))
        failed = int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped = int(s.get("skipped", 0))
        record("blackbox", f"{build}: pytest", passed=tests - failed - skipped, failed=failed, skipped=skipped)
    if proc.returncode not in (0, 1, 5):
        record("blackbox", f"{build}: pytest exited {proc.returncode}", failed=1)


def stage_fuzz():
    build = pathlib.Path("build-fuzz")
    targets = sorted(p for p in build.rglob("fuzz_*") if p.is_file() and os.access(p, os.X_OK))
    banner(f"fuzzing {len(targets)} targets for {FUZZ_SECONDS} s each")
    for target in targets:
        name = target.name[len("fuzz_"):]
        seeds = ROOT / "tests" / "fuzz" / "corpus" / name
        with tempfile.TemporaryDirectory() as work:
            cmd = [str(target), f"-max_total_time={FUZZ_SECONDS}", "-timeout=10", "-rss_limit_mb=2048", "-malloc_limit_mb=16384",
                   "-print_final_stats=1", f"-artifact_prefix={work}/", work]
            if seeds.is_dir():
                cmd.append(str(seeds))
            proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **SANITIZER_ENV))
            ok = proc.returncode == 0
            stats = [l for l in proc.stderr.splitlines() if l.startswith("stat::number_of_executed_units")]
            print(f"fuzz_{name}: {'ok' if ok else 'FAILED'} {stats[0] if stats else ''}", flush=True)
            if not ok:
                print(proc.stderr[-6000:])
                saved = ROOT / "build-fuzz" / "crashes" / name
                saved.mkdir(parents=True, exist_ok=True)
                for artifact in pathlib.Path(work).glob("crash-*"):
                    shutil.copy(artifact, saved)
            record("fuzz", f"fuzz_{name}", passed=ok, failed=not ok)


def main():
    started = time.monotonic()
    built = {}
    fuzz_built = False
    if "build" in STAGES:
        for b in BUILDS:
            built[b] = stage_build(b)
        if "fuzz" in STAGES and shutil.which("clang"):
            fuzz_built = stage_build("build-fuzz")
    else:
        built = {b: (pathlib.Path(b) / "build.ninja").exists() for b in BUILDS}
        fuzz_built = (pathlib.Path("build-fuzz") / "build.ninja").exists()
    for b in BUILDS:
        if not built.get(b):
            continue
        if "unit" in STAGES:
            stage_unit(b)
        if "blackbox" in STAGES:
            stage_blackbox(b)
    if "fuzz" in STAGES and fuzz_built:
        stage_fuzz()
    banner(f"finished in {time.monotonic() - started:.0f} s")
    for f in failures:
        print(f"FAILED: {f}")
    line = f"{totals['passed']} passed, {totals['failed']} failed"
    if totals["skipped"]:
        line += f", {totals['skipped']} skipped"
    print(line, flush=True)
    return 0 if totals["failed"] == 0 and totals["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
