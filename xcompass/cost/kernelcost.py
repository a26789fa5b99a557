"""Kernel costs: one kernel of a lowered (or unlowered) layer, as `xcompass.layer.kernels` describes
it, on one chiplet for one micro-batch. Built on the op-level primitives of `opcost` (GEMM tiles,
element-wise streaming) and `attentioncost` (attention tiles): what a lowering decision changes is
exactly what
the kernel moves through DRAM, how many floors it pays, and the tiles it computes. `op_cost`
is the op-level entry: it dispatches an op by kind to `opcost` (GEMM, element-wise),
`attentioncost` and `moecost`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from xcompass.cost.attentioncost import (
    attention_compute,
    attention_cost,
    attention_fixed_s,
    scores_on_chip,
    softmax_time,
    thin_bmm,
    thin_bmm_time,
    unpacked,
)
from xcompass.cost.moecost import moe_cost
from xcompass.cost.opcost import (
    Cover,
    OpCost,
    OpSpec,
    RequestGroup,
    Stage,
    dram_share,
    eltwise_cost,
    gemm_time,
    hardware_cover,
    overlap,
    reread_bytes,
    tile_compute,
)
from xcompass.hardware.targets import ChipletKind

if TYPE_CHECKING:
    from xcompass.layer.kernels import Kernel


def _io(flows: Iterable[Any], tokens: float, pairs: float, tp: int) -> float:
    return sum(f.bytes(tokens, pairs, tp) for f in flows)


def _kv_bytes(op: OpSpec, g: RequestGroup, tp: int, dtype_bytes: int) -> tuple[float, float]:
    """(history, new) bytes of K and V one request group's attention reads: the history from
    the KV cache (at most the window), the new tokens' K and V from the kernel's inputs."""
    per_token = 2.0 * max(1, op.kv_heads // tp) * op.head_dim * g.count * dtype_bytes
    cap = op.window or 10**12
    return per_token * max(0, min(g.ctx + g.q, cap) - g.q), per_token * g.q


def kernel_cost(
    chip: ChipletKind,
    kernel: Kernel,
    groups: list[RequestGroup],
    dtype_bytes: int,
    tp: int = 1,
    resident: bool = False,
    cover: Cover | None = None,
    stages: list[Stage] | None = None,
) -> OpCost:
    """One kernel of a lowered (or unlowered) layer for one micro-batch on one chiplet (a 1/tp
    shard): one floor, plus the larger of its compute and its DRAM traffic.

    Traffic is exactly its external edges (`kernel.inputs`, `kernel.outputs`: values inside a
    fused group stay on chip, `kernel.internal`, and count as on-chip traffic), its weights,
    and for attention the history K/V from the cache. GEMMs compute the rows of `cover` (the
    hardware tile when unlowered); with `physical` padding they also read and write the padded
    rows, and the copy kernels move the real rows into a persistent padded buffer (`pad_in`)
    and back out (`pad_out`). Attention runs by `stages`
    (K/V read `kv_passes` times); the unfused QK^T and PV are batched GEMMs over every (query,
    key) pair, their scores on per-pair edges, and softmax an element-wise kernel over them."""
    kind = kernel.kind
    if kind in ("op", "moe", "embedding", "lm_head"):  # one op-level op
        return op_cost(chip, kernel.specs[0], groups, dtype_bytes, tp, resident)
    tokens = float(sum(g.q * g.count for g in groups))
    pairs = float(sum(g.q * (g.ctx + g.q) * g.count for g in groups))
    io = _io((*(e.flow for e in kernel.inputs), *kernel.outputs), tokens, pairs, tp)
    on_chip = _io(kernel.internal, tokens, pairs, tp)
    row = kernel.reduction_width * chip.reduction_ns_per_element * 1e-9 if tokens else 0.0
    physical = cover is not None and cover.physical and tokens > 0
    if kind == "softmax" and (chip.attention_softmax_efficiency or chip.attention_softmax_wide_row):
        widest = max((g.ctx + g.q for g in groups if g.count), default=0)
        time = chip.eltwise_floor_us * 1e-6 + softmax_time(chip, io, widest)
        return OpCost(time, 0.0, io, 0.0, io + on_chip)
    if kind in ("eltwise", "softmax", "pad_in", "pad_out"):
        if kind == "softmax":
            widest = max((g.ctx + g.q for g in groups if g.count), default=0)
            row = widest * chip.reduction_ns_per_element * 1e-9
        elif kernel.reduction_width:  # a norm's second pass over its input
            io += reread_bytes(chip, kernel.reduction_width, tokens, dtype_bytes)
        stream = io / chip.eltwise_bandwidth
        # a norm's row walk hides under the other rows' streaming (opcost.eltwise_cost)
        stream = stream + row if kind == "softmax" else max(stream, row)
        time = chip.eltwise_floor_us * 1e-6 + stream
        return OpCost(time, 0.0, io, 0.0, io + on_chip)
    if kind in ("attention_qk", "attention_pv"):
        # batched GEMMs, one per (request, KV head) with its query heads' rows stacked;
        # cuBLAS's strided-batched GEMM deals whole tiles (no split-K)
        att = kernel.specs[0]
        kv_heads = max(1, att.kv_heads // tp)
        group = max(1, att.heads // max(1, att.kv_heads))
        compute = macs = 0.0
        active = chip.units
        thin: list[tuple[float, int]] = []  # GEMV-class tiles (opcost.thin_bmm)
        tensor_core = False
        for g in groups:
            if g.q <= 0 or g.count <= 0:
                continue
            kv, rows = g.ctx + g.q, g.q * group
            n, k = (kv, att.head_dim) if kind == "attention_qk" else (att.head_dim, kv)
            if thin_bmm(chip, rows):  # tiles of tile_n columns; a short last one shares out
                n_tiles = -(-n // chip.tile_n)
                thin.append((n * k * dtype_bytes / n_tiles, n_tiles * kv_heads * g.count))
            else:
                tensor_core = True
                cover = hardware_cover(chip, rows)
                t, units = tile_compute(chip, cover, n, k, kv_heads * g.count, split_k=False)
                compute, active = compute + t, min(active, units)
            macs += float(rows) * kv * att.head_dim * kv_heads * g.count
            io += _kv_bytes(att, g, tp, dtype_bytes)[0] / 2  # K for QK^T, V for PV
        floor = chip.kernel_floor_us
        scores = _io((*(e.flow for e in kernel.inputs), *kernel.outputs), 0.0, pairs, tp)
        if scores_on_chip(chip, scores):  # written or read through the shared level
            io, on_chip = io - scores, on_chip + scores
        if thin:  # GEMV-class kernels: their tiles' latency; alone, an element-wise floor
            compute += thin_bmm_time(chip, thin, pv=kind == "attention_pv")
            floor = floor if tensor_core else chip.eltwise_floor_us
        bandwidth = chip.bandwidth * dram_share(chip, active)
        time = floor * 1e-6 + max(compute, io / bandwidth)
        return OpCost(time, macs, io, 0.0, io + on_chip)
    compute = macs = weights = 0.0
    floor, bandwidth, active = 0.0, 0.0, chip.units
    for op in kernel.specs:
        if op.kind == "attention":
            t, m = attention_compute(chip, op, groups, tp, stages)
            compute, macs = compute + t, macs + m
            lost = unpacked(chip, groups)
            group = max(1, op.heads // max(1, op.kv_heads))
            for j, g in enumerate(groups):
                passes = stages[j].kv_passes if stages else 1
                history, new = _kv_bytes(op, g, tp, dtype_bytes)
                if lost[j]:  # every query head streams its KV head's K/V (new ones too)
                    history *= group
                    io += (group - 1) * new
                io += history + (passes - 1) * (history + new)
            floor = max(floor, attention_fixed_s(chip, op, groups, tp) * 1e6)
            bandwidth = chip.attention_bandwidth
        elif op.kind == "gemm":
            n, k = (
                (op.n // tp if op.split == "n" else op.n),
                (op.k // tp if op.split == "k" else op.k),
            )
            rows = cover if cover is not None else hardware_cover(chip, int(tokens))
            t, units = tile_compute(chip, rows, n, k)
            compute, macs = compute + t, macs + tokens * n * k
            active = min(active, units) if units else active
            weights += float(n * k * dtype_bytes)
            floor = max(floor, chip.kernel_floor_us)
    if physical:  # the GEMM reads and writes the padded buffers
        io *= cover.rows / tokens
    dram = io + (0.0 if resident else weights)
    bandwidth = bandwidth or chip.bandwidth * dram_share(chip, active)
    if any(op.kind == "attention" for op in kernel.specs):
        time = floor * 1e-6 + max(compute, dram / bandwidth) + row
    else:  # GEMM kernels (with any fused element-wise work)
        time = floor * 1e-6 + overlap(chip, compute, dram / bandwidth) + row
    if tp > 1 and kernel.after_allreduce is not None:  # the epilogue waits for the all-reduce
        moved = kernel.after_allreduce.bytes(tokens, pairs, tp)
        time += chip.eltwise_floor_us * 1e-6 + moved / chip.eltwise_bandwidth
        io, dram = io + moved, dram + moved
    return OpCost(time, macs, dram, weights, io + on_chip)


def op_cost(
    chip: ChipletKind,
    op: OpSpec,
    groups: list[RequestGroup],
    dtype_bytes: int,
    tp: int = 1,
    weights_resident: bool = False,
) -> OpCost:
    """Latency and traffic of one op for one micro-batch on one chiplet (a 1/tp shard)."""
    tokens = sum(g.q * g.count for g in groups)
    if op.kind == "attention":
        return attention_cost(chip, op, groups, dtype_bytes, tp)
    if op.kind == "eltwise":
        return eltwise_cost(chip, op, tokens, dtype_bytes, tp)
    if op.kind == "embedding":
        moved = float(2 * tokens * op.k * dtype_bytes)
        return OpCost(chip.eltwise_floor_us * 1e-6 + moved / chip.bandwidth, 0, moved, 0, moved)
    if op.kind in ("gemm", "lm_head"):
        # logits are needed for the last token of each request (all of them when verifying)
        m = sum(g.logit_rows * g.count for g in groups) if op.kind == "lm_head" else tokens
        n = op.n // tp if op.split == "n" else op.n
        k = op.k // tp if op.split == "k" else op.k
        t, dram, w = gemm_time(chip, m, n, k, dtype_bytes, weights_resident)
        return OpCost(t, float(m) * n * k, dram, w, float((m * k + m * n) * dtype_bytes))
    if op.kind == "moe":
        return moe_cost(chip, op, tokens, dtype_bytes, tp, weights_resident)
    raise ValueError(f"unknown op kind '{op.kind}'")
