"""Read-write mounts (as 0-fs): kernel overlayfs with the FUSE mount as the lower layer and
`<backend>/rw` (upper) + `<backend>/wd` (work) on disk; `<backend>/ro` is where FUSE mounts.
The first write to a file copies it up (the kernel reads it whole through FUSE)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class OverlayError(Exception):
    """The overlay could not be mounted or unmounted (message carries the mount output)."""


def backend_dirs(backend: Path, reset: bool = False) -> tuple[Path, Path, Path]:
    """(lower mount point, upper, work); `reset` wipes the upper and work dirs first."""
    lower, upper, work = backend / "ro", backend / "rw", backend / "wd"
    if reset:
        for folder in (upper, work):
            if folder.exists():
                shutil.rmtree(folder)
    for folder in (lower, upper, work):
        folder.mkdir(parents=True, exist_ok=True)
    return lower, upper, work


def mount_overlay(lower: Path, upper: Path, work: Path, target: Path) -> None:
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    done = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(target)],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise OverlayError(f"mount -t overlay -o {options} {target} failed: "
                           f"{(done.stderr or done.stdout).strip()}")


def unmount(target: Path, lazy: bool = False) -> None:
    argv = ["umount", "-l", str(target)] if lazy else ["umount", str(target)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise OverlayError(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()}")


def is_mounted(path: Path) -> bool:
    """True when `path` is a mount point in /proc/self/mounts (works on a dead FUSE mount too)."""
    wanted = str(path.resolve()) if path.exists() else str(path)
    try:
        with open("/proc/self/mounts", "rb") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) > 1 and _unescape(fields[1]) == wanted:
                    return True
    except OSError:
        return False
    return False


def _unescape(field: bytes) -> str:
    text = field.decode(errors="surrogateescape")
    for code in ("\\040", "\\011", "\\012", "\\134"):
        text = text.replace(code, chr(int(code[1:], 8)))
    return text
