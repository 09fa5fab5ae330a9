"""The envelope, registry, upcasters and codec: pure, no server."""

import msgpack
import pytest
from hypothesis import given, strategies as st

from zos.events import (Command, DecodeError, UnknownFieldError, ValidationError, declare, decode,
                        decode_any, encode, encode_value, new_event, upcaster)


def test_round_trip_is_equal_and_deterministic():
    evt = new_event("job.finished", "job", "j1", {"node": "n1", "result": {"b": 1, "a": [1, 2]}},
                    actor="node:n1")
    payload = encode(evt)
    assert decode(payload) == evt
    # Same event, keys inserted in another order: same bytes.
    again = new_event("job.finished", "job", "j1", {"result": {"a": [1, 2], "b": 1}, "node": "n1"},
                      actor="node:n1", id=evt.id, time=evt.time)
    assert encode(again) == payload


def test_declared_fields_are_checked():
    with pytest.raises(UnknownFieldError, match="has no field 'colour'"):
        new_event("node.stopped", "node", "n1", {"node": "n1", "colour": "red"})
    with pytest.raises(ValidationError, match="needs field 'node'"):
        new_event("node.stopped", "node", "n1", {})
    with pytest.raises(ValidationError, match="field 'node' is int, expected str"):
        new_event("node.stopped", "node", "n1", {"node": 3})


def test_upcasting_an_old_version():
    declare("test.renamed", "test", ["name:str", "size_bytes:int"], version=3)

    @upcaster("test.renamed", 1)
    def v1_to_v2(data):
        return {"name": data.pop("title"), "size": data["size"]}

    @upcaster("test.renamed", 2)
    def v2_to_v3(data):
        return {"name": data["name"], "size_bytes": data["size"] * 1024}

    old = msgpack.packb({"id": "e1", "type": "test.renamed", "version": 1, "aggregate": "test",
                         "aggregate_id": "t1", "time": 5, "data": {"title": "x", "size": 2}})
    evt = decode(old)
    assert evt.version == 3
    assert evt.data == {"name": "x", "size_bytes": 2048}


def test_unknown_type_decodes_generic():
    payload = msgpack.packb({"id": "e1", "type": "future.thing", "version": 7, "aggregate": "f",
                             "aggregate_id": "1", "time": 1, "data": {"anything": 1}})
    evt = decode(payload)
    assert evt.type == "future.thing" and evt.data == {"anything": 1}


@pytest.mark.parametrize("payload, message", [
    pytest.param(b"\xc1", "not valid msgpack", id="bad-msgpack"),
    pytest.param(msgpack.packb([1, 2]), "must be a map", id="not-a-map"),
    pytest.param(msgpack.packb({"id": "x"}), "lacks type", id="missing-keys"),
    pytest.param(msgpack.packb({"id": 1, "type": "t", "aggregate": "a", "aggregate_id": "b",
                                "data": {}}), "'id' must be a string", id="id-not-str"),
    pytest.param(msgpack.packb({"id": "1", "type": "t", "aggregate": "a", "aggregate_id": "b",
                                "data": []}), "'data' must be a map", id="data-not-map"),
    pytest.param(msgpack.packb({"id": "1", "type": "node.stopped", "aggregate": "a",
                                "aggregate_id": "b", "data": {"node": 5}}), "expected str",
                 id="bad-field-type"),
])
def test_bad_payloads_get_clear_errors(payload, message):
    with pytest.raises(DecodeError, match=message):
        decode(payload)


@given(st.binary(max_size=512))
def test_fuzz_decode_never_raises_anything_but_decode_error(payload):
    try:
        decode(payload)
    except DecodeError:
        pass


@given(st.dictionaries(st.text(max_size=10), st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10), max_size=5))
def test_fuzz_any_data_round_trips(data):
    evt = new_event("future.anything", "f", "1", data)
    assert decode_any(encode(evt)).data == data


def test_command_validation_names_the_field():
    cmd = Command.from_dict({"id": "a", "command": "core.ping", "queue": None, "max_time": None})
    assert cmd.queue == "" and cmd.max_time == 0 and cmd.arguments == {}
    with pytest.raises(ValidationError, match="'max_time' must be int, got str"):
        Command.from_dict({"id": "a", "command": "x", "max_time": "5"})
    with pytest.raises(ValidationError, match="'stream' must be bool"):
        Command.from_dict({"id": "a", "command": "x", "stream": 1})
    with pytest.raises(ValidationError, match="'tags' must be a list of strings"):
        Command.from_dict({"id": "a", "command": "x", "tags": [1]})


_leaves = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
           | st.text(max_size=40) | st.binary(max_size=40))
_values = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4)
                       | st.dictionaries(st.integers(0, 9), inner, max_size=3), max_leaves=20)


@given(_values)
def test_fast_encoder_writes_the_bytes_the_log_always_had(value):
    """The log's bytes are msgpack-python's with sorted keys; the C encoder must match them,
    or replays and dedup stop comparing."""
    from zos.events._codec import _sorted
    assert encode_value(value) == msgpack.packb(_sorted(value), use_bin_type=True)
