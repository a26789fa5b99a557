"""What a serving run writes, for pandas and for people: `report.json` (the summary),
`requests.csv` and `iterations.csv` (Vidur writes the same two), `trace.json` (Perfetto),
and the pictures."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from xcompass.fileio import write_atomically

OUTPUTS = ("report.json", "requests.csv", "iterations.csv", "trace.json", "cdf.png", "cdf.svg",
           "timeline.png", "timeline.svg", "capacity.png", "capacity.svg")  # fmt: skip
"""Every file `xcompass serve` may write into --out (checked against its inputs first)."""

ITERATION_COLUMNS = ("replica", "start", "end", "energy", "decodes", "prompt_tokens", "batch",
                     "kv_used", "waiting", "buffer")  # fmt: skip


INTEGER_COLUMNS = ("request", "prompt", "output", "replica", "preemptions", "decodes", "iteration",
                   "prompt_tokens", "batch", "kv_used", "waiting", "buffer")  # fmt: skip


def _csv(columns: dict[str, np.ndarray]) -> str:
    buf = io.StringIO()
    names = list(columns)
    buf.write(",".join(names) + "\n")
    rows = np.column_stack([np.asarray(columns[n], dtype=float) for n in names])
    ints = [n in INTEGER_COLUMNS for n in names]
    for row in rows:
        buf.write(",".join(
            ("" if not np.isfinite(v) else str(int(v))) if is_int
            else ("" if not np.isfinite(v) else repr(float(v)))
            for v, is_int in zip(row, ints, strict=True)
        ) + "\n")  # fmt: skip
    return buf.getvalue()


def iteration_table(it: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {"iteration": np.arange(len(it["start"]))}
    for key in ITERATION_COLUMNS:
        name = {"start": "start_s", "end": "end_s", "energy": "energy_j"}.get(key, key)
        out[name] = it[key]
    return out


def write_outputs(
    run: Any, out: str, pictures: bool = True, capacity: list[dict[str, Any]] | None = None
) -> list[str]:
    """Write the run into folder `out` (created); returns the file names written."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    summary = dict(run.summary)
    if capacity is not None:
        summary["capacity_search"] = capacity
    written = []
    write_atomically(str(folder / "report.json"), json.dumps(summary, indent=1) + "\n")
    written.append("report.json")
    requests = run.request_table()
    write_atomically(str(folder / "requests.csv"), _csv(requests))
    written.append("requests.csv")
    iterations = iteration_table(run.outcome.iterations)
    it_columns = {k if k != "iteration" else "iteration": v for k, v in iterations.items()}
    write_atomically(str(folder / "iterations.csv"), _csv(it_columns))
    written.append("iterations.csv")
    from xcompass.viz.serving import capacity_picture, cdf_picture, serving_trace, timeline_picture

    serving_trace(run.outcome.iterations, requests, str(folder / "trace.json"))
    written.append("trace.json")
    if pictures:
        s = run.summary
        title = (f"{s['model']} on {s['target']} ({s['strategy']}), {s['policy']['name']}: "
                 f"{s['finished']} requests, {s['iterations']} iterations")  # fmt: skip
        o = run.outcome
        written += _names(
            cdf_picture(
                o.first_token_s - o.arrival_s, o.gaps_s, s["slo"], str(folder / "cdf"), title
            )  # fmt: skip
        )
        written += _names(
            timeline_picture(o.iterations, len(o.replicas), str(folder / "timeline"), title)
        )
        if capacity:
            written += _names(capacity_picture(capacity, str(folder / "capacity"), title))
    return written


def _names(paths: list[str]) -> list[str]:
    return [Path(p).name for p in paths]
