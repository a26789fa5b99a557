"""A cheap screening model of a mapping: the exact engine's list schedule without contention.

The engine (`xcompass.engine.schedule`) runs a discrete-event simulation because links carry one
message at a time and DRAM channels share their bandwidth in time. Without those two, the
schedule needs no event queue: Compass's order (segment, micro-batch, unit) is a topological
order of both the data edges (a unit's inputs come from earlier units of its micro-batch) and
each chiplet's queue, so one pass over the nodes in that order gives every start and end:

- a node starts when its group's chiplets are free and its inputs have arrived; an input from
  another group arrives `link_latency + bytes / link_bw + hops x hop_s` after its producer
  ends (a link is a delay, never busy);
- a node runs `max(exec, bytes / channel bandwidth)` (its channel is its own);
- weight residency, energy per node, NoP hop energy and TP all-reduces are the engine's own
  (the same order on each chiplet, so the same units find their weights resident).

What contention would add comes back as budgets: latency is at least every link's and every
DRAM channel's summed busy time. So the screen is exact where nothing contends, and otherwise
below the engine by the queueing it leaves out. It ranks candidates; the exact engine decides
every figure a search reports (`xcompass.search.fidelity`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from xcompass.engine.context import EvalContext
from xcompass.search.evaluation import Evaluation


@njit(cache=True, nogil=True)
def _screen(  # noqa: C901, PLR0913, PLR0912, PLR0915
    bits, place, gsize, gchips, gchan, g_kind, g_tp_index, g_tp, g_dram_j, g_need, lead,
    routes, hops, n_links, row, pred_start, pred, edge_occupy, edge_hop_j, link_latency,
    hop_s, pj_hop, fits_sram, t_res, t_str, d_res, d_str, ar_time, ar_bits, n_channels,
    inv_bw, macs, sram, pj_mac, sram_pj, C, static_w, idle_w, out_lat, out_e,
    first, every, snap_f, snap_i, snap_e, base_end, record,
):  # fmt: skip  # noqa: ANN001, ANN202
    P, B, U = place.shape
    end = np.empty(B * U)
    L, H = n_links + 1, n_channels + 1
    chip_free = np.empty(C + 1)
    last_unit = np.empty(C + 1, dtype=np.int64)
    powered = np.empty(C + 1, dtype=np.bool_)
    link_busy = np.empty(n_links + 1)
    chan_busy = np.empty(n_channels + 1)
    starts = np.empty(U + 1, dtype=np.int64)
    for p in range(P):
        chip_free[:] = 0.0
        last_unit[:] = -1
        powered[:] = False
        link_busy[:] = 0.0
        chan_busy[:] = 0.0
        nseg = 0
        starts[0] = 0
        for i in range(U - 1):
            if bits[p, i]:
                nseg += 1
                starts[nseg] = i + 1
        nseg += 1
        starts[nseg] = U
        e_dyn = 0.0
        latency = 0.0
        begin = 0
        if first[p] > 0:  # resume from the base mapping's last snapshot before block first[p]
            k = min(first[p] // every, snap_e.shape[0] - 1)
            begin = k * every
            chip_free[:] = snap_f[k, : C + 1]
            link_busy[:] = snap_f[k, C + 1 : C + 1 + L]
            chan_busy[:] = snap_f[k, C + 1 + L : C + 1 + L + H]
            last_unit[:] = snap_i[k, : C + 1]
            for c in range(C + 1):
                powered[c] = snap_i[k, C + 1 + c] != 0
            e_dyn, latency = snap_e[k, 0], snap_e[k, 1]
            end[:] = base_end
        for s in range(begin // B, nseg):
            for b in range(begin % B if s == begin // B else 0, B):
                blk = s * B + b
                if record and blk % every == 0 and blk // every < snap_e.shape[0]:
                    k = blk // every
                    snap_f[k, : C + 1] = chip_free
                    snap_f[k, C + 1 : C + 1 + L] = link_busy
                    snap_f[k, C + 1 + L : C + 1 + L + H] = chan_busy
                    snap_i[k, : C + 1] = last_unit
                    for c in range(C + 1):
                        snap_i[k, C + 1 + c] = 1 if powered[c] else 0
                    snap_e[k, 0], snap_e[k, 1] = e_dyn, latency
                for u in range(starts[s], starts[s + 1]):
                    grp = place[p, b, u]
                    t = 0.0
                    for k in range(pred_start[u], pred_start[u + 1]):
                        src = pred[k]
                        at = end[b * U + src]
                        sg = place[p, b, src]
                        if sg != grp:
                            a, z = lead[sg], lead[grp]
                            nh = hops[a, z]
                            occ = edge_occupy[b, k]
                            at += link_latency + occ + nh * hop_s
                            e_dyn += edge_hop_j[b, k] * nh
                            for h in range(nh):
                                link_busy[routes[a, z, h]] += occ
                        if at > t:
                            t = at
                    r, kind, ti = row[u], g_kind[grp], g_tp_index[grp]
                    resident = fits_sram[kind, r, ti]
                    n = gsize[grp]
                    for j in range(n):
                        c = gchips[grp, j]
                        if chip_free[c] > t:
                            t = chip_free[c]
                        if last_unit[c] != u:
                            resident = False
                    if resident:
                        ex = t_res[b, r, kind, ti]
                        db = d_res[b, r, kind, ti]
                    else:
                        ex = t_str[b, r, kind, ti]
                        db = d_str[b, r, kind, ti]
                    ex += ar_time[b, r, ti]
                    run = ex
                    if db > 0.0:
                        e_dyn += db * g_dram_j[grp]
                        for j in range(n):
                            ch = gchan[grp, j]
                            chan_busy[ch] += db * inv_bw[ch]
                        need = db * g_need[grp]  # its busiest channel serves its members in turn
                        if need > run:
                            run = need
                    stop = t + run
                    end[b * U + u] = stop
                    if stop > latency:
                        latency = stop
                    for j in range(n):
                        c = gchips[grp, j]
                        chip_free[c] = stop
                        last_unit[c] = u
                        powered[c] = True
                    tp = g_tp[grp]
                    e_dyn += tp * macs[b, r, kind, ti] * pj_mac[grp] * 1e-12
                    e_dyn += tp * sram[b, r, kind, ti] * 8.0 * sram_pj[grp] * 1e-12
                    e_dyn += ar_bits[b, r, ti] * pj_hop * 1e-12
        for k in range(n_links):
            if link_busy[k] > latency:
                latency = link_busy[k]
        for k in range(n_channels):
            if chan_busy[k] > latency:
                latency = chan_busy[k]
        static = 0.0
        for c in range(C):
            static += (static_w[c] if powered[c] else idle_w[c]) * latency
        out_lat[p] = latency
        out_e[p] = e_dyn + static
        if record:
            base_end[:] = end


def group_arrays(ctx: EvalContext) -> tuple[np.ndarray, ...]:
    """Per placement group: its size, chiplets and their channels (compacted), the DRAM energy
    of a byte read by every member (J), and the seconds per byte its busiest channel takes."""
    G = len(ctx.groups.tp)
    gsize = ctx.valid.sum(axis=1).astype(np.int64)
    gchips = np.ascontiguousarray(ctx.members, dtype=np.int64)  # valid members come first
    gchan = ctx.channel[gchips]
    dram_j = np.zeros(G)
    need = np.zeros(G)
    for grp in range(G):
        chans = gchan[grp, : gsize[grp]]
        dram_j[grp] = float((8.0 * ctx.dram_pj[chans] * 1e-12).sum())
        ids, counts = np.unique(chans, return_counts=True)
        need[grp] = float((counts * ctx.inv_channel_bw[ids]).max()) if len(ids) else 0.0
    return gsize, gchips, np.ascontiguousarray(gchan), dram_j, need


SNAPSHOTS = 256
"""At most this many snapshots of a base mapping's screen state (`Screen.around`)."""

_NO_BASE = (
    np.zeros(1, np.int64), 1, np.zeros((1, 1)), np.zeros((1, 1), np.int64), np.zeros((1, 2)),
    np.zeros(1), False,
)  # fmt: skip


def screen_context(
    ctx: EvalContext,
    bits: np.ndarray,
    place: np.ndarray,
    groups: tuple | None = None,
    resume: tuple | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Screened (latency [P], energy [P]) of P mappings on one request batch (`groups`:
    `group_arrays(ctx)`, computed here when not given; `resume`: the kernel's resume or record
    arguments, `_Base`)."""
    place = np.ascontiguousarray(place, dtype=np.int64)
    bits = np.ascontiguousarray(bits, dtype=np.bool_)
    P = len(place)
    lat, energy = np.zeros(P), np.zeros(P)
    if P == 0:
        return lat, energy
    gsize, gchips, gchan, dram_j, need = groups if groups is not None else group_arrays(ctx)
    g, u, ut = ctx.groups, ctx.units, ctx.ut
    first, every, snap_f, snap_i, snap_e, base_end, record = resume or _NO_BASE
    if resume is None:
        first = np.zeros(P, np.int64)
    _screen(
        bits, place, gsize, gchips, gchan, g.kind, g.tp_index, g.tp.astype(np.float64),
        dram_j, need, ctx.lead, ctx.routes, ctx.hops, ctx.n_links, u.row, u.pred_start,
        u.pred, np.ascontiguousarray(ctx.edge_occupy), np.ascontiguousarray(ctx.edge_hop_j),
        float(ctx.link_latency), float(ctx.hop_s), float(ctx.pj_hop), ut.fits_sram,
        ut.time_resident, ut.time_stream, ut.dram_resident, ut.dram_stream,
        ctx.unit_ar_time, ctx.unit_ar_bits, ctx.n_channels, ctx.inv_channel_bw, ut.macs,
        ut.sram_bytes, ctx.pj_mac, ctx.sram_pj, ctx.C, ctx.static_w, ctx.idle_w, lat, energy,
        first, every, snap_f, snap_i, snap_e, base_end, record,
    )  # fmt: skip
    return lat, energy


class _Base:
    """One request batch's screen state at every `every`-th block (segment, micro-batch) of a
    base mapping, in the screen's order, and the base's node end times: a mapping that first
    differs from the base at block k resumes from the last snapshot before k."""

    def __init__(self, ctx: EvalContext, groups: tuple, bits: np.ndarray, place: np.ndarray):
        B, U = place.shape[1:]
        segment = np.concatenate([[0], np.cumsum(bits[0])]).astype(np.int64)  # unit -> segment
        self.blocks = int(segment[-1] + 1) * B
        self.every = max(1, -(-self.blocks // SNAPSHOTS))
        count = -(-self.blocks // self.every)
        C, L, H = ctx.C, ctx.n_links + 1, ctx.n_channels + 1
        self.snap_f = np.zeros((count, C + 1 + L + H))
        self.snap_i = np.zeros((count, 2 * (C + 1)), np.int64)
        self.snap_e = np.zeros((count, 2))
        self.end = np.zeros(B * U)
        self.block_of = segment[None, :] * B + np.arange(B)[:, None]  # [B, U]
        self.bits, self.place = bits[0].copy(), place[0].copy()
        record = self._args(np.zeros(1, np.int64), True)
        self.base = screen_context(ctx, bits[:1], place[:1], groups, record)

    def _args(self, first: np.ndarray, record: bool) -> tuple:
        return (first, self.every, self.snap_f, self.snap_i, self.snap_e, self.end, record)

    def first_blocks(self, bits: np.ndarray, place: np.ndarray) -> np.ndarray:
        """Per mapping, the first block whose screen can differ from the base's."""
        first = np.where(place != self.place[None], self.block_of[None], self.blocks)
        first = first.reshape(len(place), -1).min(axis=1)
        flip = bits != self.bits[None]
        if flip.shape[1]:
            at = np.argmax(flip, axis=1)
            moved = flip[np.arange(len(bits)), at]
            first = np.where(moved, np.minimum(first, self.block_of[0, at]), first)
        return first

    def __call__(self, ctx: EvalContext, groups: tuple, bits: np.ndarray, place: np.ndarray):  # noqa: ANN204
        resume = self._args(self.first_blocks(bits, place), False)
        return screen_context(ctx, bits, place, groups, resume)


class Screen:
    """The screening model over a problem's training request batches (an `Evaluator`)."""

    def __init__(self, contexts: list[EvalContext]) -> None:
        self.contexts = list(contexts)
        self.groups = [group_arrays(ctx) for ctx in self.contexts]

    def __call__(self, bits: np.ndarray, place: np.ndarray) -> Evaluation:
        if len(place) == 0:
            return Evaluation.empty(len(self.contexts))
        pairs = zip(self.contexts, self.groups, strict=True)
        runs = [screen_context(c, bits, place, g) for c, g in pairs]
        return Evaluation(np.stack([r[0] for r in runs]), np.stack([r[1] for r in runs]))

    def around(self, bits: np.ndarray, place: np.ndarray) -> Near:
        """The screen of mappings near `bits[0], place[0]` (a local search's neighbours):
        the same figures, each mapping screened only from where it first differs."""
        return Near(self, bits[:1], place[:1])


class Near:
    """`Screen.around`: an `Evaluator` that resumes from a base mapping's snapshots; `base`
    is the base's own screened evaluation."""

    def __init__(self, screen: Screen, bits: np.ndarray, place: np.ndarray) -> None:
        self.screen = screen
        bits = np.ascontiguousarray(bits, dtype=np.bool_)
        place = np.ascontiguousarray(place, dtype=np.int64)
        pairs = zip(screen.contexts, screen.groups, strict=True)
        self.bases = [_Base(c, g, bits, place) for c, g in pairs]
        runs = [b.base for b in self.bases]
        self.base = Evaluation(np.stack([r[0] for r in runs]), np.stack([r[1] for r in runs]))

    def __call__(self, bits: np.ndarray, place: np.ndarray) -> Evaluation:
        if len(place) == 0:
            return Evaluation.empty(len(self.bases))
        s = self.screen
        each = zip(self.bases, s.contexts, s.groups, strict=True)
        runs = [base(c, g, bits, place) for base, c, g in each]
        return Evaluation(np.stack([r[0] for r in runs]), np.stack([r[1] for r in runs]))
