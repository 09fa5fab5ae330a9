"""`python -m bench`: every benchmark runs even when one exits or raises; the summary says
which failed and the exit status is non-zero then. Fake benchmark packages, no real ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import benchmark_names, main

FAKES = {
    "a_exits_zero": "import sys\nprint('a ran')\nsys.exit(0)\n",  # as `sys.exit(main())` does
    "b_raises": "print('b ran')\nraise RuntimeError('boom')\n",
    "c_exits_three": "import sys\nprint('c ran')\nsys.exit(3)\n",
    "d_says_why": "import sys\nprint('d ran')\nsys.exit('redis-server is needed')\n",
    "e_passes": "print('e ran')\n",
    "_helpers": "raise AssertionError('a private module is not a benchmark')\n",
}


def _package(root: Path, modules: dict[str, str]) -> Path:
    folder = root / "fakebench"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for name, source in modules.items():
        (folder / f"{name}.py").write_text(source)
    return folder


def test_every_benchmark_runs_and_failures_are_summarised(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    folder = _package(tmp_path, FAKES)
    assert main([], folder) == 1
    out, err = capfd.readouterr()
    for letter in "abcde":
        assert f"{letter} ran" in out
    assert "RuntimeError: boom" in err and "redis-server is needed" in err
    assert "| fakebench.a_exits_zero | ok |" in out
    assert "| fakebench.b_raises | FAILED (exit 1) |" in out
    assert "| fakebench.c_exits_three | FAILED (exit 3) |" in out
    assert "| fakebench.d_says_why | FAILED (exit 1) |" in out
    assert "| fakebench.e_passes | ok |" in out
    assert "2 of 5 benchmarks passed" in out
    assert "_helpers" not in out


def test_all_passing_exits_zero(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    folder = _package(tmp_path, {"one": "print('1')\n", "two": "import sys\nsys.exit(0)\n"})
    assert main([], folder) == 0
    assert "2 of 2 benchmarks passed" in capfd.readouterr().out


def test_a_subset_by_name_and_unknown_names(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    folder = _package(tmp_path, FAKES)
    assert main(["e_passes"], folder) == 0
    assert "1 of 1 benchmarks passed" in capfd.readouterr().out
    assert main(["nope"], folder) == 2
    assert "unknown benchmark(s) nope" in capfd.readouterr().err


def test_the_real_benchmarks_are_all_found() -> None:
    names = benchmark_names(Path(__file__).resolve().parents[2] / "bench")
    assert {"disk_nbd", "fs_read", "hub_chunks", "bus_throughput"} <= set(names)
    assert not any(name.startswith("_") for name in names)
