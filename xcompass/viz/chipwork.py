"""What each chiplet runs, read from a mapping report (its tasks, units, kernel kinds, TP
groups and hand-offs), and the words that say it in the layout picture (`layout`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

SHORT_KIND = {"attention": "attn", "eltwise": "elt"}


def wrap(text: str, width: int = 18, lines: int = 2) -> str:
    """Break a range list at commas so it fits in a chiplet's square: at most `lines` lines
    of at most `width` characters, ',...' (inside the width) where the list goes on."""
    out = [""]
    for part in text.split(","):
        piece = part if not out[-1] else f",{part}"
        if out[-1] and len(out[-1]) + len(piece) > width:
            out.append(part)
        else:
            out[-1] += piece
    if len(out) > lines:
        out = out[:lines]
        last = out[-1].split(",")
        while len(last) > 1 and len(",".join(last)) + 4 > width:
            last.pop()
        out[-1] = ",".join(last) + ",..."
    return "\n".join(out)


def ranges(values: list[int] | set[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8'."""
    out, vals = [], sorted(set(values))
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        out.append(f"{vals[i]}" if i == j else f"{vals[i]}-{vals[j]}")
        i = j + 1
    return ",".join(out)


def _span(task: dict[str, Any], key: str) -> range:
    lo, hi = (task.get(key) or [0, 0])[:2]
    return range(int(lo), int(hi))


def microbatch_names(report: dict[str, Any]) -> list[str]:
    """mb0, mb1, ..., mb10 in numeric order (the report's own names)."""
    return sorted({t["microbatch"] for t in report["per_task"]}, key=lambda s: (len(s), s))


def unit_key(report: dict[str, Any]) -> str:
    """What a task's range counts: 'units' at group / tile granularity, else 'layers'."""
    tasks = report["per_task"]
    return "units" if tasks and all("units" in t for t in tasks) else "layers"


def total_units(report: dict[str, Any], key: str) -> int:
    """How many layers (units) one micro-batch runs: the report's count, else the tasks'."""
    value = report.get(key)
    if isinstance(value, int) and value > 0:
        return value
    return max((_span(t, key).stop for t in report["per_task"]), default=1) or 1


def chiplet_work(report: dict[str, Any]) -> dict[int, dict[str, set[int]]]:
    """Per chiplet: the layers, units (when the report has them) and micro-batch indices it
    runs."""
    index = {n: i for i, n in enumerate(microbatch_names(report))}
    work: dict[int, dict[str, set[int]]] = {}
    for t in report["per_task"]:
        for c in t["chiplets"]:
            w = work.setdefault(c, {"layers": set(), "units": set(), "mbs": set()})
            w["layers"].update(_span(t, "layers"))
            w["units"].update(_span(t, "units"))
            w["mbs"].add(index[t["microbatch"]])
    return work


def kind_times(report: dict[str, Any], field: str = "kind") -> dict[int, Counter]:
    """Per chiplet: kernel time by kernel kind (gemm, attention, ...) or, with
    field="name", by kernel (q+k+v, attn, ...), from per_kernel."""
    out: dict[int, Counter] = defaultdict(Counter)
    for entry in report.get("per_kernel") or []:
        for k in entry.get("kernels") or []:
            spent = float(k.get("launches", 1) or 0) * float(k.get("time_s", 0.0) or 0.0)
            for c in entry.get("chiplets") or []:
                out[c][k.get(field, "?")] += spent
    return out


def tp_groups(report: dict[str, Any]) -> list[tuple[int, ...]]:
    """The chiplet groups that run tensor-parallel tasks."""
    return sorted({tuple(t["chiplets"]) for t in report["per_task"] if len(t["chiplets"]) > 1})


def hand_offs(report: dict[str, Any]) -> Counter:
    """(from group, to group) -> micro-batches whose activation goes from a task on the first
    chiplet group to the next task of the same micro-batch on the second."""
    key = unit_key(report)
    flows: Counter = Counter()
    by_mb: dict[str, list[dict[str, Any]]] = {}
    for t in report["per_task"]:
        by_mb.setdefault(t["microbatch"], []).append(t)
    for tasks in by_mb.values():
        tasks.sort(key=lambda t: (_span(t, key).start, t.get("start_s", 0.0)))
        for a, b in zip(tasks, tasks[1:], strict=False):
            if tuple(a["chiplets"]) != tuple(b["chiplets"]):
                flows[(tuple(a["chiplets"]), tuple(b["chiplets"]))] += 1
    return flows


def chiplet_text(
    w: dict[str, set[int]],
    key: str,
    units: int,
    mbs: int,
    kinds: Counter | None,
    names: Counter | None = None,
) -> str:
    """The words in a chiplet's square: layers (and units), what it runs, micro-batches.
    What it runs: the kernels by name where there are one or two (a unit-granularity chiplet
    often holds a share of one kernel: 'runs down'), else kernel kinds by share of its
    kernel time ('gemm 93%, attn 6%')."""
    lines = [wrap("L" + ranges(w["layers"]))] if w["layers"] else []
    if key == "units":
        lines.append(f"{len(w['units'])} of {units} units")
        total = sum(kinds.values()) if kinds else 0.0
        named = [n for n, _ in names.most_common()] if names else []
        if 0 < len(named) <= 2 and len(", ".join(named)) <= 13:
            lines.append("runs " + ", ".join(named))
        elif total > 0:
            top = kinds.most_common()
            parts = [f"{SHORT_KIND.get(k, k)} {100 * v / total:.0f}%" for k, v in top[:2]]
            lines.append(", ".join(parts))
    if len(w["mbs"]) == mbs:
        lines.append(f"all {mbs} mb")
    else:
        # two lines of micro-batches where the layers leave room (not beside units and kinds)
        count = f" ({len(w['mbs'])}/{mbs})"
        listed = wrap(f"mb {ranges(w['mbs'])}", lines=1 if key == "units" else 2).split("\n")
        if len(listed[-1]) + len(count) > 18:
            listed[-1] = wrap(listed[-1], width=18 - len(count), lines=1)
        lines += listed[:-1] + [listed[-1] + count]
    return "\n".join(lines)
