"""A layer's kernels: the op graph plus the lowering decisions, as an ordered DAG.

`layer_kernels(graph, lowering)` is the one place that turns a layer (`graph.layer_graph`, or
the graph `passes.ir_bridge.read_layer` reads from IR) and what the passes decided (`Lowering`:
fused groups, attention stages, GEMM row tiles) into the kernels the cost model charges:

- an op in no fused group is a kernel of its own; a fused group is one kernel;
- attention with no stage (unlowered, or `mode=unfused`) is three kernels, QK^T, softmax and
  PV, with the scores on per-(query, key)-pair edges through DRAM;
- a GEMM with physical padding gets a copy-in and a copy-out kernel around it.

Kernels come in a topological order; each names its predecessors (`Edge.src`, an index into
the tuple, `INPUT` for the layer input) and the bytes on each in-edge, so a mapper can place
kernels (or groups of them) as units and charge the edges that cross chiplets.
"""

from __future__ import annotations

from dataclasses import dataclass

from xcompass.cost.kernelcost import kernel_cost
from xcompass.cost.opcost import Cover, OpCost, OpSpec, RequestGroup, Stage
from xcompass.hardware.targets import ChipletKind
from xcompass.layer.attention import AttentionShape, StagePolicy, shape_key
from xcompass.layer.fusion import Group
from xcompass.layer.graph import INPUT, ROW_OPS, LayerGraph, Node
from xcompass.layer.padding import PadPolicy


@dataclass(frozen=True)
class Flow:
    """Bytes a value moves through DRAM: per token, plus per (query, key) pair for attention
    scores; `sharded` values are split over tensor-parallel shards (each moves 1/tp)."""

    per_token: int = 0
    per_pair: int = 0
    sharded: bool = False

    def bytes(self, tokens: float, pairs: float = 0.0, tp: int = 1) -> float:
        div = tp if self.sharded else 1
        return float(tokens * (self.per_token // div) + pairs * (self.per_pair // div))


@dataclass(frozen=True)
class Edge:
    """An in-edge of a kernel: the kernel that writes the value (`INPUT`: the layer input)."""

    src: int
    flow: Flow


@dataclass(frozen=True)
class Kernel:
    """One kernel of a decoder layer.

    name: its ops' names joined by `+` (`.qk`/`.softmax`/`.pv` for unfused attention,
      `.pad_in`/`.pad_out` for physical padding copies).
    kind: gemm | attention | attention_qk | softmax | attention_pv | eltwise | moe |
      pad_in | pad_out (and embedding, lm_head for the model's head and tail).
    ops: the graph ops it runs; decision: which pass decision shaped it (text).
    inputs: in-edges, one per value read from outside; outputs: values it writes for later
      kernels; internal: values kept on chip (fused groups).
    split: how tensor parallelism shards it: n (columns), k (rows, then an all-reduce), heads,
      or "" (replicated).
    specs: its contractions for the cost model (a GEMM per set of sibling linears, attention,
      MoE); reduction_width: widest row reduction (norm) in it.
    after_allreduce: traffic of epilogue ops that, under TP, must wait for a row-parallel
      GEMM's all-reduce and so run as their own kernel.
    attention, padding: the policies llm-stage-attention and llm-pad-tiles recorded (None:
      unlowered).
    """

    name: str
    kind: str
    ops: tuple[str, ...]
    decision: str
    inputs: tuple[Edge, ...]
    outputs: tuple[Flow, ...]
    split: str
    specs: tuple[OpSpec, ...] = ()
    internal: tuple[Flow, ...] = ()
    reduction_width: int = 0
    after_allreduce: Flow | None = None
    attention: StagePolicy | None = None
    padding: PadPolicy | None = None

    @property
    def preds(self) -> tuple[int, ...]:
        return tuple(e.src for e in self.inputs)

    @property
    def contractions(self) -> tuple[OpSpec, ...]:
        """The ops whose weights it reads and whose row splits it all-reduces under TP (the
        padding copies carry their GEMM's spec for its shape only)."""
        return () if self.kind in ("pad_in", "pad_out") else self.specs

    def weights(self) -> int:
        """Weight elements it reads (all shards)."""
        return sum(s.weights() for s in self.contractions)

    def _gemm(self) -> OpSpec | None:
        return next((s for s in self.specs if s.kind == "gemm"), None)

    def cover(
        self, chip: ChipletKind, groups: list[RequestGroup], dtype_bytes: int
    ) -> Cover | None:
        """The row tiles of its GEMM for this micro-batch (None: the hardware tile)."""
        gemm = self._gemm()
        if self.padding is None or gemm is None:
            return None
        m = sum(g.q * g.count for g in groups)
        return self.padding.cover(chip, m, gemm.n, gemm.k, dtype_bytes)

    def stages(
        self, chip: ChipletKind, groups: list[RequestGroup], dtype_bytes: int
    ) -> list[Stage] | None:
        """The stage of each request group's attention (None: not a staged attention)."""
        att = next((s for s in self.specs if s.kind == "attention"), None)
        if self.attention is None or att is None or self.kind != "attention":
            return None
        shape = AttentionShape(att.heads, att.kv_heads, att.head_dim)
        return [self.attention.stage(chip, shape, g.q, g.ctx, dtype_bytes) for g in groups]

    def cost(
        self,
        chip: ChipletKind,
        groups: list[RequestGroup],
        dtype_bytes: int,
        tp: int = 1,
        resident: bool = False,
    ) -> OpCost:
        """Time and traffic for one micro-batch's request groups on one chiplet of `chip`
        (a 1/tp shard), weights streamed or `resident`."""
        return kernel_cost(
            chip,
            self,
            groups,
            dtype_bytes,
            tp,
            resident,
            self.cover(chip, groups, dtype_bytes),
            self.stages(chip, groups, dtype_bytes),
        )

    def plan(self, chip: ChipletKind, groups: list[RequestGroup], dtype_bytes: int) -> str:
        """What the passes decided for this micro-batch (tiles, stages), as text."""
        parts = []
        cover = self.cover(chip, groups, dtype_bytes)
        if cover is not None:
            m = sum(g.q * g.count for g in groups)
            tiles = " + ".join(f"{r}x{c}" for r, c in cover.tiles)
            mode = "physical" if cover.physical else "virtual"
            parts.append(f"M={m}: {mode} {tiles} rows (waste {cover.waste(m)})")
        for g, s in zip(groups, self.stages(chip, groups, dtype_bytes) or [], strict=False):
            parts.append(
                f"{shape_key(g.q, g.ctx)}: {s.mode} {s.br}x{s.bc} x{s.buffers} at {s.level}"
                + (f", K/V read {s.kv_passes}x" if s.kv_passes > 1 else "")
            )
        return "; ".join(parts)


@dataclass(frozen=True)
class Lowering:
    """What the lowering passes decided for a layer: fused groups (an op in none runs
    alone), the stage policy of each attention op and the padding policy of each linear
    (keyed by op name). The empty Lowering is unlowered IR."""

    groups: tuple[Group, ...] = ()
    attention: tuple[tuple[str, StagePolicy], ...] = ()
    padding: tuple[tuple[str, PadPolicy], ...] = ()
    fused: bool = False  # llm-fuse ran (ops in no group were considered and left alone)


UNLOWERED = Lowering()


def unit_order(
    graph: LayerGraph, groups: tuple[Group, ...]
) -> list[tuple[tuple[int, ...], Group | None]]:
    """Fused groups and lone ops in a topological order (groups are convex, so the quotient
    graph is acyclic); ties go to the earliest op."""
    unit_of = list(range(len(graph)))
    units: dict[int, tuple[tuple[int, ...], Group | None]] = {}
    for grp in groups:
        for i in grp.nodes:
            unit_of[i] = grp.nodes[0]
        units[grp.nodes[0]] = (grp.nodes, grp)
    for i in range(len(graph)):
        if unit_of[i] == i and i not in units:
            units[i] = ((i,), None)
    preds = {
        u: {unit_of[v] for i in nodes for v in graph.nodes[i].inputs if v != INPUT} - {u}
        for u, (nodes, _) in units.items()
    }
    order, done = [], set()
    while len(order) < len(units):
        u = min(u for u in units if u not in done and preds[u] <= done)
        order.append(units[u])
        done.add(u)
    return order


def _spec(node: Node, split: str) -> OpSpec:
    if node.op == "attention":
        return OpSpec(
            "attention",
            node.name,
            heads=node.heads,
            kv_heads=node.kv_heads,
            head_dim=node.head_dim,
            window=node.window,
            causal=node.causal,
            split="heads",
        )
    if node.op == "moe":
        return OpSpec(
            "moe",
            node.name,
            k=node.in_width,
            ffn=node.ffn,
            experts=node.experts,
            top_k=node.top_k,
            gated=node.gated,
            split="k",
        )
    return OpSpec("gemm", node.name, n=node.width, k=node.in_width, split=split)


class KernelBuilder:
    """Appends a layer's kernels, remembering which kernel writes each value."""

    def __init__(self, graph: LayerGraph, lowering: Lowering):
        self.g = graph
        self.lowering = lowering
        self.attention = dict(lowering.attention)
        self.padding = dict(lowering.padding)
        self.kernels: list[Kernel] = []
        self.writer: dict[int, int] = {INPUT: INPUT}

    def flow(self, v: int) -> Flow:
        return Flow(self.g.bytes_per_token(v), 0, self.g.sharded(v))

    def edges(self, values: list[int]) -> tuple[Edge, ...]:
        return tuple(Edge(self.writer[v], self.flow(v)) for v in values)

    def add(self, kernel: Kernel, writes: list[int]) -> int:
        self.kernels.append(kernel)
        for v in writes:
            self.writer[v] = len(self.kernels) - 1
        return len(self.kernels) - 1

    def unit(self, nodes: tuple[int, ...], group: Group | None) -> None:
        g = self.g
        inside = set(nodes)
        reads = list(dict.fromkeys(v for i in nodes for v in g.nodes[i].inputs if v not in inside))
        writes = [i for i in nodes if i == g.output or any(c not in inside for c in g.consumers[i])]
        kept = [i for i in nodes if any(c in inside for c in g.consumers[i])]
        names = tuple(g.nodes[i].name for i in nodes)
        specs, by_input = [], {}
        for i in nodes:
            node = g.nodes[i]
            if node.op == "linear" and node.inputs in by_input and group is not None:
                j = by_input[node.inputs]
                prev = specs[j]
                specs[j] = OpSpec("gemm", f"{prev.name}+{node.name}", n=prev.n + node.width,
                                  k=prev.k, split=prev.split)  # fmt: skip
            elif node.is_contraction:
                by_input.setdefault(node.inputs, len(specs))
                specs.append(_spec(node, g.splits[i]))
        ops = {g.nodes[i].op for i in nodes}
        kind = (
            "attention" if "attention" in ops
            else "moe" if "moe" in ops
            else "gemm" if "linear" in ops
            else "eltwise"
        )  # fmt: skip
        decision = self.decision(nodes, group)
        rows = max((g.nodes[i].width for i in nodes if g.nodes[i].op in ROW_OPS), default=0)
        att_name = next((g.nodes[i].name for i in nodes if g.nodes[i].op == "attention"), "")
        policy = self.attention.get(att_name)
        if kind == "attention" and (policy is None or policy.mode == "unfused"):
            self.unfused_attention(nodes, reads, writes, specs, decision)
            return
        pad = next((self.padding[n] for n in names if n in self.padding), None)
        kernel = Kernel(
            "+".join(names),
            kind,
            names,
            decision,
            self.edges(reads),
            tuple(self.flow(v) for v in writes),
            self.split(nodes, kind),
            tuple(specs),
            tuple(self.flow(v) for v in kept),
            rows,
            self.after_allreduce(nodes, specs),
            policy if kind == "attention" else None,
            pad if kind == "gemm" else None,
        )
        if kernel.padding is not None and kernel.padding.mode == "physical":
            self.physical(kernel, writes)
        else:
            self.add(kernel, writes)

    def split(self, nodes: tuple[int, ...], kind: str) -> str:
        splits = [self.g.splits[i] for i in nodes if self.g.nodes[i].is_contraction]
        if kind == "eltwise":
            splits = [self.g.splits[i] for i in nodes]
            if len(set(splits)) == 1:
                return splits[0]
            return "n" if all(splits) else ""
        return splits[0] if splits else ""

    def after_allreduce(self, nodes: tuple[int, ...], specs: list[OpSpec]) -> Flow | None:
        """Epilogue ops behind a row-parallel GEMM: under TP they run after its all-reduce,
        reading its output (written, then read) and their other inputs."""
        g = self.g
        row_parallel = [i for i in nodes if g.nodes[i].op == "linear" and g.splits[i] == "k"]
        if not row_parallel:
            return None
        after = set(row_parallel)
        for i in nodes:
            if any(v in after for v in g.nodes[i].inputs):
                after.add(i)
        epilogue = after - set(row_parallel)
        if not epilogue:
            return None
        others = {v for i in epilogue for v in g.nodes[i].inputs if v not in after}
        moved = 2 * sum(g.bytes_per_token(i) for i in row_parallel)
        return Flow(moved + sum(g.bytes_per_token(v) for v in others))

    def decision(self, nodes: tuple[int, ...], group: Group | None) -> str:
        g, parts = self.g, []
        if group is not None:
            anchor = "+".join(g.nodes[i].name for i in group.anchor) or "no anchor"
            parts.append(
                f"llm-fuse: {'+'.join(group.kinds)} around {anchor} at {group.level}, "
                f"saves {group.saved} B/token"
            )
        elif self.lowering.fused:
            parts.append("llm-fuse: alone")
        for i in nodes:
            node = g.nodes[i]
            if node.op == "attention":
                policy = self.attention.get(node.name)
                parts.append(
                    f"llm-stage-attention{{mode={policy.mode}}}"
                    if policy is not None
                    else "unlowered: QK^T, softmax, PV with scores through DRAM"
                )
            elif node.op == "linear" and node.name in self.padding:
                pad = self.padding[node.name]
                parts.append(f"llm-pad-tiles{{mode={pad.mode}}}")
                break
        return "; ".join(parts) or "unlowered: one kernel per op"

    def unfused_attention(
        self,
        nodes: tuple[int, ...],
        reads: list[int],
        writes: list[int],
        specs: list[OpSpec],
        decision: str,
    ) -> None:
        """QK^T (with any members before attention), softmax, PV (with those after)."""
        g = self.g
        att = next(i for i in nodes if g.nodes[i].op == "attention")
        node = g.nodes[att]
        spec = next(s for s in specs if s.kind == "attention")
        q, k, v = node.inputs
        before = [i for i in nodes if i < att and i != v]
        after = [i for i in nodes if i > att]
        scores = Flow(0, node.heads * g.dtype_bytes, True)
        inside = set(nodes)
        v_reads = [x for x in reads if x == v or (v in inside and x in g.nodes[v].inputs)]
        qk_reads = [x for x in reads if x not in v_reads]
        base = g.nodes[att].name
        qk = self.add(
            Kernel(f"{base}.qk", "attention_qk", tuple(g.nodes[i].name for i in before)
                   + (base,), decision, self.edges(qk_reads), (scores,), "heads", (spec,)),
            [],
        )  # fmt: skip
        sm = self.add(
            Kernel(f"{base}.softmax", "softmax", (base,), decision, (Edge(qk, scores),),
                   (scores,), "heads", (spec,)),
            [],
        )  # fmt: skip
        self.add(
            Kernel(f"{base}.pv", "attention_pv", (base, *(g.nodes[i].name for i in after)),
                   decision, (Edge(sm, scores), *self.edges(v_reads)),
                   tuple(self.flow(x) for x in writes), "heads", (spec,)),
            writes,
        )  # fmt: skip

    def physical(self, kernel: Kernel, writes: list[int]) -> None:
        """Copy the inputs into a padded buffer, run the GEMM on it, copy the real rows out."""
        text = f"{kernel.decision}: copy into a padded buffer"
        pad_in = self.add(
            Kernel(f"{kernel.name}.pad_in", "pad_in", kernel.ops, text, kernel.inputs,
                   tuple(e.flow for e in kernel.inputs), kernel.split, kernel.specs,
                   padding=kernel.padding),
            [],
        )  # fmt: skip
        inputs = tuple(Edge(pad_in, e.flow) for e in kernel.inputs)
        gemm = self.add(
            Kernel(kernel.name, kernel.kind, kernel.ops, kernel.decision, inputs, kernel.outputs,
                   kernel.split, kernel.specs, kernel.internal, kernel.reduction_width,
                   kernel.after_allreduce, None, kernel.padding),
            [],
        )  # fmt: skip
        self.add(
            Kernel(f"{kernel.name}.pad_out", "pad_out", kernel.ops, f"{kernel.decision}: copy "
                   "the real rows out", tuple(Edge(gemm, f) for f in kernel.outputs),
                   kernel.outputs, kernel.split, kernel.specs, padding=kernel.padding),
            writes,
        )  # fmt: skip


def layer_kernels(graph: LayerGraph, lowering: Lowering = UNLOWERED) -> tuple[Kernel, ...]:
    """The layer's kernels in a topological order (see the module docstring)."""
    builder = KernelBuilder(graph, lowering)
    for nodes, group in unit_order(graph, lowering.groups):
        builder.unit(nodes, group)
    return tuple(builder.kernels)
