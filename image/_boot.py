"""Boot a built image under qemu: TCG by default (KVM hangs on this kind of machine, nested
virtualisation), serial console to a log file, user-mode networking.

The guest reaches the host's broker through slirp: the host's loopback is 10.0.2.2 from the
guest, so `nats://127.0.0.1:P` becomes `zos.nats=nats://10.0.2.2:P`. The way in is one
`hostfwd` bound to 127.0.0.1 on the host (the guest's Redis bridge port): nothing listens
beyond loopback.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from ._errors import BootError

HOST_FROM_GUEST = "10.0.2.2"


def guest_nats_url(url: str) -> str:
    """Each loopback address of `url` (comma-separated) as the guest sees it. Others are refused:
    the guest must not reach anything but this machine's loopback."""
    out = []
    for part in url.split(","):
        parsed = urlsplit(part.strip())
        host = parsed.hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback or not parsed.port:
            raise BootError(f"NATS URL {part!r}: only loopback addresses with a port can be forwarded "
                            "into the guest")
        out.append(f"{parsed.scheme or 'nats'}://{HOST_FROM_GUEST}:{parsed.port}")
    return ",".join(out)


def _initramfs(outdir: Path) -> Path:
    manifest = outdir / "manifest.json"
    if manifest.is_file():
        outputs = json.loads(manifest.read_text())["outputs"]
        names = [name for name in outputs if name.startswith("initramfs")]
        if names:
            return outdir / names[0]
    found = sorted(outdir.glob("initramfs.cpio*"))
    if not found:
        raise BootError(f"{outdir} holds no initramfs.cpio*: build it with `zos image build -o {outdir}`")
    return found[0]


def qemu_command(outdir: Path, *, log_path: Path, memory: int = 1024, smp: int = 1,
                 nats: str | None = None, node_id: str | None = None, forward_redis: int | None = None,
                 kvm: bool = False, append: str = "", qemu: str = "qemu-system-x86_64") -> list[str]:
    outdir = Path(outdir)
    kernel = outdir / "vmlinuz"
    if not kernel.is_file():
        raise BootError(f"{kernel} does not exist: build the image first")
    cmdline = (outdir / "cmdline").read_text().strip() if (outdir / "cmdline").is_file() else "console=ttyS0"
    words = [cmdline]
    if nats:
        words.append(f"zos.nats={guest_nats_url(nats)}")
    if node_id:
        words.append(f"zos.node={node_id}")
    if forward_redis:
        words.append("development")      # the bridge listens on the guest's addresses
    if append:
        words.append(append)
    netdev = "user,id=n0"
    if forward_redis:
        netdev += f",hostfwd=tcp:127.0.0.1:{int(forward_redis)}-:6379"
    return [qemu, "-accel", "kvm" if kvm else "tcg", "-m", str(memory), "-smp", str(smp),
            "-nographic", "-monitor", "none", "-serial", f"file:{log_path}", "-no-reboot",
            "-kernel", str(kernel), "-initrd", str(_initramfs(outdir)), "-append", " ".join(words),
            "-netdev", netdev, "-device", "virtio-net-pci,netdev=n0"]


class BootedVM:
    """A running qemu; `with` stops it (terminate, then kill) on the way out."""

    def __init__(self, proc: subprocess.Popen, log_path: Path, command: list[str]) -> None:
        self.proc = proc
        self.log_path = log_path
        self.command = command
        self.started = time.monotonic()

    def console(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.console().splitlines()[-lines:])

    def wait_for_console(self, text: str, timeout: float) -> float:
        """Wait until the console shows `text`; returns seconds since qemu started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.console():
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                raise BootError(f"qemu exited ({self.proc.returncode}) before the console showed "
                                f"{text!r}; console tail:\n{self.tail()}")
            time.sleep(0.2)
        raise BootError(f"console did not show {text!r} within {timeout} s; console tail:\n{self.tail()}")

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise BootError(f"qemu still running after {timeout} s; console tail:\n{self.tail()}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> BootedVM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def boot(outdir: str | Path, *, log_path: str | Path | None = None, memory: int = 1024, smp: int = 1,
         nats: str | None = None, node_id: str | None = None, forward_redis: int | None = None,
         kvm: bool = False, append: str = "", qemu: str = "qemu-system-x86_64") -> BootedVM:
    """Start qemu on a built image (in the background) and return its handle."""
    outdir = Path(outdir)
    binary = shutil.which(qemu)
    if binary is None:
        raise BootError(f"{qemu} is not installed (Debian package qemu-system-x86)")
    log = Path(log_path) if log_path else outdir / "console.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    command = qemu_command(outdir, log_path=log, memory=memory, smp=smp, nats=nats, node_id=node_id,
                           forward_redis=forward_redis, kvm=kvm, append=append, qemu=binary)
    stderr_path = log.with_name(log.name + ".qemu-stderr")
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
    return BootedVM(proc, log, command)
