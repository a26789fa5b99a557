"""Real serving traces (Azure LLM inference trace format) turned into one batched serving step.

A continuous-batching server runs one step for every request in flight. Sampling K requests
from a trace and placing each at a uniformly random step of its life (step 0 = prefill of the
prompt, step s >= 1 = decode with `context + s - 1` tokens of history) gives a realistic
prefill/decode mix with real prompt and output lengths.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xcompass import fileio
from xcompass.errors import XcompassError, shown
from xcompass.model.workload import MAX_SEED, MAX_TOKENS, Request, RequestKind

TRACE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
MAX_TRACE_ROWS = 2**24
"""Requests one trace file may hold (16,777,216)."""
MAX_SAMPLE = 2**16
"""Largest `--sample` (65,536 requests in flight in one step; sampling is per request)."""
MAX_TRACE_BYTES = 2**31
"""Largest trace file read (2 GiB; the Azure traces are a few MiB)."""
_COUNT = re.compile(r"[+-]?[0-9]{1,18}", re.ASCII)


@dataclass(frozen=True)
class Trace:
    context: np.ndarray  # prompt tokens per request
    generated: np.ndarray  # output tokens per request
    path: str
    stamps: tuple[str, ...] = ()  # TIMESTAMP cells as written (parsed by xcompass.serving)

    def __len__(self) -> int:
        return len(self.context)


def read_trace(path: str | Path) -> Trace:
    """Read `TIMESTAMP,ContextTokens,GeneratedTokens`; any bad row is named by line number."""
    raw_path = Path(path)
    path = shown(path)  # as diagnostics name it
    try:  # a regular file only: a FIFO would block, /dev/zero never ends
        fd = fileio.open_regular(raw_path, MAX_TRACE_BYTES)
        handle = open(fd, newline="", encoding="utf-8")  # noqa: SIM115 (closed below)
    except fileio.TooLarge:
        raise XcompassError(
            f"{path}: cannot read trace (larger than {MAX_TRACE_BYTES // 2**30} GiB)"
        ) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise XcompassError(f"{path}: cannot read trace ({reason})") from None
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
        ti = header.index("TIMESTAMP") if "TIMESTAMP" in header else -1
        stamps: list[str] = []
        try:
            for row in reader:
                if not row:
                    continue
                line = reader.line_num
                cells = [row[i].strip() if i < len(row) else "" for i in (ci, gi)]
                if not all(_COUNT.fullmatch(cell) for cell in cells):
                    raise XcompassError(
                        f"{path}:{line}: expected integer ContextTokens and GeneratedTokens, "
                        f"got '{shown(','.join(row), 60)}'"
                    )
                c, g = int(cells[0]), int(cells[1])
                if c <= 0 or g < 0:
                    raise XcompassError(f"{path}:{line}: token counts must be positive")
                if c + g > MAX_TOKENS:
                    raise XcompassError(
                        f"{path}:{line}: ContextTokens + GeneratedTokens = {c + g:,} exceeds "
                        f"the limit of {MAX_TOKENS:,} tokens per request"
                    )
                if len(ctx) >= MAX_TRACE_ROWS:
                    raise XcompassError(
                        f"{path}:{line}: more than {MAX_TRACE_ROWS:,} requests in one trace"
                    )
                ctx.append(c)
                gen.append(g)
                if ti >= 0:
                    stamps.append(row[ti].strip() if ti < len(row) else "")
        except (csv.Error, UnicodeDecodeError) as exc:
            raise XcompassError(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from None
    if not ctx:
        raise XcompassError(f"{path}: trace has no requests")
    return Trace(
        np.asarray(ctx, dtype=np.int64),
        np.asarray(gen, dtype=np.int64),
        str(raw_path),
        tuple(stamps),
    )


def check_sample(k: int, seed: int) -> None:
    """The documented ranges of `--sample` (1..MAX_SAMPLE) and `--seed` (0..MAX_SEED)."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_SAMPLE:
        raise XcompassError(f"--sample {k}: must be positive and at most {MAX_SAMPLE:,}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise XcompassError(f"--seed {seed}: must be between 0 and {MAX_SEED:,}")


def sample_step(trace: Trace, k: int, seed: int) -> list[Request]:
    """K requests drawn without replacement (with, past the trace size), each at a random step."""
    check_sample(k, seed)
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
