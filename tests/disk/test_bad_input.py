"""Bad input on the wire: refused with a reply when the protocol allows one, a clean close
when it does not, and the server keeps serving everyone else."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zos.disk.nbd import ExportInfo, ProtocolViolation, check_request, parse_request
from zos.disk.nbd import constants as c

from .conftest import DiskServer, need, run
from .nbdclient import RawNBD

MiB = 1 << 20


@pytest.fixture(scope="module")
def vdisk(disk_server: DiskServer) -> str:
    return disk_server.create(size="4M")


def still_serving(server: DiskServer, name: str) -> None:
    need("qemu-io")
    out = run("qemu-io", "-f", "raw", "-c", "write -P 0x77 0 4k", "-c", "read -P 0x77 0 4k",
              server.uri(name)).stdout
    assert "read 4096/4096" in out


def test_garbage_instead_of_client_flags_closes_cleanly(disk_server: DiskServer, vdisk: str) -> None:
    with RawNBD(disk_server.socket) as client:
        client.recv(18)
        client.sock.sendall(b"\xff\xff\xff\xffGARBAGE GARBAGE")
        assert client.closed_by_server()
    still_serving(disk_server, vdisk)


def test_wrong_option_magic_closes(disk_server: DiskServer, vdisk: str) -> None:
    with RawNBD(disk_server.socket) as client:
        client.greeting()
        client.sock.sendall(struct.pack(">QII", 0x1234567890ABCDEF, c.OPT_LIST, 0))
        assert client.closed_by_server()
    still_serving(disk_server, vdisk)


def test_unknown_and_malformed_options_get_error_replies(disk_server: DiskServer, vdisk: str) -> None:
    with RawNBD(disk_server.socket) as client:
        client.greeting()
        client.option(99, b"whatever")
        assert client.option_replies() == [(c.REP_ERR_UNSUP, b"option 99 is not supported")]
        client.option(c.OPT_EXTENDED_HEADERS)
        assert client.option_replies()[-1][0] == c.REP_ERR_UNSUP
        client.option(c.OPT_STARTTLS)
        assert client.option_replies()[-1][0] == c.REP_ERR_UNSUP
        client.option(c.OPT_LIST, b"x")
        assert client.option_replies()[-1][0] == c.REP_ERR_INVALID
        client.option(c.OPT_GO, struct.pack(">I", 500) + b"short")
        assert client.option_replies()[-1][0] == c.REP_ERR_INVALID
        client.option(c.OPT_INFO, struct.pack(">I", 7) + b"nothere" + struct.pack(">H", 0))
        assert client.option_replies()[-1][0] == c.REP_ERR_UNKNOWN
        client.option(c.OPT_SET_META_CONTEXT, struct.pack(">I", 0) + struct.pack(">I", 0))
        assert client.option_replies()[-1][0] == c.REP_ERR_INVALID  # needs structured replies
        client.option(c.OPT_STRUCTURED_REPLY)
        assert client.option_replies()[-1][0] == c.REP_ACK
        client.option(c.OPT_STRUCTURED_REPLY)
        assert client.option_replies()[-1][0] == c.REP_ERR_INVALID  # twice
        client.option(c.OPT_LIST, b"")
        assert vdisk in [d[4:].decode() for r, d in client.option_replies() if r == c.REP_SERVER]
        client.option(c.OPT_ABORT)
        assert client.option_replies() == [(c.REP_ACK, b"")]


def test_oversize_option_is_refused_then_absurd_one_closes(disk_server: DiskServer) -> None:
    with RawNBD(disk_server.socket) as client:
        client.greeting()
        client.option(123, bytes(100 * 1024))
        assert client.option_replies()[-1][0] == c.REP_ERR_TOO_BIG
        client.sock.sendall(c.OPTION_HEADER.pack(c.IHAVEOPT, 123, 1 << 31))
        assert client.closed_by_server()


def test_export_name_of_unknown_export_closes(disk_server: DiskServer) -> None:
    with RawNBD(disk_server.socket) as client:
        client.greeting()
        client.option(c.OPT_EXPORT_NAME, b"no-such-vdisk")
        assert client.closed_by_server()


@pytest.mark.parametrize("structured", [False, True], ids=["simple", "structured"])
def test_bad_requests_get_errno_replies_on_a_live_connection(disk_server: DiskServer, vdisk: str,
                                                             structured: bool) -> None:
    size = 4 * MiB
    with RawNBD(disk_server.socket) as client:
        got_size, _ = client.go(vdisk, structured=structured)
        assert got_size == size
        cases = [
            ("read past the end", dict(kind=c.CMD_READ, offset=size - 512, length=1024), c.EINVAL),
            ("write past the end", dict(kind=c.CMD_WRITE, offset=size, length=512,
                                        payload=bytes(512)), c.ENOSPC),
            ("zero past the end", dict(kind=c.CMD_WRITE_ZEROES, offset=size - 4096, length=8192),
             c.ENOSPC),
            ("trim past the end", dict(kind=c.CMD_TRIM, offset=1 << 40, length=4096), c.EINVAL),
            ("zero-length read", dict(kind=c.CMD_READ, offset=0, length=0), c.EINVAL),
            ("zero-length write", dict(kind=c.CMD_WRITE, offset=0, length=0), c.EINVAL),
            ("oversize read", dict(kind=c.CMD_READ, offset=0, length=33 * MiB), c.EINVAL),
            ("oversize write, drained", dict(kind=c.CMD_WRITE, offset=0, length=33 * MiB,
                                             payload=bytes(33 * MiB)), c.EINVAL),
            ("unknown command", dict(kind=42, offset=0, length=512), c.EINVAL),
            ("resize is unsupported", dict(kind=8, offset=0, length=0), c.EINVAL),
            ("bad flag on write", dict(kind=c.CMD_WRITE, offset=0, length=512, flags=c.CMD_FLAG_REQ_ONE,
                                       payload=bytes(512)), c.EINVAL),
            ("fast zero of a partial block", dict(kind=c.CMD_WRITE_ZEROES, offset=100, length=512,
                                                  flags=c.CMD_FLAG_FAST_ZERO), c.ENOTSUP),
        ]
        if not structured:
            cases.append(("DF without structured replies",
                          dict(kind=c.CMD_READ, offset=0, length=512, flags=c.CMD_FLAG_DF), c.EINVAL))
        for label, args, expected in cases:
            cookie = client.send(**args)
            got_cookie, error, _ = client.reply()
            assert (got_cookie, error) == (cookie, expected), label
        # misaligned but in range works (read-modify-write), and the connection is intact
        at = (2 if structured else 1) * MiB + 4095
        cookie = client.send(c.CMD_WRITE, offset=at, length=3, payload=b"abc")
        assert client.reply() == (cookie, 0, b"")
        cookie = client.send(c.CMD_READ, offset=at - 1, length=5)
        assert client.reply(5) == (cookie, 0, b"\0abc\0")
    still_serving(disk_server, vdisk)


def test_block_status_without_a_context_is_einval(disk_server: DiskServer, vdisk: str) -> None:
    with RawNBD(disk_server.socket) as client:
        client.go(vdisk, structured=True, meta=False)
        cookie = client.send(c.CMD_BLOCK_STATUS, offset=0, length=4096)
        assert client.reply()[:2] == (cookie, c.EINVAL)


def test_many_requests_in_flight_are_all_answered(disk_server: DiskServer, vdisk: str) -> None:
    with RawNBD(disk_server.socket) as client:
        client.go(vdisk, structured=False)
        cookies = {client.send(c.CMD_WRITE, offset=i * 4096, length=4096, payload=bytes([i]) * 4096)
                   for i in range(1, 101)}
        answered = {client.reply()[0] for _ in range(100)}
        assert answered == cookies
        cookies = {client.send(c.CMD_READ, offset=i * 4096, length=4096): i for i in range(1, 101)}
        for _ in range(100):
            cookie, error, data = client.reply(4096)
            assert error == 0 and data == bytes([cookies.pop(cookie)]) * 4096
        assert not cookies


def test_wrong_request_magic_closes_and_server_lives_on(disk_server: DiskServer, vdisk: str) -> None:
    with RawNBD(disk_server.socket) as client:
        client.go(vdisk, structured=False)
        client.send(c.CMD_READ, offset=0, length=512, magic=0xDEADBEEF)
        assert client.closed_by_server()
    still_serving(disk_server, vdisk)


def test_half_a_header_then_hang_up(disk_server: DiskServer, vdisk: str) -> None:
    with RawNBD(disk_server.socket) as client:
        client.go(vdisk, structured=False)
        client.sock.sendall(b"\x25\x60\x95\x13\x00")
        client.sock.shutdown(socket.SHUT_WR)
        assert client.closed_by_server()
    still_serving(disk_server, vdisk)


# -- fuzzing the pure parser and checks -----------------------------------------------------------
EXPORTS = [ExportInfo("a", 4 * MiB, 4096), ExportInfo("ro", 4 * MiB, 512, read_only=True)]


@settings(max_examples=2000, deadline=None)
@given(header=st.binary(min_size=28, max_size=28), export=st.sampled_from(EXPORTS),
       structured=st.booleans(), meta=st.booleans())
def test_fuzz_any_header_parses_or_is_a_violation(header: bytes, export: ExportInfo, structured: bool,
                                                  meta: bool) -> None:
    try:
        request = parse_request(header)
    except ProtocolViolation:
        return
    error = check_request(request, export, structured, meta)
    assert error in (0, c.EINVAL, c.ENOSPC, c.EPERM, c.EOVERFLOW)
    if error == 0 and request.type in (c.CMD_READ, c.CMD_WRITE, c.CMD_TRIM, c.CMD_WRITE_ZEROES):
        assert 0 < request.length and request.offset + request.length <= export.size


@settings(max_examples=2000, deadline=None)
@given(flags=st.integers(0, 0xFFFF), kind=st.integers(0, 0xFFFF), offset=st.integers(0, 2**64 - 1),
       length=st.integers(0, 2**32 - 1), export=st.sampled_from(EXPORTS), structured=st.booleans())
def test_fuzz_valid_magic_requests_are_checked_by_the_rules(flags: int, kind: int, offset: int,
                                                            length: int, export: ExportInfo,
                                                            structured: bool) -> None:
    header = c.REQUEST.pack(c.REQUEST_MAGIC, flags, kind, 7, offset, length)
    try:
        request = parse_request(header)
    except ProtocolViolation:
        assert kind == c.CMD_WRITE and length > c.MAX_WRITE_DRAIN
        return
    error = check_request(request, export, structured, True)
    if kind not in c.COMMAND_NAMES:
        assert error == c.EINVAL
    if export.read_only and kind in (c.CMD_WRITE, c.CMD_TRIM, c.CMD_WRITE_ZEROES):
        assert error != 0
    if error == 0 and kind in (c.CMD_READ, c.CMD_WRITE):
        assert length <= c.MAX_REQUEST


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(min_size=0, max_size=64), min_size=1, max_size=6))
def test_fuzz_handshake_garbage_never_kills_the_server(disk_server: DiskServer, vdisk: str,
                                                       chunks: list[bytes]) -> None:
    with RawNBD(disk_server.socket, timeout=10) as client:
        client.recv(18)
        try:
            for chunk in chunks:
                client.sock.sendall(chunk)
            client.sock.shutdown(socket.SHUT_WR)
            while client.sock.recv(65536):
                pass
        except (ConnectionError, OSError):
            pass
    with RawNBD(disk_server.socket) as client:
        assert vdisk in client.list_exports()


def test_a_vdisk_whose_storage_is_down_gets_an_error_reply(disk_server: DiskServer, vdisk: str) -> None:
    name = disk_server.create(size="4M", type="db", storage="redis://127.0.0.1:1")
    with RawNBD(disk_server.socket) as client:
        client.greeting()
        raw = name.encode()
        client.option(c.OPT_GO, struct.pack(">I", len(raw)) + raw + struct.pack(">H", 0))
        replies = client.option_replies()
        assert replies[-1][0] == c.REP_ERR_UNKNOWN and b"cannot be opened" in replies[-1][1]
        client.option(c.OPT_ABORT)
    still_serving(disk_server, vdisk)
