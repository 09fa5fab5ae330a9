"""The process manager: the job table, named queues, restarts, recurrence, kill (spec §7).

A job is one accepted command. Its lifecycle (one or more runs) ends in exactly one result,
handed to the sink; each message of each run goes to the sink as it is produced. The
manager knows nothing about the bus: the agent is the sink.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import signal
import time
from typing import Any, Protocol
from collections.abc import Awaitable, Callable

from zos.events import Command, Event, JobResult

from ._messages import EXIT_ERROR, EXIT_SUCCESS, RESULT_JSON, Message
from ._process import ProcessRun, ProcessSpec, SpawnError, run_process
from ._result import (CODE_SIGNAL, KILLED, SUCCESS, TIMEOUT, Capture, builtin_error,
                      builtin_result, process_outcome, spawn_failure)
from .builtins import Builtin, BuiltinError, Context

log = logging.getLogger("zos.node.jobs")

BACKLOG = 10
RESTART_DELAY = 1.0
RESPAWN_MIN, RESPAWN_MAX = 0.5, 8.0  # protected services: exponential backoff, not a 1 s storm (Q23)
STABLE_RUN = 10.0                    # a protected run this long resets the backoff


class JobSink(Protocol):
    async def started(self, job: Job, attempt: int) -> None: ...
    async def spawned(self, job: Job, pid: int) -> None: ...
    async def message(self, job: Job, message: Message) -> None: ...
    async def changed(self, job: Job, events: list[Event]) -> None: ...
    async def finished(self, job: Job, result: JobResult) -> None: ...


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclasses.dataclass(eq=False)
class Job:
    """One live job: what to run, its runs so far, and who listens to its messages."""

    cmd: Command
    target: Builtin
    protected: bool = False
    internal: bool = False
    cause: Event | None = None         # the command event, for causation of job events
    accepted: Event | None = None      # its job.accepted, for causation of domain events
    starttime: int = 0                 # ms, start of the current (last) run
    attempt: int = 0
    process: ProcessRun | None = None
    kill_signal: int | None = None
    stopping: bool = False
    backlog: collections.deque = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=BACKLOG))
    subscribers: list[asyncio.Queue] = dataclasses.field(default_factory=list)
    result: JobResult | None = None
    _interrupt: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    @property
    def id(self) -> str:
        return self.cmd.id

    def kill(self, signum: int = signal.SIGTERM) -> None:
        """Signal the running process group, or end the wait between runs (KILLED)."""
        self.kill_signal = signum
        if self.process is not None and self.process.returncode is None:
            self.process.signal(signum)
        if not self.protected:
            self._interrupt.set()

    def stop(self) -> None:
        """Agent shutdown: end this job whatever it is, protected or not."""
        self.stopping = True
        self.protected = False
        self.kill(signal.SIGTERM)

    async def wait_unless_killed(self, awaitable: Awaitable[Any]) -> tuple[bool, Any]:
        """(True, value) when `awaitable` finished first, (False, None) when a kill came."""
        work = asyncio.ensure_future(awaitable)
        interrupted = asyncio.ensure_future(self._interrupt.wait())
        try:
            await asyncio.wait({work, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # max_time or shutdown: the work goes with us
            work.cancel()
            raise
        finally:
            interrupted.cancel()
        if work.done():
            return True, work.result()
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        return False, None

    async def sleep(self, seconds: float) -> bool:
        """Wait between runs; False when killed meanwhile."""
        finished, _ = await self.wait_unless_killed(asyncio.sleep(seconds))
        return finished


class JobManager:
    """The job table and the scheduler: `add()` a job, then run `lifecycle(job)` as a task; it
    ends with exactly one `sink.finished`."""

    def __init__(self, sink: JobSink, context: Callable[[Job], Context],
                 marker: Callable[[Job], dict[str, str]] | None = None) -> None:
        self.sink = sink
        self.context = context
        self.marker = marker  # environment added to every process a job starts
        self.jobs: dict[str, Job] = {}
        self._queues: dict[str, asyncio.Lock] = {}

    def __contains__(self, job_id: str) -> bool:
        return job_id in self.jobs

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def add(self, job: Job) -> None:
        if job.id in self.jobs:
            raise ValueError(f"job '{job.id}' is already in the job table")
        self.jobs[job.id] = job

    async def lifecycle(self, job: Job) -> JobResult:
        """Run `job` (added before) through its queue, runs, restarts; publish its one result."""
        result: JobResult | None = None
        try:
            result = await self._queued(job)
        except asyncio.CancelledError:
            job.stop()
            raise
        except Exception as exc:  # a bug in the agent must still end the job with a result
            log.exception("job %s failed inside the agent", job.id)
            result = builtin_error(job.cmd, f"agent error: {exc!r}", 500, job.starttime, 0)
        finally:
            self.jobs.pop(job.id, None)
            job.result = result
            for queue in job.subscribers:
                queue.put_nowait(None)
        await self.sink.finished(job, result)
        return result

    async def _queued(self, job: Job) -> JobResult:
        name = job.cmd.queue
        if not name:
            return await self._runs(job)
        # asyncio.Lock is FIFO and a cancelled acquire never leaves it held.
        lock = self._queues.setdefault(name, asyncio.Lock())
        acquired, _ = await job.wait_unless_killed(lock.acquire())
        if not acquired:
            return self._killed_result(job, None)
        try:
            return await self._runs(job)
        finally:
            lock.release()

    def _killed_result(self, job: Job, last: JobResult | None) -> JobResult:
        if last is None:
            last = builtin_error(job.cmd, "killed before it ran", CODE_SIGNAL, 0, 0).replace(
                data="", level=0)
        return last.replace(state=KILLED)

    async def _runs(self, job: Job) -> JobResult:
        cmd = job.cmd
        backoff = RESPAWN_MIN
        while True:
            job.attempt += 1
            job.kill_signal = None if job.protected else job.kill_signal
            began = time.monotonic()
            result = await self._run_once(job)
            if job.stopping or (job.kill_signal is not None and not job.protected):
                return result
            if job.protected:
                backoff = RESPAWN_MIN if time.monotonic() - began > STABLE_RUN else min(backoff * 2, RESPAWN_MAX)
                job.kill_signal = None
                if not await job.sleep(backoff):
                    return result
                continue
            if cmd.recurring_period > 0:
                if not await job.sleep(cmd.recurring_period):
                    return self._killed_result(job, result)
                continue
            if result.state not in (SUCCESS, KILLED) and job.attempt < cmd.max_restart:
                if not await job.sleep(RESTART_DELAY):
                    return self._killed_result(job, result)
                continue
            return result

    async def _run_once(self, job: Job) -> JobResult:
        job.starttime = now_ms()
        began = time.monotonic()
        await self.sink.started(job, job.attempt)
        ctx = self.context(job)
        try:
            return await self._run_builtin(job, ctx, began)
        finally:
            # What the builtin changed is on the log before its job.finished.
            await self.sink.changed(job, ctx.take_changes())

    async def _run_builtin(self, job: Job, ctx: Context, began: float) -> JobResult:
        func = job.target.func
        args = job.cmd.arguments or {}
        call: Awaitable[Any] = func(args, ctx) if job.target.is_async else asyncio.to_thread(func, args, ctx)
        max_time = job.cmd.max_time if job.cmd.max_time and job.cmd.max_time > 0 else None
        try:
            async with asyncio.timeout(max_time):
                finished, value = await job.wait_unless_killed(call)
        except TimeoutError:
            # Fix of Q8: a builtin past max_time is reported TIMEOUT even if its thread goes on.
            return await self._builtin_end(job, builtin_error(
                job.cmd, f"exceeded max_time of {max_time} s", CODE_SIGNAL, job.starttime,
                _ms(began), state=TIMEOUT))
        except BuiltinError as exc:
            return await self._builtin_end(job, builtin_error(
                job.cmd, exc.message, exc.code, job.starttime, _ms(began)))
        except OSError as exc:
            return await self._builtin_end(job, builtin_error(
                job.cmd, str(exc), 500, job.starttime, _ms(began)))
        except Exception as exc:
            log.exception("builtin %s panicked", job.cmd.command)
            return await self._builtin_end(job, builtin_error(
                job.cmd, f"{type(exc).__name__}: {exc}", 500, job.starttime, _ms(began),
                critical=f"PANIC({type(exc).__name__}: {exc})"))
        if not finished:
            return await self._builtin_end(job, builtin_error(
                job.cmd, f"killed by signal {job.kill_signal}", CODE_SIGNAL, job.starttime,
                _ms(began)))
        # A builtin either answers a value or describes a process to run (core.system, bash,
        # extensions, parted ...): the process then makes the result.
        if isinstance(value, ProcessSpec):
            return await self._run_process(job, value, max_time or 0)
        try:
            result = builtin_result(job.cmd, value, job.starttime, _ms(began))
        except (TypeError, ValueError) as exc:
            result = builtin_error(job.cmd, f"result is not JSON: {exc}", 500, job.starttime, _ms(began))
        return await self._builtin_end(job, result)

    async def _builtin_end(self, job: Job, result: JobResult) -> JobResult:
        flags = EXIT_SUCCESS if result.ok else EXIT_ERROR
        await self.emit(job, Message(RESULT_JSON, result.data, flags))
        return result

    async def _run_process(self, job: Job, spec: ProcessSpec, max_time: float) -> JobResult:
        capture = Capture()
        run = ProcessRun()
        job.process = run
        began = time.monotonic()

        async def on_message(message: Message) -> None:
            capture.add(message)
            await self.emit(job, message)

        async def on_spawn(pid: int) -> None:
            await self.sink.spawned(job, pid)
            if job.kill_signal is not None and not job.protected:
                run.signal(job.kill_signal)  # killed while it was being spawned

        try:
            if self.marker is not None:
                spec = dataclasses.replace(spec, env={**(spec.env or {}), **self.marker(job)})
            await run_process(spec, run, on_message, max_time, on_spawn)
        except SpawnError as exc:
            result = spawn_failure(job.cmd, str(exc), job.starttime)
            await self.emit(job, Message(2, str(exc), EXIT_ERROR))
            return result
        finally:
            job.process = None
        state, code = process_outcome(run.returncode or 0, run.timed_out)
        if spec.on_exit is not None:
            try:
                await asyncio.to_thread(spec.on_exit, -1 if run.timed_out else (run.returncode or 0))
            except Exception:  # the process's own outcome stands; the hook's failure is logged
                log.exception("on_exit of %s failed", job.cmd.command)
        await self.emit(job, capture.exit_message(state == SUCCESS))
        return capture.result(job.cmd, state, code, job.starttime, _ms(began))

    async def emit(self, job: Job, message: Message) -> None:
        """One message of a job: kept in its backlog, relayed to subscribers, sent to the sink."""
        job.backlog.append(message)
        for queue in job.subscribers:
            queue.put_nowait(message)
        await self.sink.message(job, message)

    def kill_all(self, include_protected: bool = False) -> None:
        for job in list(self.jobs.values()):
            if include_protected:
                job.stop()
            elif not job.protected:
                job.kill(signal.SIGTERM)


def _ms(began: float) -> int:
    return int((time.monotonic() - began) * 1000)
