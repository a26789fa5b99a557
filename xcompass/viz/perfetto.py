"""The schedule as a Chrome / Perfetto trace (JSON trace-event format; open it in
ui.perfetto.dev or chrome://tracing), built from a report alone.

Three processes, one track per resource:
- "chiplets": a thread per chiplet; each task is a slice (`mb3 L0-7`) with a nested slice per
  layer (its DRAM stall in the arguments); a tensor-parallel task appears on each member;
- "DRAM channels": a counter per channel, the share of its bandwidth in use (0-1);
- "NoP links": a thread per link that carried a message; each message a slice on every link of
  its route (a message holds them all at once).
Times are the report's: a slice starts at `start_s` x 1e6 microseconds.
"""

from __future__ import annotations

import json
from typing import Any

from xcompass.viz.dram import dram_usage

PID_CHIPLETS, PID_DRAM, PID_LINKS = 1, 2, 3
LINK_DIRECTIONS = ("east", "west", "north", "south")


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 6)


def _meta(pid: int, tid: int | None, kind: str, name: str, order: int) -> list[dict]:
    key = "process" if tid is None else "thread"
    base: dict[str, Any] = {"pid": pid, "ph": "M"}
    if tid is not None:
        base["tid"] = tid
    return [
        {**base, "name": f"{key}_name", "args": {"name": name}},
        {**base, "name": f"{key}_sort_index", "args": {"sort_index": order}},
    ]


def link_name(link: int, layout: dict[str, Any]) -> str:
    n = len(layout["chiplets"])
    if layout["topology"] == "mesh":
        return f"link {link}: chiplet {link // 4} {LINK_DIRECTIONS[link % 4]}"
    return f"link {link}: chiplet {link % n} {'egress' if link < n else 'ingress'}"


def chrome_trace(report: dict[str, Any]) -> dict[str, Any]:
    """The trace as a JSON-ready dict (`traceEvents` plus metadata)."""
    layout, act = report.get("layout"), report.get("activity") or {}
    chiplets = len(report["per_chiplet"])
    kinds = [c["kind"] for c in report["per_chiplet"]]
    events: list[dict[str, Any]] = []
    events += _meta(PID_CHIPLETS, None, "process", "chiplets", 0)
    for c in range(chiplets):
        events += _meta(PID_CHIPLETS, c, "thread", f"chiplet {c} ({kinds[c]})", c)
    for task in report["per_task"]:
        lo, hi = task["layers"]
        name = f"{task['microbatch']} L{lo}" + (f"-{hi - 1}" if hi - lo > 1 else "")
        ts = _us(task["start_s"])
        for c in task["chiplets"]:
            events.append(
                {
                    "name": name,
                    "cat": "task",
                    "ph": "X",
                    "pid": PID_CHIPLETS,
                    "tid": c,
                    "ts": ts,
                    "dur": round(_us(task["end_s"]) - ts, 6),
                    "args": {
                        k: task[k]
                        for k in ("layers", "chiplets", "stall_s", "transfer_in_s", "energy_j")
                    },
                }
            )
    names = act.get("microbatches", [])
    for b, layer, chips, start, end, stall in act.get("nodes", []):
        ts = _us(start)
        for c in chips:
            events.append(
                {
                    "name": f"L{layer}",
                    "cat": "layer",
                    "ph": "X",
                    "pid": PID_CHIPLETS,
                    "tid": c,
                    "ts": ts,
                    "dur": round(_us(end) - ts, 6),
                    "args": {"microbatch": names[b], "stall_s": stall},
                }
            )
    if layout is not None:
        events += _meta(PID_DRAM, None, "process", "DRAM channels", 1)
        streams = act.get("dram_streams", [])
        for ch, info in enumerate(layout["channels"]):
            label = f"DRAM {ch} ({info['name']}, {info['bw_gbs']:g} GB/s)"
            times, share = dram_usage(streams, ch)
            events.append(
                {"name": label, "ph": "C", "pid": PID_DRAM, "ts": 0.0, "args": {"share": 0.0}}
            )
            for t, s in zip(times, share, strict=True):
                events.append(
                    {
                        "name": label,
                        "ph": "C",
                        "pid": PID_DRAM,
                        "ts": _us(float(t)),
                        "args": {"share": float(s)},
                    }
                )
        transfers = act.get("transfers", [])
        used = sorted({link for tr in transfers for link in tr[2]})
        events += _meta(PID_LINKS, None, "process", "NoP links", 2)
        for i, link in enumerate(used):
            events += _meta(PID_LINKS, link, "thread", link_name(link, layout), i)
        for b, layer, links, start, end in transfers:
            ts = _us(start)
            for link in links:
                events.append(
                    {
                        "name": f"{names[b]} -> L{layer}",
                        "cat": "transfer",
                        "ph": "X",
                        "pid": PID_LINKS,
                        "tid": link,
                        "ts": ts,
                        "dur": round(_us(end) - ts, 6),
                        "args": {"microbatch": names[b], "layer": layer, "route": links},
                    }
                )
    return {
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "model": report.get("model"),
            "target": report.get("target"),
            "latency_s": report.get("latency_s"),
            "energy_j": report.get("energy_j"),
        },
    }


def write_trace(report: dict[str, Any], path: str) -> None:
    from xcompass.fileio import write_atomically

    write_atomically(path, json.dumps(chrome_trace(report), separators=(",", ":")) + "\n")
