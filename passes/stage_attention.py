"""`llm-stage-attention{mode=auto|unfused|decode2|resident3|split4 level=NAME}`: THInfer's staged
attention and XY-Serve's meta-attention. Each `llm.attention` records its mode and level and,
for every request shape of the workload, its stage: `llm.stages = {q512_ctx0 = #llm.stage<...>}`
(mode, Br x Bc tiles, K/V buffers, the level holding the scores, K/V passes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from xcompass.dialects.llm_lowering import set_stage_policy
from xcompass.passes.errors import check_choices
from xcompass.passes.lowering_common import check_level, failure, read_input
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from xcompass.errors import XcompassError
from xcompass.layer.attention import MODES
from xcompass.layer.lowering import plan_attention

NAME = "llm-stage-attention"


@dataclass(frozen=True)
class StageAttentionPass(ModulePass):
    """Stage every attention op: `auto` picks decode2 for one new token, resident3 when a query
    block's score rows fit `level` (default: the innermost per-unit level), split4 otherwise;
    another mode forces it (`unfused`: QK^T, softmax and PV kernels, as unlowered IR)."""

    name = NAME

    mode: Literal[MODES] = "auto"
    level: str = ""

    def check_options(self) -> None:
        check_choices(self)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        self.check_options()
        src = read_input(op, NAME)
        check_level(NAME, src.chip, src.target, self.level)
        for _, lay in src.read():
            try:
                policies = dict(
                    plan_attention(lay.graph, src.chip, src.microbatches, self.mode, self.level)
                )
            except XcompassError as exc:
                raise failure(f"{NAME} on {src.target.name}", exc) from None
            for node, ir_op in zip(lay.graph.nodes, lay.ops, strict=True):
                policy = policies.get(node.name)
                if policy is None:
                    continue
                set_stage_policy(ir_op, policy)
