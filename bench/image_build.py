"""Image sizes and packing speed: the default node image vs peers measured in the same run.

    .venv/bin/python -m bench.image_build

Sizes: our node image (kernel + gzip initramfs, from image/node.toml), a busybox-only image
built by the same builder from the same kernel (the floor: kernel, modules, busybox, /init),
and this machine's own Debian initramfs-tools initrd (/boot/initrd.img-<kver>, a generic
initrd that only mounts a disk root). Packing: our newc writer + deterministic gzip vs GNU
cpio (`--reproducible`, the mkosi recipe) piped into `gzip -n -6`, on the same unpacked tree.
"""

from __future__ import annotations

import glob
import subprocess
import tempfile
import time
from pathlib import Path

from zos.image import (Tree, build_image, compress, decompress, default_spec_path, extract_cpio, load_spec,
                       write_cpio)

from ._common import table

BUSYBOX_ONLY = """
[image]
name = "busybox-only"
[kernel]
modules = ["virtio_net"]
cmdline = "console=ttyS0 panic=-1"
[init]
script = "{init}"
agent = ["sleep", "3600"]
"""


def ours_pack(root: Path) -> tuple[float, int]:
    start = time.perf_counter()
    tree = Tree()
    tree.add_tree(root, "/", "all")
    with tempfile.TemporaryFile() as out:
        write_cpio(out, (entry for _p, _n, entry in tree.entries(0)))
        out.seek(0)
        packed = compress(out.read(), "gzip")
    return time.perf_counter() - start, len(packed)


def gnu_pack(root: Path) -> tuple[float, int]:
    start = time.perf_counter()
    script = ("find . -mindepth 0 | LC_ALL=C sort | cpio -o -H newc --reproducible --owner=0:0 --quiet"
              " | gzip -n -6")
    out = subprocess.run(["sh", "-c", script], cwd=root, capture_output=True, check=True).stdout
    return time.perf_counter() - start, len(out)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="zos-bench-image-") as tmp_name:
        tmp = Path(tmp_name)
        start = time.perf_counter()
        node = build_image(load_spec(), tmp / "node")
        build_seconds = time.perf_counter() - start
        spec = tmp / "busybox-only.toml"
        spec.write_text(BUSYBOX_ONLY.format(init=default_spec_path().parent / "init.sh"))
        floor = build_image(load_spec(spec), tmp / "floor", cache=tmp / "cache")
        kver = node.manifest["image"]["kernel"]
        debian = Path(f"/boot/initrd.img-{kver}")
        totals = node.manifest["totals"]
        print(f"node image: kernel {node.kernel.stat().st_size:,} B, initramfs cpio {totals['cpio_bytes']:,} B, "
              f"gzip {totals['compressed_bytes']:,} B (warm-cache build {build_seconds:.1f} s)")
        xz = len(compress(decompress(node.initramfs.read_bytes()), "xz"))
        rows = [("node initramfs, gzip vs busybox-only", totals["compressed_bytes"] / 1e3,
                 floor.manifest["totals"]["compressed_bytes"] / 1e3, "kB")]
        print(f"node initramfs with xz (CRC32, preset 9, 1 MiB dict): {xz:,} B")
        if debian.is_file():
            rows.append(("node initramfs, gzip vs Debian initrd.img", totals["compressed_bytes"] / 1e3,
                         debian.stat().st_size / 1e3, "kB"))
        rows.append(("node initramfs, uncompressed cpio vs busybox-only", totals["cpio_bytes"] / 1e3,
                     floor.manifest["totals"]["cpio_bytes"] / 1e3, "kB"))
        root = tmp / "tree"
        root.mkdir()
        extract_cpio(decompress(node.initramfs.read_bytes()), root)
        ours_s, ours_size = ours_pack(root)
        gnu_s, gnu_size = gnu_pack(root)
        rows.append(("pack tree -> cpio.gz: time, ours vs GNU cpio + gzip -n -6", ours_s * 1e3, gnu_s * 1e3, "ms"))
        rows.append(("pack tree -> cpio.gz: size, ours vs GNU cpio + gzip -n -6", ours_size / 1e3, gnu_size / 1e3,
                     "kB"))
        print(table("image sizes and packing", rows))
        print(f"\n(Debian initrd: {debian} — generic initramfs-tools image, not a node image; "
              f"found: {bool(glob.glob(str(debian)))})")


if __name__ == "__main__":
    main()
