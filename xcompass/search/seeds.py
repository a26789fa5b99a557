"""The standard strategies as search seeds (Compass's seed bug, fixed: they are all in
generation 0 and the best of them can never be lost).

Every strategy `llm-partition` offers is enumerated for the problem: single, pipeline (one stage
per chiplet), tensor (each TP degree), data (one replica per micro-batch), P-B-D, and hybrid over
tp x pp x dp with tp a placeable TP degree, pp a divisor of the unit count or a power of two, dp a
divisor of the micro-batch count or a power of two, and tp x pp x dp within the chiplet count.
Infeasible ones (memory) and duplicates are dropped. Below a layer (granularity group or tile),
each strategy is built over the decoder layers and expanded to the units
(`xcompass.engine.mapping.expand`:
every unit goes where its layer goes), as `llm-partition{granularity=...}` writes it; one that
puts a unit on a placement the unit cannot run on (a tensor-parallel group over a one-head tile)
is dropped like one that does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xcompass.engine.mapping import Mapping, expand, partition
from xcompass.errors import XcompassError
from xcompass.search.problem import SearchProblem


@dataclass(frozen=True)
class Seed:
    """A named genome that enters generation 0."""

    name: str
    mapping: Mapping


def _degrees(limit: int, count: int) -> list[int]:
    """Divisors of `count` and powers of two, up to `limit`."""
    out = {d for d in range(1, count + 1) if count % d == 0}
    p = 1
    while p <= count:
        out.add(p)
        p *= 2
    return sorted(d for d in out if d <= limit)


def strategy_requests(problem: SearchProblem) -> list[tuple[str, dict[str, int]]]:
    """(strategy, options) pairs to try, in a fixed order."""
    C, U, B = problem.target.chiplets, problem.layers, problem.microbatches
    tps = [t for t in problem.groups.tp_options if t > 1]
    out: list[tuple[str, dict[str, int]]] = [("single", {}), ("pipeline", {})]
    out += [("tensor", {"tp": t}) for t in tps]
    out += [("data", {"dp": min(B, C)})] if min(B, C) > 1 else []
    out.append(("pbd", {}))
    for tp in [1, *tps]:
        for pp in _degrees(min(U, C // tp), U):
            for dp in _degrees(C // (tp * pp), B):
                if tp * pp * dp > 1:
                    out.append(("hybrid", {"tp": tp, "pp": pp, "dp": dp}))
    return out


def standard_seeds(problem: SearchProblem) -> list[Seed]:
    """Every distinct standard strategy that fits the target's memory."""
    candidates: list[Seed] = []
    for strategy, options in strategy_requests(problem):
        try:
            mapping = partition(
                strategy,
                problem.model,
                problem.workload,
                problem.target,
                problem.groups,
                problem.layers,
                **options,
            )
        except XcompassError:
            continue  # not offered on this target (too few chiplets or groups)
        if problem.unit_graph is not None:
            mapping = expand(mapping, problem.unit_graph)
        label = " ".join(f"{k}={v}" for k, v in options.items())
        candidates.append(Seed(f"{strategy} {label}".strip(), mapping))
    if not candidates:
        return []
    fits = problem.fits(np.stack([s.mapping.place for s in candidates]))
    seen: set[bytes] = set()
    out = []
    for seed, ok in zip(candidates, fits, strict=True):
        key = seed.mapping.boundaries.tobytes() + seed.mapping.place.tobytes()
        if ok and key not in seen:
            seen.add(key)
            out.append(seed)
    return out
