"""The kernel: the vmlinuz of an installed Debian kernel package and a subset of its modules.

Modules are copied with the dependencies `modules.dep` lists for them, and a `modules.dep` for
just that subset is written so busybox `modprobe` can load them (it reads the text file).
"""

from __future__ import annotations

import dataclasses
import lzma
import re
from pathlib import Path

from ._errors import MissingInputError, SpecError
from ._spec import KernelSpec


@dataclasses.dataclass(frozen=True)
class KernelInputs:
    version: str
    vmlinuz: Path
    modules_root: Path                     # /lib/modules/<version>
    modules: tuple[str, ...]               # module paths relative to modules_root, load-order sorted
    builtin: tuple[str, ...]               # listed names that are built into the kernel


def module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    base = re.sub(r"\.ko(\.xz|\.zst|\.gz)?$", "", base)
    return base.replace("-", "_")


def _version_key(version: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"[.-]", version)]


def resolve_kernel(spec: KernelSpec) -> KernelInputs:
    modules_dir = Path(spec.modules_dir)
    if spec.version == "auto":
        candidates = sorted((d.name for d in modules_dir.iterdir() if d.is_dir()
                             and Path(spec.vmlinuz or f"/boot/vmlinuz-{d.name}").is_file()),
                            key=_version_key) if modules_dir.is_dir() else []
        if not candidates:
            raise MissingInputError("kernel (no /boot/vmlinuz-<v> with modules; install linux-image-amd64)",
                                    str(modules_dir))
        version = candidates[-1]
    else:
        version = spec.version
    vmlinuz = Path(spec.vmlinuz or f"/boot/vmlinuz-{version}")
    if not vmlinuz.is_file():
        raise MissingInputError("kernel image", str(vmlinuz))
    root = modules_dir / version
    dep_file = root / "modules.dep"
    if not dep_file.is_file():
        raise MissingInputError("kernel modules.dep", str(dep_file))
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in dep_file.read_text().splitlines():
        if ":" not in line:
            continue
        module, _, rest = line.partition(":")
        deps[module] = rest.split()
        by_name[module_name(module)] = module
    builtin_file = root / "modules.builtin"
    builtins = {module_name(line) for line in builtin_file.read_text().split()} if builtin_file.is_file() else set()

    chosen: list[str] = []
    skipped: list[str] = []
    for name in spec.modules:
        key = name.replace("-", "_")
        if key in by_name:
            module = by_name[key]
            # modules.dep lists dependencies so that the last one must be loaded first.
            for item in [*reversed(deps[module]), module]:
                if item not in chosen:
                    chosen.append(item)
        elif key in builtins:
            skipped.append(name)
        else:
            raise SpecError(f"'kernel.modules' names '{name}', which kernel {version} does not have "
                            f"(not in {dep_file} nor modules.builtin)")
    return KernelInputs(version, vmlinuz, root, tuple(chosen), tuple(skipped))


def module_bytes(path: Path) -> bytes:
    """Module contents, uncompressed (busybox modprobe loads plain .ko files)."""
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if not path.name.endswith(".ko"):
        raise SpecError(f"kernel module {path} is compressed in a way this builder does not unpack")
    return data


def plain_name(module: str) -> str:
    return re.sub(r"\.ko\.(xz|zst|gz)$", ".ko", module)


def subset_modules_dep(kernel: KernelInputs) -> bytes:
    """modules.dep for the copied modules only (same line format as depmod's)."""
    chosen = set(kernel.modules)
    all_deps: dict[str, list[str]] = {}
    for line in (kernel.modules_root / "modules.dep").read_text().splitlines():
        module, _, rest = line.partition(":")
        if module in chosen:
            all_deps[module] = [d for d in rest.split() if d in chosen]
    lines = []
    for module in kernel.modules:
        deps = " ".join(plain_name(d) for d in all_deps.get(module, []))
        lines.append(f"{plain_name(module)}:{' ' + deps if deps else ''}")
    return ("\n".join(lines) + "\n").encode()
