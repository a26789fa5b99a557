"""The lower bound is never above any mapping's exact figure: random mappings (any segmentation,
any placement a unit allows, repaired like the search's), the standard strategies, unit
pipelines and their structure-aware neighbours, at every granularity."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from xcompass.hardware.targetfile import preset as target_preset
from xcompass.model.models import ModelConfig
from xcompass.model.workload import build_workload, parse_spec
from xcompass.search import SearchProblem, SeedPool, build_problem, lower_bound
from xcompass.search.operators import random_genomes
from xcompass.search.structure import MOVES, Structure, structured_seeds

TINY = ModelConfig("tiny", hidden=512, layers=2, heads=4, kv_heads=2, head_dim=128, ffn=1024,
                   vocab=1000)  # fmt: skip
SPEC = "prefill:256x2,decode:512x6"


@cache
def problem(granularity: str, target: str) -> SearchProblem:
    workload = build_workload(parse_spec(SPEC), 3)
    return build_problem(TINY, workload, target_preset(target), granularity=granularity)


def _check(p: SearchProblem, bits: np.ndarray, place: np.ndarray) -> int:
    ok = p.fits(place)
    if not ok.any():
        return 0
    ev = p.evaluator(bits[ok], place[ok])
    lat, energy = ev.latency_s.mean(axis=0), ev.energy_j.mean(axis=0)
    b = lower_bound(p)
    slack = 1 - 1e-9
    assert (lat >= b.latency_s * slack).all(), (lat.min(), b.latency_s)
    assert (energy >= b.energy_j * slack).all(), (energy.min(), b.energy_j)
    assert (lat * energy >= b.edp_js * slack).all()
    return int(ok.sum())


@pytest.mark.parametrize("target", ["simba-36", "hgx-h200x8"])
@pytest.mark.parametrize("granularity", ["layer", "group", "tile"])
def test_the_bound_is_below_every_random_mapping(granularity, target):
    p = problem(granularity, target)
    rng = np.random.default_rng(11)
    checked = 0
    for prob in (0.0, 0.3, 1.0):  # one segment, some, every unit its own
        bits, place = random_genomes(rng, 8, p.shape, p.group_ids, prob)
        # and mappings on few chiplets, where memory and the NoP bind differently
        few = rng.choice(p.group_ids, 3, replace=False)
        b2, p2 = random_genomes(rng, 8, p.shape, few, prob)
        bits, place = np.concatenate([bits, b2]), np.concatenate([place, p2])
        p.legalize(place)
        checked += _check(p, bits, place)
    pool = SeedPool.build(p, "edp")
    checked += _check(p, pool.scored.bits, pool.scored.place)
    assert checked >= 10


@pytest.mark.parametrize("granularity", ["group", "tile"])
def test_the_bound_is_below_unit_pipelines_and_their_neighbours(granularity):
    p = problem(granularity, "simba-36")
    seeds = structured_seeds(p)
    assert seeds
    bits = np.stack([s.mapping.boundaries for s in seeds])
    place = np.stack([s.mapping.place for s in seeds])
    structure, rng = Structure(p), np.random.default_rng(5)
    for move in MOVES:
        b, q = structure.apply(move, rng, bits, place)
        assert _check(p, b, q) >= 1
    assert _check(p, bits, place) >= 1
