"""Pictures of a served run: TTFT and TBT CDFs against their SLOs, what the server held over
time (batch, KV, queue, buffer), and goodput against the arrival rate of a capacity search.
Also the run as a Perfetto trace: a track per replica's iterations, a track per request slot
with each request's queued, prefill and decode phases."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from xcompass.fileio import write_atomically
from xcompass.viz.style import PALETTE, figure, save


def _num(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def cdf_picture(
    ttft: np.ndarray, gaps: np.ndarray, slo: dict[str, float], stem: str, title: str
) -> list[str]:
    """TTFT and TBT CDFs side by side, the SLO as a dashed line and the percentile the
    criterion reads (TTFT p90, TBT p99) marked."""
    fig = figure(9.0, 3.4, (0.7, 0.2, 0.45, 0.55))
    for k, (values, limit, pct, label) in enumerate(
        ((ttft, slo["ttft_s"], 90, "TTFT"), (gaps, slo["tbt_s"], 99, "time between tokens"))
    ):
        ax = fig.add_subplot(1, 2, k + 1)
        values = np.sort(values[np.isfinite(values)])
        if len(values):
            scale, unit = (1e3, "ms") if values[-1] < 2.0 else (1.0, "s")
            y = np.arange(1, len(values) + 1) / len(values)
            ax.plot(values * scale, y, color=PALETTE[k], lw=1.6)
            ax.axvline(limit * scale, color="#444444", ls="--", lw=1)
            p = float(np.percentile(values, pct))
            ax.plot([p * scale], [pct / 100], "o", color=PALETTE[k])
            ax.annotate(
                f"p{pct} {_num(p * scale)} {unit}\nSLO {_num(limit * scale)} {unit}",
                (p * scale, pct / 100),
                xytext=(0.55, 0.3),
                textcoords="axes fraction",
                fontsize=8,
            )
            ax.set_xlabel(f"{label} ({unit})")
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("fraction of " + ("requests" if k == 0 else "gaps"))
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    return save(fig, stem)


def timeline_picture(it: dict[str, np.ndarray], replicas: int, stem: str, title: str) -> list[str]:
    """Batch size, KV tokens in use, queue length (and the P-B-D buffer) over time."""
    fig = figure(9.0, 5.2, (0.9, 0.2, 0.45, 0.5))
    rows = [("batch", "requests in the step"), ("kv_used", "KV tokens held"),
            ("waiting", "queued requests")]  # fmt: skip
    if len(it.get("buffer", [])) and it["buffer"].max() > 0:
        rows.append(("buffer", "buffer tokens"))
    axes = [fig.add_subplot(len(rows), 1, i + 1) for i in range(len(rows))]
    for ax, (key, label) in zip(axes, rows, strict=True):
        for r in range(replicas):
            mask = it["replica"] == r
            if mask.any():
                ax.step(it["start"][mask], it[key][mask], where="post", lw=0.8,
                        color=PALETTE[r % len(PALETTE)], label=f"replica {r}")  # fmt: skip
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    if 1 < replicas <= 8:
        axes[0].legend(fontsize=7, ncol=min(replicas, 4), loc="upper right")
    fig.suptitle(title, fontsize=9)
    return save(fig, stem)


def capacity_picture(points: list[dict[str, Any]], stem: str, title: str) -> list[str]:
    """Goodput and throughput against the offered rate; the capacity is the last rate that
    meets the SLOs (filled markers meet them)."""
    fig = figure(6.0, 3.6, (0.8, 0.2, 0.45, 0.55))
    ax = fig.add_subplot(1, 1, 1)
    pts = sorted(points, key=lambda p: p["rate_req_s"])
    x = [p["rate_req_s"] for p in pts]
    ax.plot(x, [p["throughput_req_s"] for p in pts], "-", color="#999999", label="throughput")
    ax.plot(x, [p["goodput_req_s"] for p in pts], "-", color=PALETTE[0], label="goodput")
    for p in pts:
        ax.plot(
            [p["rate_req_s"]], [p["goodput_req_s"]], "o", color=PALETTE[0],
            mfc=PALETTE[0] if p["slo_met"] else "white",
        )  # fmt: skip
    ax.plot(x, x, ":", color="#bbbbbb", lw=1, label="offered")
    ax.set_xlabel("offered rate (requests/s)")
    ax.set_ylabel("requests/s")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(title, fontsize=9)
    return save(fig, stem)


def serving_trace(
    it: dict[str, np.ndarray], requests: dict[str, np.ndarray], path: str, limit: int = 20000
) -> None:
    """Perfetto JSON: process 1 = replicas (a slice per iteration, its composition in the
    arguments), process 2 = requests (queued, prefill, decode slices; the first `limit`)."""
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "replicas"}},
        {"ph": "M", "pid": 2, "name": "process_name", "args": {"name": "requests"}},
    ]
    for r in (int(x) for x in np.unique(it["replica"])):
        events.append({"ph": "M", "pid": 1, "tid": r, "name": "thread_name",
                       "args": {"name": f"replica {r}"}})  # fmt: skip
    for k in range(len(it["start"])):
        start = float(it["start"][k])
        events.append(
            {
                "name": f"{int(it['decodes'][k])}d+{int(it['prompt_tokens'][k])}p",
                "ph": "X",
                "pid": 1,
                "tid": int(it["replica"][k]),
                "ts": round(start * 1e6, 3),
                "dur": round((float(it["end"][k]) - start) * 1e6, 3),
                "args": {"kv_used": float(it["kv_used"][k]), "waiting": float(it["waiting"][k])},
            }
        )
    n = min(len(requests["arrival_s"]), limit)
    for i in range(n):
        arrival = float(requests["arrival_s"][i])
        phases = (
            ("queued", arrival, requests["admitted_s"][i]),
            ("prefill", requests["admitted_s"][i], requests["first_token_s"][i]),
            ("decode", requests["first_token_s"][i], requests["finish_s"][i]),
        )
        for name, a, b in phases:
            if np.isfinite(a) and np.isfinite(b) and b > a:
                events.append(
                    {"name": name, "ph": "X", "pid": 2, "tid": i, "ts": round(float(a) * 1e6, 3),
                     "dur": round((float(b) - float(a)) * 1e6, 3), "args": {"request": i}}
                )  # fmt: skip
    write_atomically(path, json.dumps({"traceEvents": events}, separators=(",", ":")) + "\n")
