"""A replica's decoding requests as one group that advances together.

Under Orca and Sarathi every request past its prompt emits one token in every iteration of its
replica (until the token budget runs out, which `max_running` < budget rules out by default).
So their histories all grow by one per iteration, and what a step's cost needs of them (how
many, their mean and longest history) follows from sums kept as requests join and leave,
without visiting each request each iteration. A request's tokens are the ends of the replica's
iterations from the one it joined to the one it left: its gaps are written when it leaves.
Serving an hour of traffic visits ~10^7 decode tokens; this makes an iteration's cost in the
simulator independent of its batch size. What it computes is what the per-request path
computes (tested side by side).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

from xcompass.serving.replicas import Item


@dataclass
class DecodeGroup:
    """The decoding requests of one replica. Iteration j is the replica's j-th iteration
    (`ends[j]` its end time); a member's history in iteration j is `offset[rid] + j`."""

    offset: dict[int, int] = field(default_factory=dict)  # in the order they joined
    since: dict[int, tuple[int, int, float]] = field(default_factory=dict)
    """rid -> (first iteration it decodes in, tokens it had then, time of its last token)."""
    finishing: dict[int, list[int]] = field(default_factory=dict)  # iteration -> last tokens
    ends: array = field(default_factory=lambda: array("d"))
    total: int = 0  # sum of the offsets
    top: int | None = None  # the largest offset (None: recompute)

    def __len__(self) -> int:
        return len(self.offset)

    def join(self, rid: int, j: int, history: int, tokens: int, output: int, last: float) -> None:
        """`rid` decodes from iteration j on, with `history` tokens of KV then, `tokens` of its
        `output` emitted, the last at `last`."""
        off = history - j
        self.offset[rid] = off
        self.since[rid] = (j, tokens, last)
        self.total += off
        if len(self.offset) == 1 or (self.top is not None and off > self.top):
            self.top = off
        self.finishing.setdefault(j + output - tokens - 1, []).append(rid)

    def longest(self, j: int) -> int:
        """The longest member history in iteration j."""
        if self.top is None:
            self.top = max(self.offset.values())
        return self.top + j

    def items(self, j: int) -> list[Item]:
        """The members' decode steps in iteration j (for what needs them one by one)."""
        return [(rid, 1, off + j, "d") for rid, off in self.offset.items()]

    def leave(self, rid: int, j: int) -> tuple[int, float, np.ndarray]:
        """Take `rid` out after it decoded through iteration j: (its tokens now, its last
        token's time, its gaps since it joined)."""
        off = self.offset.pop(rid)
        first, tokens, last = self.since.pop(rid)
        self.total -= off
        if off == self.top:
            self.top = None
        if j < first:
            return tokens, last, np.zeros(0)
        times = np.frombuffer(self.ends[first : j + 1], dtype=float)
        gaps = np.empty(len(times))
        gaps[0] = times[0] - last
        np.subtract(times[1:], times[:-1], out=gaps[1:])
        return tokens + j - first + 1, float(times[-1]), gaps
