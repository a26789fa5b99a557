"""Eager mode's host queue, as numbers the schedule reads per unit row.

In eager mode a host thread issues every kernel (and every collective) one after another,
`launch_us` apart (`ChipletKind.launch_us`, the host's cost per launch, measured per machine);
the device drains them in order. A kernel starts when the one before it has ended and it has
been issued; the host never waits for the device, so on a long kernel it runs ahead and the
launches behind it are hidden. A unit of n launches with device times t_1..t_n (sum T), whose
host starts issuing it at H, on a device free from s, ends at

    max(s + T, H + M),  M = max_k (k * h + t_k + ... + t_n)

(kernel k is issued at H + k h and the kernels from k on run back to back after it). So the
unit runs as in graph mode once the host has reached `H + Q`, Q = M - T >= h: the schedule
starts a node at max(its graph-mode start, H + Q), H = the latest host clock among its
chiplets (`schedule_core.host_ready`), and then moves each member's host clock on by n h
(`issue`). A decode layer of short kernels is host-bound (n h), a long prefill kernel hides
the launches after it, and a chain of layers pays the launches only where the queue runs dry.

Within a row the kernels run in the lowered layer's order; a kernel of m launches is split
into m equal parts, and each of the row's TP all-reduces is a launch of its own after the
row-parallel GEMM it reduces (any the kernels do not account for go last). A MoE layer is
launched as PyTorch does: its routing's `moe_route_kernels` small kernels first (their device
time `routing_time`, the same count the device model charges a floor each), then its grouped
GEMMs and activation (`moecost.moe_launches`; the combine's few kernels after the experts are
issued with the routing, a simplification). A row without per-kernel times (a hand-built
table, or group and tile units) is `kernels_of` equal launches.
"""

from __future__ import annotations

import numpy as np

from xcompass.cost.moecost import moe_launches
from xcompass.engine.units import Units, UnitTable
from xcompass.hardware.targets import ChipletKind
from xcompass.layer.layercost import CostTable, kernels_of, moe_spec

Piece = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(device seconds [B, K, T] of m launches, m [K, 1] (a number per chiplet kind), the host's
seconds per launch [K, T])."""


def _excess(pieces: list[Piece] | list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    """(Q, host seconds to issue the row) of a row run as `pieces`, in order: (device time
    [B, K, T] of m launches, m (a number, or [K, 1] per chiplet kind), the host's seconds per
    launch [K, T]). Q = M - T = the largest (host time when launch k is issued - device time
    of the launches before k); a piece of no launches adds its device time to the one before."""
    host = 0.0  # issued so far [K, T]
    before = 0.0  # device time of the launches before [B, K, T]
    best = np.zeros(())
    for dur, m, hp in pieces:
        m = np.asarray(m, dtype=float)
        dur, hp = np.asarray(dur, dtype=float), np.asarray(hp, dtype=float)
        if m.any():
            # host - device is linear in the launch index within a piece of equal launches
            first = host + hp - before
            last = host + m * hp - (before + (m - 1) * (dur / np.maximum(m, 1.0)))
            best = np.maximum(best, np.where(m > 0, np.maximum(first, last), -np.inf))
        host = host + m * hp
        before = before + dur
    return best, np.asarray(host)


def _kernel_pieces(
    table: CostTable, j: int, times: np.ndarray, kinds: tuple[ChipletKind, ...], one: np.ndarray
) -> list[Piece]:
    """Kernel j of the table as launches: one piece of `kernels_of` equal launches, or a MoE
    layer's routing launches and then its experts' (`moe_launches` per chiplet kind)."""
    kernel, dur = table.kernels[j], times[:, j]
    spec = moe_spec(kernel)
    if spec is None or table.kernel_route_time is None:
        per_kind = [kernels_of(kernel, chip) for chip in kinds]
        return [(dur, np.array(per_kind, dtype=float)[:, None], one)]
    route, experts = np.array([moe_launches(chip, spec) for chip in kinds], dtype=float).T
    route_s = np.minimum(table.kernel_route_time[:, j, :, None], dur)  # [B, K, T]
    return [(route_s, route[:, None], one), (dur - route_s, experts[:, None], one)]


def _ar_after(kernel: object) -> int:
    """All-reduces a kernel's row-parallel GEMMs need under TP."""
    return sum(s.split == "k" for s in getattr(kernel, "contractions", ()))


def host_rows(
    table: CostTable,
    units: Units,
    ut: UnitTable,
    ar_one: np.ndarray,
    launch_s: np.ndarray,
    collective_s: np.ndarray,
    kinds: tuple[ChipletKind, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(issue [R, K, TP] host seconds per unit, Q with streamed and resident weights [B, R, K,
    TP]) for units of `table`; `ar_one` [B, R, TP] the time of one all-reduce of each row,
    `launch_s` / `collective_s` [K] the host's seconds per kernel launch / per collective of
    each chiplet kind, `kinds` the chiplet kinds (a MoE layer's routing launches are theirs;
    None: not counted)."""
    B, R, K, T = ut.time_stream.shape
    chips: tuple[ChipletKind | None, ...] = tuple(kinds) if kinds is not None else (None,) * K
    issue = np.zeros((R, K, T))
    q = {res: np.zeros((B, R, K, T)) for res in (False, True)}
    kernels = table.kernels
    one = np.broadcast_to(launch_s[:, None], (K, T))
    # a collective only where the TP option splits the row
    coll = collective_s[:, None] * (np.array(table.tp_options) > 1)[None, :]
    for r in range(R):
        n_ar = int(ut.allreduces[r])
        ar = (np.broadcast_to(ar_one[:, r, None, :], (B, K, T)), 1, coll)
        for res in (False, True):
            if units.granularity == "layer" and kernels and table.kernel_time is not None:
                times = table.kernel_time_resident if res else table.kernel_time
                pieces: list[tuple] = []
                left = n_ar
                for j in table.positions[r]:
                    pieces += _kernel_pieces(table, j, times, chips, one)
                    for _ in range(min(_ar_after(kernels[j]), left)):
                        pieces.append(ar)
                        left -= 1
                pieces += [ar] * left
            else:
                row = ut.time_resident if res else ut.time_stream
                j = None if ut.kernel is None else int(ut.kernel[r])
                m = [kernels_of(kernels[j], c) if j is not None and kernels else 1 for c in chips]
                pieces = [(row[:, r], np.array(m, dtype=float)[:, None], one)] + [ar] * n_ar
            q[res][:, r], issue[r] = _excess(pieces)
    return issue, q[False], q[True]
