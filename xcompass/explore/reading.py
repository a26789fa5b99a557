"""Reading a saved report back (`xcompass report`): checked enough that every picture can be
drawn, with a one-line diagnostic for a file that is not a report; and the text it prints."""

from __future__ import annotations

import json
import os
from typing import Any

from xcompass.errors import XcompassError, shown

MAX_REPORT_BYTES = 512 * 2**20
REQUIRED = (
    "model",
    "target",
    "latency_s",
    "energy_j",
    "edp_js",
    "tokens",
    "per_chiplet",
    "per_task",
)


def read_report(path: str) -> dict[str, Any]:
    where = f"{shown(path, 100)}"
    try:
        if os.path.getsize(path) > MAX_REPORT_BYTES:
            raise XcompassError(f"{where}: larger than {MAX_REPORT_BYTES // 2**20} MiB")
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except XcompassError:
        raise
    except OSError as exc:
        raise XcompassError(f"{where}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise XcompassError(f"{where}: not UTF-8 text") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise XcompassError(f"{where}: not JSON ({exc})") from None
    if not isinstance(report, dict):
        raise XcompassError(f"{where}: not an xcompass report (a JSON object is expected)")
    missing = [k for k in REQUIRED if k not in report]
    if missing:
        raise XcompassError(
            f"{where}: not an xcompass report (missing {', '.join(missing)}; write one with "
            "xcompass explore or map-cost{report=FILE.json})"
        )
    try:
        _check_shapes(report)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise XcompassError(f"{where}: malformed report ({type(exc).__name__}: {exc})") from None
    return report


def _check_shapes(report: dict[str, Any]) -> None:
    """Touch every field a picture reads, so a bad file fails here, not half-way through."""
    chiplets = len(report["per_chiplet"])
    for c in report["per_chiplet"]:
        str(c["kind"])
    for t in report["per_task"]:
        lo, hi = (int(x) for x in t["layers"])
        float(t["start_s"]) + float(t["end_s"])
        if not all(0 <= int(c) < chiplets for c in t["chiplets"]) or hi <= lo:
            raise ValueError("a task names an unknown chiplet or an empty layer range")
    float(report["latency_s"])
    if "search" in report:
        for m in report["search"]["methods"].values():
            float(m["latency_s"]) + float(m["energy_j"]) + float(m["edp_js"])


def summary_text(report: dict[str, Any]) -> str:
    """The explore table when the report has a search; else the cost figures."""
    if "search" in report:
        from xcompass.explore.table import results_table

        return results_table(report)
    lat = report["latency_s"]
    lines = [
        f"{report['model']} on {report['target']} ({report.get('mode', 'graph')} mode)",
        f"latency {lat * 1e3:,.3f} ms, energy {report['energy_j']:.4g} J, "
        f"EDP {report['edp_js']:.4g} J*s, {report.get('throughput_tok_s', 0):,.0f} tok/s",
    ]
    path = report.get("critical_path_s")
    if path:
        parts = ", ".join(f"{k} {v / lat:.0%}" for k, v in path.items() if lat and v > 0)
        lines.append(f"critical path: {parts}")
    busy = [c for c in report["per_chiplet"] if c.get("powered", True) and c.get("busy_s", 0)]
    lines.append(f"{len(busy)} of {len(report['per_chiplet'])} chiplets run tasks")
    return "\n".join(lines) + "\n"
