"""The mapping drawn on the target: which chiplet runs what. A mesh is drawn as its grid
(chiplet c at column c % cols, row c // cols, as the schedule routes it); a switch-connected
node as its GPUs in a row above the switch.

Each chiplet is filled by how busy it is (share of the latency, with a colour bar), outlined
by chiplet kind, and says in words what it runs: its layers (at group / tile granularity also
how many of the units, and which kernel kinds by time), and which micro-batches. A strip along
its bottom shows where in the model its work sits, so pipeline stages read at a glance. Idle
chiplets are hatched grey. Tensor-parallel groups are dashed outlines, one colour per group,
with a tag in every member. Arrows are activations handed from one task group to the next,
thicker when more micro-batches take them; the figure's limits are computed from the arrows'
curves, so none leaves the picture. Where things go (positions, arrows, TP nesting and
colours) is `xcompass.viz.layout_geometry`; this module draws."""

from __future__ import annotations

from typing import Any

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle
from matplotlib.patheffects import withStroke

from xcompass.viz.chipwork import (
    chiplet_text,
    chiplet_work,
    kind_times,
    microbatch_names,
    ranges,
    total_units,
    tp_groups,
    unit_key,
)
from xcompass.viz.layout_geometry import SIZE, Arrow, arrows, group_colors, nesting, positions
from xcompass.viz.style import ink, save

KIND_EDGES = ("#222222", "#c0392b", "#2471a3", "#7d3c98")
ARROW_COLOR = "#d35400"
CMAP = "YlGnBu"
SCALE = 1.2  # inches per pitch


def layout_figure(report: dict[str, Any]) -> Figure:
    """The picture as a Figure (on an Agg canvas), for `draw_layout` and the tests."""
    n = len(report["per_chiplet"])
    layout = report.get("layout") or {}
    switch = layout.get("topology") != "mesh"
    pos = positions(layout, n)
    kinds = list(dict.fromkeys(c.get("kind", "?") for c in report["per_chiplet"]))
    key = unit_key(report)
    units = total_units(report, key)
    work = chiplet_work(report)
    by_kind = kind_times(report)
    by_name = kind_times(report, "name")
    mb_names = microbatch_names(report)
    latency = float(report.get("latency_s") or 0.0)
    groups = tp_groups(report)
    nest = nesting(groups)
    drawn, flows = arrows(report, pos, switch)

    # the data limits: every square, every arrow's curve, the switch under everything
    half = SIZE / 2
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    xlo, xhi = min(xs) - half - 0.14, max(xs) + half + 0.14
    ylo, yhi = min(ys) - half - 0.14, max(ys) + half + 0.14
    for a in drawn:
        bx, by = a.bulge()
        xlo, xhi = min(xlo, bx - 0.2), max(xhi, bx + 0.2)
        ylo, yhi = min(ylo, by - 0.2), max(yhi, by + 0.2)
    switch_top = ylo - 0.25
    if switch:
        ylo = switch_top - 0.45
    width_in = (xhi - xlo) * SCALE
    minimum = 7.0  # room for the title and the key
    if width_in < minimum:
        grow = (minimum - width_in) / SCALE / 2
        xlo, xhi, width_in = xlo - grow, xhi + grow, minimum
    height_in = (yhi - ylo) * SCALE
    left, right, top, bottom = 0.1, 1.25, 0.95, 0.1
    fig_w, fig_h = width_in + left + right, height_in + top + bottom
    fig = Figure(figsize=(fig_w, fig_h), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((left / fig_w, bottom / fig_h, width_in / fig_w, height_in / fig_h))
    ax.set_xlim(xlo, xhi)
    ax.set_ylim(ylo, yhi)
    ax.set_aspect("equal")
    ax.axis("off")

    cmap = colormaps[CMAP]
    norm = Normalize(0, 100)
    for c in range(n):
        x, y = pos[c]
        chip = report["per_chiplet"][c]
        edge = KIND_EDGES[kinds.index(chip.get("kind", "?")) % len(KIND_EDGES)]
        w = work.get(c)
        busy = 100 * float(chip.get("busy_s", 0.0)) / latency if latency > 0 else 0.0
        face = cmap(norm(busy)) if w else "#f2f2f2"
        text_ink = ink(face) if w else "0.35"
        ax.add_patch(
            Rectangle(
                (x - half, y - half),
                SIZE,
                SIZE,
                facecolor=face,
                edgecolor=edge,
                linewidth=1.6,
                hatch=None if w else "///",
                zorder=1,
                gid=f"chiplet{c}",
            )
        )
        ax.text(
            x - half + 0.05, y + half - 0.05, f"{c}", fontsize=6, va="top", color=text_ink, zorder=5
        )
        if not w:
            ax.text(
                x, y, "idle", ha="center", va="center", fontsize=6, color="0.35", zorder=5,
                gid=f"chiplet{c}-idle",
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "#f2f2f2", "edgecolor": "none"},
            )  # fmt: skip
            continue
        text = chiplet_text(w, key, units, len(mb_names), by_kind.get(c), by_name.get(c))
        ax.text(
            x,
            y + 0.02,
            text,
            ha="center",
            va="center",
            fontsize=6,
            color=text_ink,
            linespacing=1.25,
            zorder=5,
            gid=f"chiplet{c}-work",
            path_effects=[withStroke(linewidth=2, foreground=face)],
        )
        _coverage(ax, x, y, w["units" if key == "units" else "layers"], units)
    _tp_outlines(ax, fig, pos, groups, nest)
    most = max((a.count for a in drawn), default=1)
    for a in drawn:
        ax.add_patch(
            FancyArrowPatch(
                a.start,
                a.end,
                arrowstyle="-|>",
                mutation_scale=9,
                connectionstyle=f"arc3,rad={a.rad}",
                color=ARROW_COLOR,
                linewidth=0.6 + 2.4 * a.count / most,
                alpha=0.8,
                shrinkA=6,
                shrinkB=6,
                zorder=3,
                gid="handoff",
            )
        )
    if switch:
        ax.add_patch(
            Rectangle(
                (min(xs) - half, switch_top - 0.35),
                max(xs) - min(xs) + SIZE,
                0.35,
                facecolor="0.85",
                edgecolor="0.5",
                zorder=1,
            )
        )
        ax.text(
            (min(xs) + max(xs)) / 2, switch_top - 0.175, "switch", ha="center", va="center",
            fontsize=7, zorder=5,
        )  # fmt: skip
        for c in range(n):
            ax.plot([pos[c][0]] * 2, [switch_top, pos[c][1] - half], color="0.7", lw=0.8, zorder=0)
    _key(fig, ax, report, layout, kinds, key, drawn, flows, bool(groups), len(work) < n)
    cax = fig.add_axes(
        (
            (left + width_in + 0.3) / fig_w,
            (bottom + 0.1 * height_in) / fig_h,
            0.14 / fig_w,
            0.8 * height_in / fig_h,
        )
    )
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax)
    bar.set_label("busy, % of latency", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    return fig


def _coverage(ax: Axes, x: float, y: float, spans: set[int], total: int) -> None:
    """A strip along the square's bottom: the model's layers (units) left to right, the ones
    this chiplet runs dark."""
    x0, y0, w, h = x - SIZE / 2 + 0.06, y - SIZE / 2 + 0.05, SIZE - 0.12, 0.07
    ax.add_patch(
        Rectangle((x0, y0), w, h, facecolor="white", edgecolor="0.3", linewidth=0.4, zorder=2)
    )
    for run in ranges(spans).split(","):
        if not run:
            continue
        lo, _, hi = run.partition("-")
        a, b = int(lo), int(hi or lo) + 1
        ax.add_patch(
            Rectangle(
                (x0 + w * a / total, y0),
                w * (b - a) / total,
                h,
                facecolor="0.15",
                linewidth=0,
                zorder=2,
            )
        )


def _tp_outlines(
    ax: Axes,
    fig: Figure,
    pos: dict[int, tuple[float, float]],
    groups: list[tuple[int, ...]],
    nest: dict[tuple[int, ...], int],
) -> None:
    """Each TP group: a dashed outline per mesh row in the group's colour (nested groups a
    little further out), and a `TPn` tag in the colour inside every member, right-aligned
    from the top-right corner so tags of several groups sit side by side."""
    renderer = fig.canvas.get_renderer()
    right_edge: dict[int, float] = {}
    inv = ax.transData.inverted()
    colors = group_colors(groups, pos)
    for g in groups:
        color = colors[g]
        pad = SIZE / 2 + 0.025 + 0.025 * min(nest[g], 1)
        rows: dict[float, list[float]] = {}
        for c in g:
            rows.setdefault(pos[c][1], []).append(pos[c][0])
        for y, xs in rows.items():
            ax.add_patch(
                Rectangle(
                    (min(xs) - pad, y - pad),
                    max(xs) - min(xs) + 2 * pad,
                    2 * pad,
                    facecolor="none",
                    edgecolor=color,
                    linestyle=(0, (3, 2)),
                    linewidth=1.0,
                    zorder=4,
                )
            )
        for c in g:
            x, y = pos[c]
            tx = right_edge.get(c, x + SIZE / 2 - 0.04)
            tag = ax.text(
                tx,
                y + SIZE / 2 - 0.04,
                f"TP{len(g)}",
                fontsize=5.5,
                ha="right",
                va="top",
                color=color,
                fontweight="bold",
                gid=f"chiplet{c}-tp",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": color,
                      "linewidth": 0.6},
                zorder=6,
            )  # fmt: skip
            box = tag.get_window_extent(renderer).transformed(inv)
            right_edge[c] = box.x0 - 0.06


def _key(
    fig: Figure,
    ax: Axes,
    report: dict[str, Any],
    layout: dict[str, Any],
    kinds: list[str],
    key: str,
    drawn: list[Arrow],
    flows: int,
    tp: bool,
    idle: bool,
) -> None:
    """The title and, under it, what every mark means."""
    dims = layout.get("dims") or []
    topo = f"{dims[0]}x{dims[1]} mesh" if layout.get("topology") == "mesh" else "switch"
    grain = report.get("granularity", key.rstrip("s"))
    fig.suptitle(
        f"{report.get('model', '?')} on {report.get('target', '?')} ({topo}), "
        f"{grain} granularity: where each micro-batch's work runs",
        fontsize=9,
        y=1 - 0.12 / fig.get_figheight(),
        va="top",
    )
    handles: list[Any] = [
        Patch(facecolor="none", edgecolor=KIND_EDGES[i % len(KIND_EDGES)], lw=1.6, label=k)
        for i, k in enumerate(kinds)
    ]
    if idle:
        handles.append(Patch(facecolor="#f2f2f2", edgecolor="0.5", hatch="///", label="idle"))
    if tp:
        handles.append(
            Patch(
                facecolor="none", edgecolor="0.3", linestyle=(0, (3, 2)),
                label="TP group (a colour each)",
            )
        )  # fmt: skip
    strip = "units" if key == "units" else "layers"
    handles.append(Patch(facecolor="0.15", edgecolor="0.3", label=f"bottom strip: {strip} run"))
    if drawn:
        shown = f"{len(drawn)} busiest of {flows}" if flows > len(drawn) else "all"
        handles.append(
            Line2D(
                [], [], color=ARROW_COLOR, lw=2,
                label=f"activation hand-off, width = micro-batches ({shown})",
            )
        )  # fmt: skip
    fig.legend(
        handles=handles,
        fontsize=6.5,
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - 0.38 / fig.get_figheight()),
        ncol=(len(handles) + 1) // 2 if len(handles) > 4 else len(handles),
        frameon=False,
        handlelength=1.6,
        columnspacing=1.2,
    )


def draw_layout(report: dict[str, Any], stem: str) -> list[str]:
    """Write `stem`.png and `stem`.svg; return their paths."""
    return save(layout_figure(report), stem)
