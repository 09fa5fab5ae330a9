"""Writes into a storage pool filesystem through a container's bind mount vs the same btrfs
subvolume written on the host, same run (issue 15: the container path must cost < 5%).

    .venv/bin/python -m bench.storagepool_io [--rounds 3] [--size 512M] [--device /dev/X]

A pool is made with the agent's own builtins (`storagepool.create`, `filesystem_create`) on a
loop device over a sparse file (or `--device`, which is FORMATTED). The "container" is what
the runtime builds for a pool mount: a private mount namespace with the filesystem
bind-mounted into it; fio runs inside. Each round runs both paths, alternating which goes
first: sequential write (1 MiB blocks) and 4 KiB random write (libaio, iodepth 16,
direct I/O), each fsync'ed at the end. Reported: the median MiB/s (sequential) and IOPS
(random); ratio = container / host (1.00 = no cost). Needs root, fio and btrfs-progs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from zos.node import AgentConfig
from zos.node.builtins import BUILTINS, Context, load_all
from zos.node.builtins.storagepool import volume_path

JOBS = {
    "sequential write": ["--rw=write", "--bs=1M", "--ioengine=psync"],
    "4k random write": ["--rw=randwrite", "--bs=4k", "--ioengine=libaio", "--iodepth=16"],
}


def sh(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


def fio(directory: Path, job: list[str], size: str, name: str, in_container: Path | None = None) -> dict:
    argv = ["fio", f"--name={name}", f"--directory={directory}", f"--size={size}", "--direct=1",
            "--end_fsync=1", "--output-format=json", "--unlink=1", *job]
    if in_container is not None:
        # The runtime's view: a fresh mount namespace with the volume bind-mounted inside.
        script = f"mount --bind {in_container} {directory} && exec {' '.join(argv)}"
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script]
    write = json.loads(sh(*argv))["jobs"][0]["write"]
    return {"MiB/s": write["bw_bytes"] / (1 << 20), "IOPS": write["iops"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", default="512M", help="bytes written per fio job")
    parser.add_argument("--device", help="a block device to FORMAT instead of a loop device")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (loop devices, mounts, mount namespaces)")
        return 0
    load_all()
    with tempfile.TemporaryDirectory(prefix="zos-bench-pool-", dir="/var/tmp") as tmp:
        root, loop = Path(tmp) / "pools", None
        config = AgentConfig(node_id="bench", data_dir=Path(tmp) / "data", storagepool_root=root)
        ctx = Context(node_id="bench", job_id=uuid.uuid4().hex, config=config)
        device = args.device
        if device is None:
            image = Path(tmp) / "pool.img"
            with image.open("wb") as f:
                f.truncate(8 << 30)
            device = loop = sh("losetup", "--find", "--show", str(image)).strip()
        try:
            BUILTINS["storagepool.create"].func({"name": "bench", "devices": [device], "overwrite": True}, ctx)
            BUILTINS["storagepool.filesystem_create"].func({"pool": "bench", "name": "vol"}, ctx)
            volume = volume_path(config, "storagepool://bench/vol")
            target = Path(tmp) / "container-mount"
            target.mkdir()
            results: dict[tuple[str, str], list[float]] = {}
            for round_ in range(args.rounds):
                for what, job in JOBS.items():
                    unit = "MiB/s" if what.startswith("sequential") else "IOPS"
                    order = ["host", "container"] if round_ % 2 == 0 else ["container", "host"]
                    for path in order:
                        if path == "host":
                            got = fio(volume, job, args.size, "host")
                        else:
                            got = fio(target, job, args.size, "ctr", in_container=volume)
                        results.setdefault((what, path), []).append(got[unit])
            print("### storage pool filesystem: container bind mount vs host (same btrfs, same run)\n")
            print("| what | container | host | unit | ratio |\n|---|---:|---:|---|---:|")
            for what in JOBS:
                unit = "MiB/s" if what.startswith("sequential") else "IOPS"
                ctr = statistics.median(results[(what, "container")])
                host = statistics.median(results[(what, "host")])
                print(f"| {what} | {ctr:,.0f} | {host:,.0f} | {unit} | {ctr / host:.2f} |")
            print(f"\n{args.rounds} round(s), {args.size} per job; the issue asks for a ratio >= 0.95.")
        finally:
            subprocess.run(["umount", str(root / "bench")], capture_output=True)
            if loop is not None:
                subprocess.run(["losetup", "--detach", loop], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
