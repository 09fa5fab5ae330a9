"""The qemu process of a VM: its command line (pure), starting it detached, and choosing the
accelerator.

qemu runs with `-daemonize`: the parent we start exits once the VM is set up (its exit status
and stderr say whether the media opened), and the VM's process belongs to init, not to the
agent, so it outlives an agent restart or kill -9. Its files live in the VM's directory:
`qmp.sock` (commands), `events.sock` (the agent's event watcher), `qemu.pid`, `serial.log`.
The sockets are bound by relative name (qemu starts in that directory): a unix socket path is
limited to 108 bytes and data directories can be deep.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from ._registry import BuiltinError

QEMU = "qemu-system-x86_64"
QMP_SOCKET, EVENTS_SOCKET, PIDFILE, SERIAL = "qmp.sock", "events.sock", "qemu.pid", "serial.log"
_ACCEL: dict[str, str] = {}
_ACCEL_LOCK = threading.Lock()


def qemu_argv(*, uuid: str, name: str, cpu: int, memory: int, accel: str, directory: Path,
              blockdevs: list[dict[str, Any]], devices: list[dict[str, Any]],
              netdevs: list[dict[str, Any]] = (), kernel: str | None = None,
              initrd: str | None = None, cmdline: str | None = None,
              incoming: str | None = None, extra: list[str] = ()) -> list[str]:
    argv = [QEMU, "-name", name.replace(",", ",,"), "-uuid", uuid,
            "-machine", "pc", "-accel", accel, "-m", str(memory), "-smp", str(cpu),
            "-nodefaults", "-no-user-config", "-display", "none", "-daemonize",
            "-pidfile", PIDFILE,
            "-qmp", f"unix:{QMP_SOCKET},server=on,wait=off",
            "-qmp", f"unix:{EVENTS_SOCKET},server=on,wait=off",
            "-serial", f"file:{directory / SERIAL}"]
    if accel == "kvm":
        argv += ["-cpu", "host"]
    if kernel:
        argv += ["-kernel", kernel]
        if initrd:
            argv += ["-initrd", initrd]
        if cmdline:
            argv += ["-append", cmdline]
    for spec in blockdevs:
        argv += ["-blockdev", json.dumps(spec, sort_keys=True)]
    for spec in netdevs:
        argv += ["-netdev", json.dumps(spec, sort_keys=True)]
    for spec in devices:
        argv += ["-device", json.dumps(spec, sort_keys=True)]
    if incoming:
        argv += ["-incoming", incoming]
    return argv + list(extra)


def start(argv: list[str], directory: Path, timeout: float = 60.0) -> int:
    """Start qemu detached in `directory`; returns the VM's pid. qemu's own error (a medium that
    does not open, a bad option) becomes a 400 with qemu's message."""
    try:
        proc = subprocess.run(argv, cwd=directory, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    except FileNotFoundError:
        raise BuiltinError(503, f"{QEMU} is not installed (Debian package qemu-system-x86)") from None
    except subprocess.TimeoutExpired:
        raise BuiltinError(500, f"qemu did not finish starting within {timeout:.0f} s") from None
    if proc.returncode != 0:
        message = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
        raise BuiltinError(400, f"failed to create machine: {message}")
    pid = read_pid(directory)
    if pid is None:
        raise BuiltinError(500, "qemu started but wrote no pid file")
    return pid


def read_pid(directory: Path) -> int | None:
    try:
        return int((directory / PIDFILE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def is_qemu(pid: int | None, uuid: str) -> bool:
    """Whether `pid` is a live qemu of this VM (a pid can be reused after a crash)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return uuid.encode() in cmdline and "zombie" not in status


def wait_gone(pid: int, uuid: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_qemu(pid, uuid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def kill(pid: int, uuid: str, timeout: float = 10.0) -> None:
    if is_qemu(pid, uuid):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            return
        wait_gone(pid, uuid, timeout)


def default_kernel() -> str | None:
    found = sorted(glob.glob("/boot/vmlinuz-*"))
    return found[-1] if found else None


def choose_accel(wanted: str | None, probe_timeout: float = 8.0) -> str:
    """`kvm` when a guest kernel really starts under KVM, else `tcg`. The device file alone is
    not enough: on nested or broken hosts KVM opens and then the guest hangs or triple-faults,
    so the probe boots the host's kernel and waits for its first console line. Cached per
    process."""
    if wanted in ("kvm", "tcg"):
        return wanted
    if wanted not in (None, "", "auto"):
        raise BuiltinError(400, f"argument 'accel' has value '{wanted}': must be kvm, tcg or auto")
    with _ACCEL_LOCK:
        if "auto" not in _ACCEL:
            _ACCEL["auto"] = _probe(probe_timeout)
        return _ACCEL["auto"]


def _probe(timeout: float) -> str:
    kernel = default_kernel()
    if kernel is None or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    argv = [QEMU, "-accel", "kvm", "-cpu", "host", "-m", "64", "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", "stdio", "-no-reboot", "-kernel", kernel,
            "-append", "console=ttyS0 panic=-1"]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)
    except OSError:
        return "tcg"
    found = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if b"Linux version" in line:
                found.set()
                return
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    found.wait(timeout)
    proc.kill()
    proc.wait()
    return "kvm" if found.is_set() else "tcg"
