"""A bounded byte pipe: the event loop writes request chunks, a worker thread reads a tar
stream from it. Bounded so a slow conversion slows the upload instead of filling memory."""

from __future__ import annotations

import io
import queue


class PipeAborted(Exception):
    """The writer gave up (client disconnected, upload too large)."""


class Pipe(io.RawIOBase):
    def __init__(self, depth: int = 64) -> None:
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(depth)
        self._buffer = b""
        self._eof = False
        self.received = 0

    # writer side (called from threads: put() blocks when the reader lags)
    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._queue.put(bytes(data))
        return len(data)

    def finish(self) -> None:
        self._queue.put(None)

    def abort(self, exc: BaseException) -> None:
        try:
            self._queue.put(exc, timeout=5)
        except queue.Full:  # the reader is gone or stuck; make room then signal
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._queue.put_nowait(exc)

    # reader side
    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer and not self._eof:
            item = self._queue.get()
            if item is None:
                self._eof = True
            elif isinstance(item, BaseException):
                raise PipeAborted(f"upload aborted: {item}") from item
            else:
                self._buffer = item
        count = min(len(target), len(self._buffer))
        target[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        self.received += count
        return count
