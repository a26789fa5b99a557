"""The same schedule as `schedule.evaluate`, compiled with numba: one tight loop per individual.

`schedule.py` is the readable reference (one individual at a time, Python lists for each
resource's bandwidth profile); this is the search's hot path. A link's bookings always take
the whole link, so it keeps exclusive busy intervals `[link, booking]`; a DRAM channel keeps
its bandwidth-share step function `[channel, breakpoint]` (a node books a resource at most
once and adds at most two breakpoints, so N + 1 and 2N + 2 slots suffice). Both are searched
from their latest entries, where most requests land.
The arithmetic is step for step the reference's, so results agree to rounding (tested).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from xcompass.schedule import SHARE_EPS, EvalContext, Result, order_nodes

# --- links: exclusive busy intervals [start, end), sorted ----------------------------------


@njit(cache=True, nogil=True, inline="always")
def _link_earliest(busy, lcnt, last, r, t, duration):  # noqa: ANN001, ANN202
    """First s >= t with link r free during [s, s + duration) (Timeline with share 1).
    `busy[r, :lcnt[r]]` = (start, end) of its bookings, unordered; `last[r]` = latest end.
    Each conflict moves s to the conflicting booking's end, which never passes the answer."""
    if t >= last[r]:
        return t
    n = lcnt[r]
    s = t
    moved = True
    while moved:
        moved = False
        for i in range(n):
            if busy[r, i, 0] < s + duration and busy[r, i, 1] > s:
                s = busy[r, i, 1]
                moved = True
    return s


@njit(cache=True, nogil=True, inline="always")
def _link_book(busy, lcnt, last, r, s, duration):  # noqa: ANN001, ANN202
    """Book [s, s + duration) on link r."""
    if duration <= 0.0:
        return
    n = lcnt[r]
    e = s + duration
    if e > last[r]:
        last[r] = e
    busy[r, n, 0] = s
    busy[r, n, 1] = e
    lcnt[r] = n + 1


# --- DRAM channels: bandwidth share in use, a step function -----------------------------


@njit(cache=True, nogil=True, inline="always")
def _split(times, used, cnt, r, x):  # noqa: ANN001, ANN202
    """Index of a breakpoint at x, inserted (splitting its segment) if missing."""
    n = cnt[r]
    i = n
    while i > 0 and times[r, i - 1] > x:
        times[r, i] = times[r, i - 1]  # shift up while searching from the end
        used[r, i] = used[r, i - 1]
        i -= 1
    if i > 0 and times[r, i - 1] == x:
        for j in range(i, n):  # already there: undo the shift
            times[r, j] = times[r, j + 1]
            used[r, j] = used[r, j + 1]
        return i - 1
    times[r, i] = x
    used[r, i] = used[r, i - 1] if i > 0 else 0.0
    cnt[r] = n + 1
    return i


@njit(cache=True, nogil=True, inline="always")
def _fill(times, used, cnt, r, t, need, cap):  # noqa: ANN001, ANN202
    """Stream `need` channel-seconds from t at up to `cap` of what is free (Timeline.fill)."""
    if need <= 0.0:
        return t
    n = cnt[r]
    if n == 0 or t >= times[r, n - 1]:  # past every booking: the tail is free
        finish = t + need / cap
        if n > 0 and times[r, n - 1] == t:
            used[r, n - 1] = cap
        else:
            times[r, n] = t
            used[r, n] = cap
            n += 1
        times[r, n] = finish
        used[r, n] = 0.0
        cnt[r] = n + 1
        return finish
    j = _split(times, used, cnt, r, t)
    left = need
    while True:
        free = 1.0 - used[r, j]
        if cap < free:
            free = cap
        if j + 1 == cnt[r]:
            finish = times[r, j] + left / free
            _split(times, used, cnt, r, finish)
            used[r, j] += free
            return finish
        if free > SHARE_EPS:
            span = times[r, j + 1] - times[r, j]
            if free * span >= left:
                finish = times[r, j] + left / free
                _split(times, used, cnt, r, finish)
                used[r, j] += free
                return finish
            used[r, j] += free
            left -= free * span
        j += 1


@njit(cache=True, nogil=True)
def _kernel(
    order,
    flat,
    B,
    L,
    members,
    valid,
    g_kind,
    g_tpi,
    g_tp,
    lead,
    routes,
    hops,
    n_links,
    act_bytes,
    link_latency,
    link_bw,
    hop_s,
    pj_hop,
    fits,
    t_res,
    t_str,
    d_res,
    d_str,
    ar_time,
    ar_bits,
    channel,
    n_channels,
    channel_bw,
    dram_pj,
    macs,
    sram,
    pj_mac,
    sram_pj,
    C,
    static_w,
    idle_w,
    out_lat,
    out_e,
    out_parts,
):  # noqa: ANN001
    P = flat.shape[0]
    N = B * L
    max_tp = members.shape[1]
    busy = np.empty((n_links, N + 1, 2))
    lcnt = np.zeros(n_links, dtype=np.int64)
    last = np.zeros(n_links)
    times = np.empty((n_channels, 2 * N + 2))
    used = np.empty((n_channels, 2 * N + 2))
    cnt = np.zeros(n_channels, dtype=np.int64)
    chans = np.empty(max_tp, dtype=np.int64)
    loads = np.empty(max_tp, dtype=np.int64)
    for p in range(P):
        chip_free = np.zeros(C + 1)
        last_layer = np.full(C + 1, -1)
        powered = np.zeros(C + 1, dtype=np.bool_)
        lcnt[:] = 0
        last[:] = 0.0
        cnt[:] = 0
        done = np.zeros(N)
        e_comp = e_sram = e_dram = e_nop = 0.0
        latency = 0.0
        for step in range(N):
            node = order[p, step]
            b = node // L
            lyr = node % L
            grp = flat[p, node]
            pos = 0 if lyr == 0 else (2 if lyr == L - 1 else 1)
            kind = g_kind[grp]
            ti = g_tpi[grp]
            ready = 0.0
            if lyr > 0:
                ready = done[node - 1]
                pg = flat[p, node - 1]
                if pg != grp:
                    src = lead[pg]
                    dst = lead[grp]
                    nh = hops[src, dst]
                    occupy = act_bytes[b] / link_bw
                    setup = ready + link_latency
                    s = setup
                    clear = True  # the route's links are all free from `setup` on
                    for h in range(nh):
                        if last[routes[src, dst, h]] > s:
                            clear = False
                    if clear:
                        e = s + occupy
                        for h in range(nh):  # append to each link's bookings
                            r = routes[src, dst, h]
                            n = lcnt[r]
                            busy[r, n, 0] = s
                            busy[r, n, 1] = e
                            lcnt[r] = n + 1
                            last[r] = e
                    else:
                        moved = True
                        while moved:
                            moved = False
                            for h in range(nh):
                                r = routes[src, dst, h]
                                e = _link_earliest(busy, lcnt, last, r, s, occupy)
                                if e > s:
                                    s = e
                                    moved = True
                        for h in range(nh):
                            _link_book(busy, lcnt, last, routes[src, dst, h], s, occupy)
                    ready = s + occupy + nh * hop_s
                    e_nop += act_bytes[b] * 8.0 * nh * pj_hop * 1e-12
            free = 0.0
            resident = fits[kind, pos, ti]
            for j in range(max_tp):
                if valid[grp, j]:
                    c = members[grp, j]
                    if chip_free[c] > free:
                        free = chip_free[c]
                    if last_layer[c] != lyr:
                        resident = False
            if resident:
                ex = t_res[b, pos, kind, ti]
                db = d_res[b, pos, kind, ti]
            else:
                ex = t_str[b, pos, kind, ti]
                db = d_str[b, pos, kind, ti]
            ex += ar_time[b, ti]
            start = ready if ready >= free else free
            end = start + ex
            edram = 0.0
            if db > 0.0:
                # distinct channels of the members, ascending, with their member counts
                nch = 0
                for j in range(max_tp):
                    if valid[grp, j]:
                        ch = channel[members[grp, j]]
                        edram += db * 8.0 * dram_pj[ch] * 1e-12
                        k = 0
                        while k < nch and chans[k] != ch:
                            k += 1
                        if k == nch:
                            chans[nch] = ch
                            loads[nch] = 1
                            nch += 1
                        else:
                            loads[k] += 1
                for a in range(1, nch):  # insertion sort by channel id (reference order)
                    k = a
                    while k > 0 and chans[k - 1] > chans[k]:
                        chans[k - 1], chans[k] = chans[k], chans[k - 1]
                        loads[k - 1], loads[k] = loads[k], loads[k - 1]
                        k -= 1
                for k in range(nch):
                    need = loads[k] * db / channel_bw[chans[k]]
                    cap = need / ex if ex > 0.0 else 1.0
                    if cap > 1.0:
                        cap = 1.0
                    f = _fill(times, used, cnt, chans[k], start, need, cap)
                    if f > end:
                        end = f
            for j in range(max_tp):
                if valid[grp, j]:
                    c = members[grp, j]
                    chip_free[c] = end
                    last_layer[c] = lyr
                    powered[c] = True
            done[node] = end
            if end > latency:
                latency = end
            tp = g_tp[grp]
            e_comp += tp * macs[b, pos, kind, ti] * pj_mac[grp] * 1e-12
            e_sram += tp * sram[b, pos, kind, ti] * 8.0 * sram_pj[grp] * 1e-12
            e_dram += edram
            e_nop += ar_bits[b, ti] * pj_hop * 1e-12
        static = 0.0
        for c in range(C):
            static += (static_w[c] if powered[c] else idle_w[c]) * latency
        out_lat[p] = latency
        out_e[p] = e_comp + e_sram + e_dram + e_nop + static
        out_parts[p, 0] = e_comp
        out_parts[p, 1] = e_sram
        out_parts[p, 2] = e_dram
        out_parts[p, 3] = e_nop
        out_parts[p, 4] = static


def evaluate_fast(ctx: EvalContext, boundaries: np.ndarray, place: np.ndarray) -> Result:
    """Latency and energy of P mappings (no per-node detail): the search's hot path."""
    place = np.ascontiguousarray(place, dtype=np.int64)
    P, B, L = place.shape
    order = order_nodes(np.asarray(boundaries, dtype=bool), B, L)
    tb, g = ctx.table, ctx.groups
    lat, energy, parts = np.zeros(P), np.zeros(P), np.zeros((P, 5))
    _kernel(
        order,
        place.reshape(P, B * L),
        B,
        L,
        ctx.members,
        ctx.valid,
        g.kind,
        g.tp_index,
        g.tp.astype(np.float64),
        ctx.lead,
        ctx.routes,
        ctx.hops,
        ctx.n_links,
        tb.act_bytes,
        ctx.link_latency,
        ctx.link_bw,
        ctx.hop_s,
        ctx.pj_hop,
        tb.fits_sram,
        tb.time_resident,
        tb.time_stream,
        tb.dram_resident,
        tb.dram_stream,
        ctx.ar_time,
        ctx.ar_bits,
        ctx.channel,
        ctx.n_channels,
        ctx.channel_bw,
        ctx.dram_pj,
        tb.macs,
        tb.sram_bytes,
        ctx.pj_mac,
        ctx.sram_pj,
        ctx.C,
        ctx.static_w,
        ctx.idle_w,
        lat,
        energy,
        parts,
    )
    names = ("compute", "sram", "dram", "nop", "static")
    return Result(lat, energy, parts={n: parts[:, i] for i, n in enumerate(names)})
