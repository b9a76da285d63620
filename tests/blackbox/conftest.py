"""Fixtures shared by Rampart's black-box tests: they drive the real binaries of one build.

RAMPART_BUILD names the build directory (default: <repo>/build); `make test` sets it once for the
normal build and once for the ASan+UBSan build.
"""
import os
import pathlib
import socket
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("RAMPART_BUILD", ROOT / "build")).resolve()

_binaries = {}


def find_binary(name):
    """Path of the executable NAME inside the build directory."""
    if name not in _binaries:
        hits = [p for p in BUILD.rglob(name) if p.is_file() and os.access(p, os.X_OK)]
        if not hits:
            raise FileNotFoundError(f"{name} is not built in {BUILD}; run 'make' first")
        _binaries[name] = hits[0]
    return _binaries[name]


def run(binary, *args, check=None, input=None, env=None, timeout=120, cwd=None):
    """Run a built binary; returns CompletedProcess with text stdout/stderr.

    check=True asserts exit 0, check=False asserts non-zero, None checks nothing."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run([str(find_binary(binary)), *map(str, args)], input=input, capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=cwd)
    if check is True:
        assert proc.returncode == 0, f"{binary} {args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    elif check is False:
        assert proc.returncode != 0, f"{binary} {args} unexpectedly succeeded:\n{proc.stdout}\n{proc.stderr}"
    return proc


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def rampart():
    """Call as rampart('image-package', 'show', path, check=True)."""
    def _run(*args, **kw):
        return run("rampart", *args, **kw)
    return _run


@pytest.fixture
def build_dir():
    return BUILD


@pytest.fixture
def repo_root():
    return ROOT


def remove_cgroups(name):
    """Best effort: remove the test's cgroup parent NAME wherever a manager created it."""
    for line in open("/proc/self/cgroup"):
        _, controllers, path = line.rstrip("\n").split(":", 2)
        for ctl in controllers.split(",") if controllers else ["unified"]:
            for mount in (f"/sys/fs/cgroup/{ctl}", "/sys/fs/cgroup"):
                parent = os.path.join(mount + path.rstrip("/"), name)
                if not os.path.isdir(parent):
                    continue
                for child in os.listdir(parent):
                    if os.path.isdir(os.path.join(parent, child)):
                        for _ in range(40):  # bounded: dying processes leave the group shortly
                            try:
                                os.rmdir(os.path.join(parent, child))
                                break
                            except OSError:
                                time.sleep(0.05)
                try:
                    os.rmdir(parent)
                except OSError:
                    pass
