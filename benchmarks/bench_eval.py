"""Mapping evaluations per second (one core), and how the cost grows with layers,
micro-batches and chiplets. Random genomes (segment bits at 10%, any chiplet per node) exercise
transfers, link contention and weight reloads everywhere.

Times are CPU time of this process (`time.process_time`), best of several runs, so that other
work on a shared machine does not count. Rows:

- the chain kernel (`schedule_jit.evaluate_fast`, whole layers), the search's hot path;
- the chain kernel side by side with the previous release's (git revision `PREVIOUS`, which
  booked DRAM and links in program order; taken from the clone's history, skipped without it):
  calls interleaved, so that a shared machine's load falls on both alike;
- the DAG kernel (`schedule_dag.evaluate_dag`) on Compass's own scenario: one GPT-3-6.7B block
  cut into its 485 tile units per micro-batch, 32 micro-batches of 2 requests, simba-36, and
  the time Compass's budget of 12,000 evaluations takes. Random placements send almost every
  edge over the NoP, the worst case; one micro-batch per chiplet sends nothing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from xcompass.engine.context import EvalContext
from xcompass.engine.mapping import make_groups  # noqa: E402
from xcompass.engine.schedule import evaluate
from xcompass.engine.schedule_dag import evaluate_dag  # noqa: E402
from xcompass.engine.schedule_jit import evaluate_fast  # noqa: E402
from xcompass.engine.tiles import tile_spec  # noqa: E402
from xcompass.hardware.targetfile import preset as target_preset
from xcompass.layer.layercost import build_cost_table  # noqa: E402
from xcompass.model.models import preset  # noqa: E402
from xcompass.model.workload import build_workload, parse_spec  # noqa: E402

POP = 256
PREVIOUS = "f61ea85"  # the last commit with the program-order chain kernel
PAIRS = 40
PROCESSES = 5
TILE_POP = 16
COMPASS_BUDGET = 12_000


def cpu_best(fn, runs: int) -> float:  # noqa: ANN001
    """Least CPU seconds of `runs` calls."""
    best = float("inf")
    for _ in range(runs):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def chain_problem(model: str, layers: int, mbs: int, target: str) -> tuple:
    m, t = preset(model), target_preset(target)
    wl = build_workload(parse_spec("prefill:512x2,decode:1024x62"), mbs)
    table = build_cost_table(m, wl, t, (1,))
    groups = make_groups(t, (1,))
    ctx = EvalContext(table, groups, t, layers)
    rng = np.random.default_rng(0)
    bounds = rng.random((POP, layers - 1)) < 0.1
    place = rng.integers(0, t.chiplets, (POP, mbs, layers))
    return ctx, bounds, place


def rate(model: str, layers: int, mbs: int, target: str, fast: bool = True) -> float:
    ctx, bounds, place = chain_problem(model, layers, mbs, target)
    fn = evaluate_fast if fast else evaluate
    fn(ctx, bounds, place)  # compile / warm
    return POP / cpu_best(lambda: fn(ctx, bounds, place), 5 if fast else 2)


class _ScalarStatic:
    """The context as the previous kernel read it: one static power for the whole target."""

    def __init__(self, ctx: EvalContext) -> None:
        self._ctx = ctx
        self.static_w = float(ctx.static_w[: ctx.C].sum())

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._ctx, name)


def previous_kernel(folder: Path):  # noqa: ANN201
    """`evaluate_fast` of revision PREVIOUS, written to `folder` and compiled there (numba's
    cache too), or None outside a git clone that has it. It lived in the flat core then: its
    import of the schedule is pointed at the module's home now."""
    root = Path(__file__).resolve().parents[1]
    shown = subprocess.run(
        ["git", "show", f"{PREVIOUS}:xcompass/schedule_jit.py"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if shown.returncode:
        return None
    path = folder / "previous_schedule_jit.py"
    path.write_text(
        shown.stdout.replace(
            "from xcompass.schedule import", "from xcompass.engine.schedule import"
        )
    )
    spec = importlib.util.spec_from_file_location("previous_schedule_jit", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.evaluate_fast


def one_side_by_side() -> None:
    """In this process: PAIRS interleaved calls of each kernel; prints both rates (best) and
    the median of the pairs' ratios."""
    with tempfile.TemporaryDirectory() as folder:
        old = previous_kernel(Path(folder))
        if old is None:
            print("none")
            return
        time_pairs(old)


def time_pairs(old) -> None:  # noqa: ANN001
    ctx, bounds, place = chain_problem("llama3-70b", 80, 8, "simba-36")
    legacy = _ScalarStatic(ctx)
    evaluate_fast(ctx, bounds, place)  # compile / warm
    old(legacy, bounds, place)
    now, before = [], []
    for _ in range(PAIRS):
        for fn, arg, times in ((evaluate_fast, ctx, now), (old, legacy, before)):
            t0 = time.process_time()
            fn(arg, bounds, place)
            times.append(time.process_time() - t0)
    now, before = np.array(now), np.array(before)
    print(POP / now.min(), POP / before.min(), np.median(before / now))


def side_by_side() -> None:
    """The previous release's kernel against this one, each process compiling it afresh: where
    the compiled code lands in memory moves a tight kernel's speed by several percent from one
    process to the next, so the ratio is a median over PROCESSES processes."""
    runs = []
    for _ in range(PROCESSES):
        out = subprocess.run(
            [sys.executable, __file__, "--side-by-side"], capture_output=True, text=True
        )
        if out.returncode or out.stdout.strip() == "none":
            why = out.stderr.strip().splitlines()[-1:] or ["no git history here"]
            print(f"side by side with {PREVIOUS}: skipped ({why[0]})")
            return
        runs.append([float(x) for x in out.stdout.split()])
    now, before, ratio = np.array(runs).T
    print(
        f"side by side with {PREVIOUS} (program-order kernel), {PROCESSES} processes x "
        f"{PAIRS} interleaved pairs: this {np.median(now):,.0f} vs {np.median(before):,.0f} "
        f"evals/s (medians of the best); ratio {np.median(ratio):.3f} (median; processes "
        f"{ratio.min():.3f}-{ratio.max():.3f})"
    )


def tile_context() -> EvalContext:
    """Compass's scenario: a GPT-3-6.7B block in tile units, 32 micro-batches of one prompt
    and one decode step each, on simba-36."""
    m, t = preset("gpt3-7b"), target_preset("simba-36")
    wl = build_workload(parse_spec("prefill:512x32,decode:1024x32"), 32)
    table = build_cost_table(m, wl, t, (1,))
    return EvalContext(
        table, make_groups(t, (1,)), t, 1, granularity="tile", tiles=tile_spec(m, wl, t)
    )


def tile_rate(ctx: EvalContext, place: np.ndarray, bounds: np.ndarray) -> tuple[float, int]:
    """Evaluations per second of the DAG kernel on these genomes, leaving out any that divide
    by zero on a DRAM channel (none since `schedule_core.fill` was fixed; see
    `search.problem`); the count kept is printed."""
    keep = []
    for p in range(len(place)):
        try:
            evaluate_dag(ctx, bounds[p : p + 1], place[p : p + 1])
            keep.append(p)
        except ZeroDivisionError:
            pass
    bounds, place = bounds[keep], place[keep]
    return len(keep) / cpu_best(lambda: evaluate_dag(ctx, bounds, place), 3), len(keep)


def main() -> None:
    print(f"== mapping evaluation speed (population {POP}, one core, CPU time, best of 5) ==")
    r = rate("llama3-70b", 80, 8, "simba-36")
    r_np = rate("llama3-70b", 80, 8, "simba-36", fast=False)
    print(
        f"chain kernel, llama3-70b, 80 layers x 8 micro-batches, simba-36: {r:,.0f} evals/s "
        f"(numpy reference path: {r_np:,.0f} evals/s)"
    )
    side_by_side()
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

    ctx = tile_context()
    U, B, C = ctx.units.count, len(ctx.table.tokens), ctx.C
    rng = np.random.default_rng(0)
    bounds = rng.random((TILE_POP, U - 1)) < 0.1
    placements = {
        "random": rng.integers(0, C, (TILE_POP, B, U)),
        "one micro-batch per chiplet": np.broadcast_to(
            (np.arange(B) % C)[None, :, None], (TILE_POP, B, U)
        ).copy(),
    }
    print(
        f"DAG kernel, Compass's tile scenario (gpt3-7b block, {U} units x {B} micro-batches, "
        f"simba-36; population {TILE_POP}, best of 3):"
    )
    for name, place in placements.items():
        ev, n = tile_rate(ctx, place, bounds)
        print(
            f"  {name:28} {ev:>8,.1f} evals/s  {COMPASS_BUDGET:,} evaluations: "
            f"{COMPASS_BUDGET / ev:>7,.0f} s  ({n} of {TILE_POP} genomes evaluable)"
        )


if __name__ == "__main__":
    if "--side-by-side" in sys.argv:
        one_side_by_side()
    else:
        main()
