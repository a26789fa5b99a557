"""Where the layout picture puts things: chiplet positions (a mesh as its grid, a switch's
GPUs in rows), the arrows between task groups (anchored on the group's piece nearest the other
end, arcs that nest on a switch), how deep TP groups nest, and a colour per TP group that no
touching group shares. Pure geometry: `xcompass.viz.layout` draws with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xcompass.viz.chipwork import hand_offs

GROUP_COLORS = ("#1b5e20", "#6a1b9a", "#b71c1c", "#0d47a1", "#e65100", "#004d40", "#880e4f")
MAX_ARROWS = 12  # the busiest hand-offs; more only hide the chiplets
SIZE = 0.86  # a chiplet's square, in pitches


@dataclass
class Arrow:
    start: tuple[float, float]
    end: tuple[float, float]
    rad: float
    count: int

    def bulge(self) -> tuple[float, float]:
        """The curve's farthest point: matplotlib's arc3 puts the control point at the
        midpoint + rad x (dy, -dx), and a quadratic Bezier reaches halfway to it."""
        (x1, y1), (x2, y2) = self.start, self.end
        dx, dy = x2 - x1, y2 - y1
        return (x1 + x2) / 2 + self.rad * dy / 2, (y1 + y2) / 2 - self.rad * dx / 2


def positions(layout: dict[str, Any], n: int) -> dict[int, tuple[float, float]]:
    if layout.get("topology") == "mesh" and len(layout.get("dims") or []) == 2:
        cols, rows = layout["dims"]
        if cols * rows >= n:
            return {c: (c % cols, rows - 1 - c // cols) for c in range(n)}
    per_row = n if n <= 8 else (n + 1) // 2
    rows = (n + per_row - 1) // per_row
    return {c: (c % per_row, rows - 1 - c // per_row) for c in range(n)}


def centre(pos: dict[int, tuple[float, float]], chips: tuple[int, ...]) -> tuple[float, float]:
    return (
        sum(pos[c][0] for c in chips) / len(chips),
        sum(pos[c][1] for c in chips) / len(chips),
    )


def anchor(
    pos: dict[int, tuple[float, float]], chips: tuple[int, ...], towards: tuple[float, float]
) -> tuple[float, float]:
    """Where an arrow meets a group: the centre of the group's piece in one mesh row nearest
    to `towards` (a group over two rows has its centre between them, on other chiplets)."""
    rows: dict[float, list[int]] = {}
    for c in chips:
        rows.setdefault(pos[c][1], []).append(c)
    centres = [centre(pos, tuple(piece)) for piece in rows.values()]
    return min(centres, key=lambda p: (p[0] - towards[0]) ** 2 + (p[1] - towards[1]) ** 2)


def arrows(report: dict[str, Any], pos: dict[int, tuple[float, float]], switch: bool):
    """The busiest hand-offs as arrows between group centres, and how many there were."""
    flows = hand_offs(report)
    out = []
    for (a, b), count in flows.most_common():
        if len(out) == MAX_ARROWS:
            break
        start = anchor(pos, a, centre(pos, b))
        end = anchor(pos, b, start)
        start = anchor(pos, a, end)
        dist = ((end[0] - start[0]) ** 2 + (end[1] - start[1]) ** 2) ** 0.5
        if dist < 0.2:  # the same place (a group and its own sub-group): no arrow to draw
            continue
        if switch:
            # every GPU is one hop from every other: arcs leave the row, rightwards above it
            # and leftwards below it (arc3's side turns with the direction), longer ones
            # higher so they nest instead of crossing the squares
            side = 1 if end[0] > start[0] else -1
            start = (start[0], start[1] + side * (SIZE / 2 + 0.02))
            end = (end[0], end[1] + side * (SIZE / 2 + 0.02))
            rad = -2 * (0.15 + 0.07 * dist) / dist
        else:
            rad = 0.15
        out.append(Arrow(start, end, rad, count))
    return out, len(flows)


def nesting(groups: list[tuple[int, ...]]) -> dict[tuple[int, ...], int]:
    """0 for a group that contains no other group's chiplets, else 1 + the deepest such."""
    level: dict[tuple[int, ...], int] = {}
    for g in sorted(groups, key=len):
        inner = [level[h] for h in level if len(h) < len(g) and set(h) & set(g)]
        level[g] = 1 + max(inner) if inner else 0
    return level


def group_colors(
    groups: list[tuple[int, ...]], pos: dict[int, tuple[float, float]]
) -> dict[tuple[int, ...], str]:
    """A colour per TP group, greedily different from every group it overlaps or touches
    (a member within one pitch), so neighbouring outlines never share a colour."""
    out: dict[tuple[int, ...], str] = {}
    for g in sorted(groups, key=len, reverse=True):
        near = {
            out[h]
            for h in out
            if any(
                abs(pos[a][0] - pos[b][0]) <= 1.01 and abs(pos[a][1] - pos[b][1]) <= 1.01
                for a in g
                for b in h
            )
        }
        free = [c for c in GROUP_COLORS if c not in near]
        out[g] = free[0] if free else GROUP_COLORS[len(out) % len(GROUP_COLORS)]
    return out
