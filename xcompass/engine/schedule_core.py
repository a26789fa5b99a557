"""The schedule's physics, written once: what a node costs (its row's time, DRAM streams and
energy), which DRAM channels a group streams from, the weight-residency rule, a DRAM channel's
bandwidth-share profile, and the run's totals. Both compiled schedules (`schedule_jit`'s chain
kernel, `schedule_dag`'s DAG kernel) inline these helpers; the readable reference
(`schedule.py`) runs the same source as plain Python (a helper's `.py_func`), so a formula
edited here changes all three.

`EngineArrays` is everything the kernels read, built in one place (`engine_arrays`) from an
`EvalContext`: a named tuple of arrays, which numba passes as one argument. This module uses
numba, so `xcompass._cache` keys the compiled kernels' cache on its source: editing a helper
recompiles every kernel that inlines it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit

if TYPE_CHECKING:
    from xcompass.engine.context import EvalContext

SHARE_EPS = 1e-9  # rounding slack when shares of a resource add up to exactly 1


class EngineArrays(NamedTuple):
    """What a schedule reads about the chiplets, the NoP and the units' cost rows. Chiplet id
    C is the padding chiplet (no channel, no power); rows are [micro-batch, unit row, chiplet
    kind, TP option] as in `xcompass.engine.units.UnitTable`."""

    # chiplets and groups
    C: int
    members: np.ndarray  # [G, max_tp] chiplet ids (padding -> C)
    valid: np.ndarray  # [G, max_tp]
    lead: np.ndarray  # [G] the chiplet a group's messages leave from
    g_kind: np.ndarray  # [G]
    g_tpi: np.ndarray  # [G] TP option index
    g_tp: np.ndarray  # [G] TP degree (float)
    pj_mac: np.ndarray  # [G]
    sram_pj: np.ndarray  # [G]
    channel: np.ndarray  # [C + 1] DRAM channel of each chiplet (C -> the padding channel)
    n_channels: int
    inv_bw: np.ndarray  # [channels + 1] 1 / bandwidth
    dram_pj: np.ndarray  # [channels + 1]
    static_w: np.ndarray  # [C + 1]
    idle_w: np.ndarray  # [C + 1]
    # NoP
    routes: np.ndarray  # [C, C, max_hops] link ids
    hops: np.ndarray  # [C, C]
    n_links: int
    link_latency: float
    hop_s: float
    pj_hop: float
    # unit rows
    fits: np.ndarray  # [kind, R, TP] weights fit the SRAM
    t_res: np.ndarray
    t_str: np.ndarray
    d_res: np.ndarray  # DRAM bytes per member
    d_str: np.ndarray
    rate_res: np.ndarray  # DRAM bytes/s at the node's own pace
    rate_str: np.ndarray
    ar_time: np.ndarray  # [B, R, TP] TP all-reduces
    ar_bits: np.ndarray  # [B, R, TP]
    macs: np.ndarray
    sram: np.ndarray
    # the units of a micro-batch
    row: np.ndarray  # [U]
    pred_start: np.ndarray  # [U + 1]
    pred: np.ndarray  # [E]
    edge_dst: np.ndarray  # [E]
    succ_start: np.ndarray  # [U + 1]
    succ_edge: np.ndarray  # [E]
    edge_occupy: np.ndarray  # [B, E] seconds an edge's message holds a link
    edge_hop_j: np.ndarray  # [B, E] its energy per hop
    # eager mode's host queue (`xcompass.engine.hostqueue`)
    eager: bool
    q_res: np.ndarray  # [B, R, kind, TP] a node runs as in graph mode from host clock + Q
    q_str: np.ndarray
    issue: np.ndarray  # [R, kind, TP] host seconds to issue a unit of the row
    p2p: np.ndarray  # [kind] host seconds to issue a NoP send or receive


def engine_arrays(ctx: EvalContext) -> EngineArrays:
    """The context's arrays as the schedules read them (contiguous, fixed dtypes)."""
    g, ut, u = ctx.groups, ctx.ut, ctx.units

    def f(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.float64)

    def i(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.int64)

    return EngineArrays(
        int(ctx.C), i(ctx.members), np.ascontiguousarray(ctx.valid, dtype=np.bool_),
        i(ctx.lead), i(g.kind), i(g.tp_index), f(g.tp), f(ctx.pj_mac), f(ctx.sram_pj),
        i(ctx.channel), int(ctx.n_channels), f(ctx.inv_channel_bw), f(ctx.dram_pj),
        f(ctx.static_w), f(ctx.idle_w),
        i(ctx.routes), i(ctx.hops), int(ctx.n_links), float(ctx.link_latency),
        float(ctx.hop_s), float(ctx.pj_hop),
        np.ascontiguousarray(ut.fits_sram, dtype=np.bool_), f(ut.time_resident),
        f(ut.time_stream), f(ut.dram_resident), f(ut.dram_stream), f(ctx.unit_rate_resident),
        f(ctx.unit_rate_stream), f(ctx.unit_ar_time), f(ctx.unit_ar_bits), f(ut.macs),
        f(ut.sram_bytes),
        i(u.row), i(u.pred_start), i(u.pred), i(ctx.edge_dst), i(ctx.succ_start),
        i(ctx.succ_edge), f(ctx.edge_occupy), f(ctx.edge_hop_j),
        bool(ctx.eager), f(ctx.host_q_resident), f(ctx.host_q_stream), f(ctx.host_issue),
        f(ctx.host_p2p),
    )  # fmt: skip


# --- a node: its row, residency, DRAM channels, energy --------------------------------------


@njit(cache=True, nogil=True, inline="always")
def fits_sram(a, grp, r):  # noqa: ANN001, ANN201
    """A row's weights fit its group's SRAM (the shard, in half of it)."""
    return a.fits[a.g_kind[grp], r, a.g_tpi[grp]]


@njit(cache=True, nogil=True, inline="always")
def is_resident(a, fits, grp, u, last_unit, max_tp):  # noqa: ANN001, ANN201
    """A node finds its weights in SRAM iff they fit there (`fits`: `fits_sram` of its row)
    and every member chiplet ran this unit last (nothing evicted them)."""
    resident = fits
    if resident:  # the member loop only for rows that fit
        for j in range(max_tp):
            if a.valid[grp, j] and last_unit[a.members[grp, j]] != u:
                resident = False
    return resident


@njit(cache=True, nogil=True, inline="always")
def row_cost(a, b, r, grp, resident):  # noqa: ANN001, ANN201
    """(execution time incl. the TP all-reduce, DRAM bytes per member, DRAM rate) of a node."""
    kind, ti = a.g_kind[grp], a.g_tpi[grp]
    if resident:
        ex, db, rate = a.t_res[b, r, kind, ti], a.d_res[b, r, kind, ti], a.rate_res[b, r, kind, ti]
    else:
        ex, db, rate = a.t_str[b, r, kind, ti], a.d_str[b, r, kind, ti], a.rate_str[b, r, kind, ti]
    return ex + a.ar_time[b, r, ti], db, rate


@njit(cache=True, nogil=True, inline="always")
def group_channels(a, grp, chans, loads, max_tp):  # noqa: ANN001, ANN201
    """The distinct DRAM channels of group grp's members in ascending order (`chans[:n]`) and
    how many members stream from each (`loads[:n]`); returns n."""
    n = 0
    for j in range(max_tp):
        if a.valid[grp, j]:
            ch = a.channel[a.members[grp, j]]
            k = 0
            while k < n and chans[k] != ch:
                k += 1
            if k == n:
                chans[n] = ch
                loads[n] = 1
                n += 1
            else:
                loads[k] += 1
    for s in range(1, n):  # insertion sort by channel id
        k = s
        while k > 0 and chans[k - 1] > chans[k]:
            chans[k - 1], chans[k] = chans[k], chans[k - 1]
            loads[k - 1], loads[k] = loads[k], loads[k - 1]
            k -= 1
    return n


@njit(cache=True, nogil=True, inline="always")
def stream(a, ch, load, db, rate, ex):  # noqa: ANN001, ANN201
    """A node's DRAM stream on channel ch, which `load` members read `db` bytes each from at
    up to `rate` per member: (channel-seconds needed, share cap, run time on a free channel).
    The node's bytes spread evenly over its run, so a channel serves them at up to that rate."""
    need = load * db * a.inv_bw[ch]
    cap = load * rate * a.inv_bw[ch]
    if cap > 1.0:
        cap = 1.0
    run = ex if ex > need else need
    return need, cap, run


@njit(cache=True, nogil=True, inline="always")
def dram_energy(a, grp, db, max_tp):  # noqa: ANN001, ANN201
    """Every member reads `db` bytes from its own channel."""
    e = 0.0
    for j in range(max_tp):
        if a.valid[grp, j]:
            e += db * 8.0 * a.dram_pj[a.channel[a.members[grp, j]]] * 1e-12
    return e


@njit(cache=True, nogil=True, inline="always")
def node_energy(a, b, r, grp):  # noqa: ANN001, ANN201
    """(compute, SRAM, all-reduce NoP) joules of a node: its MACs and on-chip bytes on every
    member, its all-reduces' bits over the NoP."""
    kind, ti, tp = a.g_kind[grp], a.g_tpi[grp], a.g_tp[grp]
    e_comp = tp * a.macs[b, r, kind, ti] * a.pj_mac[grp] * 1e-12
    e_sram = tp * a.sram[b, r, kind, ti] * 8.0 * a.sram_pj[grp] * 1e-12
    e_ar = a.ar_bits[b, r, ti] * a.pj_hop * 1e-12
    return e_comp, e_sram, e_ar


@njit(cache=True, nogil=True, inline="always")
def static_energy(a, powered, latency):  # noqa: ANN001, ANN201
    """Static power over the run; a chiplet that ran nothing draws its idle power."""
    static = 0.0
    for c in range(a.C):
        static += (a.static_w[c] if powered[c] else a.idle_w[c]) * latency
    return static


@njit(cache=True, nogil=True, inline="always")
def record(a, p, latency, powered, e_comp, e_sram, e_dram, e_nop, out_lat, out_e, out_parts):  # noqa: ANN001, ANN201, E501
    """Individual p's latency and energy: the parts plus static power (`static_energy`)."""
    static = static_energy(a, powered, latency)
    out_lat[p] = latency
    out_e[p] = e_comp + e_sram + e_dram + e_nop + static
    out_parts[p, 0] = e_comp
    out_parts[p, 1] = e_sram
    out_parts[p, 2] = e_dram
    out_parts[p, 3] = e_nop
    out_parts[p, 4] = static


# --- eager mode's host queue: one host clock per chiplet (`xcompass.engine.hostqueue`) ------------


@njit(cache=True, nogil=True, inline="always")
def crossings(a, fp, b, U, u, grp):  # noqa: ANN001, ANN201
    """(inputs received, outputs sent) over the NoP by node (b, u) on group grp: each is an
    NCCL receive or send its hosts issue in eager mode."""
    recvs = 0
    for e in range(a.pred_start[u], a.pred_start[u + 1]):
        if fp[b * U + a.pred[e]] != grp:
            recvs += 1
    sends = 0
    for k in range(a.succ_start[u], a.succ_start[u + 1]):
        if fp[b * U + a.edge_dst[a.succ_edge[k]]] != grp:
            sends += 1
    return recvs, sends


@njit(cache=True, nogil=True, inline="always")
def host_ready(a, host, grp, b, r, resident, recvs, max_tp):  # noqa: ANN001, ANN201
    """When a node's kernels are issued far enough ahead to run as in graph mode: the
    latest member's host clock, its receives issued, + Q. A node ready earlier waits until
    then (an event at that time, so every resource is still taken in time order)."""
    hg = 0.0
    for j in range(max_tp):
        if a.valid[grp, j] and host[a.members[grp, j]] > hg:
            hg = host[a.members[grp, j]]
    kind, ti = a.g_kind[grp], a.g_tpi[grp]
    q = a.q_res[b, r, kind, ti] if resident else a.q_str[b, r, kind, ti]
    return hg + recvs * a.p2p[kind] + q


@njit(cache=True, nogil=True, inline="always")
def host_issue(a, host, grp, r, messages, max_tp):  # noqa: ANN001, ANN201
    """Each member's host issues the node's launches and its sends and receives (it never
    waits for the device)."""
    kind = a.g_kind[grp]
    dt = a.issue[r, kind, a.g_tpi[grp]] + messages * a.p2p[kind]
    for j in range(max_tp):
        if a.valid[grp, j]:
            host[a.members[grp, j]] += dt


# --- DRAM channels: bandwidth share in use, a step function -----------------------------
# times[r, :cnt[r]], used[r, :cnt[r]]: channel r's share `used[i]` on [times[i], times[i+1]),
# free after the last breakpoint (`schedule.Timeline`, in fixed arrays).


@njit(cache=True, nogil=True, inline="always")
def _split(times, used, cnt, r, x):  # noqa: ANN001, ANN202
    """Index of a breakpoint at x, inserted (splitting its segment) if missing."""
    n = cnt[r]
    i = n
    while i > 0 and times[r, i - 1] > x:  # from the end, where most requests land
        i -= 1
    if i > 0 and times[r, i - 1] == x:
        return i - 1
    return _insert(times, used, cnt, r, i, x)


@njit(cache=True, nogil=True, inline="always")
def _insert(times, used, cnt, r, i, x):  # noqa: ANN001, ANN202
    """Insert a breakpoint at x as index i (times[r, i - 1] < x < times[r, i]): the segment
    it splits keeps its share on both sides."""
    n = cnt[r]
    for k in range(n, i, -1):
        times[r, k] = times[r, k - 1]
        used[r, k] = used[r, k - 1]
    times[r, i] = x
    used[r, i] = used[r, i - 1] if i > 0 else 0.0
    cnt[r] = n + 1
    return i


@njit(cache=True, nogil=True, inline="always")
def fill(times, used, cnt, r, t, need, cap, run):  # noqa: ANN001, ANN201
    """Stream `need` channel-seconds from t at up to `cap` of what is free (Timeline.fill)."""
    if need <= 0.0:
        return t
    n = cnt[r]
    if n == 0 or t >= times[r, n - 1]:  # past every booking: the tail is free
        # and no later stream starts before t (streams start as events, in time order): the
        # profile before t is forgotten, which keeps it a few breakpoints long
        finish = t + run
        times[r, 0] = t
        used[r, 0] = cap
        times[r, 1] = finish
        used[r, 1] = 0.0
        cnt[r] = 2
        return finish
    j = _split(times, used, cnt, r, t)
    left = need
    while True:
        free = 1.0 - used[r, j]
        if cap < free:
            free = cap
        if j + 1 == cnt[r]:
            finish = times[r, j] + left / free
            if finish == times[r, j]:  # too little to book at the clock's resolution
                return finish
            _insert(times, used, cnt, r, j + 1, finish)
            used[r, j] += free
            return finish
        if free > SHARE_EPS:
            span = times[r, j + 1] - times[r, j]
            if free * span >= left:
                finish = times[r, j] + left / free
                if finish > times[r, j]:
                    if finish < times[r, j + 1]:
                        _insert(times, used, cnt, r, j + 1, finish)
                    elif finish > times[r, j + 1]:  # rounding: where the reference puts it
                        _split(times, used, cnt, r, finish)
                    used[r, j] += free
                return finish
            used[r, j] += free
            left -= free * span
        j += 1
