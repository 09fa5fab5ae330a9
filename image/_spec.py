"""The image spec: one TOML file read strictly (an unknown key is an error naming the key).

Paths in the spec are relative to the spec file's folder. The default spec ships as
`zos/image/node.toml` (`default_spec_path()`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tomllib
from pathlib import Path
from typing import Any

from ._errors import MissingInputError, SpecError

COMPRESSIONS = ("gzip", "xz", "none")
COMPILE_MODES = ("unchecked-hash", "checked-hash", "timestamp")


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    version: str = "auto"           # a folder of /lib/modules, or "auto" (the newest with a vmlinuz)
    vmlinuz: str = ""               # default /boot/vmlinuz-<version>
    modules_dir: str = "/lib/modules"
    modules: tuple[str, ...] = ()   # module names; their dependencies are added from modules.dep
    cmdline: str = ""


@dataclasses.dataclass(frozen=True)
class BusyboxSpec:
    path: str = "/bin/busybox"      # must be static: the image has no loader for it otherwise
    applets: bool = True            # a symlink per applet, except where the image has a real tool


@dataclasses.dataclass(frozen=True)
class PythonSpec:
    interpreter: str = "auto"       # "auto" = sys.base_prefix of the builder; or a python3.X path
    packages: tuple[str, ...] = ()  # distributions of the builder's environment (+ their requirements)
    project: bool = True            # build this project's wheel and install it
    compile: str = "unchecked-hash"
    keep_source: bool = False
    exclude: tuple[str, ...] = ()   # stdlib paths (relative to lib/python3.X) left out; globs allowed
    check: tuple[str, ...] = ()     # modules the image's interpreter must import (build-time check)


@dataclasses.dataclass(frozen=True)
class InitSpec:
    script: str = "init.sh"
    agent: tuple[str, ...] = ("python3", "-m", "zos", "node", "run")
    restart_delay: int = 2


@dataclasses.dataclass(frozen=True)
class FileSpec:
    dst: str
    src: str = ""
    content: str | None = None
    mode: int | None = None
    uid: int = 0
    gid: int = 0


@dataclasses.dataclass(frozen=True)
class DeviceSpec:
    path: str
    type: str
    major: int
    minor: int
    mode: int = 0o600


@dataclasses.dataclass(frozen=True)
class PruneSpec:
    paths: tuple[str, ...] = ()
    globs: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    path: Path                      # the spec file
    sha256: str                     # of the spec file's bytes
    name: str = "zos-node"
    version: str = "0"
    hostname: str = "zos"
    compression: str = "gzip"
    source_date_epoch: int = 0
    strip: bool = True              # `strip --strip-debug` every ELF file (cached by content hash)
    dirs: tuple[str, ...] = ()
    symlinks: tuple[tuple[str, str], ...] = ()
    kernel: KernelSpec = KernelSpec()
    busybox: BusyboxSpec = BusyboxSpec()
    python: PythonSpec | None = None
    init: InitSpec = InitSpec()
    files: tuple[FileSpec, ...] = ()
    devices: tuple[DeviceSpec, ...] = ()
    prune: PruneSpec = PruneSpec()

    def resolve(self, relative: str) -> Path:
        """A path of the spec, relative to the spec's folder."""
        return (self.path.parent / os.path.expanduser(relative)).resolve()


def default_spec_path() -> Path:
    return Path(__file__).resolve().parent / "node.toml"


# Converters: each takes (where, value) and returns the value checked; `where` names the key in errors.
def _str(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SpecError(f"'{where}' has value {value!r}. Expected a string.")
    return value


def _int(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"'{where}' has value {value!r}. Expected an integer.")
    return value


def _bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"'{where}' has value {value!r}. Expected true or false.")
    return value


def _strs(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SpecError(f"'{where}' has value {value!r}. Expected a list of strings.")
    return tuple(value)


def _mode(where: str, value: Any) -> int:
    """Modes are strings of octal digits ("0644") so that TOML does not read them as decimal."""
    if not isinstance(value, str) or not value or any(c not in "01234567" for c in value) or len(value) > 5:
        raise SpecError(f"'{where}' has value {value!r}. Expected an octal string like \"0644\".")
    return int(value, 8)


def _image_path(where: str, value: Any) -> str:
    path = _str(where, value)
    if not path.startswith("/") or "\0" in path or any(p in ("..", ".") for p in path.split("/")[1:]):
        raise SpecError(f"'{where}' has value {path!r}. Expected an absolute path inside the image "
                        "without '.' or '..'.")
    return path


def _table(where: str, raw: Any, fields: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SpecError(f"'{where}' must be a table, got {type(raw).__name__}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise SpecError(f"unknown key '{where}.{key}' (known keys of [{where}]: {known})")
        out[key] = fields[key](f"{where}.{key}", value)
    return out


def _choice(choices: tuple[str, ...]):
    def convert(where: str, value: Any) -> str:
        if value not in choices:
            raise SpecError(f"'{where}' has value {value!r}. Expected one of {', '.join(choices)}.")
        return value
    return convert


def _symlinks(where: str, value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise SpecError(f"'{where}' must be a table of link = target")
    return tuple(sorted((_image_path(f"{where}.{k}", k), _str(f"{where}.{k}", v)) for k, v in value.items()))


_IMAGE = {"name": _str, "version": _str, "hostname": _str, "compression": _choice(COMPRESSIONS),
          "source_date_epoch": _int, "strip": _bool, "dirs": _strs, "symlinks": _symlinks}
_KERNEL = {"version": _str, "vmlinuz": _str, "modules_dir": _str, "modules": _strs, "cmdline": _str}
_BUSYBOX = {"path": _str, "applets": _bool}
_PYTHON = {"interpreter": _str, "packages": _strs, "project": _bool, "compile": _choice(COMPILE_MODES),
           "keep_source": _bool, "exclude": _strs, "check": _strs}
_INIT = {"script": _str, "agent": _strs, "restart_delay": _int}
_FILE = {"src": _str, "dst": _image_path, "content": _str, "mode": _mode, "uid": _int, "gid": _int}
_DEVICE = {"path": _image_path, "type": _choice(("c", "b")), "major": _int, "minor": _int, "mode": _mode}
_PRUNE = {"paths": _strs, "globs": _strs}
_TOP = ("image", "kernel", "busybox", "python", "init", "files", "devices", "prune")


def _array(where: str, raw: Any, fields: dict[str, Any], required: tuple[str, ...]) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise SpecError(f"'{where}' must be an array of tables ([[{where}]])")
    items = []
    for index, item in enumerate(raw):
        here = f"{where}[{index}]"
        values = _table(here, item, fields)
        for key in required:
            if key not in values:
                raise SpecError(f"'{here}' is missing the key '{key}'")
        items.append(values)
    return items


def parse_spec(text: str, path: Path) -> ImageSpec:
    """Parse spec text (strict); `path` is where relative paths start from."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    return spec_from_dict(raw, path, hashlib.sha256(text.encode()).hexdigest())


def spec_from_dict(raw: dict[str, Any], path: Path, sha256: str) -> ImageSpec:
    """Check a parsed spec (the tables of the TOML file) and make it an ImageSpec."""
    for key in raw:
        if key not in _TOP:
            raise SpecError(f"unknown key '{key}' (known top-level tables: {', '.join(_TOP)})")
    image = _table("image", raw.get("image", {}), _IMAGE)
    if "source_date_epoch" not in image:
        env = os.environ.get("SOURCE_DATE_EPOCH", "0")
        if not env.isdigit():
            raise SpecError(f"SOURCE_DATE_EPOCH has value {env!r}. Expected an integer.")
        image["source_date_epoch"] = int(env)
    for directory in image.get("dirs", ()):
        _image_path("image.dirs", directory)
    files = []
    for item in _array("files", raw.get("files", []), _FILE, ("dst",)):
        if ("src" in item) == ("content" in item):
            raise SpecError(f"'files' entry for {item['dst']} needs exactly one of 'src' or 'content'")
        files.append(FileSpec(**item))
    devices = tuple(DeviceSpec(**item) for item in
                    _array("devices", raw.get("devices", []), _DEVICE, ("path", "type", "major", "minor")))
    python = PythonSpec(**_table("python", raw["python"], _PYTHON)) if "python" in raw else None
    return ImageSpec(
        path=path, sha256=sha256, **image,
        kernel=KernelSpec(**_table("kernel", raw.get("kernel", {}), _KERNEL)),
        busybox=BusyboxSpec(**_table("busybox", raw.get("busybox", {}), _BUSYBOX)),
        python=python,
        init=InitSpec(**_table("init", raw.get("init", {}), _INIT)),
        files=tuple(files), devices=devices,
        prune=PruneSpec(**_table("prune", raw.get("prune", {}), _PRUNE)))


def load_spec(path: str | os.PathLike[str] | None = None) -> ImageSpec:
    """Read and check a spec; without a path, the default node image spec."""
    spec_path = Path(path).resolve() if path else default_spec_path()
    if not spec_path.is_file():
        raise MissingInputError("spec file", str(spec_path))
    return parse_spec(spec_path.read_text(), spec_path)
