"""What the lowering passes record in `llm` IR (ops and attributes of the `llm` dialect).

- `llm.fused` (llm-fuse): a region whose ops run as one kernel, with the fusions that formed
  it, its high-density anchor, the on-chip level its working set targets and the DRAM bytes per
  token it saves; `llm.fused_yield` returns the values later kernels read.
- `#llm.stage<mode, br = .., bc = .., buffers = .., level = "..", kv_passes = ..>`
  (llm-stage-attention): how one request shape's attention runs; an `llm.attention` op carries
  `llm.stage_mode`, `llm.stage_level` and `llm.stages = {q512_ctx0 = #llm.stage<...>, ...}`.
- `#llm.cover<virtual, [256 x 16, 16 x 1], waste = 15>` (llm-pad-tiles): the row tiles that
  cover one token count; an `llm.linear` carries `llm.pad_mode`, `llm.pad_tiles` and
  `llm.covers = {m4097 = #llm.cover<...>, ...}`.

The decisions are optional attributes the ops declare (`llm.attention`, `llm.linear` in
`xcompass.dialects.llm`) and verify where they live (`verify_stages`, `verify_padding`); the
passes write them with `set_stage_policy` / `set_pad_policy` and read them back with
`stage_policy` / `pad_policy`, so the names and their checks are in one place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from xcompass.dialects.diagnostics import OpVerifyError
from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    DenseArrayBase,
    DictionaryAttr,
    IntAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    i64,
)
from xdsl.ir import Attribute, Operation, ParametrizedAttribute
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

from xcompass.cost.opcost import Cover, Stage
from xcompass.layer.attention import MODES as STAGE_MODES
from xcompass.layer.attention import StagePolicy, shape_key
from xcompass.layer.padding import MODES as PAD_MODES
from xcompass.layer.padding import PadPolicy

_STAGE_FIELDS = ("br", "bc", "buffers", "level", "kv_passes")


@irdl_attr_definition
class StageAttr(ParametrizedAttribute):
    """How one request shape's attention runs (xcompass.cost.opcost.Stage)."""

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
    """Row tiles covering one GEMM token count (xcompass.cost.opcost.Cover)."""

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


# --- the decisions the lowering passes record on llm.attention and llm.linear ----------------

STAGE_MODE, STAGE_LEVEL, STAGES = "llm.stage_mode", "llm.stage_level", "llm.stages"
PAD_MODE, PAD_TILES, COVERS = "llm.pad_mode", "llm.pad_tiles", "llm.covers"
_SHAPE = re.compile(r"q(\d+)_ctx(\d+)")
_ROWS = re.compile(r"m(\d+)")


def _valid(op: Operation, name: str, value: str, valid: Sequence[str]) -> None:
    if value not in valid:
        raise OpVerifyError(op, f"{name} = {value[:40]!r} is not one of {', '.join(valid)}")


def verify_stages(op: Operation) -> None:
    """`llm.stage_mode` (a staging mode), `llm.stage_level` and `llm.stages` (one
    `#llm.stage` per request shape `q<N>_ctx<N>`) come together, mode first."""
    mode, level, stages = (op.attributes.get(k) for k in (STAGE_MODE, STAGE_LEVEL, STAGES))
    if mode is None:
        if level is not None or stages is not None:
            raise OpVerifyError(op, f"{STAGE_LEVEL} and {STAGES} need {STAGE_MODE}")
        return
    assert isinstance(mode, StringAttr) and isinstance(stages, DictionaryAttr | None)
    _valid(op, STAGE_MODE, mode.data, STAGE_MODES)
    if stages is None:
        raise OpVerifyError(op, f"{STAGE_MODE} needs {STAGES} (a #llm.stage per request shape)")
    for key, attr in stages.data.items():
        if _SHAPE.fullmatch(key) is None or not isinstance(attr, StageAttr):
            raise OpVerifyError(
                op, f"{STAGES} entry '{key[:40]}' is not q<N>_ctx<N> = #llm.stage<...>"
            )


def verify_padding(op: Operation) -> None:
    """`llm.pad_mode` (virtual or physical), `llm.pad_tiles` (positive row counts) and
    `llm.covers` (one `#llm.cover` per token count `m<N>`) come together, mode first."""
    mode, tiles, covers = (op.attributes.get(k) for k in (PAD_MODE, PAD_TILES, COVERS))
    if mode is None:
        if tiles is not None or covers is not None:
            raise OpVerifyError(op, f"{PAD_TILES} and {COVERS} need {PAD_MODE}")
        return
    assert isinstance(mode, StringAttr) and isinstance(covers, DictionaryAttr | None)
    _valid(op, PAD_MODE, mode.data, PAD_MODES)
    if not isinstance(tiles, DenseArrayBase) or covers is None:
        raise OpVerifyError(op, f"{PAD_MODE} needs {PAD_TILES} and {COVERS}")
    if any(t <= 0 for t in tiles.get_values()):
        raise OpVerifyError(op, f"{PAD_TILES} must be positive row counts")
    for key, attr in covers.data.items():
        if _ROWS.fullmatch(key) is None or not isinstance(attr, CoverAttr):
            raise OpVerifyError(op, f"{COVERS} entry '{key[:40]}' is not m<N> = #llm.cover<...>")


def set_stage_policy(op: Operation, policy: StagePolicy) -> None:
    op.attributes[STAGE_MODE] = StringAttr(policy.mode)
    op.attributes[STAGE_LEVEL] = StringAttr(policy.level)
    op.attributes[STAGES] = DictionaryAttr(
        {shape_key(q, c): StageAttr.from_stage(s) for (q, c), s in policy.plans}
    )


def stage_policy(op: Operation) -> StagePolicy | None:
    """What llm-stage-attention recorded on an attention op (None: not staged); the op's
    verifier has checked it."""
    mode = op.attributes.get(STAGE_MODE)
    if not isinstance(mode, StringAttr):
        return None
    level = op.attributes.get(STAGE_LEVEL, StringAttr(""))
    stages = op.attributes[STAGES]
    assert isinstance(level, StringAttr) and isinstance(stages, DictionaryAttr)
    plans = []
    for key, attr in stages.data.items():
        match = _SHAPE.fullmatch(key)
        assert match is not None and isinstance(attr, StageAttr)
        plans.append(((int(match[1]), int(match[2])), attr.to_stage()))
    return StagePolicy(mode.data, level.data, tuple(plans))


def set_pad_policy(op: Operation, policy: PadPolicy) -> None:
    op.attributes[PAD_MODE] = StringAttr(policy.mode)
    op.attributes[PAD_TILES] = DenseArrayBase.from_list(i64, policy.tiles)
    op.attributes[COVERS] = DictionaryAttr(
        {f"m{m}": CoverAttr.from_cover(c, m) for m, c in policy.plans}
    )


def pad_policy(op: Operation) -> PadPolicy | None:
    """What llm-pad-tiles recorded on a linear op (None: not padded); verified by the op."""
    mode = op.attributes.get(PAD_MODE)
    if not isinstance(mode, StringAttr):
        return None
    tiles, covers = op.attributes[PAD_TILES], op.attributes[COVERS]
    assert isinstance(tiles, DenseArrayBase) and isinstance(covers, DictionaryAttr)
    plans = []
    for key, attr in covers.data.items():
        assert isinstance(attr, CoverAttr)
        plans.append((int(key[1:]), attr.to_cover()))
    return PadPolicy(mode.data, tuple(tiles.get_values()), tuple(plans))
