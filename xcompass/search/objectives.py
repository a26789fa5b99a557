"""The objectives a search can minimize (kept import-light: option checks need only this)."""

from __future__ import annotations

import numpy as np

from xcompass.errors import XcompassError

OBJECTIVES = ("edp", "latency", "energy", "throughput", "pareto")
"""`pareto` searches a latency-energy front; the others are one number, lower is better
(throughput is scored as its negative)."""


def check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise XcompassError(f"unknown objective '{objective}' (valid: {', '.join(OBJECTIVES)})")


def score_arrays(
    objective: str, latency_s: np.ndarray, energy_j: np.ndarray, tokens: np.ndarray
) -> np.ndarray:
    """One number per individual from latency and energy [K, P] on K request batches: the mean
    over the batches, lower is better. `pareto` scores as `edp` wherever one number is needed
    (baselines, the mapping written back)."""
    if objective in ("edp", "pareto"):
        return (latency_s * energy_j).mean(axis=0)
    if objective == "latency":
        return latency_s.mean(axis=0)
    if objective == "energy":
        return energy_j.mean(axis=0)
    if objective == "throughput":
        with np.errstate(divide="ignore"):
            return -(tokens[:, None] / latency_s).mean(axis=0)
    check_objective(objective)
    raise AssertionError(objective)


def better(ours: float, theirs: float) -> float:
    """How much better score `ours` is than `theirs`, as a fraction of theirs: positive =
    better, whatever the objective (scores are lower-is-better and throughput is scored as its
    negative, so there this is the throughput gain). The results table's one convention."""
    if theirs != theirs or theirs in (0.0, float("inf"), float("-inf")):
        return float("nan")
    return float((theirs - ours) / abs(theirs))
