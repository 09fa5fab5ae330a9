"""The public surface of `zos.disk` is exactly what `__all__` lists (httpx's check)."""

from __future__ import annotations

import zos.disk
import zos.disk.nbd


def test_all_lists_every_public_name() -> None:
    for module in (zos.disk, zos.disk.nbd):
        public = sorted((name for name in vars(module) if not name.startswith("_")), key=str.casefold)
        public = [name for name in public if not isinstance(getattr(module, name), type(zos))
                  or name in module.__all__]
        assert sorted(module.__all__, key=str.casefold) == public, module.__name__


def test_device_handles_unaligned_ranges_and_block_status(tmp_path) -> None:
    import asyncio

    from zos.disk import BlockDevice, RocksStore

    async def go() -> None:
        device = BlockDevice(RocksStore(tmp_path / "s", 512, False), 8192)
        await device.pwrite(100, b"x" * 1000)
        assert await device.pread(0, 1200) == bytes(100) + b"x" * 1000 + bytes(100)
        assert await device.block_status(0, 8192) == [(1536, 0), (8192 - 1536, 3)]
        assert await device.block_status(700, 100, one=True) == [(100, 0)]
        assert await device.block_status(0, 8192, max_blocks=2) == [(1024, 0)]
        await device.zero(0, 1024)                 # whole blocks become holes again
        assert await device.block_status(0, 2048) == [(1024, 3), (512, 0), (512, 3)]
        runs = await device.read_extents(0, 2048)
        assert [(a, n, d is None) for a, n, d in runs] == [(0, 1024, True), (1024, 512, False),
                                                           (1536, 512, True)]
        await device.close()
    asyncio.run(go())


def test_zos_up_plans_a_disk_server(tmp_path) -> None:
    from zos.cli import build_parser
    from zos.up import plan

    stack, services = plan(tmp_path, "nats://127.0.0.1:1", "n1")
    assert stack["nbd"] == f"nbd+unix:///?socket={tmp_path / 'disk' / 'nbd.sock'}"
    (disk,) = [s for s in services if s.name == "disk"]
    args = build_parser().parse_args(disk.argv[3:])          # after "python -m zos"
    assert (args.verb, args.listen, args.server_id, args.data) == (
        "serve", [f"unix:{tmp_path / 'disk' / 'nbd.sock'}"], "n1", str(tmp_path))
