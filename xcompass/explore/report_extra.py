"""What `xcompass explore` adds to the cost report (documented in `xcompass.engine.report.FIELDS`):
the search's figures, its convergence and Pareto front, the target's layout and what every
shared resource did, so `xcompass report` can redraw every table and picture from the JSON
alone, with times that are the report's own."""

from __future__ import annotations

from typing import Any

from xcompass.engine.mapping import Groups, Mapping
from xcompass.engine.schedule import Result
from xcompass.hardware.targets import Target
from xcompass.model.workload import Workload
from xcompass.search.objectives import SERVING_OBJECTIVES
from xcompass.search.study import Outcome

LINK_IDS = {
    "mesh": "link id = 4 x chiplet + direction (0 east, 1 west, 2 north, 3 south) of the "
    "chiplet the link leaves; chiplet c sits at column c % cols, row c // cols",
    "switch": "link id c = chiplet c's egress port, chiplets + c = its ingress port",
}


def layout(target: Target) -> dict[str, Any]:
    """Topology, chiplet kinds and DRAM channels (the report's `layout`)."""
    net = target.network
    kinds, channels, domains = target.kind_of(), target.channel_of(), target.domain_of()
    return {
        "topology": net.topology,
        "dims": [int(d) for d in net.dims] if net.topology == "mesh" else [target.chiplets, 1],
        "link_gbs": net.link_gbs,
        "link_ids": LINK_IDS.get(net.topology, ""),
        "chiplets": [
            {
                "kind": target.kinds[int(kinds[c])].kind,
                "channel": int(channels[c]),
                "domain": int(domains[c]),
            }
            for c in range(target.chiplets)
        ],
        "channels": [
            {
                "name": f"ch{i}",
                "bw_gbs": d.bw_gbs,
                "attach": list(d.attach) if d.attach is not None else None,
            }
            for i, d in enumerate(target.drams)
        ],
    }


def activity(
    result: Result, mapping: Mapping, groups: Groups, workload: Workload
) -> dict[str, Any]:
    """Every node, NoP message and DRAM stream of the schedule (the report's `activity`)."""
    B, L = mapping.place.shape
    nodes = []
    for b in range(B):
        for lyr in range(L):
            g = int(mapping.place[b, lyr])
            nodes.append(
                [
                    b,
                    lyr,
                    list(groups.chips(g)),
                    float(result.start[0, b, lyr]),
                    float(result.end[0, b, lyr]),
                    float(result.stall_time[0, b, lyr]),
                ]
            )
    transfers = [
        [node // L, node % L, list(links), float(start), float(end)]
        for node, links, start, end in (result.transfers or [])
    ]
    streams = [
        [node // L, node % L, int(ch), float(start), float(end), float(share)]
        for node, ch, start, end, share in (result.dram_streams or [])
    ]
    return {
        "microbatches": [mb.name for mb in workload.microbatches],
        "nodes_columns": ["microbatch", "layer", "chiplets", "start_s", "end_s", "stall_s"],
        "nodes": nodes,
        "transfers_columns": ["microbatch", "layer", "links", "start_s", "end_s"],
        "transfers": transfers,
        "dram_streams_columns": ["microbatch", "layer", "channel", "start_s", "end_s", "share"],
        "dram_streams": streams,
    }


def convergence(outcome: Outcome) -> dict[str, Any]:
    """Each method's best score against evaluations spent (the report's `convergence`). For
    goodput and capacity the values are the figures themselves (req/s, higher is better), as
    the plot draws them; the bound is then an upper bound (+inf, none, for capacity)."""
    sign = -1.0 if outcome.objective in SERVING_OBJECTIVES else 1.0
    return {
        "objective": outcome.scalar(),
        "methods": {
            name: [[int(e), sign * float(s)] for e, s in r.history]
            for name, r in outcome.results.items()
        },
        "standard": sign * float(outcome.results["standard"].best.score[0])
        if "standard" in outcome.results
        else None,
        "lower_bound": sign * float(outcome.bound_score()),
    }


def front(outcome: Outcome) -> list[dict[str, float]]:
    """The Pareto front, fastest first (the report's `pareto`; empty unless objective=pareto)."""
    f = outcome.best.front
    if f is None:
        return []
    return [
        {"latency_s": float(lat), "energy_j": float(e), "edp_js": float(lat * e)}
        for lat, e in zip(f.latency_s, f.energy_j, strict=True)
    ]
