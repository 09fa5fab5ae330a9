"""The build-time check: the image's interpreter, run through the image's own loader and
libraries (no chroot, no root), imports what the agent needs."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ._errors import BuildError
from ._progress import Reporter
from ._tree import Tree

LIBRARY_DIRS = ("/usr/lib/", "/usr/lib64/")
CODE = ("import importlib, sys\nfor name in sys.argv[1:]:\n"
        "    module, _, func = name.partition(':')\n"
        "    loaded = importlib.import_module(module)\n"
        "    if func: getattr(loaded, func)()\n"
        "print('ok')")


def check_python(tree: Tree, version: str, stdlib_dir: Path | None, site_dir: Path | None,
                 modules: tuple[str, ...], report: Reporter) -> None:
    """Import `modules` with the image's interpreter, loader and libraries (no chroot, no root).
    "module:function" also calls the function (e.g. "zos.cli:build_parser" imports every command)."""
    loader = tree.nodes.get(tree.canonical("/lib64/ld-linux-x86-64.so.2"))
    python = tree.nodes.get(tree.canonical(f"/usr/bin/python{version}"))
    if loader is None or loader.source is None or python is None or python.source is None:
        raise BuildError("check: the image has no /lib64/ld-linux-x86-64.so.2 or python binary")
    report(f"check: importing {', '.join(modules)} with the image's interpreter and libraries")
    with tempfile.TemporaryDirectory(prefix="zos-image-check-") as tmp:
        libdir = Path(tmp)
        for path, node in tree.files():
            if node.kind == "file" and node.source is not None and path.startswith(LIBRARY_DIRS) \
                    and ".so" in path.rsplit("/", 1)[-1] and "/python" not in path:
                link = libdir / path.rsplit("/", 1)[-1]
                if not link.exists():
                    link.symlink_to(node.source)
        env = {"PYTHONHOME": str(stdlib_dir), "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONPATH": str(site_dir / "lib" / f"python{version}" / "site-packages") if site_dir else "",
               "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        result = subprocess.run([str(loader.source), "--library-path", str(libdir), str(python.source),
                                 "-s", "-c", CODE, *modules], capture_output=True, text=True, env=env,
                                timeout=300, cwd=tmp)
        if result.returncode != 0 or result.stdout.strip() != "ok":
            raise BuildError(f"check: the image's interpreter cannot import {', '.join(modules)}:\n"
                             f"{result.stderr.strip()[-3000:]}")
