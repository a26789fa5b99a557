"""`map-cost{report=FILE.json}`: cost the module's mapping; annotate tasks, write the report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xcompass.dialects.map import to_genome
from xcompass.passes.errors import PassFailure
from xcompass.passes.ir_bridge import find_mapping, read_problem
from xdsl.context import Context
from xdsl.dialects.builtin import FloatAttr, ModuleOp, StringAttr, f64
from xdsl.passes import ModulePass

from xcompass.comm import MODES
from xcompass.fileio import write_atomically
from xcompass.kernels import UNLOWERED, Kernel, layer_kernels
from xcompass.layercost import CostTable, build_cost_table
from xcompass.mapping import make_groups
from xcompass.report import build_report, dumps, lowering_summary
from xcompass.schedule import EvalContext, Result, evaluate_mapping
from xcompass.units import Units


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

        def cost(kernels: tuple[Kernel, ...]) -> tuple[CostTable, Result, Units]:
            table = build_cost_table(
                problem.model,
                problem.workload,
                problem.target,
                groups.tp_options,
                whole_model=problem.whole_model,
                mode=self.mode,
                kernels=kernels,
            )
            ectx = EvalContext(
                table, groups, problem.target, problem.layers, mapping_op.granularity_name
            )
            return table, evaluate_mapping(ectx, mapping), ectx.units

        table, result, units = cost(problem.kernels)
        layer = problem.layer
        extra: dict[str, Any] = {"lowering": lowering_summary(layer.graph, layer.lowering)}
        if layer.lowering != UNLOWERED:
            base_table, base, _ = cost(layer_kernels(layer.graph))
            latency = float(base.latency_s[0])
            extra["unlowered"] = {
                "latency_s": latency,
                "energy_j": float(base.energy_j[0]),
                "throughput_tok_s": float(base_table.tokens.sum()) / latency if latency else 0.0,
            }
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
        )
        for task, entry in zip(mapping_op.tasks, report["per_task"], strict=True):
            for key in ("start_s", "end_s", "energy_j"):
                task.attributes[key] = FloatAttr(entry[key], f64)
        for key in ("latency_s", "energy_j", "edp_js", "throughput_tok_s"):
            mapping_op.attributes[key] = FloatAttr(report[key], f64)
        mapping_op.attributes["mode"] = StringAttr(self.mode)
        if self.report:
            write_report(self.report, dumps(report))
