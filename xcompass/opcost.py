"""Per-op latency and energy on one chiplet kind: roofline plus what real kernels show.

Every op costs `floor + max(compute, memory)`: a per-kernel floor (what a kernel costs back to
back in a stream or CUDA graph beyond its work), compute quantized to whole tiles (a 33-row
GEMM on 32-row tiles costs two row tiles), and bytes streamed at the sustained DRAM bandwidth.
Three mechanisms refine it, each with a chiplet field that defaults to "off" (README, "The
cost model"):

- GEMM: the k steps of all output tiles are dealt evenly to the units (cuBLAS picks tile
  shapes and split-K factors so that no wave runs mostly idle; too few tiles are split along k),
  and a memory-bound GEMM streams at a share of the DRAM bandwidth set by how many units have
  work (`dram_saturation_units`).
- Attention: each (request, head, 128-row query block) is a tile whose work is the key blocks
  it visits (a causal diagonal block costs a whole block) plus a fixed per-tile overhead
  (`attention_tile_overhead`); tiles are dealt heaviest-first round-robin to the units, and
  the busiest unit sets the time.
- Row reductions (norms): one row's critical path walks its width
  (`reduction_ns_per_element`) before the kernel can finish.
- Power cap: GEMM compute sustained past `throttle_after_us` runs at `throttled_clock` (dense
  tensor work hits the board's power limit; attention, with its softmax between the matrix
  products, did not in the calibration data).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from xcompass.targets import ChipletKind

ATTN_BLOCK = 128  # query rows per attention tile and keys per K/V block (FlashAttention-style)
MMA_ROWS = 16  # smallest query tile a short request (decode, verify) runs on
K_STEP = 64  # k depth of one GEMM main-loop step (the k tile of cuBLAS/CUTLASS Hopper kernels)


@dataclass(frozen=True)
class OpSpec:
    """One kernel-level op of a layer, in plain numbers (what a pass extracts from `llm` IR).

    kind: gemm (weights k x n), attention, eltwise (`tensors` tensors of `width` moved per
    token, in `kernels` kernels; `reduction`: each row is reduced, as in a norm), moe
    (experts of width ffn), embedding (a row gather),
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
    reduction: bool = False  # eltwise reducing each row (a norm; also implied by a `...norm` name)

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
    logits: int = 0  # logit rows per request; 0: the last token, or every new one over history

    @property
    def logit_rows(self) -> int:
        """Rows the LM head computes for one request: a prompt needs its last token's, a
        decode or verify step every new token's, a prefill chunk `logits` (serving)."""
        if self.logits:
            return self.logits
        return self.q if self.ctx else 1


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


@dataclass(frozen=True)
class Cover:
    """Row tiles covering a GEMM's token dimension M (llm-pad-tiles): `tiles` = ((rows,
    count), ...), largest first. `physical`: activations are copied into a buffer padded to
    the cover and the real rows copied out (XY-Serve's baseline); otherwise padding is virtual
    (only real rows are read and written, the padded rows are computed in the tile)."""

    tiles: tuple[tuple[int, int], ...]
    physical: bool = False

    @property
    def rows(self) -> int:
        return sum(rows * count for rows, count in self.tiles)

    def waste(self, m: int) -> int:
        """Padded rows computed beyond the M real ones."""
        return self.rows - m


def hardware_cover(chip: ChipletKind, m: int) -> Cover:
    """What an unlowered GEMM kernel does: M covered by the kernel's own row tile."""
    return Cover(((chip.tile_m, -(-m // chip.tile_m)),)) if m > 0 else Cover(())


@dataclass(frozen=True)
class Stage:
    """How one request's attention runs (llm-stage-attention). `mode`: decode2 | resident3 |
    split4 (one fused kernel; scores stay on chip) or unfused (QK^T, softmax, PV kernels with
    the scores through DRAM). `br` x `bc`: query rows x keys per tile; `buffers`: K/V buffering
    depth; `level`: the on-chip level holding the tiles and scores; `kv_passes`: how many times
    K and V stream from DRAM (split4 re-reads them per query row block when one head's K and V
    do not fit the chiplet's shared level)."""

    mode: str
    br: int = 128
    bc: int = 128
    buffers: int = 2
    level: str = ""
    kv_passes: int = 1


def gemm_time(
    chip: ChipletKind, m: int, n: int, k: int, dtype_bytes: int, weights_resident: bool = False
) -> tuple[float, float, float]:
    """(seconds, DRAM bytes, weight bytes) of `[m,k] x [k,n]` with tile quantization.

    Compute: whole `tile_m x tile_n` tiles (a 33-row GEMM on 32-row tiles costs two row tiles),
    whose `K_STEP`-deep k steps are dealt evenly to the units. cuBLAS gets close to that by
    choosing a tile shape and split-K factor per shape; with fewer tiles than units it splits k
    so more units work (the fp32 partial sums stay in L2; their reduction kernel is inside the
    floor). Memory: the units with work, `tiles x (units // tiles)` (whole split factors), draw
    `dram_share` of the sustained bandwidth.
    """
    if m <= 0 or n <= 0 or k <= 0:
        return 0.0, 0.0, 0.0
    compute, active = tile_compute(chip, hardware_cover(chip, m), n, k)
    weight_bytes = float(n * k * dtype_bytes)
    act_bytes = float((m * k + m * n) * dtype_bytes)
    dram = act_bytes + (0.0 if weights_resident else weight_bytes)
    memory = dram / (chip.bandwidth * dram_share(chip, active))
    return chip.kernel_floor_us * 1e-6 + overlap(chip, compute, memory), dram, weight_bytes


def overlap(chip: ChipletKind, compute: float, memory: float, p: float | None = None) -> float:
    """A GEMM's time from its compute and its DRAM streaming: the larger one with perfect
    overlap, or with `gemm_overlap` p the p-norm (c^p + m^p)^(1/p): near the ridge neither the
    main loop's math nor its loads run at full rate while the other one stalls it (cuBLAS's
    mid-M kernels, measured on the lent H100: benchmarks/data/h100_outliers.csv). `p`
    overrides the target's (MoE's grouped GEMMs: `grouped_overlap`)."""
    p = chip.gemm_overlap if p is None else p
    if p <= 0 or compute <= 0 or memory <= 0:
        return max(compute, memory)
    hi = max(compute, memory)
    return hi * ((compute / hi) ** p + (memory / hi) ** p) ** (1.0 / p)


def tile_compute(
    chip: ChipletKind, cover: Cover, n: int, k: int, batch: int = 1, split_k: bool | None = None
) -> tuple[float, int]:
    """(seconds of the busiest unit, units with work) for the output tiles of `batch` GEMMs
    whose M is covered by `cover`, N by `tile_n` columns and K by `K_STEP`-deep steps.

    A tile of `rows` rows costs rows / tile_m of a `tile_m x tile_n` step. With `split_k`
    (cuBLAS) every k step is dealt to the units on its own; without it (XY-Serve's cube cores)
    each output tile goes whole to one unit, plus `gemm_tile_overhead` steps of fill and drain;
    either way heaviest first, round-robin, and the busiest unit sets the time (wave
    quantization). `split_k` overrides the target's (batched GEMMs are never split)."""
    n_tiles = -(-n // chip.tile_n) * batch
    k_steps = -(-k // K_STEP)
    if chip.split_k if split_k is None else split_k:
        work = [(rows / chip.tile_m, count * n_tiles * k_steps) for rows, count in cover.tiles]
    else:
        work = [
            (rows / chip.tile_m * k_steps + chip.gemm_tile_overhead, count * n_tiles)
            for rows, count in cover.tiles
        ]
    step = 2.0 * chip.tile_m * chip.tile_n * K_STEP / (chip.flops / chip.units)
    tiles = math.ceil(sum(rows / chip.tile_m * count for rows, count in cover.tiles) * n_tiles)
    active = tiles * max(1, chip.units // tiles) if tiles else 0
    return sustained(chip, busiest_unit(work, chip.units) * step), active


def sustained(chip: ChipletKind, compute_s: float) -> float:
    """GEMM compute time under the power cap: dense tensor work sustained beyond
    `throttle_after_us` runs at `throttled_clock` of the boost clock (an H100/H200 SXM at its
    700 W limit lowers its clock within a millisecond of dense bf16 math; large GEMMs run at
    ~700 TFLOP/s where sub-millisecond ones reach ~780). `throttled_clock` 0: never."""
    clock = chip.throttled_clock
    onset = chip.throttle_after_us * 1e-6
    if clock <= 0 or compute_s <= onset:
        return compute_s
    return onset + (compute_s - onset) / clock


def dram_share(chip: ChipletKind, active_units: int) -> float:
    """Fraction of the sustained DRAM bandwidth that `active_units` busy units draw: each unit
    keeps a bounded number of loads in flight (Little's law), so streaming saturates only once
    `dram_saturation_units` units stream at once (0: any number does)."""
    saturation = chip.dram_saturation_units
    if saturation <= 0:
        return 1.0
    return min(1.0, min(active_units, chip.units) / saturation)


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


def unpacked(chip: ChipletKind, groups: list[RequestGroup]) -> list[bool]:
    """Which request groups lose GQA's sharing in this varlen call (`attention_mixed_unpacked`,
    measured on an H100: benchmarks/data/h100_serving_kernels.csv). FlashAttention-2 folds a
    KV head's query heads into the query length only when every request has one new token;
    with a longer query in the call, each short query (a decode, a verify step) takes a whole
    query tile per query head and each query head streams its KV head's K/V."""
    if not chip.attention_mixed_unpacked or max((g.q for g in groups), default=0) <= 1:
        return [False] * len(groups)
    return [0 < g.q < ATTN_BLOCK for g in groups]


def attention_tiles(
    op: OpSpec,
    groups: list[RequestGroup],
    heads: int,
    overhead: float,
    stages: list[Stage] | None = None,
    whole: list[bool] | None = None,
) -> list[tuple[float, int]]:
    """(work, count) of each kind of query tile, work in `ATTN_BLOCK x ATTN_BLOCK` block steps.

    A request's new tokens form `br`-row query tiles per head (a request of fewer rows gets one
    tile of its rows rounded up to `MMA_ROWS`, as decode kernels pick short tiles); `br` and
    the key block `bc` are its stage's (default `ATTN_BLOCK`). A tile visits every key block
    that any of its rows sees: a causal diagonal block costs a whole block. `overhead` block
    steps per tile: loading Q, the first K/V blocks before the pipeline overlaps, the softmax
    rescale and the O store.
    """
    B = ATTN_BLOCK
    tiles: list[tuple[float, int]] = []
    for j, g in enumerate(groups):
        if g.q <= 0 or g.count <= 0:
            continue
        br, bc = (stages[j].br, stages[j].bc) if stages else (B, B)
        short = min(br, -(-g.q // MMA_ROWS) * MMA_ROWS)
        rows = br if g.q >= br or (whole and whole[j]) else short
        scale = rows / B
        for i in range(-(-g.q // br)):
            first = g.ctx + i * br  # positions of the tile's first and last rows (0-based)
            last = g.ctx + min(g.q, (i + 1) * br) - 1
            hi = last + 1 if op.causal else g.ctx + g.q
            lo = 0
            if op.window:
                lo = max(0, first - op.window + 1) if op.causal else max(0, hi - op.window)
            blocks = -(-(hi - lo) // bc) * bc / B
            tiles.append((scale * (blocks + overhead), g.count * heads))
    return tiles


def busiest_unit(tiles: list[tuple[float, int]], units: int) -> float:
    """Work of the busiest unit when tiles are dealt round-robin, heaviest first (the static
    tile order of persistent attention kernels): unit `j` gets tiles `j, j + units, ...`."""
    if not tiles:
        return 0.0
    base = 0.0
    diff = [0.0] * (units + 1)  # a run of `rest` tiles adds `work` to a cyclic range of units
    pos = 0
    for work, count in sorted(tiles, key=lambda t: -t[0]):
        full, rest = divmod(count, units)
        base += work * full
        end = pos + rest
        diff[pos] += work
        if end <= units:
            diff[end] -= work
        else:
            diff[units] -= work
            diff[0] += work
            diff[end - units] -= work
        pos = end % units
    return base + max(itertools.accumulate(diff[:-1]))


def attention_cost(
    chip: ChipletKind,
    op: OpSpec,
    groups: list[RequestGroup],
    dtype_bytes: int,
    tp: int = 1,
    stages: list[Stage] | None = None,
) -> OpCost:
    """One varlen attention kernel over every request of the micro-batch (each request's
    tiles and K/V passes from its stage; default: 128 x 128 tiles, K/V read once)."""
    heads = op.heads // tp
    kv_heads = max(1, op.kv_heads // tp)
    hd = op.head_dim
    compute, macs = attention_compute(chip, op, groups, tp, stages)
    passes = [s.kv_passes for s in stages] if stages else [1] * len(groups)
    group = max(1, heads // kv_heads)
    lost = unpacked(chip, groups)
    kv_bytes = (
        sum(
            2.0
            * kv_heads
            * hd
            * min(g.ctx + g.q, op.window or 10**12)
            * g.count
            * p
            * (group if u else 1)
            for g, p, u in zip(groups, passes, lost, strict=True)
        )
        * dtype_bytes
    )
    qo_bytes = sum(2.0 * heads * hd * g.q * g.count for g in groups) * dtype_bytes
    memory = (kv_bytes + qo_bytes) / chip.attention_bandwidth
    time = chip.attention_floor_us * 1e-6 + max(compute, memory)
    return OpCost(time, macs, kv_bytes + qo_bytes, 0.0, qo_bytes)


def attention_compute(
    chip: ChipletKind,
    op: OpSpec,
    groups: list[RequestGroup],
    tp: int = 1,
    stages: list[Stage] | None = None,
) -> tuple[float, float]:
    """(seconds, MACs) of attention's matrix work: the busiest unit's query tiles."""
    heads = op.heads // tp
    pairs = sum(visible_pairs(g, op.causal, op.window) * g.count for g in groups)
    tiles = attention_tiles(
        op, groups, heads, chip.attention_tile_overhead, stages, unpacked(chip, groups)
    )
    block = 4.0 * ATTN_BLOCK * ATTN_BLOCK * op.head_dim  # flops of one block step (QK^T, PV)
    per_unit = chip.peak_tflops * 1e12 * chip.attention_efficiency / chip.units
    return busiest_unit(tiles, chip.units) * block / per_unit, 2.0 * heads * op.head_dim * pairs


def is_row_reduction(op: OpSpec) -> bool:
    """Norms reduce each row: `reduction=True`, or an element-wise op named `...norm`
    (layercost's `norm`/`final_norm`, the IR's `llm.rmsnorm`/`llm.layernorm`)."""
    return op.kind == "eltwise" and (op.reduction or op.name.endswith("norm"))


def eltwise_cost(
    chip: ChipletKind, op: OpSpec, tokens: int, dtype_bytes: int, tp: int = 1
) -> OpCost:
    """Streams `tensors x width` per token. A row reduction (norm) takes at least one row's
    critical path (one block walks the row's width: statistics, then normalize), which the
    other rows' streaming hides once there is enough of it (measured on the lent H100: a
    2048-row, 4096-wide RMSNorm's kernel takes its streaming time, a 1-row one floor + row;
    benchmarks/data/h100_outliers.csv), and re-reads its input (`reread_bytes`)."""
    width = op.width // tp if op.split else op.width
    moved = float(op.tensors * tokens * width * dtype_bytes)
    stream = moved / chip.eltwise_bandwidth
    if tokens > 0 and is_row_reduction(op):
        moved += reread_bytes(chip, width, tokens, dtype_bytes)
        stream = max(moved / chip.eltwise_bandwidth, width * chip.reduction_ns_per_element * 1e-9)
    time = op.kernels * chip.eltwise_floor_us * 1e-6 + stream
    return OpCost(time, 0.0, moved, 0.0, moved)


def reread_bytes(chip: ChipletKind, width: int, tokens: float, dtype_bytes: int) -> float:
    """DRAM bytes of a norm's second pass over its input: the statistics pass reads each row,
    then the normalize pass reads it again; a share min(1, width / `norm_reread_width`) of that
    re-read misses the on-chip caches (the wider the rows, the fewer of a unit's resident rows
    stay cached: PyTorch's 8192-wide RMSNorm moves as many bytes as a three-tensor add, the
    2048-wide one little more than two; benchmarks/data/h100_outliers.csv). 0: always hits."""
    if chip.norm_reread_width <= 0 or tokens <= 0:
        return 0.0
    return min(1.0, width / chip.norm_reread_width) * tokens * width * dtype_bytes


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
        from xcompass.moecost import moe_cost  # noqa: PLC0415 (moecost builds on this module)

        return moe_cost(chip, op, tokens, dtype_bytes, tp, weights_resident)
    raise ValueError(f"unknown op kind '{op.kind}'")
