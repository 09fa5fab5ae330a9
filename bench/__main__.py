"""Run every benchmark module of bench/ in turn (`make bench`)."""

import pkgutil
import runpy
import sys
from pathlib import Path

for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
    if info.name.startswith("_"):
        continue
    print(f"\n## bench.{info.name}", flush=True)
    sys.argv = [f"bench.{info.name}"]
    runpy.run_module(f"bench.{info.name}", run_name="__main__")
