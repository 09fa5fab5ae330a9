"""The agent's pure parts: line protocol, capture, statsd, aggregator, config. No server needed."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zos.events import Command
from zos.node._aggregator import Aggregator, StatsdError, parse_statsd
from zos.node._config import (ConfigError, condition_holds, parse_cmdline, parse_extensions,
                              parse_startup, service_weight, startup_arguments)
from zos.node._journal import Journal
from zos.node._messages import EXIT_SUCCESS, MAX_LINE, LineParser, Message, split_lines
from zos.node._result import CAPTURE_BYTES, Capture, process_outcome


# -- line protocol --------------------------------------------------------------------------------

def feed_all(lines, level=1):
    parser = LineParser(level)
    out = [m for m in map(parser.feed, lines) if m is not None]
    tail = parser.flush()
    return out + ([tail] if tail else [])


def test_line_protocol_cases():
    got = feed_all(["plain", "3::public", "12::x", "20:::", '{"a":', "1}", ":::", "7:::first", "second", ":::"])
    assert [(m.level, m.text) for m in got] == [(1, "plain"), (3, "public"), (12, "x"),
                                                (20, '{"a":\n1}'), (7, "first\nsecond")]


def test_unclosed_multiline_is_delivered_at_the_end():
    assert [(m.level, m.text) for m in feed_all(["20:::", "x"])] == [(20, "x")]


def test_lines_that_only_look_like_protocol():
    got = feed_all([":::", "a::b", "::x", "1:x", "-1::x"], level=2)
    assert [(m.level, m.text) for m in got] == [(2, ":::"), (2, "a::b"), (2, "::x"), (2, "1:x"), (2, "-1::x")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("01239:ab\n x"), max_size=20), max_size=30))
def test_line_parser_never_fails_and_loses_no_plain_line(lines):
    lines = [line.replace("\n", "") for line in lines]
    messages = feed_all(lines, level=5)  # 5 is not in the alphabet: no protocol line has it
    assert all(isinstance(m, Message) and 0 <= m.level <= 0xFFFF for m in messages)
    # Without multi-line messages, every non-protocol line comes out as is, in order.
    if not any(re.match(r"^\d+:::", line) for line in lines):
        plain = [line for line in lines if not re.match(r"^\d+::", line)]
        assert [m.text for m in messages if m.level == 5] == plain
        assert len(messages) == len(lines)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3 * MAX_LINE), st.integers(min_value=1, max_value=MAX_LINE + 10))
def test_split_lines_keeps_every_byte_of_ascii_input(data, chunk):
    data = bytes(b % 128 for b in data)
    buffer = bytearray()
    lines = []
    for start in range(0, len(data), chunk):
        buffer += data[start:start + chunk]
        lines += split_lines(buffer)
    lines += split_lines(buffer, final=True)
    assert all(len(line) <= MAX_LINE for line in lines)
    assert "".join(lines).encode() == data.replace(b"\n", b"")
    assert not buffer


# -- capture and outcome --------------------------------------------------------------------------

def test_capture_trailing_newline_rule():
    success = Capture()
    success.add(Message(1, "X"))
    success.exit_message(True)
    assert [success.stdout.text(), success.stderr.text()] == ["X\n", ""]
    failure = Capture()
    failure.add(Message(1, "a"))
    failure.add(Message(1, "b"))
    failure.add(Message(2, "err"))
    assert failure.exit_message(False).flags & 0x4
    assert [failure.stdout.text(), failure.stderr.text()] == ["a\nb", "err\n"]


def test_capture_keeps_last_100_lines_and_bounded_bytes():
    capture = Capture()
    for i in range(1000):
        capture.add(Message(1, str(i)))
    assert capture.stdout.text().split("\n") == [str(i) for i in range(900, 1000)]
    big = Capture()
    for _ in range(50):
        big.add(Message(1, "y" * 32768))
    assert len(big.stdout.text()) <= CAPTURE_BYTES
    huge = Capture()
    huge.add(Message(1, "z" * (CAPTURE_BYTES * 3)))
    assert len(huge.stdout.text()) == CAPTURE_BYTES


def test_process_outcome_codes():
    assert process_outcome(0, False) == ("SUCCESS", 0)
    assert process_outcome(3, False) == ("ERROR", 1003)
    assert process_outcome(-15, False) == ("ERROR", 999)
    assert process_outcome(-9, True) == ("TIMEOUT", 999)


def test_meta_and_record():
    message = Message(20, "data", EXIT_SUCCESS, epoch=5)
    assert message.meta == 20 << 16 | 2
    assert message.record("j1") == {"core": 0, "command": "j1",
                                    "message": {"message": "data", "epoch": 5, "meta": 1310723}}


# -- statsd and the aggregator --------------------------------------------------------------------

def test_parse_statsd():
    assert parse_statsd("disk.iops:12.5|D|id=sda,type=ssd") == ("disk.iops", 12.5, "D", {"id": "sda", "type": "ssd"})
    assert parse_statsd("a.b:3|A") == ("a.b", 3.0, "A", {})
    for bad in ("nocolon|A", "a:b|A", "a:1|X", "a:1"):
        with pytest.raises(StatsdError):
            parse_statsd(bad)


@given(st.text(max_size=60))
def test_parse_statsd_fuzz(text):
    try:
        key, value, op, tags = parse_statsd(text)
    except StatsdError:
        return
    assert op in ("A", "D") and isinstance(value, float) and key


def test_aggregator_windows_and_differential():
    agg = Aggregator()
    agg.feed("m", 10, "A", now=1000.0)
    agg.feed("m", 20, "A", now=1100.0)
    agg.feed("m", 40, "A", now=1300.0)  # next 300 s window: the first goes to history
    out = agg.query("m")["m"]
    assert out["current"]["300"] == {"avg": 40, "total": 40, "max": 40, "count": 1, "start": 1200}
    assert out["history"]["300"] == [{"avg": 15, "total": 30, "max": 20, "count": 2, "start": 900}]
    assert out["current"]["3600"]["count"] == 3
    agg.feed("rate", 100, "D", now=1000.0)
    agg.feed("rate", 160, "D", now=1010.0)
    assert agg.query("rate")["rate"]["last_value"] == 6.0


# -- config ---------------------------------------------------------------------------------------

def test_conditions():
    args = parse_cmdline("debug organization=gig zerotier=abc")
    assert args == {"debug": "", "organization": "gig", "zerotier": "abc"}
    assert condition_holds("", args)
    assert condition_holds("debug and not development", args)
    assert condition_holds("development or (zerotier and organization)", args)
    assert not condition_holds("not (debug or quiet)", args)
    for bad in ("debug and", "(debug", "debug debug", "and", "a & b"):
        with pytest.raises(ConfigError):
            condition_holds(bad, args)


@given(st.lists(st.sampled_from(["a", "b", "and", "or", "not", "(", ")", "&"]), max_size=12))
def test_condition_fuzz_is_true_false_or_config_error(words):
    expression = " ".join(words)
    try:
        assert condition_holds(expression, {"a": ""}) in (True, False)
    except ConfigError:
        pass


def test_startup_arguments_and_weights():
    args = startup_arguments({"debug|verbose": True, "quiet|silent": True, "net": "zt-{zerotier}"},
                             {"debug": "", "zerotier": "abc"})
    assert args == {"verbose": True, "net": "zt-abc"}
    services = parse_startup({"a": {"name": "bash", "after": ["init"]},
                              "b": {"name": "bash", "after": ["a", "net"]},
                              "c": {"name": "bash"}})
    assert [service_weight(services[s], services) for s in "abc"] == [2, 1001, 1_000_000]
    with pytest.raises(ConfigError, match="neither a phase"):
        parse_startup({"x": {"name": "bash", "after": ["nothing"]}})
    cyclic = parse_startup({"x": {"name": "bash", "after": ["y"]}, "y": {"name": "bash", "after": ["x"]}})
    with pytest.raises(ConfigError, match="cycle"):
        service_weight(cyclic["x"], cyclic)
    with pytest.raises(ConfigError, match=r"\[startup.z\] needs key 'name'"):
        parse_startup({"z": {}})


def test_extensions():
    ext = parse_extensions({"greet": {"binary": "echo", "args": ["hi", "{name}", "{n}-{flag}", "{none}"]}})["greet"]
    assert ext.argv({"name": "bob", "n": 3, "flag": True}) == ["echo", "hi", "bob", "3-true", ""]
    with pytest.raises(ConfigError, match="'binary'"):
        parse_extensions({"x": {"args": []}})
    with pytest.raises(ConfigError, match="'args'"):
        parse_extensions({"x": {"binary": "a", "args": "b"}})


# -- journal --------------------------------------------------------------------------------------

def test_journal_open_jobs_survive_reopen_and_torn_lines(tmp_path):
    journal = Journal(tmp_path / "j")
    for job in ("a", "b", "c"):
        journal.accepted(job, job.encode() * 3)
    journal.finished("b")
    journal.close()
    with open(tmp_path / "j", "a") as f:
        f.write('{"op": "accep')  # torn by a crash
    again = Journal(tmp_path / "j")
    assert again.open_jobs() == {"a": b"aaa", "c": b"ccc"}
    again.compact({})
    assert again.open_jobs() == {} and Journal(tmp_path / "j").open_jobs() == {}
    again.accepted("d")
    assert list(again.open_jobs()) == ["d"]


def test_journal_compacts_itself(tmp_path):
    journal = Journal(tmp_path / "j", compact_every=50)
    journal.accepted("long-running")
    for i in range(500):
        journal.accepted(f"job{i}")
        journal.finished(f"job{i}")
    assert len((tmp_path / "j").read_text().splitlines()) < 60
    assert list(journal.open_jobs()) == ["long-running"]
    assert list(Journal(tmp_path / "j").open_jobs()) == ["long-running"]


def test_command_defaults_match_0core():
    cmd = Command.from_dict({"id": "x", "command": "core.ping", "queue": None, "max_time": None,
                             "arguments": None, "tags": None, "stream": False})
    assert (cmd.queue, cmd.max_time, cmd.arguments, cmd.max_restart) == ("", 0, {}, 0)


def test_load_config_with_includes(tmp_path):
    from zos.commands.node import agent_config as load_config
    from zos.settings import Settings

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "a.toml").write_text('[extension.hello]\nbinary = "echo"\n[startup.svc]\nname = "core.ping"\n')
    main = tmp_path / "main.toml"
    main.write_text(f'[main]\ninclude = ["{conf}"]\n[node]\ncmdline = "debug"\n'
                    '[extension.other]\nbinary = "true"\n')
    config = load_config(Settings(None, "node", environ={"ZOS_CONFIG": str(main), "ZOS_DATA": str(tmp_path)}), "n1")
    assert set(config.extensions) == {"hello", "other"} and set(config.startup) == {"svc"}
    assert config.kernel_args == {"debug": ""} and config.node_dir == tmp_path / "node" / "n1"
    (conf / "b.toml").write_text('[extension.hello]\nbinary = "echo"\n')
    with pytest.raises(ConfigError, match=r"\[extension.hello\] is defined twice"):
        load_config(Settings(None, "node", environ={"ZOS_CONFIG": str(main)}), "n1")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "args", "dir", "env", "stdin", "script", "x"]), json_values, max_size=5))
def test_process_builtins_validate_any_arguments(arguments):
    """core.system / bash either describe a process or answer 400 naming a field; nothing else."""
    from zos.node._process import ProcessSpec
    from zos.node.builtins import BuiltinError, Context, load_all

    builtins = load_all()
    for name in ("core.system", "bash"):
        try:
            spec = builtins[name].func(arguments, Context("n", "j"))
        except BuiltinError as exc:
            assert exc.code == 400 and "argument '" in exc.message
        else:
            assert isinstance(spec, ProcessSpec) and all(isinstance(a, str) for a in spec.argv)
