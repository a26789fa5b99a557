"""`--workers N` and `--scheduler ADDRESS` give the in-process result for a seed, and a worker
killed mid-search costs no result (its work is resubmitted)."""

from __future__ import annotations

import os
import signal

import pytest
from explore_cases import SETTINGS, assert_same_outcome, small_problem

from xcompass.errors import XcompassError
from xcompass.explore.backends import ProcessPool, connect_dask, slices
from xcompass.explore.study import Study


@pytest.fixture(scope="module")
def reference():
    return Study(small_problem(), SETTINGS).run()


class _Killer:
    """Progress callback: kill one worker process when `method` reports step `at`."""

    def __init__(self, pids, method: str, at: int) -> None:  # noqa: ANN001
        self.pids, self.method, self.at, self.killed = pids, method, at, []

    def __call__(self, p):  # noqa: ANN001, ANN204
        if p.method == self.method and p.step == self.at and not self.killed:
            pid = self.pids()[0]
            os.kill(pid, signal.SIGKILL)
            self.killed.append(pid)


def test_slices_cover_the_population_in_order():
    for n, parts in ((10, 3), (3, 8), (119, 2), (1, 1)):
        got = slices(n, parts)
        assert got[0].start == 0 and got[-1].stop == n
        assert all(a.stop == b.start for a, b in zip(got, got[1:], strict=False))


def test_two_local_workers_give_the_in_process_result_even_losing_a_worker(reference):
    with ProcessPool(2) as pool:
        problem = pool.attach(small_problem(), "test-workers")
        assert_same_outcome(Study(problem, SETTINGS, pool).run(), reference)
        during_ga = _Killer(pool.worker_pids, "ga", 3)  # a population slice is lost
        assert_same_outcome(Study(problem, SETTINGS, pool, progress=during_ga).run(), reference)
        assert during_ga.killed and pool.restarts == 1
        during_sa = _Killer(pool.worker_pids, "random", 1)  # annealing runs on the worker
        assert_same_outcome(Study(problem, SETTINGS, pool, progress=during_sa).run(), reference)
        assert during_sa.killed and pool.restarts >= 1  # 2 unless annealing had finished


def test_a_dask_cluster_gives_the_in_process_result_even_losing_a_worker(reference):
    distributed = pytest.importorskip(
        "distributed", reason="Dask is an optional extra: pip install 'xcompass[dask]'"
    )
    from xcompass.explore.backends import DaskCluster

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        DaskCluster.connect(cluster.scheduler_address) as backend,
    ):
        problem = backend.attach(small_problem(), "test-dask")
        assert_same_outcome(Study(problem, SETTINGS, backend).run(), reference)

        def pids() -> list[int]:
            return sorted(backend.client.run(os.getpid).values())

        killer = _Killer(pids, "ga", 3)
        assert_same_outcome(Study(problem, SETTINGS, backend, progress=killer).run(), reference)
        assert killer.killed


def test_an_unreachable_scheduler_fails_fast():
    pytest.importorskip("distributed", reason="Dask is an optional extra")
    import time

    started = time.perf_counter()
    with pytest.raises(XcompassError, match="--scheduler tcp://127.0.0.1:9: cannot reach"):
        connect_dask("tcp://127.0.0.1:9", timeout_s=1.0)
    assert time.perf_counter() - started < 10
    with pytest.raises(XcompassError, match="not a scheduler address"):
        connect_dask("no-port-here")
