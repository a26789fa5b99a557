"""What the lowering passes record in `llm` IR (ops and attributes of the `llm` dialect).

- `llm.fused` (llm-fuse): a region whose ops run as one kernel, with the fusions that formed
  it, its high-density anchor, the on-chip level its working set targets and the DRAM bytes per
  token it saves; `llm.fused_yield` returns the values later kernels read.
- `#llm.stage<mode, br = .., bc = .., buffers = .., level = "..", kv_passes = ..>`
  (llm-stage-attention): how one request shape's attention runs; an `llm.attention` op carries
  `stage_mode`, `stage_level` and `stages = {q512_ctx0 = #llm.stage<...>, ...}`.
- `#llm.cover<virtual, [256 x 16, 16 x 1], waste = 15>` (llm-pad-tiles): the row tiles that
  cover one token count; an `llm.linear` carries `pad_mode`, `pad_tiles` and
  `covers = {m4097 = #llm.cover<...>, ...}`.
"""

from __future__ import annotations

from collections.abc import Sequence

from xcompass.dialects.diagnostics import OpVerifyError
from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    IntAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
)
from xdsl.ir import Attribute, ParametrizedAttribute
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    param_def,
    prop_def,
    region_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import HasParent, IsolatedFromAbove, IsTerminator

from xcompass.attention import MODES as STAGE_MODES
from xcompass.opcost import Cover, Stage

_STAGE_FIELDS = ("br", "bc", "buffers", "level", "kv_passes")


@irdl_attr_definition
class StageAttr(ParametrizedAttribute):
    """How one request shape's attention runs (xcompass.opcost.Stage)."""

    name = "llm.stage"
    mode: StringAttr = param_def()
    br: IntAttr = param_def()
    bc: IntAttr = param_def()
    buffers: IntAttr = param_def()
    level: StringAttr = param_def()
    kv_passes: IntAttr = param_def()

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            mode = parser.parse_identifier("stage mode")
            values: dict[str, Attribute] = {}
            for key in _STAGE_FIELDS:
                parser.parse_punctuation(",")
                parser.parse_keyword(key)
                parser.parse_punctuation("=")
                values[key] = (
                    StringAttr(parser.parse_str_literal())
                    if key == "level"
                    else IntAttr(parser.parse_integer(allow_boolean=False, allow_negative=False))
                )
        if mode not in STAGE_MODES[1:]:
            parser.raise_error(f"unknown stage mode '{mode}' (valid: {', '.join(STAGE_MODES[1:])})")
        return [StringAttr(mode), *(values[k] for k in _STAGE_FIELDS)]

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(
                f"{self.mode.data}, br = {self.br.data}, bc = {self.bc.data}, "
                f"buffers = {self.buffers.data}, level = "
            )
            printer.print_string_literal(self.level.data)
            printer.print_string(f", kv_passes = {self.kv_passes.data}")

    @staticmethod
    def from_stage(stage: Stage) -> StageAttr:
        return StageAttr(
            StringAttr(stage.mode),
            IntAttr(stage.br),
            IntAttr(stage.bc),
            IntAttr(stage.buffers),
            StringAttr(stage.level),
            IntAttr(stage.kv_passes),
        )

    def to_stage(self) -> Stage:
        return Stage(
            self.mode.data,
            self.br.data,
            self.bc.data,
            self.buffers.data,
            self.level.data,
            self.kv_passes.data,
        )


@irdl_attr_definition
class CoverAttr(ParametrizedAttribute):
    """Row tiles covering one GEMM token count (xcompass.opcost.Cover)."""

    name = "llm.cover"
    mode: StringAttr = param_def()
    rows: ArrayAttr[IntAttr] = param_def()
    counts: ArrayAttr[IntAttr] = param_def()
    waste: IntAttr = param_def()

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        def tile() -> tuple[int, int]:
            rows = parser.parse_integer(allow_boolean=False, allow_negative=False)
            parser.parse_keyword("x")
            return rows, parser.parse_integer(allow_boolean=False, allow_negative=False)

        with parser.in_angle_brackets():
            mode = parser.parse_identifier("padding mode")
            if mode not in ("virtual", "physical"):
                parser.raise_error(f"unknown padding mode '{mode}' (valid: virtual, physical)")
            parser.parse_punctuation(",")
            tiles = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, tile)
            parser.parse_punctuation(",")
            parser.parse_keyword("waste")
            parser.parse_punctuation("=")
            waste = parser.parse_integer(allow_boolean=False, allow_negative=False)
        return [
            StringAttr(mode),
            ArrayAttr([IntAttr(r) for r, _ in tiles]),
            ArrayAttr([IntAttr(c) for _, c in tiles]),
            IntAttr(waste),
        ]

    def print_parameters(self, printer: Printer) -> None:
        tiles = ", ".join(
            f"{r.data} x {c.data}" for r, c in zip(self.rows, self.counts, strict=True)
        )
        printer.print_string(f"<{self.mode.data}, [{tiles}], waste = {self.waste.data}>")

    @staticmethod
    def from_cover(cover: Cover, m: int) -> CoverAttr:
        return CoverAttr(
            StringAttr("physical" if cover.physical else "virtual"),
            ArrayAttr([IntAttr(r) for r, _ in cover.tiles]),
            ArrayAttr([IntAttr(c) for _, c in cover.tiles]),
            IntAttr(cover.waste(m)),
        )

    def to_cover(self) -> Cover:
        tiles = tuple((r.data, c.data) for r, c in zip(self.rows, self.counts, strict=True))
        return Cover(tiles, self.mode.data == "physical")


@irdl_op_definition
class FusedOp(IRDLOperation):
    """Ops that run as one kernel (llm-fuse): values inside never go through DRAM.

    `kernel` names it; `kinds` lists the fusions that formed it (siblings, prologue,
    epilogue, eltwise, chain); `anchor` names its high-density op(s) ("" for an element-wise
    chain); `level` is the on-chip level its working set fits; `saves` the DRAM bytes per
    token it no longer moves."""

    name = "llm.fused"
    kernel = prop_def(StringAttr)
    kinds = prop_def(ArrayAttr[StringAttr])
    anchor = prop_def(StringAttr)
    level = prop_def(StringAttr)
    saves = prop_def(IntegerAttr[I64])
    inputs = var_operand_def(TensorType)
    outputs = var_result_def(TensorType)
    body = region_def("single_block")
    traits = traits_def(IsolatedFromAbove())
    assembly_format = (
        "$kernel $kinds `anchor` $anchor `level` $level `saves` $saves ` ` `(` $inputs `)`"
        " attr-dict `:` functional-type($inputs, $outputs) $body"
    )

    def __init__(
        self,
        kernel: str,
        kinds: Sequence[str],
        anchor: str,
        level: str,
        saves: int,
        inputs: Sequence[Attribute],
        outputs: Sequence[Attribute],
        body: Attribute,
    ):
        super().__init__(
            properties={
                "kernel": StringAttr(kernel),
                "kinds": ArrayAttr([StringAttr(k) for k in kinds]),
                "anchor": StringAttr(anchor),
                "level": StringAttr(level),
                "saves": IntegerAttr(saves, 64),
            },
            operands=[inputs],
            result_types=[outputs],
            regions=[body],
        )

    def verify_(self) -> None:
        parent = self.parent_op()
        if parent is None or parent.name != "llm.layer":
            raise OpVerifyError(self, "must be directly inside an llm.layer")
        block = self.body.block
        shown = lambda types: ", ".join(map(str, types))  # noqa: E731
        arg_types, in_types = [a.type for a in block.args], [v.type for v in self.inputs]
        if arg_types != in_types:
            raise OpVerifyError(
                self,
                f"block arguments ({shown(arg_types)}) do not match inputs ({shown(in_types)})",
            )
        term = block.last_op
        if not isinstance(term, FusedYieldOp):
            raise OpVerifyError(self, "must end with llm.fused_yield")
        got, want = [v.type for v in term.values], [r.type for r in self.outputs]
        if got != want:
            raise OpVerifyError(self, f"yields ({shown(got)}) but returns ({shown(want)})")
        for op in block.ops:
            if op.name in ("llm.fused", "llm.layer") or not op.name.startswith("llm."):
                raise OpVerifyError(self, f"may only hold llm graph ops, got {op.name}")
        if self.saves.value.data < 0:
            raise OpVerifyError(self, f"saves must be >= 0, got {self.saves.value.data}")


@irdl_op_definition
class FusedYieldOp(IRDLOperation):
    name = "llm.fused_yield"
    values = var_operand_def(TensorType)
    traits = traits_def(IsTerminator(), HasParent(FusedOp))
    assembly_format = "($values^ `:` type($values))? attr-dict"


LOWERING_OPS = (FusedOp, FusedYieldOp)
LOWERING_ATTRS = (StageAttr, CoverAttr)
