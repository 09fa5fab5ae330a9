"""`zos flist` as a user runs it: create -> ls -> cat -> check with no flags (local store).
The first commands run as real subprocesses; the rest call the same entry point in-process
(each `python -m zos` start costs seconds on a loaded machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zos.cli import main


def zos(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zos", "flist", *args], env=env, capture_output=True,
                          timeout=120, check=check)


def run(capsysbinary: pytest.CaptureFixture[bytes], *args: str) -> tuple[int, bytes, bytes]:
    code = main(["flist", *args])
    out, err = capsysbinary.readouterr()
    return code, out, err


def test_cli_round_trip(tree: Path, tmp_path: Path, zos_env: dict, monkeypatch: pytest.MonkeyPatch,
                        capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    out = tmp_path / "t.flist"
    created = json.loads(zos(zos_env, "create", str(tree), "-o", str(out)).stdout)
    assert created["regular"] >= 8
    lines = [json.loads(line) for line in zos(zos_env, "ls", str(out), "-R", "--json").stdout.splitlines()]
    by_path = {line["path"]: line for line in lines}
    assert by_path["/suid"]["mode"] == "4755"
    assert by_path["/rel-link"] == {**by_path["/rel-link"], "type": "symlink", "target": "etc/hostname"}
    assert by_path["/fifo"]["type"] == "fifo"
    if os.geteuid() == 0:
        assert by_path["/null"]["rdev"] == os.makedev(1, 3)
    assert zos(zos_env, "cat", str(out), "/multi").stdout == (tree / "multi").read_bytes()

    monkeypatch.setenv("ZOS_DATA", zos_env["ZOS_DATA"])
    assert run(capsysbinary, "check", str(out))[0] == 0
    native = tmp_path / "native"
    assert run(capsysbinary, "import", str(out), "-o", str(native))[0] == 0
    assert run(capsysbinary, "export", str(native), "-o", str(tmp_path / "back.flist"))[0] == 0
    again = run(capsysbinary, "ls", str(tmp_path / "back.flist"), "-R", "--json")[1].splitlines()
    assert [json.loads(line) for line in again] == lines
    assert run(capsysbinary, "metadata", str(out), "--set", 'environ={"A": "1"}', "--set", "readme=plain")[0] == 0
    meta = json.loads(run(capsysbinary, "metadata", str(out))[1])
    assert meta == {"environ": {"A": "1"}, "readme": "plain"}
    code, _, err = run(capsysbinary, "cat", str(out), "/nope")
    assert code == 2 and b"no entry '/nope'" in err
    stat = json.loads(run(capsysbinary, "stat", str(out), "/multi", "--json")[1])
    assert len(stat["chunks"]) == 4
    plain = run(capsysbinary, "ls", str(out), "/etc")[1].decode()
    assert plain.startswith("-rw") and plain.rstrip().endswith("/etc/hostname")


def test_cli_check_reports_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    monkeypatch.setenv("ZOS_DATA", str(tmp_path / "data"))
    src = tmp_path / "s"
    src.mkdir()
    (src / "f").write_bytes(b"data")
    out = tmp_path / "t.flist"
    assert run(capsysbinary, "create", str(src), "-o", str(out), "--store", str(tmp_path / "elsewhere"))[0] == 0
    code, stdout, _ = run(capsysbinary, "check", str(out))
    assert code == 1 and stdout.startswith(b"missing ")
    assert run(capsysbinary, "check", str(out), "--store", str(tmp_path / "elsewhere"))[0] == 0
    merged = tmp_path / "m.flist"
    code, stdout, _ = run(capsysbinary, "merge", str(out), str(out), "-o", str(merged))
    assert code == 0 and json.loads(stdout)["collisions"] == 1
