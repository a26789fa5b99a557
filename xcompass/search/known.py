"""A best-known result for a problem (`benchmarks/data/tile_best_known.json`): what identifies
the problem it was found for, and the check that refuses it for another one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from xcompass.errors import XcompassError
from xcompass.search.problem import SearchProblem


def identity(problem: SearchProblem) -> dict[str, Any]:
    """What a best-known record must match: the genome's shape, the placement groups and the
    tokens of every training request batch."""
    B, U = problem.shape
    return {
        "units": U,
        "microbatches_shape": B,
        "groups": len(problem.groups.tp),
        "tokens": [float(x) for x in problem.tokens],
    }


def load_best_known(path: str | Path, problem: SearchProblem) -> dict[str, Any]:
    """The record, or one line naming the file and the first thing that differs."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
        want = record["problem"]
        record["edp_js"] = float(record["edp_js"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise XcompassError(f"{path.name}: not a best-known record ({exc})") from None
    for key, value in identity(problem).items():
        if want.get(key) != value:
            theirs = str(want.get(key))[:60]
            raise XcompassError(
                f"{path.name}: recorded for another problem ({key} {theirs}, this one "
                f"{str(value)[:60]})"
            )
    return record
