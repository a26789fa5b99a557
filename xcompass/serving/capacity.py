"""Capacity: the highest arrival rate at which the SLOs hold (Vidur-Search's definition:
TTFT p90 and TBT p99 within their SLOs, every request served), found by bisection on a factor
that scales the stream's arrival times (a trace replayed faster, or a Poisson stream at a
higher QPS: the same thing for exponential gaps)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xcompass.serving.arrivals import RequestStream

MAX_DOUBLINGS = 10
PRECISION = 0.03
"""Bisection stops when the bracket's ends are within 3% of each other."""


def offered_rate(stream: RequestStream) -> float:
    span = stream.span_s
    return (len(stream) - 1) / span if span > 0 else float(len(stream))


def find_capacity(
    stream: RequestStream,
    serve: Callable[[RequestStream], dict[str, Any]],
    *,
    precision: float = PRECISION,
) -> tuple[float, list[dict[str, Any]]]:
    """(capacity in requests/s, every point tried: rate, goodput, throughput, slo_met).
    `serve` runs the stream and returns the summary; 0 when not even 1/1024 of the rate
    meets the SLOs."""
    base = offered_rate(stream)
    points: list[dict[str, Any]] = []

    def met(scale: float) -> bool:
        s = serve(stream.scaled(scale))
        points.append(
            {
                "scale": scale,
                "rate_req_s": base * scale,
                "goodput_req_s": s["goodput_req_s"],
                "throughput_req_s": s["throughput_req_s"],
                "ttft_p90_s": s["ttft_s"]["p90"],
                "tbt_p99_s": s["tbt_s"]["p99"],
                "slo_met": s["slo_met"],
            }
        )
        return bool(s["slo_met"])

    lo = hi = 1.0
    if met(1.0):
        for _ in range(MAX_DOUBLINGS):
            hi = lo * 2.0
            if not met(hi):
                break
            lo = hi
        else:
            return base * lo, points
    else:
        for _ in range(MAX_DOUBLINGS):
            lo = hi / 2.0
            if met(lo):
                break
            hi = lo
        else:
            return 0.0, points
    while hi / lo > 1.0 + precision:
        mid = (lo * hi) ** 0.5
        if met(mid):
            lo = mid
        else:
            hi = mid
    return base * lo, points
