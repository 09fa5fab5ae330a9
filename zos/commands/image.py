"""`zos image build` and `zos image boot`: the node image (kernel + initramfs) and a qemu runner."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from zos.image import BootError, boot, build_image, load_spec, stderr_reporter


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("image", help="build and boot the node image (kernel + initramfs)")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    build = verbs.add_parser("build", help="spec -> OUTDIR/vmlinuz, initramfs.cpio.gz, manifest.json")
    build.add_argument("spec", nargs="?", help="image spec (TOML); default: the node image (image/node.toml)")
    build.add_argument("-o", "--out", required=True, help="output folder")
    build.add_argument("--cache", help="cache folder (default ~/.cache/zos/image or $ZOS_IMAGE_CACHE)")
    build.add_argument("--no-check", action="store_true", help="skip the import check of the image's python")
    build.set_defaults(func=build_cmd)

    run = verbs.add_parser("boot", help="boot a built image under qemu (TCG) until it powers off")
    run.add_argument("outdir", help="folder written by `zos image build`")
    run.add_argument("--memory", type=int, default=1024, help="guest memory in MB")
    run.add_argument("--smp", type=int, default=1, help="guest CPUs")
    run.add_argument("--nats", help="host broker on loopback, e.g. nats://127.0.0.1:4222 (seen by the "
                                    "guest as 10.0.2.2)")
    run.add_argument("--node-id", help="zos.node= for the guest (default: from its MAC address)")
    run.add_argument("--forward-redis", type=int, metavar="PORT",
                     help="forward 127.0.0.1:PORT to the guest's Redis bridge (port 6379; adds `development`)")
    run.add_argument("--append", default="", help="more kernel arguments (e.g. debug)")
    run.add_argument("--log", help="serial console log (default OUTDIR/console.log)")
    run.add_argument("--kvm", action="store_true", help="use KVM instead of TCG (hangs on nested setups)")
    run.set_defaults(func=boot_cmd)


def build_cmd(args: argparse.Namespace) -> int:
    report = stderr_reporter()
    result = build_image(load_spec(args.spec), Path(args.out), Path(args.cache) if args.cache else None,
                         report=report, check=not args.no_check)
    print(size_report(result.manifest))
    return 0


def size_report(manifest: dict) -> str:
    totals = manifest["totals"]
    lines = [f"{'group':<36} {'files':>6} {'bytes':>12} {'gzip alone':>12}"]
    for group, item in sorted(totals["groups"].items(), key=lambda kv: -kv[1]["bytes"]):
        lines.append(f"{group:<36} {item['files']:>6} {item['bytes']:>12,} {item['gzip_alone']:>12,}")
    kernel = manifest["outputs"]["vmlinuz"]["size"]
    lines.append(f"{'total (files)':<36} {totals['files']:>6} {totals['file_bytes']:>12,}")
    lines.append(f"initramfs: cpio {totals['cpio_bytes']:,} bytes, {totals['compression']} "
                 f"{totals['compressed_bytes']:,} bytes; kernel {kernel:,} bytes")
    return "\n".join(lines)


def _interrupt(signum: int, frame: object) -> None:
    # Unwind out of proc.wait() (stopping qemu from inside the handler would wait on it twice).
    raise KeyboardInterrupt


def boot_cmd(args: argparse.Namespace) -> int:
    vm = boot(args.outdir, log_path=args.log, memory=args.memory, smp=args.smp, nats=args.nats,
              node_id=args.node_id, forward_redis=args.forward_redis, kvm=args.kvm, append=args.append)
    print(f"qemu pid {vm.proc.pid}; console: {vm.log_path}", file=sys.stderr)
    if args.forward_redis:
        print(f"redis bridge: redis://127.0.0.1:{args.forward_redis}", file=sys.stderr)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = vm.proc.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        vm.stop()
    if code != 0:
        raise BootError(f"qemu exited with {code}; console tail:\n{vm.tail()}")
    return 0
