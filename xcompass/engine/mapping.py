"""The mapping genome (Compass's encoding) and the standard partitioning strategies.

A mapping is `boundaries[L-1]` (segment boundary after layer l) and `place[B, L]`: a placement
group for every (micro-batch, layer). Group g < C is chiplet g alone; larger ids are
tensor-parallel groups of `tp` chiplets of one kind. Execution order (Compass): for each
segment, for each micro-batch, for each layer of the segment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xcompass.engine.units import UnitMemory, Units, layer_unit_memory
from xcompass.errors import XcompassError
from xcompass.hardware.targets import Target
from xcompass.layer.layercost import MemoryTable
from xcompass.model.models import ModelConfig
from xcompass.model.workload import RequestKind, Workload


@dataclass(frozen=True)
class Groups:
    """Placement groups: `members[g]` chiplets (-1 padded), their TP degree and kind."""

    members: np.ndarray  # [G, max_tp]
    tp: np.ndarray  # [G]
    tp_index: np.ndarray  # [G] index into CostTable.tp_options
    kind: np.ndarray  # [G]

    @property
    def tp_options(self) -> tuple[int, ...]:
        return tuple(int(t) for t in sorted(set(self.tp.tolist())))

    def find(self, chips: tuple[int, ...]) -> int:
        wanted = tuple(sorted(int(c) for c in chips))  # a group is a set of chiplets
        for g in range(len(self.tp)):
            row = tuple(sorted(int(c) for c in self.members[g] if c >= 0))
            if row == wanted:
                return g
        raise XcompassError(f"chiplets {list(chips)} are not a placement group of this target")

    def chips(self, g: int) -> tuple[int, ...]:
        return tuple(int(c) for c in self.members[g] if c >= 0)


def make_groups(target: Target, tp_options: tuple[int, ...]) -> Groups:
    """Singletons, then for each TP degree, `tp` same-kind chiplets that are consecutive along
    `group_order` (aligned to `tp`) and form a path of one-hop links.

    Why contiguous: the all-reduce is costed as NCCL's ring at the bus bandwidth of one link
    per step (`xcompass.hardware.comm`), per TP degree. That is exact for a group whose ring runs
    over
    one-hop links no other step of the ring uses (a path: the ring goes out along it and
    closes back over the opposite-direction links), and wrong for a group whose members are
    far apart (on compass-het-36, chiplets 4-7 by id span two mesh rows with 5 to 6 hops from 5
    to 6, through other groups' chiplets). So only such paths are groups: on a mesh, runs of
    the boustrophedon order (row 0 left to right, row 1 right to left, ...), whose neighbours
    are always one hop apart; on a switch, runs of ids (every pair is one hop). Members are
    listed in ascending id (the first is the group's lead) and groups by lead, so groups whose
    degree divides the mesh's columns are the runs of ids they always were."""
    kind_of = target.kind_of()
    max_tp = max(tp_options)
    order = group_order(target)
    rows, tps, tpi, kinds = [], [], [], []
    for t_index, tp in enumerate(tp_options):
        for k in range(len(target.kinds)):
            # singletons in id order: group g < C is chiplet g
            chain = [c for c in (order if tp > 1 else range(target.chiplets)) if kind_of[c] == k]
            cut = [chain[i : i + tp] for i in range(0, len(chain) - tp + 1, tp)]
            # by lead chiplet: where the sets equal runs of ids, the ids are theirs too
            for members in sorted(sorted(m) for m in cut if is_path(target, m)):
                rows.append(members + [-1] * (max_tp - tp))
                tps.append(tp)
                tpi.append(t_index)
                kinds.append(k)
    members = np.array(rows, dtype=np.int64)
    assert (kind_of[members[:, 0]] == np.array(kinds)).all()
    return Groups(members, np.array(tps), np.array(tpi), np.array(kinds))


def group_order(target: Target) -> list[int]:
    """The order TP groups are cut from: boustrophedon on a mesh, ids on a switch."""
    return snake(target)


def mesh_hops(target: Target, a: int, b: int) -> int:
    """Hops between two chiplets (XY distance on a mesh; 1 between any two on a switch)."""
    if a == b:
        return 0
    if target.network.topology != "mesh":
        return 1
    cols = target.network.dims[0]
    return abs(a % cols - b % cols) + abs(a // cols - b // cols)


def is_path(target: Target, members: list[int]) -> bool:
    """Whether consecutive members are one hop apart (a ring over them uses one-hop links)."""
    return all(mesh_hops(target, a, b) == 1 for a, b in zip(members, members[1:], strict=False))


@dataclass
class Mapping:
    boundaries: np.ndarray  # bool [L-1]
    place: np.ndarray  # int [B, L]

    @property
    def shape(self) -> tuple[int, int]:
        return self.place.shape

    def segments(self) -> list[tuple[int, int]]:
        cuts = (
            [0] + [int(i) + 1 for i in np.flatnonzero(self.boundaries)] + [int(self.place.shape[1])]
        )
        return list(zip(cuts[:-1], cuts[1:], strict=True))


# --- memory feasibility ---------------------------------------------------------------------


def memory_use(
    mapping: Mapping, groups: Groups, need: MemoryTable | UnitMemory, target: Target
) -> np.ndarray:
    """Bytes each memory domain must hold.

    Weights are stored once per domain: a unit placed on several groups of one domain (data-
    parallel replicas) counts once, a tensor-parallel shard counts the fraction of the unit its
    chiplets in the domain hold. KV caches count per (micro-batch, unit), split like their
    group; each chiplet adds the largest activation it produces. `need` is a layer memory
    table (granularity=layer) or what each unit needs (`xcompass.engine.units.unit_memory`)."""
    B, U = mapping.place.shape
    if isinstance(need, MemoryTable):
        need = layer_unit_memory(need, U)
    domain_of = target.domain_of()
    n_domains = int(domain_of.max()) + 1
    share = np.zeros((n_domains, U))  # fraction of each unit's weights a domain holds
    use = np.zeros(n_domains)
    act = np.zeros(target.chiplets)
    for g in np.unique(mapping.place):
        chips = np.array(groups.chips(int(g)))
        in_domain = np.bincount(domain_of[chips], minlength=n_domains) / groups.tp[g]  # [D]
        placed = mapping.place == g
        share[:, placed.any(axis=0)] = np.maximum(share[:, placed.any(axis=0)], in_domain[:, None])
        use += in_domain * need.kv_bytes[placed].sum()
        act[chips] = np.maximum(act[chips], need.act_bytes[placed].max(initial=0))
    use += np.minimum(share, 1.0) @ need.weight_bytes
    use += np.bincount(domain_of, weights=act, minlength=n_domains)
    return use


def check_memory(
    mapping: Mapping, groups: Groups, need: MemoryTable | UnitMemory, target: Target
) -> None:
    use = memory_use(mapping, groups, need, target)
    domains = target.memory_domains()
    cap = np.array([d.capacity_gb for d in domains]) * 1e9
    over = np.flatnonzero(use > cap)
    if over.size:
        d = int(over[np.argmax(use[over] / cap[over])])
        dom = domains[d]
        where = (
            f"chiplet {dom.chiplets[0]}"
            if not target.domains
            else f"memory domain '{dom.name}' ({len(dom.chiplets)} chiplets)"
        )
        raise XcompassError(
            f"does not fit: {where} needs {use[d] / 1e9:.2f} GB (weights + KV + "
            f"activations) but has {cap[d] / 1e9:.2f} GB"
        )


# --- strategies -----------------------------------------------------------------------------

STRATEGIES = ("single", "pipeline", "tensor", "data", "hybrid", "pbd")


def snake(target: Target) -> list[int]:
    """Chiplets in boustrophedon order, so consecutive pipeline stages are mesh neighbours."""
    if target.network.topology != "mesh":
        return list(range(target.chiplets))
    cols, rows = target.network.dims
    order = []
    for r in range(rows):
        row = [r * cols + c for c in range(cols)]
        order += row if r % 2 == 0 else row[::-1]
    return order


def _stages(layers: int, stages: int) -> np.ndarray:
    """Stage of each layer for balanced contiguous stages."""
    return (np.arange(layers) * stages) // layers


def _check_tp(tp: int, model: ModelConfig, groups: Groups) -> None:
    if tp < 1 or model.heads % tp:
        raise XcompassError(f"tp={tp} does not divide the model's {model.heads} heads")
    if tp not in set(groups.tp.tolist()):
        raise XcompassError(f"tp={tp} has no placement group on this target")


def _tp_group(groups: Groups, tp: int, index: int) -> int:
    ids = np.flatnonzero(groups.tp == tp)
    if index >= len(ids):
        raise XcompassError(f"needs {index + 1} groups of {tp} chiplets, the target has {len(ids)}")
    return int(ids[index])


def partition(
    strategy: str,
    model: ModelConfig,
    workload: Workload,
    target: Target,
    groups: Groups,
    layers: int,
    tp: int = 1,
    pp: int = 0,
    dp: int = 1,
    prefill_share: float = 0.5,
) -> Mapping:
    """A standard mapping; raises XcompassError naming the limit an infeasible request hits."""
    B, L, C = len(workload.microbatches), layers, target.chiplets
    place = np.zeros((B, L), dtype=np.int64)
    none = np.zeros(max(L - 1, 0), dtype=bool)
    if strategy == "single":
        return Mapping(none, place)
    if strategy == "pipeline":
        stages = min(pp or C, L, C)
        order = snake(target)
        place[:] = np.array(order)[_stages(L, stages)][None, :]
        return Mapping(none, place)
    if strategy == "tensor":
        _check_tp(tp, model, groups)
        place[:] = _tp_group(groups, tp, 0)
        return Mapping(none, place)
    if strategy == "data":
        replicas = min(dp if dp > 1 else C, C)
        place[:] = (np.arange(B) % replicas)[:, None]
        return Mapping(none, place)
    if strategy == "hybrid":
        pp = max(pp, 1)
        if tp > 1:
            _check_tp(tp, model, groups)
        if tp * pp * dp > C:
            raise XcompassError(
                f"tp={tp} x pp={pp} x dp={dp} = {tp * pp * dp} chiplets, the target has {C}"
            )
        stage = _stages(L, min(pp, L))
        for b in range(B):
            r = b % dp
            for s in range(pp):
                group = _tp_group(groups, tp, r * pp + s) if tp > 1 else snake(target)[r * pp + s]
                place[b, stage == s] = group
        return Mapping(none, place)
    if strategy == "pbd":
        return _pbd(model, workload, target, groups, L, prefill_share)
    raise XcompassError(f"unknown strategy '{strategy}' (valid: {', '.join(STRATEGIES)})")


def _pbd(
    model: ModelConfig,
    workload: Workload,
    target: Target,
    groups: Groups,
    L: int,
    prefill_share: float,
) -> Mapping:
    """THInfer's prefill / KV-buffer / decode pools: prefill micro-batches use minimum PP and
    the rest DP; decode micro-batches use TP first (largest degree dividing the heads), then
    micro-batch parallelism. One chiplet in eight (at least one) is the KV buffer."""
    C = target.chiplets
    if C < 3:
        raise XcompassError(
            f"pbd needs at least 3 chiplets (prefill, buffer, decode); target has {C}"
        )
    buffer = max(1, C // 8)
    n_prefill = max(1, round((C - buffer) * prefill_share))
    n_decode = C - buffer - n_prefill
    if n_decode < 1:
        n_prefill, n_decode = C - buffer - 1, 1
    order = snake(target)
    prefill_chips, decode_chips = order[:n_prefill], order[n_prefill + buffer :]
    B = len(workload.microbatches)
    place = np.zeros((B, L), dtype=np.int64)
    weight_per_layer = model.layer_weights() * model.dtype_bytes
    # a prefill replica's stages sit in distinct domains when domains are private (GPUs); a
    # shared package domain stores the weights once, so one stage may hold them all
    mem = min(d.capacity_gb for d in target.memory_domains()) * 1e9
    min_pp = min(max(1, math.ceil(L * weight_per_layer / (0.8 * mem))), L)
    if min_pp > n_prefill:
        raise XcompassError(
            f"pbd: prefill needs {min_pp} pipeline stages to hold the weights, "
            f"its pool has {n_prefill} chiplets"
        )
    decode_tp = 1
    for t in sorted(set(groups.tp.tolist()), reverse=True):
        if model.heads % t == 0 and t <= n_decode:
            decode_tp = t
            break
    p_rep = d_rep = 0
    for b, mb in enumerate(workload.microbatches):
        kinds = {r.kind for r in workload.microbatch_requests(mb)}
        if RequestKind.PREFILL in kinds:
            replicas = max(1, n_prefill // min_pp)
            r = p_rep % replicas
            p_rep += 1
            chips = prefill_chips[r * min_pp : (r + 1) * min_pp]
            place[b] = np.array(chips)[_stages(L, min_pp)]
        else:
            ids = [
                g
                for g in np.flatnonzero(groups.tp == decode_tp)
                if set(groups.chips(int(g))) <= set(decode_chips)
            ]
            if not ids:
                ids = decode_chips
            place[b] = ids[d_rep % len(ids)]
            d_rep += 1
    return Mapping(np.zeros(max(L - 1, 0), dtype=bool), place)


def expand(mapping: Mapping, units: Units) -> Mapping:
    """A layer-granularity mapping over these units: each unit goes where its layer went, and
    a segment starts at the first unit of a layer that started one."""
    layer = units.layer
    place = mapping.place[:, layer]
    cut = np.r_[mapping.boundaries, False][layer[:-1]] & (layer[1:] != layer[:-1])
    return Mapping(cut.astype(bool), place)


def collapse(mapping: Mapping, units: Units) -> Mapping | None:
    """The layer-granularity mapping this unit mapping is, when it is one: every layer's units of
    a micro-batch on one group, and segments starting only at a layer's first unit (else None).
    `expand` inverts it."""
    layer = units.layer
    L = int(layer.max()) + 1 if units.count else 0
    first = np.searchsorted(layer, np.arange(L))
    if not np.array_equal(np.sort(layer), layer):
        return None
    place = mapping.place[:, first]
    if not np.array_equal(mapping.place, place[:, layer]):
        return None
    starts = np.flatnonzero(mapping.boundaries) + 1
    if not np.isin(starts, first).all():
        return None
    boundaries = np.isin(first[1:], starts)
    return Mapping(boundaries, place)
