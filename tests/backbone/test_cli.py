"""The `zos` command line as a user runs it: subprocesses against a real broker."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import alive, descendants

ZOS = [sys.executable, "-m", "zos"]


def run(args, env, **kw):
    return subprocess.run([*ZOS, *args], env=env, capture_output=True, text=True, timeout=60, **kw)


def test_help_everywhere(zos_env):
    for args in (["--help"], ["up", "--help"], ["bus", "streams", "--help"],
                 ["events", "replay", "--help"], ["events", "tail", "--help"],
                 ["cmd", "publish", "--help"]):
        out = run(args, zos_env)
        assert out.returncode == 0 and "usage: zos" in out.stdout, args


def test_cmd_publish_and_replay_json_round_trip(zos_env):
    node = "cli-" + uuid.uuid4().hex[:8]
    out = run(["cmd", "publish", "--node", node, "core.system", '{"name": "ls"}', "--queue", "q1",
               "--max-time", "5", "--tags", "a,b"], zos_env)
    assert out.returncode == 0, out.stderr
    published = json.loads(out.stdout)
    out = run(["events", "replay", "--subject", f"zos.cmd.{node}.>", "--json"], zos_env)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["seq"] == published["seq"] and line["subject"] == f"zos.cmd.{node}.q1"
    assert line["type"] == "command" and line["aggregate_id"] == published["id"]
    assert line["data"]["arguments"] == {"name": "ls"}
    assert line["data"]["tags"] == ["a", "b"] and line["data"]["max_time"] == 5


def test_cmd_publish_rejects_bad_arguments(zos_env):
    out = run(["cmd", "publish", "--node", "n", "core.ping", "{not json"], zos_env)
    assert out.returncode == 2 and "not valid JSON" in out.stderr
    out = run(["cmd", "publish", "--node", "n", "core.ping", "[1]"], zos_env)
    assert out.returncode == 2 and "'arguments' must be dict" in out.stderr


def test_cmd_publish_wait_times_out_without_node(zos_env):
    out = run(["cmd", "publish", "--node", "nobody-" + uuid.uuid4().hex[:6], "core.ping", "--wait",
               "--timeout", "1"], zos_env)
    assert out.returncode == 3 and "no result" in out.stderr


def test_events_replay_table_and_filters(zos_env):
    node = "tbl-" + uuid.uuid4().hex[:8]
    run(["cmd", "publish", "--node", node, "core.ping"], zos_env)
    out = run(["events", "replay", "--subject", f"zos.cmd.{node}.>", "--type", "command"], zos_env)
    assert out.returncode == 0 and "command" in out.stdout and "(1 events)" in out.stderr
    out = run(["events", "replay", "--subject", f"zos.cmd.{node}.>", "--type", "job.finished"], zos_env)
    assert "(0 events)" in out.stderr
    out = run(["events", "replay", "--since", "yesterday"], zos_env)
    assert out.returncode == 2 and "relative age" in out.stderr


def test_bus_streams(zos_env):
    out = run(["bus", "streams", "--json"], zos_env)
    rows = {json.loads(line)["stream"]: json.loads(line) for line in out.stdout.splitlines()}
    assert rows["ZOS_COMMANDS"]["subjects"] == ["zos.cmd.>"]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_zos_up_serves_and_stops_clean(tmp_path, sig):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOS_")}
    data = tmp_path / "stack"
    proc = subprocess.Popen([*ZOS, "up", "--data", str(data)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (data / "stack.json").exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "stack.json never appeared"
            time.sleep(0.1)
        stack = json.loads((data / "stack.json").read_text())
        nats_port = int(stack["nats"].rsplit(":", 1)[1])
        assert stack["nats"].startswith("nats://127.0.0.1:") and _listening(nats_port)
        # The broker works: a command published through the CLI is stored.
        out = run(["cmd", "publish", "--nats", stack["nats"], "--node", "x", "core.ping"], env)
        assert out.returncode == 0, out.stderr
        children = descendants(proc.pid)
        assert children, "zos up started no process"
        proc.send_signal(sig)
        proc.wait(60)
        assert proc.returncode == 0, proc.stderr.read()
        assert not _listening(nats_port)
        assert not [c for c in children if alive(c)]
        assert not (data / "stack.json").exists()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_events_tail_follows_new_events(zos_env):
    node = "tail-" + uuid.uuid4().hex[:8]
    tail = subprocess.Popen([*ZOS, "events", "tail", "--subject", f"zos.cmd.{node}.>", "--json"],
                            env=zos_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the tail shows what happens after its start time, which it announces on stderr
        assert tail.stderr.readline().startswith("following ")
        out = run(["cmd", "publish", "--node", node, "core.ping"], zos_env)
        published = json.loads(out.stdout)
        line = json.loads(tail.stdout.readline())
        assert line["aggregate_id"] == published["id"] and line["seq"] == published["seq"]
    finally:
        tail.terminate()
        tail.wait(10)


def test_a_named_command_imports_only_its_module():
    code = ("import sys; from zos.cli import build_parser; build_parser(['--log-level', 'INFO', 'bus', "
            "'streams']); heavy = [m for m in ('fastapi', 'rocksdict', 'capnp', 'sqlalchemy') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_zos_up_killed_with_sigkill_leaves_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOS_")}
    data = tmp_path / "stack"
    proc = subprocess.Popen([*ZOS, "up", "--data", str(data)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (data / "stack.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "zos up did not start"
            time.sleep(0.1)
        children = descendants(proc.pid)
        assert children
    finally:
        proc.kill()  # no chance to clean up: the children must go on their own
        proc.wait(30)
    deadline = time.monotonic() + 60
    while [c for c in children if alive(c)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [c for c in children if alive(c)]
