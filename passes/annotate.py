"""Write a costed mapping into IR: the one writer map-cost, map-autotune and `xcompass explore`
share. The costing itself is the core's (`xcompass.engine.report.cost_mapping`); this module only
turns its report (and a search's provenance) into attributes and ops."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xcompass.dialects.map import MappingOp, from_genome
from xcompass.passes.errors import PassFailure
from xdsl.dialects.builtin import (
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    f64,
    i64,
)
from xdsl.ir import Attribute
from xdsl.rewriter import InsertPoint, Rewriter

from xcompass.engine.mapping import Mapping
from xcompass.engine.report import dumps
from xcompass.fileio import write_atomically

if TYPE_CHECKING:  # the search loads numba: only when a pass runs it
    from xcompass.search import Outcome, SearchProblem

TASK_FIGURES = ("start_s", "end_s", "energy_j")
"""What each `map.task` carries once costed (from the report's `per_task`)."""
MAPPING_FIGURES = ("latency_s", "energy_j", "edp_js", "throughput_tok_s")
"""What a costed `map.mapping` carries (the report's totals), besides `mode`."""


def annotate(op: MappingOp, report: dict[str, Any]) -> None:
    """Write `report`'s figures onto the mapping it was built from: start, end and energy on
    every task (the report lists tasks in the op's order), the totals and the execution mode on
    the mapping."""
    for task, entry in zip(op.tasks, report["per_task"], strict=True):
        for key in TASK_FIGURES:
            task.attributes[key] = FloatAttr(entry[key], f64)
    for key in MAPPING_FIGURES:
        op.attributes[key] = FloatAttr(report[key], f64)
    op.attributes["mode"] = StringAttr(report["mode"])


def write_report(pass_name: str, path: str, report: dict[str, Any]) -> None:
    """A pass's `report=FILE.json`, written atomically; a failure is one line."""
    try:
        write_atomically(path, dumps(report))
    except OSError as exc:
        raise PassFailure(f"{pass_name}: cannot write report '{path}' ({exc.strerror})") from None


def search_mapping_op(
    name: str, mapping: Mapping, microbatches: list[str], search: SearchProblem
) -> MappingOp:
    """`mapping` as `map.mapping @name` at the search's granularity (its units and tiles)."""
    below = search.granularity != "layer"
    tiles = (search.tiles["width"], search.tiles["heads"]) if search.granularity == "tile" else None
    return from_genome(
        name,
        mapping,
        microbatches,
        search.groups,
        search.unit_graph if below else None,
        tiles,
    )


def write_answer(
    module: ModuleOp,
    old: MappingOp | None,
    mapping: Mapping,
    search: SearchProblem,
    outcome: Outcome,
    report: dict[str, Any],
) -> MappingOp:
    """A search's answer as `@mapping`, annotated from its costed `report` (whose `search` is
    the study's summary and `pareto` its front), in place of `old` or appended to `module`; a
    Pareto front follows it as `@pareto_<i>`, fastest first."""
    microbatches = [mb.name for mb in search.workload.microbatches]
    new = search_mapping_op("mapping", mapping, microbatches, search)
    new.attributes["strategy"] = StringAttr("autotune")
    annotate(new, report)
    new.attributes["search"] = provenance(report["search"], outcome)
    if old is not None:
        Rewriter.replace_op(old, new)
    else:
        module.body.block.add_op(new)
    if outcome.best.front is not None:
        anchor = new
        for i, entry in enumerate(report["pareto"]):
            front = outcome.best.front.mapping(i)
            op = search_mapping_op(f"pareto_{i}", front, microbatches, search)
            op.attributes["strategy"] = StringAttr("pareto")
            for key in ("latency_s", "energy_j", "edp_js"):
                op.attributes[key] = FloatAttr(entry[key], f64)
            Rewriter.insert_op(op, InsertPoint.after(anchor))
            anchor = op
    return new


def provenance(summary: dict[str, Any], outcome: Outcome) -> DictionaryAttr:
    """The search's figures as an IR dictionary (scores of the objective, lower is better)."""
    entries: dict[str, Attribute] = {
        "objective": StringAttr(summary["objective"]),
        "method": StringAttr(summary["searched"]),
        "found_by": StringAttr(summary["answer"]["method"]),
        "population": IntegerAttr(summary["population"], i64),
        "generations": IntegerAttr(summary["generations"], i64),
        "budget": IntegerAttr(summary["budget"], i64),
        "seed": IntegerAttr(summary["seed"], i64),
        "evaluations": IntegerAttr(outcome.best.evaluations, i64),
        "seeds": IntegerAttr(summary["seeds"], i64),
        "score": FloatAttr(summary["answer"]["score"], f64),
    }
    for method, figures in summary["methods"].items():
        if method != summary["searched"]:
            entries[f"{method}_score"] = FloatAttr(figures["score"], f64)
    for method, failed in summary["failed"].items():
        entries[f"{method}_failed"] = StringAttr(failed["note"])
    for method, change in summary["improvement_vs"].items():
        entries[f"vs_{method}"] = FloatAttr(change, f64)
    if summary["best_standard"]:
        entries["best_standard"] = StringAttr(summary["best_standard"])
    entries["lower_bound"] = FloatAttr(summary["lower_bound"]["objective"], f64)
    test = summary["answer"].get("test_score")
    if test is not None:
        entries["test_score"] = FloatAttr(test, f64)
    if outcome.best.front is not None:
        entries["front"] = IntegerAttr(len(outcome.best.front), i64)
    return DictionaryAttr(entries)
