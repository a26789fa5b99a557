"""GEMM row tiles (XY-Serve's SmoothGEMM): every GEMM's token dimension M is dynamic; cover it
with tiles from the target's tile set, choosing the tile, or mix of tiles, that the cost model
says is fastest, wave quantization over the units included.

`virtual` padding reads and writes only the real rows (the tile computes the padded ones);
`physical` padding (the baseline) copies the activations into a buffer padded to one tile size,
computes every padded row and copies the real rows out.
"""

from __future__ import annotations

from dataclasses import dataclass

from xcompass.cost.opcost import Cover, dram_share, overlap, tile_compute
from xcompass.errors import XcompassError
from xcompass.hardware.targets import ChipletKind

MODES = ("virtual", "physical")


def check_tiles(chip: ChipletKind, tiles: tuple[int, ...]) -> None:
    """Tiles must be positive multiples of the matrix unit's tile."""
    hw = chip.hw_tile_m
    for t in tiles:
        if t <= 0 or t % hw:
            raise XcompassError(
                f"tile {t} is not a positive multiple of the hardware tile ({hw} rows)"
            )


def _remainders(r: int, tiles: tuple[int, ...]) -> list[tuple[tuple[int, int], ...]]:
    """Ways to cover the last `r` rows: the smallest tile that holds them, or the largest tile
    below them and a cover of the rest."""
    if r <= 0:
        return [()]
    fitting = [t for t in tiles if t >= r]
    out = [((min(fitting), 1),)] if fitting else []
    below = [t for t in tiles if t < r]
    if below:
        t = max(below)
        q, rest = divmod(r, t)
        out += [((t, q), *tail) for tail in _remainders(rest, tuple(x for x in tiles if x < t))]
    return out


def candidate_covers(m: int, tiles: tuple[int, ...], physical: bool) -> list[Cover]:
    """One tile size for all rows (the only choice a padded buffer allows), and for virtual
    padding every mix of a large tile with covers of the remainder."""
    tiles = tuple(sorted(set(tiles), reverse=True))
    out = [Cover(((t, -(-m // t)),), physical) for t in tiles]
    if physical:
        return out
    for t in tiles:
        q, r = divmod(m, t)
        if q and r:
            for tail in _remainders(r, tuple(x for x in tiles if x < t)):
                merged: dict[int, int] = {t: q}
                for rows, count in tail:
                    merged[rows] = merged.get(rows, 0) + count
                out.append(Cover(tuple(sorted(merged.items(), reverse=True)), physical))
    return out


def cover_time(chip: ChipletKind, cover: Cover, m: int, n: int, k: int, dtype_bytes: int) -> float:
    """Modelled seconds of a `[m, k] x [k, n]` GEMM on `cover` (the cost model's GEMM kernel),
    with physical padding's two copy kernels and padded traffic."""
    compute, active = tile_compute(chip, cover, n, k)
    rows = cover.rows if cover.physical else m
    dram = (rows * (k + n) + n * k) * dtype_bytes
    time = chip.kernel_floor_us * 1e-6 + overlap(
        chip, compute, dram / (chip.bandwidth * dram_share(chip, active))
    )
    if cover.physical:
        copies = 2 * m * (k + n) * dtype_bytes  # real rows into the padded buffer and out
        time += 2 * chip.eltwise_floor_us * 1e-6 + copies / chip.eltwise_bandwidth
    return time


def plan_cover(
    chip: ChipletKind,
    m: int,
    n: int,
    k: int,
    dtype_bytes: int,
    tiles: tuple[int, ...] = (),
    mode: str = "virtual",
) -> Cover:
    """The fastest cover of M rows; ties go to fewer padded rows, then fewer tiles."""
    tiles = tiles or chip.gemm_tiles
    if m <= 0:
        return Cover((), mode == "physical")
    best = min(
        candidate_covers(m, tiles, mode == "physical"),
        key=lambda c: (
            round(cover_time(chip, c, m, n, k, dtype_bytes), 15),
            c.rows,
            sum(count for _, count in c.tiles),
        ),
    )
    return best


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise XcompassError(f"unknown mode '{mode}' (valid: {', '.join(MODES)})")


@dataclass(frozen=True)
class PadPolicy:
    """What llm-pad-tiles decided for one GEMM: mode, tile set, and the cover of every token
    count of the workload it saw (`plans`); a count it did not see is planned alike."""

    mode: str = "virtual"
    tiles: tuple[int, ...] = ()
    plans: tuple[tuple[int, Cover], ...] = ()

    def cover(self, chip: ChipletKind, m: int, n: int, k: int, dtype_bytes: int) -> Cover:
        for rows, cover in self.plans:
            if rows == m:
                return cover
        return plan_cover(chip, m, n, k, dtype_bytes, self.tiles, self.mode)
