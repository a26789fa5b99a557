"""Compass's tile scenario, searched long: the best-known EDP, and `--workers` scaling.

    python benchmarks/tile_long_run.py OUT_DIR [--islands 16] [--budget 7500] [--only A-B]
                                       [--scaling 2,4,8,16]

The scenario is exactly `xcompass explore --model gpt3-7b --layers 1 --workload
prefill:32x18,decode:433x46 --microbatches 32 --target simba-36 --granularity tile` (objective
EDP). The long run is `islands` independent searches (the default tile search: unit-pipeline and
coarse-to-fine seeds, multi-fidelity GA, memetic local search) with seeds 0..islands-1, one per
core, each spending `budget` exact engine evaluations; the best of them is the best known,
written to OUT_DIR/tile_best_known.json with its mapping, seed and settings, and re-costed once
more by the engine on its own before it is written. Screens are not counted as evaluations.
Each island writes OUT_DIR/islands/seed_N.json when it ends, and a run started again in the same
OUT_DIR runs only the islands without one (a run cut off keeps what it finished). `--only 8-15`
runs just those seeds: one long run split over machines or calls, its island files copied into
one OUT_DIR/islands; the record is written once every island has a file.

Scaling (OUT_DIR/tile_scaling.json, only with `--scaling 2,4,...`; `benchmarks/search_scaling.py`
is the measurement the README reports, with a warm-up, the Dask backend and a bit-identity
check): Compass's exact GA (population 120, fidelity 1) on the same
problem, its generations timed (wall) after generation 0 with `--workers` 1 (in-process) and
each count in `--scaling` (the CLI's process pool); efficiency = T1 / (workers x Tn).
Columns of the scaling rows: workers, generations, seconds (wall, generations only), seconds
per generation, speed-up over one worker, efficiency.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

SCENARIO = {
    "model": "gpt3-7b",
    "layers": 1,
    "workload": "prefill:32x18,decode:433x46",
    "microbatches": 32,
    "target": "simba-36",
    "granularity": "tile",
    "objective": "edp",
}
COMMAND = (
    "xcompass explore --model gpt3-7b --layers 1 --workload prefill:32x18,decode:433x46 "
    "--microbatches 32 --target simba-36 --granularity tile"
)
ISLAND = {"population": 40, "generations": 100_000}  # the budget stops it


def problem():  # noqa: ANN201
    """The scenario's search problem, built as `xcompass explore` builds it."""
    from xcompass.explore.inputs import problem_spec

    s = SCENARIO
    spec = problem_spec(
        s["model"], s["workload"], s["target"], layers=s["layers"],
        microbatches=s["microbatches"], granularity=s["granularity"],
    )  # fmt: skip
    return spec.problem(0, s["objective"])


def fingerprint(p) -> dict:  # noqa: ANN001
    """What identifies the problem a best-known file belongs to."""
    from xcompass.search.known import identity

    return {**SCENARIO, **identity(p)}


def island(args: tuple[int, int]) -> dict:
    seed, budget = args
    from xcompass.search.study import SearchSettings, Study

    p = problem()
    t0, c0 = time.perf_counter(), time.process_time()
    settings = SearchSettings("edp", ISLAND["population"], ISLAND["generations"], budget, seed,
                              ("standard",))  # fmt: skip
    out = Study(p, settings).run()
    r = out.results["ga"]
    return {
        "seed": seed,
        "edp_js": float(r.best.latency_s[0] * r.best.energy_j[0]),
        "score": float(r.best.score[0]),
        "evaluations": int(r.evaluations),
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        "bits": r.best.bits[0].astype(int).tolist(),
        "place": r.best.place[0].tolist(),
        "stats": r.stats,
    }


def long_run(out: Path, islands: int, budget: int, only: set[int] | None = None) -> None:
    """The islands of seeds 0..islands-1 not yet in OUT/islands (of them, those in `only`),
    then the record, once every island has ended."""
    import numpy as np

    from xcompass.search.study import BELOW_LAYER

    t0 = time.perf_counter()
    done = out / "islands"  # one file per finished island: a cut-off run keeps what it found
    done.mkdir(exist_ok=True)
    runs = [json.loads(f.read_text()) for f in sorted(done.glob("seed_*.json"))]
    todo = [(s, budget) for s in range(islands) if s not in {r["seed"] for r in runs}
            and (only is None or s in only)]  # fmt: skip
    with mp.get_context("fork").Pool(max(1, min(islands, len(todo)))) as pool:
        for r in pool.imap_unordered(island, todo, chunksize=1):
            (done / f"seed_{r['seed']}.json").write_text(json.dumps(r, default=str))
            print(f"{time.perf_counter() - t0:6.0f} s  island {r['seed']}: {r['edp_js']:.6g}",
                  flush=True)  # fmt: skip
            runs.append(r)
    missing = sorted(set(range(islands)) - {r["seed"] for r in runs})
    if missing:  # the rest run elsewhere: copy their files into OUT/islands and run again
        print(f"islands still to run: {missing}; no record written yet", flush=True)
        return
    wall = max(r["wall_s"] for r in runs)
    best = min(runs, key=lambda r: r["edp_js"])
    p = problem()
    ev = p.evaluator(np.array([best["bits"]], dtype=bool), np.array([best["place"]]))
    again = float(ev.latency_s.mean() * ev.energy_j.mean())
    record = {
        "command": COMMAND,
        "problem": fingerprint(p),
        "edp_js": best["edp_js"],
        "recosted_edp_js": again,
        "seed": best["seed"],
        "settings": {
            **ISLAND,
            "budget_per_island": budget,
            "islands": islands,
            **{k: f"default ({v})" for k, v in BELOW_LAYER.items()},
            "coarse": "default (layer,group)",
        },  # fmt: skip
        "evaluations": sum(r["evaluations"] for r in runs),
        "wall_s": wall,  # the slowest island's (they run side by side)
        "cpu_s": sum(r["cpu_s"] for r in runs),
        "islands": [
            {k: r[k] for k in ("seed", "edp_js", "evaluations", "wall_s", "cpu_s")} for r in runs
        ],  # fmt: skip
        "best_stats": best["stats"],
        "mapping": {"boundaries": best["bits"], "place": best["place"]},
        "machine": f"{os.cpu_count()} CPU cores",
    }
    (out / "tile_best_known.json").write_text(json.dumps(record, default=str))
    print(f"long run: {record['evaluations']:,} evaluations on {islands} islands in {wall:.0f} s: "
          f"best EDP {best['edp_js']:.6g} J*s (seed {best['seed']}; re-costed {again:.6g})",
          flush=True)  # fmt: skip
    for r in sorted(runs, key=lambda r: r["edp_js"]):
        print(f"  seed {r['seed']:>2}: {r['edp_js']:.6g} ({r['evaluations']} ev, "
              f"{r['cpu_s']:.0f} s CPU)")  # fmt: skip


def scaling(out: Path, counts: list[int], generations: int = 4) -> None:
    from xcompass.explore.backends import ProcessPool
    from xcompass.search.ga import GAConfig, GeneticSearch
    from xcompass.search.population import SeedPool

    base = problem()
    rows = []
    t1 = None
    for n in [1, *counts]:
        backend = ProcessPool(n) if n > 1 else None
        p = backend.attach(base, f"scaling-{n}") if backend is not None else base
        pool = SeedPool.build(p, "edp")
        search = GeneticSearch(p, "edp", GAConfig(120, generations + 1, seed=0), pool)
        state = search.start()
        t0 = time.perf_counter()
        while search.can_step(state):
            state = search.step(state)
        sec = time.perf_counter() - t0
        if backend is not None:
            backend.close()
        per = sec / generations
        t1 = per if t1 is None else t1
        rows.append({"workers": n, "generations": generations, "seconds": sec,
                     "seconds_per_generation": per, "speedup": t1 / per,
                     "efficiency": t1 / (n * per)})  # fmt: skip
        print(f"scaling: {n:>2} workers: {per:.3f} s per generation, speed-up {t1 / per:.2f}, "
              f"efficiency {100 * t1 / (n * per):.0f}%", flush=True)  # fmt: skip
    (out / "tile_scaling.json").write_text(
        json.dumps({"command": COMMAND, "rows": rows, "machine": f"{os.cpu_count()} CPU cores"})
    )


def main(argv: list[str]) -> None:
    out = Path(argv[0])

    def opt(name: str, default: str) -> str:
        return argv[argv.index(name) + 1] if name in argv else default

    islands, budget = int(opt("--islands", "16")), int(opt("--budget", "7500"))
    counts = [int(x) for x in opt("--scaling", "").split(",") if x]
    only = None
    if "--only" in argv:  # a-b: the islands of seeds a..b only (a long run over several calls)
        text = opt("--only", "")
        lo, _, hi = text.partition("-")
        hi = hi or lo
        if not (lo.isdigit() and hi.isdigit() and int(lo) <= int(hi) < islands):
            sys.exit(f"tile_long_run: --only {text!r}: expected A-B (or A), "
                     f"0 <= A <= B < --islands ({islands})")  # fmt: skip
        only = set(range(int(lo), int(hi) + 1))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    island((0, 60))  # compile every kernel once: the islands load them from numba's cache
    print(f"warm-up {time.perf_counter() - t0:.0f} s", flush=True)
    if "--no-long" not in argv:
        long_run(out, islands, budget, only)
    if counts:
        scaling(out, counts)


if __name__ == "__main__":
    main(sys.argv[1:])
