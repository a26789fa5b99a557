"""The cost report (JSON): totals, where the time went (on the critical path, and summed over
tasks), where the energy went, per chiplet and per task. `FIELDS` documents every field and is
written into the report itself, so a reader never has to guess what a number sums."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xcompass.engine.context import EvalContext
from xcompass.engine.mapping import Groups, Mapping
from xcompass.engine.schedule import Result, evaluate_mapping
from xcompass.engine.units import Units, UnitTable
from xcompass.hardware.targets import Target
from xcompass.layer.layercost import CostTable
from xcompass.model.workload import Workload

if TYPE_CHECKING:  # the search sits above the report: no import at run time
    from xcompass.search.problem import SearchProblem

REPORT_VERSION = 1
"""The report's format; `xcompass report` reads this version (xcompass.explore.reading)."""

FIELDS = {
    "report_version": "the report's format version (xcompass report reads version 1; a "
    "report without it is version 1)",
    "latency_s": "end of the last node: the time to run the whole workload once (seconds)",
    "energy_j": "dynamic energy of every node plus static energy of every chiplet (joules)",
    "edp_js": "latency_s x energy_j",
    "tokens": "tokens the workload processes (new tokens of every request)",
    "throughput_tok_s": "tokens / latency_s",
    "mode": "execution mode: graph (CUDA-graph-like, no host gaps) or eager (host launches)",
    "critical_path_s": "the chain of nodes and transfers that sets latency_s, traced back from "
    "the last node: compute (kernels), allreduce (tensor-parallel collectives), dram_stall "
    "(waiting for a shared DRAM channel), nop_transfer (activations crossing links), nop_wait "
    "(a transfer waiting for busy links); the parts sum to latency_s",
    "task_time_s": "the same parts summed over every node of every task (task-seconds): they "
    "overlap in time, so the sum can exceed latency_s",
    "energy_breakdown_j": "energy by source: compute (MACs), sram (on-chip traffic), dram, nop "
    "(link bits x hops, collectives), static (static_w of chiplets that run a task, idle_w of "
    "those that do not, over latency_s); sums to energy_j",
    "per_chiplet": "busy_s (running kernels), stalled_s (waiting for DRAM within its nodes), "
    "idle_s (the rest of latency_s); utilization = busy_s / latency_s; dynamic_energy_j (its "
    "share of its nodes' energy), static_energy_j, energy_j = their sum; powered = runs a task",
    "granularity": "what a mapping places: layer (decoder layers), group (each kernel of the "
    "lowered layers) or tile (Compass's split); `layers` or `units` says how many per "
    "micro-batch, and per_task / per_kernel ranges count the same",
    "per_task": "a task = consecutive layers (units) of one micro-batch on one chiplet group, in "
    "execution order: start_s, end_s, stall_s (DRAM waits), transfer_in_s (its input's NoP "
    "transfer), energy_j = dynamic energy of its nodes only (static energy is per chiplet); "
    "at granularity group or tile, `units` is the range placed and `layers` the decoder layers "
    "those units belong to",
    "per_kernel": "for each task (the unit a mapping places) and its micro-batch, in task "
    "order: the kernels one layer runs (and the model's head/tail kernels where the task holds "
    "the first/last layer), in execution order: name, kind, decision (the pass decision that "
    "shaped it), plan (what it decided for this micro-batch: tile covers, attention stages), "
    "launches (how many of the task's layers run it), and per launch on the task's chiplet "
    "kind and TP shard: time_s, flops, dram_bytes (weights as the schedule charged them: "
    "streamed, or resident when they fit); launches x time_s summed over kernels is the task's "
    "kernel time (all-reduces and transfers are in per_task); at granularity tile, one entry "
    'per kind of share of a kernel, `share` saying which ("128 columns", "1 head of request '
    "group 0\"), and `unit_names` the task's first and last unit",
    "lowering": "what the lowering passes recorded in the IR, for the first layer (every "
    "layer is costed like it): fused groups (kernel, kinds, anchor, level, DRAM bytes per token "
    "saved), attention stages per request shape (mode, br x bc tile, K/V buffers, level, K/V "
    "passes from DRAM), GEMM row-tile covers per token count M with the padded rows (waste), "
    "for each GEMM kernel",
    "unlowered": "the same mapping costed on the IR as if no lowering pass had run (one kernel "
    "per op, attention as QK^T, softmax and PV through DRAM, GEMM rows on the hardware tile): "
    "latency_s, energy_j, throughput_tok_s; present when the IR is lowered",
    # written by map-autotune{report=...} and xcompass explore:
    "search": "the search's provenance: objective, searched method (ga or nsga2), population, "
    "generations, budget, seed, seeds (standard strategies scored), best_standard; per method "
    "(the searched one, sa, random, standard) its best's score (the objective, lower is better; "
    "throughput negative), latency_s, energy_j, edp_js (means over the training request "
    "batches), evaluations, wall_s, evaluations_per_s and, with test batches, test_score; "
    "improvement_vs (relative score change of the searched best against each method; negative "
    "= better); lower_bound (latency_s, energy_j, edp_js, throughput_tok_s, latency_parts_s, "
    "objective): no mapping can do better",
    "pareto": "objective pareto: the latency-energy front, fastest first (latency_s, energy_j, "
    "edp_js per point); empty otherwise",
    # written by xcompass explore (so xcompass report can redraw every picture from the file):
    "convergence": "per method, [evaluations spent, best score so far] after each generation "
    "or batch; the best standard strategy's score and the lower bound on the objective",
    "layout": "the target: topology (mesh or switch), dims (columns, rows), link_gbs, how link "
    "ids are numbered (link_ids), per chiplet its kind, DRAM channel and memory domain, per "
    "DRAM channel its name, bandwidth and attach point",
    "activity": "what every resource did in the schedule of the reported mapping (times in "
    "seconds, the same clock as per_task): nodes (micro-batch index, layer, chiplets, start_s, "
    "end_s, stall_s), transfers (the consumer node's micro-batch and layer, the links its "
    "message held at once, start_s, end_s), dram_streams (node, channel, start_s, end_s, "
    "share = the node's rate cap as a share of the channel; a channel's use at time t is "
    "min(1, the shares of the streams running)); microbatches names the indices",
    "explore": "how xcompass explore ran: the problem in words, the search settings, lowering, "
    "target as given, backend (in-process, processes, dask), tokens_per_batch (mean tokens of "
    "the training batches, for the table's tok/s), prepare_s (cost tables), "
    "search_s, wall_s (the command from its start to this report: files and pictures are "
    "written after it), xcompass version",
}


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


def critical_path(result: Result, index: int = 0) -> dict[str, float]:
    """Walk back from the last node through whatever set each start (its input or a busy
    chiplet) and add up what every step of the chain spent."""
    end = result.end[index]
    B, L = end.shape
    flat = lambda a: a[index].reshape(B * L)  # noqa: E731
    exec_t, ar, stall = flat(result.exec_time), flat(result.allreduce_time), flat(result.stall_time)
    xfer, wait = flat(result.transfer_time), flat(result.link_wait)
    blame, prev = flat(result.blame), flat(result.prev_on_chip)
    crit = flat(result.crit_pred)
    parts = dict.fromkeys(("compute", "allreduce", "dram_stall", "nop_transfer", "nop_wait"), 0.0)
    node = int(np.argmax(end.reshape(B * L))) if B * L else -1
    while node >= 0:
        parts["compute"] += exec_t[node] - ar[node]
        parts["allreduce"] += ar[node]
        parts["dram_stall"] += stall[node]
        if blame[node] == 0:  # its input arrived last
            parts["nop_transfer"] += xfer[node] - wait[node]
            parts["nop_wait"] += wait[node]
            node = int(crit[node])
        elif blame[node] > 0:  # a chiplet of its group was still busy
            node = int(prev[node])
        else:
            break
    return {k: float(v) for k, v in parts.items()}


def layer_position(layer: int, layers: int) -> int:
    """The cost table's layer position of a layer (as the schedule reads it)."""
    return 0 if layer == 0 else (2 if layer == layers - 1 else 1)


def per_kernel(mapping: Mapping, groups: Groups, table: CostTable, target: Target,
               workload: Workload, units: Units | None = None,
               unit_table: UnitTable | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Each task's kernels with their per-launch cost (see FIELDS["per_kernel"])."""
    if table.kernel_time is None:
        return []
    if units is not None and units.granularity == "tile" and unit_table is not None:
        return per_tile(mapping, groups, table, target, workload, units, unit_table)
    layers = int(mapping.place.shape[1])
    by_kernel = units is not None and units.granularity != "layer"
    span = "units" if by_kernel else "layers"
    out = []
    for b, lo, hi, g in task_runs(mapping):
        kind, ti = int(groups.kind[g]), int(groups.tp_index[g])
        launches: dict[int, int] = {}
        for u in range(lo, hi):
            rows = (int(units.row[u]),) if by_kernel else table.positions[layer_position(u, layers)]
            for j in rows:
                launches[j] = launches.get(j, 0) + 1
        pos = layer_position(lo, layers)
        resident = bool(table.fits_sram[kind, pos, ti])
        time = table.kernel_time_resident if resident else table.kernel_time
        dram = table.kernel_dram_resident if resident else table.kernel_dram
        kernels = [
            {
                "name": table.kernels[j].name,
                "kind": table.kernels[j].kind,
                "decision": table.kernels[j].decision,
                "plan": table.kernel_plans[b][kind][j] if table.kernel_plans else "",
                "launches": n,
                "time_s": float(time[b, j, kind, ti]),
                "flops": float(2.0 * table.kernel_macs[b, j, kind, ti]),
                "dram_bytes": float(dram[b, j, kind, ti]),
            }
            for j, n in sorted(launches.items())
        ]
        out.append(
            {
                "microbatch": workload.microbatches[b].name,
                span: [lo, hi],
                "chiplets": list(groups.chips(g)),
                "chiplet_kind": target.kinds[kind].kind,
                "tp": int(table.tp_options[ti]),
                "kernels": kernels,
            }
        )
    return out


def per_tile(mapping: Mapping, groups: Groups, table: CostTable, target: Target,
             workload: Workload, units: Units, ut: UnitTable) -> list[dict[str, Any]]:  # fmt: skip
    """per_kernel at granularity 'tile': each task's unit rows (a kernel's share) with their
    per-launch cost from the unit cost table."""
    out = []
    for b, lo, hi, g in task_runs(mapping):
        kind, ti = int(groups.kind[g]), int(groups.tp_index[g])
        launches: dict[int, int] = {}
        for u in range(lo, hi):
            launches[int(units.row[u])] = launches.get(int(units.row[u]), 0) + 1
        entries = []
        for r, n in launches.items():
            kern = table.kernels[int(ut.kernel[r])]
            resident = bool(ut.fits_sram[kind, r, ti])
            time = ut.time_resident if resident else ut.time_stream
            dram = ut.dram_resident if resident else ut.dram_stream
            entries.append(
                {
                    "name": kern.name,
                    "share": ut.share[r],
                    "kind": kern.kind,
                    "decision": kern.decision,
                    "plan": table.kernel_plans[b][kind][int(ut.kernel[r])]
                    if table.kernel_plans
                    else "",
                    "launches": n,
                    "time_s": float(time[b, r, kind, ti]),
                    "flops": float(2.0 * ut.macs[b, r, kind, ti]),
                    "dram_bytes": float(dram[b, r, kind, ti]),
                }
            )
        out.append(
            {
                "microbatch": workload.microbatches[b].name,
                "units": [lo, hi],
                "unit_names": [units.names[lo], units.names[hi - 1]],
                "chiplets": list(groups.chips(g)),
                "chiplet_kind": target.kinds[kind].kind,
                "tp": int(table.tp_options[ti]),
                "kernels": entries,
            }
        )
    return out


def build_report(
    result: Result,
    mapping: Mapping,
    groups: Groups,
    table: CostTable,
    target: Target,
    workload: Workload,
    model_name: str,
    extra: dict[str, Any] | None = None,
    units: Units | None = None,
    unit_table: UnitTable | None = None,
) -> dict[str, Any]:
    """`result` must come from a detailed evaluation of this one mapping; `extra` fields
    (`lowering`, `unlowered`) go before `fields`."""
    latency = float(result.latency_s[0])
    energy = float(result.energy_j[0])
    start, end = result.start[0], result.end[0]
    exec_t, ar, stall = result.exec_time[0], result.allreduce_time[0], result.stall_time[0]
    xfer, wait = result.transfer_time[0], result.link_wait[0]
    node_e = result.node_energy[0]
    granularity = "layer" if units is None else units.granularity
    span = "layers" if granularity == "layer" else "units"
    tasks = []
    for b, lo, hi, g in task_runs(mapping):
        tasks.append(
            {
                "microbatch": workload.microbatches[b].name,
                span: [lo, hi],
                "chiplets": list(groups.chips(g)),
                "start_s": float(start[b, lo]),
                "end_s": float(end[b, hi - 1]),
                "stall_s": float(stall[b, lo:hi].sum()),
                "transfer_in_s": float(xfer[b, lo]),
                "energy_j": float(node_e[b, lo:hi].sum()),
            }
        )
        if units is not None and granularity != "layer":  # the layers its units belong to
            tasks[-1]["layers"] = [int(units.layer[lo]), int(units.layer[hi - 1]) + 1]
    C = target.chiplets
    busy, stalled, dynamic = np.zeros(C), np.zeros(C), np.zeros(C)
    for (b, lyr), g in np.ndenumerate(mapping.place):
        chips = list(groups.chips(int(g)))
        busy[chips] += exec_t[b, lyr]
        stalled[chips] += stall[b, lyr]
        dynamic[chips] += node_e[b, lyr] / len(chips)
    static = result.static_j[0]
    kinds = target.kind_of()
    per_chiplet = [
        {
            "chiplet": c,
            "kind": target.kinds[kinds[c]].kind,
            "powered": bool(result.powered[0, c]),
            "busy_s": float(busy[c]),
            "stalled_s": float(stalled[c]),
            "idle_s": float(max(latency - busy[c] - stalled[c], 0.0)),
            "utilization": float(busy[c] / latency) if latency else 0.0,
            "dynamic_energy_j": float(dynamic[c]),
            "static_energy_j": float(static[c]),
            "energy_j": float(dynamic[c] + static[c]),
        }
        for c in range(C)
    ]
    tokens = int(table.tokens.sum())
    return {
        "report_version": REPORT_VERSION,
        "model": model_name,
        "target": target.name,
        "mode": table.mode,
        "latency_s": latency,
        "energy_j": energy,
        "edp_js": latency * energy,
        "tokens": tokens,
        "throughput_tok_s": tokens / latency if latency else 0.0,
        "microbatches": len(workload.microbatches),
        "granularity": granularity,
        span: int(mapping.place.shape[1]),
        "critical_path_s": critical_path(result),
        "task_time_s": {
            "compute": float((exec_t - ar).sum()),
            "allreduce": float(ar.sum()),
            "dram_stall": float(stall.sum()),
            "nop_transfer": float((xfer - wait).sum()),
            "nop_wait": float(wait.sum()),
        },
        "energy_breakdown_j": {k: float(v[0]) for k, v in (result.parts or {}).items()},
        "per_chiplet": per_chiplet,
        "per_task": tasks,
        "per_kernel": per_kernel(mapping, groups, table, target, workload, units, unit_table),
        **(extra or {}),
        "fields": FIELDS,
    }


@dataclass(frozen=True)
class Costed:
    """A mapping costed once: the engine's detailed result and the report built from it."""

    result: Result
    report: dict[str, Any]


def cost_mapping(
    ectx: EvalContext,
    mapping: Mapping,
    workload: Workload,
    model_name: str,
    extra: dict[str, Any] | Callable[[Result], dict[str, Any]] | None = None,
) -> Costed:
    """Cost `mapping` in `ectx` (one detailed evaluation) and build its report, the one path
    every writer takes (map-cost, map-autotune, `xcompass explore`). `extra` holds report
    fields placed before `fields`, or makes them from the result (explore's activity);
    below a layer the report names the units' layers."""
    result = evaluate_mapping(ectx, mapping)
    fields = extra(result) if callable(extra) else extra
    below = ectx.granularity != "layer"
    report = build_report(
        result,
        mapping,
        ectx.groups,
        ectx.table,
        ectx.target,
        workload,
        model_name,
        fields,
        ectx.units if below else None,
        ectx.ut if below else None,
    )
    return Costed(result, report)


def answer_context(problem: SearchProblem, sampled: bool) -> EvalContext:
    """Where a search's answer is costed: the request batch the module (or spec) names, which
    is the search's own context unless it scored sampled batches (`sampled`)."""
    return problem.own_context() if sampled else problem.train[0]


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2) + "\n"
