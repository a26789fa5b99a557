"""Density-driven fusion (THInfer): which ops of a layer run as one kernel.

Each op is high or low density: its FLOPs per DRAM byte, at the largest micro-batch where it is
largest, against the target's ridge point times `theta`. A fused group follows THInfer's
low-high-low pattern around at most one high-density anchor (a GEMM, sibling linears counting
as one GEMM, or attention): low-density element-wise ops before it (`prologue`), after it
(`epilogue`), or chained with each other when no anchor is near (`eltwise`); `siblings` fuses
linears reading the same value into one GEMM. A group is accepted only if it stays convex (no
path leaves it and re-enters, so groups never form a cycle) and its working set for one tile
fits the on-chip level it targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xcompass.cost.attentioncost import visible_pairs
from xcompass.cost.opcost import ATTN_BLOCK, K_STEP, RequestGroup
from xcompass.hardware.targets import ChipletKind, OnChipLevel
from xcompass.layer.graph import FLOPS_PER_ELEMENT, INPUT, ROW_OPS, LayerGraph

KINDS = ("siblings", "prologue", "epilogue", "eltwise", "chain")
ACCUMULATOR_BYTES = 4  # fp32 partial sums of a GEMM tile


@dataclass(frozen=True)
class FuseOptions:
    """llm-fuse's options: the threshold factor, the kinds of fusion, and the level."""

    theta: float = 1.0
    siblings: bool = True
    eltwise: bool = True
    prologue: bool = True
    epilogue: bool = True
    allow_chain: bool = False
    level: str = ""


@dataclass(frozen=True)
class Group:
    """Ops that run as one kernel (node indices, sorted). `anchor`: its high-density op(s)
    (sibling linears form one GEMM), empty for an element-wise chain; `kinds`: the fusions that
    formed it; `saved`: DRAM bytes per token it no longer moves (values kept on chip, a shared
    input read once); `working_set`: bytes one tile needs at `level`."""

    nodes: tuple[int, ...]
    anchor: tuple[int, ...]
    kinds: tuple[str, ...]
    level: str
    saved: int
    working_set: int = field(default=0, compare=False)  # informational: not recorded in IR


def op_density(graph: LayerGraph, i: int, groups: list[RequestGroup]) -> float:
    """FLOPs per DRAM byte of node `i` run alone for one micro-batch (weights included)."""
    node, db = graph.nodes[i], graph.dtype_bytes
    tokens = sum(g.q * g.count for g in groups)
    if tokens <= 0:
        return 0.0
    if node.op == "linear":
        flops = 2.0 * tokens * node.in_width * node.width
        moved = (tokens * (node.in_width + node.width) + node.in_width * node.width) * db
    elif node.op == "attention":
        pairs = sum(visible_pairs(g, node.causal, node.window) * g.count for g in groups)
        flops = 4.0 * node.heads * node.head_dim * pairs
        kv = sum(2 * node.kv_heads * node.head_dim * (g.ctx + g.q) * g.count for g in groups)
        moved = (2 * node.heads * node.head_dim * tokens + kv) * db
    elif node.op == "moe":
        mats = 3 if node.gated else 2
        routed = tokens * node.top_k
        flops = 2.0 * routed * node.in_width * node.ffn * mats
        active = min(node.experts, routed)
        moved = (2 * tokens * node.in_width + active * mats * node.in_width * node.ffn) * db
    else:
        flops = float(FLOPS_PER_ELEMENT.get(node.op, 1) * node.width * tokens)
        widths = sum(graph.width(v) for v in node.inputs) + node.width
        moved = widths * tokens * db
    return flops / moved if moved else 0.0


def classify(
    graph: LayerGraph, chip: ChipletKind, microbatches: list[list[RequestGroup]], theta: float
) -> tuple[bool, ...]:
    """High density: an op whose density reaches `theta` x the ridge point in some micro-batch
    (it is compute-bound there). Only GEMMs and attention can be: a MoE layer runs as its own
    grouped GEMMs and never anchors a group."""
    threshold = theta * chip.ridge
    return tuple(
        node.op in ("linear", "attention")
        and max((op_density(graph, i, mb) for mb in microbatches), default=0.0) >= threshold
        for i, node in enumerate(graph.nodes)
    )


@dataclass
class _State:
    """Groups being grown: each node's group id and each group's members and anchor."""

    graph: LayerGraph
    chip: ChipletKind
    level: OnChipLevel
    high: tuple[bool, ...]
    group_of: list[int] = field(default_factory=list)
    members: dict[int, set[int]] = field(default_factory=dict)
    kinds: dict[int, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.group_of = list(range(len(self.graph)))
        self.members = {i: {i} for i in range(len(self.graph))}
        self.kinds = {i: set() for i in range(len(self.graph))}

    def anchors(self, nodes: set[int]) -> list[int]:
        return sorted(i for i in nodes if self.high[i])

    def anchor_units(self, nodes: set[int]) -> int:
        """High-density GEMMs and attentions in `nodes` (sibling linears count once)."""
        inputs = set()
        count = 0
        for i in self.anchors(nodes):
            node = self.graph.nodes[i]
            if node.op == "linear":
                if node.inputs in inputs:
                    continue
                inputs.add(node.inputs)
            count += 1
        return count

    def convex(self, nodes: set[int]) -> bool:
        """No path leaves `nodes` and re-enters them."""
        consumers = self.graph.consumers
        frontier = [c for i in nodes for c in consumers[i] if c not in nodes]
        seen = set(frontier)
        while frontier:
            j = frontier.pop()
            for c in consumers[j]:
                if c in nodes:
                    return False
                if c not in seen:
                    seen.add(c)
                    frontier.append(c)
        return True

    def working_set(self, nodes: set[int]) -> int:
        return working_set(self.graph, self.chip, nodes)

    def fits(self, nodes: set[int]) -> bool:
        ws = self.working_set(nodes)
        return ws * (self.chip.units if self.level.shared else 1) <= self.level.bytes

    def try_merge(self, a: int, b: int, kind: str, allow_chain: bool = False) -> bool:
        """Merge groups a and b if the result is convex, keeps one anchor and fits."""
        if a == b:
            return False
        nodes = self.members[a] | self.members[b]
        if not allow_chain and self.anchor_units(nodes) > 1:
            return False
        if not self.convex(nodes) or not self.fits(nodes):
            return False
        for i in self.members[b]:
            self.group_of[i] = a
        self.members[a] = nodes
        self.kinds[a] |= self.kinds.pop(b) | {kind}
        del self.members[b]
        return True


def working_set(graph: LayerGraph, chip: ChipletKind, nodes: set[int]) -> int:
    """Bytes one tile of a group needs on chip.

    A GEMM tile (`tile_m x tile_n`) double-buffers its K_STEP-deep operands and keeps fp32
    partial sums; an attention tile holds its query block and double-buffered K/V blocks.
    Element-wise members add a `tile_n`-wide slice of each value they read and write, except
    row reductions (norms), which need whole rows: `tile_m` rows beside a contraction, one row
    in an element-wise kernel. A chain of two contractions also holds the rows between them."""
    db = graph.dtype_bytes
    tm, tn = chip.tile_m, chip.tile_n
    contractions = [i for i in nodes if graph.nodes[i].is_contraction]
    rows = tm if contractions else 1
    total = 0
    seen_gemm_inputs: set[tuple[int, ...]] = set()
    for i in contractions:
        node = graph.nodes[i]
        if node.op == "attention":
            d = node.head_dim
            total += (ATTN_BLOCK + 2 * 2 * ATTN_BLOCK) * d * db
        elif node.inputs not in seen_gemm_inputs:
            seen_gemm_inputs.add(node.inputs)
            total += 2 * (tm + tn) * K_STEP * db + tm * tn * ACCUMULATOR_BYTES
        for v in node.inputs:  # a contraction fed by another member holds its rows
            if v != INPUT and v in nodes and graph.nodes[v].is_contraction:
                total += tm * graph.width(v) * db
    for i in nodes:
        node = graph.nodes[i]
        if node.is_contraction:
            continue
        if node.op in ROW_OPS:
            total += rows * node.width * db
        else:
            total += rows * min(node.width, tn) * db * (len(node.inputs) + 1)
    return total


def saved_bytes(graph: LayerGraph, nodes: set[int]) -> int:
    """DRAM bytes per token a group no longer moves: each value it both produces and consumes
    is read on chip (and not written at all when nothing outside needs it), and a value from
    outside that several members read is read once."""
    saved = 0
    read_by: dict[int, int] = {}
    for i in nodes:
        for v in dict.fromkeys(graph.nodes[i].inputs):
            read_by[v] = read_by.get(v, 0) + 1
    for v, readers in read_by.items():
        size = graph.bytes_per_token(v)
        if v != INPUT and v in nodes:
            saved += readers * size
            outside = any(c not in nodes for c in graph.consumers[v]) or v == graph.output
            if not outside:
                saved += size
        else:
            saved += (readers - 1) * size
    return saved


def sibling_sets(graph: LayerGraph) -> list[list[int]]:
    """Linears that read the same value (QKV, gate+up): one GEMM with their weights side by
    side. The MoE router is left out: every TP shard computes it whole."""
    out = []
    for readers in graph.consumers.values():
        linears = [c for c in readers if graph.nodes[c].op == "linear" and graph.splits[c]]
        if len(linears) > 1:
            out.append(linears)
    return out


def plan_fusion(
    graph: LayerGraph,
    chip: ChipletKind,
    microbatches: list[list[RequestGroup]],
    options: FuseOptions = FuseOptions(),
    level: OnChipLevel | None = None,
) -> tuple[Group, ...]:
    """The fused groups of a layer (groups of one op are left out: they run alone)."""
    level = level or chip.onchip[0]
    high = classify(graph, chip, microbatches, options.theta)
    st = _State(graph, chip, level, high)
    nodes = graph.nodes

    def anchored(g: int) -> bool:
        return bool(st.anchors(st.members[g]))

    if options.siblings:
        for linears in sibling_sets(graph):
            for c in linears[1:]:
                st.try_merge(st.group_of[linears[0]], st.group_of[c], "siblings")
    if options.epilogue:
        for i, node in enumerate(nodes):
            if not node.is_eltwise or len(st.members[st.group_of[i]]) > 1:
                continue
            producers = sorted(
                {st.group_of[v] for v in node.inputs if v != INPUT},
                key=lambda g: -max(st.members[g]),
            )
            for g in producers:
                if anchored(g) and st.try_merge(g, st.group_of[i], "epilogue"):
                    break
    if options.prologue:
        for i in reversed(range(len(nodes))):
            if not nodes[i].is_eltwise or len(st.members[st.group_of[i]]) > 1:
                continue
            targets = {st.group_of[c] for c in graph.consumers[i]}
            if i == graph.output or len(targets) != 1:
                continue
            (g,) = targets
            if anchored(g):
                st.try_merge(g, st.group_of[i], "prologue")
    if options.eltwise:
        changed = True
        while changed:
            changed = False
            for i, node in enumerate(nodes):
                for v in node.inputs:
                    if v == INPUT:
                        continue
                    a, b = st.group_of[v], st.group_of[i]
                    elementwise = all(nodes[j].is_eltwise for j in st.members[a] | st.members[b])
                    if a != b and elementwise and st.try_merge(a, b, "eltwise"):
                        changed = True
    if options.allow_chain:
        for i, node in enumerate(nodes):
            for v in node.inputs:
                if v != INPUT and anchored(st.group_of[v]) and anchored(st.group_of[i]):
                    st.try_merge(st.group_of[v], st.group_of[i], "chain", allow_chain=True)
    groups = []
    for g, members in sorted(st.members.items(), key=lambda kv: min(kv[1])):
        if len(members) < 2:
            continue
        kinds = tuple(k for k in KINDS if k in st.kinds[g])
        groups.append(
            Group(
                tuple(sorted(members)),
                tuple(st.anchors(members)),
                kinds,
                level.name,
                saved_bytes(graph, members),
                st.working_set(members),
            )
        )
    return tuple(groups)
