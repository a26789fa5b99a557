"""Memory feasibility of whole populations, in one compiled pass.

The search keeps every individual inside the machine's memory: an offspring that does not fit is
repaired (see `operators.Offspring`), so it must be cheap to ask "does this population fit?".
`mapping.memory_use` answers for one mapping in numpy; this answers for P of them at once, with
the same rules (per memory domain: weights stored once per domain, a tensor-parallel shard counts
the fraction its chiplets in the domain hold, KV caches per (micro-batch, unit), the largest
activation each chiplet produces) over *units*, so it keeps working when a unit is not a layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from xcompass.engine.mapping import Groups
from xcompass.engine.units import UnitMemory, layer_positions, layer_unit_memory  # noqa: F401
from xcompass.hardware.targets import Target


@dataclass(frozen=True)
class MemoryCheck:
    """Memory domains of a target and the groups' share of each, ready for `fits`."""

    memory: UnitMemory
    capacity: np.ndarray  # [D] bytes
    domain_fraction: np.ndarray  # [G, D]: fraction of a group's shard in each domain
    members: np.ndarray  # [G, max_tp], -1 padded
    domain_of: np.ndarray  # [C]

    @staticmethod
    def build(memory: UnitMemory, groups: Groups, target: Target) -> MemoryCheck:
        domain_of = target.domain_of()
        n_domains = int(domain_of.max()) + 1
        G = len(groups.tp)
        frac = np.zeros((G, n_domains))
        for g in range(G):
            chips = groups.members[g][groups.members[g] >= 0]
            frac[g] = np.bincount(domain_of[chips], minlength=n_domains) / groups.tp[g]
        capacity = np.array([d.capacity_gb for d in target.memory_domains()]) * 1e9
        return MemoryCheck(memory, capacity, frac, groups.members.astype(np.int64), domain_of)

    def use(self, place: np.ndarray) -> np.ndarray:
        """Bytes each memory domain holds, [P, D], for place [P, B, U]."""
        place = np.ascontiguousarray(place, dtype=np.int64)
        if place.ndim == 2:
            place = place[None]
        m = self.memory
        return _domain_use(
            place,
            self.domain_fraction,
            self.members,
            self.domain_of,
            m.weight_bytes,
            m.kv_bytes,
            m.act_bytes,
        )

    def load(self, place: np.ndarray) -> np.ndarray:
        """The fullest domain's use over its capacity, [P] (<= 1: fits)."""
        return (self.use(place) / self.capacity[None, :]).max(axis=1)

    def fits(self, place: np.ndarray) -> np.ndarray:
        return self.load(place) <= 1.0


@njit(cache=True, nogil=True)
def _domain_use(place, frac, members, domain_of, weight, kv, act):  # noqa: ANN001, ANN202
    """The largest activation is taken per group first, then spread over the group's
    chiplets (a max is order-free: the same bytes as per node, in G x tp steps, not B x U x
    tp, which made this a fifth of a tile GA's serial work per generation)."""
    P, B, U = place.shape
    G, D = frac.shape
    C = domain_of.shape[0]
    max_tp = members.shape[1]
    out = np.zeros((P, D))
    share = np.zeros((D, U))
    act_group = np.zeros(G)
    act_chip = np.zeros(C)
    for p in range(P):
        share[:, :] = 0.0
        act_group[:] = 0.0
        act_chip[:] = 0.0
        for b in range(B):
            for u in range(U):
                g = place[p, b, u]
                for d in range(D):
                    f = frac[g, d]
                    if f > 0.0:
                        if f > share[d, u]:
                            share[d, u] = f
                        out[p, d] += f * kv[b, u]
                if act[b, u] > act_group[g]:
                    act_group[g] = act[b, u]
        for g in range(G):
            a = act_group[g]
            if a > 0.0:
                for j in range(max_tp):
                    c = members[g, j]
                    if c >= 0 and a > act_chip[c]:
                        act_chip[c] = a
        for d in range(D):
            for u in range(U):
                s = share[d, u]
                out[p, d] += (s if s < 1.0 else 1.0) * weight[u]
        for c in range(C):
            out[p, domain_of[c]] += act_chip[c]
    return out
