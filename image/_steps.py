"""Steps that work on the whole tree: shared libraries (and stripping), pruning, busybox applets."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ._elf import is_elf, needed_libraries, stripped
from ._errors import BuildError
from ._progress import Reporter
from ._python import excluded
from ._tree import Tree


def _elf_nodes(tree: Tree) -> list:
    return [(path, node) for path, node in tree.files()
            if node.kind == "file" and node.source is not None and is_elf(node.source)]


def add_libraries(tree: Tree, strip_cache: Path | None, report: Reporter) -> None:
    """Add what every ELF file needs (host `ldd`); then, with a cache, strip every ELF file."""
    elves = _elf_nodes(tree)
    report(f"libraries: resolving {len(elves)} ELF files with ldd")
    libraries: dict[str, Path] = {}
    for _path, node in elves:
        libraries.update(needed_libraries(node.source))
    for image_path, host_file in sorted(libraries.items()):
        if not tree.exists(image_path):
            tree.add_file(image_path, source=host_file, group="shared libraries", mode=0o755)
    report(f"libraries: {len(libraries)} shared libraries")
    if strip_cache is not None:
        elves = _elf_nodes(tree)
        report(f"strip: {len(elves)} ELF files (strip --strip-debug, cached)")
        for _path, node in elves:
            node.source = stripped(node.source, strip_cache)


def prune(tree: Tree, paths: tuple[str, ...], globs: tuple[str, ...], report: Reporter) -> None:
    removed = 0
    for path in paths:
        removed += tree.remove(path)
    if globs:
        for path in [p for p, node in tree.files() if node.kind != "dir"]:
            if excluded(path.lstrip("/"), globs):
                removed += tree.remove(path)
    if removed:
        report(f"prune: {removed} entries removed")


def add_applets(tree: Tree, busybox: str, report: Reporter) -> None:
    """A link per busybox applet, only where the image has no real tool (upstream rule)."""
    listing = subprocess.run([busybox, "--list-full"], capture_output=True, text=True)
    if listing.returncode != 0:
        raise BuildError(f"{busybox} --list-full failed: {listing.stderr.strip()}")
    added = 0
    for rel in sorted(listing.stdout.split()):
        if rel == "linuxrc" or tree.exists("/" + rel):
            continue
        tree.add_symlink("/" + rel, "/bin/busybox", group="busybox")
        added += 1
    report(f"busybox: {added} applet links")
