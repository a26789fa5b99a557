"""`llm-partition{strategy=...}`: write a standard mapping of the graph as `map.mapping`."""

from __future__ import annotations

from dataclasses import dataclass

from xcompass.dialects.map import from_genome
from xcompass.passes.errors import PassFailure
from xcompass.passes.ir_bridge import (
    find_mapping,
    problem_chiplets,
    read_problem,
    resplit_workload,
)
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from xcompass.errors import XcompassError
from xcompass.layercost import memory_table
from xcompass.mapping import STRATEGIES, check_memory, make_groups, partition


@dataclass(frozen=True)
class PartitionPass(ModulePass):
    """single | pipeline (balanced stages, pp = stage count, default: all chiplets) |
    tensor (tp) | data (dp replicas, default: all chiplets) | hybrid (tp x pp x dp) |
    pbd (THInfer prefill / KV-buffer / decode pools). `microbatches` re-splits the workload."""

    name = "llm-partition"

    strategy: str = "single"
    tp: int = 1
    pp: int = 0
    dp: int = 1
    microbatches: int = 0

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        where = f"llm-partition{{strategy={self.strategy}}}"
        if self.strategy not in STRATEGIES:
            raise PassFailure(
                f"llm-partition: unknown strategy '{self.strategy}' "
                f"(valid: {', '.join(STRATEGIES)})"
            )
        if self.microbatches:
            try:
                resplit_workload(op, self.microbatches)
            except XcompassError as exc:
                raise PassFailure(f"{where}: microbatches={self.microbatches}: {exc}") from None
        problem = read_problem(op, "llm-partition")
        tps = sorted({1, self.tp})
        if self.strategy == "pbd":  # decode picks its own TP degree
            tps = [t for t in (1, 2, 4, 8) if t <= problem_chiplets(op)]
        groups = make_groups(problem.target, tuple(tps))
        try:
            mapping = partition(
                self.strategy,
                problem.model,
                problem.workload,
                problem.target,
                groups,
                problem.layers,
                tp=self.tp,
                pp=self.pp,
                dp=self.dp,
            )
            table = memory_table(
                problem.model, problem.workload, groups.tp_options, problem.ops, problem.whole_model
            )
            check_memory(mapping, groups, table, problem.target)
        except XcompassError as exc:
            raise PassFailure(f"{where} on {problem.target.name}: {exc}") from None
        new = from_genome("mapping", mapping, problem.microbatch_names, groups)
        new.attributes["strategy"] = StringAttr(self.strategy)
        old = find_mapping(op)
        if old is not None:
            Rewriter.replace_op(old, new)
        else:
            op.body.block.add_op(new)
