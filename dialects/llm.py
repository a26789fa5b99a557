"""The `llm` dialect: decoder-only LLM graphs and the serving workload they run.

Activations are `tensor<?xFxT>`: the leading dynamic dimension is the token count, bound per
micro-batch when a mapping is costed. Weights are implicit (a linear's in/out features are its
types). Graph ops carry no `Pure` trait on purpose: they model work to be placed, so DCE must
not erase them even when a result is unused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum
from typing import ClassVar

from xcompass.dialects.diagnostics import OpVerifyError
from xcompass.dialects.llm_lowering import (
    COVERS,
    LOWERING_ATTRS,
    LOWERING_OPS,
    PAD_MODE,
    PAD_TILES,
    STAGE_LEVEL,
    STAGE_MODE,
    STAGES,
    verify_padding,
    verify_stages,
)
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    I64,
    ArrayAttr,
    DenseArrayBase,
    DictionaryAttr,
    Float64Type,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    SymbolNameConstraint,
    SymbolRefAttr,
    TensorType,
    UnitAttr,
    i64,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import (
    Attribute,
    Block,
    Dialect,
    Operation,
    Region,
    SpacedOpaqueSyntaxAttribute,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_attr_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import (
    HasParent,
    IsolatedFromAbove,
    IsTerminator,
    NoTerminator,
    SymbolOpInterface,
    SymbolTable,
)

from xcompass.model import workload as core_workload
from xcompass.model.models import LIMITS, MAX_DIM, MAX_EXPERTS, MAX_LAYERS, MAX_VOCAB, ModelConfig
from xcompass.model.workload import MAX_MICROBATCHES, MAX_REQUESTS, MAX_TOKENS, Workload

MAX_FEATURES = MAX_VOCAB
"""Largest feature size of an activation type (the LM head's logits are the widest)."""

# --- enums --------------------------------------------------------------------------------


class RequestKind(StrEnum):
    PREFILL = "prefill"
    DECODE = "decode"
    VERIFY = "verify"


class Activation(StrEnum):
    SILU = "silu"
    GELU = "gelu"
    RELU = "relu"


class NormKind(StrEnum):
    RMS = "rms"
    LAYER = "layer"


@irdl_attr_definition
class RequestKindAttr(EnumAttribute[RequestKind], SpacedOpaqueSyntaxAttribute):
    name = "llm.request_kind"


@irdl_attr_definition
class ActivationAttr(EnumAttribute[Activation], SpacedOpaqueSyntaxAttribute):
    name = "llm.activation"


@irdl_attr_definition
class NormKindAttr(EnumAttribute[NormKind], SpacedOpaqueSyntaxAttribute):
    name = "llm.norm_kind"


def _i64(value: int) -> IntegerAttr:
    return IntegerAttr(value, i64)


# --- shape helpers ------------------------------------------------------------------------


def activation_type(features: int, element: Attribute) -> TensorType:
    """`tensor<?xFxT>`: a token-major activation of `features` features."""
    return TensorType(element, [DYNAMIC_INDEX, features])


def _features(op: Operation, value: SSAValue | Attribute, what: str) -> int:
    """Feature width of a `tensor<?xF>` activation, or a verifier error naming `what`."""
    typ = value.type if isinstance(value, SSAValue) else value
    if not isinstance(typ, TensorType) or len(typ.get_shape()) != 2:
        raise OpVerifyError(op, f"{what} must be a rank-2 tensor<?xFxT>, got {typ}")
    tokens, features = typ.get_shape()
    if tokens != DYNAMIC_INDEX:
        raise OpVerifyError(op, f"{what} must have a dynamic token dimension, got {typ}")
    if features <= 0:
        raise OpVerifyError(op, f"{what} must have a static feature size, got {typ}")
    if features > MAX_FEATURES:
        raise OpVerifyError(
            op, f"{what} has {features:,} features; at most {MAX_FEATURES:,}, got {typ}"
        )
    return features


def _check_gqa(op: Operation, heads: int, kv_heads: int) -> None:
    """Grouped-query attention needs every KV head to serve the same number of query heads."""
    if heads % kv_heads:
        raise OpVerifyError(op, f"heads ({heads}) not divisible by kv_heads ({kv_heads})")


def _positive(op: Operation, **values: IntegerAttr | None) -> None:
    for key, attr in values.items():
        if attr is not None and attr.value.data <= 0:
            hint = (
                " (i64 wraps values of 2^63 or more negative)" if attr.value.data < -(2**31) else ""
            )
            raise OpVerifyError(op, f"{key} must be positive, got {attr.value.data}{hint}")


def _at_most(op: Operation, limit: int, **values: IntegerAttr | None) -> None:
    """The documented size limits (values of 2^63 or more wrap negative in i64 and are caught
    by `_positive`)."""
    for key, attr in values.items():
        if attr is not None and attr.value.data > limit:
            raise OpVerifyError(
                op, f"{key} must be between 1 and {limit:,}, got {attr.value.data:,}"
            )


def _finite_positive(op: Operation, key: str, attr: Attribute | None) -> None:
    if isinstance(attr, FloatAttr) and not (math.isfinite(attr.value.data) and attr.value.data > 0):
        raise OpVerifyError(op, f"{key} must be a finite positive number, got {attr.value.data}")


# --- model and workload -------------------------------------------------------------------


@irdl_op_definition
class ModelOp(IRDLOperation):
    """Hyper-parameters of the model whose graph follows; passes read sizes from here."""

    name = "llm.model"
    sym_name = prop_def(SymbolNameConstraint())
    hidden = prop_def(IntegerAttr[I64])
    layers = prop_def(IntegerAttr[I64])
    heads = prop_def(IntegerAttr[I64])
    kv_heads = prop_def(IntegerAttr[I64])
    head_dim = prop_def(IntegerAttr[I64])
    ffn = prop_def(IntegerAttr[I64])
    vocab = prop_def(IntegerAttr[I64])
    mlp = prop_def(ActivationAttr)
    gated = opt_prop_def(UnitAttr)
    norm = prop_def(NormKindAttr)
    experts = opt_prop_def(IntegerAttr[I64])
    top_k = opt_prop_def(IntegerAttr[I64])
    window = opt_prop_def(IntegerAttr[I64])
    dtype = prop_def(TypeAttribute)
    traits = traits_def(SymbolOpInterface())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = (
        "$sym_name `hidden` $hidden `layers` $layers `heads` $heads `kv_heads` $kv_heads"
        " `head_dim` $head_dim `ffn` $ffn `vocab` $vocab `mlp` $mlp (`gated` $gated^)?"
        " `norm` $norm (`experts` $experts^ `top_k` $top_k)? (`window` $window^)?"
        " `:` $dtype attr-dict"
    )

    def verify_(self) -> None:
        _positive(
            self,
            hidden=self.hidden,
            layers=self.layers,
            heads=self.heads,
            kv_heads=self.kv_heads,
            head_dim=self.head_dim,
            ffn=self.ffn,
            vocab=self.vocab,
            experts=self.experts,
            top_k=self.top_k,
            window=self.window,
        )
        for key in ("hidden", "layers", "heads", "kv_heads", "head_dim", "ffn", "vocab"):
            _at_most(self, LIMITS[key][1], **{key: getattr(self, key)})
        _at_most(self, MAX_EXPERTS, experts=self.experts, top_k=self.top_k)
        _at_most(self, MAX_TOKENS, window=self.window)
        eps = self.attributes.get("norm_eps")
        _finite_positive(self, "norm_eps", eps)
        if isinstance(eps, FloatAttr) and eps.value.data >= 1:
            raise OpVerifyError(self, f"norm_eps must be in (0, 1), got {eps.value.data}")
        max_pos = self.attributes.get("max_pos")
        if isinstance(max_pos, IntegerAttr) and not 1 <= max_pos.value.data <= LIMITS["max_pos"][1]:
            raise OpVerifyError(
                self,
                f"max_pos must be between 1 and {LIMITS['max_pos'][1]:,}, got {max_pos.value.data}",
            )
        heads, kv = self.heads.value.data, self.kv_heads.value.data
        _check_gqa(self, heads, kv)
        hidden, head_dim = self.hidden.value.data, self.head_dim.value.data
        if hidden != heads * head_dim:
            raise OpVerifyError(
                self, f"hidden ({hidden}) != heads ({heads}) x head_dim ({head_dim})"
            )
        if (self.experts is None) != (self.top_k is None):
            raise OpVerifyError(self, "experts and top_k go together")
        if self.experts is not None and self.top_k.value.data > self.experts.value.data:
            raise OpVerifyError(
                self,
                f"top_k ({self.top_k.value.data}) exceeds experts ({self.experts.value.data})",
            )


@irdl_op_definition
class WorkloadOp(IRDLOperation):
    """A serving step: its requests and the micro-batches that group them."""

    name = "llm.workload"
    sym_name = prop_def(SymbolNameConstraint())
    body = region_def("single_block")
    traits = traits_def(SymbolOpInterface(), SymbolTable(), NoTerminator())
    assembly_format = "$sym_name $body attr-dict"

    def __init__(self, sym_name: str, ops: Sequence[Operation]):
        super().__init__(
            properties={"sym_name": StringAttr(sym_name)}, regions=[Region(Block(ops))]
        )

    def verify_(self) -> None:
        seen: dict[str, str] = {}
        total = sum(r.multiplicity for r in self.requests if r.multiplicity > 0)
        if total > MAX_REQUESTS:
            raise OpVerifyError(
                self, f"holds {total:,} requests (counts included); at most {MAX_REQUESTS:,}"
            )
        if len(self.microbatches) > MAX_MICROBATCHES:
            raise OpVerifyError(
                self,
                f"holds {len(self.microbatches):,} micro-batches; at most {MAX_MICROBATCHES:,}",
            )
        for op in self.body.ops:
            if not isinstance(op, RequestOp | MicroBatchOp):
                raise OpVerifyError(
                    self, f"may only hold llm.request and llm.microbatch, got {op.name}"
                )
            if isinstance(op, MicroBatchOp):
                for ref in op.requests.data:
                    req = ref.root_reference.data
                    if req in seen:
                        raise OpVerifyError(
                            op, f"request @{req} already belongs to micro-batch @{seen[req]}"
                        )
                    seen[req] = op.sym_name.data

    @property
    def requests(self) -> list[RequestOp]:
        return [op for op in self.body.ops if isinstance(op, RequestOp)]

    @property
    def microbatches(self) -> list[MicroBatchOp]:
        return [op for op in self.body.ops if isinstance(op, MicroBatchOp)]


@irdl_op_definition
class RequestOp(IRDLOperation):
    """`count` identical requests: prefill LEN, decode CTX, or verify CTX + DRAFT."""

    name = "llm.request"
    sym_name = prop_def(SymbolNameConstraint())
    kind = prop_def(RequestKindAttr)
    length = prop_def(IntegerAttr[I64])
    draft = opt_prop_def(IntegerAttr[I64])
    count = opt_prop_def(IntegerAttr[I64])
    traits = traits_def(SymbolOpInterface(), HasParent(WorkloadOp))
    assembly_format = "$sym_name $kind $length (`+` $draft^)? (`x` $count^)? attr-dict"

    def __init__(
        self,
        sym_name: str,
        kind: RequestKind,
        length: int,
        draft: int | None = None,
        count: int = 1,
    ):
        props: dict[str, Attribute] = {
            "sym_name": StringAttr(sym_name),
            "kind": RequestKindAttr(kind),
            "length": _i64(length),
        }
        if draft is not None:
            props["draft"] = _i64(draft)
        if count != 1:
            props["count"] = _i64(count)
        super().__init__(properties=props)

    def verify_(self) -> None:
        _positive(self, length=self.length, draft=self.draft, count=self.count)
        _at_most(self, MAX_TOKENS, length=self.length, draft=self.draft)
        _at_most(self, MAX_REQUESTS, count=self.count)
        if self.draft is not None and self.length.value.data + self.draft.value.data > MAX_TOKENS:
            raise OpVerifyError(
                self,
                f"length + draft = {self.length.value.data + self.draft.value.data:,} tokens; "
                f"at most {MAX_TOKENS:,} per request",
            )
        is_verify = self.kind.data is RequestKind.VERIFY
        if is_verify and self.draft is None:
            raise OpVerifyError(self, "verify needs a draft length: verify CTX + DRAFT")
        if not is_verify and self.draft is not None:
            raise OpVerifyError(self, f"{self.kind.data} takes no draft length")

    @property
    def multiplicity(self) -> int:
        return 1 if self.count is None else self.count.value.data


@irdl_op_definition
class MicroBatchOp(IRDLOperation):
    """Requests scheduled together as one unit of the mapping."""

    name = "llm.microbatch"
    sym_name = prop_def(SymbolNameConstraint())
    requests = prop_def(ArrayAttr[SymbolRefAttr])
    traits = traits_def(SymbolOpInterface(), HasParent(WorkloadOp))
    assembly_format = "$sym_name $requests attr-dict"

    def __init__(self, sym_name: str, requests: Sequence[str]):
        super().__init__(
            properties={
                "sym_name": StringAttr(sym_name),
                "requests": ArrayAttr([SymbolRefAttr(r) for r in requests]),
            }
        )

    def verify_(self) -> None:
        if not self.requests.data:
            raise OpVerifyError(self, f"micro-batch @{self.sym_name.data} holds no request")
        parent = self.parent_op()
        known = (
            {r.sym_name.data for r in parent.requests} if isinstance(parent, WorkloadOp) else set()
        )
        for ref in self.requests.data:
            if ref.root_reference.data not in known:
                raise OpVerifyError(
                    self,
                    f"micro-batch @{self.sym_name.data} names unknown request "
                    f"@{ref.root_reference.data}",
                )


# --- graph ops ----------------------------------------------------------------------------


class _UnaryOp(IRDLOperation):
    """An op whose result has its operand's type (norms, activations, RoPE)."""

    T: ClassVar = VarConstraint("T", AnyAttr())
    input = operand_def(T)
    output = result_def(T)

    def verify_(self) -> None:
        _features(self, self.input, "operand")


@irdl_op_definition
class EmbeddingOp(IRDLOperation):
    """Token ids -> hidden states (a table lookup: `vocab x hidden` weights, no MACs)."""

    name = "llm.embedding"
    ids = operand_def(TensorType)
    output = result_def(TensorType)
    vocab = prop_def(IntegerAttr[I64])
    assembly_format = "$ids `vocab` $vocab attr-dict `:` type($ids) `->` type($output)"

    def verify_(self) -> None:
        _positive(self, vocab=self.vocab)
        _at_most(self, MAX_VOCAB, vocab=self.vocab)
        ids = self.ids.type
        if not isinstance(ids, TensorType) or ids.get_shape() != (DYNAMIC_INDEX,):
            raise OpVerifyError(self, f"ids must be tensor<?xi32>, got {ids}")
        _features(self, self.output, "result")


@irdl_op_definition
class LinearOp(IRDLOperation):
    """`y = x W (+ b)`; W is `in x out`, the features of the operand and result types."""

    name = "llm.linear"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    bias = opt_prop_def(UnitAttr)
    # llm-pad-tiles' decision (xcompass.dialects.llm_lowering): mode, tile set, covers per M
    pad_mode = opt_attr_def(StringAttr, attr_name=PAD_MODE)
    pad_tiles = opt_attr_def(DenseArrayBase.constr(i64), attr_name=PAD_TILES)
    covers = opt_attr_def(DictionaryAttr, attr_name=COVERS)
    assembly_format = "$input (`bias` $bias^)? attr-dict `:` type($input) `->` type($output)"

    def verify_(self) -> None:
        _features(self, self.input, "operand")
        _features(self, self.output, "result")
        if self.input.type.element_type != self.output.type.element_type:
            raise OpVerifyError(self, "operand and result element types differ")
        verify_padding(self)

    @property
    def in_features(self) -> int:
        return self.input.type.get_shape()[1]

    @property
    def out_features(self) -> int:
        return self.output.type.get_shape()[1]


@irdl_op_definition
class LMHeadOp(IRDLOperation):
    """Final projection to vocabulary logits."""

    name = "llm.lm_head"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"

    def verify_(self) -> None:
        _features(self, self.input, "operand")
        _features(self, self.output, "result")


class _NormOp(_UnaryOp):
    """A normalization over the feature dimension with its epsilon."""

    eps = prop_def(FloatAttr[Float64Type])
    assembly_format = "$input `eps` $eps attr-dict `:` type($input)"

    def verify_(self) -> None:
        super().verify_()
        _finite_positive(self, "eps", self.eps)


@irdl_op_definition
class RMSNormOp(_NormOp):
    name = "llm.rmsnorm"


@irdl_op_definition
class LayerNormOp(_NormOp):
    name = "llm.layernorm"


@irdl_op_definition
class RoPEOp(_UnaryOp):
    """Rotary position embedding over `heads` heads of the operand."""

    name = "llm.rope"
    heads = prop_def(IntegerAttr[I64])
    theta = prop_def(FloatAttr[Float64Type])
    assembly_format = "$input `heads` $heads `theta` $theta attr-dict `:` type($input)"

    def verify_(self) -> None:
        features = _features(self, self.input, "operand")
        _positive(self, heads=self.heads)
        _at_most(self, MAX_DIM, heads=self.heads)
        _finite_positive(self, "theta", self.theta)
        if features % self.heads.value.data:
            raise OpVerifyError(
                self, f"features ({features}) not divisible by heads ({self.heads.value.data})"
            )


@irdl_op_definition
class SiLUOp(_UnaryOp):
    name = "llm.silu"
    assembly_format = "$input attr-dict `:` type($input)"


@irdl_op_definition
class GeLUOp(_UnaryOp):
    name = "llm.gelu"
    assembly_format = "$input attr-dict `:` type($input)"


@irdl_op_definition
class ReLUOp(_UnaryOp):
    name = "llm.relu"
    assembly_format = "$input attr-dict `:` type($input)"


class _BinaryOp(IRDLOperation):
    T: ClassVar = VarConstraint("T", AnyAttr())
    lhs = operand_def(T)
    rhs = operand_def(TensorType)
    output = result_def(T)
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)"

    def verify_(self) -> None:
        a = _features(self, self.lhs, "lhs")
        b = _features(self, self.rhs, "rhs")
        if a != b:
            raise OpVerifyError(self, f"operand feature sizes differ ({a} vs {b})")
        if self.lhs.type != self.rhs.type:
            raise OpVerifyError(self, f"operand types differ ({self.lhs.type} vs {self.rhs.type})")


@irdl_op_definition
class AddOp(_BinaryOp):
    """Residual add."""

    name = "llm.add"


@irdl_op_definition
class MulOp(_BinaryOp):
    """Element-wise multiply of a gated MLP (`act(gate) * up`)."""

    name = "llm.mul"


@irdl_op_definition
class AttentionOp(IRDLOperation):
    """Scaled dot-product attention with GQA, per request of the micro-batch.

    Each request attends over its own history plus its new tokens; `causal` masks future
    tokens, `window` limits each token to the last `window` keys (sliding window).
    """

    name = "llm.attention"
    q = operand_def(TensorType)
    k = operand_def(TensorType)
    v = operand_def(TensorType)
    output = result_def(TensorType)
    heads = prop_def(IntegerAttr[I64])
    kv_heads = prop_def(IntegerAttr[I64])
    head_dim = prop_def(IntegerAttr[I64])
    causal = opt_prop_def(UnitAttr)
    window = opt_prop_def(IntegerAttr[I64])
    # llm-stage-attention's decision (xcompass.dialects.llm_lowering): mode, level, stages
    stage_mode = opt_attr_def(StringAttr, attr_name=STAGE_MODE)
    stage_level = opt_attr_def(StringAttr, attr_name=STAGE_LEVEL)
    stages = opt_attr_def(DictionaryAttr, attr_name=STAGES)
    assembly_format = (
        "$q `,` $k `,` $v `heads` $heads `kv_heads` $kv_heads `head_dim` $head_dim"
        " (`causal` $causal^)? (`window` $window^)? attr-dict"
        " `:` type($q) `,` type($k) `,` type($v) `->` type($output)"
    )

    def verify_(self) -> None:
        _positive(
            self,
            heads=self.heads,
            kv_heads=self.kv_heads,
            head_dim=self.head_dim,
            window=self.window,
        )
        _at_most(self, MAX_DIM, heads=self.heads, kv_heads=self.kv_heads, head_dim=self.head_dim)
        _at_most(self, MAX_TOKENS, window=self.window)
        heads, kv, hd = (a.value.data for a in (self.heads, self.kv_heads, self.head_dim))
        _check_gqa(self, heads, kv)
        for value, n, what in (
            (self.q, heads, "q"),
            (self.output, heads, "result"),
            (self.k, kv, "k"),
            (self.v, kv, "v"),
        ):
            got = _features(self, value, what)
            if got != n * hd:
                raise OpVerifyError(
                    self, f"{what} has {got} features, expected {n} heads x {hd} = {n * hd}"
                )
        verify_stages(self)


@irdl_op_definition
class MoEOp(IRDLOperation):
    """Mixture-of-experts MLP: each token runs `top_k` of `experts` (gated) MLPs of width `ffn`."""

    name = "llm.moe"
    T: ClassVar = VarConstraint("T", AnyAttr())
    input = operand_def(T)
    router = operand_def(TensorType)
    output = result_def(T)
    experts = prop_def(IntegerAttr[I64])
    top_k = prop_def(IntegerAttr[I64])
    ffn = prop_def(IntegerAttr[I64])
    act = prop_def(ActivationAttr)
    gated = opt_prop_def(UnitAttr)
    assembly_format = (
        "$input `,` $router `experts` $experts `top_k` $top_k `ffn` $ffn `act` $act"
        " (`gated` $gated^)? attr-dict `:` type($input) `,` type($router)"
    )

    def verify_(self) -> None:
        _positive(self, experts=self.experts, top_k=self.top_k, ffn=self.ffn)
        _at_most(self, MAX_EXPERTS, experts=self.experts, top_k=self.top_k)
        _at_most(self, MAX_DIM, ffn=self.ffn)
        _features(self, self.input, "operand")
        experts, top_k = self.experts.value.data, self.top_k.value.data
        if top_k > experts:
            raise OpVerifyError(self, f"top_k ({top_k}) exceeds experts ({experts})")
        if (got := _features(self, self.router, "router")) != experts:
            raise OpVerifyError(self, f"router has {got} features, expected {experts} experts")


@irdl_op_definition
class LayerOp(IRDLOperation):
    """One decoder layer: the unit that the mapping places on chiplets."""

    name = "llm.layer"
    index = prop_def(IntegerAttr[I64])
    inputs = var_operand_def(TensorType)
    outputs = var_result_def(TensorType)
    body = region_def("single_block")
    traits = traits_def(IsolatedFromAbove())
    assembly_format = (
        "$index ` ` `(` $inputs `)` attr-dict `:` functional-type($inputs, $outputs) $body"
    )

    def verify_(self) -> None:
        if not 0 <= self.index.value.data < MAX_LAYERS:
            raise OpVerifyError(
                self,
                f"layer index must be between 0 and {MAX_LAYERS - 1}, got {self.index.value.data}",
            )
        block = self.body.block
        arg_types = [a.type for a in block.args]
        in_types = [v.type for v in self.inputs]
        if arg_types != in_types:
            raise OpVerifyError(
                self,
                f"layer {self.index.value.data}: block arguments {arg_types} "
                f"do not match inputs {in_types}",
            )
        term = block.last_op
        if not isinstance(term, YieldOp):
            raise OpVerifyError(self, f"layer {self.index.value.data} must end with llm.yield")
        got = [v.type for v in term.values]
        want = [r.type for r in self.outputs]
        if got != want:
            raise OpVerifyError(
                self,
                f"layer {self.index.value.data} yields "
                f"({', '.join(map(str, got))}) but returns ({', '.join(map(str, want))})",
            )


@irdl_op_definition
class YieldOp(IRDLOperation):
    name = "llm.yield"
    values = var_operand_def(TensorType)
    traits = traits_def(IsTerminator(), HasParent(LayerOp))
    assembly_format = "($values^ `:` type($values))? attr-dict"


LLM = Dialect(
    "llm",
    [
        ModelOp,
        WorkloadOp,
        RequestOp,
        MicroBatchOp,
        EmbeddingOp,
        LinearOp,
        LMHeadOp,
        RMSNormOp,
        LayerNormOp,
        RoPEOp,
        SiLUOp,
        GeLUOp,
        ReLUOp,
        AddOp,
        MulOp,
        AttentionOp,
        MoEOp,
        LayerOp,
        YieldOp,
        *LOWERING_OPS,
    ],
    [RequestKindAttr, ActivationAttr, NormKindAttr, *LOWERING_ATTRS],
)


# --- IR -> core data ------------------------------------------------------------------------


def model_config(op: ModelOp) -> ModelConfig:
    """The core's view of an `llm.model` op."""
    opt = lambda a: a.value.data if a is not None else 0  # noqa: E731
    eps = op.attributes.get("norm_eps")
    return ModelConfig(
        name=op.sym_name.data,
        hidden=op.hidden.value.data,
        layers=op.layers.value.data,
        heads=op.heads.value.data,
        kv_heads=op.kv_heads.value.data,
        head_dim=op.head_dim.value.data,
        ffn=op.ffn.value.data,
        vocab=op.vocab.value.data,
        mlp=op.mlp.data.value,
        gated=op.gated is not None,
        norm=op.norm.data.value,
        norm_eps=eps.value.data if isinstance(eps, FloatAttr) else 1e-5,
        window=opt(op.window),
        experts=opt(op.experts) or 1,
        top_k=opt(op.top_k) or 1,
        dtype=_DTYPE_NAMES.get(type(op.dtype).__name__, "bf16"),
    )


_DTYPE_NAMES = {"BFloat16Type": "bf16", "Float16Type": "f16", "Float32Type": "f32"}


def workload_data(op: WorkloadOp) -> Workload:
    """The core's view of an `llm.workload` op."""
    requests = []
    for r in op.requests:
        kind = core_workload.RequestKind(r.kind.data.value)
        length, n = r.length.value.data, r.multiplicity
        if kind is core_workload.RequestKind.PREFILL:
            requests.append(core_workload.Request(r.sym_name.data, kind, 0, length, n))
        elif kind is core_workload.RequestKind.DECODE:
            requests.append(core_workload.Request(r.sym_name.data, kind, length, 1, n))
        else:
            draft = r.draft.value.data
            requests.append(core_workload.Request(r.sym_name.data, kind, length, draft, n))
    mbs = tuple(
        core_workload.MicroBatch(
            mb.sym_name.data, tuple(ref.root_reference.data for ref in mb.requests.data)
        )
        for mb in op.microbatches
    )
    return Workload(tuple(requests), mbs, op.sym_name.data)


def find_model_and_workload(module: Operation) -> tuple[ModelOp | None, WorkloadOp | None]:
    model = next((o for o in module.walk() if isinstance(o, ModelOp)), None)
    workload = next((o for o in module.walk() if isinstance(o, WorkloadOp)), None)
    return model, workload


def build_workload_op(workload: Workload) -> WorkloadOp:
    """The IR of a core workload (requests, then micro-batches)."""
    ops: list[Operation] = []
    for req in workload.requests:
        kind = RequestKind(req.kind.value)
        if kind is RequestKind.PREFILL:
            ops.append(RequestOp(req.name, kind, req.new_tokens, count=req.count))
        elif kind is RequestKind.DECODE:
            ops.append(RequestOp(req.name, kind, req.context, count=req.count))
        else:
            ops.append(RequestOp(req.name, kind, req.context, req.new_tokens, req.count))
    ops.extend(MicroBatchOp(mb.name, mb.requests) for mb in workload.microbatches)
    return WorkloadOp(workload.name, ops)
