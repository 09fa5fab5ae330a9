"""10k idle connections to a `zos bridge serve` process: it keeps serving, and its memory grows
by a bounded amount per connection (no task, no big buffer per idle client)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zos.bus import free_port, wait_for_port

from .conftest import RawConnection, new_node

CONNECTIONS = 10_000
MAX_BYTES_PER_IDLE_CONNECTION = 16 * 1024


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def info_field(conn: RawConnection, field: str) -> int:
    conn.send(b"INFO\r\n")
    text = conn.reply().decode()
    return int(text.split(f"{field}:", 1)[1].split("\r\n", 1)[0])


@pytest.fixture
def bridge_process(zos_env, tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "zos", "bridge", "serve", "--node", new_node(),
                             "--listen", f"127.0.0.1:{port}"], env=zos_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port, 60, proc)
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_ten_thousand_idle_connections(bridge_process):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < CONNECTIONS + 500:
        pytest.skip(f"open-files hard limit {hard} is below {CONNECTIONS + 500}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, CONNECTIONS + 1000)), hard))
    proc, port = bridge_process
    control = RawConnection(port)
    control.send(b"RPUSH warm x\r\n")
    assert control.reply() == 1
    before = rss(proc.pid)
    idle: list[socket.socket] = []
    try:
        for i in range(CONNECTIONS):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=30))
            if i % 2000 == 0:
                print(f"{i} connections open", flush=True)
        deadline = time.monotonic() + 120
        while info_field(control, "connected_clients") < CONNECTIONS + 1:
            assert time.monotonic() < deadline, "the bridge did not accept every connection"
            time.sleep(0.2)
        grown = rss(proc.pid) - before
        print(f"RSS grew {grown / 1e6:.1f} MB for {CONNECTIONS} idle connections "
              f"({grown / CONNECTIONS:.0f} B each)")
        assert grown < CONNECTIONS * MAX_BYTES_PER_IDLE_CONNECTION
        # still serving: a command, and a blocking pop woken by a push from another client
        waiter, pusher = RawConnection(port), RawConnection(port)
        waiter.send(b"BLPOP idle-q 30\r\n")
        pusher.send(b"PING\r\nRPUSH idle-q v\r\n")
        assert (pusher.reply(), pusher.reply()) == ("PONG", 1)
        assert waiter.reply() == [b"idle-q", b"v"]
        # an idle client can still talk
        idle[CONNECTIONS // 2].sendall(b"PING\r\n")
        assert idle[CONNECTIONS // 2].recv(100) == b"+PONG\r\n"
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 60
    while info_field(control, "connected_clients") > 3:
        assert time.monotonic() < deadline, "closed connections were not released"
        time.sleep(0.2)
    assert proc.poll() is None
