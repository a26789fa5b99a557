"""Shared picture plumbing: figures on the Agg canvas (no pyplot state, no display), stable
colours, and writing PNG + SVG side by side."""

from __future__ import annotations

from typing import Any

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure

from xcompass.fileio import check_writable

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
    "#1f77b4",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#17becf",
)


def figure(
    width: float, height: float, margins: tuple[float, float, float, float] = (0.8, 0.2, 0.5, 0.55)
) -> Figure:
    """A figure with fixed margins in inches (left, right, top, bottom): a layout engine
    would measure every label twice and double the drawing time."""
    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    left, right, top, bottom = margins
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height
    )
    return fig


def microbatch_colors(names: list[str]) -> dict[str, str]:
    return {n: to_hex(PALETTE[i % len(PALETTE)]) for i, n in enumerate(names)}


def ink(face: Any) -> str:
    """Black or white, whichever reads on `face` (by its luminance)."""
    r, g, b = to_rgb(face)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


def save(fig: Figure, stem: str, formats: tuple[str, ...] = ("png", "svg")) -> list[str]:
    """`stem`.png and `stem`.svg (metadata without dates, so reruns give identical files)."""
    paths = []
    for fmt in formats:
        path = f"{stem}.{fmt}"
        check_writable(path)
        meta = {"Software": None} if fmt == "png" else {"Date": None}
        with rc_context({"svg.fonttype": "none", "svg.hashsalt": "xcompass"}):
            fig.savefig(path, format=fmt, metadata=meta)  # SVG text stays text: small, fast
        paths.append(path)
    return paths
