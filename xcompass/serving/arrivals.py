"""Requests arriving over time: a trace's own timestamps, or Poisson / gamma arrivals at a QPS.

A stream is three arrays in arrival order (seconds from the first arrival, prompt tokens,
output tokens). Output tokens count the one the prefill emits, so every request asks for at
least one (a trace row with 0 generated tokens is served as a prefill that emits one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from xcompass.errors import XcompassError, shown
from xcompass.model.trace import Trace
from xcompass.model.workload import MAX_REQUESTS, MAX_TOKENS, RequestKind, parse_spec

MAX_QPS = 1e6
"""Largest arrival rate (requests per second) a stream may be generated at."""
MAX_DURATION_S = 30 * 86400.0
"""Longest generated stream (30 days of arrivals)."""
MAX_RATE_SCALE = 1e6
"""Largest factor a trace's arrival rate may be scaled by (and smallest: its inverse)."""


@dataclass(frozen=True)
class RequestStream:
    """Requests in arrival order: when each arrives (s), its prompt and output tokens."""

    arrival_s: np.ndarray  # float64, non-decreasing, first = 0 for a trace window
    prompt: np.ndarray  # int64 >= 1
    output: np.ndarray  # int64 >= 1 (the prefill's token included)
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.arrival_s)
        if len(self.prompt) != n or len(self.output) != n:
            raise XcompassError("a request stream needs one prompt and output per arrival")
        if n > MAX_REQUESTS:
            raise XcompassError(f"{n:,} requests; at most {MAX_REQUESTS:,}")
        if n and np.any(np.diff(self.arrival_s) < 0):
            raise XcompassError("arrivals must be in time order")

    def __len__(self) -> int:
        return len(self.arrival_s)

    def scaled(self, rate_scale: float) -> RequestStream:
        """The same requests arriving `rate_scale` times as fast."""
        check_positive("--rate-scale", rate_scale, MAX_RATE_SCALE)
        return RequestStream(
            self.arrival_s / rate_scale, self.prompt, self.output, f"{self.source} x{rate_scale:g}"
        )

    def first(self, n: int) -> RequestStream:
        return RequestStream(self.arrival_s[:n], self.prompt[:n], self.output[:n], self.source)

    @property
    def span_s(self) -> float:
        return float(self.arrival_s[-1] - self.arrival_s[0]) if len(self) else 0.0


def check_positive(option: str, value: float, upper: float) -> float:
    """A positive, finite number at most `upper`, or a one-line error naming the option."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise XcompassError(f"{option} {value!r}: must be a number")
    if not np.isfinite(value) or not 0 < value <= upper:
        raise XcompassError(f"{option} {value:g}: must be positive and at most {upper:g}")
    return float(value)


def _stamp_seconds(cell: str, row: int, path: str) -> float:
    """A TIMESTAMP cell as seconds: ISO date-time (the Azure traces) or plain seconds."""
    try:
        return float(cell) if cell.replace(".", "", 1).isdigit() else _iso(cell)
    except ValueError:
        raise XcompassError(
            f"{path}: request {row + 1}: TIMESTAMP '{shown(cell, 40)}' is neither an ISO "
            "date-time nor seconds"
        ) from None


def _iso(cell: str) -> float:
    # Python reads up to 6 fractional digits; the Azure traces write 7
    if "." in cell:
        head, frac = cell.rsplit(".", 1)
        cell = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(cell).timestamp()


def from_trace(
    trace: Trace,
    *,
    rate_scale: float = 1.0,
    window: tuple[float, float] | None = None,
    requests: int | None = None,
) -> RequestStream:
    """The trace's requests at their own timestamps, from its first arrival (seconds).

    `window` (start, end) in seconds from the first arrival keeps the requests arriving in
    [start, end); `requests` the first N of those; `rate_scale` then compresses time (2 = twice
    the rate). Timestamps must be present and in order (a trace is a log, not a sample)."""
    if not trace.stamps or len(trace.stamps) != len(trace):
        raise XcompassError(f"{shown(trace.path)}: the trace has no TIMESTAMP column to replay")
    t = np.empty(len(trace))
    for i, cell in enumerate(trace.stamps):
        t[i] = _stamp_seconds(cell, i, shown(trace.path))
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise XcompassError(
            f"{shown(trace.path)}: request {i + 1}: TIMESTAMP '{shown(trace.stamps[i], 40)}' is "
            "earlier than the request before it (timestamps must be in order)"
        )
    t -= t[0]
    keep = np.ones(len(t), dtype=bool)
    if window is not None:
        start, end = window
        if not (np.isfinite(start) and np.isfinite(end)) or start < 0 or end <= start:
            raise XcompassError(f"--window {start:g}:{end:g}: need 0 <= START < END (seconds)")
        if start > t[-1]:
            raise XcompassError(
                f"--window {start:g}:{end:g}: the trace ends {t[-1]:.1f} s after its first arrival"
            )
        keep = (t >= start) & (t < end)
    idx = np.flatnonzero(keep)
    if requests is not None:
        if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
            raise XcompassError(f"--requests {requests}: must be a positive integer")
        idx = idx[:requests]
    if not idx.size:
        raise XcompassError("the trace window holds no request")
    arrival = t[idx] - t[idx[0]]
    stream = RequestStream(
        arrival,
        trace.context[idx].astype(np.int64),
        np.maximum(trace.generated[idx], 1).astype(np.int64),
        shown(trace.path),
    )
    return stream.scaled(rate_scale) if rate_scale != 1.0 else stream


def generated(
    qps: float,
    duration_s: float,
    prompt: np.ndarray,
    output: np.ndarray,
    *,
    seed: int = 0,
    cv: float = 1.0,
    source: str = "",
) -> RequestStream:
    """Arrivals at `qps` for `duration_s`: exponential gaps (Poisson; `cv` = 1) or gamma gaps
    with that coefficient of variation (burstier above 1), lengths drawn from the given
    (prompt, output) pairs with replacement. Deterministic for a seed."""
    check_positive("--qps", qps, MAX_QPS)
    check_positive("--duration", duration_s, MAX_DURATION_S)
    check_positive("--cv", cv, 100.0)
    expected = qps * duration_s
    if expected > MAX_REQUESTS:
        raise XcompassError(
            f"--qps {qps:g} x --duration {duration_s:g} = {expected:,.0f} requests; at most "
            f"{MAX_REQUESTS:,}"
        )
    rng = np.random.default_rng(seed)
    shape = 1.0 / cv**2
    n_draw = int(expected * 1.2 + 10 * np.sqrt(expected) + 16)
    gaps = rng.gamma(shape, 1.0 / (qps * shape), size=n_draw)
    t = np.cumsum(gaps) - gaps[0]
    t = t[t < duration_s]
    pick = rng.integers(0, len(prompt), size=len(t))
    return RequestStream(
        t,
        np.asarray(prompt, dtype=np.int64)[pick],
        np.maximum(np.asarray(output, dtype=np.int64)[pick], 1),
        source or f"{'poisson' if cv == 1 else f'gamma cv={cv:g}'} {qps:g} qps",
    )


def lengths_from_spec(spec: str, output: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(prompt, output) pairs from a SPEC of prefill items (`prefill:512x3,prefill:2048`);
    each request then generates `output` tokens."""
    reqs = parse_spec(spec)
    bad = [r.spec() for r in reqs if r.kind is not RequestKind.PREFILL]
    if bad:
        raise XcompassError(
            f"--lengths '{shown(spec, 40)}': item '{bad[0]}' is not a prompt (use prefill:LEN)"
        )
    if not 1 <= output <= MAX_TOKENS:
        raise XcompassError(f"--output-tokens {output}: must be 1 to {MAX_TOKENS:,}")
    prompt = np.concatenate([np.full(r.count, r.new_tokens) for r in reqs])
    return prompt.astype(np.int64), np.full(len(prompt), output, dtype=np.int64)


def parse_window(flag: str, text: str | None) -> tuple[float, float] | None:
    """`START:END` seconds (START may be empty: 0), as `xcompass serve --window` reads it."""
    if text is None:
        return None
    start, sep, end = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return float(start or 0.0), float(end)
    except ValueError:
        raise XcompassError(
            f"{flag} '{shown(text, 40)}': expected START:END in seconds from the trace's first "
            "arrival"
        ) from None
