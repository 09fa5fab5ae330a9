"""Open files of `filesystem.open/read/write/close` (spec §12.3): fd ids that expire after
5 minutes without use (Q28). Used from builtin threads, hence the lock."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import uuid
from ._errors import FileModeError, UnknownFd

IDLE = 300.0
BLOCK = 512 * 1024

_FLAGS = {
    "r": os.O_RDONLY, "r+": os.O_RDWR,
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "w+": os.O_RDWR | os.O_CREAT | os.O_TRUNC,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND, "a+": os.O_RDWR | os.O_CREAT | os.O_APPEND,
    "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL, "x+": os.O_RDWR | os.O_CREAT | os.O_EXCL,
}


@dataclasses.dataclass
class OpenFile:
    fd: int
    path: str
    mode: str
    used: float

    @property
    def readable(self) -> bool:
        return self.mode.startswith("r") or self.mode.endswith("+")

    @property
    def writable(self) -> bool:
        return not self.mode.startswith("r") or self.mode.endswith("+")


class FileTable:
    def __init__(self, idle: float = IDLE) -> None:
        self.idle = idle
        self._files: dict[str, OpenFile] = {}
        self._lock = threading.Lock()

    def open(self, path: str, mode: str, perm: int = 0o644) -> str:
        flags = _FLAGS.get(mode)
        if flags is None:
            raise FileModeError(f"mode '{mode}' is not one of r, w, a, x with an optional '+'")
        fd = os.open(path, flags | os.O_CLOEXEC, perm)
        key = str(uuid.uuid4())
        with self._lock:
            self._expire()
            self._files[key] = OpenFile(fd, path, mode, time.monotonic())
        return key

    def _get(self, key: str) -> OpenFile:
        with self._lock:
            self._expire()
            file = self._files.get(key)
            if file is None:
                raise UnknownFd(key)
            file.used = time.monotonic()
            return file

    def read(self, key: str, size: int = BLOCK) -> bytes:
        file = self._get(key)
        if not file.readable:
            raise FileModeError(f"fd '{key}' was opened with mode '{file.mode}': it cannot be read")
        return os.read(file.fd, size)

    def write(self, key: str, data: bytes) -> None:
        file = self._get(key)
        if not file.writable:
            raise FileModeError(f"fd '{key}' was opened with mode '{file.mode}': it cannot be written")
        view = memoryview(data)
        while view:
            view = view[os.write(file.fd, view):]

    def close(self, key: str) -> None:
        with self._lock:
            file = self._files.pop(key, None)
        if file is None:
            raise UnknownFd(key)
        os.close(file.fd)

    def close_all(self) -> None:
        with self._lock:
            files, self._files = list(self._files.values()), {}
        for file in files:
            os.close(file.fd)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, f in self._files.items() if now - f.used > self.idle]:
            os.close(self._files.pop(key).fd)
