"""The convergence plot (each method's best objective against evaluations spent, with the
best standard strategy and the lower bound as lines) and the Pareto plot (the latency-energy
front with every baseline and the bound's corner).

Both keep their legend outside the axes (a legend inside covers the curves it explains), give
each method one colour and marker in both plots, and label a log axis in one plain style
(2, 5, 10, 20, ...) rather than matplotlib's mix of '10^1' and '6x10^0'. In the Pareto plot
only the front is filled; every other point is a hollow marker of its own shape and size, so
two methods at the same place both stay visible."""

from __future__ import annotations

import math
from typing import Any

from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

from xcompass.viz.style import figure, save

LABELS = {
    "ga": "GA",
    "nsga2": "NSGA-II (EDP)",
    "sa": "simulated annealing",
    "random": "random search",
    "standard": "best standard",
}
COLORS = {
    "ga": "#1f5fa8",
    "nsga2": "#1f5fa8",
    "sa": "#e07b00",
    "random": "#3a9a3a",
    "standard": "#555555",
}
MARKERS = {"sa": ("o", 10), "random": ("^", 8), "standard": ("s", 7)}  # hollow, own size
AXIS = {
    "edp": "EDP (J*s)",
    "latency": "latency (s)",
    "energy": "energy (J)",
    "throughput": "throughput (tokens/s)",
    "goodput": "goodput (requests/s)",
    "capacity": "capacity (requests/s)",
}
MAXIMIZED = ("throughput", "goodput", "capacity")  # their bound is an upper one
LOG_RATIO = 4.0  # a range wider than this goes on a log axis
LEGEND_IN = 2.1  # inches right of the axes for the legend


def nice_log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks covering [lo, hi], thinned to at most 8 (1, 10, 100... kept first)."""
    ticks = []
    for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**e
            if lo <= v <= hi:
                ticks.append(v)
    if len(ticks) > 8:
        decades = [v for v in ticks if math.isclose(math.log10(v) % 1, 0, abs_tol=1e-9)]
        ticks = decades if len(decades) >= 2 else ticks[:: math.ceil(len(ticks) / 8)]
    return ticks


def tick_text(values: list[float]) -> FuncFormatter:
    """One style for every label of an axis: plain ('0.05', '20') when every value reads so
    in at most 6 characters, else scientific ('5e-05') for all of them."""
    plain = all(len(f"{v:g}") <= 6 and "e" not in f"{v:g}" for v in values)
    return FuncFormatter(lambda v, _pos: f"{v:g}" if plain else f"{v:.0e}")


def tidy_log(axis: Axis, lo: float, hi: float) -> None:
    """Log axis with 1-2-5 ticks, all labelled in one style, no minor labels."""
    ticks = nice_log_ticks(lo, hi)
    if len(ticks) < 2:  # under one 1-2-5 step: the two ends, in the same style
        ticks = [lo, hi]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(tick_text(ticks))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def _outside_legend(ax: Axes) -> None:
    ax.legend(
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        frameon=False,
    )


def convergence_figure(report: dict[str, Any]) -> Figure:
    """The convergence plot as a Figure (on an Agg canvas), for `draw_convergence` and tests."""
    conv = report["convergence"]
    objective = conv.get("objective", "edp")
    sign = -1.0 if objective == "throughput" else 1.0  # scores of throughput are negative
    fig = figure(6.4 + LEGEND_IN, 3.6, margins=(0.8, LEGEND_IN + 0.1, 0.4, 0.55))
    ax = fig.add_subplot(1, 1, 1)
    shown: list[float] = []
    for name, points in (conv.get("methods") or {}).items():
        pts = [p for p in points or [] if p[1] == p[1] and math.isfinite(p[1])]
        if name == "standard" or not pts:
            continue
        xs = [p[0] for p in pts]
        ys = [sign * p[1] for p in pts]
        shown += ys
        ax.step(
            xs,
            ys,
            where="post",
            label=f"{LABELS.get(name, name)}: {ys[-1]:.4g}",
            color=COLORS.get(name, "#9467bd"),
            linewidth=1.5,
        )
    for value, style, label in (
        (conv.get("standard"), "--", "best standard"),
        (conv.get("lower_bound"), ":", "upper bound" if objective in MAXIMIZED else "lower bound"),
    ):
        if value is not None and math.isfinite(value):
            shown.append(sign * value)
            ax.axhline(
                sign * value,
                color="0.35",
                linestyle=style,
                linewidth=1,
                label=f"{label}: {sign * value:.4g}",
            )
    positive = [v for v in shown if v > 0]
    if positive and len(positive) == len(shown) and max(shown) / min(shown) > LOG_RATIO:
        lo, hi = min(shown) / 1.15, max(shown) * 1.15
        ax.set_yscale("log")  # random search starts an order of magnitude above the rest
        ax.set_ylim(lo, hi)
        tidy_log(ax.yaxis, lo, hi)
    ax.set_xlabel("evaluations")
    ax.set_ylabel(("best " if sign > 0 else "best ") + AXIS.get(objective, objective))
    ax.set_title(
        f"{report.get('model', '?')} on {report.get('target', '?')}: search convergence",
        fontsize=9,
    )
    _outside_legend(ax)
    ax.grid(color="0.92", linewidth=0.5)
    return fig


def draw_convergence(report: dict[str, Any], stem: str) -> list[str]:
    return save(convergence_figure(report), stem)


def _at(latency_ms: float, energy_j: float) -> str:
    return f"\n{latency_ms:.4g} ms, {energy_j:.3g} J"


def pareto_figure(report: dict[str, Any]) -> Figure:
    """The Pareto plot as a Figure (on an Agg canvas), for `draw_pareto` and tests."""
    front = [p for p in report.get("pareto") or [] if "latency_s" in p and "energy_j" in p]
    search = report.get("search") or {}
    fig = figure(6.0 + LEGEND_IN, 4.0, margins=(0.8, LEGEND_IN + 0.1, 0.4, 0.55))
    ax = fig.add_subplot(1, 1, 1)
    xs: list[float] = []
    ys: list[float] = []
    if front:
        fx = [p["latency_s"] * 1e3 for p in front]
        fy = [p["energy_j"] for p in front]
        xs += fx
        ys += fy
        ax.plot(
            fx,
            fy,
            "o-",
            color=COLORS["nsga2"],
            markersize=3.5,
            linewidth=1.2,
            label=f"Pareto front ({len(front)} points)",
            zorder=2,
        )
    if "latency_s" in report and "energy_j" in report:
        x, y = report["latency_s"] * 1e3, report["energy_j"]
        xs.append(x)
        ys.append(y)
        ax.plot(
            x, y, "*", markersize=15, markerfacecolor="none", markeredgewidth=1.3,
            color="#b8860b", label=f"the answer (lowest EDP){_at(x, y)}", zorder=4,
        )  # fmt: skip
    for name, m in (search.get("methods") or {}).items():
        if name == search.get("searched") or "latency_s" not in m:
            continue
        marker, size = MARKERS.get(name, ("D", 6))
        x, y = m["latency_s"] * 1e3, m["energy_j"]
        xs.append(x)
        ys.append(y)
        ax.plot(
            x, y, marker, markersize=size, markerfacecolor="none", markeredgewidth=1.5,
            color=COLORS.get(name, "#9467bd"), label=f"{LABELS.get(name, name)}{_at(x, y)}",
            zorder=3,
        )  # fmt: skip
    b = search.get("lower_bound") or {}
    if "latency_s" in b and "energy_j" in b:
        xs.append(b["latency_s"] * 1e3)
        ys.append(b["energy_j"])
        ax.plot(
            b["latency_s"] * 1e3, b["energy_j"], "x", color="0.2", markersize=8,
            label=f"lower bound{_at(b['latency_s'] * 1e3, b['energy_j'])}", zorder=3,
        )  # fmt: skip
    for values, axis, setter in ((xs, ax.xaxis, ax.set_xscale), (ys, ax.yaxis, ax.set_yscale)):
        if values and min(values) > 0 and max(values) / min(values) > LOG_RATIO:
            setter("log")  # random search far out would squeeze the front into a corner
            tidy_log(axis, min(values) / 1.1, max(values) * 1.1)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("energy (J)")
    ax.set_title(
        f"{report.get('model', '?')} on {report.get('target', '?')}: latency-energy front",
        fontsize=9,
    )
    _outside_legend(ax)
    ax.grid(color="0.92", linewidth=0.5)
    return fig


def draw_pareto(report: dict[str, Any], stem: str) -> list[str]:
    return save(pareto_figure(report), stem)
