"""Per-(micro-batch, chiplet kind, TP degree) cost of one decoder layer, precomputed once.

The mapping search never re-costs an op: it looks these tables up, so per-mapping work is only
scheduling and data movement (what makes tens of thousands of evaluations per second possible).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xcompass.cost.moecost import moe_launches, routing_time
from xcompass.cost.opcost import OpSpec, RequestGroup
from xcompass.hardware.comm import check_mode
from xcompass.hardware.targets import ChipletKind, Target
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
    weight = _position_sum(positions, len(all_kernels)) @ _kernel_weights(model, all_kernels)
    kv, act = _workload_bytes(model, request_groups(workload))
    return MemoryTable(np.repeat(weight[:, None], len(tp_options), axis=1), kv, act)


def _position_sum(positions: tuple[tuple[int, ...], ...], kernels: int) -> np.ndarray:
    """[3, J]: 1 where a layer position runs a kernel (sums per-kernel rows per position)."""
    out = np.zeros((len(positions), kernels))
    for p, pos in enumerate(positions):
        np.add.at(out[p], list(pos), 1.0)
    return out


def _kernel_weights(model: ModelConfig, kernels: tuple[Kernel, ...]) -> np.ndarray:
    """[J] weight bytes each kernel reads (all shards)."""
    return np.array([k.weights() * model.dtype_bytes for k in kernels], dtype=float)


def _workload_bytes(
    model: ModelConfig, mbs: list[list[RequestGroup]]
) -> tuple[np.ndarray, np.ndarray]:
    """[B] KV cache bytes of one layer (history + new) and output activation bytes."""
    db = model.dtype_bytes
    kv = [sum(2.0 * model.kv_features * (g.ctx + g.q) * g.count for g in gs) for gs in mbs]
    tokens = np.array([sum(g.q * g.count for g in gs) for gs in mbs], dtype=float)
    return np.array(kv, dtype=float) * db, tokens * model.hidden * db


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
    # [B, J, K] seconds of a MoE kernel's routing (0 elsewhere; None: no MoE kernel): eager's
    # host queue issues the routing's launches before the experts' (xcompass.engine.hostqueue)
    kernel_route_time: np.ndarray | None = None
    pairs: np.ndarray | None = None  # [B] visible (query, key) pairs: sizes score edges


def moe_spec(kernel: Kernel) -> OpSpec | None:
    """The MoE layer a kernel runs, if any."""
    if kernel.kind in ("op", "moe") and kernel.specs and kernel.specs[0].kind == "moe":
        return kernel.specs[0]
    return None


def route_times(
    kernels: tuple[Kernel, ...], kinds: tuple[ChipletKind, ...], tokens: list[int], dtype_bytes: int
) -> np.ndarray | None:
    """[B, J, K] seconds of each MoE kernel's routing (`routing_time`, part of its cost) for
    micro-batches of `tokens`; None when no kernel is a MoE layer."""
    moe = [(j, spec) for j, k in enumerate(kernels) if (spec := moe_spec(k)) is not None]
    if not moe:
        return None
    out = np.zeros((len(tokens), len(kernels), len(kinds)))
    for b, t in enumerate(tokens):
        for j, spec in moe:
            for k, chip in enumerate(kinds):
                out[b, j, k] = routing_time(chip, t * spec.top_k, spec.k, dtype_bytes)[0]
    return out


def kernels_of(op: OpSpec | Kernel, chip: ChipletKind | None = None) -> int:
    """Kernel launches one op or kernel takes on `chip` (a MoE layer: its routing kernels,
    `moe_launches`, then two grouped GEMMs and its activation; without a chip, the routing's
    launches are not counted)."""
    if isinstance(op, Kernel):
        return kernels_of(op.specs[0], chip) if op.kind in ("op", "moe") else 1
    if op.kind == "moe":
        return sum(moe_launches(chip, op))
    return op.kernels


GROUP_KINDS = ("attention", "attention_qk", "softmax", "attention_pv", "moe", "op")


def _dependence(kernel: Kernel) -> str:
    """What a kernel's cost depends on besides the chiplet and TP degree: the request groups
    ("groups"), the token count and logit rows ("logits"), or the token count ("tokens")."""
    flows = (*(e.flow for e in kernel.inputs), *kernel.outputs, *kernel.internal)
    if kernel.kind in GROUP_KINDS or any(f.per_pair for f in flows):
        return "groups"
    return "logits" if kernel.kind == "lm_head" else "tokens"


def _memo_keys(depends: list[str], groups: list[RequestGroup]) -> list[tuple]:
    """Each kernel's memo key for one micro-batch (see `_dependence`)."""
    tokens = sum(g.q * g.count for g in groups)
    by = {"groups": tuple(groups), "tokens": (tokens,)}
    if "logits" in depends:
        by["logits"] = (tokens, sum(g.logit_rows * g.count for g in groups))
    return [by[d] for d in depends]


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
    per-kernel decision texts reports show. A caller costing many workloads on one layer
    keeps a `CostTableBuilder` instead (what this does once)."""
    builder = CostTableBuilder(model, target, tuple(tp_options), ops, whole_model, mode, kernels)
    return builder.build(workload, memo, plans)


@dataclass
class CostTableBuilder:
    """`build_cost_table` for one model, target, layer and TP options, with what does not depend
    on the workload (the kernels of each layer position, their weights, what fits SRAM) worked
    out once: a serving replica builds a table for every new step it costs."""

    model: ModelConfig
    target: Target
    tp_options: tuple[int, ...] = (1,)
    ops: list[OpSpec] | None = None
    whole_model: bool = False
    mode: str = "graph"
    kernels: tuple[Kernel, ...] | None = None

    def __post_init__(self) -> None:
        check_mode(self.mode)
        model, target, tp_options = self.model, self.target, self.tp_options
        self.all_kernels, self.positions = _positions(
            model, _layer(model, self.ops, self.kernels), self.whole_model
        )
        kernel_weight = _kernel_weights(model, self.all_kernels)
        per_position = _position_sum(self.positions, len(self.all_kernels)) @ kernel_weight
        self.runs = [slice(p[0], p[-1] + 1) if p else slice(0, 0) for p in self.positions]
        self.weight = np.repeat(per_position[:, None], len(tp_options), axis=1)  # [3, T]
        tp = np.array(tp_options, dtype=float)
        sram = np.array([c.sram_mb for c in target.kinds]) * 2**20 * 0.5
        self.fits = self.weight[None] / tp[None, None] <= sram[:, None, None]  # [K, 3, T]
        self.kernel_weight = kernel_weight
        self.kernel_fits = kernel_weight[None, :, None] / tp[None, None, :] <= sram[:, None, None]
        layer = [self.all_kernels[j] for j in self.positions[1]]
        self.allreduces = sum(s.split == "k" for kern in layer for s in kern.contractions)
        self.depends = [_dependence(k) for k in self.all_kernels]
        # a fused attention kernel reads no weights: streamed and resident cost the same
        self.weightless = [k.kind == "attention" and not k.weights() for k in self.all_kernels]

    def _cost(self, j: int, chip: ChipletKind, groups: list[RequestGroup], tp: int) -> tuple:
        """Kernel j's (streamed, resident) cost for one micro-batch on one chiplet kind."""
        kernel, db = self.all_kernels[j], self.model.dtype_bytes
        streamed = kernel.cost(chip, groups, db, tp, False)
        return streamed, streamed if self.weightless[j] else kernel.cost(chip, groups, db, tp, True)

    def build(self, workload: Workload, memo: dict | None = None, plans: bool = True) -> CostTable:
        """The cost table of `workload` (see `build_cost_table`)."""
        model, target, tp_options, mode = self.model, self.target, self.tp_options, self.mode
        all_kernels = self.all_kernels
        mbs = request_groups(workload)
        B, J, K, T = len(mbs), len(all_kernels), len(target.kinds), len(tp_options)
        db = model.dtype_bytes
        rows = []  # (time_stream, time_resident, dram_stream, dram_resident, macs, sram)
        for groups in mbs:
            keys = _memo_keys(self.depends, groups) if memo is not None else None
            for tp in tp_options:
                for k, chip in enumerate(target.kinds):
                    for j in range(J):
                        if keys is None:
                            s, r = self._cost(j, chip, groups, tp)
                        else:
                            key = (j, k, tp, mode, keys[j])
                            got = memo.get(key)
                            if got is None:
                                got = memo[key] = self._cost(j, chip, groups, tp)
                            s, r = got
                        rows.append(
                            (s.time_s, r.time_s, s.dram_bytes, r.dram_bytes, s.macs, s.sram_bytes)
                        )
        per_kernel = np.array(rows, dtype=float).T.reshape(6, B, T, K, J).transpose(0, 1, 3, 2, 4)
        # per layer position: the sum of the kernels it runs (a contiguous run), [6, B, 3, K, T]
        arrays = np.stack([per_kernel[..., run].sum(axis=-1) for run in self.runs], axis=2)
        per_kernel = np.moveaxis(per_kernel, -1, 2)  # [6, B, J, K, T]
        kv, act = _workload_bytes(model, mbs)
        return CostTable(
            tp_options=tuple(tp_options),
            time_stream=arrays[0],
            time_resident=arrays[1],
            dram_stream=arrays[2],
            dram_resident=arrays[3],
            macs=arrays[4],
            sram_bytes=arrays[5],
            weight_bytes=self.weight,
            fits_sram=self.fits,
            act_bytes=act,
            kv_bytes=kv,
            allreduce_bytes=act.copy(),
            allreduces=self.allreduces,
            tokens=act / (model.hidden * db),
            mode=mode,
            kernels=all_kernels,
            positions=self.positions,
            kernel_time=per_kernel[0],
            kernel_time_resident=per_kernel[1],
            kernel_dram=per_kernel[2],
            kernel_dram_resident=per_kernel[3],
            kernel_macs=per_kernel[4],
            kernel_sram=per_kernel[5],
            pairs=np.array(
                [float(sum(g.q * (g.ctx + g.q) * g.count for g in groups)) for groups in mbs]
            ),
            kernel_route_time=route_times(
                all_kernels, target.kinds, [sum(g.q * g.count for g in gs) for gs in mbs], db
            ),
            kernel_weight_bytes=self.kernel_weight,
            kernel_fits_sram=self.kernel_fits,
            kernel_plans=tuple(
                tuple(
                    tuple(kern.plan(chip, groups, db) for kern in all_kernels)
                    for chip in target.kinds
                )
                for groups in mbs
            )
            if plans
            else (),
        )
