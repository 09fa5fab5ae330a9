"""The build pipeline: spec -> tree -> newc cpio -> compressed initramfs + kernel + manifest.

Steps (each reported): resolve inputs (missing files fail here, by path) -> kernel modules ->
busybox -> python (cached stages) -> overlay (files, /init, image info) -> shared libraries of
every ELF, stripped -> prune -> busybox applet links -> devices -> check (the image's
interpreter imports the agent through the image's own loader and libraries) -> pack -> emit.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from ._check import check_python
from ._compress import SUFFIXES
from ._digest import sha256_bytes, sha256_file
from ._errors import MissingInputError
from ._init import render_init
from ._kernel import module_bytes, plain_name, resolve_kernel, subset_modules_dep
from ._pack import pack
from ._progress import Reporter, quiet
from ._python import find_interpreter, site_stage, stdlib_stage
from ._spec import ImageSpec
from ._steps import add_applets, add_libraries, prune
from ._tree import Tree


@dataclasses.dataclass(frozen=True)
class BuildResult:
    outdir: Path
    kernel: Path
    initramfs: Path
    cmdline: str
    manifest: dict


def default_cache_dir() -> Path:
    if os.environ.get("ZOS_IMAGE_CACHE"):
        return Path(os.environ["ZOS_IMAGE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "zos" / "image"


def check_inputs(spec: ImageSpec) -> None:
    """Fail early, naming the path, when a file the spec names is missing."""
    if not Path(spec.busybox.path).is_file():
        raise MissingInputError("busybox.path (install busybox-static)", spec.busybox.path)
    script = spec.resolve(spec.init.script)
    if not script.is_file():
        raise MissingInputError("init.script", str(script))
    for item in spec.files:
        if item.src and not spec.resolve(item.src).is_file():
            raise MissingInputError(f"files entry for {item.dst}: src", str(spec.resolve(item.src)))


def build_image(spec: ImageSpec, outdir: Path, cache: Path | None = None, report: Reporter = quiet,
                check: bool = True, project_dir: Path | None = None) -> BuildResult:
    """Build `spec` into `outdir` (vmlinuz, initramfs.cpio.*, cmdline, manifest.json).
    `project_dir`: the copy of this project to package (default: the installed source tree)."""
    cache = Path(cache) if cache else default_cache_dir()
    outdir = Path(outdir)
    mtime = spec.source_date_epoch
    report(f"spec {spec.path} (sha256 {spec.sha256[:12]}), SOURCE_DATE_EPOCH={mtime}, cache {cache}")

    # resolve
    check_inputs(spec)
    kernel = resolve_kernel(spec.kernel)
    report(f"kernel {kernel.version}: {kernel.vmlinuz}, {len(kernel.modules)} modules "
           f"(with dependencies){'; built in: ' + ', '.join(kernel.builtin) if kernel.builtin else ''}")
    inputs: dict[str, object] = {"kernel": {"version": kernel.version, "vmlinuz": str(kernel.vmlinuz),
                                            "sha256": sha256_file(kernel.vmlinuz)},
                                 "busybox": {"path": spec.busybox.path,
                                             "sha256": sha256_file(Path(spec.busybox.path))}}

    tree = Tree()
    for folder in spec.dirs:
        tree.add_dir(folder)
    for link, target in spec.symlinks:
        tree.add_symlink(link, target)

    # kernel modules
    module_dir = f"/lib/modules/{kernel.version}"
    for module in kernel.modules:
        tree.add_file(f"{module_dir}/{plain_name(module)}", data=module_bytes(kernel.modules_root / module),
                      group="kernel modules", mode=0o644)
    tree.add_file(f"{module_dir}/modules.dep", data=subset_modules_dep(kernel), group="kernel modules")

    # busybox
    tree.add_file("/bin/busybox", source=Path(spec.busybox.path), group="busybox", mode=0o755)

    # python
    stdlib_dir = site_dir = None
    interpreter = None
    if spec.python is not None:
        interpreter = find_interpreter(spec.python)
        report(f"python {interpreter.version}: {interpreter.binary}")
        stdlib_dir = stdlib_stage(interpreter, spec.python, cache, report)
        site_dir = site_stage(interpreter, spec.python, cache, report, project_dir)
        tree.add_file(f"/usr/bin/python{interpreter.version}", source=interpreter.binary,
                      group="python: interpreter", mode=0o755)
        tree.add_tree(stdlib_dir / "lib", "/usr/lib", "python: stdlib")
        tree.add_tree(site_dir / "lib", "/usr/lib", "python: site-packages")
        inputs["python"] = {"interpreter": str(interpreter.binary), "version": interpreter.version,
                            "sha256": sha256_file(interpreter.binary),
                            "packages": sorted(p for p in spec.python.packages)}

    # overlay
    for item in spec.files:
        if item.src:
            tree.add_file(item.dst, source=spec.resolve(item.src), group="files", mode=item.mode,
                          uid=item.uid, gid=item.gid)
        else:
            tree.add_file(item.dst, data=(item.content or "").encode(), group="files",
                          mode=item.mode if item.mode is not None else 0o644, uid=item.uid, gid=item.gid)
    module_names = [m for m in spec.kernel.modules if m not in kernel.builtin]
    tree.add_file("/init", data=render_init(spec.resolve(spec.init.script).read_text(), name=spec.name,
                                            hostname=spec.hostname, modules=module_names,
                                            agent=spec.init.agent, restart_delay=spec.init.restart_delay),
                  group="init", mode=0o755)
    info = {"name": spec.name, "version": spec.version, "spec_sha256": spec.sha256,
            "kernel": kernel.version, "source_date_epoch": mtime}
    tree.add_file("/etc/zos/image.json", data=json.dumps(info, sort_keys=True, indent=1).encode() + b"\n",
                  group="files")

    add_libraries(tree, cache if spec.strip else None, report)
    prune(tree, spec.prune.paths, spec.prune.globs, report)
    if spec.busybox.applets:
        add_applets(tree, spec.busybox.path, report)
    for device in spec.devices:
        tree.add_device(device.path, device.type, device.major, device.minor, device.mode)
    if check and interpreter is not None and spec.python and spec.python.check:
        check_python(tree, interpreter.version, stdlib_dir, site_dir, spec.python.check, report)

    report("pack: writing newc cpio (sorted, inodes renumbered, uid/gid/mtime normalised)")
    packed = pack(tree, mtime, spec.compression, report)

    # emit
    outdir.mkdir(parents=True, exist_ok=True)
    kernel_out = outdir / "vmlinuz"
    initramfs_out = outdir / f"initramfs.cpio{SUFFIXES[spec.compression]}"
    kernel_bytes = kernel.vmlinuz.read_bytes()
    _write(kernel_out, kernel_bytes)
    _write(initramfs_out, packed.data)
    _write(outdir / "cmdline", (spec.kernel.cmdline + "\n").encode())
    manifest = {
        "image": info,
        "spec": {"path": spec.path.name, "sha256": spec.sha256},
        "inputs": inputs,
        "modules": [plain_name(m) for m in kernel.modules],
        "cmdline": spec.kernel.cmdline,
        "outputs": {"vmlinuz": {"size": len(kernel_bytes), "sha256": sha256_bytes(kernel_bytes)},
                    initramfs_out.name: {"size": len(packed.data), "sha256": sha256_bytes(packed.data)}},
        "totals": {"entries": len(packed.files),
                   "files": sum(1 for f in packed.files if f["type"] == "file"),
                   "file_bytes": sum(f.get("size", 0) for f in packed.files),
                   "cpio_bytes": packed.cpio_size, "compressed_bytes": len(packed.data),
                   "compression": spec.compression, "groups": packed.groups},
        "files": packed.files,
    }
    _write(outdir / "manifest.json", json.dumps(manifest, sort_keys=True, indent=1).encode() + b"\n")
    report(f"done: {kernel_out} ({len(kernel_bytes) / 1e6:.1f} MB), {initramfs_out} "
           f"({len(packed.data) / 1e6:.1f} MB, cpio {packed.cpio_size / 1e6:.1f} MB), manifest.json")
    return BuildResult(outdir, kernel_out, initramfs_out, spec.kernel.cmdline, manifest)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
