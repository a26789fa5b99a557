"""Evaluate mappings: Compass's list schedule, plus what Compass leaves out — link-level NoP
contention (XY routes on a mesh, ports on a switch), DRAM channels shared in time, weight
residency, tensor-parallel all-reduces, and energy with power-gated idle chiplets.

This module is the reference: one individual at a time, in plain Python over numpy arrays, with
every per-node detail the report needs. `schedule_jit.evaluate_fast` is its compiled twin for
whole populations; the two must agree to rounding (tested).

A mapping fixes each chiplet's order of work (Compass's: segment, micro-batch, layer). Shared
resources are served *in time*: the schedule is a discrete-event simulation that takes node
starts and activation transfers in time order, so DRAM channels and links serve requests first
come, first served, and a node that can run earlier is never queued behind a reservation that
lies in its future. A link carries one message at a time (a message waits for a gap on every
link of its route); a DRAM channel's bandwidth is shared: a kernel streams its bytes at up to
its own rate out of what the streams already running leave free.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from xcompass.engine import schedule_core as core
from xcompass.engine.context import EvalContext
from xcompass.engine.mapping import Mapping
from xcompass.engine.schedule_core import SHARE_EPS, engine_arrays

if TYPE_CHECKING:
    pass


@dataclass
class Result:
    """Per individual totals; with `detail`, per node [P, B, L] and per chiplet [P, C] arrays."""

    latency_s: np.ndarray  # [P]
    energy_j: np.ndarray  # [P]
    parts: dict[str, np.ndarray] | None = None  # energy by source [P]
    start: np.ndarray | None = None  # node start (chiplets free and input arrived)
    end: np.ndarray | None = None
    node_energy: np.ndarray | None = None  # dynamic energy of the node and its input transfer
    exec_time: np.ndarray | None = None  # kernels incl. TP all-reduce
    allreduce_time: np.ndarray | None = None  # the all-reduce part of exec_time
    transfer_time: np.ndarray | None = None  # its input's NoP transfer (0: none)
    link_wait: np.ndarray | None = None  # the transfer waited this long for busy links
    stall_time: np.ndarray | None = None  # end - (start + exec): waiting on shared DRAM
    host_wait: np.ndarray | None = None  # eager: start held back until the host issued it
    blame: np.ndarray | None = (
        None  # what set the start: -2 host, -1 nothing, 0 input, 1+c chiplet c
    )
    prev_on_chip: np.ndarray | None = None  # flat node id that last freed the blamed chiplet
    crit_pred: np.ndarray | None = None  # flat node id whose output arrived last (-1: none)
    static_j: np.ndarray | None = None  # [P, C] static energy per chiplet
    powered: np.ndarray | None = None  # [P, C] chiplet ran at least one node
    # what each shared resource did (first individual only): (node, link ids, start, end) per
    # message; (node, channel, start, end, share of the channel at the node's own rate) per
    # DRAM stream
    transfers: list[tuple[int, tuple[int, ...], float, float]] | None = None
    dram_streams: list[tuple[int, int, float, float, float]] | None = None

    @property
    def edp(self) -> np.ndarray:
        return self.latency_s * self.energy_j


def order_nodes(boundaries: np.ndarray, B: int, L: int) -> np.ndarray:
    """Per individual, flat node ids (b * L + l) in Compass order: segment, micro-batch, layer."""
    P = boundaries.shape[0]
    seg = np.concatenate(
        [np.zeros((P, 1), dtype=np.int64), np.cumsum(boundaries, axis=1, dtype=np.int64)], axis=1
    )  # [P, L]
    key = seg[:, None, :] * (B * L) + np.arange(B)[None, :, None] * L + np.arange(L)[None, None, :]
    return np.argsort(key.reshape(P, B * L), axis=1, kind="stable")


class Timeline:
    """The share of one resource's bandwidth (a link or a DRAM channel) in use over time: a step
    function, `used[i]` on [times[i], times[i+1]); zero before the first and after the last
    breakpoint. Two ways to take it: `earliest` + `book` reserve a share for a fixed duration
    in the first gap where it fits (a message on a link), `fill` streams an amount of data out
    of whatever bandwidth earlier bookings left, up to a rate cap (a kernel's DRAM traffic)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.used: list[float] = []

    def earliest(self, t: float, duration: float, share: float = 1.0) -> float:
        """The first s >= t at which `share` is free during [s, s + duration)."""
        times, used = self.times, self.used
        n = len(times)
        if n == 0 or t >= times[-1]:
            return t
        limit = 1.0 - share + SHARE_EPS
        s = t
        j = max(bisect.bisect_right(times, t) - 1, 0)
        while j < n and times[j] < s + duration:
            if used[j] > limit:
                s = times[j + 1]  # the last segment is always free: j + 1 exists
            j += 1
        return s

    def book(self, start: float, duration: float, share: float = 1.0) -> None:
        if duration > 0.0 and share > 0.0:
            i = self._split(start)
            k = self._split(start + duration)
            for j in range(i, k):
                self.used[j] += share

    def fill(self, t: float, need: float, cap: float, run: float) -> float:
        """Stream `need` seconds' worth of the full bandwidth from t on, taking at most `cap`
        of it at any moment and only what is left free; book it; return when it is done.
        `run` = need / cap, the time it takes on a free channel."""
        if need <= 0.0:
            return t
        times, used = self.times, self.used
        if not times or t >= times[-1]:  # nothing booked from t on
            if times and times[-1] == t:
                used[-1] = cap
            else:
                times.append(t)
                used.append(cap)
            times.append(t + run)
            used.append(0.0)
            return t + run
        j = self._split(t)
        left = need
        while True:
            free = min(cap, 1.0 - used[j])
            if j + 1 == len(times):  # open-ended free tail
                finish = times[j] + left / free
                if finish == times[j]:  # too little to book at the clock's resolution: a
                    return finish  # share on the tail would leave it used forever
                self._split(finish)
                used[j] += free
                return finish
            if free > SHARE_EPS:
                span = times[j + 1] - times[j]
                if free * span >= left:
                    finish = times[j] + left / free
                    if finish > times[j]:  # else nothing to book at the clock's resolution
                        self._split(finish)
                        used[j] += free
                    return finish
                used[j] += free
                left -= free * span
            j += 1

    def _split(self, x: float) -> int:
        i = bisect.bisect_left(self.times, x)
        if i == len(self.times) or self.times[i] != x:
            self.times.insert(i, x)
            self.used.insert(i, self.used[i - 1] if i > 0 else 0.0)
        return i


def common_slot(requests: list[tuple[Timeline, float, float]], t: float) -> float:
    """The first s >= t at which every (timeline, duration, share) request fits (the links of
    a route, which a message holds together)."""
    s = t
    moved = True
    while moved:
        moved = False
        for tl, duration, share in requests:
            e = tl.earliest(s, duration, share)
            if e > s:
                s, moved = e, True
    return s


# the shared physics (`schedule_core`) as plain Python: the compiled kernels inline the same source
(fits_sram, is_resident, row_cost, group_channels, stream, dram_energy, node_energy, crossings,
 host_ready, host_issue) = (
    f.py_func
    for f in (
        core.fits_sram, core.is_resident, core.row_cost, core.group_channels, core.stream,
        core.dram_energy, core.node_energy, core.crossings, core.host_ready, core.host_issue,
    )
)  # fmt: skip

_DETAIL = (
    "start",
    "end",
    "node_energy",
    "exec_time",
    "allreduce_time",
    "transfer_time",
    "link_wait",
    "stall_time",
    "host_wait",
)


def _schedule_one(ctx: EvalContext, order: np.ndarray, place: np.ndarray) -> dict:  # noqa: C901
    """One mapping, as a discrete-event simulation; returns totals and per-node detail (flat
    node ids b * U + u).

    Each chiplet runs its nodes in Compass order (`order`). Events — a node starting, or a
    unit's output leaving for a consumer on another chiplet — are taken in time order (ties:
    the Compass rank of the node they serve, then the edge), so links and DRAM channels serve
    requests first come, first served in time. A node starts once every input has arrived and
    every chiplet of its group has finished the nodes before it."""
    g, units = ctx.groups, ctx.units
    B, U = place.shape
    N = B * U
    flat = place.reshape(N)
    rank = np.empty(N, dtype=np.int64)
    rank[order] = np.arange(N)
    chips_of = [[int(c) for c in ctx.members[grp][ctx.valid[grp]]] for grp in range(len(g.tp))]
    queue: list[list[int]] = [[] for _ in range(ctx.C)]  # each chiplet's nodes, in order
    for node in order:
        for c in chips_of[flat[node]]:
            queue[c].append(int(node))
    head = [0] * ctx.C
    chip_free = np.zeros(ctx.C + 1)
    chip_last = np.full(ctx.C + 1, -1)  # node that last ran on the chiplet
    last_unit = np.full(ctx.C + 1, -1)  # the unit whose weights it holds
    powered = np.zeros(ctx.C + 1, dtype=bool)
    links = [Timeline() for _ in range(ctx.n_links)]
    channels = [Timeline() for _ in range(ctx.n_channels)]
    d = {k: np.zeros(N) for k in _DETAIL}
    blame = np.full(N, -1)
    prev = np.full(N, -1)
    crit = np.full(N, -1)
    e = dict.fromkeys(("compute", "sram", "dram", "nop"), 0.0)
    transfers: list[tuple[int, tuple[int, ...], float, float]] = []
    streams: list[tuple[int, int, float, float, float]] = []
    in_left = np.tile(np.diff(units.pred_start), B)  # inputs still to arrive
    arrival = np.zeros(N)
    queued = np.zeros(N, dtype=bool)
    events: list[tuple[float, int, int, int]] = []  # (time, rank, edge or -1, node or edge id)
    arr, max_tp = engine_arrays(ctx), ctx.members.shape[1]
    chans, loads = np.zeros(max_tp, dtype=np.int64), np.zeros(max_tp, dtype=np.int64)
    host = np.zeros(ctx.C + 1)  # eager: each chiplet's host clock

    def free_at(node: int) -> tuple[float, int]:
        free, blamed = 0.0, -1
        for c in chips_of[flat[node]]:
            if chip_free[c] > free:
                free, blamed = chip_free[c], c
        return free, blamed

    def try_start(node: int) -> None:
        if (
            queued[node]
            or in_left[node]
            or any(queue[c][head[c]] != node for c in chips_of[flat[node]])
        ):
            return
        queued[node] = True
        heapq.heappush(events, (max(arrival[node], free_at(node)[0]), rank[node], -1, node))

    def arrive(node: int, src: int, at: float, wait: float) -> None:
        """An input of `node` from `src` is on its chiplets at `at`."""
        if at > arrival[node] or crit[node] < 0:
            arrival[node], crit[node] = max(at, arrival[node]), src
            d["transfer_time"][node] = at - d["end"][src]
            d["link_wait"][node] = wait
        in_left[node] -= 1
        try_start(node)

    for node in order:
        try_start(int(node))
    while events:
        time, _, edge, item = heapq.heappop(events)
        if edge >= 0:  # a unit's output crosses the NoP: all links of its route at once
            b = item
            src = b * U + int(units.pred[edge])
            dst = b * U + int(ctx.edge_dst[edge])
            a, z = int(ctx.lead[flat[src]]), int(ctx.lead[flat[dst]])
            nh = int(ctx.hops[a, z])
            occupy = ctx.edge_occupy[b, edge]
            route = [(links[int(k)], occupy, 1.0) for k in ctx.routes[a, z, :nh]]
            slot = common_slot(route, time)
            for tl, _, _ in route:
                tl.book(slot, occupy)
            transfers.append(
                (dst, tuple(int(k) for k in ctx.routes[a, z, :nh]), slot, slot + occupy)
            )
            hop_j = ctx.edge_hop_j[b, edge] * nh
            e["nop"] += hop_j
            d["node_energy"][dst] += hop_j  # a transfer is charged to its consumer
            arrive(dst, src, slot + occupy + nh * ctx.hop_s, slot - time)
            continue
        node = item
        b, u = divmod(node, U)
        grp = int(flat[node])
        row = int(units.row[u])
        ti = int(g.tp_index[grp])
        chips = chips_of[grp]
        start = time
        free, blamed = free_at(node)
        resident = bool(is_resident(arr, fits_sram(arr, grp, row), grp, u, last_unit, max_tp))
        if arr.eager:  # the host has not issued it far enough ahead yet: start it then
            recvs, sends = crossings(arr, flat, b, U, u, grp)
            ready = host_ready(arr, host, grp, b, row, resident, recvs, max_tp)
            if ready > time:
                d["host_wait"][node] = ready - time
                heapq.heappush(events, (ready, rank[node], -1, node))
                continue
            host_issue(arr, host, grp, row, recvs + sends, max_tp)
        ex, db, rate = row_cost(arr, b, row, grp, resident)
        ar = arr.ar_time[b, row, ti]
        if arrival[node] >= free:
            blame[node] = 0 if crit[node] >= 0 else -1
        else:
            blame[node], prev[node] = 1 + blamed, chip_last[blamed]
        if d["host_wait"][node] > 0.0:
            blame[node] = -2  # the host queue: launches issued one after another from 0
        # each member streams `db` bytes from its own channel, spread evenly over the node's
        # run: a channel serves it at up to that rate out of the bandwidth that streams
        # already running leave free, so a node waits on DRAM only while its channel is busy
        end = start + ex
        e_dram = 0.0
        if db > 0.0:
            e_dram = dram_energy(arr, grp, db, max_tp)
            for k in range(group_channels(arr, grp, chans, loads, max_tp)):
                ch = int(chans[k])
                need, cap, run = stream(arr, ch, loads[k], db, rate, ex)
                done_at = channels[ch].fill(start, need, cap, run)
                streams.append((node, ch, start, done_at, cap))
                end = max(end, done_at)
        for c in chips:
            chip_free[c], chip_last[c], last_unit[c], powered[c] = end, node, u, True
        e_comp, e_sram, e_ar = node_energy(arr, b, row, grp)
        e["compute"] += e_comp
        e["sram"] += e_sram
        e["dram"] += e_dram
        e["nop"] += e_ar
        d["start"][node], d["end"][node] = start, end
        d["exec_time"][node], d["allreduce_time"][node] = ex, ar
        d["stall_time"][node] = end - (start + ex)
        d["node_energy"][node] += e_comp + e_sram + e_dram + e_ar
        # its outputs: on chip for a consumer on the same group, else a NoP transfer
        for k in range(ctx.succ_start[u], ctx.succ_start[u + 1]):
            edge = int(ctx.succ_edge[k])
            dst = b * U + int(ctx.edge_dst[edge])
            if flat[dst] == grp:
                arrive(dst, node, end, 0.0)
            else:
                heapq.heappush(events, (end + ctx.link_latency, rank[dst], edge, b))
        for c in chips:
            head[c] += 1
            if head[c] < len(queue[c]):
                try_start(queue[c][head[c]])
    latency = float(d["end"].max()) if N else 0.0
    static = np.where(powered, ctx.static_w, ctx.idle_w)[: ctx.C] * latency
    return {
        "latency": latency,
        "parts": {**e, "static": float(static.sum())},
        "detail": d,
        "blame": blame,
        "prev": prev,
        "crit": crit,
        "static": static,
        "powered": powered[: ctx.C],
        "transfers": transfers,
        "streams": streams,
    }


def evaluate(
    ctx: EvalContext, boundaries: np.ndarray, place: np.ndarray, detail: bool = False
) -> Result:
    """Latency and energy of P mappings: boundaries [P, L-1] bool, place [P, B, L] group ids."""
    place = np.asarray(place, dtype=np.int64)
    if place.ndim == 2:
        place, boundaries = place[None], np.asarray(boundaries)[None]
    P, B, L = place.shape
    order = order_nodes(np.asarray(boundaries, dtype=bool), B, L)
    runs = [_schedule_one(ctx, order[p], place[p]) for p in range(P)]
    latency = np.array([r["latency"] for r in runs])
    parts = {k: np.array([r["parts"][k] for r in runs]) for k in runs[0]["parts"]}
    result = Result(latency, sum(parts.values()), parts=parts)
    if detail:
        for k in _DETAIL:
            setattr(result, k, np.stack([r["detail"][k] for r in runs]).reshape(P, B, L))
        result.blame = np.stack([r["blame"] for r in runs]).reshape(P, B, L)
        result.prev_on_chip = np.stack([r["prev"] for r in runs]).reshape(P, B, L)
        result.crit_pred = np.stack([r["crit"] for r in runs]).reshape(P, B, L)
        result.static_j = np.stack([r["static"] for r in runs])
        result.powered = np.stack([r["powered"] for r in runs])
        result.transfers, result.dram_streams = runs[0]["transfers"], runs[0]["streams"]
    return result


def evaluate_mapping(ctx: EvalContext, mapping: Mapping) -> Result:
    return evaluate(ctx, mapping.boundaries[None], mapping.place[None], detail=True)
