"""Booting a VM from an flist (spec containers-vms §2.1 "Flist boot"): the flist is mounted
read-write through `zos.fs.mount` at `DATA/vms/<uuid>/root` (a detached `zos fs mount`, so
it outlives the agent as qemu does), the `config` files are written into it, `boot/boot.yaml`
names kernel, initrd and cmdline, and the root is shared with the guest over virtio-9p with
the tag `root`.
"""

from __future__ import annotations

import os
import posixpath
import sys
from pathlib import Path
from typing import Any

import yaml

from zos.fs.mount import daemonize, is_mounted, umount

from ._registry import BuiltinError

DEFAULT_CMDLINE = "rootfstype=9p rootflags=rw,trans=virtio,cache=loose root=root"


def mount(flist: str, root: Path, data_dir: Path, name: str, storage: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    argv = ["fs", "mount", "--meta", flist, str(root), "--data", str(data_dir), "--name", name]
    for url in storage:
        argv += ["--storage", url]
    log = root.parent / "fs.log"
    # daemonize() prints the mount's log on failure: keep that out of the agent's stdout
    stdout, sys.stdout = sys.stdout, sys.stderr
    try:
        failed = daemonize(argv, log)
    finally:
        sys.stdout = stdout
    if failed:
        tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
        raise BuiltinError(400, f"failed to mount flist '{flist}': {' '.join(tail.split())}")


def unmount(root: Path, data_dir: Path) -> None:
    if root.exists() and is_mounted(root):
        umount(root, data_dir)


def write_config(root: Path, config: dict[str, Any]) -> None:
    """Upstream: each `path: content` is written at <root>/<clean path> (dirs 0700, files 0600)."""
    for path, content in config.items():
        clean = posixpath.normpath("/" + str(path)).lstrip("/")
        if not clean or clean == ".":
            raise BuiltinError(400, f"argument 'config' has path '{path}': not a file path")
        target = root / clean
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(str(content))


def boot_spec(root: Path) -> dict[str, Any]:
    """kernel, initrd (absolute, under the root) and the cmdline of boot/boot.yaml."""
    try:
        spec = yaml.safe_load((root / "boot" / "boot.yaml").read_text()) or {}
    except OSError as exc:
        raise BuiltinError(400, f"failed to open boot/boot.yaml: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise BuiltinError(400, f"failed to parse boot/boot.yaml: {exc}") from None
    if not isinstance(spec, dict) or not spec.get("kernel"):
        raise BuiltinError(400, "boot/boot.yaml names no kernel")
    found: dict[str, Any] = {}
    for field in ("kernel", "initrd"):
        if spec.get(field):
            path = root / posixpath.normpath("/" + str(spec[field])).lstrip("/")
            if not path.is_file():
                raise BuiltinError(400, f"boot/boot.yaml: {field} '{spec[field]}' is not in the flist")
            found[field] = str(path)
    cmdline = str(spec.get("cmdline") or "")
    found["cmdline"] = cmdline if spec.get("nodefault") else f"{DEFAULT_CMDLINE} {cmdline}".strip()
    return found


def share_args(root: Path) -> list[str]:
    return ["-fsdev", f"local,id=fsroot,path={root},security_model=none",
            "-device", "virtio-9p-pci,fsdev=fsroot,mount_tag=root,id=fsroot-dev"]
