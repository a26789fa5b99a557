"""Benchmark scripts refuse bad options in one line, before any work or any folder is made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize("only", ["x", "9-3", "3-16", ""])
def test_a_long_run_over_islands_it_does_not_have_is_refused_in_one_line(tmp_path, only):
    out = tmp_path / "long"
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "tile_long_run.py"), str(out), "--only", only],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"tile_long_run: --only {only!r}: expected A-B (or A), 0 <= A <= B < --islands (16)"
    ]
    assert not out.exists()
