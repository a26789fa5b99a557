"""Import + round-trip time for whole models: `xcompass import` then `xcompass-opt` on its output.

Wall-clock of the installed commands (Python start-up included), best of 3 runs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("llama3-8b", "llama3-70b", "llama3.1-405b")


def _tool(name: str) -> str:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


def best_of(cmd: list[str], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    print("== import + round-trip (whole model, default workload) ==")
    print(f"{'model':<15}{'layers':>7}{'ops':>7}{'import_s':>10}{'opt_s':>8}{'identical':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            out = Path(tmp) / f"{model}.mlir"
            again = Path(tmp) / f"{model}.2.mlir"
            t_import = best_of([_tool("xcompass"), "import", "--model", model, "-o", str(out)])
            t_opt = best_of([_tool("xcompass-opt"), str(out), "-o", str(again)])
            text = out.read_text()
            ops = sum(1 for line in text.splitlines() if " = llm." in line or "llm.yield" in line)
            layers = text.count("llm.layer ")
            same = text.strip() == again.read_text().strip()
            print(f"{model:<15}{layers:>7}{ops:>7}{t_import:>10.2f}{t_opt:>8.2f}{str(same):>11}")


if __name__ == "__main__":
    main()
