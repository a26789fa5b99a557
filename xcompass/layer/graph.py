"""One decoder layer as an op graph: nodes are ops with a kind and shapes, edges are the values
between them with their bytes per token.

This is the single description of a layer's work. `layer_graph(model)` builds it from a model
configuration; `xcompass.passes.ir_bridge.read_layer` reads the same graph out of `llm` IR (a test
keeps the two equal). The lowering planners (`fusion`, `attention`, `padding`) decide on it and
`kernels.layer_kernels` turns it, with their decisions, into the kernels the cost model charges.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from xcompass.model.models import ModelConfig

INPUT = -1
"""Index of the layer's input value (the residual stream entering the layer)."""

ROW_OPS = ("rmsnorm", "layernorm")
"""Element-wise ops that reduce each row first: a kernel running one needs whole rows."""
ELTWISE_OPS = (*ROW_OPS, "rope", "silu", "gelu", "relu", "mul", "add")
CONTRACTIONS = ("linear", "attention", "moe")
"""Ops with weights or a reduction over another operand: the high-density candidates."""

FLOPS_PER_ELEMENT = {
    "rmsnorm": 4,  # square, sum, scale, gain
    "layernorm": 7,  # mean, centre, square, sum, scale, gain, bias
    "rope": 3,  # two products and a sum per rotated element
    "silu": 4,
    "gelu": 8,
    "relu": 1,
    "mul": 1,
    "add": 1,
}
"""Arithmetic per output element of the element-wise ops (for their density only)."""


@dataclass(frozen=True)
class Node:
    """One op of the layer. `width`: features of its result; `in_width`: a linear's input
    features (its weights are in_width x width); attention and MoE carry their own sizes."""

    name: str
    op: str
    inputs: tuple[int, ...]
    width: int
    in_width: int = 0
    heads: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    window: int = 0
    causal: bool = False
    experts: int = 0
    top_k: int = 0
    ffn: int = 0
    gated: bool = False

    @property
    def is_eltwise(self) -> bool:
        return self.op in ELTWISE_OPS

    @property
    def is_contraction(self) -> bool:
        return self.op in CONTRACTIONS


@dataclass(frozen=True)
class LayerGraph:
    """A decoder layer: nodes in topological order, the index of the node whose value leaves
    the layer, the width of the layer's input and the bytes of one element."""

    nodes: tuple[Node, ...]
    output: int
    input_width: int
    dtype_bytes: int

    def __len__(self) -> int:
        return len(self.nodes)

    def width(self, value: int) -> int:
        """Features of a value (a node's result, or INPUT)."""
        return self.input_width if value == INPUT else self.nodes[value].width

    def bytes_per_token(self, value: int) -> int:
        return self.width(value) * self.dtype_bytes

    @cached_property
    def consumers(self) -> dict[int, tuple[int, ...]]:
        """Nodes reading each value (INPUT included), in order."""
        out: dict[int, list[int]] = {INPUT: []}
        for i in range(len(self.nodes)):
            out[i] = []
        for i, node in enumerate(self.nodes):
            for v in dict.fromkeys(node.inputs):
                out[v].append(i)
        return {v: tuple(c) for v, c in out.items()}

    def index(self, name: str) -> int:
        for i, node in enumerate(self.nodes):
            if node.name == name:
                return i
        raise KeyError(name)

    @cached_property
    def _tensor_parallel(self) -> tuple[tuple[str, ...], tuple[bool, ...]]:
        splits: list[str] = []
        sharded: list[bool] = []
        for i, node in enumerate(self.nodes):
            ins = [v != INPUT and sharded[v] for v in node.inputs]
            if node.op == "linear":
                routes = any(
                    self.nodes[c].op == "moe" and self.nodes[c].inputs[1:2] == (i,)
                    for c in self.consumers[i]
                )
                split = "" if routes else ("k" if ins and all(ins) else "n")
                is_sharded = split == "n"
            elif node.op in ("attention", "rope"):
                split, is_sharded = "heads", True
            elif node.op == "moe":
                split, is_sharded = "k", False
            else:
                is_sharded = bool(ins) and all(ins) and node.op not in ROW_OPS
                split = "n" if is_sharded else ""
            splits.append(split)
            sharded.append(is_sharded)
        return tuple(splits), tuple(sharded)

    @property
    def splits(self) -> tuple[str, ...]:
        """How tensor parallelism shards each node (Megatron): a linear reading a replicated
        value splits its columns (`n`), one reading a sharded value its rows (`k`, then an
        all-reduce); attention and RoPE split heads; an element-wise op over sharded values
        is sharded (`n`); the MoE router is computed whole by every shard (``)."""
        return self._tensor_parallel[0]

    def sharded(self, value: int) -> bool:
        """Whether a value is split over the tensor-parallel shards (each holds 1/tp)."""
        return value != INPUT and self._tensor_parallel[1][value]


def layer_graph(model: ModelConfig) -> LayerGraph:
    """The graph `xcompass import` emits for one decoder layer of `model`, op for op (names are
    the importer's value names)."""
    m = model
    nodes: list[Node] = []

    def add(name: str, op: str, inputs: tuple[int, ...], width: int, **kw: object) -> int:
        nodes.append(Node(name, op, inputs, width, **kw))
        return len(nodes) - 1

    norm = "rmsnorm" if m.norm == "rms" else "layernorm"
    n = add("attn_norm", norm, (INPUT,), m.hidden)
    q = add("q", "linear", (n,), m.q_features, in_width=m.hidden)
    k = add("k", "linear", (n,), m.kv_features, in_width=m.hidden)
    v = add("v", "linear", (n,), m.kv_features, in_width=m.hidden)
    if m.rope:
        q = add("q_rope", "rope", (q,), m.q_features, heads=m.heads)
        k = add("k_rope", "rope", (k,), m.kv_features, heads=m.kv_heads)
    attn = add(
        "attn",
        "attention",
        (q, k, v),
        m.q_features,
        heads=m.heads,
        kv_heads=m.kv_heads,
        head_dim=m.head_dim,
        window=m.window,
        causal=True,
    )
    o = add("o", "linear", (attn,), m.hidden, in_width=m.q_features)
    h = add("h_attn", "add", (INPUT, o), m.hidden)
    n = add("mlp_norm", norm, (h,), m.hidden)
    if m.experts > 1:
        router = add("router", "linear", (n,), m.experts, in_width=m.hidden)
        out = add(
            "moe",
            "moe",
            (n, router),
            m.hidden,
            in_width=m.hidden,
            experts=m.experts,
            top_k=m.top_k,
            ffn=m.ffn,
            gated=m.gated,
        )
    elif m.gated:
        gate = add("gate", "linear", (n,), m.ffn, in_width=m.hidden)
        up = add("up", "linear", (n,), m.ffn, in_width=m.hidden)
        act = add("act", m.mlp, (gate,), m.ffn)
        gated = add("gated", "mul", (act, up), m.ffn)
        out = add("down", "linear", (gated,), m.hidden, in_width=m.ffn)
    else:
        up = add("up", "linear", (n,), m.ffn, in_width=m.hidden)
        act = add("act", m.mlp, (up,), m.ffn)
        out = add("down", "linear", (act,), m.hidden, in_width=m.ffn)
    last = add("h_out", "add", (h, out), m.hidden)
    return LayerGraph(tuple(nodes), last, m.hidden, m.dtype_bytes)
