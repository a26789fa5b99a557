"""The Gantt chart of a report: one row per chiplet that runs a task (tasks coloured by
micro-batch, labelled with their layers), then one row per DRAM channel (the share of its
bandwidth in use). Drawn with matplotlib's object API on the Agg canvas (no pyplot, no
display needed)."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from xcompass.viz.dram import dram_usage
from xcompass.viz.style import figure, ink, microbatch_colors, save


def _label(layers: list[int]) -> str:
    lo, hi = layers
    return f"L{lo}" if hi - lo == 1 else f"L{lo}-{hi - 1}"


def task_labels(report: dict[str, Any]) -> list[str]:
    """A label per task: its layers; at group / tile granularity (every task one layer or
    two) the kernels it runs instead, from per_kernel (which lists the tasks in the same
    order), e.g. 'L0 q+k+v' or 'L1 attn..down'."""
    tasks = report["per_task"]
    labels = [_label(t["layers"]) if "layers" in t else "" for t in tasks]
    if {tuple(t.get("layers", ())) for t in tasks} == {(0, 1)}:
        labels = [""] * len(tasks)  # a one-layer model: 'L0' everywhere says nothing
    base = list(labels)
    kernels = report.get("per_kernel") or []
    if "units" not in report or len(kernels) != len(tasks):
        return labels
    for i, (t, k) in enumerate(zip(tasks, kernels, strict=True)):
        if k.get("microbatch") != t["microbatch"] or k.get("units") != t.get("units"):
            return base  # not the same tasks: layers only
        names = list(dict.fromkeys(x.get("name", "?") for x in k.get("kernels") or []))
        if names:
            what = names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"
            labels[i] = f"{labels[i]} {what}".strip()
    return labels


def draw_gantt(report: dict[str, Any], stem: str) -> list[str]:
    """Write `stem`.png and `stem`.svg; return their paths."""
    return save(gantt_figure(report), stem)


def gantt_figure(report: dict[str, Any]) -> Figure:
    """The chart as a Figure (on an Agg canvas), for `draw_gantt` and the tests. A task's label
    is drawn only where it fits inside its bar (measured, not guessed)."""
    tasks = report["per_task"]
    busy = sorted({c for t in tasks for c in t["chiplets"]})
    layout = report.get("layout")
    streams = (report.get("activity") or {}).get("dram_streams", [])
    channels = sorted({s[2] for s in streams}) if layout else []
    rows = len(busy) + len(channels)
    names = sorted({t["microbatch"] for t in tasks}, key=lambda s: (len(s), s))
    colors = microbatch_colors(names)
    legend_rows = -(-len(set(colors.values())) // 8)
    pad = 6 + 12 * legend_rows  # points between the axes and the title: the legend sits there
    top = 0.3 + (pad + 12) / 72
    fig = figure(10.5, 0.65 + top + 0.28 * max(rows, 3), margins=(1.35, 0.25, top, 0.5))
    ax = fig.add_subplot(1, 1, 1)
    scale = 1e3  # ms
    row_of = {c: i for i, c in enumerate(busy)}
    latency = report["latency_s"] * scale
    ax.set_xlim(0, latency * 1.01)
    ax.set_ylim(rows - 0.5, -0.6)
    renderer = fig.canvas.get_renderer()
    bars: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for i, (t, label) in enumerate(zip(tasks, task_labels(report), strict=True)):
        start, width = t["start_s"] * scale, (t["end_s"] - t["start_s"]) * scale
        for c in t["chiplets"]:
            bars.setdefault((row_of[c], t["microbatch"]), []).append((start, width))
            if c == t["chiplets"][0] and label and width > latency * 0.02:  # one per task
                text = ax.text(
                    start + width / 2,
                    row_of[c],
                    label,
                    ha="center",
                    va="center",
                    fontsize=6,
                    color=ink(colors[t["microbatch"]]),
                    clip_on=True,
                    gid=f"task{i}",
                )
                box = text.get_window_extent(renderer)
                bar = ax.transData.transform([(start, 0), (start + width, 0)])
                if box.width > 0.92 * (bar[1][0] - bar[0][0]):
                    text.remove()
    for (y, mb), spans in bars.items():  # one collection per row and micro-batch: fast
        ax.broken_barh(
            spans, (y - 0.4, 0.8), facecolors=colors[mb], edgecolor="white", linewidth=0.4
        )
    labels = [f"chiplet {c} ({report['per_chiplet'][c]['kind']})" for c in busy]
    for j, ch in enumerate(channels):
        y = len(busy) + j
        times, share = dram_usage(streams, ch)
        if len(times):
            ax.fill_between(
                times * scale,
                y + 0.4,
                y + 0.4 - 0.8 * share,
                step="post",
                color="0.45",
                linewidth=0,
            )
        ax.axhline(y + 0.4, color="0.8", linewidth=0.5)
        labels.append(f"DRAM {layout['channels'][ch]['name']}")
    ax.set_yticks(range(rows))
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("time (ms)")
    idle = len(report["per_chiplet"]) - len(busy)
    ax.set_title(
        f"{report['model']} on {report['target']}: {latency:.2f} ms, {report['energy_j']:.3g} J"
        + (f"  ({idle} chiplets idle, power-gated)" if idle else ""),
        fontsize=9,
        pad=pad,
    )
    # colours repeat after the palette: one legend entry per colour, naming all its batches
    shared: dict[str, list[str]] = {}
    for n in names:
        shared.setdefault(colors[n], []).append(n)
    handles = [Patch(color=c, label=_names(ns)) for c, ns in shared.items()]
    ax.legend(
        handles=handles,
        fontsize=6,
        ncol=min(len(handles), 8),
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        frameon=False,
    )
    ax.grid(axis="x", color="0.9", linewidth=0.5)
    ax.set_axisbelow(True)
    return fig


def _names(names: list[str]) -> str:
    """mb0 or mb0, mb16 or mb0, mb16, ... (the batches one colour stands for)."""
    return ", ".join(names) if len(names) <= 2 else f"{names[0]}, {names[1]}, ..."
