"""The RESP parser and encoders: well-formed input in any split, and bad input refused."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zos.node.bridge import ProtocolError, RequestParser
from zos.node.bridge import _resp as resp


def parse_all(parser: RequestParser) -> list[list[bytes]]:
    out = []
    while (request := parser.next()) is not None:
        out.append(request)
    return out


def test_multibulk_and_inline_requests():
    parser = RequestParser()
    parser.feed(resp.command("RPUSH", "core:default", '{"id": "a"}') + b"PING\r\nECHO  hi\n")
    assert parse_all(parser) == [[b"RPUSH", b"core:default", b'{"id": "a"}'], [b"PING"], [b"ECHO", b"hi"]]
    assert parser.buffered() == 0


def test_partial_frames_wait_for_the_rest():
    frame = resp.command("SET", "k", "v" * 100)
    parser = RequestParser()
    for i in range(len(frame) - 1):
        parser.feed(frame[i:i + 1])
        assert parser.next() is None
    parser.feed(frame[-1:])
    assert parser.next() == [b"SET", b"k", b"v" * 100]


def test_empty_and_null_multibulk_are_skipped():
    parser = RequestParser()
    parser.feed(b"*0\r\n*-1\r\n\r\n" + resp.command("PING"))
    assert parse_all(parser) == [[], [], [], [b"PING"]]


@pytest.mark.parametrize("frame, message", [
    pytest.param(b"*1\r\n$99999999999\r\n", "invalid bulk length", id="huge-bulk"),
    pytest.param(b"*1\r\n$17000000\r\n", "invalid bulk length", id="bulk-over-limit"),
    pytest.param(b"*1\r\n$-5\r\n", "invalid bulk length", id="negative-bulk"),
    pytest.param(b"*99999999999\r\n", "invalid multibulk length", id="huge-array"),
    pytest.param(b"*x1\r\n", "invalid multibulk length", id="array-not-a-number"),
    pytest.param(b"*1\r\n$ 3\r\nabc\r\n", "invalid bulk length", id="bulk-space"),
    pytest.param(b"*2\r\n$1\r\na\r\n:1\r\n", "expected '$', got ':'", id="array-of-integer"),
    pytest.param(b"*1\r\n$3\r\nabcXY", "bulk string not terminated by CRLF", id="bulk-overrun"),
    pytest.param(b"*" + b"1" * 40, "invalid multibulk length", id="endless-header"),
])
def test_bad_frames_are_refused(frame, message):
    parser = RequestParser()
    parser.feed(frame)
    with pytest.raises(ProtocolError, match=re.escape(message)):
        parse_all(parser)


def test_huge_bulk_is_refused_before_its_bytes_arrive():
    """Only the header was sent: the refusal cannot have waited for (or allocated) 1 GB."""
    parser = RequestParser()
    parser.feed(b"*2\r\n$3\r\nSET\r\n$1073741824\r\n")
    with pytest.raises(ProtocolError):
        parser.next()
    assert parser.buffered() < 100


def test_wrong_array_length_waits_then_reads_the_next_frame_as_arguments():
    """An array announcing 3 arguments but carrying 2 swallows the next command's bytes as
    redis-server does; a following non-bulk byte is a protocol error."""
    parser = RequestParser()
    parser.feed(b"*3\r\n$4\r\nECHO\r\n$1\r\na\r\n")
    assert parser.next() is None
    parser.feed(b"PING\r\n")
    with pytest.raises(ProtocolError):
        parser.next()


def test_too_big_inline_request():
    parser = RequestParser()
    parser.feed(b"A" * (resp.MAX_INLINE + 10))
    with pytest.raises(ProtocolError, match="too big inline request"):
        parser.next()


def test_reply_encoders():
    assert resp.bulk(None) == b"$-1\r\n"
    assert resp.array(None) == b"*-1\r\n"
    assert resp.array([b"k", 3, None, [b"x"]]) == b"*4\r\n$1\r\nk\r\n:3\r\n$-1\r\n*1\r\n$1\r\nx\r\n"
    assert resp.map_([b"proto", 3]) == b"%1\r\n$5\r\nproto\r\n:3\r\n"
    assert resp.error("bad\r\nthing") == b"-bad  thing\r\n"


arguments = st.lists(st.binary(max_size=300), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(arguments, min_size=1, max_size=6), st.data())
def test_any_split_of_valid_requests_parses_the_same(requests, data):
    stream = b"".join(resp.command(*args) for args in requests)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    parser = RequestParser()
    got, last = [], 0
    for cut in [*cuts, len(stream)]:
        parser.feed(stream[last:cut])
        last = cut
        got += parse_all(parser)
    assert got == requests
    assert parser.buffered() == 0


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2000))
def test_garbage_never_crashes_the_parser(garbage):
    """Arbitrary bytes yield requests, wait for more, or raise ProtocolError — nothing else —
    and the parser never holds more than it was given."""
    parser = RequestParser()
    parser.feed(garbage)
    try:
        for request in iter(parser.next, None):
            assert isinstance(request, list) and all(isinstance(a, bytes) for a in request)
    except ProtocolError:
        pass
    assert parser.buffered() <= len(garbage)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"*", b"$", b"\r\n", b"1", b"3", b"-", b"abc", b"\x00", b"99999999999"]),
                max_size=40))
def test_resp_shaped_garbage_never_crashes_the_parser(pieces):
    parser = RequestParser()
    for piece in pieces:
        parser.feed(piece)
        try:
            while parser.next() is not None:
                pass
        except ProtocolError:
            return
