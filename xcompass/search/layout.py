"""A mapping in one line of words: what the results table prints beside "found", so a reader
learns what the layout *is* (pipeline stages, tensor-parallel groups, where the micro-batches
go; below a layer, where each kind of kernel runs) without opening the IR or the pictures.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from xcompass.engine.mapping import Groups, Mapping
from xcompass.engine.units import Units

MAX_LISTED = 3  # groups, ranges and placements listed by name; more are counted


def _ranges(items: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    out, start = [], None
    for i, x in enumerate(items):
        if start is None:
            start = x
        if i + 1 == len(items) or items[i + 1] != x + 1:
            out.append(f"{start}" if start == x else f"{start}-{x}")
            start = None
    return ", ".join(out)


def _runs(row: np.ndarray) -> list[tuple[int, int, int]]:
    """(first, last, group) of each run of equal placements along a row."""
    runs, lo = [], 0
    for i in range(1, len(row) + 1):
        if i == len(row) or row[i] != row[lo]:
            runs.append((lo, i - 1, int(row[lo])))
            lo = i
    return runs


def _tp_groups(used: set[int], groups: Groups) -> str:
    tps = Counter(int(groups.tp[g]) for g in used)
    parts = [f"{n} x TP{t}" for t, n in sorted(tps.items(), reverse=True) if t > 1]
    if not parts:
        return "no TP (one chiplet per node)"
    multi = sorted(
        (g for g in used if groups.tp[g] > 1), key=lambda g: (-groups.tp[g], groups.chips(g))
    )  # largest groups first, as counted
    shown = [_ranges(sorted(groups.chips(g))) for g in multi[:MAX_LISTED]]
    more = f", +{len(multi) - MAX_LISTED}" if len(multi) > MAX_LISTED else ""
    return f"TP groups {' + '.join(parts)} (chiplets {' | '.join(shown)}{more})"


def _microbatches(place: np.ndarray) -> str:
    B = place.shape[0]
    rows: dict[bytes, list[int]] = {}
    for b in range(B):
        rows.setdefault(place[b].tobytes(), []).append(b)
    if len(rows) == 1:
        return f"all {B} micro-batches on the same chiplets" if B > 1 else "1 micro-batch"
    if len(rows) == B:
        return f"each of the {B} micro-batches on its own placement"
    sets = list(rows.values())
    listed = " | ".join(_ranges(s) for s in sets[:MAX_LISTED])
    more = " | ..." if len(sets) > MAX_LISTED else ""
    return f"micro-batches on {len(sets)} placements ({listed}{more})"


def kernel_kind(name: str) -> str:
    """A unit's kind of kernel: 'layer3.gate+up+act+gated[0:128]' -> 'gate+up+act+gated',
    'layer0.attn.h5.r2' (a head and request-group tile) -> 'attn'."""
    kind = re.sub(r"\[.*\]$", "", name.split(".", 1)[-1].split(".")[0])
    return kind if len(kind) <= 18 else kind[:17] + "~"


def describe(mapping: Mapping, groups: Groups, units: Units | None = None) -> str:
    """One line: stages, TP groups, micro-batches, chiplets used (and per kernel kind below a
    layer)."""
    place = np.asarray(mapping.place)
    B, U = place.shape
    used = {int(g) for g in np.unique(place)}
    chips = sorted({c for g in used for c in groups.chips(g)})
    stages = [_runs(place[b]) for b in range(B)]
    most = max(len(s) for s in stages)
    if units is None:
        if most == 1:
            what = "1 pipeline stage"
        else:
            first = max(stages, key=len)
            cuts = " | ".join(f"{lo}-{hi}" if hi > lo else f"{lo}" for lo, hi, _ in first)
            what = f"{most} pipeline stages (layers {cuts})" if most <= 6 else f"{most} stages"
            if min(len(s) for s in stages) != most:
                what = "up to " + what
        parts = [what, _tp_groups(used, groups), _microbatches(place)]
    else:
        kinds: dict[str, set[int]] = {}
        for u, name in enumerate(units.names):
            kinds.setdefault(kernel_kind(name), set()).update(int(g) for g in place[:, u])
        per_kind = []
        for kind, gs in kinds.items():
            on = {c for g in gs for c in groups.chips(g)}
            tps = "/".join(f"TP{t}" for t in sorted({int(groups.tp[g]) for g in gs}))
            per_kind.append(f"{kind} on {len(on)} chiplet{'s' if len(on) > 1 else ''} ({tps})")
        parts = ["per kernel: " + ", ".join(per_kind), _microbatches(place)]
    parts.append(f"{len(chips)} of {groups.members.max() + 1} chiplets used")
    return "; ".join(parts)
