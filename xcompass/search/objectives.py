"""The objectives a search can minimize (kept import-light: option checks need only this)."""

from __future__ import annotations

import numpy as np

from xcompass.errors import XcompassError

SERVING_OBJECTIVES = ("goodput", "capacity")
"""Scored by serving a window of arrivals over time (`xcompass.explore.serving_objective`)."""
OBJECTIVES = ("edp", "latency", "energy", "throughput", "pareto", *SERVING_OBJECTIVES)
"""`pareto` searches a latency-energy front; the others are one number, lower is better
(throughput, goodput and capacity are scored as their negatives)."""
MAXIMIZED = ("throughput", *SERVING_OBJECTIVES)
"""Objectives whose score is the negative of the figure a person reads."""


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
    if objective in SERVING_OBJECTIVES:
        # one row (the training window): latency_s holds seconds per good request (1 /
        # goodput or 1 / capacity), energy_j energy per finished request; both +inf mark a
        # mapping that cannot serve (infeasible: +inf), a finite energy with no good request
        # scores 0 (the worst a feasible mapping can do)
        with np.errstate(divide="ignore"):
            value = (1.0 / latency_s).mean(axis=0)
        return np.where(np.isinf(energy_j).any(axis=0), np.inf, -value)
    check_objective(objective)
    raise AssertionError(objective)


def maximized(objective: str) -> bool:
    """Whether a person reads the objective as higher-is-better (its score is negated)."""
    return objective in MAXIMIZED


def better(ours: float, theirs: float) -> float:
    """How much better score `ours` is than `theirs`, as a fraction of theirs: positive =
    better, whatever the objective (scores are lower-is-better and throughput is scored as its
    negative, so there this is the throughput gain). The results table's one convention."""
    if theirs != theirs or theirs in (0.0, float("inf"), float("-inf")):
        return float("nan")
    return float((theirs - ours) / abs(theirs))
