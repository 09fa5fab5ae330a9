"""One run of an OS process for a job: spawn in its own process group, read both pipes through
the line protocol, enforce `max_time` (spec core0-protocol §7, §8).

Memory stays bounded whatever the process prints: pipes are read in chunks, lines are cut at
32 KiB, and each message is handed to `on_message` (awaited: a slow consumer slows the reader,
and the kernel pipe then slows the process) instead of being kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import signal
from collections.abc import Awaitable, Callable

from ._messages import STDERR, STDOUT, LineParser, Message, split_lines
from ._errors import SpawnError

log = logging.getLogger("zos.node.process")

CHUNK = 64 * 1024
DRAIN_GRACE = 2.0  # s without progress after exit before giving up on pipes held by grandchildren

OnMessage = Callable[[Message], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class ProcessSpec:
    """A process a builtin asks the job to run. `on_exit(returncode)` runs (in a worker
    thread) once the process ended and before the job's result is recorded: the place for a
    builtin to `ctx.emit` what the process changed (a table parted, a filesystem mounted)."""

    argv: list[str]
    cwd: str = "/"
    env: dict[str, str] | None = None
    stdin: bytes = b""
    on_exit: Callable[[int], None] | None = dataclasses.field(default=None, compare=False)


@dataclasses.dataclass
class ProcessRun:
    """A running process; `signal()` reaches its whole process group."""

    pid: int = 0
    returncode: int | None = None
    timed_out: bool = False

    def signal(self, signum: int) -> None:
        if self.pid and self.returncode is None:
            try:
                os.killpg(self.pid, signum)
            except ProcessLookupError:
                pass


def _resolve(spec: ProcessSpec) -> tuple[str, dict[str, str]]:
    """The executable to run (PATH lookup as Go's exec.LookPath) and the environment."""
    env = dict(os.environ)
    if spec.env:
        env.update({str(k): str(v) for k, v in spec.env.items()})
    name = spec.argv[0] if spec.argv else ""
    if not name:
        raise SpawnError('exec: "": executable file not found in $PATH')
    if "/" not in name:
        found = shutil.which(name, path=env.get("PATH", os.defpath))
        if found is None:
            raise SpawnError(f'exec: "{name}": executable file not found in $PATH')
        name = found
    if not os.path.isdir(spec.cwd or "/"):
        raise SpawnError(f"chdir {spec.cwd}: no such file or directory")
    return name, env


async def run_process(spec: ProcessSpec, run: ProcessRun, on_message: OnMessage,
                      max_time: float = 0, on_spawn: Callable[[int], Awaitable[None]] | None = None,
                      ) -> ProcessRun:
    """Run to completion; fills `run.returncode` (negative = signal) and `run.timed_out`.

    Raises `SpawnError` when nothing could be started. Cancelling kills the process group.
    """
    try:
        executable, env = _resolve(spec)
    except ValueError as exc:  # a NUL byte in a name, path or variable
        raise SpawnError(f"exec: {exc}") from exc
    try:
        # argv[0] stays the name asked for (as 0-core's exec.Command), the path is resolved here.
        proc = await asyncio.create_subprocess_exec(
            *spec.argv, executable=executable, cwd=spec.cwd or "/", env=env, start_new_session=True,
            stdin=asyncio.subprocess.PIPE if spec.stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=CHUNK)
    except OSError as exc:
        raise SpawnError(f"fork/exec {executable}: {(exc.strerror or str(exc)).lower()}") from exc
    except ValueError as exc:
        raise SpawnError(f"fork/exec {executable}: {exc}") from exc
    run.pid = proc.pid
    progress = [0, 0]  # [chunks and messages handled, readers inside on_message now]

    async def read(stream: asyncio.StreamReader, level: int) -> None:
        parser = LineParser(level)
        buffer = bytearray()
        while True:
            chunk = await stream.read(CHUNK)
            progress[0] += 1
            buffer += chunk
            for line in split_lines(buffer, final=not chunk):
                message = parser.feed(line)
                if message is not None:
                    progress[1] += 1
                    try:
                        await on_message(message)
                    finally:
                        progress[1] -= 1
                    progress[0] += 1
            if not chunk:
                break
        tail = parser.flush()
        if tail is not None:
            await on_message(tail)

    async def feed_stdin() -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(spec.stdin)
            await proc.stdin.drain()
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the process did not want its input: not an error of the job

    readers = [asyncio.ensure_future(read(proc.stdout, STDOUT)),
               asyncio.ensure_future(read(proc.stderr, STDERR))]
    writer = asyncio.ensure_future(feed_stdin()) if spec.stdin else None
    try:
        if on_spawn is not None:
            await on_spawn(proc.pid)
        try:
            async with asyncio.timeout(max_time if max_time and max_time > 0 else None):
                await proc.wait()
        except TimeoutError:
            run.timed_out = True
            run.signal(signal.SIGKILL)
            await proc.wait()
        await _drain(readers, progress)
    except BaseException:
        run.signal(signal.SIGKILL)
        for task in readers:
            task.cancel()
        raise
    finally:
        if writer is not None:
            writer.cancel()
        run.returncode = proc.returncode
    return run


async def _drain(readers: list[asyncio.Future], progress: list[int]) -> None:
    """Read what is left in the pipes; stop when they stay silent (a grandchild holds them).

    A reader waiting on `on_message` (a slow bus publish) is busy, not silent: cutting it would
    lose output that was already read.
    """
    while True:
        seen = progress[0]
        done, pending = await asyncio.wait(readers, timeout=DRAIN_GRACE)
        for task in done:
            task.result()  # a failing on_message surfaces here
        if not pending:
            return
        if progress[0] == seen and progress[1] == 0:
            log.info("pipes still open %s s after exit (background children); output cut", DRAIN_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            return
