"""`llm-partition{strategy=...}`: write a standard mapping of the graph as `map.mapping`.

Options are checked before the pass reads anything: an unknown strategy, an option the strategy
does not take (`tp=2` with `strategy=pipeline`) or a non-positive degree is refused at once;
ranges that depend on the machine (`pp` <= chiplets and layers, `dp` <= chiplets, `tp` dividing
the heads and forming a group of the target) are checked once the target is read, before any
mapping is built. Each diagnostic names the option and its valid range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from xcompass.dialects import llm
from xcompass.dialects.map import from_genome
from xcompass.passes.errors import PassFailure, check_choices
from xcompass.passes.ir_bridge import (
    Problem,
    find_mapping,
    read_problem,
    resplit_workload,
)
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from xcompass.engine.granularity import build_units
from xcompass.engine.mapping import STRATEGIES, check_memory, expand, make_groups, partition
from xcompass.engine.tiles import check_tiles, check_tp, tile_spec
from xcompass.engine.units import unit_memory
from xcompass.errors import XcompassError
from xcompass.hardware.targetfile import MAX_CHIPLETS
from xcompass.layer.layercost import build_cost_table, memory_table
from xcompass.model.workload import MAX_MICROBATCHES
from xcompass.names import GRANULARITIES, TILE_HEADS, TILE_WIDTH

TAKES: dict[str, tuple[str, ...]] = {
    "tp": ("tensor", "hybrid"),
    "pp": ("pipeline", "hybrid"),
    "dp": ("data", "hybrid"),
}
"""The strategies that read each degree option (`microbatches` applies to every strategy)."""

MEANING = {
    "tp": "tensor-parallel degree",
    "pp": "pipeline stages",
    "dp": "data-parallel replicas",
}


def _fail(message: str) -> PassFailure:
    return PassFailure(message)


def valid_tp(problem: Problem) -> list[int]:
    """TP degrees a mapping can use: dividing the heads, and a group of same-kind chiplets."""
    largest = max(k.count for k in problem.target.kinds)
    return [t for t in range(1, largest + 1) if problem.model.heads % t == 0]


@dataclass(frozen=True)
class PartitionPass(ModulePass):
    """single | pipeline (balanced stages, pp = stage count, default: all chiplets) |
    tensor (tp) | data (dp replicas, default: all chiplets) | hybrid (tp x pp x dp) |
    pbd (THInfer prefill / KV-buffer / decode pools). `microbatches` re-splits the workload.
    `granularity` = layer (place decoder layers) | group (place each kernel of the lowered
    layers as a unit: the strategy puts every unit where its layer goes) | tile (Compass's
    split: GEMMs in N-tiles of `tile-width` columns, a multiple of the target's hardware tile;
    attention per `tile-heads` heads, which divide the model's heads, and per request group).

    An option left out takes the strategy's default; one given to a strategy that does not
    read it is an error."""

    name = "llm-partition"

    strategy: Literal[STRATEGIES] = "single"
    granularity: Literal[GRANULARITIES] = "layer"
    tp: int | None = None
    pp: int | None = None
    dp: int | None = None
    microbatches: int | None = None
    tile_width: int | None = None
    tile_heads: int | None = None

    @property
    def tiles(self) -> tuple[int, int]:
        """(tile-width, tile-heads), defaults filled in (Compass's: 128 columns, 1 head)."""
        return (self.tile_width or TILE_WIDTH, self.tile_heads or TILE_HEADS)

    def check_options(self) -> None:
        """Everything that can be said without the IR: strategy, applicability, signs."""
        check_choices(self)
        where = f"llm-partition{{strategy={self.strategy}}}"
        for key in (*TAKES, "microbatches", "tile_width", "tile_heads"):
            value = getattr(self, key)
            option = key.replace("_", "-")
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise _fail(f"{where}: option '{option}' expects an integer, got {str(value)[:40]}")
            if key.startswith("tile") and value is not None:
                if self.granularity != "tile":
                    raise _fail(
                        f"{where}: option '{option}' applies to granularity=tile only "
                        f"(granularity={self.granularity})"
                    )
                if value < 1:
                    raise _fail(f"{where}: {option}={value} must be a positive integer")
        for key, strategies in TAKES.items():
            value = getattr(self, key)
            if value is None:
                continue
            if self.strategy not in strategies:
                raise _fail(
                    f"{where}: option '{key}' does not apply to strategy={self.strategy} "
                    f"({key}, the {MEANING[key]}, is taken by strategy={' or '.join(strategies)})"
                )
            low = 2 if (key == "dp" and self.strategy == "data") else 1
            if not low <= value <= MAX_CHIPLETS:
                hint = " (dp=1 is one replica: use strategy=single)" if value == 1 else ""
                raise _fail(
                    f"{where}: {key}={value} is out of range: the {MEANING[key]} must be "
                    f"{low} to the target's chiplet count (at most {MAX_CHIPLETS}){hint}"
                )
        mbs = self.microbatches
        if mbs is not None and not 1 <= mbs <= MAX_MICROBATCHES:
            raise _fail(
                f"{where}: microbatches={mbs} is out of range: must be 1 to {MAX_MICROBATCHES} "
                "(and at most the workload's requests)"
            )

    def check_ranges(self, problem: Problem) -> None:
        """The ranges that depend on the target and the model, before any mapping is built."""
        target, chiplets = problem.target, problem.target.chiplets
        where = f"llm-partition{{strategy={self.strategy}}} on {target.name}"
        if self.tp is not None:
            valid = valid_tp(problem)
            if self.tp not in valid:
                largest = max(k.count for k in target.kinds)
                why = (
                    f"does not divide the model's {problem.model.heads} heads"
                    if problem.model.heads % self.tp
                    else f"needs a group of {self.tp} same-kind chiplets; the largest has {largest}"
                )
                raise _fail(f"{where}: tp={self.tp} {why} (valid tp: {', '.join(map(str, valid))})")
        if self.granularity == "tile":
            try:
                check_tiles(problem.model, target, *self.tiles)
            except XcompassError as exc:
                raise _fail(f"{where}: {exc}") from None
        if self.pp is not None:
            top = min(chiplets, problem.layers)
            if self.pp > top:
                raise _fail(
                    f"{where}: pp={self.pp} is out of range: 1 to {top} stages "
                    f"({target.name} has {chiplets} chiplets, the graph {problem.layers} layers)"
                )
        if self.dp is not None and self.dp > chiplets:
            low = 2 if self.strategy == "data" else 1
            raise _fail(
                f"{where}: dp={self.dp} is out of range: {low} to {chiplets} replicas "
                f"({target.name} has {chiplets} chiplets)"
            )

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        self.check_options()
        where = f"llm-partition{{strategy={self.strategy}}}"
        problem = read_problem(op, "llm-partition")
        self.check_ranges(problem)
        if self.microbatches is not None:
            try:
                resplit_workload(op, self.microbatches)
            except XcompassError as exc:
                raise _fail(f"{where}: microbatches={self.microbatches}: {exc}") from None
            _, workload_op = llm.find_model_and_workload(op)
            problem.workload = llm.workload_data(workload_op)
        tp, pp, dp = self.tp or 1, self.pp or 0, self.dp or 1
        tps = sorted({1, tp})
        if self.strategy == "pbd":  # decode picks its own TP degree
            tps = [t for t in (1, 2, 4, 8) if t <= problem.target.chiplets]
        groups = make_groups(problem.target, tuple(tps))
        try:
            mapping = partition(
                self.strategy,
                problem.model,
                problem.workload,
                problem.target,
                groups,
                problem.layers,
                tp=tp,
                pp=pp,
                dp=dp,
            )
            units = None
            if self.granularity == "layer":
                need = memory_table(
                    problem.model,
                    problem.workload,
                    groups.tp_options,
                    problem.ops,
                    problem.whole_model,
                )
            else:
                table = build_cost_table(
                    problem.model,
                    problem.workload,
                    problem.target,
                    groups.tp_options,
                    whole_model=problem.whole_model,
                    kernels=problem.kernels,
                )
                spec = None
                if self.granularity == "tile":
                    check_tp(*self.tiles, [int(groups.tp[g]) for g in set(mapping.place.flat)])
                    layer = problem.layer
                    spec = tile_spec(
                        problem.model,
                        problem.workload,
                        problem.target,
                        layer.graph,
                        layer.lowering,
                        *self.tiles,
                    )
                units, unit_table = build_units(table, problem.layers, self.granularity, None, spec)
                mapping = expand(mapping, units)
                need = unit_memory(units, unit_table, table.act_bytes)
            check_memory(mapping, groups, need, problem.target)
        except XcompassError as exc:
            raise _fail(f"{where} on {problem.target.name}: {exc}") from None
        tiles = self.tiles if self.granularity == "tile" else None
        new = from_genome("mapping", mapping, problem.microbatch_names, groups, units, tiles)
        new.attributes["strategy"] = StringAttr(self.strategy)
        old = find_mapping(op)
        if old is not None:
            Rewriter.replace_op(old, new)
        else:
            op.body.block.add_op(new)
