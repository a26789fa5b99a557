"""The latency-energy archive: the non-dominated individuals among everything evaluated.

Every method of a `pareto` study keeps one (NSGA-II's survival, SA's walk and random search
see points the others never do), and the study's front is the non-dominated set of all of
them, so no point any method saw that no other point beats is lost. Plain numpy (no pymoo),
so the baselines can keep an archive without loading it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xcompass.search.population import Scored


def front_index(latency: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points, one per distinct point (its first occurrence),
    sorted by latency: a point is dropped when another is no worse on both and better on
    one, or equal on both and earlier."""
    if len(latency) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(len(latency)), energy, latency))  # latency, energy, index
    e = energy[order]
    before = np.concatenate([[np.inf], np.minimum.accumulate(e)[:-1]])
    return order[e < before].astype(np.int64)


def non_dominated(scored: Scored) -> Scored:
    """The non-dominated individuals on mean latency and mean energy, fastest first (only
    feasible ones: an individual never evaluated scores +inf)."""
    ok = np.flatnonzero(np.isfinite(scored.score))
    sub = scored.take(ok)
    return sub.take(front_index(sub.latency_s, sub.energy_j))


def merge_fronts(fronts: Sequence[Scored]) -> tuple[Scored, np.ndarray]:
    """The non-dominated set of several fronts, and for each of its points the index of the
    front it came from (the first front wins a tie: list the searched method first)."""
    parts = [f for f in fronts if f is not None]
    if not parts:
        raise ValueError("merge_fronts needs at least one front")
    whole = Scored.concat(parts)
    source = np.concatenate([np.full(len(f), i) for i, f in enumerate(fronts) if f is not None])
    ok = np.flatnonzero(np.isfinite(whole.score))
    keep = ok[front_index(whole.latency_s[ok], whole.energy_j[ok])]
    return whole.take(keep), source[keep]


class Archive:
    """A front grown batch by batch (buffered, so a walk of single evaluations stays cheap)."""

    def __init__(self, buffer: int = 256) -> None:
        self.front: Scored | None = None
        self.pending: list[Scored] = []
        self.buffer = buffer
        self.count = 0

    def add(self, scored: Scored) -> None:
        self.pending.append(scored)
        self.count += len(scored)
        if self.count >= self.buffer:
            self._merge()

    def _merge(self) -> None:
        parts = ([self.front] if self.front is not None else []) + self.pending
        if parts:
            self.front = non_dominated(Scored.concat(parts))
        self.pending, self.count = [], 0

    def result(self) -> Scored | None:
        self._merge()
        return self.front
