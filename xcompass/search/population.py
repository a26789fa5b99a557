"""Scored genomes, the seed pool every method shares, progress reports and results."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from xcompass.engine.mapping import Mapping
from xcompass.search.evaluation import Evaluation, score
from xcompass.search.problem import SearchProblem
from xcompass.search.seeds import Seed, standard_seeds


@dataclass
class Scored:
    """Genomes (bits [P, U-1], place [P, B, U]) with their evaluation and score (lower is
    better; infeasible individuals score +inf and are never evaluated)."""

    bits: np.ndarray
    place: np.ndarray
    evaluation: Evaluation
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.score)

    def take(self, index: np.ndarray | Sequence[int] | slice) -> Scored:
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        index = np.asarray(index, dtype=np.int64)
        return Scored(
            self.bits[index], self.place[index], self.evaluation.take(index), self.score[index]
        )

    @staticmethod
    def concat(parts: Sequence[Scored]) -> Scored:
        return Scored(
            np.concatenate([p.bits for p in parts]),
            np.concatenate([p.place for p in parts]),
            Evaluation.concat([p.evaluation for p in parts]),
            np.concatenate([p.score for p in parts]),
        )

    def best(self) -> Scored:
        """The best individual (first of equals, so the order decides ties)."""
        return self.take([int(np.argmin(self.score))])

    def mapping(self, i: int = 0) -> Mapping:
        return Mapping(self.bits[i].copy(), self.place[i].copy())

    @property
    def latency_s(self) -> np.ndarray:
        """Mean latency over the request batches, [P]."""
        return self.evaluation.latency_s.mean(axis=0)

    @property
    def energy_j(self) -> np.ndarray:
        return self.evaluation.energy_j.mean(axis=0)


def evaluate(
    problem: SearchProblem,
    objective: str,
    bits: np.ndarray,
    place: np.ndarray,
    fits: np.ndarray | None = None,
) -> tuple[Scored, int]:
    """Score genomes through the problem's evaluator; those that do not fit in memory are not
    evaluated and score +inf. Returns the scored genomes and the evaluations spent. `fits`:
    `problem.fits(place)` where the caller already has it (the memory check is part of a
    generation's serial work, which caps what `--workers` gains)."""
    bits = np.asarray(bits, dtype=bool)
    place = np.asarray(place, dtype=np.int64)
    ok = problem.fits(place) if fits is None else np.asarray(fits, dtype=bool)
    K, P = len(problem.train), len(place)
    lat, energy = np.full((K, P), np.inf), np.full((K, P), np.inf)
    if ok.any():
        ev = problem.evaluator(bits[ok], place[ok])
        lat[:, ok], energy[:, ok] = ev.latency_s, ev.energy_j
    evaluation = Evaluation(lat, energy)
    s = score(objective, evaluation, problem.tokens)
    s[~ok] = np.inf
    return Scored(bits, place, evaluation, s), int(ok.sum())


@dataclass
class SeedPool:
    """The standard strategies (and any extra seeds, e.g. the module's own mapping), scored once
    and shared: the GA starts from all of them, SA from the best, and `best_standard` is the
    best of them. Their evaluations count against every method's budget that uses them."""

    names: list[str]
    scored: Scored
    evaluations: int
    wall_s: float = 0.0

    @staticmethod
    def build(problem: SearchProblem, objective: str, extra: Sequence[Seed] = ()) -> SeedPool:
        clock = Clock()
        seeds, seen = [], set()
        for seed in [*extra, *standard_seeds(problem)]:  # extra first: it names a duplicate
            key = seed.mapping.boundaries.astype(bool).tobytes() + seed.mapping.place.tobytes()
            if key not in seen:
                seen.add(key)
                seeds.append(seed)
        if not seeds:
            B, U = problem.shape
            empty = Scored(
                np.zeros((0, max(U - 1, 0)), bool),
                np.zeros((0, B, U), np.int64),
                Evaluation.empty(len(problem.train)),
                np.zeros(0),
            )
            return SeedPool([], empty, 0)
        bits = np.stack([s.mapping.boundaries.astype(bool) for s in seeds])
        place = np.stack([s.mapping.place.astype(np.int64) for s in seeds])
        scored, spent = evaluate(problem, objective, bits, place)
        keep = np.flatnonzero(np.isfinite(scored.score))
        names = [seeds[i].name for i in keep]
        return SeedPool(names, scored.take(keep), spent, clock.elapsed)

    def __len__(self) -> int:
        return len(self.names)

    def best_index(self) -> int:
        return int(np.argmin(self.scored.score))


@dataclass(frozen=True)
class Progress:
    """What a search reports after each generation (or batch of steps)."""

    method: str
    step: int  # generations done (GA, NSGA-II) or batches of steps (SA, random)
    steps: int
    evaluations: int
    budget: int
    best_score: float
    best_latency_s: float
    best_energy_j: float
    elapsed_s: float


ProgressCallback = Callable[[Progress], bool | None]
"""Called with each `Progress`; returning True stops the search (the result so far stands)."""


@dataclass
class SearchResult:
    """A method's best individual, its spend and its history of (evaluations, best score)."""

    method: str
    best: Scored
    evaluations: int
    wall_s: float
    history: list[tuple[int, float]] = field(default_factory=list)
    front: Scored | None = None  # pareto: the non-dominated individuals
    note: str = ""  # why there is no mapping (a method that found none)
    stats: dict = field(default_factory=dict)  # what else the method reports (its screen, stages)

    @property
    def evaluations_per_s(self) -> float:
        return self.evaluations / self.wall_s if self.wall_s > 0 else float("inf")

    @property
    def feasible(self) -> bool:
        """Whether the method found a mapping (one that fits in memory)."""
        return len(self.best) > 0 and bool(np.isfinite(self.best.score[0]))

    @staticmethod
    def failed(
        method: str, note: str, shape: tuple[int, int], samples: int, wall_s: float = 0.0
    ) -> SearchResult:
        """A method that found no mapping: no individual, zero evaluations, and why (a
        baseline that finds nothing is a row of the results, not the end of the study)."""
        B, U = shape
        empty = Scored(
            np.zeros((0, max(U - 1, 0)), bool),
            np.zeros((0, B, U), np.int64),
            Evaluation.empty(samples),
            np.zeros(0),
        )
        return SearchResult(method, empty, 0, wall_s, note=note)


class Clock:
    """Wall time of one method, resumable (a checkpoint carries the time spent so far)."""

    def __init__(self, spent: float = 0.0) -> None:
        self.start = time.perf_counter() - spent

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start
