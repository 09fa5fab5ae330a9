"""`JobResult` keeps upstream's wire form byte for byte: the original client must not notice."""

from __future__ import annotations

import json

from hypothesis import given, strategies as st

from zos.events import DUPLICATE_ID, FINAL_STATES, JobResult, decode_value, encode_value

ORDER = ("id", "command", "data", "streams", "critical", "level", "state", "code", "starttime",
         "time", "tags", "container")


def upstream_json(result: dict) -> bytes:
    """The bridge's JSON before `JobResult` existed (field order of spec §5.3)."""
    ordered = {name: result[name] for name in ORDER if name in result}
    if not ordered.get("critical"):
        ordered.pop("critical", None)
    ordered.update((k, v) for k, v in result.items() if k not in ordered and k != "critical")
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()


texts = st.text(max_size=20)
wire_results = st.fixed_dictionaries(
    {"id": texts, "command": texts, "data": texts, "level": st.integers(0, 30),
     "state": st.sampled_from(sorted(FINAL_STATES)), "code": st.integers(0, 2000),
     "starttime": st.integers(0, 2**53), "time": st.integers(0, 2**31),
     "tags": st.none() | st.lists(texts, max_size=3), "container": st.integers(0, 100)},
    optional={"streams": st.lists(texts, min_size=2, max_size=2), "critical": texts.filter(bool),
              "extra_field": texts})


@given(wire_results)
def test_wire_form_round_trips_exactly(raw):
    result = JobResult.from_wire(raw)
    assert result.to_wire() == raw
    assert encode_value(result.to_wire()) == encode_value(raw)
    assert result.to_json() == upstream_json(raw)


def test_unknown_command_has_no_streams_and_duplicate_keeps_upstream_spelling():
    result = JobResult(id="j", command="core.kill", state="UNKNOWN_CMD")
    assert "streams" not in result.to_wire() and "critical" not in result.to_wire()
    assert DUPLICATE_ID == "DUPILICATE_ID"


def test_odd_records_decode_with_defaults_instead_of_failing():
    odd = JobResult.from_wire({"id": 5, "state": None, "streams": "x", "code": "nope"})
    assert (odd.id, odd.state, odd.streams, odd.code, odd.command) == ("5", "ERROR", None, 0, "")
    assert JobResult.from_wire(None).code == 500
    assert JobResult.from_wire(decode_value(encode_value({"id": "a", "state": "SUCCESS",
                                                          "code": 0}))).ok


def test_value_decodes_json_data_and_falls_back_to_text():
    assert JobResult(id="a", command="c", state="SUCCESS", data='{"x": 1}').value() == {"x": 1}
    assert JobResult(id="a", command="c", state="ERROR", data="plain").value() == "plain"
    with_streams = JobResult(id="a", command="c", state="SUCCESS", streams=["out", "err"])
    assert (with_streams.stdout, with_streams.stderr) == ("out", "err")
