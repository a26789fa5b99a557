"""`map-cost{report=FILE.json}`: cost the module's mapping; annotate tasks, write the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from xcompass.dialects.map import to_genome
from xcompass.passes.errors import PassFailure
from xcompass.passes.ir_bridge import find_mapping, read_problem
from xdsl.context import Context
from xdsl.dialects.builtin import FloatAttr, ModuleOp, StringAttr, f64
from xdsl.passes import ModulePass

from xcompass.comm import MODES
from xcompass.errors import XcompassError
from xcompass.fileio import write_atomically
from xcompass.kernels import UNLOWERED, Lowering, layer_kernels
from xcompass.layercost import CostTable, build_cost_table
from xcompass.mapping import Mapping, make_groups
from xcompass.report import build_report, dumps, lowering_summary
from xcompass.schedule import EvalContext, Result, evaluate_mapping
from xcompass.tiles import tile_spec
from xcompass.units import Units, UnitTable, collapse, expand


def write_report(path: str, text: str) -> None:
    try:
        write_atomically(path, text)
    except OSError as exc:
        raise PassFailure(f"map-cost: cannot write report '{path}' ({exc.strerror})") from None


@dataclass(frozen=True)
class MapCostPass(ModulePass):
    """Evaluate the mapping with the cost model: start/end/energy on every task, totals on the
    mapping, and the JSON report when `report` names a file. `mode` is the execution mode:
    `graph` (CUDA-graph-like: no host launch gaps, collectives at their in-graph cost) or
    `eager` (a host launch per kernel, collectives with host synchronisation)."""

    name = "map-cost"

    report: str = ""
    mode: str = "graph"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.mode not in MODES:
            raise PassFailure(
                f"map-cost: option mode={self.mode!r} is not an execution mode "
                f"(valid: {', '.join(MODES)})"
            )
        mapping_op = find_mapping(op)
        if mapping_op is None:
            raise PassFailure("map-cost: the module has no map.mapping (run llm-partition first)")
        problem = read_problem(op, "map-cost")
        tps = sorted({len(t.chiplets) for t in mapping_op.tasks} | {1})
        groups = make_groups(problem.target, tuple(tps))
        mapping = to_genome(mapping_op, problem.microbatch_names, groups)

        granularity = mapping_op.granularity_name

        def cost(
            lowering: Lowering, place: Callable[[Units], Mapping]
        ) -> tuple[CostTable, Result, Units, UnitTable, Mapping]:
            """Cost `lowering` of the layer with the mapping `place` gives for its units."""
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
            ectx = EvalContext(
                table, groups, problem.target, problem.layers, granularity, tiles=spec
            )
            placed = place(ectx.units)
            return table, evaluate_mapping(ectx, placed), ectx.units, ectx.ut, placed

        def as_written(units: Units) -> Mapping:
            if units.count != mapping.place.shape[1]:
                raise XcompassError(
                    f"the mapping places {mapping.place.shape[1]} units; granularity "
                    f"'{granularity}' cuts this module's {problem.layers} layers into "
                    f"{units.count}"
                )
            return mapping

        layer = problem.layer
        extra: dict[str, Any] = {"lowering": lowering_summary(layer.graph, layer.lowering)}
        try:
            table, result, units, unit_table, _ = cost(layer.lowering, as_written)
            # the same mapping without the lowering: the unlowered units where their layers'
            # units go (a unit mapping that splits a layer has no such twin)
            whole = mapping if granularity == "layer" else collapse(mapping, units)
            if layer.lowering != UNLOWERED and whole is not None:
                base_table, base, *_ = cost(
                    UNLOWERED,
                    (lambda u: whole) if granularity == "layer" else partial(expand, whole),
                )
                latency = float(base.latency_s[0])
                extra["unlowered"] = {
                    "latency_s": latency,
                    "energy_j": float(base.energy_j[0]),
                    "throughput_tok_s": float(base_table.tokens.sum()) / latency
                    if latency
                    else 0.0,
                }
        except XcompassError as exc:
            raise PassFailure(f"map-cost: {exc}") from None
        report = build_report(
            result,
            mapping,
            groups,
            table,
            problem.target,
            problem.workload,
            problem.model.name,
            extra,
            units,
            unit_table,
        )
        for task, entry in zip(mapping_op.tasks, report["per_task"], strict=True):
            for key in ("start_s", "end_s", "energy_j"):
                task.attributes[key] = FloatAttr(entry[key], f64)
        for key in ("latency_s", "energy_j", "edp_js", "throughput_tok_s"):
            mapping_op.attributes[key] = FloatAttr(report[key], f64)
        mapping_op.attributes["mode"] = StringAttr(self.mode)
        if self.report:
            write_report(self.report, dumps(report))
