"""Real serving traces (Azure LLM inference trace format) turned into one batched serving step.

A continuous-batching server runs one step for every request in flight. Sampling K requests
from a trace and placing each at a uniformly random step of its life (step 0 = prefill of the
prompt, step s >= 1 = decode with `context + s - 1` tokens of history) gives a realistic
prefill/decode mix with real prompt and output lengths.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xcompass.errors import XcompassError
from xcompass.workload import Request, RequestKind

TRACE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


@dataclass(frozen=True)
class Trace:
    context: np.ndarray  # prompt tokens per request
    generated: np.ndarray  # output tokens per request
    path: str

    def __len__(self) -> int:
        return len(self.context)


def read_trace(path: str | Path) -> Trace:
    """Read `TIMESTAMP,ContextTokens,GeneratedTokens`; any bad row is named by line number."""
    path = Path(path)
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise XcompassError(f"{path}: cannot read trace ({exc.strerror})") from None
    ctx, gen = [], []
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise XcompassError(
                f"{path}: empty trace (expected header {','.join(TRACE_COLUMNS)})"
            ) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise XcompassError(f"{path}:1: unreadable CSV ({exc})") from None
        header = [h.strip() for h in header]
        missing = [c for c in TRACE_COLUMNS[1:] if c not in header]
        if missing:
            raise XcompassError(
                f"{path}:1: missing column(s) {', '.join(missing)} "
                f"(expected header {','.join(TRACE_COLUMNS)})"
            )
        ci, gi = header.index("ContextTokens"), header.index("GeneratedTokens")
        try:
            for row in reader:
                if not row:
                    continue
                line = reader.line_num
                try:
                    c, g = int(row[ci]), int(row[gi])
                except (ValueError, IndexError):
                    raise XcompassError(
                        f"{path}:{line}: expected integer ContextTokens and GeneratedTokens, "
                        f"got {','.join(row)!r}"
                    ) from None
                if c <= 0 or g < 0:
                    raise XcompassError(f"{path}:{line}: token counts must be positive")
                ctx.append(c)
                gen.append(g)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise XcompassError(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from None
    if not ctx:
        raise XcompassError(f"{path}: trace has no requests")
    return Trace(np.asarray(ctx, dtype=np.int64), np.asarray(gen, dtype=np.int64), str(path))


def sample_step(trace: Trace, k: int, seed: int) -> list[Request]:
    """K requests drawn without replacement (with, past the trace size), each at a random step."""
    if k <= 0:
        raise XcompassError(f"--sample {k}: must be positive")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(trace), size=k, replace=k > len(trace))
    requests: list[Request] = []
    for i, j in enumerate(idx):
        ctx, gen = int(trace.context[j]), int(trace.generated[j])
        step = int(rng.integers(0, max(gen, 1)))  # steps 0..gen-1 run on the model
        if step == 0:
            requests.append(Request(f"r{i}", RequestKind.PREFILL, 0, ctx))
        else:
            requests.append(Request(f"r{i}", RequestKind.DECODE, ctx + step - 1, 1))
    return requests
