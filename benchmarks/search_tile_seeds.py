"""The default tile search's spread over seeds, and what one knob of it changes: Compass's tile
scenario (`search_tile.target_problem`) at one budget of exact evaluations (2,100 by default:
the target row's minute on one core of the development VM), each (variant, seed) a whole
default search (`Study`, no baselines) in its own process.

    python benchmarks/search_tile_seeds.py OUT_DIR [--budget 2100] [--seeds 0-7]
        [--only default,starts 8] [--processes N]

The target row (`bench_search`) shows three seeds; which basin the memetic step's climbs reach
moves the result by several per cent from seed to seed, so a knob is judged here on the mean,
the median, the worst seed and how many seeds end within 2% of the best known.

Variants (each changes one knob of the default; `ga_method.MEMETIC`, `ga_method.STARTS`, the
study's `local` share):
- `local 0.9`: the GA gets 10% of the budget instead of 25%;
- `starts 2` / `starts 8`: the successive halving starts that many climbs instead of 4;
- `kick 3`: the iterated local search jumps 3 random moves instead of 6;
- `width 8` / `width 32`: 8 or 32 screened neighbours a round instead of 16 (32 costs more
  CPU a round: compare it at the budget that takes the default's minute, `--budget 1700`);
- `patience 20`: a climb is stale after 20 rounds without a gain instead of 40;
- `no swap`: the climbs without the `swap_chiplets` move;
- `uniform moves`: the climbs draw their moves uniformly instead of by their success so far
  (the default before adaptive move selection).

OUT_DIR/runs/<variant>_<budget>_<seed>.json: one file per finished run, with the machine it ran
on (a cut-off sweep keeps them and a rerun skips them); OUT_DIR/search_tile_seeds.json: all
runs, each run's gap against the best known of today, and the machines.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

VARIANTS: dict[str, dict] = {
    "default": {},
    "local 0.9": {"local": 0.9},
    "starts 2": {"starts": 2},
    "starts 8": {"starts": 8},
    "kick 3": {"memetic": {"kick": 3}},
    "width 8": {"memetic": {"width": 8}},
    "width 32": {"memetic": {"width": 32}},
    "patience 20": {"memetic": {"patience": 20}},
    "no swap": {"drop": "swap_chiplets"},
    "uniform moves": {"memetic": {"adapt": False}},
}


def run_file(out: Path, variant: str, seed: int, budget: int) -> Path:
    return out / "runs" / f"{variant.replace(' ', '_')}_{budget}_{seed}.json"


def one(args: tuple) -> dict:
    """One default tile search with `variant`'s knob (in a child process: the knobs are module
    constants, set here and gone with the process)."""
    variant, seed, budget, out = args
    from search_tile import best_known, study, target_problem

    from xcompass.search import ga_method
    from xcompass.search.local import ALL_MOVES

    knobs = VARIANTS[variant]
    ga_method.MEMETIC = {**ga_method.MEMETIC, **knobs.get("memetic", {})}
    if "drop" in knobs:
        ga_method.MEMETIC["moves"] = tuple(m for m in ALL_MOVES if m != knobs["drop"])
    ga_method.STARTS = knobs.get("starts", ga_method.STARTS)
    settings = {"local": knobs["local"]} if "local" in knobs else {}
    p = target_problem()
    result, cpu = study(p, 40, 10_000, budget, seed, baselines=(), **settings)
    ga = result.results["ga"]
    edp = float(ga.best.score[0])
    local = ga.stats.get("local", {})
    run = {"variant": variant, "seed": seed, "budget": budget, "edp_js": edp,
           "gap": edp / best_known(p)["edp_js"] - 1, "cpu_s": cpu,
           "evaluations": int(ga.evaluations), "rounds": local.get("rounds"),
           "machine": os.environ.get("SEEDS_MACHINE", "")}  # fmt: skip
    path = run_file(Path(out), variant, seed, budget)
    path.write_text(json.dumps(run))
    print(f"  {variant:12} seed {seed}: {edp:.6g} ({100 * run['gap']:+.2f}%) in {cpu:.1f} s CPU",
          flush=True)  # fmt: skip
    return run


def seeds_of(text: str) -> list[int]:
    """'0-7' or '0,3,5' (an argparse type: a ValueError becomes a one-line usage error)."""
    if "-" in text:
        lo, hi = (int(x) for x in text.split("-"))
        seeds = list(range(lo, hi + 1))
    else:
        seeds = [int(x) for x in text.split(",")]
    if not seeds or min(seeds) < 0:
        raise ValueError(text)
    return seeds


def variants_of(text: str) -> list[str]:
    names = text.split(",")
    if not set(names) <= set(VARIANTS):
        raise ValueError(text)
    return names


seeds_of.__name__ = "seeds ('0-7' or '0,3,5')"
variants_of.__name__ = f"variant list (of {','.join(VARIANTS)})"


def summary(runs: list[dict], known: float) -> None:
    print(f"== the default tile search over seeds: gap to the best known EDP ({known:.6g} J*s) ==")
    print(f"{'variant':12} {'seeds':>5} {'mean':>7} {'median':>7} {'worst':>7} {'<= 2%':>5} "
          f"{'CPU s':>11}  each seed")  # fmt: skip
    for v in VARIANTS:
        mine = sorted((r for r in runs if r["variant"] == v), key=lambda r: r["seed"])
        if not mine:
            continue
        gaps = [100 * r["gap"] for r in mine]
        cpu = [r["cpu_s"] for r in mine]
        within = sum(g <= 2 for g in gaps)
        print(f"{v:12} {len(mine):>5} {statistics.mean(gaps):>+6.2f}% "
              f"{statistics.median(gaps):>+6.2f}% {max(gaps):>+6.2f}% {within:>5} "
              f"{min(cpu):>5.1f}-{max(cpu):<5.1f}  "
              + " ".join(f"{g:+.1f}" for g in gaps))  # fmt: skip


def main(argv: list[str]) -> None:
    import argparse

    from search_scaling import machine
    from search_tile import best_known, study, target_problem
    from search_tile_table import _count

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--budget", type=_count, default=2100)
    ap.add_argument("--seeds", type=seeds_of, default=list(range(8)))
    ap.add_argument("--only", type=variants_of, default=list(VARIANTS))
    ap.add_argument("--processes", type=_count, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    out, budget, seeds, only = args.out, args.budget, args.seeds, args.only
    (out / "runs").mkdir(parents=True, exist_ok=True)
    p = target_problem()
    known = best_known(p)["edp_js"]
    os.environ["SEEDS_MACHINE"] = f"{machine()}; {args.processes} runs at a time"
    study(p, 10, 2, 0, 0, baselines=())  # compile everything once: the children load the cache
    jobs = [(v, s, budget, str(out)) for v in only for s in seeds
            if not run_file(out, v, s, budget).exists()]  # fmt: skip
    t0 = time.time()
    if jobs:
        with mp.get_context("fork").Pool(min(len(jobs), args.processes),
                                         maxtasksperchild=1) as pool:  # fmt: skip
            pool.map(one, jobs, chunksize=1)
    runs = [json.loads(f.read_text()) for f in sorted((out / "runs").glob("*.json"))]
    runs = [{**r, "gap": r["edp_js"] / known - 1} for r in runs  # against today's best known
            if r["budget"] == budget and r["variant"] in only and r["seed"] in seeds]  # fmt: skip
    print(f"{len(jobs)} runs in {time.time() - t0:.0f} s wall on {args.processes} processes "
          f"({os.cpu_count()} CPUs); budget {budget} exact evaluations a run")  # fmt: skip
    summary(runs, known)
    where = sorted({r.get("machine") or "unrecorded" for r in runs})
    (out / "search_tile_seeds.json").write_text(json.dumps(
        {"best_known": known, "budget": budget, "runs": runs, "machine": where}))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
