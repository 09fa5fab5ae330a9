"""Snapshots of vdisks in upstream 0-Disk's export format (spec §8), to and from a directory.

Blocks are re-blocked to the snapshot block size, all-zero ones omitted; each is compressed
(lz4 frame = 0, xz = 1), optionally AES-256-GCM encrypted (12-byte nonce prepended), and
stored once under its keyed BLAKE2b-256 name `HHHH/HHHH/<56 hex>`. The header
`backups/<snapshotID>` is bencoded `{meta, map}`, compressed and encrypted like a block.
Compression, hashing and encryption run in worker threads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Any
from collections.abc import Callable

import cramjam
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ._bencode import BdecodeError, bdecode, bencode
from ._backend import BlockStore
from ._device import BlockDevice
from ._errors import DiskError
from ._vdisk import VdiskConfig

LZ4, XZ = 0, 1
COMPRESSIONS = {"lz4": LZ4, "xz": XZ}
DEFAULT_SNAPSHOT_BLOCK = 128 * 1024
FORMAT_VERSION = 1
Progress = Callable[[int, int], None]


class SnapshotError(DiskError):
    """A snapshot is missing, damaged, or needs another key."""


def _compress(data: bytes, kind: int) -> bytes:
    return bytes(cramjam.lz4.compress(data) if kind == LZ4 else cramjam.xz.compress(data))


def _decompress(data: bytes, kind: int) -> bytes:
    return bytes(cramjam.lz4.decompress(data) if kind == LZ4 else cramjam.xz.decompress(data))


def _seal(data: bytes, kind: int, key: bytes | None) -> bytes:
    packed = _compress(data, kind)
    if key is None:
        return packed
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, packed, None)


def _open(blob: bytes, kind: int, key: bytes | None) -> bytes:
    if key is not None:
        try:
            blob = AESGCM(key).decrypt(blob[:12], blob[12:], None)
        except InvalidTag:
            raise SnapshotError("cannot decrypt: wrong key or damaged data") from None
    try:
        return _decompress(blob, kind)
    except Exception as exc:
        raise SnapshotError(f"cannot decompress ({'lz4' if kind == LZ4 else 'xz'}): {exc}") from exc


def block_name(data: bytes, kind: int, key: bytes | None) -> bytes:
    return hashlib.blake2b(data, digest_size=32, key=(key or b"") + bytes([kind])).digest()


def block_path(root: Path, digest: bytes) -> Path:
    text = digest.hex().upper()
    return root / text[0:4] / text[4:8] / text[8:]


def check_key(key: bytes | None) -> bytes | None:
    if key is not None and len(key) != 32:
        raise SnapshotError(f"the encryption key must be 32 bytes, got {len(key)}")
    return key


async def export_vdisk(store: BlockStore, config: VdiskConfig, root: Path, snapshot_id: str, *,
                       key: bytes | None = None, compression: str = "lz4",
                       block_size: int = DEFAULT_SNAPSHOT_BLOCK,
                       progress: Progress | None = None) -> int:
    """Write the vdisk into `root` as snapshot `snapshot_id`; returns the blocks stored."""
    key = check_key(key)
    kind = COMPRESSIONS[compression]
    if block_size <= 0 or block_size & (block_size - 1):
        raise SnapshotError(f"snapshot block size {block_size} is not a power of two")
    device = BlockDevice(store, config.size)
    wanted: set[int] = set()
    step = 65536
    for start in range(0, config.blocks, step):
        for i in await store.allocated(start, min(config.blocks, start + step)):
            lo = i * config.block_size
            wanted.update(range(lo // block_size, (lo + config.block_size - 1) // block_size + 1))
    indices, hashes = [], []
    total = len(wanted)
    for n, index in enumerate(sorted(wanted)):
        offset = index * block_size
        data = await device.pread(offset, min(block_size, config.size - offset))
        data = data.ljust(block_size, b"\0")
        if data.count(0) == len(data):
            continue
        digest = await asyncio.to_thread(block_name, data, kind, key)
        path = block_path(root, digest)
        if not path.exists():
            blob = await asyncio.to_thread(_seal, data, kind, key)
            await asyncio.to_thread(_write, path, blob)
        indices.append(index)
        hashes.append(digest)
        if progress:
            progress(n + 1, total)
    header = {"meta": {"id": snapshot_id, "bs": block_size, "v": FORMAT_VERSION,
                       "at": dt.datetime.now(dt.UTC).isoformat(),
                       "c": kind,
                       "src": {"id": config.name, "bs": config.block_size, "sz": config.size}},
              "map": {"c": len(indices), "i": indices, "h": hashes}}
    blob = await asyncio.to_thread(_seal, bencode(header), kind, key)
    await asyncio.to_thread(_write, root / "backups" / snapshot_id, blob)
    return len(indices)


def _write(path: Path, blob: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, path)


async def read_header(root: Path, snapshot_id: str, key: bytes | None = None) -> dict[str, Any]:
    """The decoded header of a snapshot (tries lz4, then xz)."""
    key = check_key(key)
    path = root / "backups" / snapshot_id
    try:
        blob = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        raise SnapshotError(f"snapshot '{snapshot_id}' not found under {root}") from None
    errors = []
    for kind in (LZ4, XZ):
        try:
            raw = await asyncio.to_thread(_open, blob, kind, key)
            header = bdecode(raw)
            header["meta"]["c"] = kind
            return header
        except (SnapshotError, BdecodeError, ValueError, KeyError) as exc:
            errors.append(str(exc))
    raise SnapshotError(f"snapshot '{snapshot_id}' header does not open: {'; '.join(errors)}")


async def import_vdisk(store: BlockStore, config: VdiskConfig, root: Path, snapshot_id: str, *,
                       key: bytes | None = None, progress: Progress | None = None) -> int:
    """Write every block of the snapshot into the (new) vdisk's store, re-blocking as needed.
    Each block's name is checked against its content, so damage is caught, not imported."""
    header = await read_header(root, snapshot_id, key)
    meta, mapping = header["meta"], header["map"]
    kind, snapshot_bs = meta["c"], meta["bs"]
    device = BlockDevice(store, config.size)
    total = len(mapping["i"])
    for n, (index, digest) in enumerate(zip(mapping["i"], mapping["h"], strict=True)):
        offset = index * snapshot_bs
        if offset >= config.size:
            raise SnapshotError(f"snapshot block {index} lies beyond the vdisk's {config.size} bytes")
        try:
            blob = await asyncio.to_thread(block_path(root, digest).read_bytes)
        except FileNotFoundError:
            raise SnapshotError(f"snapshot block {digest.hex()} is missing") from None
        data = await asyncio.to_thread(_open, blob, kind, key)
        if await asyncio.to_thread(block_name, data, kind, key) != digest:
            raise SnapshotError(f"snapshot block {index} does not match its hash {digest.hex()}")
        await device.pwrite(offset, data[:config.size - offset])
        if progress:
            progress(n + 1, total)
    await store.flush()
    return total
