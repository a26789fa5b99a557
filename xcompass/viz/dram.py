"""DRAM channels over time, from the engine's stream records (what the Gantt chart and the
Perfetto trace both draw)."""

from __future__ import annotations

from typing import Any

import numpy as np


def dram_usage(streams: list[list[Any]], channel: int) -> tuple[np.ndarray, np.ndarray]:
    """A channel's share in use over time, as a step function (times, share from each time):
    min(1, the summed rate caps of the streams running), exact under water-filling (a stream
    gets less than its cap only while the channel is full)."""
    events: dict[float, float] = {}
    for _, _, ch, start, end, share in streams:
        if ch == channel and end > start:
            events[start] = events.get(start, 0.0) + share
            events[end] = events.get(end, 0.0) - share
    times = np.array(sorted(events))
    level = np.cumsum([events[t] for t in times]) if len(times) else np.zeros(0)
    return times, np.clip(np.round(level, 12), 0.0, 1.0)
