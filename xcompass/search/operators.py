"""Compass's genetic operators on genome arrays: bits[P, U-1] (segment boundaries) and
place[P, B, U] (a placement group per micro-batch and unit).

As in Compass's `GA.cpp`: uniform crossover on the segmentation bits, then each segment of the
child copies its placement from one parent; mutation flips bits (5% each), shifts boundaries to
a free neighbour (10% each, left to right), then tries seven placement mutations once each with
probabilities that fall as the search goes on (`COMPASS_SCHEDULE`). Two deliberate differences:
the crossover copies each segment *of the child* whole (Compass's loop re-copies overlapping
ranges from fresh coin flips, which amounts to per-unit mixing), and placements are group ids,
so a random pick may be a tensor-parallel group.

The operators never leave the genome space (values are drawn from the allowed group ids and
otherwise only moved), so validity reduces to memory capacity: `feasible_offspring` retries an
operator whose result does not fit and falls back to a feasible parent. Randomness is drawn up
front from a numpy `Generator` and handed to compiled kernels, so a seed fixes every result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit

PLACEMENT_MUTATIONS = (
    "random_replace",
    "swap_adjacent_units",
    "swap_microbatches_on_unit",
    "shuffle_segment",
    "remap_segment",
    "swap_segments",
    "swap_microbatches",
)
"""Compass's seven placement mutations, from least to most disruptive."""

COMPASS_SCHEDULE: tuple[tuple[float, tuple[float, ...]], ...] = (
    (0.3, (0.10, 0.05, 0.05, 0.10, 0.20, 0.20, 0.20)),
    (0.7, (0.10, 0.05, 0.05, 0.10, 0.10, 0.10, 0.10)),
    (1.0, (0.10, 0.10, 0.10, 0.03, 0.03, 0.02, 0.02)),
)
"""(progress below which it applies, probability of each placement mutation): disruptive
mutations at 20% before 30% of the generations, 10% to 70%, then 2-3% (Compass's GA.cpp)."""

_DRAWS = 3  # index draws per placement mutation


@dataclass(frozen=True)
class MutationRates:
    """Per-bit flip and per-boundary shift probabilities, and the placement schedule."""

    flip: float = 0.05
    shift: float = 0.10
    schedule: tuple[tuple[float, tuple[float, ...]], ...] = COMPASS_SCHEDULE

    def placement(self, progress: float) -> np.ndarray:
        """Probabilities of the seven placement mutations at this point of the search."""
        for until, probs in self.schedule:
            if progress < until:
                return np.array(probs, dtype=float)
        return np.array(self.schedule[-1][1], dtype=float)


def random_genomes(
    rng: np.random.Generator,
    n: int,
    shape: tuple[int, int],
    group_ids: np.ndarray,
    bit_probability: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Compass's random mapping: each boundary a coin flip, each node any placement group."""
    B, U = shape
    bits = rng.random((n, max(U - 1, 0))) < bit_probability
    place = group_ids[rng.integers(0, len(group_ids), (n, B, U))]
    return bits, place


def crossover(
    rng: np.random.Generator,
    bits_a: np.ndarray,
    place_a: np.ndarray,
    bits_b: np.ndarray,
    place_b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One child per pair of parents: uniform crossover on the bits, then every segment of the
    child takes all micro-batches' placements on it from one parent (coin flip per segment)."""
    n, B, U = place_a.shape
    bits = np.where(rng.random(bits_a.shape) < 0.5, bits_a, bits_b)
    segment = np.zeros((n, U), dtype=np.int64)
    if U > 1:
        segment[:, 1:] = np.cumsum(bits, axis=1)
    from_a = np.take_along_axis(rng.random((n, U)) < 0.5, segment, axis=1)
    place = np.where(from_a[:, None, :], place_a, place_b)
    return bits, place


def mutate(
    rng: np.random.Generator,
    bits: np.ndarray,
    place: np.ndarray,
    group_ids: np.ndarray,
    progress: float = 0.0,
    rates: MutationRates | None = None,
    placement: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mutated copies of n genomes. `progress` in [0, 1] picks the placement probabilities
    from the schedule unless `placement` gives the seven of them."""
    rates = rates or MutationRates()
    probs = rates.placement(progress) if placement is None else np.asarray(placement, float)
    bits = np.array(bits, dtype=np.bool_, copy=True)
    place = np.array(place, dtype=np.int64, copy=True)
    n, B, U = place.shape
    seg_draws = rng.random((n, max(U - 1, 0), 3))
    op_draws = rng.random((n, len(PLACEMENT_MUTATIONS), 1 + _DRAWS))
    keys = rng.random((n, U))
    vals = rng.integers(0, len(group_ids), (n, U + 1))
    _mutate_all(
        bits,
        place,
        seg_draws,
        op_draws,
        keys,
        vals,
        np.ascontiguousarray(group_ids, dtype=np.int64),
        probs,
        float(rates.flip),
        float(rates.shift),
    )
    return bits, place


def only(name: str) -> tuple[MutationRates, np.ndarray]:
    """Rates that apply exactly one operator, always: `bit_flip`, `boundary_shift` or one
    of `PLACEMENT_MUTATIONS` (for tests and for local moves)."""
    none = np.zeros(len(PLACEMENT_MUTATIONS))
    if name == "bit_flip":
        return MutationRates(flip=1.0, shift=0.0), none
    if name == "boundary_shift":
        return MutationRates(flip=0.0, shift=1.0), none
    probs = none.copy()
    probs[PLACEMENT_MUTATIONS.index(name)] = 1.0
    return MutationRates(flip=0.0, shift=0.0), probs


def feasible_offspring(
    make: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    fits: Callable[[np.ndarray], np.ndarray],
    fallback: tuple[np.ndarray, np.ndarray],
    tries: int = 3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Children that fit in memory: `make(index)` builds candidates for those slots; slots still
    infeasible after `tries` attempts get their `fallback` genome (feasible by assumption).
    Returns bits, place and which slots fell back."""
    n = len(fallback[1])
    bits, place = make(np.arange(n))
    bad = ~fits(place)
    for _ in range(tries - 1):
        if not bad.any():
            break
        idx = np.flatnonzero(bad)
        b2, p2 = make(idx)
        bits[idx], place[idx] = b2, p2
        bad[idx] = ~fits(p2)
    if bad.any():
        bits[bad], place[bad] = fallback[0][bad], fallback[1][bad]
    return bits, place, bad


# --- compiled kernels (one individual at a time, randomness drawn by the caller) -------------


@njit(cache=True, nogil=True)
def _segment_starts(bits, U, starts):  # noqa: ANN001, ANN202
    """starts[0..n] = first unit of each segment, starts[n] = U; returns n."""
    n = 0
    starts[0] = 0
    for i in range(U - 1):
        if bits[i]:
            n += 1
            starts[n] = i + 1
    n += 1
    starts[n] = U
    return n


@njit(cache=True, nogil=True)
def _pick(x, n):  # noqa: ANN001, ANN202
    """A uniform draw in [0, 1) as an index below n."""
    i = int(x * n)
    return i if i < n else n - 1


@njit(cache=True, nogil=True)
def _flip_bits(bits, draws, p):  # noqa: ANN001, ANN202
    for i in range(bits.shape[0]):
        if draws[i, 0] < p:
            bits[i] = not bits[i]


@njit(cache=True, nogil=True)
def _shift_boundaries(bits, draws, p):  # noqa: ANN001, ANN202
    """Left to right, each boundary moves to a free neighbour with probability p (a boundary
    moved right is seen again at its new place, as in Compass)."""
    n = bits.shape[0]
    for i in range(n):
        if bits[i] and draws[i, 1] < p:
            if draws[i, 2] < 0.5:
                if i > 0 and not bits[i - 1]:
                    bits[i] = False
                    bits[i - 1] = True
            elif i + 1 < n and not bits[i + 1]:
                bits[i] = False
                bits[i + 1] = True


@njit(cache=True, nogil=True)
def _place_mutations(place, starts, nseg, d, keys, vals, group_ids, probs):  # noqa: ANN001, ANN202, C901
    B, U = place.shape
    # 1. random replace: one node to any group
    if d[0, 0] < probs[0]:
        b = _pick(d[0, 1], B)
        u = _pick(d[0, 2], U)
        place[b, u] = group_ids[vals[U]]
    # 2. swap adjacent units of one micro-batch
    if d[1, 0] < probs[1] and U > 1:
        b = _pick(d[1, 1], B)
        u = _pick(d[1, 2], U - 1)
        place[b, u], place[b, u + 1] = place[b, u + 1], place[b, u]
    # 3. swap two micro-batches' placements of one unit
    if d[2, 0] < probs[2]:
        u = _pick(d[2, 1], U)
        b1 = _pick(d[2, 2], B)
        b2 = _pick(d[2, 3], B)
        if b1 != b2:
            place[b1, u], place[b2, u] = place[b2, u], place[b1, u]
    # 4. shuffle one micro-batch's placements within a segment
    if d[3, 0] < probs[3]:
        s = _pick(d[3, 1], nseg)
        b = _pick(d[3, 2], B)
        a, e = starts[s], starts[s + 1]
        order = np.argsort(keys[a:e])
        tmp = place[b, a:e].copy()
        for j in range(e - a):
            place[b, a + j] = tmp[order[j]]
    # 5. remap one micro-batch's segment to random groups
    if d[4, 0] < probs[4]:
        s = _pick(d[4, 1], nseg)
        b = _pick(d[4, 2], B)
        for u in range(starts[s], starts[s + 1]):
            place[b, u] = group_ids[vals[u]]
    # 6. swap two segments (their common length, every micro-batch)
    if d[5, 0] < probs[5] and nseg >= 2:
        s1 = _pick(d[5, 1], nseg)
        s2 = _pick(d[5, 2], nseg)
        if s1 != s2:
            a1, a2 = starts[s1], starts[s2]
            length = min(starts[s1 + 1] - a1, starts[s2 + 1] - a2)
            for b in range(B):
                for j in range(length):
                    place[b, a1 + j], place[b, a2 + j] = place[b, a2 + j], place[b, a1 + j]
    # 7. swap two micro-batches' whole placements
    if d[6, 0] < probs[6] and B > 1:
        b1 = _pick(d[6, 1], B)
        b2 = _pick(d[6, 2], B)
        if b1 != b2:
            for u in range(U):
                place[b1, u], place[b2, u] = place[b2, u], place[b1, u]


@njit(cache=True, nogil=True)
def _mutate_all(bits, place, seg_draws, op_draws, keys, vals, group_ids, probs, flip, shift):  # noqa: ANN001, ANN202, E501
    n, B, U = place.shape
    starts = np.empty(U + 1, dtype=np.int64)
    for i in range(n):
        _flip_bits(bits[i], seg_draws[i], flip)
        _shift_boundaries(bits[i], seg_draws[i], shift)
        nseg = _segment_starts(bits[i], U, starts)
        _place_mutations(place[i], starts, nseg, op_draws[i], keys[i], vals[i], group_ids, probs)
