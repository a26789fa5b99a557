"""Per-(micro-batch, chiplet kind, TP degree) cost of one decoder layer, precomputed once.

The mapping search never re-costs an op: it looks these tables up, so per-mapping work is only
scheduling and data movement (what makes tens of thousands of evaluations per second possible).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xcompass.cost.opcost import OpSpec, RequestGroup
from xcompass.hardware.comm import check_mode
from xcompass.hardware.targets import Target
from xcompass.layer.attention import StagePolicy
from xcompass.layer.fusion import Group, sibling_sets
from xcompass.layer.graph import INPUT, LayerGraph, layer_graph
from xcompass.layer.kernels import Edge, Flow, Kernel, Lowering, layer_kernels
from xcompass.model.models import ModelConfig
from xcompass.model.workload import RequestKind, Workload


def layer_ops(model: ModelConfig) -> list[OpSpec]:
    """One decoder layer as serving stacks run it in a CUDA graph (fused QKV and gate+up
    GEMMs, one flash-attention kernel, separate element-wise kernels), one OpSpec per kernel:
    the kernels of `layer_graph(model)` with sibling linears fused."""
    graph = layer_graph(model)
    return [kernel_op(k, graph.dtype_bytes) for k in layer_kernels(graph, sibling_lowering(graph))]


def sibling_lowering(graph: LayerGraph) -> Lowering:
    """Linears reading the same value fused into one GEMM and attention as one kernel, the
    structure every serving stack shares (no working-set check: a config-only shortcut)."""
    groups = tuple(
        Group(tuple(nodes), tuple(nodes), ("siblings",), "", 0) for nodes in sibling_sets(graph)
    )
    attention = tuple((node.name, StagePolicy()) for node in graph.nodes if node.op == "attention")
    return Lowering(groups, attention)


def kernel_op(kernel: Kernel, dtype_bytes: int) -> OpSpec:
    """A kernel of one contraction or element-wise work as the op-level OpSpec that costs the
    same (element-wise: its moved tensors over its widest value)."""
    if kernel.specs:
        return kernel.specs[0]
    flows = [e.flow.per_token for e in kernel.inputs] + [f.per_token for f in kernel.outputs]
    width = max(flows) // dtype_bytes
    return OpSpec(
        "eltwise",
        kernel.name,
        width=width,
        tensors=sum(flows) // (width * dtype_bytes),
        split="n" if kernel.split else "",
        reduction=kernel.reduction_width > 0,
    )


def head_ops(model: ModelConfig) -> tuple[list[OpSpec], list[OpSpec]]:
    """Ops before the first layer (embedding) and after the last (final norm, LM head)."""
    first = [OpSpec("embedding", "embedding", n=model.vocab, k=model.hidden)]
    last = [
        OpSpec("eltwise", "final_norm", width=model.hidden, tensors=2),
        OpSpec("lm_head", "lm_head", n=model.vocab, k=model.hidden, split="n"),
    ]
    return first, last


def head_kernels(model: ModelConfig) -> tuple[tuple[Kernel, ...], tuple[Kernel, ...]]:
    """`head_ops` as kernels, for a graph that holds the whole model: the embedding before the
    first layer, the final norm and LM head after the last (their input: the layer's output)."""
    first, last = head_ops(model)
    h = Flow(model.hidden * model.dtype_bytes)
    text = "the model's head and tail: one kernel per op"
    norm, lm_head = last
    return (
        (Kernel("embedding", "embedding", ("embedding",), text, (), (h,), "", (first[0],)),),
        (
            Kernel("final_norm", "eltwise", ("final_norm",), text, (Edge(INPUT, h),), (h,), "",
                   reduction_width=norm.width),
            Kernel("lm_head", "lm_head", ("lm_head",), text, (Edge(0, h),), (), "n", (lm_head,)),
        ),
    )  # fmt: skip


def request_groups(workload: Workload) -> list[list[RequestGroup]]:
    """Each micro-batch as (new tokens, history, count) groups."""
    return [
        [
            RequestGroup(r.new_tokens, r.context, r.count, int(r.kind is RequestKind.CHUNK))
            for r in workload.microbatch_requests(mb)
        ]
        for mb in workload.microbatches
    ]


@dataclass(frozen=True)
class MemoryTable:
    """What a placement must hold: weights per layer position and TP option, KV and
    activations per micro-batch (all bytes)."""

    weight_bytes: np.ndarray  # [3 positions, T]
    kv_bytes: np.ndarray  # [B]
    act_bytes: np.ndarray  # [B]


def _layer(
    model: ModelConfig, ops: list[OpSpec] | None, kernels: tuple[Kernel, ...] | None
) -> tuple[Kernel, ...]:
    """The layer's kernels: given, or one per given OpSpec (the op-level path), or unlowered
    (one kernel per op of `layer_graph(model)`, attention as QK^T, softmax and PV)."""
    if kernels is not None:
        return tuple(kernels)
    if ops is not None:
        return tuple(
            Kernel(op.name, "op", (op.name,), "op-level", (), (), op.split, (op,)) for op in ops
        )
    return layer_kernels(layer_graph(model))


def _positions(
    model: ModelConfig, layer: tuple[Kernel, ...], whole_model: bool
) -> tuple[tuple[Kernel, ...], tuple[tuple[int, ...], ...]]:
    """All kernels (head, layer, tail) and the indices each layer position runs: 0 = first
    layer (after the embedding), 1 = middle layers, 2 = last layer (before the LM head)."""
    first, last = head_kernels(model) if whole_model else ((), ())
    kernels = (*first, *layer, *last)
    a, b = len(first), len(first) + len(layer)
    body = tuple(range(a, b))
    return kernels, (tuple(range(a)) + body, body, body + tuple(range(b, len(kernels))))


def memory_table(
    model: ModelConfig,
    workload: Workload,
    tp_options: tuple[int, ...] = (1,),
    ops: list[OpSpec] | None = None,
    whole_model: bool = False,
    kernels: tuple[Kernel, ...] | None = None,
) -> MemoryTable:
    all_kernels, positions = _positions(model, _layer(model, ops, kernels), whole_model)
    db = model.dtype_bytes
    per_pos = [sum(all_kernels[j].weights() for j in pos) * db for pos in positions]
    weight = np.repeat(np.array(per_pos, dtype=float)[:, None], len(tp_options), axis=1)
    mbs = request_groups(workload)
    tokens = np.array([sum(g.q * g.count for g in groups) for groups in mbs], dtype=float)
    kv = (
        np.array(
            [
                sum(2.0 * model.kv_features * (g.ctx + g.q) * g.count for g in groups)
                for groups in mbs
            ]
        )
        * db
    )
    return MemoryTable(weight, kv, tokens * model.hidden * db)


@dataclass
class CostTable:
    """Arrays indexed [micro-batch, layer position, chiplet kind, TP option].

    Layer position: 0 = first layer, 1 = middle layers, 2 = last layer (they differ only when
    the embedding / LM head are part of the graph). `*_stream`: weights read from DRAM;
    `*_resident`: weights already in the chiplet's SRAM (only when they fit there).
    Per kernel (`kernels`; `positions[p]` lists the kernels layer position p runs): its time,
    DRAM bytes and MACs with streamed weights, [micro-batch, kernel, chiplet kind, TP option].
    """

    tp_options: tuple[int, ...]
    time_stream: np.ndarray
    time_resident: np.ndarray
    dram_stream: np.ndarray  # bytes per member chiplet
    dram_resident: np.ndarray
    macs: np.ndarray  # per member chiplet
    sram_bytes: np.ndarray
    weight_bytes: np.ndarray  # whole layer (all shards), [L position, TP]
    fits_sram: np.ndarray  # [kind, position, TP] bool
    act_bytes: np.ndarray  # [micro-batch] output activation of a layer
    kv_bytes: np.ndarray  # [micro-batch] KV cache of one layer (history + new)
    allreduce_bytes: np.ndarray  # [micro-batch] bytes all-reduced per layer under TP
    allreduces: int  # all-reduces per layer under TP
    tokens: np.ndarray  # [micro-batch]
    mode: str = "graph"  # execution mode the times are for (xcompass.hardware.comm.MODES)
    kernels: tuple[Kernel, ...] = ()
    positions: tuple[tuple[int, ...], ...] = ()
    kernel_time: np.ndarray | None = None
    kernel_time_resident: np.ndarray | None = None
    kernel_dram: np.ndarray | None = None
    kernel_dram_resident: np.ndarray | None = None
    kernel_macs: np.ndarray | None = None
    kernel_sram: np.ndarray | None = None  # on-chip bytes [B, J, kind, TP]
    kernel_weight_bytes: np.ndarray | None = None  # [J] all shards
    kernel_fits_sram: np.ndarray | None = None  # [kind, J, TP] a kernel's shard fits SRAM
    kernel_plans: tuple[tuple[tuple[str, ...], ...], ...] = ()  # [B][K][J] pass decisions
    pairs: np.ndarray | None = None  # [B] visible (query, key) pairs: sizes score edges


def kernels_of(op: OpSpec | Kernel) -> int:
    """Kernel launches one op or kernel takes (a MoE layer: two grouped GEMMs and its
    activation)."""
    if isinstance(op, Kernel):
        return kernels_of(op.specs[0]) if op.kind in ("op", "moe") else 1
    if op.kind == "moe":
        return 2 + (2 if op.gated else 1)
    return op.kernels


GROUP_KINDS = ("attention", "attention_qk", "softmax", "attention_pv", "moe", "op")


def _depends_on(kernel: Kernel, groups: list[RequestGroup]) -> tuple:
    """What a kernel's cost depends on besides the chiplet and TP degree (the memo's key)."""
    flows = (*(e.flow for e in kernel.inputs), *kernel.outputs, *kernel.internal)
    if kernel.kind in GROUP_KINDS or any(f.per_pair for f in flows):
        return tuple(groups)
    tokens = sum(g.q * g.count for g in groups)
    if kernel.kind == "lm_head":
        return (tokens, sum(g.logit_rows * g.count for g in groups))
    return (tokens,)


def build_cost_table(
    model: ModelConfig,
    workload: Workload,
    target: Target,
    tp_options: tuple[int, ...] = (1,),
    ops: list[OpSpec] | None = None,
    whole_model: bool = False,
    mode: str = "graph",
    kernels: tuple[Kernel, ...] | None = None,
    memo: dict | None = None,
    plans: bool = True,
) -> CostTable:
    """Cost every kernel of a layer (`kernels`, e.g. `layer_kernels(graph, lowering)`; or one
    per OpSpec of `ops`; default: the unlowered layer of `model`) for every micro-batch,
    chiplet kind and TP option, and sum them per layer position.

    `memo` (a dict the caller keeps between calls with the same model, target and kernels)
    remembers each kernel's cost by what it depends on: the micro-batch's token count (GEMMs,
    element-wise), the logit rows too (LM head), the request groups (attention): a serving
    run costs many steps that differ only in their attention. `plans=False` skips the
    per-kernel decision texts reports show."""
    check_mode(mode)
    all_kernels, positions = _positions(model, _layer(model, ops, kernels), whole_model)
    mbs = request_groups(workload)
    B, J, K, T = len(mbs), len(all_kernels), len(target.kinds), len(tp_options)
    per_kernel = {
        key: np.zeros((B, J, K, T))
        for key in ("time_stream", "time_resident", "dram_stream", "dram_resident", "macs", "sram")
    }
    db = model.dtype_bytes
    for t, tp in enumerate(tp_options):
        for b, groups in enumerate(mbs):
            for k, chip in enumerate(target.kinds):
                for j, kernel in enumerate(all_kernels):
                    if memo is None:
                        s = kernel.cost(chip, groups, db, tp, False)
                        r = kernel.cost(chip, groups, db, tp, True)
                    else:
                        key = (j, k, tp, mode, _depends_on(kernel, groups))
                        got = memo.get(key)
                        if got is None:
                            got = memo[key] = (
                                kernel.cost(chip, groups, db, tp, False),
                                kernel.cost(chip, groups, db, tp, True),
                            )
                        s, r = got
                    per_kernel["time_stream"][b, j, k, t] = s.time_s
                    per_kernel["time_resident"][b, j, k, t] = r.time_s
                    per_kernel["dram_stream"][b, j, k, t] = s.dram_bytes
                    per_kernel["dram_resident"][b, j, k, t] = r.dram_bytes
                    per_kernel["macs"][b, j, k, t] = s.macs
                    per_kernel["sram"][b, j, k, t] = s.sram_bytes
    arrays = {
        key: np.stack([a[:, list(pos)].sum(axis=1) for pos in positions], axis=1)
        for key, a in per_kernel.items()
    }
    memory = memory_table(
        model,
        workload,
        tuple(tp_options),
        None,
        whole_model,
        tuple(all_kernels[j] for j in positions[1]),
    )
    weight = memory.weight_bytes
    fits = np.zeros((K, 3, T), dtype=bool)
    for t, tp in enumerate(tp_options):
        for p in range(3):
            for k, chip in enumerate(target.kinds):
                fits[k, p, t] = weight[p, t] / tp <= chip.sram_mb * 2**20 * 0.5
    act, kv = memory.act_bytes, memory.kv_bytes
    tokens = act / (model.hidden * db)
    layer = [all_kernels[j] for j in positions[1]]
    kernel_weight = np.array([kern.weights() * db for kern in all_kernels], dtype=float)
    return CostTable(
        tp_options=tuple(tp_options),
        time_stream=arrays["time_stream"],
        time_resident=arrays["time_resident"],
        dram_stream=arrays["dram_stream"],
        dram_resident=arrays["dram_resident"],
        macs=arrays["macs"],
        sram_bytes=arrays["sram"],
        weight_bytes=weight,
        fits_sram=fits,
        act_bytes=act,
        kv_bytes=kv,
        allreduce_bytes=act.copy(),
        allreduces=sum(s.split == "k" for kern in layer for s in kern.contractions),
        tokens=tokens,
        mode=mode,
        kernels=all_kernels,
        positions=positions,
        kernel_time=per_kernel["time_stream"],
        kernel_time_resident=per_kernel["time_resident"],
        kernel_dram=per_kernel["dram_stream"],
        kernel_dram_resident=per_kernel["dram_resident"],
        kernel_macs=per_kernel["macs"],
        kernel_sram=per_kernel["sram"],
        pairs=np.array(
            [float(sum(g.q * (g.ctx + g.q) * g.count for g in groups)) for groups in mbs]
        ),
        kernel_weight_bytes=kernel_weight,
        kernel_fits_sram=kernel_weight[None, :, None]
        / np.array(tp_options, dtype=float)[None, None, :]
        <= np.array([c.sram_mb for c in target.kinds])[:, None, None] * 2**20 * 0.5,
        kernel_plans=tuple(
            tuple(
                tuple(kern.plan(chip, groups, db) for kern in all_kernels) for chip in target.kinds
            )
            for groups in mbs
        )
        if plans
        else (),
    )
