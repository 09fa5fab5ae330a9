"""Shared libraries for the ELF files of the image, found with the host's `ldd`.

Libraries keep their host folder under /usr (merged /usr: /lib/x86_64-linux-gnu/libc.so.6 goes
to /usr/lib/x86_64-linux-gnu/libc.so.6); a library from elsewhere (pyenv's libpython) goes to
/usr/lib, which the loader searches by default. An unresolved library fails the build.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from ._errors import BuildError

STRIP_VERSION = "1"


def is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def image_path_for_library(host_path: str, soname: str) -> str:
    for prefix in ("/usr/lib/", "/lib/", "/usr/lib64/", "/lib64/"):
        if host_path.startswith(prefix):
            rel = host_path[len(prefix):]
            folder = os.path.dirname(rel)
            base = "/usr/lib64" if "64" in prefix else "/usr/lib"
            return f"{base}/{folder}/{soname}" if folder else f"{base}/{soname}"
    return f"/usr/lib/{soname}"


def needed_libraries(binary: Path) -> dict[str, Path]:
    """{image path: host file} for every library `binary` needs (transitively, as ldd reports)."""
    result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    out = result.stdout + result.stderr
    if "not a dynamic executable" in out or "statically linked" in out:
        return {}
    if result.returncode != 0:
        raise BuildError(f"ldd {binary} failed: {out.strip()}")
    libraries: dict[str, Path] = {}
    for line in out.splitlines():
        line = line.strip()
        if "=>" in line:
            soname, _, rest = line.partition("=>")
            soname = soname.strip()
            target = rest.strip().split(" (")[0].strip()
            if target == "not found":
                raise BuildError(f"{binary} needs {soname}, which is not found on this machine")
            if not target:
                continue
            libraries[image_path_for_library(target, soname)] = Path(target).resolve()
        elif line.startswith("/"):     # the loader: "/lib64/ld-linux-x86-64.so.2 (0x...)"
            loader = line.split(" (")[0]
            libraries[image_path_for_library(loader, os.path.basename(loader))] = Path(loader).resolve()
    return libraries


def stripped(source: Path, cache: Path) -> Path:
    """A copy of `source` without debug sections (`strip --strip-debug`, as upstream did),
    kept in `cache/strip/<sha256 of the input>` so each file is stripped once."""
    digest = hashlib.sha256(STRIP_VERSION.encode() + source.read_bytes()).hexdigest()
    out = cache / "strip" / digest
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{digest}.{os.getpid()}")
    result = subprocess.run(["strip", "--strip-debug", "-o", str(tmp), str(source)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"strip {source} failed: {result.stderr.strip()}")
    os.replace(tmp, out)
    return out
