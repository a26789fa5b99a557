"""`granularity=tile`: Compass's split of a decoder layer, over the layer's lowered kernels.

Compass (`create_GPT3`) places, per layer, Q/K/V per head, QK^T, softmax and PV per (head,
request), the output projection and both FFN GEMMs in N-tiles of 128 columns, and the residual
adds, norm and GeLU whole: 485 units per micro-batch for a GPT-3-6.7B block with 2 requests per
micro-batch. Ours follows the kernels the cost table holds (unlowered or lowered):

- a GEMM kernel (one GEMM, its outputs side by side in its N columns) is cut into N-tiles of
  `width` columns (the last one may be narrower); a fused sibling GEMM (QKV) is one N range;
- an attention kernel (staged, or unfused QK^T / softmax / PV) is cut per `heads` heads and per
  request *slot*: slot r is the micro-batch's r-th request group; there are as many slots as
  the micro-batch with the most groups has, and a micro-batch with fewer gets empty units
  (zero cost, edges of zero bytes);
- every other kernel (norms, residual adds, activations, MoE, padding copies, the model's head
  and tail) is one unit.

Unlowered GPT-3-6.7B with 2 requests per micro-batch: 1 + 3 x 32 + 3 x 32 x 2 + 32 + 1 + 1 +
128 + 1 + 32 + 1 = 485 units, the same count as Compass (its input add stands where our
attention norm does).

Edges carry real bytes: a value is a [tokens x columns] array (attention scores: [pairs x
heads]); a producer unit writes a block of it (a GEMM tile its columns, an attention unit its
heads' columns for its request's tokens, a whole kernel all of it) and a consumer unit reads a
block (a GEMM tile its whole A operand and its own columns of any epilogue operand, an attention
unit its heads' (or KV heads') columns for its request's tokens, a whole kernel all of it).
An edge joins every producer and consumer whose blocks overlap and carries the overlap.

Costs (`xcompass.engine.tilecost`): each unit is its kernel re-costed on its share (a GEMM tile as a
GEMM of `width` columns reading the whole input; an attention unit as attention over its heads
for its one request group), so every unit pays its own kernel floor. On one chiplet with one
compute unit (no wave quantization) and compute-bound GEMM tiles, a layer's tiles take what its
kernels take plus (units - kernels) floors; DRAM-bound GEMM tiles also re-read their input once
per tile (test_tiles checks both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xcompass.cost.opcost import OpSpec, RequestGroup
from xcompass.errors import XcompassError
from xcompass.hardware.targets import Target
from xcompass.layer.graph import INPUT, LayerGraph
from xcompass.layer.kernels import UNLOWERED, Flow, Kernel, KernelBuilder, Lowering, unit_order
from xcompass.layer.layercost import CostTable, request_groups
from xcompass.model.models import ModelConfig
from xcompass.model.workload import Workload
from xcompass.names import TILE_HEADS, TILE_WIDTH

ALL = -1  # rows of every request of the micro-batch


@dataclass(frozen=True)
class TileSpec:
    """What cutting kernels into tiles needs beyond the cost table: the target and request
    groups (to re-cost a kernel's share), the layer's graph and lowering (which value each
    kernel edge carries), the tile sizes and the request slots per attention kernel."""

    target: Target
    groups: tuple[tuple[RequestGroup, ...], ...]  # [B] request groups of each micro-batch
    dtype_bytes: int
    graph: LayerGraph
    lowering: Lowering = UNLOWERED
    width: int = TILE_WIDTH
    heads: int = TILE_HEADS
    slots: int = 0  # 0: the most request groups any micro-batch has

    @property
    def request_slots(self) -> int:
        return self.slots or max((len(g) for g in self.groups), default=1)


def hardware_tile(target: Target) -> int:
    """Columns every chiplet kind's GEMM tile divides (the least common multiple)."""
    return math.lcm(*(k.tile_n for k in target.kinds))


def check_tiles(model: ModelConfig, target: Target, width: int, heads: int) -> None:
    """Refuse tile sizes the target or model cannot run, naming the option."""
    tile = hardware_tile(target)
    if isinstance(width, bool) or not isinstance(width, int) or width < 1 or width % tile:
        raise XcompassError(
            f"tile-width={width} is not a multiple of {target.name}'s hardware tile "
            f"({tile} columns)"
        )
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1 or model.heads % heads:
        raise XcompassError(f"tile-heads={heads} does not divide the model's {model.heads} heads")


def check_tp(width: int, heads: int, tps: list[int] | tuple[int, ...]) -> None:
    """Refuse tensor-parallel degrees that cannot share a tile evenly (such a unit would take
    forever: `tilecost` gives it infinite time)."""
    for tp in sorted(set(tps)):
        if tp > 1 and (heads % tp or width % tp):
            what = f"tile-heads={heads}" if heads % tp else f"tile-width={width}"
            raise XcompassError(
                f"a tensor-parallel group of {tp} cannot share a tile evenly: {what} is not a "
                f"multiple of {tp}"
            )


def tile_spec(
    model: ModelConfig,
    workload: Workload,
    target: Target,
    graph: LayerGraph | None = None,
    lowering: Lowering = UNLOWERED,
    width: int = TILE_WIDTH,
    heads: int = TILE_HEADS,
    slots: int = 0,
) -> TileSpec:
    """The spec for a model's layer (default: its unlowered graph) serving `workload`."""
    from xcompass.layer.graph import layer_graph

    check_tiles(model, target, width, heads)
    return TileSpec(
        target,
        tuple(tuple(g) for g in request_groups(workload)),
        model.dtype_bytes,
        graph if graph is not None else layer_graph(model),
        lowering,
        width,
        heads,
        slots,
    )


# --- which value each kernel edge carries ---------------------------------------------------


class _Recorder(KernelBuilder):
    """The kernel builder, noting the graph value behind each input edge and output."""

    def __init__(self, graph: LayerGraph, lowering: Lowering):
        super().__init__(graph, lowering)
        self.pending: list[int] = []
        self.reads: list[tuple[int | None, ...]] = []
        self.writes: list[tuple[int, ...]] = []

    def edges(self, values: list[int]):  # noqa: ANN201
        self.pending.extend(values)
        return super().edges(values)

    def add(self, kernel: Kernel, writes: list[int]) -> int:
        # edges() built the last inputs of this kernel; earlier ones are kernel-internal values
        # (attention scores, padded copies)
        n = len(kernel.inputs)
        assert len(self.pending) <= n
        self.reads.append((None,) * (n - len(self.pending)) + tuple(self.pending))
        self.writes.append(tuple(writes) if len(writes) == len(kernel.outputs) else ())
        self.pending = []
        return super().add(kernel, writes)


def _layer_io(graph: LayerGraph, lowering: Lowering) -> _Recorder:
    rec = _Recorder(graph, lowering)
    for nodes, group in unit_order(graph, lowering.groups):
        rec.unit(nodes, group)
    return rec


# --- pieces: what one unit of a kernel computes ---------------------------------------------


@dataclass(frozen=True)
class Piece:
    """A unit's share of its kernel: output columns [c0, c1) of a GEMM, heads [h0, h1) of one
    request slot of an attention kernel, or (whole) all of it."""

    kind: str  # whole | gemm | attn
    c0: int = 0
    c1: int = 0
    h0: int = 0
    h1: int = 0
    slot: int = ALL


def gemm_spec(kernel: Kernel) -> OpSpec | None:
    """The GEMM a kernel can be cut in N-tiles along: its one contraction, with its outputs
    side by side in the GEMM's columns."""
    specs = kernel.contractions
    if kernel.kind != "gemm" or len(specs) != 1 or specs[0].kind != "gemm":
        return None
    width = sum(f.per_token for f in kernel.outputs)
    return specs[0] if width and not any(f.per_pair for f in kernel.outputs) else None


def attention_spec(kernel: Kernel) -> OpSpec | None:
    specs = kernel.specs
    if kernel.kind not in ("attention", "attention_qk", "softmax", "attention_pv"):
        return None
    return specs[0] if specs and all(s.kind == "attention" for s in specs) else None


def pieces(kernel: Kernel, spec: TileSpec) -> list[Piece]:
    gemm = gemm_spec(kernel)
    db = spec.dtype_bytes
    whole_n = gemm is not None and sum(f.per_token for f in kernel.outputs) == gemm.n * db
    if whole_n and gemm.n > spec.width:
        return [Piece("gemm", c, min(c + spec.width, gemm.n)) for c in range(0, gemm.n, spec.width)]
    att = attention_spec(kernel)
    if att is not None and att.heads > spec.heads:
        return [
            Piece("attn", h0=h, h1=min(h + spec.heads, att.heads), slot=r)
            for h in range(0, att.heads, spec.heads)
            for r in range(spec.request_slots)
        ]
    if att is not None:
        return [Piece("attn", h0=0, h1=att.heads, slot=r) for r in range(spec.request_slots)]
    return [Piece("whole")]


def _columns(flow: Flow, db: int) -> int:
    """Columns of a value: features per token, or heads for per-(query, key)-pair scores."""
    return (flow.per_pair or flow.per_token) // db


def _head_cols(att: OpSpec, cols: int, h0: int, h1: int) -> tuple[int, int]:
    """Columns of heads [h0, h1) in a value of `cols` columns read by attention: a query-wide
    value (or scores) by query heads, a KV-wide one by the KV heads they use."""
    H, KV, hd = att.heads, max(att.kv_heads, 1), att.head_dim
    if cols in (H * hd, H):
        per = cols // H
        return h0 * per, h1 * per
    if cols == KV * hd:
        g = max(H // KV, 1)
        return (h0 // g) * hd, ((h1 - 1) // g + 1) * hd
    return 0, cols


def _produced(p: Piece, kernel: Kernel, slot: int, db: int) -> tuple[int, int, int]:
    """(c0, c1, rows) of output `slot` that a piece writes (c1 <= c0: nothing)."""
    cols = _columns(kernel.outputs[slot], db)
    if p.kind == "gemm":
        off = sum(f.per_token for f in kernel.outputs[:slot]) // db
        return max(p.c0, off) - off, min(p.c1, off + cols) - off, ALL
    if p.kind == "attn":
        att = attention_spec(kernel)
        assert att is not None
        if cols % att.heads == 0:
            per = cols // att.heads
            return p.h0 * per, p.h1 * per, p.slot
        return 0, cols, p.slot
    return 0, cols, ALL


def _read(p: Piece, kernel: Kernel, edge: int, cols: int) -> tuple[int, int, int]:
    """(c0, c1, rows) of its input edge `edge` (a value of `cols` columns) a piece reads."""
    if p.kind == "gemm":
        gemm = gemm_spec(kernel)
        if edge > 0 and gemm is not None and cols == gemm.n:  # an epilogue operand
            return p.c0, p.c1, ALL
        return 0, cols, ALL  # the A operand, read whole by every tile
    if p.kind == "attn":
        att = attention_spec(kernel)
        assert att is not None
        return (*_head_cols(att, cols, p.h0, p.h1), p.slot)
    return 0, cols, ALL


def piece_name(kernel: Kernel, p: Piece) -> str:
    if p.kind == "gemm":
        return f"{kernel.name}[{p.c0}:{p.c1}]"
    if p.kind == "attn":
        heads = f"h{p.h0}" if p.h1 == p.h0 + 1 else f"h{p.h0}-{p.h1 - 1}"
        return f"{kernel.name}.{heads}.r{p.slot}"
    return kernel.name


# --- the unit DAG -----------------------------------------------------------------------------


@dataclass
class _Block:
    """The units of one kernel tuple (the model's head, a layer, its tail)."""

    kernels: list[int]  # table kernel indices
    reads: list[tuple[int | None, ...]]
    writes: list[tuple[int, ...]]
    output: int  # local kernel writing the block's output
    layer: int
    prefix: str


def _amounts(
    spec: TileSpec, table: CostTable, pairs: np.ndarray
) -> dict[tuple[str, int], np.ndarray]:
    """Tokens and (query, key) pairs [B] of every request slot and of the whole micro-batch."""
    S = spec.request_slots
    out = {("t", ALL): np.asarray(table.tokens, float), ("p", ALL): np.asarray(pairs, float)}
    for r in range(S):
        gs = [g[r] if r < len(g) else None for g in spec.groups]
        out["t", r] = np.array([g.q * g.count if g else 0.0 for g in gs], dtype=float)
        out["p", r] = np.array(
            [g.q * (g.ctx + g.q) * g.count if g else 0.0 for g in gs], dtype=float
        )
    return out


@dataclass(frozen=True)
class TileGraph:
    """The tile units of a cost table before they are costed: names, layers, in-edges (CSR:
    `start`, `pred`) with their bytes per micro-batch, and the (table kernel, piece) behind each
    unit, which `xcompass.engine.tilecost.tile_rows` turns into cost rows."""

    names: tuple[str, ...]
    layer: np.ndarray
    start: np.ndarray
    pred: np.ndarray
    edge_bytes: np.ndarray
    keys: list[tuple[int, Piece]]


def tile_graph(
    table: CostTable, layers: int, spec: TileSpec | None, pairs: np.ndarray | None = None
) -> TileGraph:
    """The tile units of `layers` layers (and the model's head and tail when the table has
    them) and the bytes on their edges (see the module docstring)."""
    if spec is None:
        raise XcompassError(
            "granularity 'tile' needs the target, the workload and the tile sizes "
            "(xcompass.engine.tiles.TileSpec)"
        )
    kernels, positions = table.kernels, table.positions
    if not kernels or not positions or any(k.kind == "op" for k in kernels):
        raise XcompassError("granularity 'tile' needs the layer's kernels in the cost table")
    if len(spec.groups) != len(table.tokens):
        raise XcompassError("the tile spec and the cost table have different micro-batches")
    body = list(positions[1])
    head = [j for j in positions[0] if j not in body]
    tail = [j for j in positions[2] if j not in body]
    rec = _layer_io(spec.graph, spec.lowering)
    if tuple(rec.kernels) != tuple(kernels[j] for j in body):
        raise XcompassError(
            "granularity 'tile': the cost table's kernels are not the given layer graph's"
        )
    none = [(None,) * len(kernels[j].inputs) for j in range(len(kernels))]
    blocks = [_Block(head, [none[j] for j in head], [()] * len(head), len(head) - 1, 0, "")]
    out = max(i for i, w in enumerate(rec.writes) if spec.graph.output in w)
    for i in range(layers):
        blocks.append(_Block(body, rec.reads, rec.writes, out, i, f"layer{i}."))
    blocks.append(_Block(tail, [none[j] for j in tail], [()] * len(tail), len(tail) - 1,
                         layers - 1, ""))  # fmt: skip
    B = len(table.tokens)
    pairs = np.asarray(
        pairs if pairs is not None else (table.pairs if table.pairs is not None else np.zeros(B)),
        dtype=float,
    )
    amount = _amounts(spec, table, pairs)
    db = spec.dtype_bytes
    names: list[str] = []
    layer_of: list[int] = []
    keys: list[tuple[int, Piece]] = []  # (table kernel, piece) of each unit
    ins: list[dict[int, np.ndarray]] = []
    prev: tuple[int, list[int], list[Piece]] | None = None  # output writer of the last block
    for blk in blocks:
        if not blk.kernels:
            continue
        units_of: list[tuple[list[int], list[Piece]]] = []
        for i, j in enumerate(blk.kernels):
            kern = kernels[j]
            ps = pieces(kern, spec)
            ids = list(range(len(names), len(names) + len(ps)))
            for p in ps:
                names.append(blk.prefix + piece_name(kern, p))
                layer_of.append(blk.layer)
                keys.append((j, p))
                ins.append({})
            for e, edge in enumerate(kern.inputs):
                if edge.src == INPUT:
                    if prev is None:
                        continue
                    pj, pids, pps = prev
                    value = spec.graph.output
                else:
                    pj = blk.kernels[edge.src]
                    pids, pps = units_of[edge.src]
                    value = blk.reads[i][e]
                src = kernels[pj]
                if edge.src != INPUT:
                    writes = blk.writes[edge.src]
                else:
                    writes = rec.writes[body.index(pj)] if pj in body else ()
                slot = _slot(src, writes, value, edge.flow)
                flow, cols = edge.flow, _columns(edge.flow, db)
                per_col = (flow.per_pair or flow.per_token) / max(cols, 1)
                kind = "p" if flow.per_pair else "t"
                for q, cp in zip(ids, ps, strict=True):
                    r0, r1, rows = _read(cp, kern, e, cols)
                    for u, pp in zip(pids, pps, strict=True):
                        w0, w1, wrows = _produced(pp, src, slot, db)
                        lo, hi = max(r0, w0), min(r1, w1)
                        if hi <= lo or (rows != ALL and wrows != ALL and rows != wrows):
                            continue
                        nbytes = (hi - lo) * per_col * amount[kind, max(rows, wrows)]
                        ins[q][u] = ins[q].get(u, 0.0) + nbytes
            units_of.append((ids, ps))
        j_out = blk.kernels[blk.output]
        prev = (j_out, *units_of[blk.output])
    start = np.zeros(len(names) + 1, dtype=np.int64)
    start[1:] = np.cumsum([len(x) for x in ins])
    pred = np.array([u for x in ins for u in sorted(x)], dtype=np.int64)
    edge_bytes = np.zeros((B, len(pred)))
    k = 0
    for x in ins:
        for u in sorted(x):
            edge_bytes[:, k] = x[u]
            k += 1
    return TileGraph(
        tuple(names), np.array(layer_of, dtype=np.int64), start, pred, edge_bytes, keys
    )


def _slot(src: Kernel, writes: tuple[int, ...], value: int | None, flow: Flow) -> int:
    """Which output of `src` an edge carries: the recorded value, else the output of that
    flow (kernel-internal values: scores, padded copies)."""
    if value is not None and value in writes:
        return writes.index(value)
    for o, f in enumerate(src.outputs):
        if f == flow:
            return o
    return 0
