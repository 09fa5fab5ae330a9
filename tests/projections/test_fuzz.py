"""Fuzzing: schemathesis against /openapi.json (no 5xx), and hypothesis on the token parser
and the fold contract (SqlRows behaves like MemoryRows)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from zos.projections import MemoryRows, SqlRows, make_engine, metadata, upgrade
from zos.projections.api import TokenError, check_token, mint_token

from .conftest import REPO, start_api, start_fake_node, stop, wait_until


def test_schemathesis_finds_no_server_errors(nats_url: str, tmp_path: Path) -> None:
    st_bin = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if st_bin is None:
        pytest.skip("schemathesis is not installed (dev extra: pip install -e '.[dev]')")
    node = f"fuzz-{uuid.uuid4().hex[:8]}"
    fake = start_fake_node(nats_url, node)
    env = {**os.environ, "ZOS_NATS": nats_url, "ZOS_API_WAIT": "60"}
    proc, base = start_api(env, f"sqlite:///{tmp_path / 'fuzz.db'}", "--api-tokens", "fuzz-token")
    try:
        with httpx.Client(base_url=base, headers={"Authorization": "Bearer fuzz-token"}) as client:
            wait_until(lambda: client.get(f"/nodes/{node}").status_code == 200, what="node projected")
        # every {nodeid} is the live fake node, so the fuzzer reaches the command paths too
        config = tmp_path / "schemathesis.toml"
        config.write_text(f'[parameters]\n"path.nodeid" = "{node}"\n')
        out = subprocess.run(
            [st_bin, "--config-file", str(config), "run", f"{base}/openapi.json",
             "--checks", "not_a_server_error", "-H", "Authorization: Bearer fuzz-token",
             "--phases", "fuzzing", "-n", "6", "--request-timeout", "90",
             "--generation-deterministic", "--no-color"],
            cwd=REPO, capture_output=True, text=True, timeout=400)
        assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-2000:]
        assert "generated" in out.stdout
    finally:
        stop(proc)
        stop(fake)


@given(st.text(max_size=200))
def test_check_token_only_raises_token_error(token: str) -> None:
    try:
        assert check_token(token, ["fixed"], "secret") in ("token",) or token.startswith("zos1.")
    except TokenError:
        pass


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="."),
               min_size=1, max_size=30),
       st.floats(min_value=1, max_value=1e6))
def test_signed_tokens_round_trip(subject: str, ttl: float) -> None:
    token = mint_token("k", subject, ttl, now=1000.0)
    assert check_token(token, [], "k", now=1000.0) == subject
    with pytest.raises(TokenError):
        check_token(token, [], "other", now=1000.0)
    with pytest.raises(TokenError):
        check_token(token, [], "k", now=1000.0 + ttl + 2)


@given(st.text(min_size=1, max_size=10).filter(lambda t: any(not "!" <= c <= "~" or c == "." for c in t)))
def test_token_subjects_outside_printable_ascii_are_refused(subject: str) -> None:
    with pytest.raises(TokenError, match="printable ASCII"):
        mint_token("k", subject, 60)


_ops = st.lists(st.one_of(
    st.tuples(st.just("merge"), st.sampled_from(["a", "b", "c"]),
              st.fixed_dictionaries({}, optional={"state": st.sampled_from(["x", "y"]),
                                                  "runs": st.integers(0, 5),
                                                  "arguments": st.none() | st.dictionaries(
                                                      st.text(max_size=3), st.integers(), max_size=2)})),
    st.tuples(st.just("delete"), st.sampled_from(["a", "b", "c"]), st.just({})),
    st.tuples(st.just("flush"), st.just(""), st.just({})),
), max_size=30)


@pytest.fixture(scope="module")
def rows_engine(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('rows') / 'r.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@settings(max_examples=80, deadline=None)
@given(ops=_ops)
def test_sql_rows_behave_like_memory_rows(rows_engine: sa.Engine, ops: list) -> None:
    memory = MemoryRows()
    with rows_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM jobs"))
        rows = SqlRows(conn)
        for op, key, values in ops:
            if op == "merge":
                memory.merge("jobs", {"id": key, **values})
                rows.merge("jobs", {"id": key, **values})
            elif op == "delete":
                memory.delete("jobs", key)
                rows.delete("jobs", key)
            else:
                rows.flush()
            for k in "abc":
                assert rows.get("jobs", k) == memory.get("jobs", k)
        rows.flush()
        jobs = metadata.tables["jobs"]
        stored = {r["id"]: dict(r) for r in conn.execute(sa.select(jobs)).mappings()}
    assert stored == {k[0]: v for k, v in memory.tables.get("jobs", {}).items()}


_token = st.sampled_from(["zos", "evt", "job", "node", "a-1", "*", ">", "x_y"])


@given(st.lists(_token, min_size=1, max_size=5), st.lists(_token.filter(lambda t: t not in "*>"),
                                                         min_size=1, max_size=5))
def test_compiled_subject_filter_matches_nats_rules(pattern: list, subject: list) -> None:
    from zos.bus import subject_matches
    from zos.projections import Projector

    if ">" in pattern[:-1]:
        return  # not a valid NATS filter
    probe = type("Probe", (Projector,), {"name": "probe", "subjects": (".".join(pattern),)})()
    assert probe.wants(".".join(subject)) == subject_matches(".".join(pattern), ".".join(subject))
