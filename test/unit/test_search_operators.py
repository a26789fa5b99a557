"""Property tests of the genetic operators over random genomes: every crossover and mutation
keeps an individual in the genome space (shape, placement ids of real TP groups), does what it
says to the placement, and with memory repair, fits the machine."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_cases import mesh_problem, tight_problem

from xcompass.engine.mapping import Mapping, is_path, make_groups, memory_use, snake
from xcompass.hardware.targetfile import preset as target_preset
from xcompass.layer.layercost import memory_table
from xcompass.model.models import preset
from xcompass.model.workload import build_workload, parse_spec
from xcompass.search.feasibility import MemoryCheck, layer_unit_memory
from xcompass.search.operators import (
    PLACEMENT_MUTATIONS,
    MutationRates,
    crossover,
    feasible_offspring,
    mutate,
    only,
    random_genomes,
)

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OPERATORS = ("bit_flip", "boundary_shift", *PLACEMENT_MUTATIONS)

genome_shape = st.tuples(st.integers(1, 6), st.integers(1, 12))  # (micro-batches, units)


def genomes(seed: int, n: int, shape: tuple[int, int], groups: int = 9):
    rng = np.random.default_rng(seed)
    ids = np.arange(groups, dtype=np.int64) * 3 + 1  # sparse ids: values must come from them
    bits, place = random_genomes(rng, n, shape, ids, bit_probability=rng.random())
    return rng, ids, bits, place


def segments(bits: np.ndarray) -> list[tuple[int, int]]:
    return Mapping(bits, np.zeros((1, len(bits) + 1), dtype=np.int64)).segments()


@SETTINGS
@given(shape=genome_shape, seed=st.integers(0, 2**32 - 1), name=st.sampled_from(OPERATORS))
def test_every_mutation_stays_in_the_genome_space(shape, seed, name):
    rng, ids, bits, place = genomes(seed, 5, shape)
    rates, probs = only(name)
    b2, p2 = mutate(rng, bits, place, ids, rates=rates, placement=probs)
    assert b2.shape == bits.shape and b2.dtype == bool
    assert p2.shape == place.shape and p2.dtype == np.int64
    assert np.isin(p2, ids).all()
    B, U = shape
    for i in range(len(place)):
        before, after = place[i], p2[i]
        if name in ("bit_flip", "boundary_shift"):
            assert (after == before).all()
        if name == "boundary_shift":
            assert b2[i].sum() == bits[i].sum()  # a boundary moves, none appears or vanishes
        if name not in ("bit_flip", "boundary_shift"):
            assert (b2[i] == bits[i]).all()
        if name in ("swap_adjacent_units", "shuffle_segment", "swap_microbatches_on_unit"):
            assert sorted(after.ravel()) == sorted(before.ravel())
        if name in ("shuffle_segment", "swap_adjacent_units"):
            changed = np.flatnonzero((after != before).any(axis=1))
            assert len(changed) <= 1  # one micro-batch's row, permuted within itself
            for b in changed:
                assert sorted(after[b]) == sorted(before[b])
        if name == "swap_microbatches":
            rows = {tuple(r) for r in after}
            assert rows == {tuple(r) for r in before}
        if name == "swap_segments":
            for u in range(U):  # each unit's column comes from some column of the parent
                assert any((after[:, u] == before[:, v]).all() for v in range(U))
        if name in ("random_replace",):
            assert (after != before).sum() <= 1


@SETTINGS
@given(shape=genome_shape, seed=st.integers(0, 2**32 - 1))
def test_crossover_copies_each_child_segment_from_one_parent(shape, seed):
    rng, ids, bits, place = genomes(seed, 8, shape)
    a, b = np.arange(4), np.arange(4, 8)
    cb, cp = crossover(rng, bits[a], place[a], bits[b], place[b])
    assert cb.shape == bits[a].shape and cp.shape == place[a].shape
    assert np.isin(cp, ids).all()
    for i in range(4):
        assert ((cb[i] == bits[a[i]]) | (cb[i] == bits[b[i]])).all()
        for lo, hi in segments(cb[i]):
            seg = cp[i][:, lo:hi]
            assert (seg == place[a[i]][:, lo:hi]).all() or (seg == place[b[i]][:, lo:hi]).all()


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), progress=st.floats(0.0, 1.0))
def test_full_mutation_keeps_genomes_valid(seed, progress):
    rng, ids, bits, place = genomes(seed, 6, (4, 10))
    b2, p2 = mutate(rng, bits, place, ids, progress)
    assert np.isin(p2, ids).all() and b2.shape == bits.shape


def test_schedule_falls_as_the_search_goes_on():
    rates = MutationRates()
    early, middle, late = rates.placement(0.1), rates.placement(0.5), rates.placement(0.9)
    disruptive = slice(4, 7)  # remap segment, swap segments, swap micro-batches
    assert (early[disruptive] == 0.20).all() and (middle[disruptive] == 0.10).all()
    assert (late[disruptive] <= 0.03).all()


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(OPERATORS + ("crossover",)))
def test_repaired_offspring_fit_in_memory(seed, name):
    """On 8 GPUs of 1.2 GB, most random placements overflow a GPU: every operator with repair
    still returns genomes that fit (its own, or the fallback parent)."""
    problem = tight_problem()
    rng = np.random.default_rng(seed)
    ids = problem.group_ids
    parents = [p for p in _feasible(problem, rng, 12)]
    bits = np.stack([p[0] for p in parents])
    place = np.stack([p[1] for p in parents])
    if name == "crossover":

        def make(idx):
            return crossover(rng, bits[idx], place[idx], bits[::-1][idx], place[::-1][idx])
    else:
        rates, probs = only(name)

        def make(idx):
            return mutate(rng, bits[idx], place[idx], ids, rates=rates, placement=probs)

    b2, p2, fell_back = feasible_offspring(make, problem.fits, (bits, place))
    assert problem.fits(p2).all()
    assert (p2[fell_back] == place[fell_back]).all()


def _feasible(problem, rng, n):
    """Feasible parents: standard strategies mutated until they still fit."""
    from xcompass.search.seeds import standard_seeds

    seeds = standard_seeds(problem)
    out = []
    while len(out) < n:
        s = seeds[int(rng.integers(0, len(seeds)))].mapping
        b, p = mutate(rng, s.boundaries[None], s.place[None], problem.group_ids)
        if problem.fits(p)[0]:
            out.append((b[0], p[0]))
        else:
            out.append((s.boundaries.astype(bool), s.place))
    return out


@pytest.mark.parametrize("target", ["simba-36", "hgx-h200x8", "compass-het-36"])
def test_vectorized_memory_use_matches_the_reference(target):
    """MemoryCheck.use (compiled, whole populations) == mapping.memory_use (one mapping)."""
    t = target_preset(target)
    model = preset("llama3-8b")
    workload = build_workload(parse_spec("prefill:256x2,decode:2048x20"), 5)
    groups = make_groups(t, (1, 2, 4, 8))
    table = memory_table(model, workload, groups.tp_options, whole_model=True)
    check = MemoryCheck.build(layer_unit_memory(table, 6), groups, t)
    rng = np.random.default_rng(7)
    place = rng.integers(0, len(groups.tp), (20, 5, 6))
    bits = np.zeros(5, dtype=bool)
    fast = check.use(place)
    for p in range(len(place)):
        ref = memory_use(Mapping(bits, place[p]), groups, table, t)
        np.testing.assert_allclose(fast[p], ref, rtol=1e-12)


def test_mesh_problem_groups_are_real_tensor_parallel_groups():
    problem = mesh_problem()
    g = problem.groups
    for gid in problem.group_ids:
        chips = g.chips(int(gid))
        assert len(chips) == g.tp[gid] and problem.model.heads % len(chips) == 0
        kinds = problem.target.kind_of()[list(chips)]
        assert (kinds == kinds[0]).all()
        # contiguous on the mesh: a path of one-hop links in boustrophedon order (test_tp_groups)
        order = [c for c in snake(problem.target) if c in chips]
        assert is_path(problem.target, order)
