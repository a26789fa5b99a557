"""The search below a layer (granularity group and tile): seeds are the standard strategies
expanded to units, the GA never ends worse than its best seed, it is deterministic for a seed,
the winner fits in memory and sits only on placements its units can run on (a TP group over a
one-head tile costs infinite time and is repaired away), and the lower bound stays below."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from xcompass.engine.mapping import check_memory, expand, partition
from xcompass.engine.schedule_dag import evaluate_dag
from xcompass.engine.units import unit_memory
from xcompass.errors import XcompassError
from xcompass.hardware.targetfile import preset as target_preset
from xcompass.model.models import ModelConfig
from xcompass.model.workload import build_workload, parse_spec
from xcompass.search import (
    GAConfig,
    GeneticSearch,
    SearchProblem,
    SeedPool,
    anneal,
    autotune,
    build_problem,
    lower_bound,
    random_search,
    standard_seeds,
)
from xcompass.search.operators import random_genomes

TINY = ModelConfig("tiny", hidden=512, layers=2, heads=4, kv_heads=2, head_dim=128, ffn=1024,
                   vocab=1000)  # fmt: skip
SPEC = "prefill:256x2,decode:512x6"
SMALL = GAConfig(population=12, generations=5, seed=3)


@cache
def unit_problem(granularity: str) -> SearchProblem:
    """2 layers of a small model, 3 micro-batches, on Compass's 36-chiplet mesh."""
    workload = build_workload(parse_spec(SPEC), 3)
    return build_problem(TINY, workload, target_preset("simba-36"), granularity=granularity)


GRANULARITIES = ("group", "tile")


def _run(p: SearchProblem, config: GAConfig = SMALL):
    pool = SeedPool.build(p, "edp")
    result, _ = GeneticSearch(p, "edp", config, pool).run()
    return pool, result


def test_units_below_a_layer_make_the_genome():
    group, tile = unit_problem("group"), unit_problem("tile")
    assert group.layers == tile.layers == 2
    # tiles cut the kernels further: more units than kernels, and both more than layers
    assert tile.units > group.units > 2
    assert group.shape == (3, group.units) and tile.shape == (3, tile.units)
    assert group.unit_graph.count == group.units and tile.unit_graph.granularity == "tile"


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_seeds_are_the_standard_strategies_expanded_to_units(granularity):
    p = unit_problem(granularity)
    seeds = {s.name: s.mapping for s in standard_seeds(p)}
    assert "single" in seeds and "pipeline" in seeds
    layer = partition("pipeline", p.model, p.workload, p.target, p.groups, p.layers)
    expected = expand(layer, p.unit_graph)
    assert (seeds["pipeline"].place == expected.place).all()
    assert (seeds["pipeline"].boundaries == expected.boundaries).all()
    assert seeds["pipeline"].place.shape == p.shape
    # every unit goes where its layer goes: the second layer's units on the second stage
    assert set(np.unique(expected.place[:, p.unit_graph.layer == 1])) == {int(layer.place[0, 1])}


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_the_ga_never_ends_worse_than_its_best_seed(granularity):
    p = unit_problem(granularity)
    pool, result = _run(p)
    assert result.best.score[0] <= pool.scored.score.min()
    assert np.isfinite(result.best.score[0])
    assert result.evaluations <= SMALL.total_budget + len(pool)


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_same_seed_same_unit_mapping(granularity):
    p = unit_problem(granularity)
    _, a = _run(p)
    _, b = _run(p)
    assert (a.best.bits == b.best.bits).all() and (a.best.place == b.best.place).all()
    assert a.best.score[0] == b.best.score[0]
    assert a.history == b.history


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_the_winner_fits_and_runs_where_its_units_can(granularity):
    p = unit_problem(granularity)
    _, result = _run(p)
    mapping = result.best.mapping()
    ctx = p.train[0]
    need = unit_memory(ctx.units, ctx.ut, ctx.table.act_bytes)
    check_memory(mapping, p.groups, need, p.target)  # raises if it does not fit
    assert p.fits(mapping.place[None])[0]
    ev = evaluate_dag(ctx, mapping.boundaries[None], mapping.place[None])
    assert np.isfinite(ev.latency_s[0])
    assert ev.latency_s[0] == pytest.approx(result.best.latency_s[0], rel=1e-12)


def test_a_tp_group_on_a_one_head_tile_never_wins():
    p = unit_problem("tile")
    names = p.unit_graph.names
    attn = [u for u, n in enumerate(names) if ".attn." in n]  # attn.qk.h0.r0, ...
    gemm = [u for u, n in enumerate(names) if n.endswith("[0:128]")]  # q[0:128], ...
    assert attn and gemm
    tp2 = int(np.flatnonzero(p.groups.tp == 2)[0])
    assert p.allowed is not None
    # one head per attention unit: a group of two cannot share it; a 128-column GEMM tile can
    assert not p.allowed[attn, tp2].any()
    assert p.allowed[:, : p.target.chiplets].all()  # every unit runs on any single chiplet
    assert p.allowed[gemm, tp2].all()
    # the engine says infinite time for such a mapping; the search never evaluates one
    place = np.zeros((1, *p.shape), dtype=np.int64)
    place[0, :, attn[0]] = tp2
    bits = np.zeros((1, p.units - 1), dtype=bool)
    assert np.isinf(evaluate_dag(p.train[0], bits, place).latency_s[0])
    assert not p.fits(place)[0]
    # repair moves the node to the group's first chiplet alone and leaves the rest as is
    fixed = p.legalize(place.copy())
    lead = int(p.groups.members[tp2, 0])
    assert fixed[0, 0, attn[0]] == lead and p.fits(fixed)[0]
    assert (np.delete(fixed, attn[0], axis=2) == np.delete(place, attn[0], axis=2)).all()


def test_random_mappings_are_repaired_into_the_space():
    p = unit_problem("tile")
    rng = np.random.default_rng(0)
    _, place = random_genomes(rng, 20, p.shape, p.group_ids)
    assert not p.placeable(place).all()  # random picks do hit TP groups on attention units
    p.legalize(place)
    assert p.placeable(place).all()


def test_baselines_search_units_within_the_space():
    p = unit_problem("tile")
    pool = SeedPool.build(p, "edp")
    sa = anneal(p, "edp", len(pool) + 30, 0, pool)
    rnd = random_search(p, "edp", 30, 0, batch=10)
    for r in (sa, rnd):
        assert p.fits(r.best.place).all() and np.isfinite(r.best.score[0])
    assert sa.best.score[0] <= pool.scored.score.min()


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_lower_bound_is_below_every_unit_mapping(granularity):
    p = unit_problem(granularity)
    out = autotune(p, "edp", SMALL, baselines=("standard",))
    bound = lower_bound(p)
    assert 0 < bound.edp_js <= out.pool.scored.score.min()
    assert bound.latency_s <= out.pool.scored.latency_s.min()
    assert bound.edp_js <= out.best.best.score[0]
    assert bound.latency_parts_s["chain"] > 0


def test_a_layer_problem_and_its_group_problem_agree_on_seeds():
    """The same standard strategies are offered at every granularity (feasible ones)."""
    layer = SeedPool.build(
        build_problem(TINY, unit_problem("group").workload, target_preset("simba-36")), "edp"
    )
    group = SeedPool.build(unit_problem("group"), "edp")
    assert set(group.names) <= set(layer.names)
    assert {"single", "pipeline"} <= set(group.names)


def test_bad_unit_requests_are_refused():
    wl = unit_problem("group").workload
    target = target_preset("simba-36")
    with pytest.raises(XcompassError, match="unknown granularity 'row'"):
        build_problem(TINY, wl, target, granularity="row")
    with pytest.raises(XcompassError, match=r"tile options \['width'\] need granularity=tile"):
        build_problem(TINY, wl, target, granularity="group", tiles={"width": 128})
    with pytest.raises(XcompassError, match="tile-width=100"):
        build_problem(TINY, wl, target, granularity="tile", tiles={"width": 100})


def test_the_pareto_front_of_tile_mappings_is_feasible_and_non_dominated():
    p = unit_problem("tile")
    out = autotune(p, "pareto", SMALL, baselines=("standard",))
    front = out.best.front
    assert len(front) >= 1 and p.fits(front.place).all()
    lat, energy = front.latency_s, front.energy_j
    assert np.isfinite(lat).all() and (np.diff(lat) >= 0).all()  # fastest first
    for i in range(len(front)):
        no_worse = (lat <= lat[i]) & (energy <= energy[i])
        assert not (no_worse & ((lat < lat[i]) | (energy < energy[i]))).any()
