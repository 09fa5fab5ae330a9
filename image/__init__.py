"""The image builder (0-Initramfs): a declarative spec -> a reproducible kernel + initramfs
that boots the node agent, and a qemu runner to boot it.

    spec = load_spec()                                  # image/node.toml
    result = build_image(spec, Path("out"), report=stderr_reporter())
    with boot(result.outdir, nats="nats://127.0.0.1:4222", forward_redis=16379) as vm:
        vm.wait_for_console("starting node agent", timeout=300)
"""

from ._boot import BootedVM, boot, guest_nats_url, qemu_command
from ._build import BuildResult, build_image, check_inputs, default_cache_dir
from ._compress import compress, decompress
from ._cpio import CpioEntry, CpioFormatError, extract_cpio, read_cpio, write_cpio
from ._errors import BootError, BuildError, ImageError, MissingInputError, SpecError
from ._progress import Reporter, quiet, stderr_reporter
from ._tree import Node, Tree
from ._spec import ImageSpec, default_spec_path, load_spec, parse_spec, spec_from_dict

__all__ = [
    "BootError",
    "BootedVM",
    "BuildError",
    "BuildResult",
    "CpioEntry",
    "CpioFormatError",
    "ImageError",
    "ImageSpec",
    "MissingInputError",
    "Node",
    "Reporter",
    "SpecError",
    "Tree",
    "boot",
    "build_image",
    "check_inputs",
    "compress",
    "decompress",
    "default_cache_dir",
    "default_spec_path",
    "extract_cpio",
    "guest_nats_url",
    "load_spec",
    "parse_spec",
    "qemu_command",
    "quiet",
    "read_cpio",
    "spec_from_dict",
    "stderr_reporter",
    "write_cpio",
]
