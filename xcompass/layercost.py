"""Per-(micro-batch, chiplet kind, TP degree) cost of one decoder layer, precomputed once.

The mapping search never re-costs an op: it looks these tables up, so per-mapping work is only
scheduling and data movement (what makes tens of thousands of evaluations per second possible).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from xcompass.comm import check_mode
from xcompass.models import ModelConfig
from xcompass.opcost import ZERO, OpCost, OpSpec, RequestGroup, op_cost
from xcompass.targets import Target
from xcompass.workload import Workload


def layer_ops(model: ModelConfig) -> list[OpSpec]:
    """One decoder layer as kernels, with sibling linears on one input fused (QKV, gate+up),
    as serving stacks run them."""
    m = model
    norm = OpSpec("eltwise", "norm", width=m.hidden, tensors=2)
    ops = [norm, OpSpec("gemm", "qkv", n=m.q_features + 2 * m.kv_features, k=m.hidden, split="n")]
    if m.rope:
        ops.append(OpSpec("eltwise", "rope", width=m.q_features + m.kv_features, split="heads"))
    ops += [
        OpSpec(
            "attention",
            "attention",
            heads=m.heads,
            kv_heads=m.kv_heads,
            head_dim=m.head_dim,
            window=m.window,
            causal=True,
            split="heads",
        ),
        OpSpec("gemm", "o", n=m.hidden, k=m.q_features, split="k"),
        OpSpec("eltwise", "residual", width=m.hidden, tensors=3),
        norm,
    ]
    if m.experts > 1:
        ops += [
            OpSpec("gemm", "router", n=m.experts, k=m.hidden),
            OpSpec(
                "moe",
                "experts",
                k=m.hidden,
                ffn=m.ffn,
                experts=m.experts,
                top_k=m.top_k,
                gated=m.gated,
                split="k",
            ),
        ]
    elif m.gated:
        ops += [
            OpSpec("gemm", "gate_up", n=2 * m.ffn, k=m.hidden, split="n"),
            OpSpec("eltwise", "act_mul", width=m.ffn, tensors=5, kernels=2, split="n"),
            OpSpec("gemm", "down", n=m.hidden, k=m.ffn, split="k"),
        ]
    else:
        ops += [
            OpSpec("gemm", "up", n=m.ffn, k=m.hidden, split="n"),
            OpSpec("eltwise", "act", width=m.ffn, tensors=2, split="n"),
            OpSpec("gemm", "down", n=m.hidden, k=m.ffn, split="k"),
        ]
    ops.append(OpSpec("eltwise", "residual", width=m.hidden, tensors=3))
    return ops


def head_ops(model: ModelConfig) -> tuple[list[OpSpec], list[OpSpec]]:
    """Ops before the first layer (embedding) and after the last (final norm, LM head)."""
    first = [OpSpec("embedding", "embedding", n=model.vocab, k=model.hidden)]
    last = [
        OpSpec("eltwise", "final_norm", width=model.hidden, tensors=2),
        OpSpec("lm_head", "lm_head", n=model.vocab, k=model.hidden, split="n"),
    ]
    return first, last


def request_groups(workload: Workload) -> list[list[RequestGroup]]:
    """Each micro-batch as (new tokens, history, count) groups."""
    return [
        [RequestGroup(r.new_tokens, r.context, r.count) for r in workload.microbatch_requests(mb)]
        for mb in workload.microbatches
    ]


@dataclass(frozen=True)
class MemoryTable:
    """What a placement must hold: weights per layer position and TP option, KV and
    activations per micro-batch (all bytes)."""

    weight_bytes: np.ndarray  # [3 positions, T]
    kv_bytes: np.ndarray  # [B]
    act_bytes: np.ndarray  # [B]


def memory_table(
    model: ModelConfig,
    workload: Workload,
    tp_options: tuple[int, ...] = (1,),
    ops: list[OpSpec] | None = None,
    whole_model: bool = False,
) -> MemoryTable:
    ops = layer_ops(model) if ops is None else ops
    first, last = head_ops(model) if whole_model else ([], [])
    db = model.dtype_bytes
    per_pos = [sum(op.weights() for op in pos) * db for pos in (first + ops, ops, ops + last)]
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
    mode: str = "graph"  # execution mode the times are for (xcompass.comm.MODES)


def kernels_of(op: OpSpec) -> int:
    """Kernel launches one op takes (a MoE layer: two grouped GEMMs and its activation)."""
    if op.kind == "moe":
        return 2 + (2 if op.gated else 1)
    return op.kernels


def _sum_costs(chip, ops, groups, dtype_bytes, tp, resident, mode) -> OpCost:  # noqa: ANN001
    """A layer's kernels back to back. In eager mode the host launches each kernel; a kernel
    shorter than its launch time leaves the device waiting, so it costs the launch time."""
    total = ZERO
    for op in ops:
        cost = op_cost(chip, op, groups, dtype_bytes, tp, resident)
        if mode == "eager":
            launch = kernels_of(op) * chip.launch_us * 1e-6
            if launch > cost.time_s:
                cost = replace(cost, time_s=launch)
        total = total + cost
    return total


def build_cost_table(
    model: ModelConfig,
    workload: Workload,
    target: Target,
    tp_options: tuple[int, ...] = (1,),
    ops: list[OpSpec] | None = None,
    whole_model: bool = False,
    mode: str = "graph",
) -> CostTable:
    check_mode(mode)
    ops = layer_ops(model) if ops is None else ops
    first, last = head_ops(model) if whole_model else ([], [])
    positions = [first + ops, ops, ops + last]
    mbs = request_groups(workload)
    B, K, T = len(mbs), len(target.kinds), len(tp_options)
    shape = (B, 3, K, T)
    arrays = {
        k: np.zeros(shape)
        for k in ("time_stream", "time_resident", "dram_stream", "dram_resident", "macs", "sram")
    }
    memory = memory_table(model, workload, tuple(tp_options), ops, whole_model)
    weight = memory.weight_bytes
    fits = np.zeros((K, 3, T), dtype=bool)
    db = model.dtype_bytes
    for t, tp in enumerate(tp_options):
        for p in range(3):
            for k, chip in enumerate(target.kinds):
                fits[k, p, t] = weight[p, t] / tp <= chip.sram_mb * 2**20 * 0.5
        for b, groups in enumerate(mbs):
            for p, pos_ops in enumerate(positions):
                for k, chip in enumerate(target.kinds):
                    s = _sum_costs(chip, pos_ops, groups, db, tp, False, mode)
                    r = _sum_costs(chip, pos_ops, groups, db, tp, True, mode)
                    arrays["time_stream"][b, p, k, t] = s.time_s
                    arrays["time_resident"][b, p, k, t] = r.time_s
                    arrays["dram_stream"][b, p, k, t] = s.dram_bytes
                    arrays["dram_resident"][b, p, k, t] = r.dram_bytes
                    arrays["macs"][b, p, k, t] = s.macs
                    arrays["sram"][b, p, k, t] = s.sram_bytes
    act, kv = memory.act_bytes, memory.kv_bytes
    tokens = act / (model.hidden * db)
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
        allreduces=sum(op.split == "k" for op in ops),
        tokens=tokens,
        mode=mode,
    )
