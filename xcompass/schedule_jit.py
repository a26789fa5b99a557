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
def _fill(times, used, cnt, r, t, need, cap, run):  # noqa: ANN001, ANN202
    """Stream `need` channel-seconds from t at up to `cap` of what is free (Timeline.fill)."""
    if need <= 0.0:
        return t
    n = cnt[r]
    if n == 0 or t >= times[r, n - 1]:  # past every booking: the tail is free
        finish = t + run
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


@njit(cache=True, nogil=True, inline="always")
def _candidate(node, b, L, grp, members, valid, max_tp, qnodes, qoff, head, chip_free, arrival):  # noqa: ANN001, ANN202, E501
    """Start time of micro-batch b's next node if every member chiplet is at it, else inf."""
    free = 0.0
    for j in range(max_tp):
        if valid[grp, j]:
            c = members[grp, j]
            if qnodes[qoff[c] + head[c]] != node:
                return np.inf
            if chip_free[c] > free:
                free = chip_free[c]
    return arrival[b] if arrival[b] >= free else free


@njit(cache=True, nogil=True, inline="always")
def _settle(win, cand, crank, Bp, b):  # noqa: ANN001, ANN202
    """Replay the tournament (earliest event time, then Compass rank) from leaf b to the root."""
    i = (Bp + b) >> 1
    while i >= 1:
        x = win[2 * i]
        y = win[2 * i + 1]
        if cand[y] < cand[x] or (cand[y] == cand[x] and crank[y] < crank[x]):
            win[i] = y
        else:
            win[i] = x
        i >>= 1


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
    occupy_b,
    hop_j,
    link_latency,
    hop_s,
    pj_hop,
    fits,
    t_res,
    t_str,
    d_res,
    d_str,
    rate_res,
    rate_str,
    ar_time,
    ar_bits,
    channel,
    n_channels,
    inv_bw,
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
    rank = np.empty(N, dtype=np.int64)
    qcount = np.zeros(C + 1, dtype=np.int64)
    qoff = np.zeros(C + 2, dtype=np.int64)
    qnodes = np.empty(N * max_tp + 1, dtype=np.int64)
    head = np.zeros(C + 1, dtype=np.int64)
    chip_free = np.zeros(C + 1)
    last_layer = np.zeros(C + 1, dtype=np.int64)
    powered = np.zeros(C + 1, dtype=np.bool_)
    nxt = np.zeros(B, dtype=np.int64)
    arrival = np.zeros(B)
    pending = np.zeros(B, dtype=np.bool_)
    # event time of each micro-batch's next step (inf: waits for chiplets, or finished), the
    # Compass rank of its next node, and a tournament tree over them (leaf B: a dummy)
    cand = np.full(B + 1, np.inf)
    crank = np.full(B + 1, N, dtype=np.int64)
    Bp = 1
    while Bp < B:
        Bp *= 2
    win = np.full(2 * Bp, B, dtype=np.int64)
    done = np.zeros(N)
    mb_of = np.arange(N) // L
    for p in range(P):
        # each chiplet's queue of nodes in Compass order (CSR)
        qcount[:] = 0
        for step in range(N):
            node = order[p, step]
            rank[node] = step
            grp = flat[p, node]
            for j in range(max_tp):
                if valid[grp, j]:
                    qcount[members[grp, j]] += 1
        qoff[0] = 0
        for c in range(C + 1):
            qoff[c + 1] = qoff[c] + qcount[c]
            qcount[c] = 0
        for step in range(N):
            node = order[p, step]
            grp = flat[p, node]
            for j in range(max_tp):
                if valid[grp, j]:
                    c = members[grp, j]
                    qnodes[qoff[c] + qcount[c]] = node
                    qcount[c] += 1
        head[:] = 0
        chip_free[:] = 0.0
        last_layer[:] = -1
        powered[:] = False
        lcnt[:] = 0
        last[:] = 0.0
        cnt[:] = 0
        nxt[:] = 0
        arrival[:] = 0.0
        pending[:] = False
        for b in range(B):
            cand[b] = _candidate(
                b * L,
                b,
                L,
                flat[p, b * L],
                members,
                valid,
                max_tp,
                qnodes,
                qoff,
                head,
                chip_free,
                arrival,
            )
        for b in range(B):
            crank[b] = rank[b * L]
            win[Bp + b] = b
        for i in range(Bp - 1, 0, -1):
            x = win[2 * i]
            y = win[2 * i + 1]
            if cand[y] < cand[x] or (cand[y] == cand[x] and crank[y] < crank[x]):
                win[i] = y
            else:
                win[i] = x
        e_comp = e_sram = e_dram = e_nop = 0.0
        latency = 0.0
        while True:
            b = win[1]
            best = cand[b]
            if best == np.inf:
                break
            lyr = nxt[b]
            node = b * L + lyr
            grp = flat[p, node]
            if pending[b]:
                src = lead[flat[p, node - 1]]
                dst = lead[grp]
                nh = hops[src, dst]
                occupy = occupy_b[b]
                s = best
                clear = True  # the route's links are all free from the request on
                for h in range(nh):
                    if last[routes[src, dst, h]] > s:
                        clear = False
                if clear:
                    e = s + occupy
                    for h in range(nh):
                        r = routes[src, dst, h]
                        n = lcnt[r]
                        if n > 0 and busy[r, n - 1, 1] == s:
                            busy[r, n - 1, 1] = e
                        else:
                            busy[r, n, 0] = s
                            busy[r, n, 1] = e
                            lcnt[r] = n + 1
                        last[r] = e
                else:
                    moved = True
                    while moved:
                        moved = False
                        for h in range(nh):
                            e = _link_earliest(busy, lcnt, last, routes[src, dst, h], s, occupy)
                            if e > s:
                                s = e
                                moved = True
                    for h in range(nh):
                        _link_book(busy, lcnt, last, routes[src, dst, h], s, occupy)
                arrival[b] = s + occupy + nh * hop_s
                e_nop += hop_j[b] * nh
                pending[b] = False
                cand[b] = _candidate(
                    node,
                    b,
                    L,
                    grp,
                    members,
                    valid,
                    max_tp,
                    qnodes,
                    qoff,
                    head,
                    chip_free,
                    arrival,
                )
                _settle(win, cand, crank, Bp, b)
                continue
            start = best
            pos = 0 if lyr == 0 else (2 if lyr == L - 1 else 1)
            kind = g_kind[grp]
            ti = g_tpi[grp]
            resident = fits[kind, pos, ti]
            for j in range(max_tp):
                if valid[grp, j] and last_layer[members[grp, j]] != lyr:
                    resident = False
            if resident:
                ex = t_res[b, pos, kind, ti]
                db = d_res[b, pos, kind, ti]
                rate = rate_res[b, pos, kind, ti]
            else:
                ex = t_str[b, pos, kind, ti]
                db = d_str[b, pos, kind, ti]
                rate = rate_str[b, pos, kind, ti]
            ex += ar_time[b, ti]
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
                    need = loads[k] * db * inv_bw[chans[k]]
                    cap = loads[k] * rate * inv_bw[chans[k]]
                    if cap > 1.0:
                        cap = 1.0
                    run = ex if ex > need else need
                    f = _fill(times, used, cnt, chans[k], start, need, cap, run)
                    if f > end:
                        end = f
            for j in range(max_tp):
                if valid[grp, j]:
                    c = members[grp, j]
                    chip_free[c] = end
                    last_layer[c] = lyr
                    powered[c] = True
                    head[c] += 1
            done[node] = end
            if end > latency:
                latency = end
            tp = g_tp[grp]
            e_comp += tp * macs[b, pos, kind, ti] * pj_mac[grp] * 1e-12
            e_sram += tp * sram[b, pos, kind, ti] * 8.0 * sram_pj[grp] * 1e-12
            e_dram += edram
            e_nop += ar_bits[b, ti] * pj_hop * 1e-12
            # this micro-batch's next step, and nodes now at the head of the freed chiplets
            nxt[b] = lyr + 1
            if lyr + 1 < L:
                crank[b] = rank[node + 1]
                if flat[p, node + 1] != grp:
                    pending[b] = True
                    cand[b] = end + link_latency
                else:
                    arrival[b] = end
                    cand[b] = _candidate(
                        node + 1,
                        b,
                        L,
                        grp,
                        members,
                        valid,
                        max_tp,
                        qnodes,
                        qoff,
                        head,
                        chip_free,
                        arrival,
                    )
            else:
                cand[b] = np.inf
            _settle(win, cand, crank, Bp, b)
            for j in range(max_tp):
                if valid[grp, j]:
                    c = members[grp, j]
                    if head[c] < qoff[c + 1] - qoff[c]:
                        h = qnodes[qoff[c] + head[c]]
                        hb = mb_of[h]
                        if hb != b and h == hb * L + nxt[hb] and not pending[hb]:
                            cand[hb] = _candidate(
                                h,
                                hb,
                                L,
                                flat[p, h],
                                members,
                                valid,
                                max_tp,
                                qnodes,
                                qoff,
                                head,
                                chip_free,
                                arrival,
                            )
                            _settle(win, cand, crank, Bp, hb)
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
        ctx.occupy,
        ctx.hop_j,
        ctx.link_latency,
        ctx.hop_s,
        ctx.pj_hop,
        tb.fits_sram,
        tb.time_resident,
        tb.time_stream,
        tb.dram_resident,
        tb.dram_stream,
        ctx.rate_resident,
        ctx.rate_stream,
        ctx.ar_time,
        ctx.ar_bits,
        ctx.channel,
        ctx.n_channels,
        ctx.inv_channel_bw,
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
