"""The node agent: takes commands from the bus exactly once, runs them, records what happened.

    bus ──zos.cmd.<node>.>──▶ accept (job.accepted, OCC seq 0) ──▶ JobManager ──▶ job.finished
                                                                     │
                                          messages ──▶ zos.log.<node>.<job>, logger queues

Exactly once: `job.accepted` is appended with `expected_seq=0` on the job's subject, so a
redelivered or resent command id finds the subject taken and is skipped. The consumer hands
each command to the acceptor with its append in flight (pipelined), journals it first, and the
acceptor starts jobs in arrival order as the log confirms them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import signal
import time
from typing import Any

import psutil

from zos.bus import (REDIS_KEY_HEADER, Bus, BusError, ConcurrencyError, Delivered, event_subject,
                     log_subject, node_commands_filter, token)
from zos.events import (ERROR, Command, DecodeError, Event, JobResult, ValidationError, decode,
                        encode_value, new_event)

from ._aggregator import Aggregator, StatsdError, parse_statsd
from ._config import AgentConfig, Extension
from ._files import FileTable
from ._jobs import Job, JobManager
from ._journal import Journal
from ._loggers import Loggers
from ._messages import STATSD, Message
from ._process import ProcessSpec
from ._result import rejected, unknown_command
from ._startup import run_startup
from ._stats import StatsSampler
from ._sysinfo import boot_facts, version_text
from .builtins import SERVICES, Builtin, Context, load_all
from ._errors import CommandRejected

log = logging.getLogger("zos.node")

READY_FILE = "ready"
JOB_ENV, NODE_ENV = "ZOS_AGENT_JOB", "ZOS_AGENT_NODE"  # marks every process a job starts


@dataclasses.dataclass
class _Pending:
    """A command taken from the bus whose `job.accepted` is on its way to the log."""

    cmd: Command
    problem: str | None
    cause: Event
    accepted: Event
    append: asyncio.Future


class Agent:
    def __init__(self, bus: Bus, config: AgentConfig) -> None:
        self.bus = bus
        self.config = config
        self.node_id = config.node_id
        self.actor = f"node:{config.node_id}"
        self.commands: dict[str, Builtin] = dict(load_all())
        for ext in config.extensions.values():
            if ext.name in self.commands:
                raise ValueError(f"extension '{ext.name}' has the name of a builtin command")
            self.commands[ext.name] = _extension_builtin(ext)
        self.jobs = JobManager(self, self._context,
                               lambda job: {JOB_ENV: job.id, NODE_ENV: self.node_id})
        config.node_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(config.node_dir / "journal")
        self.loggers = Loggers(self._publish_log, lambda key: log_subject(self.node_id, key),
                               config.logger_size, config.logger_levels)
        self.aggregator = Aggregator()
        self.files = FileTable()
        self._tasks: asyncio.TaskGroup | None = None
        self._job_tasks: set[asyncio.Task] = set()
        self._watchers: set[asyncio.Task] = set()
        self._unacked: dict[str, list[tuple[Event, Any]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._acceptances: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._accepting: set[str] = set()
        self.stopping = False

    # -- life -----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        """Recover, announce, then serve until `stop` is set; jobs are ended on the way out."""
        ready_file = self.config.node_dir / READY_FILE
        ready_file.unlink(missing_ok=True)
        self._loop = asyncio.get_running_loop()
        again = await self.recover()
        await self.announce()
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                acceptor = tasks.create_task(self._acceptor())
                for adopt in SERVICES:  # before any command: re-adopted things are there first
                    try:
                        await adopt(self)
                    except Exception:
                        log.exception("node service %s failed to start", adopt.__qualname__)
                for event, payload in again:
                    self._submit(event, payload)
                consumer = tasks.create_task(self._consume(stop))
                tasks.create_task(StatsSampler(self).run(stop))
                tasks.create_task(run_startup(self, self.config.startup))
                bridge = None
                if self.config.redis_listen:
                    bridge_ready = asyncio.Event()
                    bridge = tasks.create_task(self._bridge(bridge_ready))
                    listening = asyncio.ensure_future(bridge_ready.wait())
                    try:  # ready means the bridge listens too (if it fails, the group ends us)
                        await asyncio.wait({listening, bridge}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        listening.cancel()
                ready_file.write_text(json.dumps({"node": self.node_id, "time": time.time()}))
                if ready is not None:
                    ready.set()
                await stop.wait()
                self.stopping = True
                await consumer
                self._acceptances.put_nowait(None)
                await acceptor
                await self._end_jobs()
                for watcher in list(self._watchers):
                    watcher.cancel()
                if bridge is not None:
                    bridge.cancel()
        finally:
            ready_file.unlink(missing_ok=True)
            self._tasks = None
            self.files.close_all()
        await self._append(new_event("node.stopped", "node", self.node_id,
                                     {"node": self.node_id, "reason": "stopped"}, actor=self.actor))

    async def _end_jobs(self, grace: float = 10.0) -> None:
        """SIGTERM every job (protected ones too), SIGKILL what is left after `grace` seconds;
        each still gets its job.finished."""
        log.info("stopping: ending %d jobs", len(self.jobs.jobs))
        self.jobs.kill_all(include_protected=True)
        if self._job_tasks:
            _, pending = await asyncio.wait(set(self._job_tasks), timeout=grace)
            if pending:
                log.warning("%d jobs ignored SIGTERM for %s s: SIGKILL", len(pending), grace)
                for job in list(self.jobs.jobs.values()):
                    job.kill(signal.SIGKILL)

    async def _consume(self, stop: asyncio.Event) -> None:
        """The durable consumer `node-<node>`; a failure of the bus restarts it, never the agent."""
        while not stop.is_set():
            try:
                await self.bus.consume(node_commands_filter(self.node_id), f"node-{token(self.node_id)}",
                                       self._on_command, stop=stop)
            except Exception:
                if stop.is_set():
                    return
                log.exception("command consumer failed; restarting it in 1 s")
                await asyncio.sleep(1.0)

    async def _bridge(self, ready: asyncio.Event) -> None:
        from zos.node.bridge import run_bridge  # only when asked: the bridge is its own part

        host, _, port = self.config.redis_listen.rpartition(":")
        await run_bridge(self.bus, self.node_id, host or "127.0.0.1", int(port),
                         password=self.config.redis_password, tls=self.config.redis_tls,
                         data_dir=self.config.node_dir, ready=ready)

    async def announce(self) -> None:
        facts = await asyncio.to_thread(boot_facts)
        version = await asyncio.to_thread(version_text)  # runs git once; cached after
        data = {"node": self.node_id, **facts, "version": version}
        if self.config.redis_listen:
            data["bridge"] = f"redis://{self.config.redis_listen}"
        await self._append(new_event("node.booted", "node", self.node_id, data, actor=self.actor))

    async def recover(self) -> list[tuple[Event, bytes]]:
        """Settle what a killed predecessor left open. Jobs it accepted and never finished get
        ERROR with the reason; commands it took whose acceptance never reached the log are
        returned, to be accepted and run now."""
        open_jobs = self.journal.open_jobs()
        if open_jobs:
            await asyncio.to_thread(_kill_leftovers, self.node_id, set(open_jobs))
        again: list[tuple[Event, bytes]] = []
        for job_id, payload in open_jobs.items():
            events = [item.event async for item in self.bus.replay(event_subject("job", job_id))
                      if item.event is not None]
            accepted = next((e for e in events if e.type == "job.accepted"
                             and e.data.get("node") == self.node_id), None)
            if not events and payload:
                try:
                    again.append((decode(payload), payload))
                except DecodeError:
                    log.error("journal entry of %s is not a command; dropped", job_id)
                continue
            if accepted is None or any(e.type == "job.finished" for e in events):
                continue
            try:
                cmd = Command.from_dict(accepted.data["command"])
            except ValidationError:
                cmd = Command(id=job_id, command=str(accepted.data["command"].get("command", "")))
            result = JobResult(id=cmd.id, command=cmd.command, state=ERROR, code=500, level=20,
                               data=json.dumps("the node agent stopped while the job ran (agent "
                                               "killed or crashed); the job was not finished"),
                               streams=["", ""], tags=cmd.tags)
            await self._append(accepted.caused("job.finished", "job", job_id,
                                               {"node": self.node_id, "result": result.to_wire()},
                                               actor=self.actor))
            log.warning("job %s was left unfinished by a previous agent: recorded ERROR", job_id)
        self.journal.compact({})
        return again

    # -- commands from the bus -----------------------------------------------------------
    async def _on_command(self, item: Delivered) -> None:
        event = item.event
        if event is None or event.type != "command":
            raise CommandRejected(f"message of type {getattr(event, 'type', None)!r} on a command subject")
        job_id = event.data.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise CommandRejected("command without an id (dropped as 0-core does, Q3)")
        self._submit(event, item.data)

    def _submit(self, event: Event, payload: bytes) -> None:
        """Take a command: journal it, send its `job.accepted` (OCC: the subject must be
        empty), and queue it for the acceptor, which starts it once the log confirms.

        Returning before the confirmation lets the consumer fetch the next command during
        this one's round trip; the journal keeps the command until the log has it.
        """
        raw = {k: v for k, v in event.data.items() if k != "node"}
        job_id = raw["id"]
        if job_id in self.jobs or job_id in self._accepting:
            log.warning("command %s: a live job has this id; dropped (Q4)", job_id)
            return
        problem = None
        try:
            cmd = Command.from_dict(raw)
        except ValidationError as exc:
            problem = str(exc)
            name = raw.get("command")
            cmd = Command(id=job_id, command=name if isinstance(name, str) else "")
        self.journal.accepted(job_id, payload)
        accepted = event.caused("job.accepted", "job", job_id,
                                {"node": self.node_id, "command": raw}, actor=self.actor)
        self._accepting.add(job_id)
        append = asyncio.ensure_future(self.bus.append(accepted, expected_seq=0))
        self._acceptances.put_nowait(_Pending(cmd, problem, event, accepted, append))

    async def _acceptor(self) -> None:
        """Start taken commands in the order they came, each once the log confirmed it."""
        while True:
            pending = await self._acceptances.get()
            if pending is None:
                return
            try:
                confirmed = await self._confirm(pending)
            finally:
                self._accepting.discard(pending.cmd.id)
            if not confirmed:
                continue
            cmd = pending.cmd
            target = self.commands.get(cmd.command)
            if pending.problem is not None or target is None:
                result = rejected(cmd, pending.problem) if pending.problem is not None else unknown_command(cmd)
                self._track(self._finish(cmd.id, pending.cause, result, internal=False))
                continue
            self.start(Job(cmd, target, cause=pending.cause, accepted=pending.accepted))

    async def _confirm(self, pending: _Pending) -> bool:
        """True when our `job.accepted` is stored; False when the id was taken before us."""
        append, attempt, delay = pending.append, 0, 0.1
        while True:
            try:
                await append
                return True
            except ConcurrencyError:
                if attempt and await self._accepted_by_us(pending.accepted):
                    return True  # our first try was stored after all; the retry saw it
                self.journal.finished(pending.cmd.id)
                log.info("command %s was accepted before (redelivery or resend): not run again",
                         pending.cmd.id)
                return False
            except BusError as exc:
                log.warning("job.accepted of %s not confirmed (%s); retrying", pending.cmd.id, exc)
                await asyncio.sleep(delay)
                attempt, delay = attempt + 1, min(delay * 2, 2.0)
                # Same event id: if the first try was stored, the server deduplicates this one.
                append = asyncio.ensure_future(self.bus.append(pending.accepted, expected_seq=0))

    async def _accepted_by_us(self, accepted: Event) -> bool:
        async for item in self.bus.replay(event_subject("job", accepted.aggregate_id)):
            if item.event is not None and item.event.type == "job.accepted":
                return item.event.id == accepted.id
        return False

    def _track(self, coro: Any) -> asyncio.Task:
        assert self._tasks is not None, "the agent is not running"
        task = self._tasks.create_task(coro)
        self._job_tasks.add(task)
        task.add_done_callback(self._job_tasks.discard)
        return task

    def spawn(self, coro: Any) -> asyncio.Task:
        """Run a long-lived watcher (a container's init, a qemu's QMP events) as a child task of
        the agent; it is cancelled when the agent stops (what it watches keeps running)."""
        assert self._tasks is not None, "the agent is not running"
        task = self._tasks.create_task(coro)
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)
        return task

    def start(self, job: Job) -> asyncio.Task:
        """Put a job in the table and run its lifecycle as a child task of the agent."""
        self.jobs.add(job)
        return self._track(self.jobs.lifecycle(job))

    # -- the job sink --------------------------------------------------------------------
    def _aggregate_id(self, job: Job) -> str:
        return f"startup-{self.node_id}-{job.id}" if job.internal else job.id

    async def started(self, job: Job, attempt: int) -> None:
        data = {"node": self.node_id, "command": job.cmd.command, "attempt": attempt,
                "starttime": job.starttime}
        await self._send(self._aggregate_id(job), self._caused(job, "job.started", data))

    async def spawned(self, job: Job, pid: int) -> None:
        log.debug("job %s: pid %d", job.id, pid)

    async def message(self, job: Job, message: Message) -> None:
        if job.cmd.stream:
            record = message.record(job.id)
            await self._publish_log(log_subject(self.node_id, job.id), json.dumps(record).encode(),
                                    {REDIS_KEY_HEADER: f"stream:{job.id}"})
        await self.loggers.feed(job.id, 0, message)
        if message.level == STATSD:
            try:
                key, value, op, tags = parse_statsd(message.text)
            except StatsdError as exc:
                log.info("job %s: %s", job.id, exc)
            else:
                self.aggregator.feed(key, value, op, tags)

    async def changed(self, job: Job, events: list[Event]) -> None:
        """Record the domain events a job's builtin emitted, in order, before its result."""
        for event in events:
            await self._send(self._aggregate_id(job), event)

    def record_soon(self, event: Event) -> None:
        """Record a domain event from any thread (a builtin still running after its job ended)."""
        assert self._loop is not None, "the agent is not running"
        self._loop.call_soon_threadsafe(lambda: self._track(self._append(event)))

    async def record(self, type: str, aggregate: str, aggregate_id: str,
                     data: dict[str, Any]) -> Event:
        """Record a change no command asked for (a container's init exited, a qemu died):
        a domain event with the node as actor and no cause."""
        event = new_event(type, aggregate, aggregate_id, data, actor=self.actor)
        await self._append(event)
        return event

    async def finished(self, job: Job, result: JobResult) -> None:
        await self._finish(self._aggregate_id(job), job.cause, result, internal=job.internal)

    async def _finish(self, aggregate_id: str, cause: Any, result: JobResult, internal: bool) -> None:
        wire = result.to_wire()
        if len(encode_value(wire)) > self.bus.max_payload - 4096:
            # A builtin answered more than one bus message holds: say so rather than lose it.
            wire = result.replace(
                state=ERROR, code=500, level=20, streams=["", ""],
                data=json.dumps(f"result of {len(result.data)} bytes is larger than the bus "
                                f"allows ({self.bus.max_payload} bytes)")).to_wire()
        data = {"node": self.node_id, "result": wire}
        if cause is not None:
            event = cause.caused("job.finished", "job", aggregate_id, data, actor=self.actor)
        else:
            event = new_event("job.finished", "job", aggregate_id, data, actor=self.actor)
        await self._send(aggregate_id, event)
        await self._settle(aggregate_id)
        if not internal:
            self.journal.finished(result.id)

    def _caused(self, job: Job, type: str, data: dict[str, Any]):
        aggregate_id = self._aggregate_id(job)
        if job.cause is not None:
            return job.cause.caused(type, "job", aggregate_id, data, actor=self.actor)
        return new_event(type, "job", aggregate_id, data, actor=self.actor)

    async def _send(self, key: str, event: Event) -> None:
        """Send a job's event without waiting for its ack: a job's events go out in order and
        their round trips overlap. `_settle(key)` waits for them all."""
        try:
            ack = await self.bus.append_async(event)
        except BusError:
            await self._append(event)  # not even sent: record it the slow way, order kept
            return
        pending = self._unacked.setdefault(key, [])
        pending[:] = [(e, a) for e, a in pending if not _acked(a)]  # a recurring job's runs
        pending.append((event, ack))

    async def _settle(self, key: str) -> None:
        """Wait for every ack sent under `key`; re-append (same id: deduplicated) any event
        the server did not confirm, so nothing sent is lost to a blip."""
        for event, ack in self._unacked.pop(key, []):
            try:
                await ack
            except BusError as exc:
                log.warning("%s of %s not confirmed (%s); recording it again", event.type,
                            event.aggregate_id, exc)
                await self._append(event)

    async def _append(self, event: Any, attempts: int = 20) -> None:
        """Append, retrying while the bus is away: a result must not be lost to a blip.
        Still failing, the journal keeps the job open and the next start records it."""
        delay = 0.1
        for attempt in range(attempts):
            try:
                await self.bus.append(event)
                return
            except BusError as exc:
                if attempt == attempts - 1:
                    log.error("could not record %s for %s: %s", event.type, event.aggregate_id, exc)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _publish_log(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        try:
            await self.bus.publish(subject, payload, headers)
        except BusError as exc:
            log.warning("log record on %s lost: %s", subject, exc)

    def _context(self, job: Job) -> Context:
        return Context(node_id=self.node_id, job_id=job.id, agent=self, config=self.config, job=job)

def _acked(ack: Any) -> bool:
    return ack.done() and not ack.cancelled() and ack.exception() is None


def _extension_builtin(ext: Extension) -> Builtin:
    def run(args: dict[str, Any], ctx: Context) -> ProcessSpec:
        stdin = args.get("stdin") or ""
        return ProcessSpec(ext.argv(args), cwd=ext.cwd or "/", env=ext.env or None,
                           stdin=str(stdin).encode())
    return Builtin(ext.name, run, False)


def _kill_leftovers(node_id: str, job_ids: set[str]) -> None:
    """Kill what a dead agent's jobs left running: every process (children included) whose
    environment names one of those jobs of this node. The marker is inherited, so this finds
    processes that left the job's process group too."""
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
            if env.get(JOB_ENV) in job_ids and env.get(NODE_ENV) == node_id:
                proc.kill()
                log.warning("killed pid %d left by job %s of the previous agent", proc.pid, env[JOB_ENV])
        except psutil.Error:
            continue
