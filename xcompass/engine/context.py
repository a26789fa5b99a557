"""What a mapping's evaluation reads, built once per problem: the target's routes (XY on a
mesh, ports on a switch), DRAM channels, power and energy figures, and per micro-batch the
cost table's times, rates and all-reduces over the units placed (`EvalContext`). The reference
schedule (`schedule`) and its compiled twins (`schedule_jit`, `schedule_dag`) read it."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from xcompass.engine.granularity import build_units
from xcompass.engine.hostqueue import host_rows
from xcompass.engine.mapping import Groups
from xcompass.engine.units import Units, UnitTable
from xcompass.hardware.comm import allreduce_bits, allreduce_time, transfer_params
from xcompass.hardware.targets import Target
from xcompass.layer.layercost import CostTable

if TYPE_CHECKING:
    from xcompass.engine.tiles import TileSpec


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
    """Everything per-mapping evaluation needs, as arrays (built once per problem).

    The execution mode (`graph` or `eager`) is the cost table's: transfer and collective
    latencies follow it, and eager mode adds the host queue (`xcompass.engine.hostqueue`)."""

    table: CostTable
    groups: Groups
    target: Target
    layers: int
    granularity: str = "layer"
    pairs: np.ndarray | None = None  # [B] visible (query, key) pairs: sizes score edges
    tiles: TileSpec | None = (
        None  # what granularity 'tile' needs (`xcompass.engine.tiles.tile_spec`)
    )
    routes: np.ndarray = field(init=False)
    hops: np.ndarray = field(init=False)
    n_links: int = field(init=False)

    def __post_init__(self) -> None:
        self._target_arrays()
        self._table_arrays()

    def _target_arrays(self) -> None:
        """What depends only on the target, the groups and the execution mode."""
        t, net = self.target, self.target.network
        if net.topology == "mesh":
            self.routes, self.hops, self.n_links = mesh_routes(*net.dims)
        else:
            self.routes, self.hops, self.n_links = switch_routes(t.chiplets)
        self.mode = self.table.mode
        self.C = t.chiplets
        self.channel = np.append(t.channel_of(), len(t.drams))  # pad chip -> pad channel
        self.n_channels = len(t.drams)
        self.channel_bw = np.append([d.bw_gbs * 1e9 for d in t.drams], np.inf)
        self.dram_pj = np.array([d.pj_per_bit for d in t.drams] + [0.0])
        kinds = t.kind_of()
        self.static_w = np.array([t.kinds[k].static_w for k in kinds] + [0.0])
        self.idle_w = np.array([t.kinds[k].idle_w for k in kinds] + [0.0])
        g = self.groups
        self.members = np.where(g.members >= 0, g.members, self.C)  # pad -> dummy chip C
        self.valid = g.members >= 0
        self.lead = g.members[:, 0]
        k = g.kind
        self.pj_mac = np.array([c.pj_per_mac for c in t.kinds])[k]
        self.sram_pj = np.array([c.sram_pj_per_bit for c in t.kinds])[k]
        self.link_latency, self.link_bw, self.hop_s = transfer_params(net, self.mode)
        self.pj_hop = net.pj_per_bit_hop
        self.inv_channel_bw = 1.0 / self.channel_bw

    def _table_arrays(self) -> None:
        """What depends on the cost table (the workload), then the units."""
        net, tb = self.target.network, self.table
        tp = np.array(tb.tp_options, dtype=float)[None, :]
        nbytes = tb.allreduce_bytes[:, None]
        self.ar_time = tb.allreduces * allreduce_time(net, self.mode, tp, nbytes)  # [B, T]
        self.ar_bits = tb.allreduces * allreduce_bits(tp, nbytes)
        # per-node constants the schedule would otherwise divide for on every node
        self.occupy = tb.act_bytes / self.link_bw  # seconds a layer's output holds a link
        self.hop_j = tb.act_bytes * 8.0 * self.pj_hop * 1e-12  # its NoP energy per hop
        ar = self.ar_time[:, None, None, :]
        self.rate_stream = _rate(tb.dram_stream, tb.time_stream + ar)  # DRAM bytes/s of a node
        self.rate_resident = _rate(tb.dram_resident, tb.time_resident + ar)
        self.use_units(
            *build_units(self.table, self.layers, self.granularity, self.pairs, self.tiles)
        )

    def with_table(self, table: CostTable) -> EvalContext:
        """This context for another cost table in the same execution mode and TP options (a
        serving replica's next step): the target's arrays are kept, the table's rebuilt."""
        if table.mode != self.table.mode or table.tp_options != self.table.tp_options:
            raise ValueError("with_table needs a table of the same mode and TP options")
        ctx = copy.copy(self)
        ctx.table = table
        ctx._table_arrays()
        return ctx

    def use_units(self, units: Units, unit_table: UnitTable) -> EvalContext:
        """Place these units (`xcompass.engine.units`): set them and their per-row constants."""
        net, tp = self.target.network, np.array(self.table.tp_options, dtype=float)
        self.units, self.ut = units, unit_table
        u, ut = units, unit_table
        self.U = u.count
        self.succ_start, self.succ_edge = u.successors()
        self.edge_dst = np.repeat(np.arange(u.count), np.diff(u.pred_start))  # consumer unit
        ar_one = allreduce_time(net, self.mode, tp[None], ut.allreduce_bytes[:, :, None])
        self.unit_ar_time = ut.allreduces[None, :, None] * ar_one  # [B, R, T]
        # eager mode's host queue (`xcompass.engine.hostqueue`); graph mode: no host term
        self.eager = self.mode == "eager"
        B, R, K, T = ut.time_stream.shape
        if self.eager:
            kinds = self.target.kinds
            self.host_issue, self.host_q_stream, self.host_q_resident = host_rows(
                self.table, u, ut, ar_one, np.array([k.launch_us for k in kinds]) * 1e-6,
                np.array([k.collective_launch_us for k in kinds]) * 1e-6, kinds,
            )  # fmt: skip
            self.host_p2p = np.array([k.collective_launch_us for k in kinds]) * 1e-6
        else:
            self.host_issue = np.zeros((R, K, T))
            self.host_p2p = np.zeros(K)
            self.host_q_stream = self.host_q_resident = np.zeros((B, R, K, T))
        self.unit_ar_bits = ut.allreduces[None, :, None] * allreduce_bits(
            tp[None], ut.allreduce_bytes[:, :, None]
        )
        self.edge_occupy = u.edge_bytes / self.link_bw  # [B, E]
        self.edge_hop_j = u.edge_bytes * 8.0 * self.pj_hop * 1e-12
        ar = self.unit_ar_time[:, :, None, :]
        self.unit_rate_stream = _rate(ut.dram_stream, ut.time_stream + ar)
        self.unit_rate_resident = _rate(ut.dram_resident, ut.time_resident + ar)
        return self


def _rate(nbytes: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Bytes per second where the time is positive, else unlimited."""
    out = np.full(np.broadcast_shapes(np.shape(nbytes), np.shape(seconds)), np.inf)
    return np.divide(nbytes, seconds, out=out, where=seconds > 0.0)
