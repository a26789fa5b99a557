"""The co-exploration's picture: each design's cost against its EDP (or goodput), the Pareto
front over (performance, cost, area) drawn out, the seed packages marked and named."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from xcompass.viz.style import figure, save

if TYPE_CHECKING:
    from xcompass.codesign.result import CodesignResult


def front_figure(result: CodesignResult):  # noqa: ANN201 (a matplotlib Figure)
    edp = result.objective == "edp"
    fig = figure(7.0, 4.6, (0.9, 0.25, 0.45, 0.6))
    ax = fig.add_subplot(1, 1, 1)

    def perf(p):  # noqa: ANN001, ANN202
        return p.edp_js if edp else p.goodput

    ok = [p for p in result.points if p.feasible]
    ax.scatter(
        [p.bill.total_usd for p in ok],
        [perf(p) for p in ok],
        s=14,
        color="0.7",
        label=f"design points ({len(ok)} mapped)",
        zorder=2,
    )
    front = result.front
    ax.scatter(
        [p.bill.total_usd for p in front],
        [perf(p) for p in front],
        s=26,
        color="#4e79a7",
        label="Pareto front (performance, cost, area)",
        zorder=3,
    )
    best = result.best(1)
    if best:
        b = best[0]
        merit = "EDP x cost" if edp else "goodput per $"
        ax.scatter(
            [b.bill.total_usd],
            [perf(b)],
            s=90,
            facecolor="none",
            edgecolor="#4e79a7",
            linewidth=1.5,
            label=f"best {merit}: {b.name}",
            zorder=4,
        )
    for i, s in enumerate(p for p in result.seeds if p.feasible):
        color = ("#e15759", "#f28e2b", "#59a14f")[i % 3]
        where = "" if s.in_space else " (outside the space)"
        ax.scatter(
            [s.bill.total_usd],
            [perf(s)],
            marker="*",
            s=160,
            color=color,
            edgecolor="black",
            linewidth=0.5,
            label=f"seed {s.seed}{where}",
            zorder=5,
        )
    ax.set_xscale("log")
    if edp:
        ax.set_yscale("log")
    ax.set_xlabel("package cost (US$, recurring: dies, packaging, assembly yield, DRAM)")
    ax.set_ylabel("EDP of the best mapping (J s)" if edp else "goodput (req/s)")
    ax.set_title(
        f"{result.space.name}: {len(result.points)} design points on "
        f"{result.space.base_target.name}'s schema",
        fontsize=10,
    )
    ax.grid(color="0.92", linewidth=0.5)
    ax.legend(fontsize=7, loc="best")
    return fig


def front_picture(result: CodesignResult, out: str) -> list[str]:
    paths = save(front_figure(result), os.path.join(out, "front"))
    return [os.path.relpath(p, out) for p in paths]
