"""The Compass table at granularity=tile at Compass's full budget (issue 19): the four block
scenarios x seeds 0-2 x {the default tile search, SA, random search}, each method on
population x generations exact evaluations, one process per job, so the table spreads over a
many-core host and resumes where a call left off (each finished job is one JSON file).

    .venv/bin/python benchmarks/search_tile_table.py run DIR --workers 15 --deadline 570
    .venv/bin/python benchmarks/search_tile_table.py table DIR
    .venv/bin/python benchmarks/search_tile_table.py run DIR --population 24 --generations 10

`run` starts the jobs not yet in DIR, longest first (13B before 7B, random and SA before the
GA), and stops taking new ones when `--deadline` seconds are near; a job cut off by the caller
leaves no file and runs again next time. `table` prints the table from DIR: mean (min-max over
seeds) per method, the bound, CPU seconds per job, and the GA's margin over SA and random.
SA and random search start from the study's standard pool (as in `bench_search`), on the
nominal budget (population x generations); the GA's own count of exact evaluations is
reported beside it. `--trace` points at the Azure conversation trace where
`../shared/data` is not beside the checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

METHODS = ("random", "sa", "ga")
ESTIMATE_S = {  # (13B?, method) -> CPU s of one job at 12,000 evaluations, one process, on
    (False, "random"): 330, (True, "random"): 480,  # the development VM: the largest of the
    (False, "sa"): 300, (True, "sa"): 430,  # VM's one-process jobs in benchmarks/data/
    (False, "ga"): 580, (True, "ga"): 850,  # tile_table_fit/ (the default tile search)
}  # fmt: skip
SEEDS = (0, 1, 2)


def scenarios():  # noqa: ANN201
    import bench_search

    return bench_search.TILE_SCENARIOS


def job_name(scenario: str, seed: int, method: str) -> str:
    return f"{scenario.replace('/', '_')}__s{seed}__{method}.json"


def plan(
    seeds: tuple[int, ...] = SEEDS, methods: tuple[str, ...] = METHODS
) -> list[tuple[int, int, str]]:
    """Every (scenario index, seed, method), the longest first (by `ESTIMATE_S`)."""
    jobs = [(i, seed, m) for i in range(len(scenarios())) for seed in seeds for m in methods]
    return sorted(jobs, key=lambda j: (-ESTIMATE_S["13b" in scenarios()[j[0]].model, j[2]], j))


def one_job(index: int, seed: int, method: str, population: int, generations: int,
            trace: str | None, out_dir: str, processes: int = 1) -> str:  # fmt: skip
    """Run one method on one scenario and seed; write its JSON; return the file name."""
    import bench_search

    if trace:
        bench_search.TRACE = Path(trace)
    from search_scaling import machine

    from xcompass.search import GAConfig, SearchSettings
    from xcompass.search import registry as reg
    from xcompass.search.method import Run, StudyState
    from xcompass.search.population import SeedPool
    from xcompass.search.study import Study

    s = scenarios()[index]
    bench_search.run(warm_scenario(s), GAConfig(4, 1))  # compile (or load) the kernels first
    problem = bench_search.problem_of(s)
    t0, c0 = time.perf_counter(), time.process_time()
    backend = None
    if processes > 1:  # the GA's populations and its climbs, random search's batches
        from xcompass.explore.backends import ProcessPool

        backend = ProcessPool(processes)
        problem = backend.attach(problem, f"{s.name}-{seed}-{method}")
    if method == "ga":
        settings = SearchSettings("edp", population, generations, 0, seed, ("standard",))
        out = Study(problem, settings, backend).run()
        best = out.results["ga"]
        extra = {"standard": float(out.results["standard"].best.score[0]),
                 "bound": float(out.bound_score()), "stats": _jsonable(best.stats)}  # fmt: skip
    else:
        settings = SearchSettings("edp", population, generations, 0, seed, ())
        config = settings.config(problem.granularity)
        pool = SeedPool.build(problem, "edp")
        run = Run(problem, "edp", config, pool, population * generations, state=StudyState())
        best = reg.REGISTRY[method].load().start(run).result()
        extra = {}
    if backend is not None:
        backend.close()
    row = {
        "scenario": s.name,
        "label": s.label,
        "seed": seed,
        "method": method,
        "population": population,
        "generations": generations,
        "edp_js": float(best.best.score[0]),
        "evaluations": int(best.evaluations),
        "cpu_s": time.process_time() - c0,
        "wall_s": time.perf_counter() - t0,
        "machine": machine(),
        "processes": processes,
        **extra,
    }
    path = Path(out_dir) / job_name(s.name, seed, method)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(row, indent=1))
    tmp.replace(path)
    return path.name


def warm_scenario(s):  # noqa: ANN001, ANN201
    """A two-micro-batch copy of `s`: the same kernels, compiled in seconds."""
    from dataclasses import replace

    return replace(s, workload="decode", microbatches=2)


def _jsonable(x):  # noqa: ANN001, ANN201
    return json.loads(json.dumps(x, default=lambda o: getattr(o, "tolist", lambda: str(o))()))


def run_jobs(out_dir: Path, workers: int, deadline: float, population: int, generations: int,
             trace: str | None, margin: float, seeds: tuple[int, ...],
             random_processes: int, ga_processes: int, speed: float,
             methods: tuple[str, ...] = METHODS) -> None:  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [s.name for s in scenarios()]
    todo = [j for j in plan(seeds, methods)
            if not (out_dir / job_name(names[j[0]], j[1], j[2])).exists()]  # fmt: skip
    t0 = time.perf_counter()
    print(f"{len(todo)} jobs to run on {workers} processes, deadline {deadline:.0f} s", flush=True)
    scale = population * generations / 12_000

    def slots(j: tuple) -> int:
        return min(workers, {"random": random_processes, "ga": ga_processes}.get(j[2], 1))

    def fits(j: tuple) -> bool:
        est = ESTIMATE_S[("13b" in names[j[0]], j[2])] * scale * margin * speed
        if j[2] == "random":
            est /= slots(j)
        elif j[2] == "ga":  # the GA's populations and its climbs' rounds spread, not its last climb
            est *= 0.3 / slots(j) + 0.7 * (0.5 if slots(j) >= 4 else 0.625)
        return time.perf_counter() - t0 + est < deadline

    with ProcessPoolExecutor(workers) as pool:
        running = {}
        while todo or running:
            busy = sum(slots(j) for j in running.values())
            for j in [j for j in todo if fits(j)]:
                if busy + slots(j) > workers:
                    continue
                todo.remove(j)
                busy += slots(j)
                running[pool.submit(one_job, *j, population, generations, trace,
                                    str(out_dir), slots(j))] = j  # fmt: skip
            if not running:
                print(f"{len(todo)} jobs left: none fits before the deadline", flush=True)
                break
            left = deadline - (time.perf_counter() - t0)
            if left <= 0:
                print(f"deadline: {len(running)} jobs cut off", flush=True)
                for p in pool._processes.values():  # noqa: SLF001
                    p.kill()
                break
            done, _ = wait(running, timeout=min(left, 3600.0), return_when=FIRST_COMPLETED)
            for f in done:
                j = running.pop(f)
                try:
                    name = f.result()
                    print(f"{time.perf_counter() - t0:7.0f} s  done {name}", flush=True)
                except Exception as exc:  # noqa: BLE001
                    print(f"job {j} failed: {exc!r}", flush=True)
    print(f"run: {time.perf_counter() - t0:.0f} s", flush=True)


def table(out_dir: Path) -> None:
    import numpy as np

    rows = [json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))]
    if not rows:
        sys.exit(f"table: no job files in {out_dir}")
    pop, gen = rows[0]["population"], rows[0]["generations"]
    print(f"== granularity=tile at population {pop} x {gen} = {pop * gen:,} exact evaluations "
          "a method; EDP J*s as mean (min-max over seeds); wall s a job (x processes) "
          "==")  # fmt: skip
    print(f"{'scenario':42} {'standard':>9} {'GA':>28} {'SA':>28} {'random':>28} {'bound':>9} "
          f"{'GA/LB':>6}  wall s GA / SA / random")  # fmt: skip
    machines = sorted({r["machine"] for r in rows})
    for s in scenarios():
        by = {m: sorted((r for r in rows if r["scenario"] == s.name and r["method"] == m),
                        key=lambda r: r["seed"]) for m in METHODS}  # fmt: skip

        def cell(m: str, by: dict = by) -> str:
            v = [r["edp_js"] for r in by[m]]
            if not v:
                return "-"
            return f"{np.mean(v):.4g} ({min(v):.4g}-{max(v):.4g}) n={len(v)}"

        def cpu(m: str, by: dict = by) -> str:
            if not by[m]:
                return "-"
            procs = {r.get("processes", 1) for r in by[m]}
            x = f" x{max(procs)}" if max(procs) > 1 else ""
            return f"{np.mean([r['wall_s'] for r in by[m]]):.0f}{x}"

        ga = by["ga"]
        std = f"{ga[0]['standard']:.4g}" if ga else "-"
        lb = ga[0]["bound"] if ga else float("nan")
        ratio = np.mean([r["edp_js"] for r in ga]) / lb if ga else float("nan")
        print(
            f"{s.label:42} {std:>9} {cell('ga'):>28} {cell('sa'):>28} {cell('random'):>28} "
            f"{lb:>9.4g} {ratio:>6.1f}  {cpu('ga')} / {cpu('sa')} / {cpu('random')}"
        )
        if ga:
            worst = max(r["edp_js"] for r in ga)
            evals = ", ".join(str(r["evaluations"]) for r in ga)
            margins = ", ".join(
                f"{m} {100 * (min(r['edp_js'] for r in by[m]) / worst - 1):+.1f}%"
                for m in ("sa", "random") if by[m]
            )  # fmt: skip
            if margins:
                print(f"  GA's exact evaluations {evals}; its worst seed vs the best seed of "
                      f"{margins} (positive: the GA wins beyond the spread)")  # fmt: skip
    print("machines: " + "; ".join(machines))


def _count(text: str) -> int:
    """An integer >= 1 (argparse turns the ValueError into a one-line usage error)."""
    n = int(text)
    if n < 1:
        raise ValueError(text)
    return n


def _positive(text: str) -> float:
    x = float(text)
    if not x > 0:
        raise ValueError(text)
    return x


def _seeds(text: str) -> tuple[int, ...]:
    seeds = tuple(int(x) for x in text.split(","))
    if any(x < 0 for x in seeds):
        raise ValueError(text)
    return seeds


def _methods(text: str) -> tuple[str, ...]:
    methods = tuple(text.split(","))
    if not methods or not set(methods) <= set(METHODS):
        raise ValueError(text)
    return methods


_count.__name__, _positive.__name__, _seeds.__name__ = "integer >= 1", "number > 0", "seed list"
_methods.__name__ = f"method list (of {','.join(METHODS)})"


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("run", "table"))
    ap.add_argument("dir", type=Path)
    ap.add_argument("--workers", type=_count, default=os.cpu_count() or 1)
    ap.add_argument("--deadline", type=_positive, default=float("inf"))
    ap.add_argument(
        "--margin",
        type=_positive,
        default=1.3,
        help="start a job only if its estimate times this ends before the deadline",
    )
    ap.add_argument("--random-processes", type=_count, default=3)
    ap.add_argument("--ga-processes", type=_count, default=4)
    ap.add_argument(
        "--speed", type=_positive, default=1.0, help="time per job here relative to ESTIMATE_S"
    )
    ap.add_argument("--population", type=_count, default=120)
    ap.add_argument("--generations", type=_count, default=100)
    ap.add_argument("--trace", default=None)
    ap.add_argument("--seeds", type=_seeds, default=(0, 1, 2))
    ap.add_argument("--methods", type=_methods, default=METHODS)
    a = ap.parse_args(argv)
    if a.command == "table":
        table(a.dir)
    else:
        run_jobs(
            a.dir,
            a.workers,
            a.deadline,
            a.population,
            a.generations,
            a.trace,
            a.margin,
            a.seeds,
            a.random_processes,
            a.ga_processes,
            a.speed,
            a.methods,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
