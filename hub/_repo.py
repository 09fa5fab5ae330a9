"""Repositories on disk (spec §11.1): `<public>/<user>/<name>.flist`, symlinks for links,
`.tag-<tag>/` directories for tags. All blocking; the app calls it from worker threads."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from zos.fs import file_digest

from ._errors import BadRequestError, ConflictError, NotFoundError

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,255}$")


def check_name(value: str, what: str = "name") -> str:
    """A user, flist, tag or link name: `[A-Za-z0-9._-]`, no leading dot, never `..`."""
    if not _NAME.match(value) or value.startswith("."):
        raise BadRequestError(f"{what} '{value}' is not allowed (use [A-Za-z0-9._-], no leading dot)")
    return value


def sanitize(value: str) -> str:
    """An upload's file name -> a safe flist name (spec §11.6 step 1)."""
    base = value.replace("\\", "/").rpartition("/")[2]
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    if not cleaned:
        raise BadRequestError(f"file name '{value}' leaves nothing after sanitising")
    return cleaned


def flist_name(value: str) -> str:
    return value if value.endswith(".flist") else value + ".flist"


def _shown_target(target: str) -> str:
    return target.replace("../", "").replace(".tag-", "tags/")


class Repositories:
    def __init__(self, public_dir: Path, work_dir: Path) -> None:
        self.root = public_dir
        self.work = work_dir
        self.root.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)

    # -- paths ------------------------------------------------------------------------------
    def user_dir(self, user: str, create: bool = False) -> Path:
        path = self.root / check_name(user, "user")
        if create:
            path.mkdir(exist_ok=True)
        elif not path.is_dir():
            raise NotFoundError(f"user '{user}' not found")
        return path

    def path(self, user: str, name: str, must_exist: bool = True) -> Path:
        path = self.user_dir(user) / check_name(name, "flist")
        if must_exist and not path.exists():  # exists() follows links: a dangling link is absent
            raise NotFoundError(f"flist '{user}/{name}' not found")
        return path

    def resolve(self, user: str, name: str) -> Path:
        """The real file behind `user/name` (links followed, never outside the public dir)."""
        path = self.path(user, name).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise NotFoundError(f"flist '{user}/{name}' points outside the hub")
        return path

    def temp_file(self, suffix: str = "") -> Path:
        fd, name = tempfile.mkstemp(dir=self.work, suffix=suffix)
        os.close(fd)
        return Path(name)

    def install(self, temp: Path, user: str, name: str) -> Path:
        """Atomically put a finished file in place (replacing a regular file or a link)."""
        dest = self.user_dir(user, create=True) / check_name(name, "flist")
        if dest.is_dir() and not dest.is_symlink():
            raise ConflictError(f"'{user}/{name}' is a directory")
        os.chmod(temp, 0o644)
        os.replace(temp, dest)
        return dest

    # -- listings ---------------------------------------------------------------------------
    def users(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def all_flists(self) -> list[str]:
        out = []
        for user in self.users():
            for entry in sorted(self.user_dir(user).iterdir()):
                if entry.name.endswith(".flist") and entry.exists():
                    out.append(f"{user}/{entry.name}")
        return sorted(out)

    def repositories(self, official: list[str]) -> list[dict[str, Any]]:
        out = []
        for user in self.users():
            updated = int(max((e.lstat().st_mtime for e in self.user_dir(user).iterdir()), default=0))
            out.append({"name": user, "official": user in official, "updated": updated})
        return out

    def _entry(self, entry: Path) -> dict[str, Any] | None:
        lst = entry.lstat()
        if entry.is_symlink():
            target = os.readlink(entry)
            info: dict[str, Any] = {"name": entry.name, "target": _shown_target(target),
                                    "linktime": int(lst.st_mtime)}
            if entry.name.endswith(".flist"):
                if not entry.exists():
                    return None
                st = entry.stat()
                info.update(size=f"{st.st_size / 1024:.2f} KB", updated=int(st.st_mtime), type="symlink")
            else:
                info.update(size="0 KB", updated=int(lst.st_mtime), type="taglink")
            return info
        if entry.is_dir() and entry.name.startswith(".tag-"):
            return {"name": entry.name[len(".tag-"):], "size": "0 KB", "updated": int(lst.st_mtime), "type": "tag"}
        if entry.is_file() and entry.name.endswith(".flist"):
            return {"name": entry.name, "size": f"{lst.st_size / 1024:.2f} KB", "updated": int(lst.st_mtime),
                    "type": "regular"}
        return None

    def listing(self, user: str) -> list[dict[str, Any]]:
        out = []
        for entry in sorted(self.user_dir(user).iterdir()):
            info = self._entry(entry)
            if info is not None:
                out.append(info)
        return out

    def tag_listing(self, user: str, tag: str) -> list[dict[str, Any]]:
        folder = self.user_dir(user) / (".tag-" + check_name(tag, "tag"))
        if not folder.is_dir():
            raise NotFoundError(f"tag '{user}/{tag}' not found")
        return [info for entry in sorted(folder.iterdir()) if (info := self._entry(entry)) is not None]

    def info(self, user: str, name: str) -> dict[str, Any]:
        path = self.path(user, name)
        real = self.resolve(user, name)
        st = real.stat()
        out: dict[str, Any] = {"name": name, "size": st.st_size, "updated": int(st.st_mtime),
                               "type": "symlink" if path.is_symlink() else "regular", "md5": file_digest(real, "md5")}
        if path.is_symlink():
            out.update(target=_shown_target(os.readlink(path)), linktime=int(path.lstat().st_mtime))
        return out

    # -- changes ----------------------------------------------------------------------------
    def delete(self, user: str, name: str) -> str:
        path = self.user_dir(user) / check_name(name, "flist")
        if path.is_symlink():
            path.unlink()
            return "taglink" if not name.endswith(".flist") else "symlink"
        if path.is_file():
            path.unlink()
            return "regular"
        raise NotFoundError(f"flist '{user}/{name}' not found")

    def _link(self, link: Path, target: str) -> None:
        if link.exists() and not link.is_symlink():
            raise ConflictError(f"'{link.parent.name}/{link.name}' is a regular flist, not a link")
        temp = link.with_name(f".{link.name}.{os.getpid()}.link")
        temp.unlink(missing_ok=True)
        os.symlink(target, temp)
        os.replace(temp, link)

    def symlink(self, user: str, source: str, linkname: str) -> None:
        self.path(user, source)
        self._link(self.user_dir(user) / check_name(linkname, "link"), source)

    def crosslink(self, user: str, linkname: str, repo: str, source: str) -> None:
        self.path(repo, source)
        self._link(self.user_dir(user, create=True) / check_name(linkname, "link"), f"../{repo}/{source}")

    def rename(self, user: str, source: str, dest: str) -> None:
        path = self.user_dir(user) / check_name(source, "flist")
        if not path.exists() and not path.is_symlink():
            raise NotFoundError(f"flist '{user}/{source}' not found")
        os.replace(path, self.user_dir(user) / check_name(dest, "flist"))

    def promote(self, user: str, repo: str, source: str, localname: str) -> Path:
        real = self.resolve(repo, source)
        temp = self.temp_file(".flist")
        shutil.copyfile(real, temp)
        return self.install(temp, user, localname)

    def tag(self, user: str, tag: str, name: str, repo: str, source: str) -> None:
        self.path(repo, source)
        folder = self.user_dir(user, create=True) / (".tag-" + check_name(tag, "tag"))
        folder.mkdir(exist_ok=True)
        self._link(folder / check_name(name, "name"), f"../../{repo}/{source}")

    def untag(self, user: str, tag: str, name: str) -> None:
        folder = self.user_dir(user) / (".tag-" + check_name(tag, "tag"))
        link = folder / check_name(name, "name")
        if not link.is_symlink():
            raise NotFoundError(f"tag member '{user}/{tag}/{name}' not found")
        link.unlink()
        if not any(folder.iterdir()):
            folder.rmdir()

    def crosstag(self, user: str, name: str, repo: str, tag: str) -> None:
        if name.endswith(".flist"):
            raise BadRequestError(f"taglink name '{name}' must not end in .flist")
        if (self.user_dir(user, create=True) / (name + ".flist")).exists():
            raise ConflictError(f"taglink '{name}' clashes with '{name}.flist'")
        if not (self.user_dir(repo) / (".tag-" + check_name(tag, "tag"))).is_dir():
            raise NotFoundError(f"tag '{repo}/{tag}' not found")
        self._link(self.user_dir(user) / check_name(name, "name"), f"../{repo}/.tag-{tag}")

    def taglink_target(self, user: str, name: str) -> str:
        path = self.user_dir(user) / check_name(name, "name")
        if not path.is_symlink():
            raise NotFoundError(f"taglink '{user}/{name}' not found")
        return _shown_target(os.readlink(path))

    def tag_file(self, user: str, tag: str, name: str) -> Path:
        folder = self.user_dir(user) / (".tag-" + check_name(tag, "tag"))
        path = folder / check_name(flist_name(name), "name")
        if not path.exists():  # members are often named without the .flist suffix
            path = folder / check_name(name.removesuffix(".flist"), "name")
        if not path.exists():
            raise NotFoundError(f"'{user}/tags/{tag}/{name}' not found")
        real = path.resolve()
        if not real.is_relative_to(self.root.resolve()):
            raise NotFoundError(f"'{user}/tags/{tag}/{name}' points outside the hub")
        return real
