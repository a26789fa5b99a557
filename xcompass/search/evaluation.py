"""How a search reaches the cost engine: an `Evaluation` (latency and energy per request batch
and individual, [K, P]), the `Evaluator` protocol every backend provides, the in-process
`LocalEvaluator`, and `score`, which turns an evaluation into one number per individual. Kept
apart from `problem`, which builds the genome space these score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from xcompass.engine.context import EvalContext
from xcompass.engine.schedule import Result
from xcompass.engine.schedule_dag import evaluate_dag
from xcompass.engine.schedule_jit import evaluate_fast
from xcompass.search.objectives import score_arrays


@dataclass(frozen=True)
class Evaluation:
    """Latency and energy of P individuals on each of K request batches, [K, P]."""

    latency_s: np.ndarray
    energy_j: np.ndarray

    def __len__(self) -> int:
        return self.latency_s.shape[1]

    def take(self, index: np.ndarray | Sequence[int]) -> Evaluation:
        return Evaluation(self.latency_s[:, index], self.energy_j[:, index])

    @staticmethod
    def concat(parts: Sequence[Evaluation]) -> Evaluation:
        return Evaluation(
            np.concatenate([p.latency_s for p in parts], axis=1),
            np.concatenate([p.energy_j for p in parts], axis=1),
        )

    @staticmethod
    def empty(samples: int) -> Evaluation:
        return Evaluation(np.zeros((samples, 0)), np.zeros((samples, 0)))

    def unscored(self, mask: np.ndarray) -> Evaluation:
        """The same, with individuals where `mask` is True marked infinitely bad."""
        lat, energy = self.latency_s.copy(), self.energy_j.copy()
        lat[:, mask] = np.inf
        energy[:, mask] = np.inf
        return Evaluation(lat, energy)


class Evaluator(Protocol):
    """Scores a population; the search's only way to reach the cost engine."""

    def __call__(self, boundaries: np.ndarray, place: np.ndarray) -> Evaluation: ...


@dataclass
class LocalEvaluator:
    """In this process: one vectorized engine call per request batch (picklable, so a pool
    can hold a copy per worker and score a slice of the population). Layer chains run
    `schedule_jit.evaluate_fast`, unit DAGs (group, tile) `schedule_dag.evaluate_dag`."""

    contexts: Sequence[EvalContext]

    def __call__(self, boundaries: np.ndarray, place: np.ndarray) -> Evaluation:
        if len(place) == 0:
            return Evaluation.empty(len(self.contexts))
        runs = [_engine_call(ctx, boundaries, place) for ctx in self.contexts]
        return Evaluation(
            np.stack([r.latency_s for r in runs]), np.stack([r.energy_j for r in runs])
        )


def _engine_call(ctx: EvalContext, boundaries: np.ndarray, place: np.ndarray) -> Result:
    """One engine call for a population. A guard, not a known case: should the DAG kernel
    divide by zero on a DRAM channel (it did, until `schedule_jit._fill` stopped booking
    streams too small for the clock), each individual is run alone, and one that fails again
    is marked infinitely bad (never selected) instead of losing the whole population."""
    if ctx.granularity == "layer":
        return evaluate_fast(ctx, boundaries, place)
    try:
        return evaluate_dag(ctx, boundaries, place)
    except ZeroDivisionError:
        P = len(place)
        lat, energy = np.full(P, np.inf), np.full(P, np.inf)
        for p in range(P):
            try:
                one = evaluate_dag(ctx, boundaries[p : p + 1], place[p : p + 1])
            except ZeroDivisionError:
                continue
            lat[p], energy[p] = one.latency_s[0], one.energy_j[0]
        return Result(lat, energy)


def score(objective: str, ev: Evaluation, tokens: np.ndarray) -> np.ndarray:
    """One number per individual, lower is better: the mean over request batches (see
    `objectives.score_arrays`)."""
    return score_arrays(objective, ev.latency_s, ev.energy_j, tokens)
