"""The IR half of `xcompass explore`: import the model as `llm` IR, run the lowering pipeline
(the same passes `xcompass-opt` runs), read back the layer as the passes left it, and at the end
write the module with the best mapping, annotated from the report the exploration costed by the
writer `map-autotune` uses (`xcompass.passes.annotate`).
The search between these steps is IR-free (`xcompass.explore`)."""

from __future__ import annotations

from dataclasses import dataclass
from io import StringIO
from typing import Any

from xcompass.dialects.map import MappingOp
from xcompass.passes import DEFAULT_LOWERING, PYTORCH_LOWERING
from xcompass.passes.annotate import search_mapping_op, write_answer
from xcompass.passes.ir_bridge import Problem, read_problem
from xcompass.tools.importer import build_module
from xcompass.tools.opt_options import UsageError, check_option_types, quote_paths
from xcompass.tools.universe import XCOMPASS_UNIVERSE
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.printer import Printer
from xdsl.rewriter import Rewriter
from xdsl.utils.exceptions import DiagnosticException

from xcompass.engine.mapping import Mapping
from xcompass.errors import XcompassError, shown
from xcompass.explore.api import Exploration
from xcompass.layer.lowering import lowering_summary
from xcompass.model.models import ModelConfig
from xcompass.model.workload import Workload
from xcompass.search.problem import SearchProblem

NAMED_LOWERINGS = {"default": DEFAULT_LOWERING, "pytorch": PYTORCH_LOWERING, "none": ""}
LOWERING_PASSES = ("llm-fuse", "llm-stage-attention", "llm-pad-tiles")


def xcompass_context() -> Context:
    ctx = Context()
    for name, factory in XCOMPASS_UNIVERSE.all_dialects.items():
        ctx.register_dialect(name, factory)
    return ctx


def lowering_passes(spec: str) -> tuple[ModulePass, ...]:
    """`--lowering`: a name (default, pytorch, none) or a pipeline of lowering passes with
    options, checked like xcompass-opt checks them (before any work)."""
    where = f"--lowering {shown(spec, 80)}"
    text = NAMED_LOWERINGS.get(spec, spec).strip()
    if text.startswith("builtin.module(") and text.endswith(")"):
        text = text[len("builtin.module(") : -1]
    if not text:
        return ()
    available = XCOMPASS_UNIVERSE.all_passes
    text = quote_paths(text)
    try:
        check_option_types(text, available)
        pipeline = PassPipeline.parse_spec(available, text)
    except UsageError as exc:
        raise XcompassError(f"{where}: {exc}") from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - xDSL's ArgSpecParseError is a BaseException
        detail = " ".join(str(exc).split())[:200]
        raise XcompassError(
            f"{where}: {detail} (valid: {', '.join(NAMED_LOWERINGS)} or a pipeline of "
            f"{', '.join(LOWERING_PASSES)})"
        ) from None
    for p in pipeline.passes:
        if p.name not in LOWERING_PASSES:
            raise XcompassError(
                f"{where}: '{p.name}' is not a lowering pass (valid: {', '.join(LOWERING_PASSES)}; "
                "explore partitions, searches and costs itself)"
            )
        check = getattr(p, "check_options", None)
        if check is not None:
            try:
                check()
            except DiagnosticException as exc:
                raise XcompassError(f"{where}: {exc}") from None
    return tuple(pipeline.passes)


@dataclass
class LoweredModule:
    module: ModuleOp
    problem: Problem

    @property
    def summary(self) -> dict[str, Any]:
        layer = self.problem.layer
        return lowering_summary(layer.graph, layer.lowering)


def lowered_module(
    model: ModelConfig,
    workload: Workload,
    layers: int | None,
    target: str,
    passes: tuple[ModulePass, ...],
) -> LoweredModule:
    """Import, then lower: the module every later step reads."""
    module = build_module(model, workload, layers, target)
    ctx = xcompass_context()
    for p in passes:
        try:
            p.apply(ctx, module)
        except DiagnosticException as exc:
            raise XcompassError(str(exc)) from None
    try:
        problem = read_problem(module, "explore")
    except DiagnosticException as exc:
        raise XcompassError(str(exc)) from None
    return LoweredModule(module, problem)


def module_text(lowered: LoweredModule, result: Exploration) -> str:
    """The lowered module plus the exploration's answer as `@mapping` (and `@pareto_<i>` for a
    front), annotated from the report the exploration already costed, as map-autotune writes
    them: tasks with start/end/energy, totals, the search's provenance."""
    module = lowered.module.clone()
    for op in [op for op in module.ops if isinstance(op, MappingOp)]:
        Rewriter.erase_op(op)
    write_answer(module, None, result.mapping, result.problem, result.outcome, result.report)
    return _text(module)


def _text(module: ModuleOp) -> str:
    text = StringIO()
    Printer(stream=text).print_op(module)
    text.write("\n")
    return text.getvalue()


def interim_module_text(
    lowered: LoweredModule, mapping: Mapping, search: SearchProblem, mode: str, report: str
) -> str:
    """The best mapping so far of an interrupted search, costed by map-cost (which also writes
    its report to `report`): what Ctrl-C leaves on disk besides the checkpoint."""
    from xcompass.passes.map_cost import MapCostPass

    module = lowered.module.clone()
    names = [mb.name for mb in lowered.problem.workload.microbatches]
    module.body.block.add_op(search_mapping_op("mapping", mapping, names, search))
    try:
        MapCostPass(report=report, mode=mode).apply(xcompass_context(), module)
    except DiagnosticException as exc:
        raise XcompassError(str(exc)) from None
    return _text(module)
