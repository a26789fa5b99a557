"""The schedule of `schedule.evaluate` for units that form a DAG (granularity group or tile),
compiled with numba: one discrete-event simulation per individual, events in a binary heap
keyed (time, Compass rank of the node served, edge), exactly as the reference takes them.

`schedule_jit` keeps a faster kernel for whole layers (a chain: one frontier per micro-batch);
this one handles any unit DAG. Both are tested against the reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from xcompass.engine.context import EvalContext
from xcompass.engine.schedule import Result, order_nodes
from xcompass.engine.schedule_core import (
    crossings,
    dram_energy,
    engine_arrays,
    fill,
    fits_sram,
    group_channels,
    host_issue,
    host_ready,
    is_resident,
    node_energy,
    record,
    row_cost,
    stream,
)
from xcompass.engine.schedule_jit import member_slots

DROP_AT = 8  # a link's ended bookings are moved out once this many lie before its live ones


# --- links: each link's bookings, disjoint [start, end) intervals in time order -----------
# busy[r, lo[r]:hi[r]] = (start, end) of link r's live bookings. Bookings never overlap, so
# sorted by start they are sorted by end too: those that ended form a prefix (dropped by
# moving lo), and a request finds its first possible conflict by bisection.


@njit(cache=True, nogil=True, inline="always")
def _link_earliest(busy, lo, hi, r, now, t, duration):  # noqa: ANN001, ANN202
    """First s >= t with link r free during [s, s + duration) (Timeline with share 1), after
    dropping the bookings that ended by `now` (events come in time order: no later request
    can reach them). Each conflict moves s to that booking's end; the next booking ends later
    still, so one forward walk from the first booking ending after t finds the answer."""
    i, n = lo[r], hi[r]
    while i < n and busy[r, i, 1] <= now:
        i += 1
    lo[r] = i
    if i == n or t >= busy[r, n - 1, 1]:
        return t
    k = n - 1  # bisect: the first booking ending after t
    while i < k:
        mid = (i + k) >> 1
        if busy[r, mid, 1] > t:
            k = mid
        else:
            i = mid + 1
    s = t
    while i < n and busy[r, i, 0] < s + duration:
        s = busy[r, i, 1]
        i += 1
    return s


@njit(cache=True, nogil=True, inline="always")
def _link_book(busy, lo, hi, r, s, duration, cap):  # noqa: ANN001, ANN202
    """Book [s, s + duration) on link r in time order; False if the link has no room left
    (live bookings are first moved down when enough dead ones lie before them)."""
    if duration <= 0.0:
        return True
    if hi[r] + 1 >= cap:
        if lo[r] <= DROP_AT:
            return False
        n = hi[r] - lo[r]
        for i in range(n):
            busy[r, i, 0] = busy[r, lo[r] + i, 0]
            busy[r, i, 1] = busy[r, lo[r] + i, 1]
        lo[r], hi[r] = 0, n
    k = hi[r]
    while k > lo[r] and busy[r, k - 1, 0] > s:  # from the end, where most requests land
        busy[r, k, 0] = busy[r, k - 1, 0]
        busy[r, k, 1] = busy[r, k - 1, 1]
        k -= 1
    busy[r, k, 0] = s
    busy[r, k, 1] = s + duration
    hi[r] += 1
    return True


# --- the event queue: a binary heap of (time, key), key = Compass rank << edge_bits | edge + 1
# (edge + 1 = 0: the node's start; edge_bits holds any edge index + 1), so one integer compare
# breaks a tie in time as (rank, edge) would. The event's node is the rank's; a message's
# micro-batch is its destination node's.


@njit(cache=True, nogil=True, inline="always")
def _before(ta, ka, tb, kb):  # noqa: ANN001, ANN202
    return ta < tb or (ta == tb and ka < kb)


@njit(cache=True, nogil=True, inline="always")
def _push(ht, hk, n, t, k):  # noqa: ANN001, ANN202
    i = n
    while i > 0:  # move the hole up past every later parent
        parent = (i - 1) >> 1
        if not _before(t, k, ht[parent], hk[parent]):
            break
        ht[i] = ht[parent]
        hk[i] = hk[parent]
        i = parent
    ht[i] = t
    hk[i] = k
    return n + 1


@njit(cache=True, nogil=True, inline="always")
def _pop(ht, hk, n):  # noqa: ANN001, ANN202
    """Remove the first entry (moved to slot n - 1); return the new size."""
    n -= 1
    t0, k0 = ht[0], hk[0]
    t, k = ht[n], hk[n]
    i = 0
    while True:  # move the hole down past every earlier child
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and _before(ht[c + 1], hk[c + 1], ht[c], hk[c]):
            c += 1
        if not _before(ht[c], hk[c], t, k):
            break
        ht[i] = ht[c]
        hk[i] = hk[c]
        i = c
    ht[i] = t
    hk[i] = k
    ht[n] = t0
    hk[n] = k0
    return n


@njit(cache=True, nogil=True)
def _kernel(a, order, flat, B, U, link_cap, out_lat, out_e, out_parts, out_overflow, slots):  # noqa: ANN001, C901, E501
    """The DAG's simulation for each individual p (Compass order `order[p]`, placement
    `flat[p]`); an individual whose links run out of booking room is flagged in
    `out_overflow` and left for a rerun with more."""
    members, valid, lead, routes, hops, C = a.members, a.valid, a.lead, a.routes, a.hops, a.C
    n_links, n_channels, link_latency, hop_s = a.n_links, a.n_channels, a.link_latency, a.hop_s
    row, pred_start, pred, edge_dst = a.row, a.pred_start, a.pred, a.edge_dst
    succ_start, succ_edge, edge_occupy, edge_hop_j = (
        a.succ_start,
        a.succ_edge,
        a.edge_occupy,
        a.edge_hop_j,
    )
    P = flat.shape[0]
    N = B * U
    E = pred.shape[0]
    max_tp = len(slots)  # a compile-time constant (`member_slots`): the member loops unroll
    busy = np.empty((n_links, link_cap, 2))  # a link's bookings side by side
    blo = np.zeros(n_links, dtype=np.int64)
    bhi = np.zeros(n_links, dtype=np.int64)
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
    host = np.zeros(C + 1)  # eager: each chiplet's host clock
    eager = a.eager
    last_unit = np.zeros(C + 1, dtype=np.int64)
    powered = np.zeros(C + 1, dtype=np.bool_)
    in_left = np.zeros(N, dtype=np.int64)
    arrival = np.zeros(N)
    queued = np.zeros(N, dtype=np.bool_)
    done = np.zeros(N)
    H = 2 * N + B * E + 1  # a start, a start held back by the host, a message per edge
    ht = np.empty(H)
    hk = np.empty(H, dtype=np.int64)
    edge_bits = 1
    while (1 << edge_bits) <= E:
        edge_bits += 1
    edge_mask = (1 << edge_bits) - 1
    todo = np.empty(N + E + max_tp, dtype=np.int64)  # nodes that may have become ready
    for p in range(P):
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
        host[:] = 0.0
        last_unit[:] = -1
        powered[:] = False
        blo[:] = 0
        bhi[:] = 0
        cnt[:] = 0
        arrival[:] = 0.0
        queued[:] = False
        for b in range(B):
            for u in range(U):
                in_left[b * U + u] = pred_start[u + 1] - pred_start[u]
        e_comp = e_sram = e_dram = e_nop = 0.0
        latency = 0.0
        fp = flat[p]
        n = 0
        nt = 0
        for step in range(N):
            todo[nt] = order[p, step]
            nt += 1
        while True:
            # queue the start of each node noted since the last event that is now ready: every
            # input in, every chiplet of its group at it. Checking once the event is done
            # changes nothing: both conditions, and the start time, hold for good once met
            for q in range(nt):
                node = todo[q]
                if queued[node] or in_left[node] > 0:
                    continue
                grp = fp[node]
                free = 0.0
                ready = True
                for j in range(max_tp):
                    if valid[grp, j]:
                        c = members[grp, j]
                        if head[c] >= qoff[c + 1] - qoff[c] or qnodes[qoff[c] + head[c]] != node:
                            ready = False
                            break
                        if chip_free[c] > free:
                            free = chip_free[c]
                if ready:
                    queued[node] = True
                    when = arrival[node] if arrival[node] >= free else free
                    n = _push(ht, hk, n, when, rank[node] << edge_bits)
            nt = 0
            if n == 0:
                break
            n = _pop(ht, hk, n)
            time, key = ht[n], hk[n]
            item = order[p, key >> edge_bits]
            edge = (key & edge_mask) - 1
            if edge >= 0:
                dst = item
                b = dst // U
                src = b * U + pred[edge]
                ca = lead[fp[src]]
                cz = lead[fp[dst]]
                nh = hops[ca, cz]
                occupy = edge_occupy[b, edge]
                s = time
                h = 0
                clear = 0  # links in a row found free from s on: all of them ends the search
                while clear < nh:
                    e = _link_earliest(busy, blo, bhi, routes[ca, cz, h], time, s, occupy)
                    if e > s:
                        s = e
                        clear = 1
                    else:
                        clear += 1
                    h = h + 1 if h + 1 < nh else 0
                for h in range(nh):
                    if not _link_book(busy, blo, bhi, routes[ca, cz, h], s, occupy, link_cap):
                        out_overflow[p] = True
                if out_overflow[p]:
                    break  # this individual is re-run with more room
                e_nop += edge_hop_j[b, edge] * nh
                at = s + occupy + nh * hop_s
                if at > arrival[dst]:
                    arrival[dst] = at
                in_left[dst] -= 1
                todo[nt] = dst
                nt += 1
                continue
            node = item
            b = node // U
            u = node - b * U
            grp = fp[node]
            r = row[u]
            start = time
            resident = is_resident(a, fits_sram(a, grp, r), grp, u, last_unit, max_tp)
            if eager:  # the host has not issued it far enough ahead yet: start it then
                recvs, sends = crossings(a, fp, b, U, u, grp)
                ready = host_ready(a, host, grp, b, r, resident, recvs, max_tp)
                if ready > time:
                    n = _push(ht, hk, n, ready, key)
                    continue
                host_issue(a, host, grp, r, recvs + sends, max_tp)
            ex, db, rate = row_cost(a, b, r, grp, resident)
            end = start + ex
            edram = 0.0
            if db > 0.0:
                edram = dram_energy(a, grp, db, max_tp)
                nch = group_channels(a, grp, chans, loads, max_tp)
                for k in range(nch):
                    need, cap, run = stream(a, chans[k], loads[k], db, rate, ex)
                    f = fill(times, used, cnt, chans[k], start, need, cap, run)
                    if f > end:
                        end = f
            for j in range(max_tp):
                if valid[grp, j]:
                    c = members[grp, j]
                    chip_free[c] = end
                    last_unit[c] = u
                    powered[c] = True
            done[node] = end
            if end > latency:
                latency = end
            n_comp, n_sram, n_ar = node_energy(a, b, r, grp)
            e_comp += n_comp
            e_sram += n_sram
            e_dram += edram
            e_nop += n_ar
            for k in range(succ_start[u], succ_start[u + 1]):
                edge = succ_edge[k]
                dst = b * U + edge_dst[edge]
                if fp[dst] == grp:
                    if end > arrival[dst]:
                        arrival[dst] = end
                    in_left[dst] -= 1
                    todo[nt] = dst
                    nt += 1
                else:
                    n = _push(ht, hk, n, end + link_latency, rank[dst] << edge_bits | edge + 1)
            for j in range(max_tp):
                if valid[grp, j]:
                    c = members[grp, j]
                    head[c] += 1
                    if head[c] < qoff[c + 1] - qoff[c]:
                        todo[nt] = qnodes[qoff[c] + head[c]]
                        nt += 1
        record(a, p, latency, powered, e_comp, e_sram, e_dram, e_nop, out_lat, out_e, out_parts)


def evaluate_dag(ctx: EvalContext, boundaries: np.ndarray, place: np.ndarray) -> Result:
    """Latency and energy of P mappings over the context's units (any DAG)."""
    place = np.ascontiguousarray(place, dtype=np.int64)
    P, B, U = place.shape
    order = order_nodes(np.asarray(boundaries, dtype=bool), B, U)
    lat, energy, parts = np.zeros(P), np.zeros(P), np.zeros((P, 5))
    transfers = B * len(ctx.units.pred)  # at most one message per edge and micro-batch
    cap = min(transfers + 1, 4 * transfers // max(ctx.n_links, 1) + 256)
    a, slots = engine_arrays(ctx), member_slots(ctx)
    todo = np.arange(P)
    for _ in range(64):  # room doubles each round: a link gets one booking per message at most
        if not todo.size:
            break
        overflow = np.zeros(todo.size, dtype=np.bool_)
        out = np.zeros(todo.size), np.zeros(todo.size), np.zeros((todo.size, 5))
        _kernel(a, order[todo], place[todo].reshape(todo.size, B * U), B, U, cap, *out, overflow,
                slots)  # fmt: skip
        ok = ~overflow
        lat[todo[ok]], energy[todo[ok]], parts[todo[ok]] = out[0][ok], out[1][ok], out[2][ok]
        todo, cap = todo[overflow], min(2 * cap, transfers + 1)
    else:
        raise RuntimeError("schedule_dag: link bookings exceed the messages sent")
    names = ("compute", "sram", "dram", "nop", "static")
    return Result(lat, energy, parts={n: parts[:, i] for i, n in enumerate(names)})
