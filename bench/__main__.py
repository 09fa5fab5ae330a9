"""Run every benchmark module of bench/ in turn (`make bench`), then print which failed.

    .venv/bin/python -m bench                    # all of them
    .venv/bin/python -m bench disk_nbd fs_read   # some of them

Each benchmark runs in its own interpreter, exactly as `python -m bench.<name>` (what each
module's docstring documents): a benchmark that calls `sys.exit`, raises, or dies of a signal
cannot stop the others, and one cannot leave servers, threads or an event loop policy behind
for the next. The exit status is 1 when any benchmark failed.
"""

from __future__ import annotations

import dataclasses
import pkgutil
import signal
import subprocess
import sys
import time
from pathlib import Path


@dataclasses.dataclass
class Outcome:
    name: str
    returncode: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def result(self) -> str:
        if self.ok:
            return "ok"
        if self.returncode < 0:
            return f"FAILED (killed by {signal.Signals(-self.returncode).name})"
        return f"FAILED (exit {self.returncode})"


def benchmark_names(folder: Path) -> list[str]:
    """The benchmark modules of `folder`: every module whose name does not start with `_`."""
    return sorted(info.name for info in pkgutil.iter_modules([str(folder)]) if not info.name.startswith("_"))


def run_benchmark(folder: Path, name: str) -> Outcome:
    """`python -m <package>.<name>` from the folder's parent, output passed through."""
    module = f"{folder.name}.{name}"
    print(f"\n## {module}", flush=True)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", module], cwd=folder.parent, stdin=subprocess.DEVNULL)
    return Outcome(module, done.returncode, time.perf_counter() - started)


def summary(outcomes: list[Outcome]) -> str:
    lines = ["## summary", "", "| benchmark | result | seconds |", "|---|---|---:|"]
    lines += [f"| {o.name} | {o.result} | {o.seconds:.1f} |" for o in outcomes]
    failed = sum(not o.ok for o in outcomes)
    lines += ["", f"{len(outcomes) - failed} of {len(outcomes)} benchmarks passed"]
    return "\n".join(lines)


def main(argv: list[str], folder: Path = Path(__file__).resolve().parent) -> int:
    known = benchmark_names(folder)
    unknown = [name for name in argv if name not in known]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    outcomes = [run_benchmark(folder, name) for name in argv or known]
    print("\n" + summary(outcomes), flush=True)
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
