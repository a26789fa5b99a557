"""The pictures, checked for what a reader sees: no two labels overlap (text boxes measured by
the Agg renderer), every label inside what it labels, every arrow inside the axes, a colour bar
whose colours follow the numbers, legends beside the curves rather than on them, one tick style
per axis, and no marker hidden under another. Real reports from small searches (layer, switch,
group, tile, Pareto) and built ones that force the hard cases (nested TP groups, a TP2 beside a
TP4, far hand-offs on a switch, two baselines at the same point)."""

from __future__ import annotations

import re
from functools import cache
from itertools import combinations
from typing import Any

import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from xcompass.explore import SearchSettings, explore
from xcompass.explore.outputs import draw_pictures
from xcompass.viz.chipwork import hand_offs
from xcompass.viz.gantt import gantt_figure
from xcompass.viz.layout import layout_figure
from xcompass.viz.plots import convergence_figure, pareto_figure

TINY = SearchSettings(population=8, generations=2, seed=0)
RUNS = {
    "layer": dict(model="llama3-8b", target="compass-het-36", layers=4, microbatches=4),
    "switch": dict(model="llama3-8b", target="dgx-h100x8", layers=4, microbatches=4),
    "group": dict(
        model="gpt3-7b",
        workload="prefill:32x4,decode:433x12",
        target="simba-36",
        layers=2,
        microbatches=4,
        granularity="group",
    ),
    "tile": dict(
        model="gpt3-7b",
        workload="prefill:32x4,decode:433x12",
        target="simba-36",
        layers=1,
        microbatches=8,
        granularity="tile",
        tile_width=1024,
    ),
}


@cache
def real(name: str) -> dict[str, Any]:
    """The report of a small search (well under a second each)."""
    if name == "pareto":
        settings = SearchSettings(population=8, generations=2, seed=0, objective="pareto")
        return explore(layers=4, microbatches=4, settings=settings).report
    return explore(settings=TINY, **RUNS[name]).report


# --- built reports ---------------------------------------------------------------------


def built(
    tasks: list[tuple[str, tuple[int, int], tuple[int, ...]]],
    chiplets: int = 36,
    mesh: tuple[int, int] | None = (6, 6),
    busy: dict[int, float] | None = None,
    kinds: dict[int, str] | None = None,
) -> dict[str, Any]:
    """A report with the fields the pictures read: tasks are (micro-batch, layers, chiplets)."""
    busy = busy or {}
    used = {c for _, _, chips in tasks for c in chips}
    per_task = []
    clock: dict[str, float] = {}
    for mb, layers, chips in tasks:
        start = clock.get(mb, 0.0)
        per_task.append(
            {
                "microbatch": mb,
                "layers": list(layers),
                "chiplets": list(chips),
                "start_s": start,
                "end_s": start + 0.01,
            }
        )
        clock[mb] = start + 0.01
    latency = max(clock.values())
    layout = (
        {"topology": "mesh", "dims": list(mesh)}
        if mesh
        else {"topology": "switch", "dims": [chiplets, 1]}
    )
    return {
        "model": "m",
        "target": "t",
        "granularity": "layer",
        "layers": max(t[1][1] for t in tasks),
        "latency_s": latency,
        "energy_j": 1.0,
        "per_chiplet": [
            {
                "chiplet": c,
                "kind": (kinds or {}).get(c, "a"),
                "busy_s": busy.get(c, 0.5 * latency) if c in used else 0.0,
            }
            for c in range(chiplets)
        ],
        "per_task": per_task,
        "layout": layout,
    }


def nested_groups() -> dict[str, Any]:
    """The shapes that made 'TP2TP4': a TP2 beside a TP4, a TP8 around two TP4s, a TP4 across
    two mesh rows, single chiplets, and many hand-offs between them."""
    tasks = []
    for i in range(8):
        mb = f"mb{i}"
        tasks += [
            (mb, (0, 4), (0, 1, 2, 3)),
            (mb, (4, 8), (4, 5) if i % 2 else (4, 5, 6, 7)),
            (mb, (8, 16), (18, 19, 20, 21, 22, 23, 24, 25) if i < 4 else (18, 19, 20, 21)),
            (mb, (16, 24), (22, 23, 24, 25) if i % 3 else (30,)),
            (mb, (24, 32), (8 + i,)),
        ]
    busy = {c: 0.08 * (c % 10) / 10 for c in range(36)}
    return built(tasks, busy=busy, kinds={c: "b" for c in range(18, 36)})


def far_switch() -> dict[str, Any]:
    """Eight GPUs, every micro-batch crossing from one end of the row to the other."""
    tasks = []
    for i in range(8):
        mb = f"mb{i}"
        tasks += [(mb, (0, 16), (0, 1)), (mb, (16, 24), (7,)), (mb, (24, 32), (i % 4 * 2,))]
    return built(tasks, chiplets=8, mesh=None)


def strided() -> dict[str, Any]:
    """Sixteen micro-batches dealt alternately to two TP4 groups of a switch: long lists of
    micro-batches that must be cut to fit a square."""
    tasks = [(f"mb{i}", (0, 80), (0, 1, 2, 3) if i % 2 else (4, 5, 6, 7)) for i in range(16)]
    return built(tasks, chiplets=8, mesh=None)


NAMES = {"gemm": "down", "attention": "attn", "eltwise": "h_out"}


def tile_like() -> dict[str, Any]:
    """Units on chiplets by kernel kind: chiplet 0 only GEMM shares, chiplet 1 only attention,
    chiplet 2 both; per_kernel in task order, as the report writes it."""
    report = built(
        [
            ("mb0", (0, 1), (0,)),
            ("mb0", (0, 1), (1,)),
            ("mb1", (0, 1), (2,)),
            ("mb1", (0, 1), (0,)),
        ],
        chiplets=4,
        mesh=(2, 2),
    )
    units = [(0, 10), (10, 12), (0, 12), (12, 20)]
    kinds = [["gemm"], ["attention"], ["eltwise", "attention", "gemm"], ["gemm"]]
    report["granularity"] = "tile"
    report["units"] = 20
    report["per_kernel"] = []
    for task, span, ks in zip(report["per_task"], units, kinds, strict=True):
        task["units"] = list(span)
        report["per_kernel"].append(
            {
                "microbatch": task["microbatch"],
                "units": list(span),
                "chiplets": task["chiplets"],
                "kernels": [
                    {"name": NAMES[k], "kind": k, "launches": 1, "time_s": 0.001 * (1 + j)}
                    for j, k in enumerate(ks)
                ],
            }
        )
    return report


# --- measuring -------------------------------------------------------------------------


def drawn(fig: Figure):  # noqa: ANN201
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def drawn_ticks(axis: Any) -> list[Text]:
    """The tick labels matplotlib draws: those of ticks inside the view limits."""
    lo, hi = sorted(axis.get_view_interval())
    eps = 1e-9 * max(abs(lo), abs(hi), 1e-300)
    return [
        label
        for tick in axis.get_major_ticks() + axis.get_minor_ticks()
        if lo - eps <= tick.get_loc() <= hi + eps
        for label in (tick.label1, tick.label2)
        if label.get_visible() and label.get_text().strip()
    ]


def texts(fig: Figure) -> list[Text]:
    """Every text a reader sees: titles, labels, drawn tick labels, legends, annotations."""
    ticks = {
        id(label)
        for ax in fig.axes
        for axis in (ax.xaxis, ax.yaxis)
        for tick in axis.get_major_ticks() + axis.get_minor_ticks()
        for label in (tick.label1, tick.label2)
    }
    out = [
        t
        for t in fig.findobj(Text)
        if id(t) not in ticks and t.get_visible() and t.get_text().strip()
    ]
    for ax in fig.axes:
        if ax.axison:
            out += drawn_ticks(ax.xaxis) + drawn_ticks(ax.yaxis)
    return out


def overlapping(boxes: list[tuple[str, Bbox]], slack: float = 0.5) -> list[tuple[str, str]]:
    return [
        (a, b)
        for (a, ba), (b, bb) in combinations(boxes, 2)
        if min(ba.x1, bb.x1) - max(ba.x0, bb.x0) > slack
        and min(ba.y1, bb.y1) - max(ba.y0, bb.y0) > slack
    ]


def inside(inner: Bbox, outer: Bbox, slack: float = 1.0) -> bool:
    return (
        inner.x0 >= outer.x0 - slack
        and inner.x1 <= outer.x1 + slack
        and inner.y0 >= outer.y0 - slack
        and inner.y1 <= outer.y1 + slack
    )


def assert_text_apart(fig: Figure) -> None:
    renderer = drawn(fig)
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts(fig)]
    assert not overlapping(boxes), overlapping(boxes)[:5]
    page = fig.bbox
    outside = [name for name, box in boxes if not inside(box, page)]
    assert not outside, f"text off the figure: {outside}"


def squares(fig: Figure) -> dict[int, Rectangle]:
    return {
        int(p.get_gid()[len("chiplet") :]): p
        for p in fig.axes[0].patches
        if isinstance(p, Rectangle) and re.fullmatch(r"chiplet\d+", p.get_gid() or "")
    }


# --- layout ----------------------------------------------------------------------------

LAYOUTS = ["layer", "switch", "group", "tile", "nested", "far_switch", "strided", "tile_like"]


def layout_report(name: str) -> dict[str, Any]:
    made = {
        "nested": nested_groups,
        "far_switch": far_switch,
        "strided": strided,
        "tile_like": tile_like,
    }
    return made[name]() if name in made else real(name)


@pytest.mark.parametrize("name", LAYOUTS)
def test_layout_labels_never_overlap_and_stay_in_their_chiplet(name: str) -> None:
    fig = layout_figure(layout_report(name))
    assert_text_apart(fig)
    renderer = drawn(fig)
    chips = squares(fig)
    assert chips, "no chiplet squares found"
    for t in texts(fig):
        gid = t.get_gid() or ""
        m = re.fullmatch(r"chiplet(\d+)-\w+", gid)
        if m:
            square = chips[int(m.group(1))].get_window_extent(renderer)
            assert inside(t.get_window_extent(renderer), square), (gid, t.get_text())


def test_tp_tags_of_neighbouring_groups_are_separate_words() -> None:
    """The 'TP2TP4' defect: every tag is its own text, one group size each, inside its member."""
    fig = layout_figure(nested_groups())
    tags = [t.get_text() for t in texts(fig) if (t.get_gid() or "").endswith("-tp")]
    assert tags and all(re.fullmatch(r"TP\d+", t) for t in tags), tags
    # chiplet 18 is in a TP8 and a TP4: both tags, apart (overlap is checked above)
    on18 = sorted(t.get_text() for t in texts(fig) if t.get_gid() == "chiplet18-tp")
    assert on18 == ["TP4", "TP8"]


@pytest.mark.parametrize("name", LAYOUTS)
def test_layout_arrows_stay_inside_the_axes(name: str) -> None:
    report = layout_report(name)
    fig = layout_figure(report)
    renderer = drawn(fig)
    ax = fig.axes[0]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    if name in ("nested", "far_switch"):
        assert arrows, "hand-offs were not drawn"
    assert len(arrows) <= len(hand_offs(report))
    frame = ax.get_window_extent(renderer)
    assert inside(frame, fig.bbox)
    for a in arrows:
        assert inside(a.get_window_extent(renderer), frame, slack=0.5), a.get_window_extent()


@pytest.mark.parametrize("name", ["layer", "nested", "tile_like"])
def test_layout_colour_bar_matches_the_fill(name: str) -> None:
    """A colour bar exists, is labelled, and busier chiplets are filled darker (the fill is
    the bar's colour for the chiplet's busy share, not one teal for all)."""
    report = layout_report(name)
    fig = layout_figure(report)
    bars = [a for a in fig.axes if getattr(a, "_colorbar", None) is not None]
    assert len(bars) == 1
    bar = bars[0]._colorbar
    assert "busy" in bar.ax.get_ylabel()
    latency = report["latency_s"]
    powered = {t_c for t in report["per_task"] for t_c in t["chiplets"]}
    chips = squares(fig)
    shares = {}
    for c in powered:
        share = 100 * report["per_chiplet"][c]["busy_s"] / latency
        face = chips[c].get_facecolor()
        assert to_rgb(face) == pytest.approx(to_rgb(bar.cmap(bar.norm(share))), abs=1e-6)
        shares[c] = (share, _luminance(face))
    ordered = sorted(shares.values())
    assert all(a[1] >= b[1] - 1e-9 for a, b in zip(ordered, ordered[1:], strict=False))
    if len({round(s) for s, _ in ordered}) > 1:
        assert len({round(lum, 4) for _, lum in ordered}) > 1


def _luminance(color: Any) -> float:
    r, g, b = to_rgb(color)
    return 0.299 * r + 0.587 * g + 0.114 * b


def test_tile_layout_says_what_each_chiplet_runs() -> None:
    """At unit granularity a chiplet says how many units, which kernels (by name when one or
    two, else kinds by share of time) and which micro-batches: not the same words on every
    chiplet."""
    fig = layout_figure(tile_like())
    words = {
        int(re.match(r"chiplet(\d+)", t.get_gid()).group(1)): t.get_text()
        for t in texts(fig)
        if (t.get_gid() or "").endswith("-work")
    }
    assert "18 of 20 units" in words[0] and "runs down" in words[0]
    assert "2 of 20 units" in words[1] and "runs attn" in words[1]
    assert "12 of 20 units" in words[2] and "gemm 50%, attn 33%" in words[2]
    assert "mb 0" in words[1] and "all 2 mb" in words[0]
    assert "idle" in [t.get_text() for t in texts(fig)]
    work = [
        t.get_text()
        for t in texts(layout_figure(real("tile")))
        if (t.get_gid() or "").endswith("-work")
    ]
    assert work and all(re.search(r"\d+ of 72 units", w) for w in work)
    assert any(re.search(r"(gemm|attn|elt) \d+%|runs \w", w) for w in work)


# --- convergence and Pareto ------------------------------------------------------------


@pytest.mark.parametrize("name", ["layer", "tile", "pareto"])
def test_convergence_legend_beside_the_curves_and_one_tick_style(name: str) -> None:
    fig = convergence_figure(real(name))
    assert_text_apart(fig)
    renderer = drawn(fig)
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    assert not overlapping([("legend", legend), ("axes", ax.get_window_extent(renderer))])
    assert inside(legend, fig.bbox)
    _one_tick_style(drawn_ticks(ax.yaxis))


def test_convergence_log_axis_labels_read_plainly() -> None:
    """Random search far above the rest: a log axis, labelled 2, 5, 10, ... alike."""
    report = {
        "model": "m",
        "target": "t",
        "convergence": {
            "objective": "edp",
            "methods": {"ga": [[10, 9.0], [20, 8.4]], "random": [[10, 75.0], [20, 57.0]]},
            "standard": 10.2,
            "lower_bound": 3.8,
        },
    }
    fig = convergence_figure(report)
    drawn(fig)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    labels = _one_tick_style(drawn_ticks(ax.yaxis))
    assert {"5", "10", "20", "50"} <= set(labels)


def _one_tick_style(labels: list[Text]) -> list[str]:
    shown = [t.get_text() for t in labels]
    assert len(shown) >= 2, shown
    assert not any("$" in s or "times" in s for s in shown), shown
    plain = [bool(re.fullmatch(r"-?\d+(\.\d+)?", s)) for s in shown]
    sci = [bool(re.fullmatch(r"-?\d(\.\d+)?e[+-]\d+", s)) for s in shown]
    assert all(plain) or all(sci), shown
    return shown


def _markers(fig: Figure) -> list[Line2D]:
    return [
        line
        for line in fig.axes[0].get_lines()
        if line.get_marker() not in (None, "None", "", " ") and len(line.get_xdata())
    ]


def coincident() -> dict[str, Any]:
    """Simulated annealing and the best standard at exactly the same point, on the front."""
    point = {"latency_s": 0.9, "energy_j": 11.0}
    return {
        "model": "m",
        "target": "t",
        "latency_s": 0.9,
        "energy_j": 11.0,
        "pareto": [
            {"latency_s": 0.8, "energy_j": 12.0},
            point,
            {"latency_s": 2.0, "energy_j": 9.0},
        ],
        "search": {
            "searched": "nsga2",
            "methods": {
                "nsga2": dict(point),
                "sa": dict(point),
                "standard": dict(point),
                "random": {"latency_s": 3.6, "energy_j": 19.0},
            },
            "lower_bound": {"latency_s": 0.5, "energy_j": 7.0},
        },
    }


@pytest.mark.parametrize("make", [lambda: real("pareto"), coincident])
def test_pareto_no_marker_hides_another(make: Any) -> None:
    """Wherever two markers of different series meet, the one drawn on top is hollow, and no
    two coincide in shape and size (two hollow twins would still read as one)."""
    fig = pareto_figure(make())
    assert_text_apart(fig)
    renderer = drawn(fig)
    ax = fig.axes[0]
    assert inside(ax.get_legend().get_window_extent(renderer), fig.bbox)
    assert not overlapping(
        [("legend", ax.get_legend().get_window_extent(renderer)), ("axes", ax.bbox)]
    )
    lines = _markers(fig)
    order = {id(line): i for i, line in enumerate(lines)}
    points = []
    for line in lines:
        xy = ax.transData.transform(list(zip(line.get_xdata(), line.get_ydata(), strict=True)))
        size = line.get_markersize() * fig.dpi / 72
        points += [(line, x, y, size) for x, y in xy]
    for (la, xa, ya, sa), (lb, xb, yb, sb) in combinations(points, 2):
        if la is lb:
            continue
        if abs(xa - xb) > (sa + sb) / 2 or abs(ya - yb) > (sa + sb) / 2:
            continue
        top = max((la, lb), key=lambda line: (line.get_zorder(), order[id(line)]))
        assert top.get_markerfacecolor() == "none", (la.get_label(), lb.get_label())
        assert (la.get_marker(), la.get_markersize()) != (lb.get_marker(), lb.get_markersize())


# --- Gantt -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["layer", "switch", "group", "tile"])
def test_gantt_labels_fit_their_bars_and_never_overlap(name: str) -> None:
    report = real(name)
    fig = gantt_figure(report)
    assert_text_apart(fig)
    renderer = drawn(fig)
    ax = fig.axes[0]
    labels = [t for t in texts(fig) if (t.get_gid() or "").startswith("task")]
    for t in labels:
        task = report["per_task"][int(t.get_gid()[4:])]
        (x0, _), (x1, _) = ax.transData.transform(
            [(task["start_s"] * 1e3, 0), (task["end_s"] * 1e3, 0)]
        )
        box = t.get_window_extent(renderer)
        assert x0 - 0.5 <= box.x0 and box.x1 <= x1 + 0.5, (t.get_text(), box, x0, x1)


def test_gantt_names_kernels_at_unit_granularity() -> None:
    labels = [
        t.get_text()
        for t in texts(gantt_figure(real("tile")))
        if (t.get_gid() or "").startswith("task")
    ]
    assert labels and not any(re.fullmatch(r"L\d+(-\d+)?", s) for s in labels), labels


def test_every_picture_is_written(tmp_path: Any) -> None:
    written = draw_pictures(real("pareto"), str(tmp_path))
    names = sorted(p.rsplit("/", 1)[1] for p in written)
    for stem in ("gantt", "layout", "convergence", "pareto"):
        assert f"{stem}.png" in names and f"{stem}.svg" in names
    assert all((tmp_path / n).stat().st_size > 1000 for n in names)


def test_readme_pictures_exist_and_every_picture_is_shown() -> None:
    """Every picture the README shows is in docs/img, and nothing in docs/img goes unshown."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    shown = set(re.findall(r"!\[[^\]]+\]\(([^)\s]+)\)", (root / "README.md").read_text()))
    assert shown, "the README shows no picture"
    assert all((root / p).is_file() for p in shown), sorted(shown)
    on_disk = {p.relative_to(root).as_posix() for p in (root / "docs" / "img").glob("*.png")}
    assert on_disk <= shown, sorted(on_disk - shown)
