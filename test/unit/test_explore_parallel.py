"""`--workers N` and `--scheduler ADDRESS` give the in-process result for a seed, and a worker
killed mid-search costs no result (its work is resubmitted)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from explore_cases import SETTINGS, assert_same_outcome, small_problem

from xcompass.errors import XcompassError
from xcompass.explore.backends import MIN_SLICE, ProcessPool, Sliced, chunks, slices
from xcompass.explore.dask_backend import connect_dask
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


def test_guided_chunks_cover_the_population_in_order_and_shrink():
    got = chunks(120, 16, 1)
    sizes = [s.stop - s.start for s in got]
    assert got[0].start == 0 and got[-1].stop == 120
    assert all(a.stop == b.start for a, b in zip(got, got[1:], strict=False))
    assert sizes[0] == 4 and sizes[-1] == 1  # ceil(120 / 32) first, one individual last
    assert sizes == sorted(sizes, reverse=True)
    floored = [s.stop - s.start for s in chunks(120, 16, 10)]
    assert floored == [10] * 12  # no chunk below the floor
    assert [s.stop - s.start for s in chunks(5, 4, 2)] == [2, 2, 1]  # the rest, at the end


def test_guided_chunks_and_the_tail_scored_here_give_the_in_process_result(reference):
    with ProcessPool(3) as pool:
        problem = pool.attach(small_problem(), "test-chunks")
        pool.per_individual_s = 1.0  # as if slow: every population goes out in guided chunks
        assert_same_outcome(Study(problem, SETTINGS, pool).run(), reference)
        assert pool.sent > 0 and pool.stolen > 0  # workers and this process both scored


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
    from xcompass.explore.dask_backend import DaskCluster

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        DaskCluster.connect(cluster.scheduler_address) as backend,
    ):
        # measured round trip: this small problem's slices would cost more than they save,
        # so populations stay here; annealing still runs on a worker
        problem = backend.attach(small_problem(), "test-dask-measured")
        assert 0 < backend.overhead_s < 5
        assert_same_outcome(Study(problem, SETTINGS, backend).run(), reference)
        assert backend.sent == 0 and backend.per_individual_s > 0
        backend.min_task_s = 0.0  # every population is sliced, as a large problem's is
        problem = backend.attach(small_problem(), "test-dask")
        assert backend.per_individual_s == 0  # another problem: measured afresh
        assert_same_outcome(Study(problem, SETTINGS, backend).run(), reference)
        assert backend.sent > 0

        def pids() -> list[int]:
            return sorted(backend.client.run(os.getpid).values())

        killer = _Killer(pids, "ga", 3)
        assert_same_outcome(Study(problem, SETTINGS, backend, progress=killer).run(), reference)
        assert killer.killed


class _Timed:
    """A backend stand-in for `Sliced.count`: a task's round trip and the time per
    individual."""

    def __init__(self, overhead_s: float, per_individual_s: float) -> None:
        self.overhead_s, self.per_individual_s = overhead_s, per_individual_s


def test_a_slice_is_sent_only_when_it_takes_longer_than_a_round_trip():
    local = None
    ten_ms = _Timed(0.010, 0.001)  # 10 individuals' scoring pays for one task
    assert Sliced(ten_ms, local, 3, here=True).count(100) == 3  # capped by the slots
    assert Sliced(ten_ms, local, 3, here=True).count(25) == 2
    assert Sliced(ten_ms, local, 3, here=True).count(15) == 1  # below: all here
    unmeasured = _Timed(0.010, 0.0)
    assert Sliced(unmeasured, local, 3, here=True).count(1000) == 1  # measure first
    pool = _Timed(0.0, 0.0)  # a process pool: MIN_SLICE alone decides
    assert Sliced(pool, local, 3, here=True).count(100) == 3
    assert Sliced(pool, local, 3, here=True).count(MIN_SLICE) == 1


def test_the_dask_plugin_relaxes_and_restores_the_nanny_s_malloc_settings():
    pytest.importorskip("distributed", reason="Dask is an optional extra")
    from xcompass.explore import dask_plugin

    class Libc:
        def __init__(self) -> None:
            self.calls: list[tuple[int, int]] = []

        def mallopt(self, param: int, value: int) -> int:
            self.calls.append((param, value))
            return 1

    libc = Libc()
    assert dask_plugin.relax_malloc({}, libc) is None and not libc.calls  # no nanny setting
    restore = dask_plugin.relax_malloc({"MALLOC_TRIM_THRESHOLD_": "65536"}, libc)
    trim, mmap = dask_plugin.M_TRIM_THRESHOLD, dask_plugin.M_MMAP_THRESHOLD
    assert libc.calls == [(trim, dask_plugin.RELAXED_TRIM), (mmap, dask_plugin.RELAXED_MMAP)]
    restore()
    assert libc.calls[2:] == [(trim, 65536), (mmap, dask_plugin.GLIBC_MMAP_THRESHOLD)]


def test_an_unreachable_scheduler_fails_fast():
    pytest.importorskip("distributed", reason="Dask is an optional extra")
    import time

    started = time.perf_counter()
    with pytest.raises(XcompassError, match="--scheduler tcp://127.0.0.1:9: cannot reach"):
        connect_dask("tcp://127.0.0.1:9", timeout_s=1.0)
    assert time.perf_counter() - started < 10
    with pytest.raises(XcompassError, match="not a scheduler address"):
        connect_dask("no-port-here")


def _readme_embedding_block() -> str:
    """The README's embedding example, as a user would save it."""
    from conftest import REPO

    text = (REPO / "README.md").read_text()
    start = text.index("```python\n", text.index("**Embedding**")) + len("```python\n")
    block = text[start : text.index("```", start)]
    return textwrap.dedent(block)


def _run_script(source: str, where, timeout_s: float = 180):  # noqa: ANN001, ANN202
    script = where / "embed.py"
    script.write_text(source)
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def _smaller(block: str) -> str:
    """The same script on a search small enough for a test (2 layers, 16 x 2)."""
    big = "settings=SearchSettings(population=60, generations=40, seed=1),"
    assert big in block, "the README's embedding example changed: update this test"
    return block.replace(
        big,
        "settings=SearchSettings(population=16, generations=2, seed=1),\n" + " " * 8 + "layers=2,",
    )


def test_the_readme_embedding_example_runs_as_a_script_with_workers(tmp_path):
    block = _readme_embedding_block()
    assert 'if __name__ == "__main__":' in block and "workers=2" in block
    done = _run_script(_smaller(block), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "found (" in done.stdout and "lower bound" in done.stdout
    assert (tmp_path / "out" / "report.json").is_file()


def test_an_unguarded_script_with_workers_fails_fast_in_one_line(tmp_path):
    """Without the guard, each spawned worker re-runs the script: the worker leaves with one
    line and the parent stops within seconds (it used to wait for ever)."""
    body = _smaller(_readme_embedding_block())
    lines = body.splitlines()
    guard = next(i for i, line in enumerate(lines) if line.startswith("if __name__"))
    inner = textwrap.dedent("\n".join(lines[guard + 1 :]))
    unguarded = "\n".join(lines[:guard]) + "\n" + inner
    started = time.perf_counter()
    done = _run_script(unguarded, tmp_path, timeout_s=120)
    assert done.returncode != 0
    assert time.perf_counter() - started < 60
    worker = [line for line in done.stderr.splitlines() if "error: worker process" in line]
    assert worker and worker[0].startswith("xcompass: error: worker process: a script")
    assert worker[0].endswith("(each worker process re-imports the script)")
    assert "--workers 2: a worker process exited before it started" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_pool_that_never_delivered_is_not_restarted(reference):
    """A pool whose workers die before their first result gives the one-line error at
    once; one that delivered before is restarted (the tests above)."""
    with ProcessPool(2) as pool:
        pool.attach(small_problem(), "test-start")
        assert not pool.delivered
        with pytest.raises(XcompassError, match="exited before it started"):
            pool.restart()
        assert pool.executor is None and pool.restarts == 0


def test_the_memetic_step_s_climbs_on_workers_give_the_in_process_result():
    """Below a layer the climbs of each successive-halving round run on the workers: the
    same mappings, scores, spend and history as in one process."""
    from explore_cases import problem_spec

    from xcompass.explore.study import SearchSettings

    problem = problem_spec(layers=2, microbatches=2, granularity="group").problem(3)
    settings = SearchSettings(population=16, generations=10, seed=3, baselines=())
    alone = Study(problem, settings).run()
    assert len(alone.results["ga"].stats["local"]["rounds"]) == 2  # 4 climbs, then 2, then 1
    with ProcessPool(3) as pool:
        here = pool.attach(problem, "test-climbs")
        sent, submit = [], pool.submit
        pool.submit = lambda *a: sent.append(a[1].__name__) or submit(*a)
        parallel = Study(here, settings, pool).run()
        assert sent == ["_climb"] * 4  # round 1: 3 of 4 climbs away, round 2: 1 of 2
    assert_same_outcome(parallel, alone)
    assert parallel.results["ga"].stats["local"] == alone.results["ga"].stats["local"]
