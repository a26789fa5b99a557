"""Which local-search setting buys the most quality per CPU second on Compass's tile scenario:
each variant runs in its own process (one per core) from the same start, the best seed of the
default tile search's pool (unit pipelines and standard strategies), until a CPU-time limit.

    python benchmarks/search_tile_sweep.py OUT_DIR [--cpu-s 60] [--seeds 0,1] [--only A,B]

Variants: `local_search` knobs: width (neighbours drawn a round), recost (how many of the
screen's best the engine re-costs; recost >= width: no screen), widen (how far a stale search
widens its round), kick (iterated local search: random moves in a row from the best once the
widest round is stale for `patience` rounds); the default is 16 / 1 / 4 / 0.
OUT_DIR/search_tile_sweep.json: per variant and seed, the trace of improvements (CPU s,
exact evaluations, EDP), the final EDP and its gap to the best known; every EDP is the engine's.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

VARIANTS = {
    "default 16/1 widen 4": {},
    "16/1": {"widen": 1},
    "8/1": {"width": 8, "widen": 1},
    "4/1": {"width": 4, "widen": 1},
    "no screen 1/1": {"width": 1, "widen": 1},
    "32/4": {"width": 32, "recost": 4, "widen": 1},
    "16/2 widen 2": {"recost": 2, "widen": 2},
    "ILS kick 3": {"widen": 1, "kick": 3},
    "ILS kick 6": {"widen": 1, "kick": 6},
    "ILS kick 12": {"widen": 1, "kick": 12},
    "ILS kick 3 patience 20": {"widen": 1, "kick": 3, "patience": 20},
    "ILS kick 6 widen 2": {"widen": 2, "kick": 6},
}


def start_point():  # noqa: ANN201
    from search_tile import target_problem

    from xcompass.search import SeedPool
    from xcompass.search.structure import structured_seeds

    p = target_problem()
    pool = SeedPool.build(p, "edp", structured_seeds(p))
    return p, pool.scored.take([pool.best_index()]), pool.names[pool.best_index()]


def one(args: tuple) -> dict:
    name, seed, cpu_s = args
    from xcompass.search.local import local_search

    p, start, _ = start_point()
    t0 = time.process_time()
    best, rep = local_search(p, "edp", start, 10**9, seed=seed, cpu_limit_s=cpu_s,
                             **VARIANTS[name])  # fmt: skip
    return {"variant": name, "seed": seed, "edp_js": float(best.score[0]),
            "cpu_s": time.process_time() - t0, "evaluations": rep.evaluations,
            "screened": rep.screened, "kicks": rep.kicks, "trace": rep.trace}  # fmt: skip


def main(argv: list[str]) -> None:
    from search_tile import best_known

    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    cpu_s = float(argv[argv.index("--cpu-s") + 1]) if "--cpu-s" in argv else 60.0
    seeds = [int(x) for x in (argv[argv.index("--seeds") + 1] if "--seeds" in argv else "0,1")
             .split(",")]  # fmt: skip
    p, start, name = start_point()
    known = best_known(p)["edp_js"]
    one((next(iter(VARIANTS)), 0, 1.0))  # compile everything once: the workers load the cache
    only = argv[argv.index("--only") + 1].split(",") if "--only" in argv else list(VARIANTS)
    jobs = [(v, s, cpu_s) for v in only for s in seeds]
    with mp.get_context("fork").Pool(min(len(jobs), os.cpu_count() or 1)) as pool:
        runs = pool.map(one, jobs, chunksize=1)
    print(f"start {name}: EDP {start.score[0]:.6g}; best known {known:.6g}; {cpu_s:.0f} s CPU")
    for r in runs:
        r["gap"] = r["edp_js"] / known - 1
        at = {t: min([e for c, _, e in r["trace"] if c <= t] or [float(start.score[0])])
              for t in (10, 20, 40)}  # fmt: skip
        print(f"  {r['variant']:22} seed {r['seed']}: {r['edp_js']:.6g} ({100 * r['gap']:+.2f}%)"
              f" after {r['evaluations']} exact, {r['screened']} screened, {r['kicks']} kicks; "
              "at 10/20/40 s "
              + " / ".join(f"{v:.5g}" for v in at.values()), flush=True)  # fmt: skip
    (out / "search_tile_sweep.json").write_text(json.dumps(
        {"start": name, "start_edp_js": float(start.score[0]), "best_known": known,
         "cpu_s": cpu_s, "runs": runs, "machine": f"{os.cpu_count()} CPUs"}))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
