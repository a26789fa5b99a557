"""The one study: the answer is the best mapping any method evaluated (and says which found
it), a Pareto front keeps every non-dominated point any method saw, a baseline that finds no
mapping is a row that says so, and a new method is one class plus one registry line."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from search_cases import mesh_problem, tight_problem

from xcompass.errors import XcompassError
from xcompass.search import GAConfig, autotune, random_search, registry
from xcompass.search.archive import front_index, merge_fronts
from xcompass.search.method import BASELINE, Done, Run
from xcompass.search.population import SearchResult, evaluate
from xcompass.search.registry import Entry
from xcompass.search.study import SearchSettings, Study

SMALL = GAConfig(population=12, generations=6, seed=3)


@pytest.mark.parametrize("objective", ["edp", "latency", "throughput"])
@pytest.mark.parametrize("problem", [mesh_problem, tight_problem], ids=["mesh", "tight"])
def test_the_answer_is_never_worse_than_any_method(problem, objective):
    out = autotune(problem(), objective, SMALL)
    answer = out.answer
    scores = {name: float(r.best.score[0]) for name, r in out.results.items()}
    assert float(answer.best.score[0]) == min(scores.values())
    assert answer.method == min(scores, key=scores.get)  # first of equals: the searched one
    assert out.best is answer and out.found_by == answer.method
    summary = out.summary()
    assert summary["answer"]["method"] == answer.method
    assert all(v >= 0.0 for v in summary["better_than"].values())  # positive = better


class _Lucky:
    """A baseline that 'finds' a mapping better than the GA's: the answer must be it."""

    def start(self, run: Run) -> Done:
        ga = run.state.results["ga"]
        better = replace(ga.best, score=ga.best.score * 0.5)
        return Done(SearchResult("lucky", better, run.budget, 0.0))


class _Broken:
    """A baseline that fails with a diagnostic: its row says so, the study goes on."""

    def start(self, run: Run) -> Done:
        raise XcompassError("nothing here fits")


class HillClimb:
    """The whole of a new method: one class (here in a test module) and one registry line.
    First-improvement hill climbing from the best standard strategy with SA's moves."""

    def start(self, run: Run) -> Done:
        from xcompass.search.baselines import propose

        rng = np.random.default_rng([run.config.seed, 9])
        best = run.pool.scored.take([run.pool.best_index()])
        spent, history, tries = run.pool.evaluations, [], 0
        while spent < run.budget and tries < 20 * run.budget:  # moves that never fit: stop
            tries += 1
            bits, place = propose(rng, best.bits[0], best.place[0], run.problem.group_ids)
            run.problem.legalize(place)
            if not run.problem.fits(place[None])[0]:
                continue
            cand, used = evaluate(run.problem, run.scalar, bits[None], place[None])
            spent += used
            if cand.score[0] < best.score[0]:
                best = cand
            history.append((spent, float(best.score[0])))
        return Done(SearchResult("hill", best, spent, 0.0, history))


@pytest.fixture
def registered():
    added: list[str] = []

    def add(name: str, cls: str, label: str) -> None:
        registry.register(Entry(name, BASELINE, label, f"test_search_study:{cls}"))
        added.append(name)

    yield add
    for name in added:
        registry.unregister(name)


def test_a_baseline_better_than_the_search_is_the_answer(registered):
    registered("lucky", "_Lucky", "lucky")
    settings = SearchSettings(population=12, generations=3, seed=3, baselines=("lucky",))
    out = Study(mesh_problem(), settings).run()
    assert out.found_by == "lucky"
    assert out.answer.best.score[0] == out.results["lucky"].best.score[0]
    assert out.summary()["better_than"]["ga"] == pytest.approx(0.5)


def test_a_method_is_one_class_and_one_registry_line(registered):
    registered("hill", "HillClimb", "hill climber")
    settings = SearchSettings(population=12, generations=3, seed=3, baselines=("hill", "standard"))
    out = Study(mesh_problem(), settings).run()
    assert list(out.results) == ["ga", "standard", "hill"]  # registry order
    assert out.results["hill"].evaluations == out.results["ga"].evaluations  # same budget
    assert "hill" in registry.baselines()


def test_a_baseline_that_fails_is_a_result_that_says_so(registered):
    registered("broken", "_Broken", "broken method")
    settings = SearchSettings(population=12, generations=3, seed=3, baselines=("broken", "sa"))
    out = Study(mesh_problem(), settings).run()
    assert not out.failed["broken"].feasible and "broken" not in out.results
    summary = out.summary()
    assert summary["failed"]["broken"]["note"] == "nothing here fits"
    assert "broken" not in summary["methods"] and "sa" in summary["methods"]


class _NeverFits:
    """A memory check no mapping passes (what random search meets on a machine where only
    balanced layouts fit, as llama3-70b on dgx-h100x8)."""

    def fits(self, place: np.ndarray) -> np.ndarray:
        return np.zeros(len(np.asarray(place).reshape(-1, *np.shape(place)[-2:])), bool)

    def load(self, place: np.ndarray) -> np.ndarray:
        return np.full(len(np.asarray(place).reshape(-1, *np.shape(place)[-2:])), np.inf)


def test_random_search_that_finds_nothing_is_a_failed_result():
    p = replace(mesh_problem(), memory=_NeverFits())
    r = random_search(p, "edp", 50, 0, batch=10)
    assert not r.feasible and r.evaluations == 0
    assert r.note.startswith("none of ") and r.note.endswith("random mappings fits in memory")


def test_the_study_goes_on_when_random_search_finds_nothing(monkeypatch):
    """Random genomes that never fit (every node on one GPU of the tight machine): the study
    still answers, and random search is a failed row."""
    import xcompass.search.baselines as baselines

    def single_gpu(rng, n, shape, group_ids):  # noqa: ANN001, ANN202
        B, U = shape
        return np.zeros((n, max(U - 1, 0)), bool), np.zeros((n, B, U), np.int64)

    monkeypatch.setattr(baselines, "random_genomes", single_gpu)
    out = autotune(tight_problem(), "edp", SMALL)
    assert not out.failed["random"].feasible and out.results["sa"].feasible
    assert out.summary()["failed"]["random"]["note"].endswith("fits in memory")
    assert out.answer.feasible


def test_the_pareto_front_keeps_every_methods_non_dominated_points():
    p = mesh_problem()
    out = autotune(p, "pareto", GAConfig(population=12, generations=4, seed=2))
    front = out.answer.front
    assert front is not None and len(front)
    lat, energy = front.latency_s, front.energy_j
    assert list(front_index(lat, energy)) == list(range(len(front)))  # non-dominated, sorted
    for name, r in out.results.items():
        seen = r.front if r.front is not None else r.best
        assert name == "nsga2" or r.front is not None, name  # baselines keep a front too
        for latency, e in zip(seen.latency_s, seen.energy_j, strict=True):
            # every point a method saw is on the front or weakly dominated by a point of it
            assert ((lat <= latency) & (energy <= e)).any(), name
    edp = lat * energy
    assert out.answer.best.score[0] == pytest.approx(edp.min())


def test_merged_fronts_name_their_source_and_prefer_the_first():
    p = mesh_problem()
    pool = out_pool = autotune(p, "edp", GAConfig(population=12, generations=2)).pool
    a = pool.scored.take([0, 1])
    merged, source = merge_fronts([a, out_pool.scored.take([0, 1])])
    assert set(source.tolist()) == {0}  # equal points: the first front keeps them
    assert len(merged) == len(front_index(a.latency_s, a.energy_j))


def test_the_layout_in_words():
    """What the table prints under "found": stages, TP groups, micro-batches, per kernel kind
    below a layer."""
    from xcompass.engine.mapping import Mapping
    from xcompass.search.layout import describe, kernel_kind

    p = mesh_problem()
    B, L = p.shape
    pipeline = Mapping(np.ones(L - 1, bool), np.tile(np.arange(L), (B, 1)))
    assert describe(pipeline, p.groups) == (
        "4 pipeline stages (layers 0 | 1 | 2 | 3); no TP (one chiplet per node); "
        "all 4 micro-batches on the same chiplets; 4 of 36 chiplets used"
    )
    tp4 = p.groups.find((0, 1, 2, 3))
    data = Mapping(np.zeros(L - 1, bool), np.array([[tp4] * L, [tp4] * L, [4] * L, [4] * L]))
    assert describe(data, p.groups) == (
        "1 pipeline stage; TP groups 1 x TP4 (chiplets 0-3); micro-batches on 2 placements "
        "(0-1 | 2-3); 5 of 36 chiplets used"
    )
    assert kernel_kind("layer0.attn.h5.r2") == "attn"
    assert kernel_kind("layer3.gate+up+act+gated[0:128]") == "gate+up+act+gated"


def test_the_pass_runs_a_registered_method_and_writes_the_answer(registered):
    """map-autotune runs every registered baseline (here a hill climber added by one line) and
    writes the best mapping any method evaluated, naming its finder."""
    from xcompass.passes.autotune import AutotunePass
    from xcompass.tools.importer import build_module
    from xdsl.context import Context

    from xcompass.model.models import preset
    from xcompass.model.workload import build_workload, parse_spec

    registered("hill", "HillClimb", "hill climber")
    module = build_module(
        preset("llama3-8b"),
        build_workload(parse_spec("prefill:512x2,decode:1024x14"), 4),
        layers=4,
        target="simba-36",
    )
    AutotunePass(population=8, generations=2, seed=1).apply(Context(), module)
    mapping = next(op for op in module.ops if op.name == "map.mapping")
    search = mapping.attributes["search"].data
    scores = {k[: -len("_score")]: v.value.data for k, v in search.items() if k.endswith("_score")}
    assert {"hill", "sa", "random", "standard"} <= set(scores)
    assert search["score"].value.data <= min(scores.values())
    assert search["found_by"].data in {"ga", *scores}


def test_baselines_that_need_a_standard_strategy_say_so_when_none_fits():
    from xcompass.search.baselines import Annealing, BestStandard
    from xcompass.search.population import SeedPool

    p = mesh_problem()
    empty = SeedPool([], SeedPool.build(p, "edp").scored.take([]), 0)  # nothing fits
    run = Run(p, "edp", SMALL, empty, budget=50)
    sa, std = Annealing().start(run).result(), BestStandard().start(run).result()
    assert not sa.feasible and sa.note == "no standard strategy fits in memory to start from"
    assert not std.feasible and std.note == "no standard strategy fits in memory"
