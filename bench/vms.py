"""VMs: the agent's path against qemu alone, same guest (host kernel + busybox initramfs, TCG).

    .venv/bin/python -m bench.vms [--rounds N]

1. `kvm.create` on a real `zos node run` -> the guest's first serial line (`GUEST READY`), vs
   `qemu-system-x86_64` started by hand with the same kernel, initrd, memory and accelerator.
2. Guest disk throughput (dd inside the guest, 32 MiB of 1 MiB sequential writes with fsync,
   then reads after dropping caches; guest clock) on a vdisk of our NBD server vs the same
   guest on `nbdkit memory`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zos.bus import call, connect
from zos.disk import create_vdisk, make_vdisk

from ._common import broker, table

QEMU = "qemu-system-x86_64"


def _guest(tmp: Path) -> tuple[str, str, str]:
    from tests.vms.guest import CMDLINE, build_initramfs, kernel  # the test suite's tiny guest
    return kernel(), str(build_initramfs(tmp / "guest")), CMDLINE


async def _wait_text(path: Path, text: str, timeout: float = 180.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text(errors="replace") if path.exists() else ""
        if text in content:
            return content
        await asyncio.sleep(0.02)
    raise TimeoutError(f"'{text}' not seen in {path}")


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _agent_boot(bus, node: str, data: Path, guest: tuple[str, str, str], script: str,
                      media: list[dict] | None = None) -> tuple[float, str]:
    kernel, initrd, cmdline = guest
    began = time.monotonic()
    result = await call(bus, node, "kvm.create", {"cpu": 1, "memory": 96, "kernel": kernel, "initrd": initrd,
                                                  "cmdline": cmdline.format(script), "accel": "tcg",
                                                  "media": media or []}, timeout=180)
    assert result.ok, result.data
    uuid = result.value()
    console = data / "vms" / uuid / "serial.log"
    await _wait_text(console, "GUEST READY")
    ready = time.monotonic() - began
    text = await _wait_text(console, "DD ") if script == "ddbench" else ""
    await call(bus, node, "kvm.destroy", {"uuid": uuid}, timeout=120)
    return ready, text


async def _bare_boot(tmp: Path, guest: tuple[str, str, str], run: int) -> float:
    kernel, initrd, cmdline = guest
    console = tmp / f"bare-{run}.log"
    began = time.monotonic()
    proc = subprocess.Popen([QEMU, "-machine", "pc", "-accel", "tcg", "-m", "96", "-smp", "1", "-nodefaults",
                             "-no-user-config", "-display", "none", "-serial", f"file:{console}",
                             "-kernel", kernel, "-initrd", initrd, "-append", cmdline.format("idle")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await _wait_text(console, "GUEST READY")
        return time.monotonic() - began
    finally:
        proc.kill()
        proc.wait()


def _dd_rates(text: str) -> tuple[float, float]:
    t0, t1, t2 = map(float, re.search(r"DD ([0-9.]+) ([0-9.]+) ([0-9.]+)", text).groups())
    return 32 / max(t1 - t0, 1e-3), 32 / max(t2 - t1, 1e-3)


async def run(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="zos-bench-vms-") as tmp_name, broker() as nats:
        tmp = Path(tmp_name)
        guest = _guest(tmp)
        env = {**os.environ, "ZOS_NATS": nats, "ZOS_DATA": str(tmp / "data")}
        node = "bench-vms"
        agent = _start([sys.executable, "-m", "zos", "node", "run", "--node-id", node, "--nats", nats], env,
                       tmp / "agent.log")
        socket = tmp / "nbd.sock"
        disk = _start([sys.executable, "-m", "zos", "disk", "serve", "--listen", f"unix:{socket}"], env,
                      tmp / "disk.log")
        peer_socket = tmp / "nbdkit.sock"
        nbdkit = subprocess.Popen(["nbdkit", "-f", "-U", str(peer_socket), "memory", "64M"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if shutil.which("nbdkit") else None
        bus = await connect(nats, actor="bench")
        try:
            ready_file = tmp / "data" / "node" / node / "ready"
            while not ready_file.exists() or not socket.exists():
                await asyncio.sleep(0.05)
            ours, bare, w_ours, r_ours, w_peer, r_peer = [], [], [], [], [], []
            for rnd in range(rounds):
                ours.append((await _agent_boot(bus, node, tmp / "data", guest, "idle"))[0])
                bare.append(await _bare_boot(tmp, guest, rnd))
                name = f"bench-{rnd}"
                await create_vdisk(bus, make_vdisk(name, "64M", "db"))
                await asyncio.sleep(0.5)  # the server opens the new export
                _, text = await _agent_boot(bus, node, tmp / "data", guest, "ddbench",
                                            [{"url": f"nbd+unix:///{name}?socket={socket}"}])
                w, r = _dd_rates(text)
                w_ours.append(w)
                r_ours.append(r)
                if nbdkit is not None:
                    _, text = await _agent_boot(bus, node, tmp / "data", guest, "ddbench",
                                                [{"url": f"nbd+unix:///mem?socket={peer_socket}"}])
                    w, r = _dd_rates(text)
                    w_peer.append(w)
                    r_peer.append(r)
                print(f"round {rnd}: create->ready {ours[-1]:.2f} s, bare qemu {bare[-1]:.2f} s, "
                      f"dd ours w/r {w_ours[-1]:.1f}/{r_ours[-1]:.1f} MiB/s"
                      + (f", nbdkit w/r {w_peer[-1]:.1f}/{r_peer[-1]:.1f} MiB/s" if w_peer else ""), flush=True)
            med = statistics.median
            rows = [("kvm.create -> first serial line (ms; peer: bare qemu)", med(ours) * 1000, med(bare) * 1000, "ms")]
            if w_peer:
                rows += [("guest dd 1 MiB seq write (peer: nbdkit memory)", med(w_ours), med(w_peer), "MiB/s"),
                         ("guest dd 1 MiB seq read (peer: nbdkit memory)", med(r_ours), med(r_peer), "MiB/s")]
            print(table(f"VMs, TCG, {rounds} round(s), medians", rows))
        finally:
            await bus.close()
            _stop(agent)
            _stop(disk)
            if nbdkit is not None:
                nbdkit.kill()
                nbdkit.wait()
            from zos.node.builtins import _kvm_qemu as q  # leave no qemu behind
            for pidfile in (tmp / "data" / "vms").glob("*/qemu.pid"):
                q.kill(q.read_pid(pidfile.parent) or 0, pidfile.parent.name)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.vms", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.rounds))


if __name__ == "__main__":
    main()
