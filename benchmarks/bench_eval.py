"""Mapping evaluations per second (one core), and how the cost grows with layers,
micro-batches and chiplets. Random genomes (segment bits at 10%, any chiplet per node) exercise
transfers, link contention and weight reloads everywhere."""

from __future__ import annotations

import os
import time

import numpy as np

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from xcompass.layercost import build_cost_table  # noqa: E402
from xcompass.mapping import make_groups  # noqa: E402
from xcompass.models import preset  # noqa: E402
from xcompass.schedule import EvalContext, evaluate  # noqa: E402
from xcompass.schedule_jit import evaluate_fast  # noqa: E402
from xcompass.targets import preset as target_preset  # noqa: E402
from xcompass.workload import build_workload, parse_spec  # noqa: E402

POP = 256


def rate(model: str, layers: int, mbs: int, target: str, fast: bool = True) -> float:
    m, t = preset(model), target_preset(target)
    wl = build_workload(parse_spec("prefill:512x2,decode:1024x62"), mbs)
    table = build_cost_table(m, wl, t, (1,))
    groups = make_groups(t, (1,))
    ctx = EvalContext(table, groups, t, layers)
    rng = np.random.default_rng(0)
    bounds = rng.random((POP, layers - 1)) < 0.1
    place = rng.integers(0, t.chiplets, (POP, mbs, layers))
    fn = evaluate_fast if fast else evaluate
    fn(ctx, bounds, place)  # compile / warm
    best = float("inf")
    for _ in range(5 if fast else 2):
        t0 = time.perf_counter()
        fn(ctx, bounds, place)
        best = min(best, time.perf_counter() - t0)
    return POP / best


def main() -> None:
    print(f"== mapping evaluation speed (population {POP}, one core, best of 5) ==")
    r = rate("llama3-70b", 80, 8, "simba-36")
    r_np = rate("llama3-70b", 80, 8, "simba-36", fast=False)
    print(
        f"llama3-70b, 80 layers x 8 micro-batches, simba-36: {r:,.0f} evals/s "
        f"(numpy reference path: {r_np:,.0f} evals/s)"
    )
    print("scaling (llama3-70b on simba-36 unless noted):")
    print(f"  {'layers':>6} {'mbs':>4} {'chiplets':>8} {'nodes':>6} {'evals/s':>9} {'us/node':>8}")
    cases = [
        (20, 8, "simba-36"),
        (40, 8, "simba-36"),
        (80, 8, "simba-36"),
        (80, 2, "simba-36"),
        (80, 4, "simba-36"),
        (80, 16, "simba-36"),
        (80, 8, "dgx-h100x8"),
        (80, 8, "compass-het-36"),
    ]
    for layers, mbs, target in cases:
        ev = rate("llama3-70b", layers, mbs, target)
        nodes = layers * mbs
        chips = target_preset(target).chiplets
        print(f"  {layers:>6} {mbs:>4} {chips:>8} {nodes:>6} {ev:>9,.0f} {1e6 / ev / nodes:>8.3f}")


if __name__ == "__main__":
    main()
