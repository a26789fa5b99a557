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
  the busiest unit sets the time. A call can instead run the target's varlen kernel
  (`attention_varlen`: FlashAttention-2's whole 128 x 64 tiles, decode fold and key splits,
  CTA slots; `varlen_plan`), and the unfused attention has its own softmax and thin batched
  GEMM costs (`softmax_time`, `thin_bmm_time`; docs/targets.md, "Attention kernels").
- Row reductions (norms): one row's critical path walks its width
  (`reduction_ns_per_element`) before the kernel can finish.
- Power cap: GEMM compute sustained past `throttle_after_us` runs at `throttled_clock` (dense
  tensor work hits the board's power limit; attention, with its softmax between the matrix
  products, did not in the calibration data).
"""

from __future__ import annotations

import functools
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
    lost = chip.attention_mixed_unpacked or varlen_call(chip, groups)
    if not lost or max((g.q for g in groups), default=0) <= 1:
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
    time = attention_fixed_s(chip, op, groups, tp) + max(compute, memory)
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
    macs = 2.0 * heads * op.head_dim * pairs
    block = 4.0 * ATTN_BLOCK * ATTN_BLOCK * op.head_dim  # flops of one block step (QK^T, PV)
    if varlen_call(chip, groups):
        return varlen_compute(chip, op, groups, tp, block), macs
    tiles = attention_tiles(
        op, groups, heads, chip.attention_tile_overhead, stages, unpacked(chip, groups)
    )
    per_unit = chip.peak_tflops * 1e12 * chip.attention_efficiency / chip.units
    return busiest_unit(tiles, chip.units) * block / per_unit, macs


def varlen_call(chip: ChipletKind, groups: list[RequestGroup]) -> bool:
    """Whether this call runs the target's varlen kernel (`attention_varlen`): 2, every call
    (a serving loop sends each step through it); 1, a call no dense batched kernel can run:
    requests of different shapes, or a request with history and more than one new token (a
    chunk or a verify step, whose causal mask aligns to the end of its keys). PyTorch on an
    H100 runs dense batches with SDPA (cuDNN's Hopper kernel: the `attention_*` figures) and
    ragged ones with FlashAttention-2's varlen kernel (`attention_varlen_*`; measured:
    benchmarks/data/h100_attention.csv)."""
    mode = chip.attention_varlen
    if mode <= 0:
        return False
    live = [g for g in groups if g.q > 0 and g.count > 0]
    if not live:
        return False
    if mode >= 2:
        return True
    return len({(g.q, g.ctx) for g in live}) > 1 or any(g.q > 1 and g.ctx > 0 for g in live)


@functools.lru_cache(maxsize=4096)
def fa2_splits(ctas: int, slots: int, key_blocks: int, most: int = 128) -> int:
    """FlashAttention-2's split-KV count (`num_splits_heuristic`, flash_api.cpp): none when
    the CTAs nearly fill the slots (80%); else the fewest splits whose wave efficiency
    (CTAs x splits over slots, as a fraction of whole waves) is within 85% of the best, among
    splits that change the key blocks per split."""
    if ctas >= 0.8 * slots:
        return 1
    most = min(most, slots, key_blocks)

    def distinct(s: int) -> bool:  # s splits give a different blocks-per-split than s - 1
        return s == 1 or -(-key_blocks // s) != -(-key_blocks // (s - 1))

    eff = {}
    for s in range(1, most + 1):
        if distinct(s):
            waves = ctas * s / slots
            eff[s] = waves / math.ceil(waves)
    best = max(eff.values(), default=0.0)
    return next((s for s, e in eff.items() if e >= 0.85 * best), 1)


@dataclass(frozen=True)
class VarlenPlan:
    """How FlashAttention-2's varlen kernel runs one call: `tiles` (work in ATTN_BLOCK x
    ATTN_BLOCK block steps, count) of its CTAs, whether the decodes' query heads were folded
    into rows (`folded`), the key splits, and the requests in the call."""

    tiles: tuple[tuple[float, int], ...]
    folded: bool
    splits: int
    requests: int


def varlen_plan(chip: ChipletKind, op: OpSpec, groups: list[RequestGroup], tp: int) -> VarlenPlan:
    """FlashAttention-2's varlen grid for one call (flash_api.cpp, flash_fwd_launch_template.h).

    Every CTA computes a whole tile of `attention_varlen_rows` query rows, whatever its real
    rows, over blocks of `attention_varlen_keys` keys: one CTA per (request, query head,
    row block), visiting the key blocks its rows see (causal: aligned to the end of the keys).
    So a decode beside a prompt chunk costs a whole 128-row tile per query head, and each
    query head streams its KV head. With `attention_varlen_split`, a call whose every request
    has one new token folds a KV head's query heads into rows (one CTA per request and KV
    head) and splits the keys by `fa2_splits` over `attention_varlen_ctas` x units slots: the
    split kernel's tiles have half the rows and twice the keys, and a combine kernel merges
    the splits. `attention_varlen_tile_overhead` block steps per CTA (Q load, O store)."""
    B = ATTN_BLOCK
    heads = op.heads // tp
    kv_heads = max(1, op.kv_heads // tp)
    group = max(1, heads // kv_heads)
    rows = int(chip.attention_varlen_rows) or B
    keys = int(chip.attention_varlen_keys) or B
    step = rows * keys / (B * B)  # block steps of one tile's pass over one key block
    over = chip.attention_varlen_tile_overhead
    live = [g for g in groups if g.q > 0 and g.count > 0]
    requests = sum(g.count for g in live)
    # a step whose GEMMs are compute-bound (at least `ridge` tokens) holds the board at its
    # power cap: the tiles' math runs at `throttled_clock`, in proportion to their real rows
    # (a decode's tile waits on its K/V, not on the clock)
    tokens = sum(g.q * g.count for g in live)
    clock = chip.throttled_clock
    throttled = chip.attention_varlen_throttle > 0 and clock > 0 and tokens >= chip.ridge
    slow = 1.0 / clock - 1.0 if throttled else 0.0
    tiles: list[tuple[float, int]] = []
    # FlashAttention-2 folds only without a window (no local attention)
    fold = (
        chip.attention_varlen_split > 0
        and heads > kv_heads
        and not op.window
        and max(g.q for g in live) == 1
    )
    if fold:
        split_keys, split_rows = 2 * keys, max(1, rows // 2)
        blocks = -(-max(g.ctx + 1 for g in live) // split_keys)  # of the longest request
        row_blocks = -(-group // split_rows)  # of the folded rows (one for GQA groups <= 64)
        ctas = requests * kv_heads * row_blocks
        slots = int(max(1.0, chip.attention_varlen_ctas) * chip.units)
        splits = fa2_splits(ctas, slots, blocks)
        per = -(-blocks // splits)  # key blocks per split
        for g in live:
            if splits == 1:  # the standard kernel on the folded rows
                tiles.append((-(-(g.ctx + 1) // keys) * step + over, g.count * kv_heads))
                continue
            full, rest = divmod(-(-(g.ctx + 1) // split_keys), per)
            if full:
                tiles.append((per * step + over, g.count * kv_heads * row_blocks * full))
            if rest:
                tiles.append((rest * step + over, g.count * kv_heads * row_blocks))
        return VarlenPlan(tuple(tiles), True, splits, requests)
    for g in live:
        for i in range(-(-g.q // rows)):
            first = g.ctx + i * rows  # positions of the tile's first and last rows (0-based)
            last = g.ctx + min(g.q, (i + 1) * rows) - 1
            hi = last + 1 if op.causal else g.ctx + g.q
            lo = 0
            if op.window:
                lo = max(0, first - op.window + 1) if op.causal else max(0, hi - op.window)
            full = min(g.q - i * rows, rows) / rows  # share of the tile's rows that are real
            work = (-(-(hi - lo) // keys) * step + over) * (1.0 + slow * full)
            tiles.append((work, g.count * heads))
    return VarlenPlan(tuple(tiles), False, 1, requests)


def varlen_compute(
    chip: ChipletKind, op: OpSpec, groups: list[RequestGroup], tp: int, block: float
) -> float:
    """Seconds of the varlen kernel's busiest CTA slot. A unit holds `attention_varlen_ctas`
    CTAs at once and runs them at `attention_varlen_efficiency` of its peak together; with no
    more CTAs than units each CTA has a unit to itself and runs at `attention_varlen_lone` of
    that rate (one CTA of 4 warps does not fill an SM: measured on the lent H100, a lone
    128 x 64 block step takes 1.8 us, two sharing an SM 3.0 us each)."""
    plan = varlen_plan(chip, op, groups, tp)
    if not plan.tiles:
        return 0.0
    per_unit = chip.peak_tflops * 1e12 * (chip.attention_varlen_efficiency or 1.0) / chip.units
    step = block / per_unit  # seconds of one block step on a full unit
    ctas = sum(count for _, count in plan.tiles)
    if ctas <= chip.units:
        return max(w for w, _ in plan.tiles) * step / (chip.attention_varlen_lone or 1.0)
    resident = max(1, int(chip.attention_varlen_ctas))
    return busiest_unit(list(plan.tiles), chip.units * resident) * step * resident


def attention_fixed_s(chip: ChipletKind, op: OpSpec, groups: list[RequestGroup], tp: int) -> float:
    """An attention call's seconds beyond its compute or streaming: the kernel's floor; for
    the varlen kernel, its own floor, plus the combine kernel of a split call (a floor and
    `attention_varlen_split_us` per split: it walks the splits of each row) and, when the
    decodes' query heads were folded for more than one request, the copies in and out of the
    folded layout (`attention_varlen_fold_us`)."""
    if not varlen_call(chip, groups):
        return (chip.attention_floor_us + dense_reduce_us(chip, op, groups, tp)) * 1e-6
    floor = chip.attention_varlen_floor_us or chip.attention_floor_us
    plan = varlen_plan(chip, op, groups, tp)
    us = floor
    if plan.splits > 1:
        us += floor + plan.splits * chip.attention_varlen_split_us
    if plan.folded and plan.requests > 1:
        us += chip.attention_varlen_fold_us
    return us * 1e-6


def dense_reduce_us(chip: ChipletKind, op: OpSpec, groups: list[RequestGroup], tp: int) -> float:
    """A dense decode call (every request one new token) with fewer query tiles (requests x
    query heads) than twice the units splits its keys and merges the splits in a reduction
    kernel: `attention_reduce_us` more (cuDNN's decode kernel on the lent H100: a
    `lean_reduction_kernel` beside it at 1 and 8 requests of 32 heads, none at 32 and 64)."""
    if chip.attention_reduce_us <= 0:
        return 0.0
    live = [g for g in groups if g.q > 0 and g.count > 0]
    if not live or any(g.q != 1 for g in live):
        return 0.0
    tiles = sum(g.count for g in live) * (op.heads // tp)
    return chip.attention_reduce_us if tiles < 2 * chip.units else 0.0


def scores_on_chip(chip: ChipletKind, scores: float) -> bool:
    """Whether the unfused attention's scores stay in the chiplet's largest shared on-chip
    level between its kernels (`attention_scores_cached`: they fit it): the batched GEMMs
    then neither write nor read them through DRAM (measured on the lent H100: a 512-token
    prompt's 17 MB of scores leave QK^T and PV 30-50% faster than streaming them)."""
    if chip.attention_scores_cached <= 0:
        return False
    shared = max((lv.bytes for lv in chip.onchip if lv.shared), default=0)
    return 0 < scores <= shared


def softmax_time(chip: ChipletKind, io: float, width: int) -> float:
    """Streaming seconds of the unfused attention's softmax over score rows of `width`:
    `attention_softmax_efficiency` of the DRAM bandwidth (0: the element-wise rate) up to
    rows of `attention_softmax_wide_row`; each doubling of width beyond that adds
    `attention_softmax_per_doubling` of the time (PyTorch's softmax keeps a bounded number of
    row elements in flight per SM and each row's two block reductions deepen with its width:
    measured on the lent H100, 1.9 TB/s at 512-1024 wide rows, 0.9 TB/s at 8192;
    benchmarks/data/h100_attention.csv)."""
    eff = chip.attention_softmax_efficiency
    rate = chip.dram_gbs * 1e9 * eff if eff else chip.eltwise_bandwidth
    wide = chip.attention_softmax_wide_row
    slow = 1.0
    if wide > 0 and width > wide:
        slow += chip.attention_softmax_per_doubling * math.log2(width / wide)
    return io / rate * slow


def thin_bmm(chip: ChipletKind, rows: int) -> bool:
    """Whether the unfused attention's batched GEMMs with `rows` rows (GQA group x new tokens)
    run cuBLAS's GEMV-class kernels off the matrix units (fewer rows than its tile, `mma_m`)."""
    return chip.attention_bmm_thin_gbs > 0 and rows < chip.hw_tile_m


def thin_bmm_time(chip: ChipletKind, tiles: list[tuple[float, int]]) -> float:
    """Seconds of thin batched GEMMs: each output tile (`tile_n` columns of one GEMM) is one
    unit's, costing `attention_bmm_thin_us` plus its operand bytes at `attention_bmm_thin_gbs`
    per unit (`tiles`: (operand bytes, count)); measured on the lent H100: decode QK^T and PV
    with 4 rows per (request, KV head) stream K and V at 0.4-1.3 TB/s, 4-5x slower than the
    fused kernel (benchmarks/data/h100_attention.csv)."""
    lat, rate = chip.attention_bmm_thin_us * 1e-6, chip.attention_bmm_thin_gbs * 1e9
    return busiest_unit([(lat + b / rate, n) for b, n in tiles], chip.units)


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
