"""The Gantt chart of a report: one row per chiplet that runs a task (tasks coloured by
micro-batch, labelled with their layers), then one row per DRAM channel (the share of its
bandwidth in use). Drawn with matplotlib's object API on the Agg canvas (no pyplot, no
display needed)."""

from __future__ import annotations

from typing import Any

from matplotlib.patches import Patch

from xcompass.explore.report_extra import dram_usage
from xcompass.viz.style import figure, microbatch_colors, save


def _label(layers: list[int]) -> str:
    lo, hi = layers
    return f"L{lo}" if hi - lo == 1 else f"L{lo}-{hi - 1}"


def draw_gantt(report: dict[str, Any], stem: str) -> list[str]:
    """Write `stem`.png and `stem`.svg; return their paths."""
    tasks = report["per_task"]
    busy = sorted({c for t in tasks for c in t["chiplets"]})
    layout = report.get("layout")
    streams = (report.get("activity") or {}).get("dram_streams", [])
    channels = sorted({s[2] for s in streams}) if layout else []
    rows = len(busy) + len(channels)
    fig = figure(10.5, 1.5 + 0.28 * max(rows, 3), margins=(1.35, 0.25, 0.85, 0.5))
    ax = fig.add_subplot(1, 1, 1)
    scale = 1e3  # ms
    names = sorted({t["microbatch"] for t in tasks}, key=lambda s: (len(s), s))
    colors = microbatch_colors(names)
    row_of = {c: i for i, c in enumerate(busy)}
    latency = report["latency_s"] * scale
    bars: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for t in tasks:
        start, width = t["start_s"] * scale, (t["end_s"] - t["start_s"]) * scale
        for c in t["chiplets"]:
            bars.setdefault((row_of[c], t["microbatch"]), []).append((start, width))
            if c == t["chiplets"][0] and width > latency * 0.04:  # one label per task
                ax.text(
                    start + width / 2,
                    row_of[c],
                    _label(t["layers"]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white",
                    clip_on=True,
                )
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
    ax.set_ylim(rows - 0.5, -0.6)
    ax.set_xlim(0, latency * 1.01)
    ax.set_xlabel("time (ms)")
    idle = len(report["per_chiplet"]) - len(busy)
    ax.set_title(
        f"{report['model']} on {report['target']}: {latency:.2f} ms, {report['energy_j']:.3g} J"
        + (f"  ({idle} chiplets idle, power-gated)" if idle else ""),
        fontsize=9,
        pad=16,
    )
    handles = [Patch(color=colors[n], label=n) for n in names]
    if len(names) <= 16:
        ax.legend(
            handles=handles,
            fontsize=6,
            ncol=min(len(names), 8),
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            frameon=False,
        )
    ax.grid(axis="x", color="0.9", linewidth=0.5)
    ax.set_axisbelow(True)
    return save(fig, stem)
