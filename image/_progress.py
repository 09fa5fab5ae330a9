"""Progress lines on stderr: long builds say what they are doing."""

from __future__ import annotations

import sys
import time
from typing import TextIO
from collections.abc import Callable

Reporter = Callable[[str], None]


def stderr_reporter(stream: TextIO | None = None) -> Reporter:
    start = time.monotonic()

    def report(message: str) -> None:
        out = stream or sys.stderr
        print(f"[{time.monotonic() - start:6.1f}s] {message}", file=out, flush=True)
    return report


def quiet(message: str) -> None:
    """A reporter that says nothing (library use, tests)."""
