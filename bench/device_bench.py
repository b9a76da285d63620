"""What the device memory benchmarks share (bench/device_memory.py, bench/update/agent_memory.py):
finding built binaries, private copies of the libraries device processes load, bounded waits."""
import os
import pathlib
import shutil
import subprocess
import sys
import time

# Mapped by every process on a device: never copied, so they count as shared, as they are there.
SYSTEM_WIDE = ("libc.so", "ld-linux", "linux-vdso")


def built(build, name):
    """Path of executable NAME under BUILD, or None."""
    hits = [p for p in pathlib.Path(build).resolve().rglob(name) if p.is_file() and os.access(p, os.X_OK)]
    return str(hits[0]) if hits else None


def binary(build, name):
    path = built(build, name)
    if not path:
        sys.exit(f"{name} is not built in {build}")
    return path


def private_libs(builds, names, dest, extra=()):
    """Copies in DEST of every library the executables NAMES of BUILDS load (and EXTRA paths), but
    the SYSTEM_WIDE ones, written back and out of the page cache: loaded as on a device after boot
    and shared with no other process on the benchmark host (LD_LIBRARY_PATH=DEST)."""
    dest.mkdir()
    paths = set(extra)
    for b in builds:
        for n in names:
            path = built(b, n)
            if path:
                out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
                paths.update(ln.split("=>")[1].split()[0] for ln in out.splitlines()
                             if "=>" in ln and "/" in ln.split("=>")[1])
    for p in paths:
        if not any(os.path.basename(p).startswith(s) for s in SYSTEM_WIDE):
            shutil.copy(os.path.realpath(p), dest / os.path.basename(p))
    os.sync()
    for f in dest.iterdir():
        fd = os.open(f, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    return dest


def wait_for(pred, what, seconds, log=None):
    """Poll PRED every 0.1 s for at most SECONDS; exit naming WHAT (and LOG's text) on timeout."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise SystemExit(f"timed out after {seconds} s waiting for {what}" + (f":\n{log.read_text()}" if log else ""))
