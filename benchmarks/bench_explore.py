"""`xcompass explore`: the default run's wall time (installed command, Python start-up
included) and the speed-up of `--workers 2` on a large search.

    .venv/bin/python benchmarks/bench_explore.py            # both parts
    .venv/bin/python benchmarks/bench_explore.py default    # the default run only
    .venv/bin/python benchmarks/bench_explore.py workers    # the speed-up only

Default run: `xcompass explore --quiet --out DIR` (llama3-8b whole model, the embedded mixed
step in 8 micro-batches, compass-het-36, GA population 100 x 60 generations plus SA, random
search and the best standard strategy on the same budget, pictures and trace), best and median
of REPEATS runs with the compiled engine cached, and one first run after installation (numba
compiles the engine into an empty cache).

Large search: llama3-70b whole model (80 layers + head), 16 micro-batches, hgx-h200x8, scored
on 4 sampled request batches, GA population 256 x 12 generations (about 3,000 evaluations of
1,296-node schedules, each on 4 batches), then the same with SA and random search. In-process
and `--workers 2` runs alternate (both warmed first); the speed-up is the median ratio. The
results must be identical.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 3
XCOMPASS = str(Path(sys.executable).with_name("xcompass"))


def timed_run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall time, CPU time (user + system of the command) and stdout of one run: on a shared
    machine the CPU time is the steadier figure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def default_run() -> None:
    print("## xcompass explore, default configuration (installed command, start-up included)")
    walls, cpus, phases = [], [], []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as out:
            wall, cpu, stdout = timed_run([XCOMPASS, "explore", "--quiet", "--out", out])
            walls.append(wall)
            cpus.append(cpu)
            ex = json.loads(Path(out, "report.json").read_text())["explore"]
            command = float(stdout.rstrip().rsplit("(", 1)[1].split(" s)")[0])
            phases.append((ex["prepare_s"], ex["search_s"], ex["wall_s"], command))
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        cold, cold_cpu, _ = timed_run([XCOMPASS, "explore", "--quiet", "--out", out], env)
    prep, search, report, command = (statistics.median(p[i] for p in phases) for i in range(4))
    print("| run | wall time | CPU time |")
    print("|---|---|---|")
    print(f"| compiled engine cached, best of {REPEATS} | {min(walls):.1f} s | {min(cpus):.1f} s |")
    print(
        f"| compiled engine cached, median of {REPEATS} | {statistics.median(walls):.1f} s | "
        f"{statistics.median(cpus):.1f} s |"
    )
    print(
        f"| first run after installation (numba compiles the engine) | {cold:.1f} s | "
        f"{cold_cpu:.1f} s |"
    )
    start = statistics.median(walls) - command
    print(
        f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (above that: contended)"
    )
    print(
        f"median phases: Python start-up and imports {start:.1f} s; model import, lowering, "
        f"cost tables, report {report - search:.1f} s (cost tables {prep:.1f} s); search "
        f"{search:.1f} s; final IR, trace and pictures {command - report:.1f} s"
    )


def large_search() -> None:
    from xcompass.explore import ProcessPool, SearchSettings, Study, problem_spec
    from xcompass.explore.study import BASELINES

    print("## --workers 2 on a large search (llama3-70b, 16 micro-batches, hgx-h200x8, 4 batches)")
    spec = problem_spec("llama3-70b", None, "hgx-h200x8", microbatches=16, train_samples=4)
    problem = spec.problem(0)
    warm = SearchSettings(population=16, generations=2, baselines=("standard",))
    rows = []
    with ProcessPool(2) as pool:
        pooled = pool.attach(problem, "bench")
        for backend, p in ((None, problem), (pool, pooled)):
            Study(p, warm, backend).run()
        for label, baselines in (
            ("GA (population 256 x 12)", ("standard",)),
            ("GA + SA + random search", BASELINES),
        ):
            settings = SearchSettings(population=256, generations=12, baselines=baselines)
            ratios, times = [], {"one": [], "two": []}
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                a = Study(problem, settings).run()
                one = time.perf_counter() - t0
                t0 = time.perf_counter()
                b = Study(pooled, settings, pool).run()
                two = time.perf_counter() - t0
                same = all(
                    a.results[m].best.score[0] == b.results[m].best.score[0] for m in a.results
                )
                if not same:
                    raise SystemExit("bench_explore: --workers 2 changed the result")
                times["one"].append(one)
                times["two"].append(two)
                ratios.append(one / two)
            rows.append((label, a.best.evaluations, times, ratios))
    print("| search | evaluations | in-process | --workers 2 | speed-up (median, range) |")
    print("|---|---|---|---|---|")
    for label, evals, times, ratios in rows:
        print(
            f"| {label} | {evals:,} | {statistics.median(times['one']):.1f} s | "
            f"{statistics.median(times['two']):.1f} s | {statistics.median(ratios):.2f}x "
            f"({min(ratios):.2f}-{max(ratios):.2f}) |"
        )
    print(
        f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (above that: contended)"
    )


def main(parts: list[str] | None = None) -> None:
    parts = parts or ["default", "workers"]
    if "default" in parts:
        default_run()
    if "workers" in parts:
        large_search()


if __name__ == "__main__":
    main(sys.argv[1:])
