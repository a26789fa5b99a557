"""Cost rows of tile units (`xcompass.engine.tiles`): each unit is its kernel re-costed on its
share.

A GEMM tile is its kernel with the GEMM's N cut to the tile's columns: it reads its whole A
operand, its weights' columns and its columns of any epilogue operand, and writes its columns.
An attention unit is its kernel over its heads (and the KV heads they use) for its one request
group. Every unit pays its kernel's floor; a whole kernel keeps the cost table's figures exactly.
Units that share a shape share a row: every tile of one width of one kernel, every attention
unit of one head count, KV heads used and owned, and request slot.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from xcompass.engine.tiles import Piece, TileSpec, attention_spec, gemm_spec
from xcompass.engine.units import UnitTable
from xcompass.layer.kernels import Edge, Flow, Kernel
from xcompass.layer.layercost import CostTable

_FIELDS = ("time_stream", "time_resident", "dram_stream", "dram_resident", "macs", "sram")


def gemm_tile(kernel: Kernel, width: int, dtype_bytes: int) -> Kernel:
    """The kernel computing `width` of its GEMM's N columns."""
    gemm = gemm_spec(kernel)
    assert gemm is not None
    n, db = gemm.n, dtype_bytes

    def cut(f: Flow) -> Flow:
        return Flow(width * db, 0, f.sharded) if f.per_token == n * db else f

    after = kernel.after_allreduce
    return replace(
        kernel,
        specs=tuple(replace(s, n=width) if s is gemm else s for s in kernel.specs),
        inputs=(*kernel.inputs[:1], *(Edge(e.src, cut(e.flow)) for e in kernel.inputs[1:])),
        outputs=(Flow(width * db, 0, kernel.outputs[0].sharded),),
        internal=tuple(cut(f) for f in kernel.internal),
        after_allreduce=None if after is None else Flow(after.per_token * width // n),
    )


def kv_span(att, h0: int, h1: int) -> tuple[int, int]:  # noqa: ANN001
    """KV heads [kv0, kv1) that query heads [h0, h1) use."""
    g = max(att.heads // max(att.kv_heads, 1), 1)
    return h0 // g, (h1 - 1) // g + 1


def head_share(kernel: Kernel, h0: int, h1: int, dtype_bytes: int) -> Kernel:
    """The kernel over query heads [h0, h1) (and the KV heads they use)."""
    att = attention_spec(kernel)
    assert att is not None
    H, KV, hd, db = att.heads, max(att.kv_heads, 1), att.head_dim, dtype_bytes
    th = h1 - h0
    kv0, kv1 = kv_span(att, h0, h1)
    kvt = kv1 - kv0

    def share(f: Flow) -> Flow:
        if f.per_token == H * hd * db:
            tok = th * hd * db
        elif f.per_token == KV * hd * db:
            tok = kvt * hd * db
        else:
            tok = f.per_token * th // H
        pair = th * db if f.per_pair == H * db else f.per_pair * th // H
        return Flow(tok, pair, f.sharded)

    return replace(
        kernel,
        specs=tuple(replace(s, heads=th, kv_heads=kvt) for s in kernel.specs),
        inputs=tuple(Edge(e.src, share(e.flow)) for e in kernel.inputs),
        outputs=tuple(share(f) for f in kernel.outputs),
        internal=tuple(share(f) for f in kernel.internal),
    )


def share_label(p: Piece) -> str:
    """What part of its kernel a unit computes, in words (the report's `share`)."""
    if p.kind == "gemm":
        return f"{p.c1 - p.c0} columns"
    if p.kind == "attn":
        heads = p.h1 - p.h0
        return f"{heads} head{'s' if heads > 1 else ''} of request group {p.slot}"
    return ""


def _key(kernel: Kernel, j: int, p: Piece) -> tuple:
    if p.kind == "gemm":
        return ("gemm", j, p.c1 - p.c0)
    if p.kind == "attn":
        att = attention_spec(kernel)
        kv0, kv1 = kv_span(att, p.h0, p.h1)
        g = max(att.heads // max(att.kv_heads, 1), 1)
        owned = sum(1 for kv in range(kv0, kv1) if p.h0 <= kv * g < p.h1)
        return ("attn", j, p.h1 - p.h0, kv1 - kv0, owned, p.slot)
    return ("whole", j)


def tile_rows(
    table: CostTable, spec: TileSpec, keys: list[tuple[int, Piece]]
) -> tuple[UnitTable, np.ndarray]:
    """The unit cost table for units (table kernel, piece), and each unit's row."""
    rows: dict[tuple, int] = {}
    row_of = np.empty(len(keys), dtype=np.int64)
    first: list[tuple[int, Piece]] = []
    for u, (j, p) in enumerate(keys):
        key = _key(table.kernels[j], j, p)
        if key not in rows:
            rows[key] = len(rows)
            first.append((j, p))
        row_of[u] = rows[key]
    B, R, K, T = len(table.tokens), len(rows), len(spec.target.kinds), len(table.tp_options)
    arrays = {f: np.zeros((B, R, K, T)) for f in _FIELDS}
    weight = np.zeros((R, T))
    kv = np.zeros((B, R))
    ar_bytes = np.repeat(np.asarray(table.allreduce_bytes, float)[:, None], R, axis=1)
    allreduces = np.zeros(R, dtype=np.int64)
    holds_kv = next(
        (j for j, k in enumerate(table.kernels) if k.kind in ("attention", "attention_qk")), -1
    )
    db = spec.dtype_bytes
    whole = {
        "time_stream": table.kernel_time,
        "time_resident": table.kernel_time_resident,
        "dram_stream": table.kernel_dram,
        "dram_resident": table.kernel_dram_resident,
        "macs": table.kernel_macs,
        "sram": table.kernel_sram,
    }
    for r, (j, p) in enumerate(first):
        kern = table.kernels[j]
        allreduces[r] = sum(s.split == "k" for s in kern.contractions)
        if p.kind == "whole":
            for f in _FIELDS:
                arrays[f][:, r] = whole[f][:, j]
            weight[r] = kern.weights() * db
            if j == holds_kv:
                kv[:, r] = table.kv_bytes
            continue
        if p.kind == "gemm":
            piece = gemm_tile(kern, p.c1 - p.c0, db)
            ar_bytes[:, r] = np.asarray(table.tokens, float) * (p.c1 - p.c0) * db
        else:
            piece = head_share(kern, p.h0, p.h1, db)
            if j == holds_kv:
                att = attention_spec(kern)
                owned = _key(kern, j, p)[4]
                for b, groups in enumerate(spec.groups):
                    if p.slot < len(groups):
                        g = groups[p.slot]
                        kv[b, r] = 2.0 * owned * att.head_dim * (g.ctx + g.q) * g.count * db
        weight[r] = piece.weights() * db
        _fill(arrays, r, piece, p, spec, table)
    tps = np.array(table.tp_options, dtype=float)
    sram = np.array([c.sram_mb for c in spec.target.kinds]) * 2**20 * 0.5
    fits = weight[None, :, :] / tps[None, None, :] <= sram[:, None, None]
    unit_table = UnitTable(
        arrays["time_stream"],
        arrays["time_resident"],
        arrays["dram_stream"],
        arrays["dram_resident"],
        arrays["macs"],
        arrays["sram"],
        weight,
        fits,
        kv,
        ar_bytes,
        allreduces,
        np.array([j for j, _ in first], dtype=np.int64),
        tuple(share_label(p) for _, p in first),
    )
    return unit_table, row_of


def _splits(piece: Kernel, p: Piece, tp: int) -> bool:
    """Whether a tensor-parallel group of `tp` can share the unit's work evenly."""
    if tp == 1:
        return True
    if p.kind == "attn":
        return (p.h1 - p.h0) % tp == 0
    gemm = gemm_spec(piece)
    return gemm is None or (gemm.n if gemm.split == "n" else gemm.k) % tp == 0


def _fill(
    arrays: dict[str, np.ndarray],
    r: int,
    piece: Kernel,
    p: Piece,
    spec: TileSpec,
    table: CostTable,
) -> None:
    """Cost row r for every micro-batch, chiplet kind and TP option (a group that cannot share
    the unit evenly: infinite time)."""
    db = spec.dtype_bytes
    for t, tp in enumerate(table.tp_options):
        if not _splits(piece, p, tp):
            arrays["time_stream"][:, r, :, t] = np.inf
            arrays["time_resident"][:, r, :, t] = np.inf
            continue
        for b, groups in enumerate(spec.groups):
            if p.kind == "attn":
                if p.slot >= len(groups):
                    continue  # an empty unit: this micro-batch has no such request group
                share = [groups[p.slot]]
            else:
                share = list(groups)
            for k, chip in enumerate(spec.target.kinds):
                s = piece.cost(chip, share, db, tp, False)
                res = piece.cost(chip, share, db, tp, True)
                arrays["time_stream"][b, r, k, t] = s.time_s
                arrays["time_resident"][b, r, k, t] = res.time_s
                arrays["dram_stream"][b, r, k, t] = s.dram_bytes
                arrays["dram_resident"][b, r, k, t] = res.dram_bytes
                arrays["macs"][b, r, k, t] = s.macs
                arrays["sram"][b, r, k, t] = s.sram_bytes
