"""`--scheduler ADDRESS`: the Dask backend (`DaskCluster`) and how a client reaches a
scheduler (`connect_dask`). Population pieces go out through the same `Sliced` evaluator as
the process pool's (`explore/backends.py`); the problem reaches the workers through a worker
plugin (`explore/dask_plugin.py`)."""

from __future__ import annotations

import contextlib
import pickle
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from xcompass.errors import XcompassError, shown
from xcompass.explore.backends import Backend, Sliced, compact, local_problem
from xcompass.explore.worker import ping, run_task, score_slice
from xcompass.search.evaluation import Evaluation
from xcompass.search.method import Handle
from xcompass.search.problem import SearchProblem


def connect_dask(address: str, timeout_s: float = 5.0) -> Any:
    """A `distributed.Client` for `address`, or a one-line error within `timeout_s`."""
    where = f"--scheduler {shown(address, 100)}"
    try:
        from distributed import Client
    except ImportError:
        raise XcompassError(
            f"{where}: Dask is not installed (pip install 'xcompass[dask]')"
        ) from None
    from distributed.comm.addressing import parse_address, parse_host_port

    try:  # a malformed address would leave a half-built Client that blocks exit
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise XcompassError(f"{where}: not a scheduler address ({exc})") from None
    try:
        return Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise XcompassError(f"{where}: cannot reach a Dask scheduler ({reason})") from None
    except (ValueError, TypeError) as exc:
        raise XcompassError(f"{where}: not a scheduler address ({exc})") from None


class DaskCluster(Backend):
    """`--scheduler ADDRESS`: slices and baselines run on the cluster's workers. The problem
    reaches every worker, those that join later included, through a worker plugin.

    A task costs a round trip (client -> scheduler -> worker and back, `overhead_s`, measured
    at `attach` unless `min_task_s` gives it): only population slices that take longer than
    that to score are sent, and this process scores a slice too. Simulated annealing runs on
    a worker while random search runs here and on the other worker threads."""

    name = "dask"
    parallel = True

    def __init__(
        self, client: Any, owns_client: bool = False, min_task_s: float | None = None
    ) -> None:
        self.client, self.owns_client = client, owns_client
        self.plugin = ""
        self.key = ""
        self.min_task_s = min_task_s
        self.overhead_s = 0.0  # a task's round trip (0: slice by MIN_SLICE alone)
        self.per_individual_s = 0.0  # scoring time per individual, measured here
        self.sent = 0  # population slices sent to the cluster

    @staticmethod
    def connect(address: str, timeout_s: float = 5.0) -> DaskCluster:
        return DaskCluster(connect_dask(address, timeout_s), owns_client=True)

    def slots(self) -> int:
        info = self.client.scheduler_info(n_workers=-1)
        return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    def attach(self, problem: SearchProblem, key: str) -> SearchProblem:
        from xcompass.explore.dask_plugin import ProblemPlugin

        self.close_plugin()  # a backend serves one study at a time
        self.key = key
        self.per_individual_s = 0.0  # measured afresh: another problem scores at its own pace
        self.plugin = f"xcompass-{key[:16]}"
        payload = pickle.dumps(local_problem(problem))
        self.client.register_plugin(ProblemPlugin(key, payload), name=self.plugin)
        threads = self.slots()
        self.overhead_s = self.round_trip() if self.min_task_s is None else self.min_task_s
        self.name = f"dask ({threads} worker threads, {self.overhead_s * 1e3:.0f} ms a task)"
        local = problem.local_evaluator()
        return replace(problem, evaluator=Sliced(self, local, threads + 1, here=True))

    def round_trip(self, tries: int = 5) -> float:
        """Median seconds for a no-op task to come back (submit, schedule, run, gather)."""
        times = []
        for _ in range(tries):
            t0 = time.perf_counter()
            self.client.submit(ping, self.key, pure=False).result()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    def send_slices(self, bits: np.ndarray, place: np.ndarray, parts: list[slice]) -> list:
        place = compact(place)
        return [
            self.client.submit(score_slice, self.key, bits[s], place[s], pure=False) for s in parts
        ]

    def gather(
        self, handles: list, bits: np.ndarray, place: np.ndarray, parts: list[slice]
    ) -> list[Evaluation]:
        return list(self.client.gather(handles))

    def submit(self, problem: SearchProblem, fn: Callable[..., Any], *args: Any) -> Handle:
        return self.client.submit(run_task, self.key, fn, args, pure=False)

    def beside_task(self, problem: SearchProblem) -> SearchProblem:
        """One worker thread runs the submitted method: slices go to the others (queued
        behind the method, they would wait for it)."""
        local = problem.local_evaluator()
        threads = self.slots() - 1
        if threads < 1:
            return replace(problem, evaluator=local)
        return replace(problem, evaluator=Sliced(self, local, threads + 1, here=True))

    def close_plugin(self) -> None:
        if self.plugin:
            with contextlib.suppress(Exception):  # the cluster may be gone: nothing to undo
                self.client.unregister_worker_plugin(self.plugin)
            self.plugin = ""

    def close(self) -> None:
        self.close_plugin()
        if self.owns_client:
            self.client.close()
