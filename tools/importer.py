"""Build `llm` IR for a model and a workload through xDSL's Python API.

Building ops directly is an order of magnitude faster than printing text and parsing it, which
matters for 80-126 layer models.
"""

from __future__ import annotations

from xcompass.dialects import llm
from xcompass.dialects.hw import TARGET_ATTR
from xdsl.builder import Builder, InsertPoint
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    BFloat16Type,
    Float16Type,
    Float32Type,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
    f64,
    i8,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from xcompass.model.models import ModelConfig
from xcompass.model.workload import Workload

_ELEMENT = {"bf16": BFloat16Type(), "f16": Float16Type(), "f32": Float32Type(), "i8": i8}


def _int(value: int) -> IntegerAttr:
    return IntegerAttr(value, i64)


def model_op(model: ModelConfig) -> llm.ModelOp:
    props: dict[str, Attribute] = {
        "sym_name": StringAttr(model.symbol),
        "hidden": _int(model.hidden),
        "layers": _int(model.layers),
        "heads": _int(model.heads),
        "kv_heads": _int(model.kv_heads),
        "head_dim": _int(model.head_dim),
        "ffn": _int(model.ffn),
        "vocab": _int(model.vocab),
        "mlp": llm.ActivationAttr(llm.Activation(model.mlp)),
        "norm": llm.NormKindAttr(llm.NormKind(model.norm)),
        "dtype": _ELEMENT[model.dtype],
    }
    if model.gated:
        props["gated"] = UnitAttr()
    if model.experts > 1:
        props["experts"], props["top_k"] = _int(model.experts), _int(model.top_k)
    if model.window:
        props["window"] = _int(model.window)
    attrs = {
        "norm_eps": FloatAttr(model.norm_eps, f64),
        "max_pos": _int(model.max_pos),
    }
    return llm.ModelOp.create(properties=props, attributes=attrs)


class _GraphBuilder:
    """Emits one model's ops at an insertion point, naming values after what they hold."""

    def __init__(self, model: ModelConfig, builder: Builder):
        self.m = model
        self.b = builder
        self.element = _ELEMENT[model.dtype]

    def act(self, features: int) -> TensorType:
        return llm.activation_type(features, self.element)

    def emit(self, op: Operation, hint: str | None = None) -> SSAValue:
        self.b.insert(op)
        if hint is not None and op.results:
            op.results[0].name_hint = hint
        return op.results[0] if op.results else None

    def norm(self, x: SSAValue, hint: str) -> SSAValue:
        cls = llm.RMSNormOp if self.m.norm == "rms" else llm.LayerNormOp
        return self.emit(
            cls.create(
                operands=[x],
                result_types=[x.type],
                properties={"eps": FloatAttr(self.m.norm_eps, f64)},
            ),
            hint,
        )

    def linear(self, x: SSAValue, out: int, hint: str) -> SSAValue:
        props = {"bias": UnitAttr()} if self.m.bias else {}
        op = llm.LinearOp.create(operands=[x], result_types=[self.act(out)], properties=props)
        return self.emit(op, hint)

    def unary(self, cls: type[Operation], x: SSAValue, hint: str, **props: Attribute) -> SSAValue:
        return self.emit(cls.create(operands=[x], result_types=[x.type], properties=props), hint)

    def binary(self, cls: type[Operation], a: SSAValue, b: SSAValue, hint: str) -> SSAValue:
        return self.emit(cls.create(operands=[a, b], result_types=[a.type]), hint)

    def activation(self, x: SSAValue, hint: str) -> SSAValue:
        cls = {"silu": llm.SiLUOp, "gelu": llm.GeLUOp, "relu": llm.ReLUOp}[self.m.mlp]
        return self.unary(cls, x, hint)

    def attention_block(self, h: SSAValue) -> SSAValue:
        m = self.m
        n = self.norm(h, "attn_norm")
        q = self.linear(n, m.q_features, "q")
        k = self.linear(n, m.kv_features, "k")
        v = self.linear(n, m.kv_features, "v")
        if m.rope:
            theta = FloatAttr(500000.0 if m.vocab >= 128000 else 10000.0, f64)
            q = self.unary(llm.RoPEOp, q, "q_rope", heads=_int(m.heads), theta=theta)
            k = self.unary(llm.RoPEOp, k, "k_rope", heads=_int(m.kv_heads), theta=theta)
        props: dict[str, Attribute] = {
            "heads": _int(m.heads),
            "kv_heads": _int(m.kv_heads),
            "head_dim": _int(m.head_dim),
            "causal": UnitAttr(),
        }
        if m.window:
            props["window"] = _int(m.window)
        attn = self.emit(
            llm.AttentionOp.create(
                operands=[q, k, v], result_types=[self.act(m.q_features)], properties=props
            ),
            "attn",
        )
        o = self.linear(attn, m.hidden, "o")
        return self.binary(llm.AddOp, h, o, "h_attn")

    def mlp_block(self, h: SSAValue) -> SSAValue:
        m = self.m
        n = self.norm(h, "mlp_norm")
        if m.experts > 1:
            router = self.linear(n, m.experts, "router")
            props: dict[str, Attribute] = {
                "experts": _int(m.experts),
                "top_k": _int(m.top_k),
                "ffn": _int(m.ffn),
                "act": llm.ActivationAttr(llm.Activation(m.mlp)),
            }
            if m.gated:
                props["gated"] = UnitAttr()
            out = self.emit(
                llm.MoEOp.create(operands=[n, router], result_types=[n.type], properties=props),
                "moe",
            )
        elif m.gated:
            gate = self.linear(n, m.ffn, "gate")
            up = self.linear(n, m.ffn, "up")
            out = self.linear(
                self.binary(llm.MulOp, self.activation(gate, "act"), up, "gated"), m.hidden, "down"
            )
        else:
            up = self.linear(n, m.ffn, "up")
            out = self.linear(self.activation(up, "act"), m.hidden, "down")
        return self.binary(llm.AddOp, h, out, "h_out")

    def layer(self, index: int, x: SSAValue) -> SSAValue:
        block = Block(arg_types=[x.type])
        block.args[0].name_hint = "h"
        inner = _GraphBuilder(self.m, Builder(InsertPoint.at_end(block)))
        y = inner.mlp_block(inner.attention_block(block.args[0]))
        inner.emit(llm.YieldOp.create(operands=[y]))
        op = llm.LayerOp.create(
            operands=[x],
            result_types=[x.type],
            properties={"index": _int(index)},
            regions=[Region(block)],
        )
        return self.emit(op, f"l{index}")


def graph_func(model: ModelConfig, layers: int | None = None) -> func.FuncOp:
    """The decoder as a func: whole model (ids -> logits), or its first `layers` layers."""
    hidden_t = llm.activation_type(model.hidden, _ELEMENT[model.dtype])
    whole = layers is None
    if whole:
        ids_t = TensorType(i32, [DYNAMIC_INDEX])
        out_t = llm.activation_type(model.vocab, _ELEMENT[model.dtype])
        body = Block(arg_types=[ids_t])
        body.args[0].name_hint = "ids"
    else:
        out_t = hidden_t
        body = Block(arg_types=[hidden_t])
        body.args[0].name_hint = "x"
    g = _GraphBuilder(model, Builder(InsertPoint.at_end(body)))
    x = body.args[0]
    if whole:
        embedding = llm.EmbeddingOp.create(
            operands=[x], result_types=[hidden_t], properties={"vocab": _int(model.vocab)}
        )
        x = g.emit(embedding, "emb")
    for i in range(model.layers if whole else layers):
        x = g.layer(i, x)
    if whole:
        x = g.norm(x, "final_norm")
        x = g.emit(llm.LMHeadOp.create(operands=[x], result_types=[out_t]), "logits")
    g.emit(func.ReturnOp(x))
    return func.FuncOp("decoder", ((body.args[0].type,), (out_t,)), Region(body))


def build_module(
    model: ModelConfig, workload: Workload, layers: int | None = None, target: str | None = None
) -> ModuleOp:
    module = ModuleOp([model_op(model), llm.build_workload_op(workload), graph_func(model, layers)])
    if target is not None:
        module.attributes[TARGET_ATTR] = StringAttr(target)
    return module
