"""Iteration costs for an hour of traffic: the exact engine on a grid, interpolated.

Costing every iteration exactly takes milliseconds (the cost table of the step, then the
schedule), and an hour of serving runs ~10^5 iterations. What the engine's cost depends on is
small: per micro-batch, how many decodes and at what history, how many verify steps, how many
prompt tokens in how many chunks and over what history. So an iteration is reduced to those
features, each history-like feature is put on a geometric grid (ratio GRID_RATIO) and the
prompt-token count on a fine grid (exact up to EXACT_TOKENS, then steps of TOKEN_STEP). For
a one-micro-batch replica the cost is interpolated multilinearly between the exact engine's
costs at the grid corners (the engine is near-linear in KV and tokens between tile steps);
with several micro-batches each feature snaps to its nearest grid point. Every corner is one
exact engine call on a canonical step, memoized. `check` re-costs a sample of the run's own
iterations exactly and reports the error, so the approximation is measured, not assumed.

A serving loop sends every iteration's attention through one varlen call, whatever its shapes
(benchmarks/gpu/measure_serving.py: FlashAttention-2 over KV slabs): a target whose ragged
calls run its varlen kernel (`attention_varlen = 1`, the NVIDIA presets) is served with every
call on it (`serving_target`), exact engine and grid alike.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from itertools import product
from typing import NamedTuple

import numpy as np

from xcompass.hardware.targets import Target
from xcompass.serving.replicas import Item, ReplicaEngine

GRID_RATIO = 2 ** (1 / 4)
"""Geometric step of the history grid (~19%): the cost is near-linear in KV between points."""
EXACT_TOKENS = 64
"""Prompt-token counts up to this are costed exactly (small GEMMs step at every tile)."""
TOKEN_STEP = 16
"""Grid step of larger token counts (the presets' smallest GEMM tile: no corner pair straddles
a tile step the point does not)."""
EXACT_COUNT = 16
"""Decode / verify counts up to this are exact; larger ones interpolate on steps of COUNT_STEP."""
COUNT_STEP = 8


_GRID = [max(1, round(GRID_RATIO**i)) for i in range(400)]  # history grid points (2^100)


def _axis_history(x: float) -> list[tuple[int, float]]:
    """Grid points around a history value (the largest point <= x, the smallest >= x) and
    their interpolation weights."""
    if x <= 0:
        return [(0, 1.0)]
    at = math.log(x, GRID_RATIO)
    lo, hi = _GRID[max(0, math.floor(at + 1e-9))], _GRID[max(0, math.ceil(at - 1e-9))]
    if hi <= lo:
        return [(lo, 1.0)]
    w = (x - lo) / (hi - lo)
    return [(lo, 1.0 - w), (hi, w)]


def _axis_tokens(q: int, floor: int) -> list[tuple[int, float]]:
    """Grid points around the step's token count M (what the GEMMs see), never below `floor`
    (the decode and verify tokens plus one per chunk)."""
    if q <= EXACT_TOKENS:
        return [(q, 1.0)]
    lo = (q // TOKEN_STEP) * TOKEN_STEP
    hi = -(-q // TOKEN_STEP) * TOKEN_STEP
    if lo < floor:
        return [(q, 1.0)]
    if hi <= lo:
        return [(q, 1.0)]
    w = (q - lo) / (hi - lo)
    return [(lo, 1.0 - w), (hi, w)]


def _axis_count(n: int) -> list[tuple[int, float]]:
    if n <= EXACT_COUNT:
        return [(n, 1.0)]
    lo, hi = (n // COUNT_STEP) * COUNT_STEP, -(-n // COUNT_STEP) * COUNT_STEP
    if hi <= lo:
        return [(n, 1.0)]
    w = (n - lo) / (hi - lo)
    return [(lo, 1.0 - w), (hi, w)]


def _coarse_count(n: int) -> int:
    """A count on a coarse grid (0, then powers of two): where the decodes stand when only
    what they hide of a chunk's history matters."""
    return 0 if n <= 0 else 1 << round(math.log2(n))


def _coarse_history(x: float) -> int:
    """A history on a power-of-two grid (0 stays 0)."""
    return 0 if x <= 0 else 1 << round(math.log2(max(x, 1.0)))


def _snap(axis: list[tuple[int, float]]) -> int:
    return max(axis, key=lambda p: p[1])[0]


class Features(NamedTuple):
    """What the engine's cost of one micro-batch depends on."""

    decodes: int
    decode_ctx: float  # mean history of the decodes
    decode_max: float  # the longest one's (varlen kernels split and tile by it)
    verifies: int
    verify_q: int  # tokens of one verify step (draft + 1)
    verify_ctx: float
    chunks: int  # prompts or prompt chunks
    prompt_tokens: int
    chunk_ctx: float  # token-weighted mean history of the chunks (0: prompts from the start)

    @staticmethod
    def of(items: list[Item]) -> Features:
        nd = nv = nc = qv = qp = 0
        sd = sv = sc = md = 0.0
        for _, q, ctx, kind in items:
            if kind == "d":
                nd += 1
                sd += ctx
                if ctx > md:
                    md = ctx
            elif kind == "v":
                nv += 1
                if q > qv:
                    qv = q
                sv += ctx
            else:
                nc += 1
                qp += q
                sc += ctx * q
        return Features(
            nd, sd / nd if nd else 0.0, md, nv, qv, sv / nv if nv else 0.0, nc, qp,
            sc / qp if qp else 0.0,
        )  # fmt: skip


def canonical(
    decodes: int,
    dctx: int,
    dmax: int,
    verifies: int,
    vq: int,
    vctx: int,
    chunks: int,
    total: int,
    cctx: int,
) -> list[tuple[int, int, int, str]]:
    """The step a grid point stands for, as engine groups (new tokens, history, count, kind);
    `total` is the step's token count, the chunks get what the decodes and verifies leave.
    With `dmax` above the mean `dctx`, one decode has that history and the others share the
    rest, the mean kept: a varlen kernel's splits and its busiest tile follow the longest."""
    out: list[tuple[int, int, int, str]] = []
    tokens = total - decodes - verifies * vq
    if decodes > 1 and dmax > dctx:
        rest = max(1, round((decodes * dctx - dmax) / (decodes - 1)))
        out += [(1, max(rest, 1), decodes - 1, "d"), (1, dmax, 1, "d")]
    elif decodes:
        out.append((1, max(dctx, 1), decodes, "d"))
    if verifies:
        out.append((vq, max(vctx, 1), verifies, "v"))
    if chunks:
        base, extra = divmod(tokens, chunks)
        kind = "c" if cctx > 0 else "p"
        if extra:
            out.append((base + 1, cctx, extra, kind))
        if chunks - extra and base:
            out.append((base, cctx, chunks - extra, kind))
    return out


def serving_target(target: Target) -> Target:
    """The target as a serving loop runs it: chiplet kinds whose ragged attention calls run
    their varlen kernel (`attention_varlen` 1) run every call on it (2)."""
    kinds = tuple(
        dataclasses.replace(k, attention_varlen=2.0) if k.attention_varlen == 1 else k
        for k in target.kinds
    )
    return target if kinds == target.kinds else dataclasses.replace(target, kinds=kinds)


@dataclass
class CachedCost:
    """Iteration cost of one replica through the grid (see the module docstring)."""

    engine: ReplicaEngine
    corners: dict[tuple, tuple[float, float]] = field(default_factory=dict)
    additive: bool = True  # the chunks' history as a separate term (see `cost`)
    varlen: bool = field(default=False, init=False)  # its attention tiles by the longest decode

    def __post_init__(self) -> None:
        self.engine.target = serving_target(self.engine.target)
        self.varlen = any(k.attention_varlen > 0 for k in self.engine.target.kinds)
        if self.varlen:  # its busiest tile is a maximum: the chunks' history does not add
            self.additive = False

    def _axes(self, f: Features) -> list[list[tuple[int, float]]]:
        total = f.decodes + f.verifies * f.verify_q + f.prompt_tokens
        counts, vcounts = _axis_count(f.decodes), _axis_count(f.verifies)
        tokens = [(0, 1.0)]
        if f.chunks:
            most = counts[-1][0] + vcounts[-1][0] * f.verify_q
            if total - most < f.chunks:  # too few prompt tokens to move the counts on
                counts, vcounts = [(f.decodes, 1.0)], [(f.verifies, 1.0)]
                most = f.decodes + f.verifies * f.verify_q
            tokens = _axis_tokens(total, most + f.chunks)
        return [
            counts,
            _axis_history(f.decode_ctx) if f.decodes else [(0, 1.0)],
            self._axis_max(f),
            vcounts,
            [(f.verify_q, 1.0)],
            _axis_history(f.verify_ctx) if f.verifies else [(0, 1.0)],
            [(f.chunks, 1.0)],
            tokens,
            _axis_history(f.chunk_ctx) if f.chunks else [(0, 1.0)],
        ]

    def _axis_max(self, f: Features) -> list[tuple[int, float]]:
        """The longest decode's history, on the history grid, only where the engine's attention
        depends on it beyond the mean (a varlen kernel) and it stands above the mean; 0: all at
        the mean."""
        if f.decodes < 2 or f.decode_max <= f.decode_ctx or not self.varlen:
            return [(0, 1.0)]
        return _axis_history(f.decode_max)

    def _corner(self, key: tuple) -> tuple[float, float]:
        got = self.corners.get(key)
        if got is None:
            mbs = [canonical(*k) for k in key]
            got = self.engine.cost(mbs)
            self.corners[key] = got
        return got

    def cost(self, microbatches: list[list[Item]]) -> tuple[float, float]:
        feats = [Features.of(mb) for mb in microbatches if mb]
        if not feats:
            return 0.0, 0.0
        if len(feats) > 1:  # several micro-batches: nearest grid point of every feature
            key = tuple(tuple(_snap(a) for a in self._axes(f)) for f in feats)
            return self._corner(key)
        return self.cost_features(feats[0])

    def cost_features(self, f: Features) -> tuple[float, float]:
        """The cost of a one-micro-batch step from its features (`Features.of` its items)."""
        if not (self.additive and f.chunks and f.chunk_ctx > 0 and (f.decodes or f.verifies)):
            return self._interpolate(self._axes(f))
        # the chunks' history separately: the step with the chunks from their start, plus
        # what history adds to them beside the nearest grid point of the decodes (two small
        # grids instead of their product; the decodes stay in, as the attention kernel they
        # share hides part of the chunks' history under the decodes' KV streaming)
        axes = self._axes(f)
        base = self._interpolate(axes[:-1] + [[(0, 1.0)]])
        nd, nv = _coarse_count(f.decodes), _coarse_count(f.verifies)
        others = nd + nv * f.verify_q  # the chunks keep their own tokens beside them
        near = [
            [(nd, 1.0)],
            [(_coarse_history(f.decode_ctx), 1.0)],
            [(0, 1.0)],  # the decodes at their mean: what history adds to the chunks
            [(nv, 1.0)],
            [(f.verify_q, 1.0)],
            [(_coarse_history(f.verify_ctx), 1.0)],
            axes[6],
            _axis_tokens(others + f.prompt_tokens, others + f.chunks),
            axes[8],
        ]
        with_history = self._interpolate(near)
        from_start = self._interpolate(near[:-1] + [[(0, 1.0)]])
        return (
            base[0] + with_history[0] - from_start[0],
            base[1] + with_history[1] - from_start[1],
        )

    def _interpolate(self, axes: list[list[tuple[int, float]]]) -> tuple[float, float]:
        """The weighted sum of the engine's costs at the corners around a point (the axes
        with two grid points span the corners; the others are fixed)."""
        corners = self.corners
        key = []
        spans = []
        for i, axis in enumerate(axes):
            key.append(axis[0][0])
            if len(axis) > 1:
                spans.append((i, axis))
        if not spans:  # on a grid point
            k = (tuple(key),)
            got = corners.get(k)
            return got if got is not None else self._corner(k)
        points = []  # (weight, corner key), in product order
        if len(spans) == 1:  # the common case: one axis between two grid points
            i, axis = spans[0]
            for value, w in axis:
                key[i] = value
                points.append((w, tuple(key)))
        else:
            for corner in product(*(axis for _, axis in spans)):
                w = 1.0
                for (i, _), (value, weight) in zip(spans, corner, strict=True):
                    w *= weight
                    key[i] = value
                points.append((w, tuple(key)))
        lat = energy = 0.0
        for w, point in points:
            if w == 0.0:
                continue
            got = corners.get((point,))
            t, e = got if got is not None else self._corner((point,))
            lat += w * t
            energy += w * e
        return lat, energy

    def exact(self, microbatches: list[list[Item]]) -> tuple[float, float]:
        """The exact engine on the real step (every request as it is)."""
        step = [[(q, ctx, 1, kind) for _, q, ctx, kind in mb] for mb in microbatches]
        return self.engine.cost(step)


def cache_error(costs: np.ndarray, exact: np.ndarray) -> dict[str, float]:
    """Relative error of cached against exact iteration latencies on a sample."""
    rel = np.abs(costs - exact) / np.maximum(exact, 1e-12)
    signed = (costs - exact) / np.maximum(exact, 1e-12)
    return {
        "sampled": int(len(rel)),
        "mean_abs_error": float(rel.mean()) if len(rel) else 0.0,
        "max_abs_error": float(rel.max()) if len(rel) else 0.0,
        "mean_error": float(signed.mean()) if len(rel) else 0.0,
    }
