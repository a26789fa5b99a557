"""Run the project's benchmarks and print their figures: `python benchmarks/run.py [NAME ...]`."""

from __future__ import annotations

import importlib
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BENCHMARKS = [
    "bench_import",
    "bench_eval",
    "calibrate",
    "calibrate_energy",
    "calibrate_moe",
    "calibrate_comm",
    "bench_layer",
    "bench_tp",
    "bench_pipeline",
    "bench_lowering",
    "bench_search",
    "bench_explore",
    "bench_serve",
]


def main(names: list[str]) -> None:
    cpu = platform.processor() or platform.machine()
    print(f"# machine: {platform.node()} {cpu}, Python {platform.python_version()}")
    for name in names or BENCHMARKS:
        if name not in BENCHMARKS:
            sys.exit(
                f"benchmarks/run.py: error: unknown benchmark '{name}' ({', '.join(BENCHMARKS)})"
            )
        importlib.import_module(name).main()
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
