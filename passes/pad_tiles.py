"""`llm-pad-tiles{tiles=16,32,64,128,256 mode=virtual|physical}`: XY-Serve's virtual padding.
Each `llm.linear` records the mode and tile set and, for every micro-batch's token count M,
the row tiles covering it: `llm.covers = {m4097 = #llm.cover<virtual, [256 x 16, 16 x 1],
waste = 15>}`. Sibling linears share the cover of their fused GEMM (run llm-fuse first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from xcompass.dialects.llm_lowering import set_pad_policy
from xcompass.passes.errors import PassFailure, check_choices
from xcompass.passes.lowering_common import read_input
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from xcompass.layer.lowering import plan_padding
from xcompass.layer.padding import MODES

NAME = "llm-pad-tiles"


@dataclass(frozen=True)
class PadTilesPass(ModulePass):
    """Cover each GEMM's M with tiles from `tiles` (default: the target's tile set), choosing
    per micro-batch the tile or mix of tiles the cost model finds fastest (wave quantization
    over the units included). `virtual` reads and writes only real rows; `physical` copies
    the activations into a buffer padded to one tile size and the real rows back out."""

    name = NAME

    tiles: tuple[int, ...] = ()
    mode: Literal[MODES] = "virtual"

    def check_options(self) -> None:
        check_choices(self)
        for t in self.tiles:
            if isinstance(t, bool) or not isinstance(t, int) or t <= 0:
                raise PassFailure(
                    f"{NAME}: option tiles={','.join(map(str, self.tiles))} is out of range: "
                    f"tile {t} must be a positive number of rows"
                )

    def check_tiles(self, chip_name: str, target_name: str, hw: int) -> None:
        for t in self.tiles:
            if t % hw:
                raise PassFailure(
                    f"{NAME} on {target_name}: option tiles={','.join(map(str, self.tiles))} is "
                    f"out of range: tile {t} is not a multiple of {chip_name}'s hardware tile "
                    f"({hw} rows; valid tiles: {hw}, {2 * hw}, {3 * hw}, ...)"
                )

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        self.check_options()
        src = read_input(op, NAME)
        self.check_tiles(src.chip.kind, src.target.name, src.chip.hw_tile_m)
        for _, lay in src.read():
            policies = dict(
                plan_padding(
                    lay.graph, lay.lowering, src.chip, src.microbatches, self.mode, self.tiles
                )
            )
            for node, ir_op in zip(lay.graph.nodes, lay.ops, strict=True):
                policy = policies.get(node.name)
                if policy is None:
                    continue
                set_pad_policy(ir_op, policy)
