"""Attention's cost on one chiplet kind: the fused kernel's tiles dealt to the units
(FlashAttention-style 128-row query blocks over key blocks, GQA packing, the per-tile overhead),
FlashAttention-2's varlen kernel where the target runs it (`attention_varlen`: whole 128 x 64
tiles, the decode fold and key splits, CTA slots), dense SDPA's reduction kernel, and the
unfused attention's softmax and thin batched GEMMs (docs/targets.md, "Attention kernels")."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from xcompass.cost.opcost import (
    ATTN_BLOCK,
    MMA_ROWS,
    OpCost,
    OpSpec,
    RequestGroup,
    Stage,
    busiest_unit,
)
from xcompass.hardware.targets import ChipletKind


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
    group: int = 1,
) -> list[tuple[float, int]]:
    """(work, count) of each kind of query tile, work in `ATTN_BLOCK x ATTN_BLOCK` block steps.

    A request's new tokens form `br`-row query tiles per head (a request of fewer rows gets one
    tile of its rows rounded up to `MMA_ROWS`, as decode kernels pick short tiles); `br` and
    the key block `bc` are its stage's (default `ATTN_BLOCK`). A tile visits every key block
    that any of its rows sees: a causal diagonal block costs a whole block. `overhead` block
    steps per tile: loading Q, the first K/V blocks before the pipeline overlaps, the softmax
    rescale and the O store. `group` > 1 (`attention_gqa_pack`): a request whose new tokens of
    all `group` query heads of a KV head fit one short tile runs them as one tile's rows.
    """
    B = ATTN_BLOCK
    tiles: list[tuple[float, int]] = []
    for j, g in enumerate(groups):
        if g.q <= 0 or g.count <= 0:
            continue
        br, bc = (stages[j].br, stages[j].bc) if stages else (B, B)
        per, q_rows = heads, g.q
        if group > 1 and g.q * group <= br and not (whole and whole[j]):
            per, q_rows = heads // group, g.q * group  # one tile per KV head, heads as rows
        short = min(br, -(-q_rows // MMA_ROWS) * MMA_ROWS)
        rows = br if q_rows >= br or (whole and whole[j]) else short
        scale = rows / B
        for i in range(-(-g.q // br)):
            first = g.ctx + i * br  # positions of the tile's first and last rows (0-based)
            last = g.ctx + min(g.q, (i + 1) * br) - 1
            hi = last + 1 if op.causal else g.ctx + g.q
            lo = 0
            if op.window:
                lo = max(0, first - op.window + 1) if op.causal else max(0, hi - op.window)
            blocks = -(-(hi - lo) // bc) * bc / B
            tiles.append((scale * (blocks + overhead), g.count * per))
    return tiles


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
    pack = max(1, heads // max(1, op.kv_heads // tp)) if chip.attention_gqa_pack else 1
    tiles = attention_tiles(
        op, groups, heads, chip.attention_tile_overhead, stages, unpacked(chip, groups), pack
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


def thin_bmm_time(chip: ChipletKind, tiles: list[tuple[float, int]], pv: bool = False) -> float:
    """Seconds of thin batched GEMMs (`tiles`: (operand bytes, count); a tile is `tile_n`
    columns of one GEMM). Without `attention_bmm_thin_tbs`: each tile is one unit's, costing
    `attention_bmm_thin_us` plus its bytes at `attention_bmm_thin_gbs` per unit, dealt
    round-robin (the first fit, benchmarks/data/h100_attention.csv). With it: the latency once,
    plus the larger of the busiest unit's tiles at `..._gbs` each (a GEMV-class tile walks its
    operand alone) and all the bytes at `..._tbs` (the kernel's whole streaming: many small
    CTAs per SM, none near the DRAM rate). Measured on the lent H100 with K/V off L2
    (benchmarks/data/h100_attn_decode.csv): decode QK^T (cuBLAS's magma/gemmSN_TN kernels, 4-8
    rows) streams K at ~0.45 TB/s once there are many tiles, 4 us with few; PV (gemmSN_NN, one
    tile per request and KV head walking every key) at ~8 GB/s per tile, ~1.3 TB/s in all
    with many. `pv`: the PV's GEMM, with `attention_bmm_thin_pv_*` where set."""
    lat, gbs, tbs = (
        chip.attention_bmm_thin_us,
        chip.attention_bmm_thin_gbs,
        chip.attention_bmm_thin_tbs,
    )
    if pv and chip.attention_bmm_thin_pv_gbs > 0:
        lat, gbs = chip.attention_bmm_thin_pv_us, chip.attention_bmm_thin_pv_gbs
        tbs = chip.attention_bmm_thin_pv_tbs
    if tbs <= 0:
        return busiest_unit([(lat * 1e-6 + b / (gbs * 1e9), n) for b, n in tiles], chip.units)
    walk = busiest_unit([(b / (gbs * 1e9), n) for b, n in tiles], chip.units)
    return lat * 1e-6 + max(walk, sum(b * n for b, n in tiles) / (tbs * 1e12))
