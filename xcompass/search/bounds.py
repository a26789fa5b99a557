"""An analytic lower bound on latency and energy: no mapping of this workload on this target,
found or not, can do better. It tells how far the best mapping found may still be from optimal.

Per node (micro-batch b, unit u), the unit cost rows give its best case over every placement
(chiplet kind x TP degree a group offers and the unit can run on), weights resident whenever
they fit on chip:
- work: a node occupies at least tp x t_min chiplet-seconds; all of them fit in C chiplets x
  latency, so latency >= sum over nodes of min(tp x t) / C;
- chain: a unit starts once its inputs are computed, so latency >= max over micro-batches of
  the longest path of min(t) through its unit DAG (for a layer chain, the sum over its units);
- DRAM: every node reads at least its resident-weights bytes (KV, activations), and each unit's
  weights come from DRAM at least once (the first node to run it streams them); all channels
  together move at most their summed bandwidth, so latency >= bytes / sum(channel bandwidth).
latency >= the largest of the three. A node's time and energy on a TP placement include its
all-reduces (no mapping runs that placement without them). Energy >= the sum over nodes of the
cheapest MAC + SRAM (+ all-reduce) energy, plus those DRAM bytes at the cheapest channel's
pJ/bit, plus static power: every chiplet its gated idle power over the latency bound, and the
powered ones (static - idle) more over at least the work's chiplet-seconds (a chiplet that
computes is powered for the whole run); NoP energy can be zero (one chiplet). EDP >= their
product; throughput <= tokens over the latency bound. With several request batches, each bound
is the mean of the per-batch bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xcompass.engine.context import EvalContext
from xcompass.engine.units import Units
from xcompass.search.method import Done, Run
from xcompass.search.problem import SearchProblem


@dataclass(frozen=True)
class LowerBound:
    """Bounds on the mean over the training request batches."""

    latency_s: float
    energy_j: float
    edp_js: float
    throughput_tok_s: float  # an upper bound
    latency_parts_s: dict[str, float]  # work, chain, dram (latency_s is the largest)

    def objective(self, objective: str) -> float:
        """The bound on `objective`'s score (lower is better, throughput negative)."""
        return {
            "edp": self.edp_js,
            "pareto": self.edp_js,
            "latency": self.latency_s,
            "energy": self.energy_j,
            "throughput": -self.throughput_tok_s,
        }[objective]


def _valid_placements(ctx: EvalContext) -> np.ndarray:
    """[kind, TP option] pairs some placement group offers."""
    ut = ctx.ut
    ok = np.zeros((ut.time_stream.shape[2], ut.time_stream.shape[3]), dtype=bool)
    ok[ctx.groups.kind, ctx.groups.tp_index] = True
    return ok


def longest_path(units: Units, t: np.ndarray) -> np.ndarray:
    """[B]: the longest chain of unit times t [B, U] along the unit DAG (units are in a
    topological order; a layer chain gives the sum)."""
    finish = np.zeros_like(t)
    for u in range(units.count):
        preds = units.preds(u)
        ready = finish[:, preds].max(axis=1) if len(preds) else 0.0
        finish[:, u] = ready + t[:, u]
    return finish.max(axis=1) if units.count else np.zeros(len(t))


def context_bound(ctx: EvalContext) -> tuple[float, float, dict[str, float]]:
    """Latency and energy bounds for one request batch: (latency, energy, latency parts),
    over the context's units (layers, kernels or tiles) and their cost rows."""
    ut, target = ctx.ut, ctx.target
    rows = ctx.units.row
    tp = np.array(ctx.table.tp_options, dtype=float)[None, None, None, :]
    fits = np.transpose(ut.fits_sram, (1, 0, 2))[None]  # [1, R, K, T]
    # a TP placement's all-reduces are part of its time and energy wherever it runs
    ar = ctx.unit_ar_time[:, :, None, :]  # [B, R, 1, T]
    t_min = np.minimum(ut.time_resident, ut.time_stream) + ar
    # a placement is possible where some group offers it and the unit runs there (finite time)
    ok = _valid_placements(ctx)[None, None] & np.isfinite(t_min[:, rows])  # [B, U, K, T]

    def per_unit(a: np.ndarray) -> np.ndarray:  # [B, R, K, T] -> [B, U, K, T]
        return a[:, rows]

    t_node = np.where(ok, per_unit(t_min), np.inf)
    chain = float(longest_path(ctx.units, t_node.min(axis=(2, 3))).max())
    work = float(np.where(ok, per_unit(t_min) * tp, np.inf).min(axis=(2, 3)).sum())
    work /= target.chiplets
    resident_bytes = np.where(fits, ut.dram_resident, ut.dram_stream) * tp
    node_bytes = np.where(ok, per_unit(resident_bytes), np.inf).min(axis=(2, 3))  # [B, U]
    stream_bytes = np.where(ok, per_unit(ut.dram_stream * tp), np.inf).min(axis=(2, 3))
    total_bytes = float(node_bytes.sum() + (stream_bytes - node_bytes).min(axis=0).sum())
    bandwidth = sum(d.bw_gbs for d in target.drams) * 1e9
    dram = total_bytes / bandwidth
    latency = max(work, chain, dram)
    pj_mac = np.array([k.pj_per_mac for k in target.kinds])[None, None, :, None]
    pj_sram = np.array([k.sram_pj_per_bit for k in target.kinds])[None, None, :, None]
    ar_e = ctx.unit_ar_bits[:, :, None, :] * ctx.pj_hop  # [B, R, 1, T]
    node_e = (tp * (ut.macs * pj_mac + ut.sram_bytes * 8.0 * pj_sram) + ar_e) * 1e-12
    dynamic = float(np.where(ok, per_unit(node_e), np.inf).min(axis=(2, 3)).sum())
    dynamic += total_bytes * 8.0 * min(d.pj_per_bit for d in target.drams) * 1e-12
    kinds = target.kind_of()
    static_w = np.array([target.kinds[k].static_w for k in kinds])
    idle_w = np.array([target.kinds[k].idle_w for k in kinds])
    # every chiplet draws at least its idle power for the whole run; a powered one draws
    # static - idle more, over the whole run, so at least over the time it computes: the
    # powered chiplets' extra is at least (static - idle) x the work's chiplet-seconds
    busy = max(latency, work * target.chiplets)
    static = latency * idle_w.sum() + float((static_w - idle_w).min()) * busy
    parts = {"work": work, "chain": chain, "dram": dram}
    return latency, dynamic + static, parts


def lower_bound(problem: SearchProblem) -> LowerBound:
    """The bound for the problem's training request batches (see the module docstring)."""
    runs = [context_bound(ctx) for ctx in problem.train]
    lat = np.array([r[0] for r in runs])
    energy = np.array([r[1] for r in runs])
    parts = {k: float(np.mean([r[2][k] for r in runs])) for k in runs[0][2]}
    return LowerBound(
        latency_s=float(lat.mean()),
        energy_j=float(energy.mean()),
        edp_js=float((lat * energy).mean()),
        throughput_tok_s=float((problem.tokens / lat).mean()),
        latency_parts_s=parts,
    )


class Bound:
    """The bound as a study method (`xcompass.search.registry`): no mapping, no spend."""

    def start(self, run: Run) -> Done:
        return Done(lower_bound(run.problem))
