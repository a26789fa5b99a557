"""Where a study's evaluations run: in this process, over local worker processes
(`--workers N`), or over a Dask cluster (`--scheduler ADDRESS`, `explore/dask_backend.py`). The
three give identical results for a seed: every random choice is made here, a population is cut
into contiguous slices that workers score independently (an individual's score never depends on
its batch), and the slices are put back in order.

Two kinds of work go out:
- a population slice (`evaluate`), for the GA, NSGA-II, random search and the seed pool;
  populations smaller than `MIN_SLICE` per worker stay here (simulated annealing scores one
  mapping at a time, which no pool can speed up); on Dask, a slice also has to take longer to
  score than a task's round trip (measured when the study attaches, about 10-20 ms on
  localhost), judged on the time per individual measured here, so small problems stay here.
  Once that time is measured, a population goes out in guided chunks (`chunks`: each a
  share of what is left, shrinking to the smallest chunk worth a task) that idle workers take
  in turn, and on the process pool this process takes chunks from the tail that no worker has
  started: tile mappings differ up to 7x in scoring time, so equal slices left the slowest
  worker of 16 at 1.2x the mean;
- a whole baseline (`submit`): simulated annealing runs on a worker while random search runs
  here, both on the budget the GA spent.
A lost worker costs no result: its slices and tasks are resubmitted (the process pool is
restarted; Dask reschedules them itself) and, being deterministic, give the same answer. A pool
whose workers die before delivering anything is not restarted: that is a start-up failure (most
often a script without an `if __name__ == "__main__":` guard, which every spawned worker
re-imports), reported at once in one line.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any

import numpy as np

from xcompass.errors import XcompassError
from xcompass.explore.worker import pool_init, run_task, score_slice, warm
from xcompass.search.evaluation import Evaluation, Evaluator
from xcompass.search.method import Done, Handle  # noqa: F401 (the handles the study waits on)
from xcompass.search.problem import SearchProblem

MIN_SLICE = 8
"""Fewest individuals worth sending to a worker (below, IPC costs more than it saves)."""
MAX_RESTARTS = 8
"""Worker pool restarts one study tolerates before giving up."""
MAX_WORKERS = 256
UNGUARDED = (
    "a script that runs xcompass with workers must call it under "
    '`if __name__ == "__main__":` (each worker process re-imports the script)'
)


def _refuse_in_bootstrapping_worker() -> None:
    """In a spawned worker that is still importing the parent's main script, starting a pool
    would recurse (Python refuses, and the half-started worker never exits): leave at once
    with one line instead. Worker processes that run tasks normally are not affected."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise SystemExit(f"xcompass: error: worker process: {UNGUARDED}")


POOL_TASK_S = 0.002
"""Least scoring time worth one process-pool task (its round trip is ~0.2-0.5 ms)."""
CHUNKS_PER_SLOT = 2
"""Guided chunking: each chunk is what is left over this many times the slots."""


def slices(n: int, parts: int) -> list[slice]:
    """Contiguous, near-equal, non-empty slices of range(n)."""
    parts = max(1, min(parts, n))
    cuts = np.linspace(0, n, parts + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def chunks(n: int, parts: int, smallest: int) -> list[slice]:
    """Contiguous slices of range(n) in order, guided self-scheduling: each takes
    1 / (CHUNKS_PER_SLOT x parts) of what is left, never fewer than `smallest`, so the first
    are large (few round trips) and the last small (workers finish together)."""
    out, start = [], 0
    smallest = max(int(smallest), 1)
    while start < n:
        size = max(smallest, -(-(n - start) // (CHUNKS_PER_SLOT * parts)))
        out.append(slice(start, min(start + size, n)))
        start += size
    return out


def compact(place: np.ndarray) -> np.ndarray:
    """Placement ids in 16 bits for the trip to a worker (a quarter of the bytes to pickle);
    the engine widens them again, so scores do not change."""
    if place.size and place.min() >= 0 and place.max() < 2**15:
        return place.astype(np.int16)
    return place


def local_problem(problem: SearchProblem) -> SearchProblem:
    """The problem as a worker holds it: scored in that worker's own process."""
    return replace(problem, evaluator=problem.local_evaluator())


# --- backends ------------------------------------------------------------------------------


class Backend:
    """In-process: the default, and the interface the others implement."""

    name = "in-process"
    parallel = False

    def attach(self, problem: SearchProblem, key: str) -> SearchProblem:
        """The problem with this backend's evaluator (call once per study)."""
        return problem

    def submit(self, problem: SearchProblem, fn: Callable[..., Any], *args: Any) -> Handle:
        return Done(fn(problem, *args))

    def beside_task(self, problem: SearchProblem) -> SearchProblem:
        """The problem to evaluate here while one submitted task occupies a worker."""
        return problem

    def close(self) -> None:
        pass

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Sliced:
    """An evaluator that scores part of a population here and the rest through `backend`.

    Until the time per individual is measured (`backend.per_individual_s`, the fastest seen
    on a slice scored here), a population is cut into equal slices, the first scored here.
    Then it goes out in guided chunks (`chunks`) that the workers take as they free up; the
    process pool's chunks that no worker has started are taken back from the tail and scored
    here (`backend.steal`), so this process works until the last chunk is out. With
    `backend.overhead_s` > 0 (a Dask task's round trip), a population is cut only into pieces
    that take at least that long to score (before the first measurement everything is scored
    here). Chunking never changes a score, so neither does any of this."""

    def __init__(self, backend: Any, local: Evaluator, slots: int, here: bool) -> None:
        self.backend, self.local, self.slots, self.here = backend, local, slots, here

    def count(self, n: int) -> int:
        """How many slices a population of n is cut into."""
        parts = min(self.slots, n // MIN_SLICE)
        overhead = getattr(self.backend, "overhead_s", 0.0)
        if overhead > 0:
            per = getattr(self.backend, "per_individual_s", 0.0)
            parts = min(parts, int(n * per / overhead)) if per > 0 else 1
        return max(parts, 1)

    def _here(self, bits: np.ndarray, place: np.ndarray) -> Evaluation:
        t0 = time.perf_counter()
        ev = self.local(bits, place)
        if len(place) >= MIN_SLICE and hasattr(self.backend, "per_individual_s"):
            # the fastest seen: a slice scored while this process was preempted or contended
            # would otherwise talk it into sending slices that cannot pay
            per = (time.perf_counter() - t0) / len(place)
            old = self.backend.per_individual_s
            self.backend.per_individual_s = per if old <= 0 else min(old, per)
        return ev

    def plan(self, n: int) -> list[slice]:
        """The chunks a population of n goes out in: equal slices until the time per
        individual is known, then guided chunks no shorter than a task is worth."""
        count = self.count(n)
        per = getattr(self.backend, "per_individual_s", 0.0)
        if count <= 1 or per <= 0:
            return slices(n, count)
        floor = max(getattr(self.backend, "overhead_s", 0.0), POOL_TASK_S)
        smallest = -(-floor // per) if per < floor else 1
        return chunks(n, count, min(int(smallest), -(-n // count)))

    def __call__(self, bits: np.ndarray, place: np.ndarray) -> Evaluation:
        n = len(place)
        parts = self.plan(n)
        if len(parts) <= 1:
            return self._here(bits, place)
        measured = getattr(self.backend, "per_individual_s", 0.0) > 0
        steals = self.here and measured and getattr(self.backend, "steals", False)
        first = self.here and not steals  # Dask: the first chunk is scored here
        remote = parts[1:] if first else parts
        handles = self.backend.send_slices(bits, place, remote)
        self.backend.sent += len(remote)
        done = [self._here(bits[parts[0]], place[parts[0]])] if first else []
        tail: list[Evaluation] = []
        if steals:  # the chunks no worker has started, from the last, are scored here
            while len(remote) > 1 and self.backend.steal(handles[-1]):
                s = remote.pop()
                handles.pop()
                tail.append(self._here(bits[s], place[s]))
                self.backend.sent -= 1
                self.backend.stolen += 1
        got = self.backend.gather(handles, bits, place, remote)
        return Evaluation.concat(done + got + tail[::-1])


class ProcessPool(Backend):
    """`--workers N`: N processes score each population, this one included (N - 1 children,
    started with `spawn`, each holding the problem once)."""

    name = "processes"
    parallel = True
    steals = True  # this process scores the chunks no worker has started

    def __init__(self, workers: int) -> None:
        if not 2 <= workers <= MAX_WORKERS:
            raise XcompassError(f"--workers {workers}: must be 1 to {MAX_WORKERS}")
        _refuse_in_bootstrapping_worker()
        self.workers = workers
        self.name = f"{workers} processes"
        self.executor: ProcessPoolExecutor | None = None
        self.restarts = 0
        self.generation = 0  # bumped by every restart
        self.delivered = False  # has the current pool returned any result yet?
        self.tasks: list[_PoolTask] = []  # whole methods running on a worker
        self.sent = 0  # population slices sent to workers
        self.stolen = 0  # chunks taken back from the queue and scored here
        self.per_individual_s = 0.0  # scoring time per individual, measured here
        self.key = ""
        self.payload_file = ""

    def attach(self, problem: SearchProblem, key: str) -> SearchProblem:
        """The problem reaches the workers through a temporary file, not the spawn pipe:
        CPython's spawn blocks for ever writing more than a pipe holds to a child that died
        before reading it, which is how a worker dying on start-up used to hang the parent."""
        self.key = key
        self.per_individual_s = 0.0  # measured afresh: another problem scores at its own pace
        self._drop_payload()
        with tempfile.NamedTemporaryFile(
            prefix="xcompass-problem-", suffix=".pickle", delete=False
        ) as f:
            f.write(pickle.dumps(local_problem(problem)))
        self.payload_file = f.name
        warm(problem)  # compiled here first: the workers then load it from numba's cache
        self._start()
        local = problem.local_evaluator()
        return replace(problem, evaluator=Sliced(self, local, self.workers, here=True))

    def _start(self) -> None:
        self.executor = ProcessPoolExecutor(
            max_workers=self.workers - 1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=pool_init,
            initargs=(self.key, self.payload_file),
        )

    def restart(self) -> None:
        """A worker died: start a fresh pool (the dead one's work is resubmitted), unless
        this pool never delivered a result: then its workers die on start-up, and a fresh
        pool would too."""
        if not self.delivered:
            self.close()
            raise XcompassError(
                f"--workers {self.workers}: a worker process exited before it started; {UNGUARDED}"
            )
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            raise XcompassError(
                f"--workers {self.workers}: worker processes died {self.restarts} times; "
                "giving up (out of memory?)"
            )
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        self.generation += 1
        self.delivered = False
        self._start()
        for task in self.tasks:  # every method the dead pool was running starts again
            if not task.done:
                task.resubmit()

    def worker_pids(self) -> list[int]:
        """The children's process ids (tests kill one to check that no result is lost)."""
        procs = getattr(self.executor, "_processes", None) or {}
        return sorted(int(pid) for pid in procs)

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        assert self.executor is not None
        while True:
            try:
                return self.executor.submit(fn, *args)
            except BrokenProcessPool:
                self.restart()

    def send_slices(self, bits: np.ndarray, place: np.ndarray, parts: list[slice]) -> list:
        place = compact(place)
        return [
            (self.generation, self._submit(score_slice, self.key, bits[s], place[s])) for s in parts
        ]

    def steal(self, handle: tuple[int, Future]) -> bool:
        """Take a chunk back if no worker has started it (it is then scored here)."""
        return handle[1].cancel()

    def gather(
        self, handles: list, bits: np.ndarray, place: np.ndarray, parts: list[slice]
    ) -> list[Evaluation]:
        out: list[Evaluation] = []
        for i in range(len(parts)):
            while True:
                generation, future = handles[i]
                try:
                    out.append(future.result())
                    self.delivered = True
                    break
                except BrokenProcessPool:  # resubmit this slice and every one not yet read
                    if generation == self.generation:
                        self.restart()
                    for j in range(i, len(parts)):
                        if handles[j][0] != self.generation:
                            p = parts[j]
                            handles[j] = (
                                self.generation,
                                self._submit(score_slice, self.key, bits[p], place[p]),
                            )
        return out

    def submit(self, problem: SearchProblem, fn: Callable[..., Any], *args: Any) -> Handle:
        return _PoolTask(self, fn, args)

    def beside_task(self, problem: SearchProblem) -> SearchProblem:
        local = problem.local_evaluator()
        if self.workers <= 2:
            return replace(problem, evaluator=local)
        return replace(problem, evaluator=Sliced(self, local, self.workers - 1, here=True))

    def _drop_payload(self) -> None:
        if self.payload_file:
            with contextlib.suppress(OSError):
                os.unlink(self.payload_file)
            self.payload_file = ""

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None
        self._drop_payload()


class _PoolTask:
    """A whole method on a pool worker, resubmitted whenever the pool is restarted."""

    def __init__(self, pool: ProcessPool, fn: Callable[..., Any], args: tuple) -> None:
        self.pool, self.fn, self.args, self.done = pool, fn, args, False
        self.resubmit()
        pool.tasks.append(self)

    def resubmit(self) -> None:
        self.generation = self.pool.generation
        self.future = self.pool._submit(run_task, self.pool.key, self.fn, self.args)

    def result(self) -> Any:
        while True:
            try:
                value = self.future.result()
                self.pool.delivered = True
                self.done = True
                self.pool.tasks.remove(self)
                return value
            except BrokenProcessPool:
                if self.generation == self.pool.generation:  # nobody restarted it yet
                    self.pool.restart()
