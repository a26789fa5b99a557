"""What users of serving systems read, from a run's per-request and per-iteration arrays.

TTFT = first token - arrival; TBT = every gap between consecutive tokens of a request (a
verify step's extra tokens arrive with a gap of 0); TPOT = (finish - first token) / (output -
1); end-to-end = finish - arrival; queueing = first admission - arrival. Throughput counts
finished requests and generated tokens over the makespan (first arrival to last finish).
Goodput counts the finished requests that meet both SLOs themselves (DistServe's per-request
attainment: TTFT <= slo_ttft and at most 1% of the request's gaps above slo_tbt, i.e. its own
p99 gap within the SLO); `slo_met` is Vidur-Search's system criterion (TTFT p90 <= slo_ttft
and TBT p99 over all gaps <= slo_tbt).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xcompass.serving.simulator import Outcome

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class SLO:
    ttft_s: float = 2.0
    tbt_s: float = 0.2


def distribution(values: np.ndarray) -> dict[str, float]:
    """p50 / p90 / p99 / mean of a sample (NaN-free), in the summary's shape."""
    if not len(values):
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "mean": 0.0, "count": 0}
    pct = np.percentile(values, PERCENTILES)
    out = {f"p{p}": float(v) for p, v in zip(PERCENTILES, pct, strict=True)}
    out["mean"] = float(np.mean(values))
    out["count"] = int(len(values))
    return out


def _mfu(
    out: Outcome, replica: Any, peak_flops: dict[int, float] | None, flops: np.ndarray | None
) -> float | None:
    """The model FLOPs of the requests a replica finished over its busy time at its peak
    (None where a request's work is split over replicas: prefill and decode pools)."""
    if not peak_flops or flops is None or not out.busy_s[replica.index]:
        return 0.0
    if replica.role != "both":
        return None
    mine = float(flops[out.replica == replica.index].sum())
    return mine / (float(out.busy_s[replica.index]) * peak_flops[replica.index])


def _mfu_all(out: Outcome, peak_flops: dict[int, float] | None, flops: np.ndarray | None) -> float:
    """Every finished request's model FLOPs over every replica's busy time at its peak."""
    if not peak_flops or flops is None:
        return 0.0
    capacity = sum(float(out.busy_s[r.index]) * peak_flops[r.index] for r in out.replicas)
    return float(flops.sum()) / capacity if capacity else 0.0


def summarize(
    out: Outcome,
    slo: SLO,
    other_idle_w: float = 0.0,
    extra: dict[str, Any] | None = None,
    peak_flops: dict[int, float] | None = None,
    flops: np.ndarray | None = None,
) -> dict[str, Any]:
    """The run's summary (`report.json`'s top level)."""
    done = ~np.isnan(out.finish_s)
    ttft = (out.first_token_s - out.arrival_s)[~np.isnan(out.first_token_s)]
    e2e = (out.finish_s - out.arrival_s)[done]
    queued = (out.admitted_s - out.arrival_s)[~np.isnan(out.admitted_s)]
    multi = done & (out.output > 1)
    tpot = ((out.finish_s - out.first_token_s) / np.maximum(out.output - 1, 1))[multi]
    start = float(out.arrival_s[0]) if len(out.arrival_s) else 0.0
    end = float(np.nanmax(out.finish_s)) if done.any() else start
    it_end = out.iterations["end"]
    if len(it_end):
        end = max(end, float(it_end.max()))
    span = max(end - start, 1e-12)
    generated = int(out.output[done].sum())
    req_ttft = out.first_token_s - out.arrival_s
    n = len(out.arrival_s)
    over = np.bincount(out.gap_request, weights=out.gaps_s > slo.tbt_s, minlength=n)
    attains = done & (req_ttft <= slo.ttft_s) & (over <= 0.01 * out.gap_count)
    ttft_d, tbt_d = distribution(ttft), distribution(out.gaps_s)
    slo_met = bool(
        done.all() and ttft_d["p90"] <= slo.ttft_s and tbt_d["p99"] <= slo.tbt_s and done.any()
    )
    busy = out.busy_s
    idle_w = np.array([r.idle_w for r in out.replicas])
    idle_j = float(np.sum(np.maximum(span - busy, 0.0) * idle_w)) + other_idle_w * span
    energy = float(out.energy_j.sum()) + idle_j
    in_flight = int((~done).sum()) - len(out.rejected)
    summary: dict[str, Any] = {
        "requests": int(len(out.arrival_s)),
        "finished": int(done.sum()),
        "rejected": len(out.rejected),
        "in_flight": in_flight,
        "iterations": int(len(it_end)),
        "makespan_s": span,
        "ttft_s": ttft_d,
        "tbt_s": tbt_d,
        "tpot_s": distribution(tpot),
        "e2e_s": distribution(e2e),
        "queueing_s": distribution(queued),
        "throughput_req_s": float(done.sum()) / span,
        "throughput_tok_s": generated / span,
        "goodput_req_s": float(attains.sum()) / span,
        "slo_attainment": float(attains.sum()) / max(int(len(out.arrival_s)), 1),
        "slo": {"ttft_s": slo.ttft_s, "tbt_s": slo.tbt_s},
        "slo_met": slo_met,
        "energy_j": energy,
        "energy_per_token_j": energy / max(generated, 1),
        "energy_per_request_j": energy / max(int(done.sum()), 1),
        "preemptions": int(out.preemptions.sum()),
        "mfu": _mfu_all(out, peak_flops, flops),
        "replicas": [
            {
                "index": r.index,
                "role": r.role,
                "chiplets": list(r.chiplets),
                "microbatches": r.microbatches,
                "kv_tokens": r.kv_tokens,
                "busy_s": float(out.busy_s[r.index]),
                "utilization": float(out.busy_s[r.index]) / span,
                "energy_j": float(out.energy_j[r.index]),
                "mfu": _mfu(out, r, peak_flops, flops),
            }
            for r in out.replicas
        ],
    }
    if out.rejected:
        first = min(out.rejected)
        summary["rejected_example"] = {"request": first, "why": out.rejected[first]}
    if extra:
        summary.update(extra)
    return summary
