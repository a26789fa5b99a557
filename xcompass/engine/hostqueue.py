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

Within a row the kernels run in the lowered layer's order; a kernel of m launches (a MoE
layer's grouped GEMMs) is split into m equal parts, and each of the row's TP all-reduces is a
launch of its own after the row-parallel GEMM it reduces (any the kernels do not account for
go last). A row without per-kernel times (a hand-built table) is one launch.
"""

from __future__ import annotations

import numpy as np

from xcompass.engine.units import Units, UnitTable
from xcompass.layer.layercost import CostTable, kernels_of


def _excess(pieces: list[tuple[np.ndarray, int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(Q, host seconds to issue the row) of a row run as `pieces`, in order: (device time
    [B, K, T] of m launches, m, the host's seconds per launch [K, T]). Q = M - T = the largest
    (host time when launch k is issued - device time of the launches before k)."""
    host = 0.0  # issued so far [K, T]
    before = 0.0  # device time of the launches before [B, K, T]
    best = np.zeros(())
    for dur, m, hp in pieces:
        if m == 0:
            continue
        dur, hp = np.asarray(dur, dtype=float), np.asarray(hp, dtype=float)
        # host - device is linear in the launch index within a piece of equal launches
        first = host + hp - before
        last = host + m * hp - (before + (m - 1) * (dur / m))
        best = np.maximum(best, np.maximum(first, last))
        host = host + m * hp
        before = before + dur
    return best, np.asarray(host)


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
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(issue [R, K, TP] host seconds per unit, Q with streamed and resident weights [B, R, K,
    TP]) for units of `table`; `ar_one` [B, R, TP] the time of one all-reduce of each row,
    `launch_s` / `collective_s` [K] the host's seconds per kernel launch / per collective of
    each chiplet kind."""
    B, R, K, T = ut.time_stream.shape
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
                pieces: list[tuple[np.ndarray, int, np.ndarray]] = []
                left = n_ar
                for j in table.positions[r]:
                    pieces.append((times[:, j], kernels_of(kernels[j]), one))
                    for _ in range(min(_ar_after(kernels[j]), left)):
                        pieces.append(ar)
                        left -= 1
                pieces += [ar] * left
            else:
                row = ut.time_resident if res else ut.time_stream
                j = None if ut.kernel is None else int(ut.kernel[r])
                m = kernels_of(kernels[j]) if j is not None and kernels else 1
                pieces = [(row[:, r], m, one)] + [ar] * n_ar
            q[res][:, r], issue[r] = _excess(pieces)
    return issue, q[False], q[True]
