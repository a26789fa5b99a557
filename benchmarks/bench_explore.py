"""`xcompass explore`: the default run's wall time (installed command, Python start-up
included) and the speed-up of `--workers 2` on a large search.

    .venv/bin/python benchmarks/bench_explore.py            # both parts
    .venv/bin/python benchmarks/bench_explore.py default    # the default run only
    .venv/bin/python benchmarks/bench_explore.py workers    # the speed-up only
    .venv/bin/python benchmarks/bench_explore.py dask       # Dask on localhost

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

Dask on localhost (`distributed.LocalCluster`, 2 worker processes of 1 thread, what the test
suite uses): a task's round trip (a no-op task submitted and gathered, median of 30), the time
per individual of each problem in this process, the population slice from which a task pays
for its round trip, and the default and the large search in-process and on the cluster
(median of REPEATS, alternating; identical results required).
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


def _noop(x: int) -> int:
    return x


def dask_localhost() -> None:
    import distributed
    import numpy as np

    from xcompass.explore import DaskCluster, SearchSettings, Study, problem_spec

    print("## Dask on localhost (LocalCluster, 2 workers x 1 thread) against in-process")
    large = problem_spec("llama3-70b", None, "hgx-h200x8", microbatches=16, train_samples=4)
    problems = {
        "default (llama3-8b, 8 micro-batches, compass-het-36; GA 100 x 60 + SA + random)": (
            problem_spec().problem(0),
            SearchSettings(),
        ),
        "large (llama3-70b, 16 micro-batches, hgx-h200x8, 4 batches; GA 256 x 12 + SA + random)": (
            large.problem(0),
            SearchSettings(population=256, generations=12),
        ),
    }
    rows = []
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        DaskCluster.connect(cluster.scheduler_address) as backend,
    ):
        client = backend.client
        client.gather([client.submit(_noop, i, pure=False) for i in range(4)])
        trips = []
        for i in range(30):
            t0 = time.perf_counter()
            client.submit(_noop, i, pure=False).result()
            trips.append(time.perf_counter() - t0)
        trip = statistics.median(trips)
        for label, (problem, settings) in problems.items():
            warm = SearchSettings(population=16, generations=2)
            seeds = Study(problem, warm).run().pool.scored  # the standard strategies
            reps = -(-64 // len(seeds.place))
            bits = np.tile(seeds.bits, (reps, 1))[:64]
            place = np.tile(seeds.place, (reps, 1, 1))[:64]
            problem.evaluator(bits, place)
            t0 = time.perf_counter()
            for _ in range(5):
                problem.evaluator(bits, place)
            per = (time.perf_counter() - t0) / 5 / 64
            on_dask = backend.attach(problem, f"bench-{len(rows)}")
            Study(on_dask, warm, backend).run()
            here, there, always = [], [], []
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                a = Study(problem, settings).run()
                here.append(time.perf_counter() - t0)
                sent = backend.sent
                t0 = time.perf_counter()
                b = Study(on_dask, settings, backend).run()
                there.append(time.perf_counter() - t0)
                sent = backend.sent - sent
                backend.min_task_s, backend.overhead_s = 0.0, 0.0  # slice every population
                t0 = time.perf_counter()
                c = Study(on_dask, settings, backend).run()
                always.append(time.perf_counter() - t0)
                backend.overhead_s = backend.round_trip()
                backend.min_task_s = None
                for other in (b, c):
                    if any(a.results[m].best.score[0] != other.results[m].best.score[0]
                           for m in a.results):  # fmt: skip
                        raise SystemExit("bench_explore: Dask changed the result")
            rows.append((label, per, trip / per, here, there, always, sent))
    print(f"task round trip (no-op task, median of 30): {trip * 1e3:.1f} ms")
    print("| search | scoring per individual | individuals per round trip | in-process | Dask | "
          "slices sent | Dask, every population sliced |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for label, per, worth, here, there, always, sent in rows:
        print(
            f"| {label} | {per * 1e3:.2f} ms | {worth:.0f} | {statistics.median(here):.1f} s | "
            f"{statistics.median(there):.1f} s | {sent} | {statistics.median(always):.1f} s |"
        )
    print(
        f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (above that: contended)"
    )


def main(parts: list[str] | None = None) -> None:
    parts = parts or ["default", "workers", "dask"]
    if "default" in parts:
        default_run()
    if "workers" in parts:
        large_search()
    if "dask" in parts:
        dask_localhost()


if __name__ == "__main__":
    main(sys.argv[1:])
