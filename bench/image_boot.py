"""Boot to ready under qemu TCG: the node image (kernel start -> `node.booted` on the bus) vs
the busybox-only image from the same kernel and /init (kernel start -> /init done), same run.

    .venv/bin/python -m bench.image_boot [--runs N]

Kernel start on the host's clock is found from the guest: right after `node.booted` we run
`core.system cat /proc/uptime` and take (host time of the reply - guest uptime); the error is
the reply's latency (well under a second). For the floor image, /init prints its uptime.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from zos.bus import connect, event_subject
from zos.events import Command
from zos.image import boot, build_image, default_spec_path, load_spec

from ._common import broker, table
from .image_build import BUSYBOX_ONLY

UPTIME = re.compile(r"starting node agent \S+ \(uptime ([0-9.]+) s\)")


async def node_boot(outdir: Path, nats: str, log: Path) -> dict[str, float]:
    node = f"bench-{uuid.uuid4().hex[:6]}"
    bus = await connect(nats, actor="bench")
    vm = boot(outdir, log_path=log, nats=nats, node_id=node)
    try:
        async with asyncio.timeout(600):
            async for _item in bus.replay(event_subject("node", node), follow=True, types=["node.booted"]):
                booted_at = time.monotonic()
                break
            job = Command.from_dict({"id": str(uuid.uuid4()), "command": "core.system",
                                     "arguments": {"name": "cat", "args": ["/proc/uptime"]}})
            await bus.send_command(job, node)
            async for item in bus.replay(event_subject("job", job.id), follow=True, types=["job.finished"]):
                replied_at = time.monotonic()
                uptime = float(item.event.data["result"]["streams"][0].split()[0])
                break
        kernel_start = replied_at - uptime
        agent_uptime = float(UPTIME.search(vm.console()).group(1))
        return {"qemu_to_booted": booted_at - vm.started, "kernel_to_booted": booted_at - kernel_start,
                "kernel_to_agent_start": agent_uptime}
    finally:
        vm.stop()
        await bus.close()


def floor_boot(outdir: Path, nats: str, log: Path) -> float:
    with boot(outdir, log_path=log, nats=nats) as vm:
        vm.wait_for_console("starting node agent", timeout=600)
        return float(UPTIME.search(vm.console()).group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zos-bench-boot-") as tmp_name, broker() as nats:
        tmp = Path(tmp_name)
        node = build_image(load_spec(), tmp / "node")
        spec = tmp / "floor.toml"
        spec.write_text(BUSYBOX_ONLY.format(init=default_spec_path().parent / "init.sh"))
        floor = build_image(load_spec(spec), tmp / "floor", cache=tmp / "cache")
        ours, peers = [], []
        for run in range(args.runs):
            result = asyncio.run(node_boot(node.outdir, nats, tmp / f"node-{run}.log"))
            ours.append(result)
            peers.append(floor_boot(floor.outdir, nats, tmp / f"floor-{run}.log"))
            print(f"run {run}: node {result}, busybox-only kernel -> /init done {peers[-1]:.2f} s", flush=True)
        median = {key: statistics.median(r[key] for r in ours) for key in ours[0]}
        floor_s = statistics.median(peers)
        print(table(f"boot to ready under TCG (median of {args.runs})", [
            ("kernel start -> node.booted vs busybox-only kernel start -> /init done",
             median["kernel_to_booted"] * 1e3, floor_s * 1e3, "ms"),
            ("kernel start -> agent started vs busybox-only", median["kernel_to_agent_start"] * 1e3,
             floor_s * 1e3, "ms"),
        ]))
        print(f"\nqemu start -> node.booted (wall, incl. firmware): {median['qemu_to_booted']:.1f} s")


if __name__ == "__main__":
    main()
