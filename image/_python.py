"""The Python runtime of the image: interpreter, pruned byte-compiled stdlib, site-packages.

Two cached stages, each a folder under the cache named by a hash of its inputs:
  stdlib-<key>/   lib/pythonX.Y/... (.pyc in place of .py, "sourceless" imports) + lib-dynload
  site-<key>/     lib/pythonX.Y/site-packages/... (distributions of the builder's environment
                  with their requirements, and the project's wheel)
.pyc files are compiled by the image's interpreter with `unchecked-hash` invalidation (PEP 552),
so they hold no mtimes and are never revalidated against a source the image does not have.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ._digest import sha256_file
from ._errors import BuildError, MissingInputError, SpecError
from ._progress import Reporter
from ._spec import PythonSpec

STAGE_VERSION = "1"       # bump when the stage layout changes, to miss old caches
KEEP_PER_STAGE = 3        # cached versions kept per stage (stdlib, site, wheel)
WORKER = Path(__file__).with_name("_compile_worker.py")
REPO = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Interpreter:
    binary: Path          # the real file (symlinks resolved)
    version: str          # "3.11"
    stdlib: Path          # .../lib/python3.11
    dynload: Path         # .../lib/python3.11/lib-dynload

    @property
    def lib_name(self) -> str:
        return f"python{self.version}"


def find_interpreter(spec: PythonSpec) -> Interpreter:
    if spec.interpreter == "auto":
        binary = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    else:
        binary = Path(spec.interpreter)
    if not binary.exists():
        raise MissingInputError("python interpreter", str(binary))
    binary = binary.resolve()
    probe = ("import sys, sysconfig, json; print(json.dumps([f'{sys.version_info[0]}.{sys.version_info[1]}',"
             " sysconfig.get_path('stdlib'), sysconfig.get_path('platstdlib')]))")
    try:
        out = subprocess.run([str(binary), "-I", "-S", "-c", probe], capture_output=True, text=True,
                             check=True, timeout=60).stdout
    except (subprocess.CalledProcessError, OSError) as exc:
        raise BuildError(f"cannot run the interpreter {binary}: {exc}") from None
    version, stdlib, platstdlib = json.loads(out)
    dynload = Path(platstdlib) / "lib-dynload"
    if not dynload.is_dir():
        raise MissingInputError("python lib-dynload", str(dynload))
    return Interpreter(binary, version, Path(stdlib), dynload)


def excluded(rel: str, patterns: tuple[str, ...]) -> bool:
    """True if `rel` or one of its parent folders matches a pattern (`**/name` matches any depth)."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            return True
    return False


def _fingerprint(files: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for rel, path in files:
        st = path.stat()
        digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _stage_files(files: list[tuple[str, Path]], interpreter: Interpreter, spec: PythonSpec,
                 out: Path, image_prefix: str, report: Reporter) -> None:
    """Copy `files` (rel, source) under `out`; .py files become .pyc next to where the .py was."""
    jobs = []
    for rel, source in files:
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".py"):
            jobs.append([str(source), str(dest) + "c", f"{image_prefix}/{rel}"])
            if spec.keep_source:
                shutil.copyfile(source, dest)
        else:
            shutil.copyfile(source, dest)
            if source.stat().st_mode & 0o111:
                dest.chmod(0o755)
    report(f"python: compiling {len(jobs)} modules ({spec.compile})")
    result = subprocess.run([str(interpreter.binary), "-I", "-S", str(WORKER), spec.compile],
                            input=json.dumps(jobs), capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"byte-compiling failed: {result.stderr.strip()[-2000:]}")
    failed = json.loads(result.stdout.strip().splitlines()[-1])["failed"]
    if failed:
        report(f"python: {failed} files did not compile (left out): "
               + "; ".join(result.stderr.strip().splitlines()[:5]))


def _cached(cache: Path, name: str, key: str, build, report: Reporter) -> Path:
    """`cache/<name>-<key>`: built once by `build(tmp_folder)`, then reused."""
    final = cache / f"{name}-{key[:16]}"
    if final.is_dir():
        report(f"{name}: cached ({final})")
        return final
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache))
    try:
        build(tmp)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # Every edit of the project makes a new wheel and site stage: keep the few newest of each.
    older = sorted((p for p in cache.glob(f"{name}-*") if p.is_dir() and p != final),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in older[KEEP_PER_STAGE - 1:]:
        shutil.rmtree(stale, ignore_errors=True)
    return final


def stdlib_stage(interpreter: Interpreter, spec: PythonSpec, cache: Path, report: Reporter) -> Path:
    """Folder holding lib/pythonX.Y (pruned, compiled) for the image's /usr."""
    files: list[tuple[str, Path]] = []
    for root, dirs, names in os.walk(interpreter.stdlib):
        here = Path(root).relative_to(interpreter.stdlib).as_posix()
        dirs[:] = sorted(d for d in dirs if not excluded(d if here == "." else f"{here}/{d}", spec.exclude))
        for name in sorted(names):
            path = Path(root, name)
            rel = path.relative_to(interpreter.stdlib).as_posix()
            if name.endswith((".pyc", ".pyo")) or excluded(rel, spec.exclude) or path.is_symlink():
                continue
            files.append((f"lib/{interpreter.lib_name}/{rel}", path))
    key = hashlib.sha256(json.dumps([STAGE_VERSION, sha256_file(interpreter.binary), _fingerprint(files),
                                     spec.compile, spec.keep_source]).encode()).hexdigest()
    report(f"python: stdlib {interpreter.stdlib} ({len(files)} files after pruning)")
    return _cached(cache, "stdlib", key,
                   lambda out: _stage_files(files, interpreter, spec, out, "/usr", report), report)


def _distribution_closure(names: tuple[str, ...]) -> list[importlib.metadata.Distribution]:
    # Imported here: the builder needs `packaging`, the image (which holds zos.image) does not.
    from packaging.requirements import Requirement

    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop(0)
        key = name.lower().replace("_", "-").replace(".", "-")
        if key in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise SpecError(f"'python.packages' names '{name}', which is not installed in the builder's "
                            f"environment ({sys.prefix})") from None
        seen[key] = dist
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return [seen[k] for k in sorted(seen)]


def _distribution_files(dist: importlib.metadata.Distribution) -> list[tuple[str, Path]]:
    base = Path(dist.locate_file("")).resolve()
    files = []
    for item in dist.files or []:
        rel = item.as_posix()
        if rel.startswith("..") or "__pycache__" in rel or rel.endswith((".pyc", ".pyo")):
            continue
        path = base / rel
        if path.is_file():
            files.append((rel, path))
    return files


def project_wheel(cache: Path, report: Reporter, project_dir: Path | None = None) -> Path:
    """This project's wheel, built by pip from a copy of the source (the checkout stays clean).
    `project_dir`: another copy of the project (default: the one this module comes from)."""
    root = Path(project_dir) if project_dir else REPO
    sources: list[tuple[str, Path]] = []
    for name in ("pyproject.toml", "setup.py", "README.md"):
        if not (root / name).is_file():
            raise MissingInputError("project file", str(root / name))
        sources.append((name, root / name))
    # The part folders are the top-level folders with an __init__.py (setup.py maps them).
    folders = sorted(p.name for p in root.iterdir() if (p / "__init__.py").is_file()
                     and p.name not in ("tests", "bench"))
    for folder in folders:
        for here, dirs, names in os.walk(root / folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(names):
                if not name.endswith((".pyc", ".pyo")):
                    path = Path(here, name)
                    sources.append((path.relative_to(root).as_posix(), path))
    digest = hashlib.sha256(STAGE_VERSION.encode())
    for rel, path in sources:
        digest.update(rel.encode() + b"\0" + sha256_file(path).encode())
    key = digest.hexdigest()

    def build(out: Path) -> None:
        src = out / "src"
        for rel, path in sources:
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, src / rel)
        report("python: building the project's wheel (pip wheel --no-deps)")
        env = {**os.environ, "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", "315532800")}
        result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                                 "--wheel-dir", str(out), str(src)], capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise BuildError(f"pip wheel failed: {(result.stdout + result.stderr).strip()[-2000:]}")
        shutil.rmtree(src)
    folder = _cached(cache, "wheel", key, build, report)
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one wheel in {folder}, found {len(wheels)}")
    return wheels[0]


def site_stage(interpreter: Interpreter, spec: PythonSpec, cache: Path, report: Reporter,
               project_dir: Path | None = None) -> Path:
    """Folder holding lib/pythonX.Y/site-packages for the image's /usr."""
    site = f"lib/{interpreter.lib_name}/site-packages"
    dists = _distribution_closure(spec.packages)
    files: list[tuple[str, Path]] = []
    for dist in dists:
        files.extend((f"{site}/{rel}", path) for rel, path in _distribution_files(dist))
    wheel = project_wheel(cache, report, project_dir) if spec.project else None
    names = ", ".join(f"{d.metadata['Name']} {d.version}" for d in dists)
    report(f"python: packages {names}" + (f" + {wheel.name}" if wheel else ""))
    key = hashlib.sha256(json.dumps([STAGE_VERSION, interpreter.version, _fingerprint(files),
                                     sha256_file(wheel) if wheel else "", spec.compile,
                                     spec.keep_source]).encode()).hexdigest()

    def build(out: Path) -> None:
        all_files = list(files)
        if wheel is not None:
            unpacked = out / ".wheel"
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(unpacked)
            for root, dirs, names in os.walk(unpacked):
                dirs.sort()
                for name in sorted(names):
                    path = Path(root, name)
                    all_files.append((f"{site}/{path.relative_to(unpacked).as_posix()}", path))
        _stage_files(sorted(all_files), interpreter, spec, out, "/usr", report)
        shutil.rmtree(out / ".wheel", ignore_errors=True)
    return _cached(cache, "site", key, build, report)
