"""`zos up`: run the whole local stack until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from zos.settings import Settings
from zos.up import Stack


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("up", help="run the whole single-node stack on embedded defaults")
    parser.add_argument("--data", help="data directory (env ZOS_DATA); stack.json is written there")
    parser.add_argument("--nats", help="use this NATS server instead of starting one")
    parser.add_argument("--node-id", help="id of the local node (default: hostname)")
    parser.set_defaults(func=up_cmd)


def up_cmd(args: argparse.Namespace) -> int:
    settings = Settings(args, "up")
    # --nats given explicitly means "don't start a broker"; ZOS_NATS alone does not.
    stack = Stack(settings.data_dir, nats=args.nats, node_id=settings.get("node_id"))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        addresses = stack.start()
        width = max(map(len, addresses))
        for key, value in addresses.items():
            print(f"{key:<{width}}  {value}")
        print(f"stack.json  {stack.data / 'stack.json'}", flush=True)
        print("zos up: ready (Ctrl-C to stop)", flush=True)
        while not stop.wait(0.5):
            dead = stack.failed()
            if dead:
                print(f"zos up: {dead.name} exited with {dead.proc.returncode}; stopping",
                      file=sys.stderr)
                return 1
    finally:
        stack.stop()
    print("zos up: stopped", flush=True)
    return 0
