"""`--workers` and Dask scaling of Compass's exact GA on the tile scenario (issue 19).

    python benchmarks/search_scaling.py OUT_DIR [--workers 2,4,8,16] [--dask 2,4,8,16]
        [--generations 8] [--equal 8,16] [--remote 8,16] [--limit-s 420]

The problem is Compass's tile scenario (`tile_long_run.SCENARIO`: gpt3-7b block, 32
micro-batches, simba-36, granularity tile, objective EDP); the search is the exact GA
(population 120, fidelity 1, seed 0) started from the standard pool, after one untimed run
that compiles every kernel a generation uses. Generation 0 is scored
untimed (it also measures the time per individual that sizes the chunks); then `generations`
generations are timed (wall). Workers = 1 is in-process. `--equal` repeats those worker counts
with the previous release's split (equal slices, the first scored here) for comparison on the
same machine; `--remote` runs workers children that score everything while this process only
deals the chunks (workers + 1 processes). Dask runs a `LocalCluster` of workers - 1
single-threaded worker processes, this process scoring a chunk too.

Every run must end with the in-process run's population, bit for bit (`identical`).

Columns of OUT_DIR/search_scaling.json's rows: backend (in-process, processes,
processes-equal, processes-remote, dask), workers (processes scoring), seconds (wall over the
timed generations), seconds_per_generation, serial_share (the share of that wall time spent outside
the evaluator, in this process: selection, breeding, repair, memory checks), speedup (over
in-process), efficiency (speedup / workers), sent and stolen (chunks sent to workers, and taken
back and scored here), identical. `contention` rows: k processes each scoring the same 24
individuals alone at once, the median seconds per individual and its ratio to k = 1 (what the
host's cores lose when all are busy, before any scheduling).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

POPULATION = 120


def machine() -> str:
    import numba
    import numpy as np

    lscpu = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        keep = ("Model name", "Thread(s) per core", "Core(s) per socket", "Socket(s)")
        lscpu = "; ".join(
            " ".join(line.split()) for line in out.splitlines() if line.startswith(keep)
        )
    except (OSError, subprocess.SubprocessError):
        pass
    return (
        f"{os.cpu_count()} CPUs ({lscpu or 'lscpu unavailable'}), Python "
        f"{platform.python_version()}, numba {numba.__version__}, numpy {np.__version__}"
    )


def _score_alone(args: tuple) -> float:
    from tile_long_run import problem

    bits, place, reps = args
    p = problem()
    p.evaluator(bits[:1], place[:1])
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        p.evaluator(bits, place)
        best = min(best, time.perf_counter() - t0)
    return best / len(place)


def contention(bits, place, counts: list[int]) -> list[dict]:  # noqa: ANN001
    rows, one = [], None
    for k in counts:
        with mp.get_context("fork").Pool(k) as pool:
            times = sorted(pool.map(_score_alone, [(bits, place, 3)] * k))
        med = times[len(times) // 2]
        one = med if one is None else one
        rows.append({"processes": k, "seconds_per_individual": med, "slowdown": med / one})
        print(f"contention: {k:>2} processes at once: {med * 1e3:.2f} ms per individual "
              f"({med / one:.2f}x alone)", flush=True)  # fmt: skip
    return rows


class _Equal:
    """The previous release's split: equal slices, the first scored here (no chunks)."""

    def __init__(self, sliced) -> None:  # noqa: ANN001
        self.sliced = sliced

    def __call__(self, bits, place):  # noqa: ANN001, ANN204
        from xcompass.explore.backends import slices
        from xcompass.search.evaluation import Evaluation

        s, b = self.sliced, self.sliced.backend
        parts = slices(len(place), s.count(len(place)))
        if len(parts) <= 1:
            return s.local(bits, place)
        handles = b.send_slices(bits, place, parts[1:])
        b.sent += len(parts) - 1
        here = s.local(bits[parts[0]], place[parts[0]])
        return Evaluation.concat([here, *b.gather(handles, bits, place, parts[1:])])


def timed_ga(p, generations: int) -> tuple[dict, object]:  # noqa: ANN001
    """The exact GA's timed generations on problem p; returns figures and the final state."""
    from xcompass.search.ga import GAConfig, GeneticSearch
    from xcompass.search.population import SeedPool

    spent = [0.0]
    inner = p.evaluator

    def evaluator(bits, place):  # noqa: ANN001, ANN202
        t0 = time.perf_counter()
        out = inner(bits, place)
        spent[0] += time.perf_counter() - t0
        return out

    p = replace(p, evaluator=evaluator)
    pool = SeedPool.build(p, "edp")
    search = GeneticSearch(p, "edp", GAConfig(POPULATION, generations + 1, seed=0), pool)
    state = search.start()
    spent[0] = 0.0
    t0 = time.perf_counter()
    while search.can_step(state):
        state = search.step(state)
    sec = time.perf_counter() - t0
    return {"seconds": sec, "seconds_per_generation": sec / generations,
            "serial_share": (sec - spent[0]) / sec}, state  # fmt: skip


def same(a, b) -> bool:  # noqa: ANN001
    import numpy as np

    pa, pb = a.population, b.population
    return bool(
        np.array_equal(pa.score, pb.score)
        and np.array_equal(pa.place, pb.place)
        and np.array_equal(pa.bits, pb.bits)
        and a.best.score[0] == b.best.score[0]
    )


def main(argv: list[str]) -> None:
    from tile_long_run import COMMAND, problem

    from xcompass.explore.backends import ProcessPool, Sliced
    from xcompass.explore.dask_backend import DaskCluster

    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)

    def opt(name: str, default: str) -> list[int]:
        value = argv[argv.index(name) + 1] if name in argv else default
        return [int(x) for x in value.split(",") if x]

    workers, dask, equal = (
        opt("--workers", "2,4,8,16"),
        opt("--dask", "2,4,8,16"),
        opt("--equal", "8,16"),
    )
    remote = opt("--remote", "8,16")
    generations = opt("--generations", "8")[0]
    limit = opt("--limit-s", "420")[0]
    began = time.perf_counter()
    record = {"command": COMMAND, "machine": machine(), "population": POPULATION,
              "generations": generations, "rows": [], "contention": []}  # fmt: skip
    print(record["machine"], flush=True)

    def save() -> None:
        (out / "search_scaling.json").write_text(json.dumps(record, indent=1))

    base = problem()
    t0 = time.perf_counter()
    timed_ga(base, 1)  # compile every kernel a generation uses (not timed: it is no search)
    one, ref = timed_ga(base, generations)
    print(f"warm-up and in-process run {time.perf_counter() - t0:.0f} s", flush=True)
    t1 = one["seconds_per_generation"]

    def row(backend: str, n: int, fig: dict, state, b=None) -> None:  # noqa: ANN001
        r = {"backend": backend, "workers": n, **fig,
             "speedup": t1 / fig["seconds_per_generation"],
             "efficiency": t1 / (n * fig["seconds_per_generation"]),
             "sent": getattr(b, "sent", 0), "stolen": getattr(b, "stolen", 0),
             "identical": same(state, ref)}  # fmt: skip
        record["rows"].append(r)
        save()
        print(f"{backend:>15} {n:>2}: {r['seconds_per_generation']:.3f} s per generation, "
              f"serial {100 * r['serial_share']:.1f}%, speed-up {r['speedup']:.2f}, "
              f"efficiency {100 * r['efficiency']:.0f}%, chunks sent {r['sent']} / scored here "
              f"{r['stolen']}, identical {r['identical']}", flush=True)  # fmt: skip

    row("in-process", 1, one, ref)
    pop = ref.population
    record["contention"] = contention(pop.bits[:24], pop.place[:24], [1, 8, 16])
    save()
    plans = [("processes", n) for n in workers] + [("processes-equal", n) for n in equal]
    plans += [("processes-remote", n) for n in remote]
    plans += [("dask", n) for n in dask]
    for backend, n in plans:
        if time.perf_counter() - began > limit:
            print(f"{backend} {n}: skipped (time limit)", flush=True)
            continue
        if backend == "dask":
            from distributed import LocalCluster

            with (
                LocalCluster(n_workers=n - 1, threads_per_worker=1, processes=True,
                             dashboard_address=None) as cluster,
                DaskCluster.connect(cluster.scheduler_address) as b,
            ):  # fmt: skip
                p = b.attach(base, f"scaling-dask-{n}")
                fig, state = timed_ga(p, generations)
                row(backend, n, fig, state, b)
            continue
        b = ProcessPool(n + 1 if backend == "processes-remote" else n)
        p = b.attach(base, f"scaling-{n}")
        if backend == "processes-equal":
            p = replace(p, evaluator=_Equal(p.evaluator))
        if backend == "processes-remote":  # n children score, this process only deals
            b.per_individual_s = one["seconds"] / generations / POPULATION
            p = replace(p, evaluator=Sliced(b, p.evaluator.local, n, here=False))
        fig, state = timed_ga(p, generations)
        b.close()
        row(backend, n, fig, state, b)
    print(f"total {time.perf_counter() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
