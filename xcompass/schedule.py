"""Evaluate a whole population of mappings at once: Compass's list schedule, plus link-level
NoP contention (XY routes on a mesh, ports on a switch), FCFS-shared DRAM channels, weight
residency, TP all-reduce, and energy with static power.

All state is `[population, ...]` numpy arrays; one Python step per (micro-batch, layer) node
advances every individual together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xcompass.layercost import CostTable
from xcompass.mapping import Groups, Mapping
from xcompass.targets import Target


def mesh_routes(cols: int, rows: int) -> tuple[np.ndarray, np.ndarray, int]:
    """XY routes as padded link-id lists: routes[src, dst, hop], hop counts, link count.
    Link id = 4 * chiplet + direction (0 east, 1 west, 2 north, 3 south)."""
    n = cols * rows
    max_hops = max(cols + rows - 2, 1)
    routes = np.full((n, n, max_hops), 4 * n, dtype=np.int64)  # 4n = padding link
    hops = np.zeros((n, n), dtype=np.int64)
    for s in range(n):
        for d in range(n):
            x, y = s % cols, s // cols
            dx, dy = d % cols, d // cols
            path = []
            while x != dx:
                step = 1 if dx > x else -1
                path.append(4 * (y * cols + x) + (0 if step > 0 else 1))
                x += step
            while y != dy:
                step = 1 if dy > y else -1
                path.append(4 * (y * cols + x) + (3 if step > 0 else 2))
                y += step
            routes[s, d, : len(path)] = path
            hops[s, d] = len(path)
    return routes, hops, 4 * n


def switch_routes(n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Each chiplet has an egress port (id c) and an ingress port (id n + c)."""
    routes = np.full((n, n, 2), 2 * n, dtype=np.int64)
    hops = np.ones((n, n), dtype=np.int64) - np.eye(n, dtype=np.int64)
    for s in range(n):
        for d in range(n):
            if s != d:
                routes[s, d] = (s, n + d)
    return routes, hops, 2 * n


@dataclass
class EvalContext:
    """Everything per-mapping evaluation needs, as arrays (built once per problem)."""

    table: CostTable
    groups: Groups
    target: Target
    layers: int
    routes: np.ndarray = field(init=False)
    hops: np.ndarray = field(init=False)
    n_links: int = field(init=False)

    def __post_init__(self) -> None:
        t, net = self.target, self.target.network
        if net.topology == "mesh":
            self.routes, self.hops, self.n_links = mesh_routes(*net.dims)
        else:
            self.routes, self.hops, self.n_links = switch_routes(t.chiplets)
        self.C = t.chiplets
        self.channel = np.append(t.channel_of(), len(t.drams))  # pad chip -> pad channel
        self.n_channels = len(t.drams)
        self.channel_bw = np.append([d.bw_gbs * 1e9 for d in t.drams], np.inf)
        self.dram_pj = np.array([d.pj_per_bit for d in t.drams] + [0.0])
        kinds = t.kind_of()
        self.static_w = float(sum(t.kinds[k].static_w for k in kinds))
        g = self.groups
        self.members = np.where(g.members >= 0, g.members, self.C)  # pad -> dummy chip C
        self.valid = g.members >= 0
        self.lead = g.members[:, 0]
        k = g.kind
        self.pj_mac = np.array([c.pj_per_mac for c in t.kinds])[k]
        self.sram_pj = np.array([c.sram_pj_per_bit for c in t.kinds])[k]
        self.link_bw = net.link_gbs * 1e9
        self.link_latency = net.latency_us * 1e-6
        self.hop_s = net.hop_ns * 1e-9
        self.pj_hop = net.pj_per_bit_hop
        # TP all-reduce per layer (ring): 2(t-1)/t of the activation per member, per reduction
        ar_bw = (net.allreduce_gbs or net.link_gbs) * 1e9
        tb = self.table
        tp = np.array(tb.tp_options, dtype=float)
        self.ar_time = np.where(
            tp[None, :] > 1,
            tb.allreduces
            * (self.link_latency + 2 * (tp - 1) / tp * tb.allreduce_bytes[:, None] / ar_bw),
            0.0,
        )  # [B, T]
        self.ar_bits = np.where(
            tp[None, :] > 1, tb.allreduces * 2 * (tp - 1) * tb.allreduce_bytes[:, None] * 8, 0.0
        )


@dataclass
class Result:
    latency_s: np.ndarray  # [P]
    energy_j: np.ndarray  # [P]
    start: np.ndarray | None = None  # [P, B, L] (with detail)
    end: np.ndarray | None = None
    node_energy: np.ndarray | None = None
    exec_time: np.ndarray | None = None
    transfer_time: np.ndarray | None = None
    stall_time: np.ndarray | None = None
    parts: dict[str, np.ndarray] | None = None  # energy by source [P]

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


def evaluate(
    ctx: EvalContext, boundaries: np.ndarray, place: np.ndarray, detail: bool = False
) -> Result:
    """Latency and energy of P mappings: boundaries [P, L-1] bool, place [P, B, L] group ids."""
    place = np.asarray(place, dtype=np.int64)
    if place.ndim == 2:
        place, boundaries = place[None], np.asarray(boundaries)[None]
    P, B, L = place.shape
    tb, g = ctx.table, ctx.groups
    order = order_nodes(np.asarray(boundaries, dtype=bool), B, L)
    flat = place.reshape(P, B * L)
    rows = np.arange(P)
    chip_free = np.zeros((P, ctx.C + 1))
    last_layer = np.full((P, ctx.C + 1), -1, dtype=np.int64)
    link_free = np.zeros((P, ctx.n_links + 1))
    dram_free = np.zeros((P, ctx.n_channels + 1))
    done = np.zeros((P, B * L))
    energy = np.zeros(P)
    e_parts = {k: np.zeros(P) for k in ("compute", "sram", "dram", "nop")}
    if detail:
        start_out, exec_out, xfer_out, stall_out, e_out = (np.zeros((P, B * L)) for _ in range(5))
    members_all, valid_all = ctx.members, ctx.valid
    for step in range(B * L):
        node = order[:, step]
        b, lyr = node // L, node % L
        grp = flat[rows, node]
        pos = np.where(lyr == 0, 0, np.where(lyr == L - 1, 2, 1))
        kind, t_idx = g.kind[grp], g.tp_index[grp]
        members, valid = members_all[grp], valid_all[grp]
        # input activation: on chip if the previous layer ran on the same group, else over the NoP
        has_pred = lyr > 0
        pred = np.where(has_pred, node - 1, node)
        pred_grp = flat[rows, pred]
        ready = np.where(has_pred, done[rows, pred], 0.0)
        moves = has_pred & (pred_grp != grp)
        src, dst = ctx.lead[pred_grp], ctx.lead[grp]
        route = ctx.routes[src, dst]  # [P, H]
        hops = ctx.hops[src, dst]
        nbytes = tb.act_bytes[b]
        link_ready = np.where(route < ctx.n_links, link_free[rows[:, None], route], 0.0).max(axis=1)
        xfer_start = np.maximum(ready, link_ready)
        xfer = ctx.link_latency + nbytes / ctx.link_bw + hops * ctx.hop_s
        xfer_end = xfer_start + xfer
        upd = np.where(moves[:, None], xfer_end[:, None], link_free[rows[:, None], route])
        link_free[rows[:, None], route] = upd
        ready = np.where(moves, xfer_end, ready)
        nop_j = np.where(moves, nbytes * 8 * hops * ctx.pj_hop * 1e-12, 0.0)
        # the group's chiplets, weight residency, DRAM channel contention
        free = np.where(valid, chip_free[rows[:, None], members], 0.0).max(axis=1)
        resident = (
            np.where(valid, last_layer[rows[:, None], members] == lyr[:, None], True).all(axis=1)
            & tb.fits_sram[kind, pos, t_idx]
        )
        exec_t = (
            np.where(
                resident, tb.time_resident[b, pos, kind, t_idx], tb.time_stream[b, pos, kind, t_idx]
            )
            + ctx.ar_time[b, t_idx]
        )
        dbytes = np.where(
            resident, tb.dram_resident[b, pos, kind, t_idx], tb.dram_stream[b, pos, kind, t_idx]
        )
        chans = ctx.channel[members]
        chans = np.where(valid, chans, ctx.n_channels)
        start = np.maximum(ready, free)
        chan_free = np.where(valid, dram_free[rows[:, None], chans], 0.0).max(axis=1)
        dstart = np.where(dbytes > 0, np.maximum(start, chan_free), start)
        ddur = dbytes / ctx.channel_bw[chans[:, 0]]
        end = np.maximum(start + exec_t, dstart + ddur)
        dram_free[rows[:, None], chans] = np.where(
            (dbytes > 0)[:, None], (dstart + ddur)[:, None], dram_free[rows[:, None], chans]
        )
        chip_free[rows[:, None], members] = end[:, None]
        last_layer[rows[:, None], members] = lyr[:, None]
        done[rows, node] = end
        tp = g.tp[grp]
        e_comp = tp * tb.macs[b, pos, kind, t_idx] * ctx.pj_mac[grp] * 1e-12
        e_sram = tp * tb.sram_bytes[b, pos, kind, t_idx] * 8 * ctx.sram_pj[grp] * 1e-12
        e_dram = tp * dbytes * 8 * ctx.dram_pj[chans[:, 0]] * 1e-12
        e_nop = nop_j + ctx.ar_bits[b, t_idx] * ctx.pj_hop * 1e-12
        node_e = e_comp + e_sram + e_dram + e_nop
        energy += node_e
        e_parts["compute"] += e_comp
        e_parts["sram"] += e_sram
        e_parts["dram"] += e_dram
        e_parts["nop"] += e_nop
        if detail:
            start_out[rows, node] = start
            exec_out[rows, node] = exec_t
            xfer_out[rows, node] = np.where(moves, xfer, 0.0)
            stall_out[rows, node] = end - (start + exec_t)
            e_out[rows, node] = node_e
    latency = done.max(axis=1)
    static = ctx.static_w * latency
    e_parts["static"] = static
    result = Result(latency, energy + static, parts=e_parts)
    if detail:
        shape = (P, B, L)
        result.start, result.end = start_out.reshape(shape), done.reshape(shape)
        result.exec_time, result.transfer_time = exec_out.reshape(shape), xfer_out.reshape(shape)
        result.stall_time, result.node_energy = stall_out.reshape(shape), e_out.reshape(shape)
    return result


def evaluate_mapping(ctx: EvalContext, mapping: Mapping) -> Result:
    return evaluate(ctx, mapping.boundaries[None], mapping.place[None], detail=True)
