"""Chunk GET throughput: from the hub over HTTP (`/api/chunks/<id>`) and from Redis through our
RedisStore, each against a named peer in the same run:

- hub HTTP GET vs plain redis-py GET of the same ciphertexts from a redis-server (the store an
  fs mount would otherwise read);
- our RedisStore.get (retries, namespaces) vs plain redis-py GET;
- fetch_chunk (GET + verify id + XXTEA + snappy + verify key) from Redis vs plain GET.

8 reader threads (the FUSE default `fetch_workers`), 512 KiB plaintext chunks.

    .venv/bin/python -m bench.hub_chunks [--chunks 200]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import redis

from zos.bus import free_port, wait_for_port
from zos.fs import CHUNK_SIZE, DirStore, HttpStore, encode_chunk, fetch_chunk, open_store

from ._common import Timer, table

WORKERS = 8


def _throughput(label: str, func, ids: list, size: int) -> float:
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(func, ids[:WORKERS]))  # warm connections
        with Timer() as t:
            results = list(pool.map(func, ids))
    assert all(results), label
    rate = size / 1e6 / t.seconds
    print(f"{label}: {rate:.0f} MB/s ({len(ids) / t.seconds:.0f} chunks/s)", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zos-bench-hub-") as tmp:
        work = Path(tmp)
        rng_words = [os.urandom(64).hex().encode() for _ in range(256)]
        chunks = []
        for i in range(args.chunks):  # half-compressible content, like real images
            plain = (b"".join(rng_words[(i * 7 + j) % 256] for j in range(CHUNK_SIZE // 256))[: CHUNK_SIZE // 2]
                     + os.urandom(CHUNK_SIZE // 2))
            chunks.append(encode_chunk(plain))
        total = sum(len(c) for _, _, c in chunks)
        plain_total = args.chunks * CHUNK_SIZE
        DirStore(work / "data" / "chunks").set_many((i, c) for i, _, c in chunks)

        redis_port = free_port()
        redis_proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port),
                                       "--save", "", "--appendonly", "no", "--dir", str(work)],
                                      stdout=subprocess.DEVNULL)
        hub_port = free_port()
        env = {**os.environ, "ZOS_DATA": str(work / "data"), "ZOS_TOKENS": "t:bench"}
        env.pop("ZOS_NATS", None)
        hub_proc = subprocess.Popen([sys.executable, "-m", "zos", "hub", "serve", "--port", str(hub_port)],
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port("127.0.0.1", redis_port, 30, redis_proc)
            wait_for_port("127.0.0.1", hub_port, 90, hub_proc)
            url = f"redis://127.0.0.1:{redis_port}"
            ours_redis = open_store(url)
            ours_redis.set_many((i, c) for i, _, c in chunks)
            plain_redis = redis.Redis(host="127.0.0.1", port=redis_port, max_connections=WORKERS * 2)
            hub = HttpStore(f"http://127.0.0.1:{hub_port}")
            ids = [i for i, _, _ in chunks]
            keys = {i: k for i, k, _ in chunks}

            best: dict[str, float] = {}
            for _ in range(3):  # interleaved rounds, best of each: the machine is shared
                for label, func, size in (
                        ("peer: redis-py GET", plain_redis.get, total),
                        ("zos hub HTTP GET", hub.get, total),
                        ("zos RedisStore.get", ours_redis.get, total),
                        ("zos fetch_chunk from Redis (verified plaintext)",
                         lambda i: fetch_chunk([ours_redis], i, keys[i]), plain_total)):
                    best[label] = max(best.get(label, 0.0), _throughput(label, func, ids, size))
            peer = best["peer: redis-py GET"]
            via_hub = best["zos hub HTTP GET"]
            via_redis = best["zos RedisStore.get"]
            decoded = best["zos fetch_chunk from Redis (verified plaintext)"]
            print(table("chunk GET throughput, 8 threads, 512 KiB chunks (ciphertext MB/s unless noted)", [
                ("hub HTTP GET vs redis-py GET", via_hub, peer, "MB/s"),
                ("RedisStore.get vs redis-py GET", via_redis, peer, "MB/s"),
                ("fetch_chunk (plaintext MB/s) vs redis-py GET", decoded, peer, "MB/s"),
            ]))
            hub.close()
            ours_redis.close()
        finally:
            hub_proc.terminate()
            redis_proc.terminate()
            hub_proc.wait(20)
            redis_proc.wait(20)


if __name__ == "__main__":
    main()
