"""A mapping-search problem: the genome space, the engine that scores genomes, the objectives.

The genome is Compass's: segmentation bits over the U-1 boundaries between consecutive units and a
placement group for every (micro-batch, unit). U is read from the genome's shape everywhere in
`xcompass.search`; only `build_problem` decides what a unit is: a decoder layer, each kernel of
the lowered layers (`granularity="group"`) or Compass's tiles (`"tile"`; see
`xcompass.engine.units`).

Every individual stays valid by construction or by repair: memory capacity (`MemoryCheck`), and
below a layer, the placements a unit allows (`allowed`: a tensor-parallel group that cannot share
a tile evenly costs infinite time, so `legalize` moves such a node to its group's first chiplet).

Scoring goes through one hook, `SearchProblem.evaluator`: any callable taking boundaries[P, U-1]
and place[P, B, U] and returning an `Evaluation` (`xcompass.search.evaluation`). The default
runs in this process, one vectorized engine call per request batch; a process pool or a Dask
cluster only has to provide the same call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xcompass.engine.context import EvalContext
from xcompass.engine.mapping import Groups, make_groups
from xcompass.engine.units import Units, unit_memory
from xcompass.errors import XcompassError
from xcompass.hardware.targets import Target
from xcompass.layer.layercost import build_cost_table, memory_table
from xcompass.model.models import ModelConfig
from xcompass.model.workload import Workload
from xcompass.names import GRANULARITIES
from xcompass.search.evaluation import Evaluation, Evaluator, LocalEvaluator
from xcompass.search.feasibility import MemoryCheck, UnitMemory, layer_unit_memory
from xcompass.search.objectives import OBJECTIVES, score_arrays  # noqa: F401 (re-export)


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
    granularity: str = "layer"
    layers: int = 0  # decoder layers mapped (0: `units`, at granularity=layer)
    unit_graph: Units | None = None  # the units of one micro-batch (None: layers)
    allowed: np.ndarray | None = None  # [U, G] placements each unit allows (None: all)
    tiles: Mapping[str, Any] = field(default_factory=dict)  # tile options (granularity=tile)
    serving: Any = None  # a `serving_objective.ServingObjective`: objective goodput / capacity

    def __post_init__(self) -> None:
        if self.evaluator is None:
            self.evaluator = self.local_evaluator()
        if not self.layers:
            self.layers = self.units

    def local_evaluator(self) -> Evaluator:
        """The evaluator that scores in this process: the engine on the request batches, or
        for a serving objective, serving its training window (what a worker holds)."""
        if self.serving is not None:
            return self.serving.evaluator()
        return LocalEvaluator(self.train)

    @property
    def has_test(self) -> bool:
        """Whether results are also reported on data the search never saw (test batches, or
        a serving objective's test window)."""
        return bool(self.test) or self.serving is not None

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

    def placeable(self, place: np.ndarray) -> np.ndarray:
        """Whether every node of each individual sits on a placement its unit allows, [P]."""
        place = np.asarray(place, dtype=np.int64)
        if place.ndim == 2:
            place = place[None]
        if self.allowed is None:
            return np.ones(len(place), dtype=bool)
        ok = self.allowed[np.arange(place.shape[2])[None, None, :], place]  # [P, B, U]
        return ok.all(axis=(1, 2))

    def legalize(self, place: np.ndarray) -> np.ndarray:
        """Repair: every node on a placement its unit does not allow moves to the first
        chiplet of that group (in place; returns `place`)."""
        if self.allowed is None:
            return place
        units = np.arange(place.shape[-1])
        bad = ~self.allowed[np.broadcast_to(units, place.shape), place]
        if bad.any():
            place[bad] = self.fallback()[place[bad]]
        return place

    def fallback(self) -> np.ndarray:
        """[G]: the group of one on each group's first chiplet (itself without one)."""
        g = self.groups
        lead = g.members[:, 0]
        single = np.full(int(lead.max()) + 1, -1, dtype=np.int64)
        ones = np.flatnonzero(g.tp == 1)
        single[lead[ones]] = ones
        out = single[lead]
        return np.where(out >= 0, out, np.arange(len(lead)))

    def load(self, place: np.ndarray) -> np.ndarray:
        """The fullest memory domain's use over its capacity, [P]; +inf for a placement a
        unit does not allow."""
        return np.where(self.placeable(place), self.memory.load(place), np.inf)

    def fits(self, place: np.ndarray) -> np.ndarray:
        return self.memory.fits(place) & self.placeable(place)

    def own_context(self) -> EvalContext:
        """The engine context of `workload` alone, to cost the result on the batch the IR
        names when the search scored sampled batches instead."""
        alone = build_problem(
            self.model,
            self.workload,
            self.target,
            units=self.layers,
            layer_costing=self.layer_costing,
            whole_model=self.whole_model,
            mode=self.mode,
            tp_options=self.groups.tp_options,
            granularity=self.granularity,
            tiles={k: v for k, v in self.tiles.items() if k != "slots"} or None,
        )
        if alone.units != self.units:
            raise XcompassError(
                f"granularity={self.granularity}: the sampled request batches cut the layers "
                f"into {self.units} units, the module's workload into {alone.units} (more "
                "request groups per micro-batch than the module's): sample batches like it"
            )
        return alone.train[0]

    def evaluate_test(self, boundaries: np.ndarray, place: np.ndarray) -> Evaluation | None:
        if self.serving is not None:
            return self.serving.evaluate_test(boundaries, place)
        if not self.test:
            return None
        return LocalEvaluator(self.test)(boundaries, place)


def _contexts(
    model: ModelConfig,
    workloads: Sequence[Workload],
    target: Target,
    groups: Groups,
    layers: int,
    layer_costing: Mapping[str, Any],
    whole_model: bool,
    mode: str,
    granularity: str = "layer",
    tiles: Mapping[str, Any] | None = None,
) -> list[EvalContext]:
    out = []
    for wl in workloads:
        table = build_cost_table(
            model,
            wl,
            target,
            groups.tp_options,
            whole_model=whole_model,
            mode=mode,
            **layer_costing,
        )
        spec = None
        if granularity == "tile":
            from xcompass.engine.tiles import tile_spec

            spec = tile_spec(model, wl, target, **(tiles or {}))
        out.append(EvalContext(table, groups, target, layers, granularity, tiles=spec))
    return out


def allowed_placements(ctx: EvalContext) -> np.ndarray:
    """[U, G]: the placement groups each unit can run on (finite time for every micro-batch:
    a tensor-parallel group that cannot share a tile evenly costs infinite time)."""
    g, ut = ctx.groups, ctx.ut
    finite = np.isfinite(ut.time_stream).all(axis=0) & np.isfinite(ut.time_resident).all(axis=0)
    per_row = finite[:, g.kind, g.tp_index]  # [R, G]
    return per_row[ctx.units.row]


def _unit_kwargs(
    granularity: str,
    layer_costing: Mapping[str, Any],
    tiles: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Check what a granularity needs and say which tile options apply."""
    if granularity not in GRANULARITIES:
        raise XcompassError(
            f"unknown granularity '{granularity}' (valid: {', '.join(GRANULARITIES)})"
        )
    if granularity != "layer" and "ops" in layer_costing:
        raise XcompassError(
            f"granularity={granularity} places kernels: cost the layer by its kernels "
            "(layer_costing={'kernels': ...}), not by ops"
        )
    if granularity != "tile":
        if tiles:
            raise XcompassError(f"tile options {sorted(tiles)} need granularity=tile")
        return {}
    return dict(tiles or {})


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
    granularity: str = "layer",
    tiles: Mapping[str, Any] | None = None,
) -> SearchProblem:
    """A problem over the first `units` decoder layers (default: the model's layer count).

    `granularity` says what a mapping places: `layer` (one unit per decoder layer), `group`
    (each kernel of the layer as `layer_costing` runs it) or `tile` (Compass's split; `tiles`
    are `xcompass.engine.tiles.tile_spec`'s options: `graph`, `lowering` (they must give the kernels
    `layer_costing` names; default the model's unlowered layer), `width`, `heads`). With
    `train_workloads`, the score is the mean over those request batches instead of `workload`
    alone; every batch must have `workload`'s micro-batch count, so one genome fits them all
    (at granularity=tile, every batch is cut into as many request slots as the one with the
    most request groups). `layer_costing` says how one layer is costed and is passed on to
    `build_cost_table` and `memory_table` (`ops=[...]` or `kernels=(...)`, as the IR's
    lowering decided; default: the model's unlowered layer)."""
    layer_costing = dict(layer_costing or {})
    tiles = _unit_kwargs(granularity, layer_costing, tiles)
    layers = model.layers if units is None else units
    if layers < 1:
        raise XcompassError(f"a mapping needs at least one unit, got {layers}")
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
    if granularity == "tile" and not tiles.get("slots"):
        from xcompass.layer.layercost import request_groups

        tiles["slots"] = max(
            len(g) for wl in (workload, *train, *test_workloads) for g in request_groups(wl)
        )

    def contexts(workloads: Sequence[Workload]) -> list[EvalContext]:
        return _contexts(
            model, workloads, target, groups, layers, layer_costing, whole_model, mode,
            granularity, tiles,
        )  # fmt: skip

    train_ctx, test_ctx = contexts(train), contexts(test_workloads)
    unit_graph, allowed = None, None
    if granularity == "layer":
        U = layers
        tps = groups.tp_options
        needs = [
            layer_unit_memory(
                memory_table(model, wl, tps, whole_model=whole_model, **layer_costing), layers
            )
            for wl in (workload, *train_workloads, *test_workloads)
        ]
    else:
        own = [] if not train_workloads else contexts([workload])
        every = [*train_ctx, *test_ctx, *own]
        U = train_ctx[0].U
        if any(ctx.U != U for ctx in every):
            raise XcompassError(
                f"granularity={granularity}: the request batches cut into different unit "
                f"counts ({sorted({ctx.U for ctx in every})}); one static mapping needs one"
            )
        unit_graph = train_ctx[0].units
        needs = [unit_memory(ctx.units, ctx.ut, ctx.table.act_bytes) for ctx in every]
        allowed = np.logical_and.reduce([allowed_placements(ctx) for ctx in every])
        if allowed.all():
            allowed = None
    memory = MemoryCheck.build(UnitMemory.worst(needs), groups, target)
    return SearchProblem(
        model=model,
        workload=workload,
        target=target,
        groups=groups,
        units=U,
        train=train_ctx,
        test=test_ctx,
        memory=memory,
        layer_costing=layer_costing,
        whole_model=whole_model,
        mode=mode,
        granularity=granularity,
        layers=layers,
        unit_graph=unit_graph,
        allowed=allowed,
        tiles=tiles,
    )
