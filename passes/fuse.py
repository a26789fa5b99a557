"""`llm-fuse{theta siblings eltwise prologue epilogue allow-chain level}`: THInfer's
density-driven fusion. Each fused group becomes an `llm.fused` region recording its kinds,
anchor, level and the DRAM bytes per token it saves; the cost model charges it one kernel."""

from __future__ import annotations

from dataclasses import dataclass

from xcompass.dialects import llm
from xcompass.dialects.llm_lowering import FusedOp, FusedYieldOp
from xcompass.passes.ir_bridge import LayerIR, read_layer
from xcompass.passes.lowering_common import (
    LoweringInput,
    check_level,
    check_positive,
    read_input,
)
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from xcompass.hardware.targets import OnChipLevel
from xcompass.layer.fusion import FuseOptions, Group, plan_fusion
from xcompass.layer.graph import INPUT
from xcompass.layer.kernels import unit_order

NAME = "llm-fuse"


def build_fused(
    lay: LayerIR, group: Group, values: list[SSAValue], rewriter: PatternRewriter
) -> FusedOp:
    """The `llm.fused` region of a group: its members cloned inside, external values as block
    arguments, values read after it yielded. `values[i]` is node i's current value (INPUT:
    -1, the layer's argument); it is updated to the fused op's results, and every use outside
    the group is redirected to them through `rewriter`."""
    g = lay.graph
    inside = set(group.nodes)
    members = {lay.ops[j] for j in inside}
    reads = list(
        dict.fromkeys(v for i in group.nodes for v in g.nodes[i].inputs if v not in inside)
    )
    writes = [
        i for i in group.nodes if i == g.output or any(c not in inside for c in g.consumers[i])
    ]
    block = Block(arg_types=[values[v].type for v in reads])
    mapping: dict[SSAValue, SSAValue] = {}
    for arg, v in zip(block.args, reads, strict=True):
        source = values[v].name_hint if v == INPUT else g.nodes[v].name
        arg.name_hint = f"{source}_in" if source else None
        mapping[values[v]] = arg
    for i in group.nodes:
        clone = lay.ops[i].clone(value_mapper=mapping)
        block.add_op(clone)
        for old, new in zip(lay.ops[i].results, clone.results, strict=True):
            mapping[old] = new
    block.add_op(FusedYieldOp.create(operands=[mapping[values[i]] for i in writes]))
    names = [g.nodes[i].name for i in group.nodes]
    anchor = "+".join(g.nodes[i].name for i in group.anchor)
    fused = FusedOp(
        "+".join(names),
        group.kinds,
        anchor,
        group.level,
        group.saved,
        [values[v] for v in reads],
        [values[i].type for i in writes],
        Region(block),
    )
    for result, i in zip(fused.outputs, writes, strict=True):
        result.name_hint = f"{g.nodes[i].name}_out"
        rewriter.replace_uses_with_if(values[i], result, lambda use: use.operation not in members)
        values[i] = result  # later groups read the fused result
    return fused


@dataclass
class FuseLayer(RewritePattern):
    """Plan an `llm.layer`'s fusion (xcompass.layer.fusion) and rewrite it: its ops reordered into
    their kernels' order, each group wrapped in `llm.fused`. A layer already fused is left."""

    src: LoweringInput
    options: FuseOptions
    level: OnChipLevel | None

    @op_type_rewrite_pattern
    def match_and_rewrite(self, layer: llm.LayerOp, rewriter: PatternRewriter) -> None:
        lay = read_layer(layer, self.src.dtype_bytes)
        if lay.lowering.groups:
            return
        src = self.src
        groups = plan_fusion(lay.graph, src.chip, src.microbatches, self.options, self.level)
        block = layer.body.block
        values: dict[int, SSAValue] = {INPUT: block.args[0]}
        for i, op in enumerate(lay.ops):
            values[i] = op.results[0]
        ordered = [values[i] for i in range(len(lay.ops))]
        ordered.append(block.args[0])  # index -1
        end = InsertPoint.before(block.last_op)  # the terminator
        dead: set[int] = set()
        for nodes, group in unit_order(lay.graph, groups):
            if group is None:  # a kernel of its own: moved to its place in the order
                moved = lay.ops[nodes[0]]
                moved.detach()
                rewriter.insert(moved, end)
                continue
            rewriter.insert(build_fused(lay, group, ordered, rewriter), end)
            dead.update(group.nodes)
        for i in sorted(dead, reverse=True):  # consumers first: each erased op is unused
            rewriter.erase(lay.ops[i])


@dataclass(frozen=True)
class FusePass(ModulePass):
    """Fuse each layer's ops into kernels by THInfer's density-driven rules (see
    xcompass.layer.fusion). `theta` scales the density threshold (the ridge point); `siblings`,
    `eltwise`, `prologue`, `epilogue` switch the four kinds of fusion; `allow-chain` lets a
    group hold several high-density ops; `level` names the on-chip level the working set must
    fit (default: the target's innermost). A layer already fused is left as it is."""

    name = NAME

    theta: float | int = 1.0
    siblings: bool = True
    eltwise: bool = True
    prologue: bool = True
    epilogue: bool = True
    allow_chain: bool = False
    level: str = ""

    def check_options(self) -> None:
        check_positive(
            NAME, "theta", self.theta, "high density = FLOPs per byte >= theta x ridge point"
        )

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        self.check_options()
        src = read_input(op, NAME)
        check_level(NAME, src.chip, src.target, self.level)
        options = FuseOptions(
            float(self.theta),
            self.siblings,
            self.eltwise,
            self.prologue,
            self.epilogue,
            self.allow_chain,
            self.level,
        )
        level = src.chip.level(self.level) if self.level else None
        pattern = FuseLayer(src, options, level)
        PatternRewriteWalker(pattern, apply_recursively=False).rewrite_module(op)
