"""Mapping units: how one micro-batch's work is cut into the pieces a mapping places.

`granularity=layer` places whole decoder layers (a chain); `group` places each kernel of the
lowered layer (a fused group, or an op if unfused) — the units form the kernel DAG, whose
edges are the residual stream, Q/K/V into attention and so on; `tile` cuts further as Compass
does (attention per head, GEMMs in N-tiles; see `tile_units`). Every unit has a *row* of the
unit cost table (`UnitTable`: time, DRAM bytes, MACs per micro-batch, row, chiplet kind and TP
option) and its in-edges, each carrying its own bytes per micro-batch; a unit's input crosses
the NoP from every predecessor placed on another group.

The genome is the same at every granularity: segmentation bits over the U - 1 unit boundaries
and a placement group per (micro-batch, unit).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from xcompass.errors import XcompassError
from xcompass.layer.graph import INPUT
from xcompass.layer.layercost import CostTable, MemoryTable


@dataclass(frozen=True)
class Units:
    """The units of one micro-batch, in a topological order, and their data edges."""

    granularity: str
    names: tuple[str, ...]  # [U]
    layer: np.ndarray  # [U] decoder layer of each unit
    row: np.ndarray  # [U] row of the unit cost table
    pred_start: np.ndarray  # [U + 1] in-edges of unit u: pred_start[u] .. pred_start[u + 1]
    pred: np.ndarray  # [E] the unit each in-edge comes from
    edge_bytes: np.ndarray  # [B, E] bytes the edge carries for each micro-batch

    @property
    def count(self) -> int:
        return len(self.names)

    def preds(self, u: int) -> np.ndarray:
        return self.pred[self.pred_start[u] : self.pred_start[u + 1]]

    def successors(self) -> tuple[np.ndarray, np.ndarray]:
        """Out-edges as CSR: (succ_start[U + 1], edge ids sorted by source unit)."""
        src = self.pred
        order = np.argsort(src, kind="stable")
        start = np.zeros(self.count + 1, dtype=np.int64)
        np.add.at(start, src + 1, 1)
        return np.cumsum(start), order

    def is_chain(self) -> bool:
        """Every unit reads only its predecessor in order (whole layers)."""
        U = self.count
        return bool(
            np.array_equal(self.pred_start, np.r_[0, np.arange(U)])
            and np.array_equal(self.pred, np.arange(U - 1))
        )


@dataclass(frozen=True)
class UnitTable:
    """Per-row costs of units, as the schedule reads them: arrays [B, R, kind, TP option]."""

    time_stream: np.ndarray
    time_resident: np.ndarray
    dram_stream: np.ndarray  # bytes per member chiplet
    dram_resident: np.ndarray
    macs: np.ndarray  # per member chiplet
    sram_bytes: np.ndarray
    weight_bytes: np.ndarray  # [R, TP] all shards
    fits_sram: np.ndarray  # [kind, R, TP]
    kv_bytes: np.ndarray  # [B, R] KV cache a unit of this row holds
    allreduce_bytes: np.ndarray  # [B, R] bytes of each all-reduce under TP
    allreduces: np.ndarray  # [R] all-reduces a unit of this row runs under TP
    kernel: np.ndarray | None = None  # [R] the cost table's kernel of each row (None: layers)
    share: tuple[str, ...] = ()  # [R] the part of its kernel a row computes ("": all of it)


@functools.lru_cache(maxsize=32)
def _layer_chain(
    layers: int,
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A chain of whole layers: names, layer, row (layer position), pred_start, pred; the same
    for every cost table, so built once per layer count (read-only arrays)."""
    L = layers
    at = np.arange(L)
    arrays = (
        at,
        np.where(at == 0, 0, np.where(at == L - 1, 2, 1)).astype(np.int64),
        np.r_[0, np.arange(max(L, 1))].astype(np.int64)[: L + 1],
        np.arange(max(L - 1, 0), dtype=np.int64),
    )
    for a in arrays:
        a.flags.writeable = False
    return (tuple(f"layer{i}" for i in range(L)), *arrays)


def layer_units(table: CostTable, layers: int) -> tuple[Units, UnitTable]:
    """Whole decoder layers: a chain; rows = layer positions (first, middle, last)."""
    L = layers
    units = Units(
        "layer",
        *_layer_chain(L),
        np.repeat(table.act_bytes[:, None], max(L - 1, 0), axis=1),
    )
    kv = np.repeat(table.kv_bytes[:, None], 3, axis=1)
    unit_table = UnitTable(
        table.time_stream,
        table.time_resident,
        table.dram_stream,
        table.dram_resident,
        table.macs,
        table.sram_bytes,
        table.weight_bytes,
        table.fits_sram,
        kv,
        np.repeat(table.allreduce_bytes[:, None], 3, axis=1),
        np.full(3, table.allreduces, dtype=np.int64),
    )
    return units, unit_table


def group_units(
    table: CostTable, layers: int, pairs: np.ndarray | None = None
) -> tuple[Units, UnitTable]:
    """One unit per kernel of every layer, and of the model's head and tail when the graph is
    the whole model; rows = the table's kernels. A kernel's edges index the tuple it was built
    in (head, layer or tail); `INPUT` is the unit that last wrote the residual stream."""
    kernels, positions = table.kernels, table.positions
    if not kernels or not positions:
        raise XcompassError("granularity 'group' needs the layer's kernels in the cost table")
    L = layers
    body = list(positions[1])
    head = [j for j in positions[0] if j not in body]
    tail = [j for j in positions[2] if j not in body]
    names: list[str] = []
    layer_of: list[int] = []
    rows: list[int] = []
    ins: list[list[tuple[int, object]]] = []
    last = -1
    for lyr, js, prefix in (
        [(0, head, "")] + [(i, body, f"layer{i}.") for i in range(L)] + [(L - 1, tail, "")]
    ):
        local: dict[int, int] = {}
        for i, j in enumerate(js):
            kern = kernels[j]
            local[i] = len(names)
            names.append(prefix + kern.name)
            layer_of.append(lyr)
            rows.append(j)
            ins.append(
                [
                    (last if e.src == INPUT else local[e.src], e.flow)
                    for e in kern.inputs
                    if (last if e.src == INPUT else local[e.src]) >= 0
                ]
            )
        if js:
            last = len(names) - 1
    B = len(table.tokens)
    if pairs is None:
        pairs = table.pairs if table.pairs is not None else np.zeros(B)
    pairs = np.asarray(pairs, dtype=float)
    start = np.zeros(len(names) + 1, dtype=np.int64)
    start[1:] = np.cumsum([len(x) for x in ins])
    pred = np.array([src for x in ins for src, _ in x], dtype=np.int64)
    edge_bytes = np.array(
        [[f.bytes(table.tokens[b], pairs[b]) for x in ins for _, f in x] for b in range(B)],
        dtype=float,
    ).reshape(B, len(pred))
    units = Units(
        "group",
        tuple(names),
        np.array(layer_of, dtype=np.int64),
        np.array(rows, dtype=np.int64),
        start,
        pred,
        edge_bytes,
    )
    return units, kernel_rows(table)


def kernel_rows(table: CostTable) -> UnitTable:
    """The unit cost table whose rows are the cost table's kernels. A layer's KV cache lives
    with its (first) attention kernel; a kernel all-reduces once per row-split contraction."""
    kernels = table.kernels
    J, T = len(kernels), len(table.tp_options)
    weight = np.repeat(table.kernel_weight_bytes[:, None], T, axis=1)
    holds_kv = np.flatnonzero([k.kind in ("attention", "attention_qk") for k in kernels])
    first_kv = np.zeros(J, dtype=bool)
    first_kv[holds_kv[:1]] = True
    return UnitTable(
        table.kernel_time,
        table.kernel_time_resident,
        table.kernel_dram,
        table.kernel_dram_resident,
        table.kernel_macs,
        table.kernel_sram,
        weight,
        table.kernel_fits_sram,
        table.kv_bytes[:, None] * first_kv[None, :],
        np.repeat(table.allreduce_bytes[:, None], J, axis=1),
        np.array([sum(s.split == "k" for s in k.contractions) for k in kernels], dtype=np.int64),
        np.arange(J, dtype=np.int64),
        ("",) * J,
    )


# --- memory ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitMemory:
    """What placing each unit costs in memory: weights of the whole unit [U] (all shards), KV
    cache of (micro-batch, unit) [B, U] and the activation a (micro-batch, unit) produces
    [B, U], all in bytes."""

    weight_bytes: np.ndarray
    kv_bytes: np.ndarray
    act_bytes: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.kv_bytes.shape

    @staticmethod
    def worst(memories: list[UnitMemory]) -> UnitMemory:
        """The element-wise largest of several request batches' needs: a mapping that fits
        this fits every one of them."""
        return UnitMemory(
            np.max([m.weight_bytes for m in memories], axis=0),
            np.max([m.kv_bytes for m in memories], axis=0),
            np.max([m.act_bytes for m in memories], axis=0),
        )


def layer_positions(units: int) -> np.ndarray:
    """Cost-table position of each layer: 0 first, 2 last, 1 in between (one layer: 0)."""
    pos = np.ones(units, dtype=np.int64)
    pos[-1] = 2
    pos[0] = 0
    return pos


def layer_unit_memory(table: MemoryTable, units: int) -> UnitMemory:
    """`granularity=layer`: a unit is a decoder layer (the first and last may carry the
    embedding and the LM head)."""
    weights = table.weight_bytes[layer_positions(units), 0]
    kv = np.repeat(table.kv_bytes[:, None], units, axis=1)
    act = np.repeat(table.act_bytes[:, None], units, axis=1)
    return UnitMemory(weights.astype(float), kv.astype(float), act.astype(float))


def unit_memory(units: Units, unit_table: UnitTable, act_bytes: np.ndarray) -> UnitMemory:
    """Any granularity: a unit's weights and KV come from its row; the activation it produces
    is its largest out-edge (the layer's output, `act_bytes`, for a unit nobody reads)."""
    rows = units.row
    B, U = len(act_bytes), units.count
    act = np.repeat(np.asarray(act_bytes, dtype=float)[:, None], U, axis=1)
    if len(units.pred):
        out = np.zeros((B, U))
        np.maximum.at(out.T, units.pred, units.edge_bytes.T)
        has_out = np.zeros(U, dtype=bool)
        has_out[units.pred] = True
        act[:, has_out] = out[:, has_out]
    return UnitMemory(
        unit_table.weight_bytes[rows, 0].astype(float),
        unit_table.kv_bytes[:, rows].astype(float),
        act,
    )
