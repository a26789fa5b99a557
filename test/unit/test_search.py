"""The search: determinism, seeds in generation 0 and never lost, equal budgets for the
baselines, checkpoints, the Pareto front, the lower bound, sampled request batches, the
evaluation hook."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from search_cases import mesh_problem, sampled_problem, tight_problem

from xcompass.engine.schedule_jit import evaluate_fast
from xcompass.errors import XcompassError
from xcompass.search import (
    GAConfig,
    GeneticSearch,
    LocalEvaluator,
    SeedPool,
    anneal,
    autotune,
    lower_bound,
    random_search,
    standard_seeds,
)
from xcompass.search.evaluation import score
from xcompass.search.pareto import pareto_search

SMALL = GAConfig(population=12, generations=6, seed=3)


def same(a, b) -> bool:
    return (a.best.bits == b.best.bits).all() and (a.best.place == b.best.place).all()


@pytest.mark.parametrize("problem", [mesh_problem, tight_problem], ids=["mesh", "tight"])
def test_same_seed_same_mapping(problem):
    p = problem()
    first = autotune(p, "edp", SMALL)
    again = autotune(p, "edp", SMALL)
    for method in first.results:
        assert same(first.results[method], again.results[method]), method
        assert first.results[method].best.score[0] == again.results[method].best.score[0]


def test_another_seed_searches_differently():
    p = mesh_problem()
    a, _ = GeneticSearch(p, "edp", SMALL).run()
    b, _ = GeneticSearch(p, "edp", GAConfig(population=12, generations=6, seed=4)).run()
    assert a.history != b.history or not same(a, b)


def test_every_standard_strategy_is_in_generation_0():
    p = mesh_problem()
    seeds = standard_seeds(p)
    names = {s.name.split()[0] for s in seeds}
    assert {"single", "pipeline", "tensor", "data", "hybrid", "pbd"} <= names
    pool = SeedPool.build(p, "edp")
    search = GeneticSearch(p, "edp", GAConfig(population=len(pool) + 5, generations=3), pool)
    state = search.start()
    population = zip(state.population.bits, state.population.place, strict=True)
    pop = {(b.tobytes(), q.tobytes()) for b, q in population}
    for s in seeds:
        key = (s.mapping.boundaries.astype(bool).tobytes(), s.mapping.place.tobytes())
        assert key in pop, s.name
    assert state.evaluations == len(pool) + 5


def test_more_seeds_than_the_population_keeps_the_best_of_them():
    p = mesh_problem()
    pool = SeedPool.build(p, "edp")
    assert len(pool) > 12
    state = GeneticSearch(p, "edp", SMALL, pool).start()
    assert len(state.population) == 12
    assert state.evaluations == len(pool)  # every seed scored, no random fill needed
    np.testing.assert_array_equal(np.sort(pool.scored.score)[:12], np.sort(state.population.score))


@pytest.mark.parametrize("objective", ["edp", "latency", "energy", "throughput"])
def test_the_best_standard_strategy_is_never_lost(objective):
    p = tight_problem()
    pool = SeedPool.build(p, objective)
    seen = []
    result, state = GeneticSearch(p, objective, SMALL, pool).run(
        progress=lambda pr: seen.append(pr.best_score)
    )
    assert result.best.score[0] <= pool.scored.score.min()
    assert all(b <= a for a, b in zip(seen, seen[1:], strict=False))  # the best only improves
    assert state.population.score.min() == result.best.score[0]  # and stays in the population
    assert p.fits(result.best.place).all()
    assert np.isfinite(state.population.score).all()  # infeasible never enters


def test_baselines_spend_the_same_budget():
    p = mesh_problem()
    out = autotune(p, "edp", GAConfig(population=10, generations=5, seed=1, budget=45))
    ga = out.results["ga"]
    assert ga.evaluations <= 45
    assert out.results["sa"].evaluations == ga.evaluations
    assert out.results["random"].evaluations == ga.evaluations
    assert out.results["standard"].evaluations == len(out.pool)
    assert out.best.best.score[0] <= out.results["standard"].best.score[0]
    summary = out.summary()
    assert summary["improvement_vs"]["standard"] <= 0.0
    assert set(summary["methods"]) == {"ga", "sa", "random", "standard"}


def test_sa_and_random_respect_memory_and_budget():
    p = tight_problem()
    pool = SeedPool.build(p, "edp")
    sa = anneal(p, "edp", len(pool) + 30, 0, pool)
    rnd = random_search(p, "edp", 30, 0, batch=8)
    assert sa.evaluations == len(pool) + 30 and rnd.evaluations == 30
    assert p.fits(sa.best.place).all() and p.fits(rnd.best.place).all()
    assert sa.best.score[0] <= pool.scored.score.min()


def test_a_checkpoint_resumes_exactly():
    p = mesh_problem()
    config = GAConfig(population=10, generations=8, seed=5, budget=1000)
    straight, _ = GeneticSearch(p, "edp", config).run()
    stopped, state = GeneticSearch(p, "edp", config).run(progress=lambda pr: pr.step >= 4)
    assert state.generation == 4
    state = pickle.loads(pickle.dumps(state))
    resumed, final = GeneticSearch(p, "edp", config).run(state=state)
    assert final.generation == 8
    assert same(straight, resumed) and straight.history == resumed.history


def test_pareto_front_is_non_dominated_and_holds_the_seeds_extremes():
    p = mesh_problem()
    pool = SeedPool.build(p, "edp")
    result = pareto_search(p, GAConfig(population=12, generations=5, seed=2), pool)
    front = result.front
    lat, energy = front.latency_s, front.energy_j
    assert len(front) >= 1 and (np.diff(lat) >= 0).all()
    for i in range(len(front)):
        no_worse = (lat <= lat[i]) & (energy <= energy[i])
        dominated = no_worse & ((lat < lat[i]) | (energy < energy[i]))
        assert not dominated.any()
    assert lat.min() <= pool.scored.latency_s.min()
    assert energy.min() <= pool.scored.energy_j.min()
    again = pareto_search(p, GAConfig(population=12, generations=5, seed=2), pool)
    np.testing.assert_array_equal(again.front.place, front.place)
    assert result.evaluations <= 12 * 5 + len(pool)


@pytest.mark.parametrize("problem", [mesh_problem, tight_problem, sampled_problem])
def test_lower_bound_is_below_every_mapping(problem):
    p = problem()
    bound = lower_bound(p)
    pool = SeedPool.build(p, "edp")
    out = autotune(p, "edp", GAConfig(population=10, generations=4))
    for scored in [pool.scored] + [r.best for r in out.results.values()]:
        assert (scored.latency_s >= bound.latency_s * (1 - 1e-9)).all()
        assert (scored.energy_j >= bound.energy_j * (1 - 1e-9)).all()
        assert (scored.score >= bound.edp_js * (1 - 1e-9)).all()
    assert bound.latency_s == max(bound.latency_parts_s.values())


def test_sampled_batches_score_the_mean_and_report_on_unseen_batches():
    p = sampled_problem()
    assert len(p.train) == 3 and len(p.test) == 2
    pool = SeedPool.build(p, "edp")
    bits, place = pool.scored.bits[:3], pool.scored.place[:3]
    per_batch = [evaluate_fast(ctx, bits, place) for ctx in p.train]
    edp = np.mean([r.latency_s * r.energy_j for r in per_batch], axis=0)
    np.testing.assert_allclose(pool.scored.score[:3], edp, rtol=1e-12)
    out = autotune(p, "edp", GAConfig(population=10, generations=3), baselines=("standard",))
    assert out.test_score("ga") is not None and out.test_score("standard") is not None
    tokens = [ctx.table.tokens.sum() for ctx in p.train + p.test]
    assert len(set(tokens)) > 1  # the batches differ


def test_the_evaluation_hook_is_the_only_way_to_the_engine():
    p = mesh_problem()
    calls = []
    local = LocalEvaluator(p.train)

    def counting(bits, place):
        calls.append(len(place))
        return local(bits, place)

    p_hooked = type(p)(**{**p.__dict__, "evaluator": counting})
    result, _ = GeneticSearch(p_hooked, "edp", SMALL).run()
    assert sum(calls) == result.evaluations
    plain, _ = GeneticSearch(p, "edp", SMALL).run()
    assert same(result, plain)


def test_objectives_score_what_they_say():
    p = mesh_problem()
    pool = SeedPool.build(p, "latency")
    ev = pool.scored.evaluation
    np.testing.assert_allclose(score("latency", ev, p.tokens), ev.latency_s.mean(axis=0))
    np.testing.assert_allclose(score("energy", ev, p.tokens), ev.energy_j.mean(axis=0))
    thr = score("throughput", ev, p.tokens)
    np.testing.assert_allclose(-thr, p.tokens[0] / ev.latency_s[0])
    with pytest.raises(XcompassError, match="unknown objective 'fast'"):
        score("fast", ev, p.tokens)


def test_bad_search_configuration_is_refused():
    p = mesh_problem()
    with pytest.raises(XcompassError, match="population=1"):
        GeneticSearch(p, "edp", GAConfig(population=1))
    with pytest.raises(XcompassError, match="generations=0"):
        GeneticSearch(p, "edp", GAConfig(generations=0))


def test_the_package_exports_resolve_to_the_documented_objects():
    """`xcompass.search` loads names lazily; a submodule must never shadow one."""
    import importlib

    import xcompass.search as search

    importlib.import_module("xcompass.search.study")
    for name in search.__all__:
        value = getattr(search, name)
        assert not isinstance(value, type(search)), name
    assert callable(search.autotune) and search.autotune.__name__ == "autotune"
