"""Request batches to score one static mapping on (Compass's answer to dynamic serving): the
score is the mean over K training batches, and the result is reported on other batches the
search never saw.

Two distributions:
- a trace (Azure format): each batch samples `requests` requests, each at a random step of its
  life (`trace.sample_step`), as a continuous-batching server has them in flight;
- a SPEC: each batch keeps the SPEC's requests and kinds and draws every request's length
  (prompt, history, draft) uniformly in [len/2, 3 len/2], so the mix stays the SPEC's and the
  sizes vary.
Every batch is dealt into the same number of micro-batches (the genome's first axis). Batch i of
a search with seed s uses sampling seed s * 1009 + 1 + i: the training batches take i < K, the
test batches the K..K+T-1 that follow, so they never coincide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from xcompass.errors import XcompassError
from xcompass.model.trace import Trace, sample_step
from xcompass.model.workload import MAX_SEED, Request, RequestKind, Workload, split_microbatches


@dataclass(frozen=True)
class TraceDistribution:
    trace: Trace
    requests: int

    def sample(self, seed: int, microbatches: int) -> Workload:
        return split_microbatches(sample_step(self.trace, self.requests, seed), microbatches)


@dataclass(frozen=True)
class SpecDistribution:
    requests: tuple[Request, ...]
    spread: float = 0.5

    def sample(self, seed: int, microbatches: int) -> Workload:
        rng = np.random.default_rng(seed)
        out: list[Request] = []

        def draw(n: int) -> int:
            lo, hi = max(1, round(n * (1 - self.spread))), max(1, round(n * (1 + self.spread)))
            return int(rng.integers(lo, hi + 1))

        for r in self.requests:
            for _ in range(r.count):
                name = f"r{len(out)}"
                if r.kind is RequestKind.PREFILL:
                    out.append(Request(name, r.kind, 0, draw(r.new_tokens)))
                elif r.kind is RequestKind.DECODE:
                    out.append(Request(name, r.kind, draw(r.context), 1))
                else:
                    out.append(Request(name, r.kind, draw(r.context), draw(r.new_tokens)))
        return split_microbatches(out, microbatches)


Distribution = TraceDistribution | SpecDistribution


def batch_seeds(seed: int, train: int, test: int) -> tuple[list[int], list[int]]:
    """Sampling seeds of the training and the test batches (disjoint)."""
    base = (seed * 1009) % (MAX_SEED - train - test - 1)
    seeds = [base + 1 + i for i in range(train + test)]
    return seeds[:train], seeds[train:]


def sample_batches(
    distribution: Distribution, microbatches: int, seeds: Sequence[int]
) -> list[Workload]:
    try:
        return [distribution.sample(s, microbatches) for s in seeds]
    except XcompassError as exc:
        raise XcompassError(f"sampling request batches: {exc}") from None
