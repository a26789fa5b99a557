"""Ops and their cost on one chiplet kind: the op and request types, and the GEMM and
element-wise physics (roofline plus what real kernels show). `kernelcost.op_cost` dispatches
an op to these, to `attentioncost` and to `moecost`.

Every op costs `floor + max(compute, memory)`: a per-kernel floor (what a kernel costs back to
back in a stream or CUDA graph beyond its work), compute quantized to whole tiles (a 33-row
GEMM on 32-row tiles costs two row tiles), and bytes streamed at the sustained DRAM bandwidth.
Three mechanisms refine it, each with a chiplet field that defaults to "off" (README, "The
cost model"):

- GEMM: the k steps of all output tiles are dealt evenly to the units (cuBLAS picks tile
  shapes and split-K factors so that no wave runs mostly idle; too few tiles are split along k),
  and a memory-bound GEMM streams at a share of the DRAM bandwidth set by how many units have
  work (`dram_saturation_units`).
- Attention (`attentioncost`): each (request, head, 128-row query block) is a tile whose work
  is the key blocks it visits plus a fixed per-tile overhead, dealt to the units; or the
  target's varlen kernel; or the unfused kernels.
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

from xcompass.hardware.targets import ChipletKind

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
