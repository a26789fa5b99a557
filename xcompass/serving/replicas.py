"""A mapping seen by a server: its data-parallel replicas, their KV room, their iteration cost.

A static mapping places B micro-batches. Micro-batches whose placements share no chiplet are
independent servers (data-parallel replicas): each runs its own iterations on its own clock,
and a router deals arriving requests to them. Micro-batches that share chiplets (a pipeline's
micro-batches, tensor-parallel groups used by several) form one replica whose iteration is the
engine's step over those micro-batches, so the same physics the search optimizes (placement,
pipeline overlap inside a step, NoP, DRAM, TP collectives, graph / eager) times every
iteration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from xcompass.engine.context import EvalContext
from xcompass.engine.mapping import Groups, Mapping, make_groups, memory_use
from xcompass.engine.schedule_jit import evaluate_fast
from xcompass.errors import XcompassError
from xcompass.hardware.targets import Target
from xcompass.layer.kernels import Kernel
from xcompass.layer.layercost import CostTableBuilder, memory_table
from xcompass.model.models import ModelConfig
from xcompass.model.workload import MicroBatch, Request, RequestKind, Workload

KV_FRACTION = 0.9
"""Share of a memory domain's free bytes (after weights and activations) the KV cache may
use, as vLLM's gpu_memory_utilization leaves headroom for the allocator and temporaries."""

Item = tuple[int, int, int, str]
"""One request's work in an iteration: (request id, new tokens, history tokens, kind), kind
'p' prompt from its start, 'c' a later chunk of a prompt, 'd' decode, 'v' speculative verify."""


@dataclass
class Replica:
    """One independent server: the micro-batch rows of the mapping it runs, its chiplets and
    how many tokens of KV cache it can hold."""

    index: int
    rows: np.ndarray  # micro-batch indices of the mapping
    chiplets: tuple[int, ...]
    kv_tokens: int
    role: str = "both"  # 'both', or 'prefill' / 'decode' for disaggregated policies
    idle_w: float = 0.0  # power of its chiplets while it waits for work

    @property
    def microbatches(self) -> int:
        return len(self.rows)


def kv_bytes_per_token(model: ModelConfig) -> float:
    """K and V of every decoder layer for one token."""
    return model.layers * 2.0 * model.kv_features * model.dtype_bytes


def split_replicas(mapping: Mapping, groups: Groups) -> list[np.ndarray]:
    """Micro-batch rows of each replica: connected components of 'shares a chiplet'."""
    B = mapping.place.shape[0]
    graph = nx.Graph()
    graph.add_nodes_from(range(B))
    owner: dict[int, int] = {}
    for b in range(B):
        for g in np.unique(mapping.place[b]):
            for chip in groups.chips(int(g)):
                if chip in owner:
                    graph.add_edge(owner[chip], b)
                owner[chip] = b
    comps = [np.array(sorted(c), dtype=np.int64) for c in nx.connected_components(graph)]
    return sorted(comps, key=lambda rows: int(rows[0]))


def build_replicas(
    model: ModelConfig,
    target: Target,
    mapping: Mapping,
    groups: Groups,
    kernels: tuple[Kernel, ...] | None,
) -> list[Replica]:
    """The replicas of a whole-model mapping with the KV room each has: a memory domain's free
    bytes (capacity - weights stored once - activations) x KV_FRACTION, shared by the replicas
    that use the domain in proportion to their chiplets in it; a replica holds as many tokens
    as its tightest domain allows (each domain holds the K/V of the layers placed there)."""
    one = Workload((Request("r", RequestKind.PREFILL, 0, 1),), (MicroBatch("mb", ("r",)),))
    need = memory_table(model, one, groups.tp_options, whole_model=True, kernels=kernels)
    need.kv_bytes[:] = 0.0
    B = mapping.place.shape[0]
    need = type(need)(need.weight_bytes, np.zeros(B), np.repeat(need.act_bytes, B))
    used = memory_use(mapping, groups, need, target)
    domains = target.memory_domains()
    cap = np.array([d.capacity_gb for d in domains]) * 1e9
    free = np.maximum(cap - used, 0.0) * KV_FRACTION
    domain_of = target.domain_of()
    n_dom = len(domains)
    per_layer = 2.0 * model.kv_features * model.dtype_bytes
    idle = np.array([target.kinds[k].idle_w for k in target.kind_of()])
    rows_of = split_replicas(mapping, groups)
    chips_of = [
        tuple(sorted({c for g in np.unique(mapping.place[rows]) for c in groups.chips(int(g))}))
        for rows in rows_of
    ]
    # chiplets each replica has in each domain: how a shared domain's free bytes are split
    chips_in = np.array([np.bincount(domain_of[list(ch)], minlength=n_dom) for ch in chips_of])
    share = chips_in / np.maximum(chips_in.sum(axis=0), 1)
    out = []
    for r, rows in enumerate(rows_of):
        tokens = math.inf
        for b in rows:
            kvpt = np.zeros(n_dom)  # KV bytes per token each domain holds for this row
            for g in mapping.place[b]:
                chips = groups.chips(int(g))
                kvpt += np.bincount(domain_of[list(chips)], minlength=n_dom) / len(chips)
            kvpt *= per_layer
            held = kvpt > 0
            tokens = min(tokens, float(np.min(free[held] * share[r, held] / kvpt[held])))
        out.append(
            Replica(r, rows, chips_of[r], int(tokens), idle_w=float(idle[list(chips_of[r])].sum()))
        )
    return out


def _requests(items: list[tuple[int, int, int, str]], prefix: str) -> list[Request]:
    """Engine requests for (new tokens, history, count, kind) groups."""
    kinds = {"p": RequestKind.PREFILL, "c": RequestKind.CHUNK, "d": RequestKind.DECODE,
             "v": RequestKind.VERIFY}  # fmt: skip
    return [
        Request(f"{prefix}r{i}", kinds[kind], ctx, q, count)
        for i, (q, ctx, count, kind) in enumerate(items)
    ]


@dataclass
class ReplicaEngine:
    """The exact engine for one replica's iterations: a step's micro-batches (each a list of
    (new tokens, history, count, kind) groups) -> (latency s, energy J of its chiplets)."""

    model: ModelConfig
    target: Target
    kernels: tuple[Kernel, ...] | None
    groups: Groups
    boundaries: np.ndarray
    place: np.ndarray  # [B, L] rows of this replica
    mode: str
    other_idle_w: float  # power the engine charges for chiplets outside the replica
    calls: int = field(default=0, init=False)
    memo: dict = field(default_factory=dict, init=False)  # kernel costs (build_cost_table)
    _builder: CostTableBuilder | None = field(default=None, init=False, repr=False)
    _context: EvalContext | None = field(default=None, init=False, repr=False)

    def cost(self, microbatches: list[list[tuple[int, int, int, str]]]) -> tuple[float, float]:
        mbs = [mb for mb in microbatches if mb]
        if not mbs:
            return 0.0, 0.0
        if len(mbs) > len(self.place):
            raise XcompassError(f"{len(mbs)} micro-batches for a replica of {len(self.place)}")
        requests: list[Request] = []
        batches = []
        for b, mb in enumerate(mbs):
            reqs = _requests(mb, f"m{b}")
            requests += reqs
            batches.append(MicroBatch(f"mb{b}", tuple(r.name for r in reqs)))
        wl = Workload(tuple(requests), tuple(batches))
        if self._builder is None or self._builder.target is not self.target:
            self._context = None
            self._builder = CostTableBuilder(
                self.model, self.target, self.groups.tp_options, None, True, self.mode,
                self.kernels,
            )  # fmt: skip
        table = self._builder.build(wl, self.memo, plans=False)
        if self._context is None:
            self._context = EvalContext(table, self.groups, self.target, self.model.layers)
            ctx = self._context
        else:
            ctx = self._context.with_table(table)
        res = evaluate_fast(ctx, self.boundaries[None], self.place[None, : len(mbs)])
        self.calls += 1
        latency = float(res.latency_s[0])
        return latency, float(res.energy_j[0]) - latency * self.other_idle_w


def replica_engine(
    model: ModelConfig,
    target: Target,
    kernels: tuple[Kernel, ...] | None,
    mapping: Mapping,
    groups: Groups,
    replica: Replica,
    mode: str,
) -> ReplicaEngine:
    # only the TP degrees the replica uses: the cost table is built per degree
    used = sorted({int(groups.tp[g]) for g in np.unique(mapping.place[replica.rows])})
    own = make_groups(target, tuple(used))
    rows = mapping.place[replica.rows]
    remap = {int(g): own.find(groups.chips(int(g))) for g in np.unique(rows)}
    place = np.vectorize(remap.__getitem__, otypes=[np.int64])(rows)
    idle = np.array([target.kinds[k].idle_w for k in target.kind_of()])
    other = float(idle.sum() - idle[list(replica.chiplets)].sum())
    return ReplicaEngine(
        model,
        target,
        kernels,
        own,
        mapping.boundaries.copy(),
        place,
        mode,
        other,
    )
