"""The mapping drawn on the target: which chiplet runs what. A mesh is drawn as its grid
(chiplet c at column c % cols, row c // cols, as the schedule routes it); a switch-connected
node as its GPUs in a row under the switch. Each chiplet shows the layers and micro-batches it
runs, coloured by where in the model its layers sit (pipeline stage), outlined by chiplet kind;
idle chiplets are grey. Arrows are activations crossing the NoP, thicker when more micro-batches
take them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from matplotlib import colormaps
from matplotlib.patches import FancyArrowPatch, Rectangle

from xcompass.viz.style import figure, save

KIND_EDGES = ("#222222", "#c0392b", "#2471a3", "#7d3c98")
MAX_ARROWS = 24  # the busiest hand-offs; more only hide the chiplets


def wrap(text: str, width: int = 13, lines: int = 3) -> str:
    """Break a range list at commas so it fits in a chiplet's square."""
    out = [""]
    for part in text.split(","):
        piece = part if not out[-1] else f",{part}"
        if out[-1] and len(out[-1]) + len(piece) > width:
            out.append(part)
        else:
            out[-1] += piece
    return "\n".join(out[:lines]) + (",..." if len(out) > lines else "")


def ranges(values: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8'."""
    out, values = [], sorted(set(values))
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        out.append(f"{values[i]}" if i == j else f"{values[i]}-{values[j]}")
        i = j + 1
    return ",".join(out)


def chiplet_work(report: dict[str, Any]) -> dict[int, dict[str, set[int]]]:
    """Per chiplet: the layers and micro-batch indices it runs."""
    names = sorted({t["microbatch"] for t in report["per_task"]}, key=lambda s: (len(s), s))
    index = {n: i for i, n in enumerate(names)}
    work: dict[int, dict[str, set[int]]] = {}
    for t in report["per_task"]:
        for c in t["chiplets"]:
            w = work.setdefault(c, {"layers": set(), "mbs": set()})
            w["layers"].update(range(*t["layers"]))
            w["mbs"].add(index[t["microbatch"]])
    return work


def tp_groups(report: dict[str, Any]) -> list[tuple[int, ...]]:
    """The chiplet groups that run tensor-parallel tasks."""
    return sorted({tuple(t["chiplets"]) for t in report["per_task"] if len(t["chiplets"]) > 1})


def hand_offs(report: dict[str, Any]) -> Counter:
    """(from chiplet, to chiplet) -> micro-batches whose activation crosses there."""
    flows: Counter = Counter()
    by_mb: dict[str, list[dict[str, Any]]] = {}
    for t in report["per_task"]:
        by_mb.setdefault(t["microbatch"], []).append(t)
    for tasks in by_mb.values():
        tasks.sort(key=lambda t: t["layers"][0])
        for a, b in zip(tasks, tasks[1:], strict=False):
            if a["chiplets"][0] != b["chiplets"][0]:
                flows[(a["chiplets"][0], b["chiplets"][0])] += 1
    return flows


def _positions(
    layout: dict[str, Any], n: int
) -> tuple[dict[int, tuple[float, float]], float, float]:
    if layout["topology"] == "mesh":
        cols, rows = layout["dims"]
        return {c: (c % cols, rows - 1 - c // cols) for c in range(n)}, cols, rows
    per_row = n if n <= 8 else (n + 1) // 2
    rows = (n + per_row - 1) // per_row
    return {c: (c % per_row, rows - c // per_row) for c in range(n)}, per_row, rows + 1


def draw_layout(report: dict[str, Any], stem: str) -> list[str]:
    """Write `stem`.png and `stem`.svg; return their paths."""
    layout = report.get("layout") or {"topology": "switch", "dims": [len(report["per_chiplet"]), 1]}
    n = len(report["per_chiplet"])
    pos, width, height = _positions(layout, n)
    kinds = list(dict.fromkeys(c["kind"] for c in report["per_chiplet"]))
    work = chiplet_work(report)
    layers = max(report.get("layers", 1), 1)
    total_mbs = len({t["microbatch"] for t in report["per_task"]})
    cmap = colormaps["viridis"]
    fig = figure(
        max(4.5, 1.25 * width + 1.2), max(3.2, 1.1 * height + 1.3), margins=(0.1, 0.1, 0.6, 0.1)
    )
    ax = fig.add_subplot(1, 1, 1)
    size = 0.86
    for c in range(n):
        x, y = pos[c]
        kind = report["per_chiplet"][c]["kind"]
        edge = KIND_EDGES[kinds.index(kind) % len(KIND_EDGES)]
        w = work.get(c)
        if w:
            face = cmap(0.15 + 0.75 * (sum(w["layers"]) / len(w["layers"])) / layers)
            hatch = None
        else:
            face, hatch = "#eeeeee", "///"
        ax.add_patch(
            Rectangle(
                (x - size / 2, y - size / 2),
                size,
                size,
                facecolor=face,
                edgecolor=edge,
                linewidth=1.6,
                hatch=hatch,
            )
        )
        ax.text(
            x - size / 2 + 0.04,
            y + size / 2 - 0.05,
            f"{c}",
            fontsize=6,
            va="top",
            color="white" if w else "0.4",
        )
        if w:
            mbs = "all mb" if len(w["mbs"]) == total_mbs else f"mb {ranges(list(w['mbs']))}"
            text = f"{wrap('L' + ranges(list(w['layers'])))}\n{mbs}"
            ax.text(
                x, y - 0.05, text, ha="center", va="center", fontsize=6, color="white", wrap=True
            )
    for chips in tp_groups(report):  # a tensor-parallel group, outlined row by row
        rows: dict[float, list[float]] = {}
        for c in chips:
            rows.setdefault(pos[c][1], []).append(pos[c][0])
        pad = size / 2 + 0.06
        for y, xs in rows.items():
            ax.add_patch(
                Rectangle(
                    (min(xs) - pad, y - pad),
                    max(xs) - min(xs) + 2 * pad,
                    2 * pad,
                    facecolor="none",
                    edgecolor="0.3",
                    linestyle="--",
                    linewidth=0.8,
                )
            )
        y0, xs0 = min(rows.items())
        ax.text(
            max(xs0) + pad - 0.03,
            y0 - pad + 0.02,
            f"TP{len(chips)}",
            fontsize=5,
            ha="right",
            va="bottom",
            color="0.2",
        )
    flows = hand_offs(report)
    most = max(flows.values(), default=1)
    for (a, b), count in flows.most_common(MAX_ARROWS):
        (xa, ya), (xb, yb) = pos[a], pos[b]
        bend = 0.25 if layout["topology"] != "mesh" else 0.12
        ax.add_patch(
            FancyArrowPatch(
                (xa, ya),
                (xb, yb),
                arrowstyle="-|>",
                mutation_scale=8,
                connectionstyle=f"arc3,rad={bend}",
                color="#d35400",
                linewidth=0.6 + 2.4 * count / most,
                alpha=0.85,
                shrinkA=9,
                shrinkB=9,
            )
        )
    if layout["topology"] != "mesh":
        ax.add_patch(Rectangle((-0.45, -0.35), width - 0.1, 0.4, facecolor="0.85", edgecolor="0.5"))
        ax.text((width - 1) / 2, -0.15, "switch", ha="center", va="center", fontsize=7)
        for c in range(n):
            ax.plot([pos[c][0], pos[c][0]], [0.05, pos[c][1] - size / 2], color="0.6", lw=0.8)
    for i, kind in enumerate(kinds):
        ax.plot(
            [],
            [],
            "s",
            markerfacecolor="none",
            markeredgewidth=1.6,
            markersize=8,
            color=KIND_EDGES[i % len(KIND_EDGES)],
            label=kind,
        )
    ax.plot([], [], "s", color="#eeeeee", markersize=8, label="idle (power-gated)")
    ax.legend(
        fontsize=6,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=len(kinds) + 1,
        frameon=False,
    )
    ax.set_xlim(-0.6, width - 0.4)
    low = -0.6 if layout["topology"] != "mesh" else -0.6
    ax.set_ylim(low, height - 0.4)
    ax.set_aspect("equal")
    ax.axis("off")
    topo = (
        f"{layout['dims'][0]}x{layout['dims'][1]} mesh"
        if layout["topology"] == "mesh"
        else "switch"
    )
    ax.set_title(
        f"{report['model']} on {report['target']} ({topo}): colour = layers' depth, "
        "arrows = activations",
        fontsize=8,
        pad=14,
    )
    return save(fig, stem)
