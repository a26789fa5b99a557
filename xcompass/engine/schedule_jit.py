"""The same schedule as `schedule.evaluate` for whole layers (a chain of units per micro-batch),
compiled with numba: one discrete-event simulation per individual; the search's hot path.

`schedule.py` is the readable reference (one individual at a time, Python lists for each
resource's bandwidth profile). Here a micro-batch has one pending event at a time (its next
transfer or node start), so the events sit in a tournament tree over micro-batches; a node
whose input has just arrived and that wins the tournament starts at once. A message holds
every link of its route at once, so the NoP is one list of the messages that may still be in
flight, each with its route's link set as a bit mask: two messages contend iff their masks
meet and their times overlap; messages that arrived before the current event are dropped (no
later request can reach them), and while nothing is in flight, which is nearly always, a
message goes straight out. A DRAM channel keeps its bandwidth-share step function
`[channel, breakpoint]` (a node adds at most two breakpoints per channel, so 2N + 2 slots
suffice), searched from its latest entries, where most requests land. Everything a node costs
that does not depend on the schedule (execution time, DRAM shares, energy) is tabulated once
per call per (micro-batch, layer position, group); Compass order and the chiplets' queues come
straight from the segment bits, without a sort.
The arithmetic is step for step the reference's, so results agree to rounding (tested; in
practice bit for bit).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from xcompass.engine.context import EvalContext
from xcompass.engine.schedule import Result
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

# --- links, for a chain: a message holds every link of its route at once ------------------


@njit(cache=True, nogil=True)
def _route_masks(routes, hops, n_links):  # noqa: ANN001, ANN202
    """Bit set of the links on each route, row src * C + dst: two messages contend iff their
    sets meet."""
    C = routes.shape[0]
    W = (n_links + 63) // 64
    masks = np.zeros((C * C, W), dtype=np.uint64)
    for a in range(C):
        for z in range(C):
            for h in range(hops[a, z]):
                r = routes[a, z, h]
                masks[a * C + z, r // 64] |= np.uint64(1) << np.uint64(r % 64)
    return masks


@njit(cache=True, nogil=True, inline="always")
def _messages_drop(msg_s, msg_e, msg_route, n, now):  # noqa: ANN001, ANN202
    """Forget messages that arrived by `now`: events come in time order, so no later request
    can overlap them. Returns how many remain."""
    k = 0
    for i in range(n):
        if msg_e[i] > now:
            msg_s[k] = msg_s[i]
            msg_e[k] = msg_e[i]
            msg_route[k] = msg_route[i]
            k += 1
    return k


@njit(cache=True, nogil=True, inline="always")
def _route_slot(msg_s, msg_e, msg_route, n, masks, route, t, duration):  # noqa: ANN001, ANN202
    """First s >= t at which no message on a route sharing a link with `route` overlaps
    [s, s + duration): `common_slot` over the route's links, whose bookings are exactly those
    messages. Each conflict moves s to that message's end, which never passes the answer."""
    s = t
    moved = True
    while moved:
        moved = False
        for i in range(n):
            if msg_s[i] < s + duration and msg_e[i] > s:
                other = msg_route[i]
                for w in range(masks.shape[1]):
                    if masks[route, w] & masks[other, w]:
                        s = msg_e[i]
                        moved = True
                        break
    return s


# --- what a node costs regardless of the schedule, per (micro-batch, layer position, group) --


@njit(cache=True, nogil=True)
def _node_table(a):  # noqa: ANN001, ANN202
    """Row k = (b * R + pos) * G + grp; with residency, 2 * k + resident: the shared
    helpers' values (`schedule_core`), so the sums the kernel makes are the reference's.
    DRAM: the group's distinct channels ascending (`chans[grp, :nch[grp]]`), and per row and
    channel the stream's need, cap and run (`Timeline.fill`)."""
    B, R, _, _ = a.t_res.shape
    G, max_tp = a.members.shape
    nch = np.zeros(G, dtype=np.int64)
    chans = np.zeros((G, max_tp), dtype=np.int64)
    loads = np.zeros((G, max_tp), dtype=np.int64)
    for grp in range(G):
        nch[grp] = group_channels(a, grp, chans[grp], loads[grp], max_tp)
    rows = B * R * G
    fit = np.zeros(rows, dtype=np.bool_)
    ex = np.zeros(2 * rows)
    has_dram = np.zeros(2 * rows, dtype=np.bool_)
    need = np.zeros((2 * rows, max_tp))
    cap = np.zeros((2 * rows, max_tp))
    run = np.zeros((2 * rows, max_tp))
    e_dram = np.zeros(2 * rows)
    e_comp = np.zeros(rows)
    e_sram = np.zeros(rows)
    e_ar = np.zeros(rows)
    for b in range(B):
        for pos in range(R):
            for grp in range(G):
                k = (b * R + pos) * G + grp
                fit[k] = fits_sram(a, grp, pos)
                for res in range(2):
                    t, db, rate = row_cost(a, b, pos, grp, res == 1)
                    kk = 2 * k + res
                    ex[kk] = t
                    if db > 0.0:
                        has_dram[kk] = True
                        e_dram[kk] = dram_energy(a, grp, db, max_tp)
                        for i in range(nch[grp]):
                            need[kk, i], cap[kk, i], run[kk, i] = stream(
                                a, chans[grp, i], loads[grp, i], db, rate, t
                            )
                e_comp[k], e_sram[k], e_ar[k] = node_energy(a, b, pos, grp)
    return nch, chans, fit, ex, has_dram, need, cap, run, e_dram, e_comp, e_sram, e_ar


def member_slots(ctx: EvalContext) -> tuple[int, ...]:
    """A tuple as long as the widest group: numba compiles a kernel per tuple type, so the
    number of member slots becomes a constant there and each loop over a group's members is
    unrolled (about 8% of the chain kernel's time where every group is one chiplet)."""
    return (0,) * ctx.members.shape[1]


# --- the event queue: a tournament over micro-batches ---------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _settle(win, key, crank, Bp, b):  # noqa: ANN001, ANN202
    """Replay the tournament (earliest event time, then Compass rank) from leaf b to the root.
    `key` = the event times' bits as int64, which order as the times do (all >= 0, inf
    included) and compare faster. The winner so far rides in registers and meets the sibling's
    stored winner, so the levels' loads do not wait on each other; no branches (who wins is a
    coin flip to the CPU)."""
    i = Bp + b
    w = b
    cw = key[b]
    rw = crank[b]
    while i > 1:
        o = win[i ^ 1]
        co = key[o]
        ro = crank[o]
        first = (co < cw) | ((co == cw) & (ro < rw))
        w = o if first else w
        cw = co if first else cw
        rw = ro if first else rw
        i >>= 1
        win[i] = w


@njit(cache=True, nogil=True, inline="always")
def _candidate(node, b, grp, members, valid, max_tp, head, chip_free, arrival):  # noqa: ANN001, ANN202
    """Start time of micro-batch b's next node if every member chiplet is at it, else inf."""
    free = 0.0
    for j in range(max_tp):
        if valid[grp, j]:
            c = members[grp, j]
            if head[c] != node:
                return np.inf
            if chip_free[c] > free:
                free = chip_free[c]
    return arrival[b] if arrival[b] >= free else free


@njit(cache=True, nogil=True)
def _kernel(a, bounds, flat, B, L, table, out_lat, out_e, out_parts, slots):  # noqa: ANN001, C901
    """The chain's simulation for each individual p (segment bits `bounds[p]`, placement
    `flat[p]`); `table` = `_node_table(a)`."""
    nch, chans, fit, ex_of, has_dram, need_of, cap_of, run_of = table[:8]
    e_dram_of, e_comp_of, e_sram_of, e_ar_of = table[8:]
    members, valid, lead, routes, hops, C = a.members, a.valid, a.lead, a.routes, a.hops, a.C
    n_channels, link_latency, hop_s = a.n_channels, a.link_latency, a.hop_s
    P = flat.shape[0]
    N = B * L
    G = members.shape[0]
    max_tp = len(slots)  # a compile-time constant: the member loops unroll
    R = a.t_res.shape[1]  # layer positions: first, middle, last
    masks = _route_masks(routes, hops, a.n_links)
    # messages that may still be in flight: interval [msg_s, msg_e) on the route msg_route
    msg_s = np.empty(N + 1)
    msg_e = np.empty(N + 1)
    msg_route = np.empty(N + 1, dtype=np.int64)
    times = np.empty((n_channels, 2 * N + 2))
    used = np.empty((n_channels, 2 * N + 2))
    cnt = np.zeros(n_channels, dtype=np.int64)
    rank = np.empty(N, dtype=np.int64)
    mb_of = np.arange(N) // L
    fp = np.empty(N, dtype=np.int64)  # this individual's placement
    # each chiplet's queue of nodes in Compass order, as linked lists: head[c] = the node it
    # runs next (-1: none), link[node * max_tp + j] = the node after it on its j-th member
    head = np.empty(C + 1, dtype=np.int64)
    link = np.empty(N * max_tp, dtype=np.int64)
    chip_free = np.zeros(C + 1)
    host = np.zeros(C + 1)  # eager: each chiplet's host clock
    eager = a.eager
    last_layer = np.zeros(C + 1, dtype=np.int64)
    powered = np.zeros(C + 1, dtype=np.bool_)
    nxt = np.zeros(B, dtype=np.int64)
    arrival = np.zeros(B)
    pending = np.zeros(B, dtype=np.bool_)
    # event time of each micro-batch's next step (inf: waits for chiplets, or finished), the
    # Compass rank of its next node, and a tournament tree over them (leaf B: a dummy)
    cand = np.full(B + 1, np.inf)
    ckey = cand.view(np.int64)
    crank = np.full(B + 1, N, dtype=np.int64)
    Bp = 1
    while Bp < B:
        Bp *= 2
    win = np.full(2 * Bp, B, dtype=np.int64)
    for p in range(P):
        fp[:] = flat[p]  # one streaming read: the walks below jump about in it
        # Compass order (segment, micro-batch, layer) straight from the segment bits, walked
        # backwards so that each node is pushed on the front of its chiplets' queues (padding
        # members push onto the dummy chiplet C, never read)
        head[:] = -1
        step = N
        stop = L
        for first in range(L - 1, -1, -1):
            if first > 0 and not bounds[p, first - 1]:
                continue
            for b in range(B - 1, -1, -1):
                for lyr in range(stop - 1, first - 1, -1):
                    node = b * L + lyr
                    step -= 1
                    rank[node] = step
                    grp = fp[node]
                    for j in range(max_tp):
                        c = members[grp, j]
                        link[node * max_tp + j] = head[c]
                        head[c] = node
            stop = first
        chip_free[:] = 0.0
        host[:] = 0.0
        last_layer[:] = -1
        powered[:] = False
        n_msg = 0
        busy_until = 0.0  # when the last message sent so far leaves the NoP
        cnt[:] = 0
        nxt[:] = 0
        arrival[:] = 0.0
        pending[:] = False
        for b in range(B):
            node = b * L
            cand[b] = _candidate(
                node, b, fp[node], members, valid, max_tp, head, chip_free, arrival
            )
            crank[b] = rank[node]
            win[Bp + b] = b
        for i in range(Bp - 1, 0, -1):
            x = win[2 * i]
            y = win[2 * i + 1]
            first = (cand[y] < cand[x]) | ((cand[y] == cand[x]) & (crank[y] < crank[x]))
            win[i] = y if first else x
        e_comp = e_sram = e_dram = e_nop = 0.0
        latency = 0.0
        while True:
            b = win[1]
            now = cand[b]
            if now == np.inf:
                break
            lyr = nxt[b]
            node = b * L + lyr
            grp = fp[node]
            if pending[b]:  # its input crosses the NoP: every link of the route at once
                src = lead[fp[node - 1]]
                dst = lead[grp]
                nh = hops[src, dst]
                occupy = a.edge_occupy[b, lyr - 1]  # the edge into layer lyr
                s = now
                if busy_until > now:  # messages may still be in flight: wait for a gap
                    n_msg = _messages_drop(msg_s, msg_e, msg_route, n_msg, now)
                    s = _route_slot(
                        msg_s, msg_e, msg_route, n_msg, masks, src * C + dst, now, occupy
                    )
                else:
                    n_msg = 0  # every message sent so far has arrived
                if nh > 0 and occupy > 0.0:
                    msg_s[n_msg] = s
                    msg_e[n_msg] = s + occupy
                    msg_route[n_msg] = src * C + dst
                    n_msg += 1
                    if s + occupy > busy_until:
                        busy_until = s + occupy
                arrival[b] = s + occupy + nh * hop_s
                e_nop += a.edge_hop_j[b, lyr - 1] * nh
                pending[b] = False
                cand[b] = _candidate(node, b, grp, members, valid, max_tp, head, chip_free, arrival)
                _settle(win, ckey, crank, Bp, b)
                if win[1] != b or cand[b] == np.inf:
                    continue
                now = cand[b]  # the node is the next event: start it without going round
            # the node starts: its kernels, and its DRAM streams on its members' channels
            pos = 0 if lyr == 0 else (2 if lyr == L - 1 else 1)
            k = (b * R + pos) * G + grp
            resident = is_resident(a, fit[k], grp, lyr, last_layer, max_tp)
            if eager:  # the host has not issued it far enough ahead yet: start it then
                recvs, sends = crossings(a, fp, b, L, lyr, grp)
                ready = host_ready(a, host, grp, b, pos, resident, recvs, max_tp)
                if ready > now:
                    cand[b] = ready
                    _settle(win, ckey, crank, Bp, b)
                    continue
                host_issue(a, host, grp, pos, recvs + sends, max_tp)
            kk = 2 * k + (1 if resident else 0)
            end = now + ex_of[kk]
            if has_dram[kk]:
                for i in range(nch[grp]):
                    f = fill(
                        times,
                        used,
                        cnt,
                        chans[grp, i],
                        now,
                        need_of[kk, i],
                        cap_of[kk, i],
                        run_of[kk, i],
                    )
                    if f > end:
                        end = f
            for j in range(max_tp):
                if valid[grp, j]:
                    c = members[grp, j]
                    chip_free[c] = end
                    last_layer[c] = lyr
                    powered[c] = True
                    head[c] = link[node * max_tp + j]
            if end > latency:
                latency = end
            e_comp += e_comp_of[k]
            e_sram += e_sram_of[k]
            e_dram += e_dram_of[kk]
            e_nop += e_ar_of[k]
            # this micro-batch's next step, and nodes now at the head of the freed chiplets
            nxt[b] = lyr + 1
            if lyr + 1 < L:
                crank[b] = rank[node + 1]
                if fp[node + 1] != grp:
                    pending[b] = True
                    cand[b] = end + link_latency
                else:
                    arrival[b] = end
                    cand[b] = _candidate(
                        node + 1, b, grp, members, valid, max_tp, head, chip_free, arrival
                    )
            else:
                cand[b] = np.inf
            _settle(win, ckey, crank, Bp, b)
            for j in range(max_tp):
                if valid[grp, j]:
                    h = head[members[grp, j]]
                    if h >= 0:
                        hb = mb_of[h]
                        if hb != b and h == hb * L + nxt[hb] and not pending[hb]:
                            cand[hb] = _candidate(
                                h, hb, fp[h], members, valid, max_tp, head, chip_free, arrival
                            )
                            _settle(win, ckey, crank, Bp, hb)
        record(a, p, latency, powered, e_comp, e_sram, e_dram, e_nop, out_lat, out_e, out_parts)


def evaluate_fast(ctx: EvalContext, boundaries: np.ndarray, place: np.ndarray) -> Result:
    """Latency and energy of P mappings (no per-node detail): the search's hot path."""
    if ctx.units.granularity != "layer":
        raise ValueError(f"evaluate_fast schedules whole layers, not '{ctx.units.granularity}'")
    place = np.ascontiguousarray(place, dtype=np.int64)
    P, B, L = place.shape
    bounds = np.ascontiguousarray(boundaries, dtype=np.bool_).reshape(P, max(L - 1, 0))
    a = engine_arrays(ctx)
    lat, energy, parts = np.zeros(P), np.zeros(P), np.zeros((P, 5))
    _kernel(a, bounds, place.reshape(P, B * L), B, L, _node_table(a), lat, energy, parts,
            member_slots(ctx))  # fmt: skip
    names = ("compute", "sram", "dram", "nop", "static")
    return Result(lat, energy, parts={n: parts[:, i] for i, n in enumerate(names)})
