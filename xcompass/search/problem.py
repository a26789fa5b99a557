"""A mapping-search problem: the genome space, the engine that scores genomes, the objectives.

The genome is Compass's: segmentation bits over the U-1 boundaries between consecutive units and a
placement group for every (micro-batch, unit). U is read from the genome's shape everywhere in
`xcompass.search`; only `build_problem` decides what a unit is (today: a decoder layer).

Scoring goes through one hook, `SearchProblem.evaluator`: any callable taking boundaries[P, U-1]
and place[P, B, U] and returning an `Evaluation` (latency and energy per request batch and
individual). The default runs in this process, one vectorized engine call per request batch; a
process pool or a Dask cluster only has to provide the same call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from xcompass.errors import XcompassError
from xcompass.layercost import build_cost_table, memory_table
from xcompass.mapping import Groups, make_groups
from xcompass.models import ModelConfig
from xcompass.schedule import EvalContext
from xcompass.schedule_jit import evaluate_fast
from xcompass.search.feasibility import MemoryCheck, UnitMemory, layer_unit_memory
from xcompass.search.objectives import OBJECTIVES, score_arrays  # noqa: F401 (re-export)
from xcompass.targets import Target
from xcompass.workload import Workload


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
    can hold a copy per worker and score a slice of the population)."""

    contexts: Sequence[EvalContext]

    def __call__(self, boundaries: np.ndarray, place: np.ndarray) -> Evaluation:
        if len(place) == 0:
            return Evaluation.empty(len(self.contexts))
        runs = [evaluate_fast(ctx, boundaries, place) for ctx in self.contexts]
        return Evaluation(
            np.stack([r.latency_s for r in runs]), np.stack([r.energy_j for r in runs])
        )


def score(objective: str, ev: Evaluation, tokens: np.ndarray) -> np.ndarray:
    """One number per individual, lower is better: the mean over request batches (see
    `objectives.score_arrays`)."""
    return score_arrays(objective, ev.latency_s, ev.energy_j, tokens)


def search_tp_options(model: ModelConfig, target: Target) -> tuple[int, ...]:
    """Tensor-parallel degrees the search may place: they divide the heads and fit in one
    chiplet kind (a group is consecutive same-kind chiplets)."""
    largest = max(k.count for k in target.kinds)
    return tuple(t for t in range(1, largest + 1) if model.heads % t == 0)


@dataclass
class SearchProblem:
    """Everything a search needs, as arrays; built once, shared by every method.

    `workload` is the request batch the IR names (standard strategies are built for it);
    `train` holds one engine context per request batch the score averages over, `test` the
    batches the result is reported on and never searched on."""

    model: ModelConfig
    workload: Workload
    target: Target
    groups: Groups
    units: int
    train: list[EvalContext]
    test: list[EvalContext]
    memory: MemoryCheck
    layer_costing: Mapping[str, Any] = field(default_factory=dict)
    whole_model: bool = False
    mode: str = "graph"
    evaluator: Evaluator = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.evaluator is None:
            self.evaluator = LocalEvaluator(self.train)

    @property
    def microbatches(self) -> int:
        return len(self.workload.microbatches)

    @property
    def shape(self) -> tuple[int, int]:
        """(micro-batches, units): the shape of one individual's placement."""
        return self.microbatches, self.units

    @property
    def group_ids(self) -> np.ndarray:
        """Placement ids an individual may use (every group is a real TP group here)."""
        return np.arange(len(self.groups.tp), dtype=np.int64)

    @property
    def tokens(self) -> np.ndarray:
        """Tokens of each training request batch, [K]."""
        return np.array([float(ctx.table.tokens.sum()) for ctx in self.train])

    @property
    def test_tokens(self) -> np.ndarray:
        return np.array([float(ctx.table.tokens.sum()) for ctx in self.test])

    def fits(self, place: np.ndarray) -> np.ndarray:
        return self.memory.fits(place)

    def evaluate_test(self, boundaries: np.ndarray, place: np.ndarray) -> Evaluation | None:
        if not self.test:
            return None
        return LocalEvaluator(self.test)(boundaries, place)


def _contexts(
    model: ModelConfig,
    workloads: Sequence[Workload],
    target: Target,
    groups: Groups,
    units: int,
    layer_costing: Mapping[str, Any],
    whole_model: bool,
    mode: str,
) -> list[EvalContext]:
    return [
        EvalContext(
            build_cost_table(
                model,
                wl,
                target,
                groups.tp_options,
                whole_model=whole_model,
                mode=mode,
                **layer_costing,
            ),
            groups,
            target,
            units,
        )
        for wl in workloads
    ]


def build_problem(
    model: ModelConfig,
    workload: Workload,
    target: Target,
    *,
    units: int | None = None,
    layer_costing: Mapping[str, Any] | None = None,
    whole_model: bool = False,
    mode: str = "graph",
    tp_options: tuple[int, ...] | None = None,
    train_workloads: Sequence[Workload] = (),
    test_workloads: Sequence[Workload] = (),
) -> SearchProblem:
    """A problem at layer granularity: one unit per decoder layer (`units`, default the
    model's layer count, maps the first `units` layers). With `train_workloads`, the score is
    the mean over those request batches instead of `workload` alone; every batch must have
    `workload`'s micro-batch count, so one genome fits them all. `layer_costing` says how one
    layer is costed and is passed on to `build_cost_table` and `memory_table` (`ops=[...]` or
    `kernels=(...)`, as the IR's lowering decided; default: the model's unlowered layer)."""
    layer_costing = dict(layer_costing or {})
    units = model.layers if units is None else units
    if units < 1:
        raise XcompassError(f"a mapping needs at least one unit, got {units}")
    B = len(workload.microbatches)
    for wl in (*train_workloads, *test_workloads):
        if len(wl.microbatches) != B:
            raise XcompassError(
                f"a sampled request batch has {len(wl.microbatches)} micro-batches, the "
                f"module's workload {B}: one static mapping needs the same count"
            )
    tps = tp_options or search_tp_options(model, target)
    groups = make_groups(target, tps)
    train = list(train_workloads) or [workload]
    needs = [
        layer_unit_memory(
            memory_table(model, wl, groups.tp_options, whole_model=whole_model, **layer_costing),
            units,
        )
        for wl in (workload, *train_workloads, *test_workloads)
    ]
    memory = MemoryCheck.build(UnitMemory.worst(needs), groups, target)
    return SearchProblem(
        model=model,
        workload=workload,
        target=target,
        groups=groups,
        units=units,
        train=_contexts(model, train, target, groups, units, layer_costing, whole_model, mode),
        test=_contexts(
            model, test_workloads, target, groups, units, layer_costing, whole_model, mode
        ),
        memory=memory,
        layer_costing=layer_costing,
        whole_model=whole_model,
        mode=mode,
    )
