"""Per-op latency and energy on one chiplet kind: roofline plus what real kernels show.

Every op costs `floor + max(compute, memory)`: a per-kernel floor (launch and tail), compute
quantized to whole tiles dealt to `units` in waves (a 33-row GEMM on 32-row tiles costs two
tiles), and bytes streamed at the sustained DRAM bandwidth. Attention works per request:
each request's (new tokens, history) pair sets its visible key count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xcompass.targets import ChipletKind

ATTN_BLOCK = 128  # query rows per attention tile (FlashAttention-style)


@dataclass(frozen=True)
class OpSpec:
    """One kernel-level op of a layer, in plain numbers (what a pass extracts from `llm` IR).

    kind: gemm (weights k x n), attention, eltwise (`tensors` tensors of `width` moved per
    token, in `kernels` kernels), moe (experts of width ffn), embedding (a row gather),
    lm_head (logits only for tokens that need them).
    split: how tensor parallelism shards it: "n" (column), "k" (row, then all-reduce),
    "heads" (attention), or "" (replicated).
    """

    kind: str
    name: str = ""
    n: int = 0
    k: int = 0
    width: int = 0
    tensors: int = 2
    kernels: int = 1
    heads: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    window: int = 0
    causal: bool = True
    experts: int = 1
    top_k: int = 1
    ffn: int = 0
    gated: bool = True
    split: str = ""

    def weights(self) -> int:
        """Weight elements this op reads."""
        if self.kind in ("gemm", "lm_head", "embedding"):
            return self.n * self.k
        if self.kind == "moe":
            return self.experts * (3 if self.gated else 2) * self.k * self.ffn
        return 0


@dataclass(frozen=True)
class RequestGroup:
    """`count` requests with `q` new tokens over `ctx` tokens of history."""

    q: int
    ctx: int
    count: int = 1


@dataclass(frozen=True)
class OpCost:
    time_s: float
    macs: float
    dram_bytes: float  # weights + KV + any operand that streams from DRAM
    weight_bytes: float
    sram_bytes: float  # activations moved through on-chip memory

    def __add__(self, o: OpCost) -> OpCost:
        return OpCost(
            self.time_s + o.time_s,
            self.macs + o.macs,
            self.dram_bytes + o.dram_bytes,
            self.weight_bytes + o.weight_bytes,
            self.sram_bytes + o.sram_bytes,
        )


ZERO = OpCost(0.0, 0.0, 0.0, 0.0, 0.0)


def gemm_time(
    chip: ChipletKind, m: int, n: int, k: int, dtype_bytes: int, weights_resident: bool = False
) -> tuple[float, float, float]:
    """(seconds, DRAM bytes, weight bytes) of `[m,k] x [k,n]` with tile and wave quantization."""
    if m <= 0 or n <= 0 or k <= 0:
        return 0.0, 0.0, 0.0
    tiles = math.ceil(m / chip.tile_m) * math.ceil(n / chip.tile_n)
    waves = math.ceil(tiles / chip.units)
    per_unit = chip.flops / chip.units
    compute = waves * 2.0 * chip.tile_m * chip.tile_n * k / per_unit
    weight_bytes = float(n * k * dtype_bytes)
    act_bytes = float((m * k + m * n) * dtype_bytes)
    dram = act_bytes + (0.0 if weights_resident else weight_bytes)
    memory = dram / chip.bandwidth
    return chip.kernel_floor_us * 1e-6 + max(compute, memory), dram, weight_bytes


def visible_pairs(group: RequestGroup, causal: bool, window: int) -> float:
    """(query, key) pairs one request scores: causal rows see history + earlier new tokens."""
    q, kv = group.q, group.ctx + group.q
    if not causal:
        return float(q * (min(kv, window) if window else kv))
    # row i (0-based) of the new tokens sees ctx + i + 1 keys, capped by the window
    first, last = group.ctx + 1, group.ctx + q
    if not window or window >= last:
        return (first + last) * q / 2.0
    capped_from = max(first, window)
    below = max(0, capped_from - first)  # rows still under the cap
    return (first + first + below - 1) * below / 2.0 + (q - below) * float(window)


def attention_cost(
    chip: ChipletKind, op: OpSpec, groups: list[RequestGroup], dtype_bytes: int, tp: int = 1
) -> OpCost:
    """One varlen attention kernel over every request of the micro-batch."""
    heads = op.heads // tp
    kv_heads = max(1, op.kv_heads // tp)
    hd = op.head_dim
    pairs = sum(visible_pairs(g, op.causal, op.window) * g.count for g in groups)
    flops = 4.0 * heads * hd * pairs
    tiles = sum(math.ceil(g.q / ATTN_BLOCK) * g.count for g in groups) * heads
    waves = math.ceil(tiles / chip.units)
    quantization = waves * chip.units / tiles if tiles else 1.0
    compute = flops * quantization / (chip.peak_tflops * 1e12 * chip.attention_efficiency)
    kv_bytes = (
        sum(2.0 * kv_heads * hd * min(g.ctx + g.q, op.window or 10**12) * g.count for g in groups)
        * dtype_bytes
    )
    qo_bytes = sum(2.0 * heads * hd * g.q * g.count for g in groups) * dtype_bytes
    memory = (kv_bytes + qo_bytes) / chip.attention_bandwidth
    time = chip.attention_floor_us * 1e-6 + max(compute, memory)
    return OpCost(time, flops / 2.0, kv_bytes + qo_bytes, 0.0, qo_bytes)


def eltwise_cost(
    chip: ChipletKind, op: OpSpec, tokens: int, dtype_bytes: int, tp: int = 1
) -> OpCost:
    width = op.width // tp if op.split else op.width
    moved = float(op.tensors * tokens * width * dtype_bytes)
    time = op.kernels * chip.eltwise_floor_us * 1e-6 + moved / chip.eltwise_bandwidth
    return OpCost(time, 0.0, moved, 0.0, moved)


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
        m = sum((g.q if g.ctx else 1) * g.count for g in groups) if op.kind == "lm_head" else tokens
        n = op.n // tp if op.split == "n" else op.n
        k = op.k // tp if op.split == "k" else op.k
        t, dram, w = gemm_time(chip, m, n, k, dtype_bytes, weights_resident)
        return OpCost(t, float(m) * n * k, dram, w, float((m * k + m * n) * dtype_bytes))
    if op.kind == "moe":
        mats = 3 if op.gated else 2
        routed = tokens * op.top_k
        active = min(op.experts, routed)
        per_expert = math.ceil(routed / op.experts) if routed else 0
        ffn = op.ffn // tp if op.split else op.ffn
        # one grouped GEMM per projection: one floor each, active experts' tiles summed
        t1, d1, w1 = gemm_time(
            chip, per_expert, (mats - 1) * ffn, op.k, dtype_bytes, weights_resident
        )
        t2, d2, w2 = gemm_time(chip, per_expert, op.k, ffn, dtype_bytes, weights_resident)
        floor = chip.kernel_floor_us * 1e-6
        time = 2 * floor + active * (t1 - floor + t2 - floor)
        macs = float(routed) * op.k * ffn * mats
        cost = OpCost(
            time,
            macs,
            active * (d1 + d2),
            op.experts * (w1 + w2),
            float(routed * (op.k + ffn) * 2 * dtype_bytes),
        )
        act = eltwise_cost(
            chip,
            OpSpec(
                "eltwise", width=ffn, tensors=5 if op.gated else 2, kernels=2 if op.gated else 1
            ),
            routed,
            dtype_bytes,
        )
        return cost + act
    raise ValueError(f"unknown op kind '{op.kind}'")
