"""`map-cost{report=FILE.json}`: cost the module's mapping; annotate tasks, write the report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from xcompass.passes.annotate import annotate, write_report
from xcompass.passes.errors import PassFailure, check_choices
from xcompass.passes.ir_bridge import read_mapping
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from xcompass.engine.context import EvalContext
from xcompass.engine.mapping import collapse, expand
from xcompass.engine.report import cost_mapping
from xcompass.engine.schedule import evaluate_mapping
from xcompass.engine.tiles import tile_spec
from xcompass.engine.units import Units
from xcompass.errors import XcompassError
from xcompass.hardware.comm import MODES
from xcompass.layer.kernels import UNLOWERED, Lowering, layer_kernels
from xcompass.layer.layercost import build_cost_table
from xcompass.layer.lowering import lowering_summary


@dataclass(frozen=True)
class MapCostPass(ModulePass):
    """Evaluate the mapping with the cost model: start/end/energy on every task, totals on the
    mapping, and the JSON report when `report` names a file. `mode` is the execution mode:
    `graph` (CUDA-graph-like: no host launch gaps, collectives at their in-graph cost) or
    `eager` (a host launch per kernel, collectives with host synchronisation)."""

    name = "map-cost"

    report: str = ""
    mode: Literal[MODES] = "graph"

    def check_options(self) -> None:
        check_choices(self)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        self.check_options()
        placed = read_mapping(op, self.name)
        mapping_op, problem, groups, mapping = (
            placed.op,
            placed.problem,
            placed.groups,
            placed.mapping,
        )

        granularity = mapping_op.granularity_name

        def context(lowering: Lowering) -> EvalContext:
            """The engine context of `lowering` of the layer, at the mapping's granularity."""
            kernels = layer_kernels(problem.layer.graph, lowering)
            table = build_cost_table(
                problem.model,
                problem.workload,
                problem.target,
                groups.tp_options,
                whole_model=problem.whole_model,
                mode=self.mode,
                kernels=kernels,
            )
            spec = None
            if granularity == "tile":
                spec = tile_spec(
                    problem.model,
                    problem.workload,
                    problem.target,
                    problem.layer.graph,
                    lowering,
                    *mapping_op.tiles,
                )
            return EvalContext(
                table, groups, problem.target, problem.layers, granularity, tiles=spec
            )

        def as_written(units: Units) -> None:
            """The module's mapping places the units its granularity cuts the layers into."""
            if units.count != mapping.place.shape[1]:
                raise XcompassError(
                    f"the mapping places {mapping.place.shape[1]} units; granularity "
                    f"'{granularity}' cuts this module's {problem.layers} layers into "
                    f"{units.count}"
                )

        layer = problem.layer
        extra: dict[str, Any] = {"lowering": lowering_summary(layer.graph, layer.lowering)}
        try:
            ectx = context(layer.lowering)
            units = ectx.units
            as_written(units)
            # the same mapping without the lowering: the unlowered units where their layers'
            # units go (a unit mapping that splits a layer has no such twin)
            whole = mapping if granularity == "layer" else collapse(mapping, units)
            if layer.lowering != UNLOWERED and whole is not None:
                base_ctx = context(UNLOWERED)
                twin = whole if granularity == "layer" else expand(whole, base_ctx.units)
                base = evaluate_mapping(base_ctx, twin)
                latency = float(base.latency_s[0])
                extra["unlowered"] = {
                    "latency_s": latency,
                    "energy_j": float(base.energy_j[0]),
                    "throughput_tok_s": float(base_ctx.table.tokens.sum()) / latency
                    if latency
                    else 0.0,
                }
            report = cost_mapping(ectx, mapping, problem.workload, problem.model.name, extra).report
        except XcompassError as exc:
            raise PassFailure(f"map-cost: {exc}") from None
        if self.report:
            write_report(self.name, self.report, report)
        annotate(mapping_op, report)
