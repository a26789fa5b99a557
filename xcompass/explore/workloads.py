"""Where `xcompass explore` gets its serving step when the user names none: the embedded
request-length distribution (quantiles of the Azure LLM inference trace 2023, conversation;
`xcompass/data/request_lengths.json`, derived by `benchmarks/derive_request_lengths.py`), so
the product never reads the trace files at run time.

The default step keeps `DEFAULT_SPEC`'s mix (2 prompts prefill while 32 requests decode and 4
verify 4 draft tokens) and draws every length from the distribution: a prompt's length from
the prompt lengths; a decode or verify request's history from a prompt length plus a uniformly
random point of its output. `EmbeddedDistribution` has the `sample(seed, microbatches)` of
`xcompass.search.samples`, so training and test batches come from it the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from xcompass.model.workload import (
    DEFAULT_SPEC,
    MAX_TOKENS,
    Request,
    RequestKind,
    Workload,
    parse_spec,
    split_microbatches,
)

DEFAULT_MICROBATCHES = 8
"""Micro-batches of the default step (and of a trace sample, unless --microbatches says)."""


@dataclass(frozen=True)
class LengthQuantiles:
    """Inverse CDFs of prompt and output lengths, piecewise linear between quantile knots
    (prompt and output drawn independently: their rank correlation in the trace is 0.07)."""

    levels: tuple[float, ...]
    prompt: tuple[int, ...]
    output: tuple[int, ...]
    source: str = ""

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n (prompt, output) length pairs, each at least 1 token."""
        u = rng.random((2, n))
        prompt = np.interp(u[0], self.levels, self.prompt)
        output = np.interp(u[1], self.levels, self.output)
        return (
            np.clip(np.rint(prompt), 1, MAX_TOKENS // 2).astype(np.int64),
            np.clip(np.rint(output), 1, MAX_TOKENS // 2).astype(np.int64),
        )


@cache
def embedded_lengths() -> LengthQuantiles:
    """The distribution shipped with the package."""
    text = resources.files("xcompass").joinpath("data/request_lengths.json").read_text()
    data = json.loads(text)
    return LengthQuantiles(
        tuple(data["levels"]),
        tuple(data["prompt_tokens"]),
        tuple(data["output_tokens"]),
        data["source"],
    )


@dataclass(frozen=True)
class EmbeddedDistribution:
    """A serving step with `mix`'s requests (kinds and counts; lengths ignored) and lengths
    drawn from `lengths`."""

    mix: tuple[Request, ...]
    lengths: LengthQuantiles

    def requests(self, seed: int) -> list[Request]:
        rng = np.random.default_rng(seed)
        total = sum(r.count for r in self.mix)
        prompt, output = self.lengths.draw(rng, total)
        step = (rng.random(total) * output).astype(np.int64)  # decode step within the output
        out: list[Request] = []
        i = 0
        for group in self.mix:
            for _ in range(group.count):
                name = f"r{len(out)}"
                history = int(prompt[i] + step[i])
                if group.kind is RequestKind.PREFILL:
                    out.append(Request(name, group.kind, 0, int(prompt[i])))
                elif group.kind is RequestKind.DECODE:
                    out.append(Request(name, group.kind, history, 1))
                else:
                    out.append(Request(name, group.kind, history, group.new_tokens))
                i += 1
        return out

    def sample(self, seed: int, microbatches: int) -> Workload:
        return split_microbatches(self.requests(seed), microbatches)


def default_distribution() -> EmbeddedDistribution:
    """`DEFAULT_SPEC`'s mix with lengths from the embedded distribution."""
    return EmbeddedDistribution(tuple(parse_spec(DEFAULT_SPEC)), embedded_lengths())


def default_workload(seed: int = 0, microbatches: int = DEFAULT_MICROBATCHES) -> Workload:
    """The serving step `xcompass explore` maps when no workload is named."""
    return default_distribution().sample(seed, microbatches)


def describe(workload: Workload, limit: int = 6) -> str:
    """A short SPEC-like summary (`prefill x2 (512-1840), decode x32 (ctx 90-4100), ...`)."""
    parts = []
    for kind in RequestKind:
        reqs = [r for r in workload.requests if r.kind is kind]
        if not reqs:
            continue
        count = sum(r.count for r in reqs)
        sizes = [r.new_tokens if kind is RequestKind.PREFILL else r.context for r in reqs]
        lo, hi = min(sizes), max(sizes)
        what = "tokens" if kind is RequestKind.PREFILL else "history"
        span = f"{lo}" if lo == hi else f"{lo}-{hi}"
        parts.append(f"{kind.value} x{count} ({what} {span})")
    text = ", ".join(parts[:limit])
    return f"{text}; {len(workload.microbatches)} micro-batches, {workload.tokens} tokens"
