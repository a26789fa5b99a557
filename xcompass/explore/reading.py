"""Reading a saved report back (`xcompass report`): checked against a declared, versioned
schema (`REPORT`) so every table and picture can be drawn from it, with a one-line diagnostic
naming the first bad field; and the text it prints."""

from __future__ import annotations

import json
from typing import Any

from xcompass import fileio
from xcompass.errors import XcompassError, shown
from xcompass.explore.schema import (
    MAX_NUMBER,
    Bool,
    Choice,
    Int,
    List,
    Map,
    Nullable,
    Num,
    Obj,
    SchemaError,
    Str,
    Tuple,
    check,
)
from xcompass.names import GRANULARITIES
from xcompass.search.objectives import OBJECTIVES

MAX_REPORT_BYTES = 512 * 2**20
REPORT_VERSION = 1
"""The report format this xcompass reads (`report_version`; a report without it is 1)."""
MAX_CHIPLETS = 4096
MAX_ROWS = 2**22  # tasks, activity rows, history points

_T = Num()  # a time or energy: finite, 0 to 1e15
_SCORE = Num(-MAX_NUMBER, MAX_NUMBER)
_SCORE_OR_INF = Num(-MAX_NUMBER, MAX_NUMBER, allow_inf=True)
_SPAN = Tuple((Int(0, 2**20), Int(1, 2**20)))
_NAME = Str(200)
_CHIPLET = Int(0, MAX_CHIPLETS - 1)

CHIPLET = Obj(
    {"kind": Str(100)},
    {
        "chiplet": _CHIPLET,
        "powered": Bool(),
        "busy_s": _T,
        "stalled_s": _T,
        "idle_s": _T,
        "utilization": Num(0, 1e6),
        "dynamic_energy_j": _T,
        "static_energy_j": _T,
        "energy_j": _T,
    },
)
TASK = Obj(
    {"microbatch": Str(100), "chiplets": List(_CHIPLET, 1, 256), "start_s": _T, "end_s": _T},
    {
        "layers": _SPAN,
        "units": _SPAN,
        "unit_names": List(Str(200), 0, 2),
        "stall_s": _T,
        "transfer_in_s": _T,
        "energy_j": _T,
    },
)
_SERVED = Obj(  # a mapping served under a serving objective (goodput, capacity)
    {},
    {
        "feasible": Bool(),
        "ttft_p90_s": _T,
        "tbt_p99_s": _T,
        "slo_met": Bool(),
        "value": _SCORE,
        "capped": Bool(),
        "cost_cache": Obj(
            {"sampled": Int(0, 2**53), "mean_abs_error": Num(0, 1e6), "max_abs_error": Num(0, 1e6)}
        ),
    },
    keep_extra=True,
)
SERVING = Obj({}, {"train": _SERVED, "test": _SERVED}, keep_extra=True)
KERNEL = Obj(
    {},
    {
        "name": Str(200),
        "kind": Str(100),
        "launches": Int(0, 2**31 - 1),
        "time_s": _T,
        "flops": Num(0, 1e30),
        "dram_bytes": Num(0, 1e30),
        "decision": Str(1000),
        "plan": Str(4000),
        "share": Str(200),
    },
    keep_extra=True,
)
PER_KERNEL = List(
    Obj(
        {"chiplets": List(_CHIPLET, 1, 256), "kernels": List(KERNEL, 0, 4096)},
        {
            "microbatch": Str(100),
            "layers": _SPAN,
            "units": _SPAN,
            "unit_names": List(Str(200), 0, 2),
            "chiplet_kind": Str(100),
            "tp": Int(1, 4096),
        },
        keep_extra=True,
    ),
    0,
    MAX_ROWS,
)
METHOD = Obj(
    {
        "latency_s": _T,
        "energy_j": _T,
        "edp_js": Num(0, 1e30),
        "evaluations": Int(0, 2**53),
        "score": _SCORE_OR_INF,
    },
    {"test_score": _SCORE_OR_INF, "wall_s": _T, "serving": SERVING},
    keep_extra=True,
)
ANSWER = Obj(
    {
        "method": Str(40),
        "score": _SCORE_OR_INF,
        "latency_s": _T,
        "energy_j": _T,
        "edp_js": Num(0, 1e30),
    },
    {"layout": Str(4000), "test_score": _SCORE_OR_INF, "serving": SERVING},
    keep_extra=True,
)
BOUND = Obj(
    {
        "latency_s": _T,
        "energy_j": _T,
        "edp_js": Num(0, 1e30),
        "throughput_tok_s": _T,
        "objective": _SCORE_OR_INF,
    },
    keep_extra=True,
)
SEARCH = Obj(
    {
        "objective": Choice(OBJECTIVES),
        "searched": Str(40),
        "methods": Map(METHOD, 16),
        "lower_bound": BOUND,
        "population": Int(1, 2**31 - 1),
        "generations": Int(0, 2**31 - 1),
        "seed": Int(0, 2**63 - 1),
    },
    {
        "best_standard": Nullable(Str(200)),
        "budget": Int(0, 2**63 - 1),
        "answer": ANSWER,
        "failed": Map(Obj({"note": Str(1000)}, keep_extra=True), 16),
        "serving": Obj({}, {"description": Str(4000)}, keep_extra=True),
    },
    keep_extra=True,
)
EXPLORE = Obj(
    {},
    {
        "problem": Str(4000),
        "backend": Str(200),
        "tokens_per_batch": Num(0, 2**53),
        "search_s": _T,
        "wall_s": _T,
        "prepare_s": _T,
    },
    keep_extra=True,
)
LAYOUT = Obj(
    {
        "topology": Choice(("mesh", "switch")),
        "dims": Tuple((Int(1, MAX_CHIPLETS), Int(1, MAX_CHIPLETS))),
        "chiplets": List(
            Obj({"kind": Str(100)}, {"channel": Int(0, 4095), "domain": Int(0, 4095)}),
            1,
            MAX_CHIPLETS,
        ),
        "channels": List(
            Obj(
                {"name": Str(100), "bw_gbs": Num(0, MAX_NUMBER)},
                {"attach": Nullable(List(Int(0, 2**20), 0, 16))},
            ),
            0,
            4096,
        ),
    },
    {"link_gbs": Num(0, MAX_NUMBER), "link_ids": Str(1000)},
)
ACTIVITY = Obj(
    {"microbatches": List(Str(100), 0, 2**20)},
    {
        "nodes": List(
            Tuple((Int(0, 2**20), Int(0, 2**20), List(_CHIPLET, 1, 256), _T, _T, _T)), 0, MAX_ROWS
        ),
        "transfers": List(
            Tuple((Int(0, 2**20), Int(0, 2**20), List(Int(0, 2**20), 0, 4096), _T, _T)),
            0,
            MAX_ROWS,
        ),
        "dram_streams": List(
            Tuple((Int(0, 2**20), Int(0, 2**20), Int(0, 4095), _T, _T, Num(0, 1e6))), 0, MAX_ROWS
        ),
    },
)
CONVERGENCE = Obj(
    {
        "objective": Choice(OBJECTIVES),
        "methods": Map(List(Tuple((Int(0, 2**53), _SCORE_OR_INF)), 0, MAX_ROWS), 16),
        "lower_bound": _SCORE_OR_INF,
    },
    {"standard": Nullable(_SCORE_OR_INF)},
)
PARETO = List(Obj({"latency_s": _T, "energy_j": _T}, {"edp_js": Num(0, 1e30)}), 0, 2**16)
REPORT = Obj(
    {
        "model": _NAME,
        "target": Str(4096),
        "latency_s": _T,
        "energy_j": _T,
        "edp_js": Num(0, 1e30),
        "tokens": Int(0, 2**53),
        "per_chiplet": List(CHIPLET, 1, MAX_CHIPLETS),
        "per_task": List(TASK, 0, MAX_ROWS),
    },
    {
        "per_kernel": Nullable(PER_KERNEL),
        "report_version": Int(1, 2**31 - 1),
        "mode": Choice(("graph", "eager")),
        "throughput_tok_s": _T,
        "microbatches": Int(0, 2**20),
        "granularity": Choice(GRANULARITIES),
        "layers": Int(1, 2**20),
        "units": Int(1, 2**20),
        "critical_path_s": Map(_T, 16),
        "task_time_s": Map(_T, 16),
        "energy_breakdown_j": Map(_T, 16),
        "search": SEARCH,
        "explore": EXPLORE,
        "layout": Nullable(LAYOUT),
        "activity": Nullable(ACTIVITY),
        "convergence": Nullable(CONVERGENCE),
        "pareto": Nullable(PARETO),
    },
    keep_extra=True,  # lowering, unlowered, fields: read by no table or picture
)
"""The saved report, version 1, as `xcompass report` and every picture read it; fields no
table or picture reads (lowering, unlowered, fields) are kept as they are."""


def read_report(path: str) -> dict[str, Any]:
    """A saved report, checked against `REPORT` (and across fields: chiplet ids, spans,
    channels, micro-batch indices) so every table and picture can be drawn from it; an
    XcompassError naming the file and the first bad field otherwise."""
    where = f"{shown(path, 100)}"
    try:
        raw = fileio.read_regular(path, MAX_REPORT_BYTES)
    except fileio.TooLarge:
        raise XcompassError(f"{where}: larger than {MAX_REPORT_BYTES // 2**20} MiB") from None
    except OSError as exc:
        raise XcompassError(f"{where}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise XcompassError(f"{where}: cannot read ({exc})") from None
    try:
        report = json.loads(raw.decode("utf-8"), parse_constant=_constant)
    except UnicodeDecodeError:
        raise XcompassError(f"{where}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise XcompassError(f"{where}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg})") from None
    except RecursionError:
        raise XcompassError(f"{where}: not JSON (nested too deeply)") from None
    except ValueError as exc:
        raise XcompassError(f"{where}: not JSON ({exc})") from None
    if not isinstance(report, dict):
        raise XcompassError(f"{where}: not an xcompass report (a JSON object is expected)")
    missing = [k for k in REPORT.required if k not in report]
    if missing:
        raise XcompassError(
            f"{where}: not an xcompass report (missing {', '.join(missing)}; write one with "
            "xcompass explore or map-cost{report=FILE.json})"
        )
    version = report.get("report_version", 1)
    if version != REPORT_VERSION:
        raise XcompassError(
            f"{where}: report_version {shown(version, 20)}; this xcompass reads version "
            f"{REPORT_VERSION} (write the report again with this xcompass)"
        )
    try:
        report = check(report, REPORT)
        _check_across(report)
        from xcompass.explore.outputs import with_layout

        report = with_layout(report)
        _check_activity(report)
    except SchemaError as exc:
        raise XcompassError(f"{where}: field {exc}") from None
    return report


def _constant(name: str) -> float:
    """NaN and Infinity as JSON constants: kept, so the schema names the field they sit in."""
    return float(name.replace("Infinity", "inf"))


def _check_across(report: dict[str, Any]) -> None:
    """What one field's schema cannot say: ids and spans that must agree with other fields."""
    n = len(report["per_chiplet"])
    for i, t in enumerate(report["per_task"]):
        path = f"per_task[{i}]"
        for key in ("layers", "units"):
            if key in t and t[key][0] >= t[key][1]:
                raise SchemaError(f"{path}.{key}", f"empty range {t[key]}")
        if "layers" not in t and "units" not in t:
            raise SchemaError(f"{path}.layers", "missing")
        for c in t["chiplets"]:
            if c >= n:
                raise SchemaError(f"{path}.chiplets", f"chiplet {c}; the report has 0..{n - 1}")
        if t["end_s"] < t["start_s"]:
            raise SchemaError(f"{path}.end_s", "before start_s")
    for i, entry in enumerate(report.get("per_kernel") or []):
        for c in entry["chiplets"]:
            if c >= n:
                raise SchemaError(
                    f"per_kernel[{i}].chiplets", f"chiplet {c}; the report has 0..{n - 1}"
                )
    search = report.get("search")
    if search is not None and search["searched"] not in search["methods"]:
        raise SchemaError("search.searched", "names no method in search.methods")
    layout = report.get("layout")
    if layout is not None:
        if len(layout["chiplets"]) != n:
            raise SchemaError(
                "layout.chiplets", f"{len(layout['chiplets'])} chiplets; per_chiplet has {n}"
            )
        cols, rows = layout["dims"]
        if layout["topology"] == "mesh" and cols * rows < n:
            raise SchemaError("layout.dims", f"a {cols}x{rows} mesh cannot hold {n} chiplets")


def _check_activity(report: dict[str, Any]) -> None:
    act, layout = report.get("activity"), report.get("layout")
    if act is None:
        return
    n, mbs = len(report["per_chiplet"]), len(act["microbatches"])
    channels = len(layout["channels"]) if layout is not None else None
    for key in ("nodes", "transfers", "dram_streams"):
        for i, row in enumerate(act.get(key, [])):
            path = f"activity.{key}[{i}]"
            if row[0] >= mbs:
                raise SchemaError(path, f"micro-batch {row[0]}; activity.microbatches has {mbs}")
            if row[4] < row[3]:  # start_s, end_s
                raise SchemaError(path, "ends before it starts")
            if key == "nodes" and max(row[2]) >= n:
                raise SchemaError(path, f"chiplet {max(row[2])}; the report has 0..{n - 1}")
            if key == "dram_streams" and channels is not None and row[2] >= channels:
                raise SchemaError(path, f"DRAM channel {row[2]}; the layout has {channels}")


def pictures_problem(report: dict[str, Any]) -> str | None:
    """Why the trace and pictures cannot be drawn from this (valid) report, or None."""
    for i, t in enumerate(report["per_task"]):
        if "layers" not in t:
            return (
                f"per_task[{i}] has units but no layers (written by an older map-cost; "
                "cost the mapping again to draw it)"
            )
    return None


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
