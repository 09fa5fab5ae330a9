"""`zos projections run|status|rebuild`: fold the event log into the SQL view."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from zos.settings import Settings, add_nats_flag, connect_bus

from .db import add_db_flag, db_url

if TYPE_CHECKING:
    from zos.projections import BatchDone


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("projections", help="SQL projections of the event log")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    run = verbs.add_parser("run", help="apply the log and follow it (Ctrl-C stops)")
    run.add_argument("names", nargs="*", help="projectors (default: all)")
    run.add_argument("--once", action="store_true", help="stop at the end of the log")
    run.add_argument("--batch", type=int, default=2000, help="events per transaction at most")
    run.set_defaults(func=run_cmd)
    status = verbs.add_parser("status", help="position and lag of each projector")
    status.add_argument("names", nargs="*")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=status_cmd)
    rebuild = verbs.add_parser("rebuild", help="drop a projector's tables and replay from 1")
    rebuild.add_argument("names", nargs="*", help="projectors (default: all)")
    rebuild.set_defaults(func=rebuild_cmd)
    for verb in (run, status, rebuild):
        add_nats_flag(verb)
        add_db_flag(verb)


def _open(args: argparse.Namespace):  # noqa: ANN202 (engine, projectors)
    from zos.projections import make_engine, select_projectors, upgrade

    engine = make_engine(db_url(Settings(args, "projections")))
    upgrade(engine)
    return engine, select_projectors(args.names)


async def run_cmd(args: argparse.Namespace) -> int:
    from zos.projections import Runner, redact

    settings = Settings(args, "projections")
    engine, projectors = _open(args)
    bus = await connect_bus(settings, actor="projections")
    print(f"projecting {', '.join(p.name for p in projectors)} into {redact(db_url(settings))}",
          file=sys.stderr, flush=True)
    try:
        await Runner(engine, bus, projectors, batch_size=args.batch).run(follow=not args.once)
    finally:
        await bus.close()
    return 0


async def status_cmd(args: argparse.Namespace) -> int:
    from zos.projections import projector_status

    engine, projectors = _open(args)
    bus = await connect_bus(Settings(args, "projections"), actor="cli")
    try:
        rows = await projector_status(engine, bus, projectors)
    finally:
        await bus.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'PROJECTOR':<12} {'STREAM':<11} {'LAST SEQ':>10} {'LAG EV':>8} {'LAG S':>8} "
          f"{'APPLIED':>10} {'SKIPPED':>8}")
    for r in rows:
        print(f"{r['name']:<12} {r['stream']:<11} {r['last_seq']:>10} {r['lag_events']:>8} "
              f"{r['lag_seconds']:>8.1f} {r['applied']:>10} {r['skipped']:>8}")
    return 0


class _Progress:
    """One self-overwriting progress line per projector being rebuilt."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.events = 0
        self.started = time.monotonic()

    def __call__(self, batch: BatchDone) -> None:
        self.events += batch.events
        rate = self.events / max(time.monotonic() - self.started, 1e-6)
        print(f"\r{self.name}: seq {batch.last_seq}, {self.events} events, {batch.num_pending} to go, "
              f"{rate:,.0f} ev/s   ", end="", file=sys.stderr, flush=True)


async def rebuild_cmd(args: argparse.Namespace) -> int:
    from zos.projections import rebuild

    engine, projectors = _open(args)
    bus = await connect_bus(Settings(args, "projections"), actor="projections")
    try:
        for projector in projectors:
            progress = _Progress(projector.name)
            last = await rebuild(engine, bus, projector, progress)
            print(f"\r{projector.name}: rebuilt to seq {last} ({progress.events} events in "
                  f"{time.monotonic() - progress.started:.1f} s)" + " " * 20, file=sys.stderr, flush=True)
    finally:
        await bus.close()
    return 0
