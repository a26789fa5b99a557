"""The cost report (JSON): totals, per chiplet, per task, and where the time went."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from xcompass.layercost import CostTable
from xcompass.mapping import Groups, Mapping
from xcompass.schedule import Result
from xcompass.targets import Target
from xcompass.workload import Workload


def task_runs(mapping: Mapping) -> list[tuple[int, int, int, int]]:
    """(micro-batch, lo, hi, group) runs in execution order, as in the mapping IR."""
    runs = []
    for lo_seg, hi_seg in mapping.segments():
        for b in range(mapping.place.shape[0]):
            lo = lo_seg
            while lo < hi_seg:
                g = int(mapping.place[b, lo])
                hi = lo + 1
                while hi < hi_seg and mapping.place[b, hi] == g:
                    hi += 1
                runs.append((b, lo, hi, g))
                lo = hi
    return runs


def build_report(
    result: Result,
    mapping: Mapping,
    groups: Groups,
    table: CostTable,
    target: Target,
    workload: Workload,
    model_name: str,
) -> dict[str, Any]:
    """`result` must come from a detailed evaluation of this one mapping."""
    latency = float(result.latency_s[0])
    energy = float(result.energy_j[0])
    start, end = result.start[0], result.end[0]
    exec_t, xfer, stall = result.exec_time[0], result.transfer_time[0], result.stall_time[0]
    node_e = result.node_energy[0]
    tasks = []
    for b, lo, hi, g in task_runs(mapping):
        tasks.append(
            {
                "microbatch": workload.microbatches[b].name,
                "layers": [lo, hi],
                "chiplets": list(groups.chips(g)),
                "start_s": float(start[b, lo]),
                "end_s": float(end[b, hi - 1]),
                "energy_j": float(node_e[b, lo:hi].sum()),
            }
        )
    C = target.chiplets
    busy = np.zeros(C)
    chip_e = np.zeros(C)
    kinds = target.kind_of()
    for (b, lyr), g in np.ndenumerate(mapping.place):
        chips = list(groups.chips(int(g)))
        busy[chips] += exec_t[b, lyr]
        chip_e[chips] += node_e[b, lyr] / len(chips)
    static = np.array([target.kinds[k].static_w for k in kinds]) * latency
    chip_e += static
    per_chiplet = [
        {
            "chiplet": c,
            "kind": target.kinds[kinds[c]].kind,
            "busy_s": float(busy[c]),
            "utilization": float(busy[c] / latency) if latency else 0.0,
            "energy_j": float(chip_e[c]),
        }
        for c in range(C)
    ]
    tokens = int(table.tokens.sum())
    parts = {k: float(v[0]) for k, v in (result.parts or {}).items()}
    return {
        "model": model_name,
        "target": target.name,
        "latency_s": latency,
        "energy_j": energy,
        "edp_js": latency * energy,
        "tokens": tokens,
        "throughput_tok_s": tokens / latency if latency else 0.0,
        "microbatches": len(workload.microbatches),
        "layers": int(mapping.place.shape[1]),
        "time_breakdown_s": {
            "compute": float(exec_t.sum()),
            "dram_contention": float(stall.sum()),
            "nop": float(xfer.sum()),
        },
        "energy_breakdown_j": parts,
        "per_chiplet": per_chiplet,
        "per_task": tasks,
    }


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2) + "\n"
