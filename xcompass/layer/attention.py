"""Staged attention (THInfer's staged pipelined attention, XY-Serve's meta-attention): for each
request shape, which pipeline an attention kernel runs and with which tiles.

- `decode2`: one new token; two stages (load a K/V block, score and accumulate it).
- `resident3`: the query block's whole score rows fit the level: QK^T, softmax, PV in three
  stages with the scores on chip and no K/V split.
- `split4`: K/V in blocks of `bc` keys with FlashAttention's online-softmax update (QK^T,
  softmax, rescale, PV).
- `unfused`: what IR costs before this pass: QK^T, softmax and PV kernels, scores through DRAM.

Tiles follow FlashAttention's bounds for an on-chip level of M elements: `bc = ceil(M / 4d)`,
`br = min(bc, d)`, each rounded down to the matrix unit's tile times a power of two; K/V are
triple-buffered when three buffers fit beside the query block, else double-buffered.
"""

from __future__ import annotations

from dataclasses import dataclass

from xcompass.cost.opcost import MMA_ROWS, Stage
from xcompass.errors import XcompassError
from xcompass.hardware.targets import ChipletKind, OnChipLevel

MODES = ("auto", "unfused", "decode2", "resident3", "split4")
SCORE_BYTES = 4  # scores and the softmax statistics are kept in fp32


@dataclass(frozen=True)
class AttentionShape:
    """What staging needs of an attention op."""

    heads: int
    kv_heads: int
    head_dim: int


def unit_bytes(chip: ChipletKind, level: OnChipLevel) -> int:
    """Bytes of the level one unit can use: its own, or its share of a shared level."""
    return level.bytes // chip.units if level.shared else level.bytes


def staging_level(chip: ChipletKind, name: str = "") -> OnChipLevel:
    """The named level, or the innermost per-unit level (the first one listed)."""
    if name:
        level = chip.level(name)
        if level is None:
            valid = ", ".join(lv.name for lv in chip.onchip)
            raise XcompassError(f"unknown level '{name}' (valid: {valid})")
        return level
    return next((lv for lv in chip.onchip if not lv.shared), chip.onchip[0])


def _round_tile(x: int, tile: int) -> int:
    """The largest `tile x 2^j` not above x (at least one tile)."""
    out = tile
    while out * 2 <= x:
        out *= 2
    return out


def flash_tiles(
    chip: ChipletKind, level: OnChipLevel, head_dim: int, dtype_bytes: int
) -> tuple[int, int, int]:
    """(br, bc, buffers) from FlashAttention's bounds for the level's per-unit capacity.

    `bc = ceil(M / 4d)`, `br = min(bc, d)` with M the capacity in elements, rounded down to
    the hardware tile times a power of two; then the query block and `buffers` K/V blocks
    must fit: three buffers if they do, else two, halving `bc` (never below one tile) until
    two do."""
    capacity = unit_bytes(chip, level)
    elements = capacity // dtype_bytes
    tile = chip.hw_tile_m
    bound = -(-elements // (4 * head_dim))
    bc = _round_tile(bound, tile)
    br = _round_tile(min(bound, head_dim), tile)

    def fits(bc: int, buffers: int) -> bool:
        return (br + 2 * bc * buffers) * head_dim * dtype_bytes <= capacity

    while not fits(bc, 2) and bc > tile:
        bc //= 2
    if not fits(bc, 2):
        raise XcompassError(
            f"no attention tile fits level '{level.name}' ({capacity:,} bytes per unit): "
            f"a {br} x {bc} tile with head_dim {head_dim} needs "
            f"{(br + 4 * bc) * head_dim * dtype_bytes:,}"
        )
    return br, bc, 3 if fits(bc, 3) else 2


def plan_stage(
    chip: ChipletKind,
    shape: AttentionShape,
    q: int,
    ctx: int,
    dtype_bytes: int,
    mode: str = "auto",
    level: str = "",
) -> Stage:
    """The stage of one request of `q` new tokens over `ctx` tokens of history (a verify
    request: q = draft + 1 rows under the causal mask over its history).

    auto: decode2 for one new token; resident3 when the query block's score rows over all
    `ctx + q` keys fit the level beside its tiles; split4 otherwise. K/V stream from DRAM once
    when one KV head's K and V for this request fit the chiplet's largest shared level (the
    query row blocks re-read them there); otherwise split4 re-reads them per row block, the
    N^2 d^2 / M traffic of FlashAttention."""
    if mode == "unfused":  # no tiles: the scores go through DRAM
        return Stage("unfused", 0, 0, 0, "dram")
    lv = staging_level(chip, level)
    br, bc, buffers = flash_tiles(chip, lv, shape.head_dim, dtype_bytes)
    rows = br if q >= br else min(br, -(-q // MMA_ROWS) * MMA_ROWS)
    kv = ctx + q
    tiles = (br + 2 * bc * buffers) * shape.head_dim * dtype_bytes
    resident = tiles + rows * kv * SCORE_BYTES <= unit_bytes(chip, lv)
    if mode == "auto":
        mode = "decode2" if q == 1 else ("resident3" if resident else "split4")
    if mode == "decode2":  # one row block of the request's rows, double-buffered K/V
        br, buffers = rows, 2
    shared = max((x.bytes for x in chip.onchip if x.shared), default=0)
    fits_shared = 2 * kv * shape.head_dim * dtype_bytes <= shared
    passes = 1 if fits_shared or mode in ("decode2", "resident3") else -(-q // br)
    return Stage(mode, br, bc, buffers, lv.name, passes)


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise XcompassError(f"unknown mode '{mode}' (valid: {', '.join(MODES)})")


def shape_key(q: int, ctx: int) -> str:
    """How a request shape is named in IR (`q512_ctx0`: 512 new tokens, no history)."""
    return f"q{q}_ctx{ctx}"


@dataclass(frozen=True)
class StagePolicy:
    """What llm-stage-attention decided for one attention op: its options, and the stage of
    every request shape of the workload it saw (`plans`). A shape it did not see (a workload
    re-split later) is planned with the same options."""

    mode: str = "auto"
    level: str = ""
    plans: tuple[tuple[tuple[int, int], Stage], ...] = ()

    def stage(
        self, chip: ChipletKind, shape: AttentionShape, q: int, ctx: int, dtype_bytes: int
    ) -> Stage:
        for key, stage in self.plans:
            if key == (q, ctx):
                return stage
        return plan_stage(chip, shape, q, ctx, dtype_bytes, self.mode, self.level)
