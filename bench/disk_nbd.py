"""zos disk NBD server vs nbdkit (memory and file plugins), same clients, same run.

    .venv/bin/python -m bench.disk_nbd [--size 1G] [--runtime 15]

nbdcopy sequential write (file → export) and read (export → null:) of SIZE, then fio 4 KiB
random read and random write at iodepth 16 with the nbd engine. zos runs on the embedded
store (cache vdisk) and, as an extra row, a db vdisk with its transaction log on JetStream.
Everything listens on unix sockets in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import Timer, broker
from zos.bus import connect
from zos.disk import create_vdisk, make_vdisk, parse_size


def wait_socket(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server for {path} did not start")
        time.sleep(0.05)


def nbdcopy(src: str, dst: str) -> float:
    with Timer() as t:
        subprocess.run(["nbdcopy", "--flush", src, dst] if not dst.startswith("null")
                       else ["nbdcopy", src, dst], check=True, capture_output=True)
    return t.seconds


def fio(uri: str, rw: str, runtime: int, size: int) -> float:
    proc = subprocess.run(["fio", "--name=bench", "--ioengine=nbd", f"--uri={uri}", f"--rw={rw}",
                           "--bs=4k", "--iodepth=16", f"--size={size}", f"--runtime={runtime}",
                           "--time_based", "--output-format=json"],
                          check=True, capture_output=True, text=True)
    job = json.loads(proc.stdout[proc.stdout.index("{"):])["jobs"][0]
    return job["read"]["iops"] + job["write"]["iops"]


def measure(label: str, uri: str, source: Path, size: int, runtime: int) -> dict[str, float]:
    print(f"  {label}: nbdcopy write", flush=True)
    write = nbdcopy(str(source), uri)
    print(f"  {label}: nbdcopy read", flush=True)
    read = nbdcopy(uri, "null:")
    print(f"  {label}: fio randread / randwrite", flush=True)
    return {"seq_write": size / write / 2**20, "seq_read": size / read / 2**20,
            "randread": fio(uri, "randread", runtime, size), "randwrite": fio(uri, "randwrite", runtime, size)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.disk_nbd", description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G")
    parser.add_argument("--runtime", type=int, default=15, help="seconds per fio job")
    args = parser.parse_args()
    for tool in ("nbdkit", "nbdcopy", "fio"):
        if not shutil.which(tool):
            print(f"{tool} is not installed; see .ci/apt-packages.txt", file=sys.stderr)
            return 1
    size = parse_size(args.size)
    results: dict[str, dict[str, float]] = {}
    with broker() as nats_url, tempfile.TemporaryDirectory(prefix="zos-bench-disk-") as tmp:
        tmpdir = Path(tmp)
        source = tmpdir / "source.raw"
        with open(source, "wb") as f:   # incompressible, fully allocated data
            for _ in range(size // (64 << 20)):
                f.write(os.urandom(64 << 20))
        procs = []
        try:
            env = {**os.environ, "ZOS_NATS": nats_url, "ZOS_DATA": str(tmpdir / "zos")}
            zsock = tmpdir / "zos.sock"
            procs.append(subprocess.Popen([sys.executable, "-m", "zos", "disk", "serve", "--listen",
                                           f"unix:{zsock}"], env=env, stdout=subprocess.DEVNULL,
                                          stderr=open(tmpdir / "zos.log", "wb")))
            wait_socket(zsock, procs[-1])

            async def create() -> None:
                bus = await connect(nats_url, actor="bench")
                await create_vdisk(bus, make_vdisk("bench", size, "cache"))
                await create_vdisk(bus, make_vdisk("benchdb", size, "db"))
                await bus.close()
            asyncio.run(create())
            time.sleep(1.0)   # the server learns the vdisks from the log
            msock, fsock = tmpdir / "mem.sock", tmpdir / "file.sock"
            image = tmpdir / "file.img"
            with open(image, "wb") as f:
                f.truncate(size)
            procs.append(subprocess.Popen(["nbdkit", "-f", "-U", str(msock), "memory", str(size)]))
            wait_socket(msock, procs[-1])
            procs.append(subprocess.Popen(["nbdkit", "-f", "-U", str(fsock), "file", f"file={image}"]))
            wait_socket(fsock, procs[-1])
            targets = [("zos cache (rocksdb)", f"nbd+unix:///bench?socket={zsock}"),
                       ("zos db (rocksdb + tlog)", f"nbd+unix:///benchdb?socket={zsock}"),
                       ("nbdkit memory", f"nbd+unix://?socket={msock}"),
                       ("nbdkit file", f"nbd+unix://?socket={fsock}")]
            for label, uri in targets:
                results[label] = measure(label, uri, source, size, args.runtime)
        finally:
            for proc in procs:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    metrics = [("seq_write", "nbdcopy write MiB/s"), ("seq_read", "nbdcopy read MiB/s"),
               ("randread", "fio 4k randread IOPS qd16"), ("randwrite", "fio 4k randwrite IOPS qd16")]
    names = list(results)
    print(f"\n### disk: NBD, {args.size}, fio {args.runtime} s per job\n")
    print("| what | " + " | ".join(names) + " | zos/memory | zos/file |")
    print("|---|" + "---:|" * len(names) + "---:|---:|")
    for key, what in metrics:
        ours = results[names[0]][key]
        cells = " | ".join(f"{results[n][key]:,.0f}" for n in names)
        print(f"| {what} | {cells} | {ours / results['nbdkit memory'][key]:.2f} | "
              f"{ours / results['nbdkit file'][key]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
