"""Black-box tests of `rampart image-package`: keygen, pack-application, pack, show, verify, and
the refusal of every kind of malformed or hostile package (docs/protocol.md, image package v1)."""
import json
import os
import pathlib
import shutil
import stat
import struct
import subprocess

import pytest

from conftest import run

GUID = "1689d8b2-c835-2e27-27ad-e894d6d15fa9"
HEADER = 32
ENTRY = 24
MANIFEST = {
    "SchemaVersion": 1, "Name": "HelloWorld", "ComponentId": GUID, "EntryPoint": "/bin/app",
    "CmdArgs": [], "Capabilities": {}, "ApplicationType": "Default",
}

EXIT_INVALID, EXIT_VERIFY, EXIT_LIMIT, EXIT_USAGE = 2, 3, 8, 64


def rp(*args, check=None):
    return run("rampart", "image-package", *args, check=check)


@pytest.fixture
def keys(tmp_path):
    out = {}
    for name in ("dev", "other", "third"):
        rp("keygen", "--private-key", tmp_path / f"{name}.key", "--public-key", tmp_path / f"{name}.pub", check=True)
        out[name] = (tmp_path / f"{name}.key", tmp_path / f"{name}.pub")
    return out


@pytest.fixture
def app_dir(tmp_path):
    d = tmp_path / "app"
    (d / "bin").mkdir(parents=True)
    (d / "app_manifest.json").write_text(json.dumps(MANIFEST))
    exe = d / "bin" / "app"
    exe.write_text("#!/bin/sh\necho hello\n")
    exe.chmod(0o755)
    (d / "data.txt").write_text("resource\n")
    return d


@pytest.fixture
def package(tmp_path, keys, app_dir):
    out = tmp_path / "hello.imagepackage"
    rp("pack-application", "--package-directory", app_dir, "--key", keys["dev"][0], "--output", out,
       "--version", "7", "--version-string", "1.0.7", check=True)
    return out


def sections(data):
    """[(type, offset, length)] from the section table."""
    return [struct.unpack(">IIQQ", data[HEADER + i * ENTRY:HEADER + (i + 1) * ENTRY]) for i in range(3)]


def set_entry(data, i, type_=None, offset=None, length=None):
    t, f, o, l = struct.unpack(">IIQQ", data[HEADER + i * ENTRY:HEADER + (i + 1) * ENTRY])
    data[HEADER + i * ENTRY:HEADER + (i + 1) * ENTRY] = struct.pack(
        ">IIQQ", t if type_ is None else type_, f, o if offset is None else offset, l if length is None else length)


def verify(path, keys, *extra, check=None):
    return rp("verify", path, "--trusted-key", keys["dev"][1], *extra, check=check)


def test_help_lists_commands():
    p = rp("--help", check=True)
    for word in ("keygen", "pack-application", "show", "verify", "--trusted-key", "--output"):
        assert word in p.stdout


def test_keygen_private_key_is_0600(keys):
    assert stat.S_IMODE(os.stat(keys["dev"][0]).st_mode) == 0o600
    assert "PUBLIC KEY" in pathlib.Path(keys["dev"][1]).read_text()


def test_pack_show_verify(package, keys):
    p = verify(package, keys, check=True)
    assert p.stdout.startswith("verified: ")
    assert "HelloWorld" in p.stdout and GUID in p.stdout
    shown = json.loads(rp("show", package, "--output", "json", check=True).stdout)
    md = shown["metadata"]
    assert md["name"] == "HelloWorld" and md["component_id"] == GUID
    assert md["image_type"] == "application" and md["version"] == 7 and md["version_string"] == "1.0.7"
    assert md["development"] is False
    paths = {e["path"]: e for e in shown["payload"]["entries"]}
    assert paths["bin/app"]["mode"] == "0755" and paths["data.txt"]["mode"] == "0644"
    assert set(paths) == {"app_manifest.json", "bin", "bin/app", "data.txt"}
    assert len(shown["signatures"]) == 1
    table = rp("show", package, check=True).stdout
    assert "HelloWorld" in table and "bin/app" in table and "not checked" in table


def test_pack_from_manifest_executable_resources(tmp_path, keys, app_dir):
    out = tmp_path / "m.imagepackage"
    rp("pack-application", "--manifest", app_dir / "app_manifest.json", "--executable", app_dir / "bin" / "app",
       "--resource", app_dir / "data.txt", "--resource", f"{app_dir / 'data.txt'}=etc/conf.txt",
       "--key", keys["dev"][0], "--output", out, "--development", "--target-api-set", "15", check=True)
    shown = json.loads(rp("show", out, "--output", "json", check=True).stdout)
    assert {e["path"] for e in shown["payload"]["entries"]} >= {"bin/app", "data.txt", "etc/conf.txt"}
    assert shown["metadata"]["development"] is True
    assert shown["metadata"]["abi_depends"] == ["ApplicationRuntime:15"]
    verify(out, keys, check=True)


def test_image_id_is_fresh_for_every_build(tmp_path, keys, app_dir):
    ids = set()
    for i in range(2):
        out = tmp_path / f"p{i}.imagepackage"
        rp("pack-application", "--package-directory", app_dir, "--key", keys["dev"][0], "--output", out, check=True)
        ids.add(json.loads(rp("show", out, "--output", "json", check=True).stdout)["metadata"]["image_id"])
    assert len(ids) == 2


def test_payload_is_reproducible(tmp_path, keys, app_dir):
    """Same inputs give the same payload bytes (fixed owner, mtime and order)."""
    payloads = []
    for i in range(2):
        out = tmp_path / f"r{i}.imagepackage"
        rp("pack-application", "--package-directory", app_dir, "--key", keys["dev"][0], "--output", out, check=True)
        data = out.read_bytes()
        _, _, off, length = sections(data)[1]
        payloads.append(data[off:off + length])
    assert payloads[0] == payloads[1]


def test_invalid_manifest_refused(tmp_path, keys, app_dir):
    (app_dir / "app_manifest.json").write_text('{"SchemaVersion": 1, "Name": "x"}')
    p = rp("pack-application", "--package-directory", app_dir, "--key", keys["dev"][0],
           "--output", tmp_path / "x.imagepackage", check=False)
    assert p.returncode == EXIT_INVALID and "manifest" in p.stderr
    assert not (tmp_path / "x.imagepackage").exists()


def test_missing_entry_point_refused(tmp_path, keys, app_dir):
    (app_dir / "bin" / "app").unlink()
    p = rp("pack-application", "--package-directory", app_dir, "--key", keys["dev"][0],
           "--output", tmp_path / "x.imagepackage", check=False)
    assert p.returncode != 0 and "EntryPoint" in p.stderr


def test_pack_refuses_symlink_in_source(tmp_path, keys, app_dir):
    os.symlink("/etc/passwd", app_dir / "passwd")
    p = rp("pack-application", "--package-directory", app_dir, "--key", keys["dev"][0],
           "--output", tmp_path / "x.imagepackage", check=False)
    assert p.returncode != 0 and "not a regular file or directory" in p.stderr


def test_generic_pack_all_types(tmp_path, keys, app_dir):
    for t in ("os-bundle", "trust-update", "board-config", "application"):
        out = tmp_path / f"{t}.imagepackage"
        rp("pack", "--type", t, "--payload-directory", app_dir, "--component-id", GUID.upper(), "--name", t,
           "--key", keys["dev"][0], "--output", out, "--version", "2", check=True)
        shown = json.loads(rp("show", out, "--output", "json", check=True).stdout)
        assert shown["metadata"]["image_type"] == t and shown["metadata"]["component_id"] == GUID
        verify(out, keys, check=True)


def test_untrusted_key_refused(package, keys):
    p = rp("verify", package, "--trusted-key", keys["other"][1], check=False)
    assert p.returncode == EXIT_VERIFY
    assert f"verifying {package}" in p.stderr and "trusted key" in p.stderr


def test_threshold(tmp_path, keys, app_dir):
    out = tmp_path / "two.imagepackage"
    rp("pack-application", "--package-directory", app_dir, "--key", keys["dev"][0], "--key", keys["other"][0],
       "--output", out, check=True)
    rp("verify", out, "--trusted-key", keys["dev"][1], "--trusted-key", keys["other"][1], "--threshold", "2",
       check=True)
    p = rp("verify", out, "--trusted-key", keys["dev"][1], "--trusted-key", keys["third"][1], "--threshold", "2",
           check=False)
    assert p.returncode == EXIT_VERIFY and "1 valid signature(s)" in p.stderr and "2 required" in p.stderr
    # A signature by an unknown key is ignored when a trusted one is valid.
    rp("verify", out, "--trusted-key", keys["other"][1], check=True)


@pytest.mark.parametrize("cut", [0, 10, 31, 32, 80, 104, 200, -300, -107, -1])
def test_truncated_refused(tmp_path, package, keys, cut):
    data = package.read_bytes()
    bad = tmp_path / "cut.imagepackage"
    bad.write_bytes(data[:cut] if cut > 0 else data[:len(data) + cut] if cut < 0 else b"")
    p = verify(bad, keys, check=False)
    assert p.returncode == EXIT_INVALID
    assert "truncated" in p.stderr


def test_trailing_data_refused(tmp_path, package, keys):
    bad = tmp_path / "long.imagepackage"
    bad.write_bytes(package.read_bytes() + b"\0")
    p = verify(bad, keys, check=False)
    assert p.returncode == EXIT_INVALID and "trailing data" in p.stderr


def test_flipped_bits_refused(tmp_path, package, keys):
    """A bit flipped in each part of the file (header, table, metadata, payload, signature)."""
    data = package.read_bytes()
    secs = sections(data)
    positions = [0, 9, 20, HEADER + 3, HEADER + ENTRY + 12, secs[0][2] + 3, secs[0][2] + secs[0][3] - 1,
                 secs[1][2] + 1, secs[1][2] + 200, secs[1][2] + secs[1][3] // 2, secs[1][2] + secs[1][3] - 1,
                 secs[2][2] + 1, secs[2][2] + 5, secs[2][2] + 40, secs[2][2] + 60, len(data) - 1]
    for pos in positions:
        bad = bytearray(data)
        bad[pos] ^= 0x10
        f = tmp_path / f"flip{pos}.imagepackage"
        f.write_bytes(bad)
        p = verify(f, keys, check=False)
        # 1 = unsupported version field, 8 = total length over the limit
        assert p.returncode in (1, EXIT_INVALID, EXIT_VERIFY, EXIT_LIMIT), (pos, p.stderr)
        assert "rampart: error: verifying" in p.stderr


def test_lying_section_lengths_refused(tmp_path, package, keys):
    data = package.read_bytes()
    secs = sections(data)
    cases = [
        (1, dict(length=secs[1][3] + 1), "contiguous|runs past|sections end"),
        (1, dict(length=secs[1][3] - 1), "contiguous"),
        (0, dict(length=2 ** 63), "runs past the end"),
        (2, dict(offset=secs[2][2] - 4), "contiguous"),
    ]
    import re
    for i, change, pattern in cases:
        bad = bytearray(data)
        set_entry(bad, i, **change)
        f = tmp_path / "lie.imagepackage"
        f.write_bytes(bad)
        p = verify(f, keys, check=False)
        assert p.returncode == EXIT_INVALID, p.stderr
        assert re.search(pattern, p.stderr), p.stderr


def test_duplicate_and_unknown_sections_refused(tmp_path, package, keys):
    data = package.read_bytes()
    for type_, word in ((1, "duplicate metadata section"), (9, "unknown type 9"), (3, "duplicate signatures")):
        bad = bytearray(data)
        set_entry(bad, 2 if type_ == 1 else 1 if type_ == 3 else 1, type_=type_)
        f = tmp_path / "dup.imagepackage"
        f.write_bytes(bad)
        p = verify(f, keys, check=False)
        assert p.returncode == EXIT_INVALID and (word in p.stderr or "out of order" in p.stderr), p.stderr


def test_oversized_sections_refused(tmp_path, package, keys):
    data = bytearray(package.read_bytes())
    secs = sections(data)
    # Grow the metadata section past its 16 KiB limit (consistent table, so the limit is what fails).
    grow = 20000
    meta_end = secs[0][2] + secs[0][3]
    big = bytearray(data[:meta_end]) + bytearray(grow) + data[meta_end:]
    set_entry(big, 0, length=secs[0][3] + grow)
    set_entry(big, 1, offset=secs[1][2] + grow)
    set_entry(big, 2, offset=secs[2][2] + grow)
    big[16:24] = struct.pack(">Q", len(big))
    f = tmp_path / "big.imagepackage"
    f.write_bytes(big)
    p = verify(f, keys, check=False)
    assert p.returncode == EXIT_LIMIT and "metadata section" in p.stderr
    # A package larger than the configured limit is refused from its header.
    huge = bytearray(data)
    huge[16:24] = struct.pack(">Q", 2 ** 40)
    f.write_bytes(huge)
    p = verify(f, keys, check=False)
    assert p.returncode == EXIT_LIMIT and "more than the limit" in p.stderr


def test_bad_magic_and_version(tmp_path, package, keys):
    data = bytearray(package.read_bytes())
    f = tmp_path / "v.imagepackage"
    data[9] = 2
    f.write_bytes(data)
    p = verify(f, keys, check=False)
    assert "version 2 is not supported" in p.stderr
    f.write_bytes(b"not a package at all, just text" * 4)
    p = verify(f, keys, check=False)
    assert p.returncode == EXIT_INVALID and "bad magic" in p.stderr


# ---- hostile payload filesystems, built with gensquashfs and wrapped with the test-only pack-raw ----

def hostile(tmp_path, keys, packlist, compressor="zstd", name="evil"):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "f").write_text("data\n")
    (src / "pl").write_text(packlist)
    img = tmp_path / f"{name}.sqfs"
    subprocess.run(["gensquashfs", "-q", "-f", "-c", compressor, "-F", str(src / "pl"), "-D", str(src), str(img)],
                   check=True, capture_output=True)
    out = tmp_path / f"{name}.imagepackage"
    rp("pack-raw", "--payload", img, "--type", "application", "--component-id", GUID, "--name", name,
       "--key", keys["dev"][0], "--output", out, check=True)
    return out


HOSTILE = {
    "chardev": ("nod /dev/mem 0600 0 0 c 1 1\n", "character device node"),
    "blockdev": ("nod /sda 0600 0 0 b 8 0\n", "block device node"),
    "fifo": ("pipe /fifo 0644 0 0\n", "a FIFO"),
    "socket": ("sock /sock 0644 0 0\n", "a socket"),
    "setuid": ("file /bin/su 4755 0 0 f\n", "setuid"),
    "setgid": ("file /bin/sg 2755 0 0 f\n", "setgid"),
    "sticky": ("dir /tmp 1777 0 0\n", "sticky"),
    "abs_symlink": ("slink /passwd 0777 0 0 /etc/passwd\n", "absolute path"),
    "escape_symlink": ("dir /a 0755 0 0\nslink /a/up 0777 0 0 ../../etc\n", "outside the package"),
    "sneaky_symlink": ("dir /a 0755 0 0\nslink /a/c 0777 0 0 ..\nslink /a/x 0777 0 0 c/..\n", "'..' after a name"),
    "hardlink": ("file /a 0644 0 0 f\nlink /b 0644 0 0 /a\n", "hard link"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_payload_refused(tmp_path, keys, case):
    packlist, message = HOSTILE[case]
    pkg = hostile(tmp_path, keys, packlist, name=case)
    p = verify(pkg, keys, check=False)
    assert p.returncode != 0, p.stdout
    assert message in p.stderr, p.stderr
    assert "payload" in p.stderr
    # show (no verification) refuses the same payloads.
    p = rp("show", pkg, check=False)
    assert p.returncode != 0 and message in p.stderr


def test_benign_symlink_accepted(tmp_path, keys):
    pkg = hostile(tmp_path, keys, "dir /a 0755 0 0\nfile /a/f 0644 0 0 f\nslink /a/l 0777 0 0 f\n"
                                  "dir /b 0755 0 0\nslink /b/l 0777 0 0 ../a/f\n", name="ok")
    verify(pkg, keys, check=True)


def test_non_zstd_payload_refused(tmp_path, keys):
    pkg = hostile(tmp_path, keys, "file /a 0644 0 0 f\n", compressor="gzip", name="gz")
    p = verify(pkg, keys, check=False)
    assert p.returncode != 0 and "only zstd" in p.stderr


def test_file_count_limit(tmp_path, keys):
    pkg = hostile(tmp_path, keys, "".join(f"file /f{i} 0644 0 0 f\n" for i in range(50)), name="many")
    verify(pkg, keys, check=True)
    p = verify(pkg, keys, "--max-files", "20", check=False)
    assert p.returncode == EXIT_LIMIT and "limit of 20 files" in p.stderr


def test_zip_bomb_byte_limit(tmp_path, keys):
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "zeros", "wb") as f:
        f.truncate(64 * 1024 * 1024)  # 64 MiB of zeros compresses to almost nothing
    (src / "pl").write_text("file /zeros 0644 0 0 zeros\n")
    img = tmp_path / "bomb.sqfs"
    subprocess.run(["gensquashfs", "-q", "-f", "-c", "zstd", "-F", str(src / "pl"), "-D", str(src), str(img)],
                   check=True, capture_output=True)
    assert img.stat().st_size < 1024 * 1024
    out = tmp_path / "bomb.imagepackage"
    rp("pack-raw", "--payload", img, "--type", "application", "--component-id", GUID, "--name", "bomb",
       "--key", keys["dev"][0], "--output", out, check=True)
    p = verify(out, keys, "--max-bytes", "16M", check=False)
    assert p.returncode == EXIT_LIMIT and "more than 16777216 bytes" in p.stderr


def test_deep_nesting_limit(tmp_path, keys):
    path = ""
    lines = []
    for i in range(20):
        path += f"/d{i}"
        lines.append(f"dir {path} 0755 0 0\n")
    pkg = hostile(tmp_path, keys, "".join(lines), name="deep")
    p = verify(pkg, keys, check=False)
    assert p.returncode == EXIT_LIMIT and "nested deeper" in p.stderr


def test_garbage_payload_refused(tmp_path, keys):
    img = tmp_path / "garbage.sqfs"
    img.write_bytes(os.urandom(8192))
    out = tmp_path / "garbage.imagepackage"
    rp("pack-raw", "--payload", img, "--type", "application", "--component-id", GUID, "--name", "g",
       "--key", keys["dev"][0], "--output", out, check=True)
    p = verify(out, keys, check=False)
    assert p.returncode == EXIT_INVALID and "not a valid squashfs" in p.stderr


def test_usage_errors(package):
    assert rp("verify", package, check=False).returncode == EXIT_USAGE
    assert rp("frobnicate", check=False).returncode == EXIT_USAGE
    assert rp("show", package, "--output", "yaml", check=False).returncode == EXIT_USAGE


def test_verify_from_pipe(package, keys, build_dir):
    """A package streamed through a pipe is read once and verified like a file."""
    from conftest import find_binary
    with open(package, "rb") as f:
        p = subprocess.run([str(find_binary("rampart")), "image-package", "verify", "/dev/stdin",
                            "--trusted-key", str(keys["dev"][1])], stdin=f, capture_output=True, text=True,
                           timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("verified: "), p.stderr


def test_entry_point_is_always_executable(tmp_path, keys, app_dir):
    (app_dir / "bin" / "app").chmod(0o644)
    out = tmp_path / "x.imagepackage"
    rp("pack-application", "--package-directory", app_dir, "--key", keys["dev"][0], "--output", out, check=True)
    shown = json.loads(rp("show", out, "--output", "json", check=True).stdout)
    assert {e["path"]: e["mode"] for e in shown["payload"]["entries"]}["bin/app"] == "0755"


def test_show_with_trusted_keys_marks_signatures(tmp_path, keys, app_dir):
    out = tmp_path / "two.imagepackage"
    rp("pack-application", "--package-directory", app_dir, "--key", keys["dev"][0], "--key", keys["other"][0],
       "--output", out, check=True)
    shown = json.loads(rp("show", out, "--output", "json", "--trusted-key", keys["dev"][1], check=True).stdout)
    assert shown["verified"] is True
    assert sorted(s["status"] for s in shown["signatures"]) == ["unknown key", "valid"]
    shown = json.loads(rp("show", out, "--output", "json", check=True).stdout)
    assert shown["verified"] is False and {s["status"] for s in shown["signatures"]} == {"not checked"}


def test_extract_verified_payload_with_symlinks(tmp_path, keys):
    pkg = hostile(tmp_path, keys, "dir /a 0700 0 0\nfile /a/f 0600 0 0 f\nfile /a/run 0700 0 0 f\n"
                                  "slink /a/l 0777 0 0 f\ndir /b 0755 0 0\nslink /b/l 0777 0 0 ../a/f\n", name="x")
    dest = tmp_path / "out"
    rp("extract", pkg, "--trusted-key", keys["dev"][1], "--output", dest, check=True)
    assert stat.S_IMODE(os.lstat(dest / "a").st_mode) == 0o755
    assert stat.S_IMODE(os.lstat(dest / "a" / "f").st_mode) == 0o644
    assert stat.S_IMODE(os.lstat(dest / "a" / "run").st_mode) == 0o755
    assert os.readlink(dest / "b" / "l") == "../a/f"
    assert (dest / "b" / "l").read_text() == "data\n"
    # The destination must be new; an untrusted package extracts nothing.
    assert rp("extract", pkg, "--trusted-key", keys["dev"][1], "--output", dest, check=False).returncode != 0
    p = rp("extract", pkg, "--trusted-key", keys["other"][1], "--output", tmp_path / "o2", check=False)
    assert p.returncode == EXIT_VERIFY and not (tmp_path / "o2").exists()
