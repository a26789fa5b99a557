"""Structure-aware moves keep individuals valid (shape, dtype, group ids a unit allows) and do
what they say: one kernel of one micro-batch moves together, one micro-batch copies another's
pattern, one segment shifts one mesh step, two neighbouring chiplets trade their work, the
busiest chiplet's slowest node moves to a less loaded neighbour; the unit pipeline seeds put
every unit on one chiplet, in balanced runs; fitting widens exactly the nodes whose weights do
not fit, and a fitted climb is scored exactly."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np
import pytest

from xcompass.hardware.targetfile import preset as target_preset
from xcompass.model.models import ModelConfig
from xcompass.model.workload import build_workload, parse_spec
from xcompass.search import SearchProblem, build_problem
from xcompass.search.local import ALL_MOVES, local_search, neighbours
from xcompass.search.operators import random_genomes
from xcompass.search.population import evaluate
from xcompass.search.structure import (
    MOVES,
    Structure,
    sram_fits,
    striped_pipeline,
    structured_seeds,
    unit_pipeline,
    wider_groups,
)

TINY = ModelConfig("tiny", hidden=512, layers=2, heads=4, kv_heads=2, head_dim=128, ffn=1024,
                   vocab=1000)  # fmt: skip
SPEC = "prefill:256x2,decode:512x6"


@cache
def problem(granularity: str) -> SearchProblem:
    workload = build_workload(parse_spec(SPEC), 3)
    return build_problem(TINY, workload, target_preset("simba-36"), granularity=granularity)


def _genomes(p: SearchProblem, seed: int, n: int = 24):
    rng = np.random.default_rng(seed)
    bits, place = random_genomes(rng, n, p.shape, p.group_ids, rng.random())
    return rng, bits, p.legalize(place)


@pytest.mark.parametrize("granularity", ["group", "tile"])
@pytest.mark.parametrize("move", MOVES)
def test_every_move_keeps_individuals_valid(granularity, move):
    p = problem(granularity)
    s = Structure(p)
    for seed in range(6):
        rng, bits, place = _genomes(p, seed)
        b, q = s.apply(move, rng, bits, place)
        assert b.shape == bits.shape and b.dtype == bool
        assert q.shape == place.shape and q.dtype == np.int64
        assert np.isin(q, p.group_ids).all()
        assert p.placeable(q).all()
        assert np.array_equal(b, bits)  # placement moves leave the segmentation alone
        assert not np.shares_memory(q, place)


def test_a_kernel_move_changes_one_kernel_of_one_microbatch():
    p = problem("tile")
    s = Structure(p)
    rng, bits, place = _genomes(p, 1)
    _, q = s.apply("kernel", rng, bits, place)
    for i in range(len(place)):
        b, u = np.nonzero(q[i] != place[i])
        if len(b):
            assert len(set(b)) == 1 and len(set(s.kernel[u])) == 1
            moved = q[i, b[0], s.kernel == s.kernel[u[0]]]
            single = p.groups.tp[moved] == 1
            assert len(set(moved[single])) <= 1  # one group (a TP group repaired to its lead)


def test_a_copy_move_gives_one_microbatch_another_s_pattern():
    p = problem("tile")
    rng, bits, place = _genomes(p, 2)
    _, q = Structure(p).apply("copy", rng, bits, place)
    for i in range(len(place)):
        rows = np.flatnonzero((q[i] != place[i]).any(axis=1))
        assert len(rows) <= 1
        if len(rows):
            assert any(np.array_equal(q[i, rows[0]], place[i, k]) for k in range(p.shape[0]))


def test_a_shift_moves_one_segment_one_mesh_step():
    p = problem("tile")
    s = Structure(p)
    rng, bits, place = _genomes(p, 3)
    _, q = s.apply("shift", rng, bits, place)
    lead = p.groups.members[:, 0]
    for i in range(len(place)):
        seg = np.r_[0, np.cumsum(bits[i])]
        b, u = np.nonzero(q[i] != place[i])
        if not len(u):
            continue
        assert len(set(seg[u])) == 1  # within one segment
        a, z = lead[place[i, b, u]], lead[q[i, b, u]]
        steps = np.abs(a % s.cols - z % s.cols) + np.abs(a // s.cols - z // s.cols)
        assert (steps == 1).all()


def _single_load(s: Structure, place: np.ndarray) -> np.ndarray:
    """Seconds of node work on each chiplet of one genome, of the nodes on one chiplet."""
    t = np.take_along_axis(s.node_time, place[:, :, None], axis=2)[:, :, 0]
    on = s.problem.groups.tp[place] == 1
    lead = s.problem.groups.members[place, 0]
    return np.bincount(lead[on], weights=t[on], minlength=len(s.single))


def test_a_swap_trades_two_neighbouring_chiplets_work_in_every_microbatch():
    p = problem("tile")
    s = Structure(p)
    rng, bits, place = _genomes(p, 4)
    _, q = s.apply("swap_chiplets", rng, bits, place)
    members = [frozenset(int(c) for c in m if c >= 0) for m in p.groups.members]
    swaps = 0
    for i in range(len(place)):
        b, u = np.nonzero(q[i] != place[i])
        if not len(b):
            continue
        swaps += 1
        moved = {members[place[i, x, y]] ^ members[q[i, x, y]] for x, y in zip(b, u, strict=True)}
        assert len(moved) == 1  # the same two chiplets traded places at every changed node
        (pair,) = moved
        a, z = sorted(pair)
        assert z in s.neighbours[a]
        for c, other in ((a, z), (z, a)):  # every node alone on one of them moves to the other
            alone = place[i] == s.single[c]
            assert (q[i][alone] == s.single[other]).all()
        load, after = _single_load(s, place[i]), _single_load(s, q[i])
        load[[a, z]] = load[[z, a]]
        assert np.allclose(after, load)  # the work is relabelled, never changed
    assert swaps > len(place) // 2


def test_relieve_moves_the_busiest_chiplet_s_slowest_node_to_a_neighbour():
    p = problem("tile")
    s = Structure(p)
    B, U = p.shape
    place = np.zeros((1, B, U), dtype=np.int64)  # everything on chiplet 0
    bits = np.zeros((1, U - 1), dtype=bool)
    _, q = s.apply("relieve", np.random.default_rng(0), bits, place)
    b, u = np.nonzero(q[0] != place[0])
    assert len(b) == 1
    t = s.node_time[:, :, 0]
    assert t[b[0], u[0]] == t.max()
    assert int(p.groups.members[q[0, b[0], u[0]], 0]) in (1, 6)  # east or south of chiplet 0


def test_unit_pipelines_balance_work_over_one_chiplet_runs():
    p = problem("tile")
    m = unit_pipeline(p, 4, replicas=2)
    assert m is not None and m.boundaries.all()
    assert (p.groups.tp[m.place] == 1).all()
    stage_of = m.place[0]
    assert len(set(stage_of)) == 4 and (np.diff(stage_of) >= 0).all()  # contiguous runs
    assert set(m.place[1]).isdisjoint(set(m.place[0]))  # the second replica's chiplets
    assert np.array_equal(m.place[2], m.place[0])  # micro-batches dealt round robin
    assert unit_pipeline(p, 37) is None  # more chiplets than one-chiplet groups
    seeds = structured_seeds(p)
    assert seeds and p.fits(np.stack([x.mapping.place for x in seeds])).all()
    assert structured_seeds(problem("layer")) == []


def test_neighbours_are_one_move_away_and_fit():
    p = problem("tile")
    seeds = structured_seeds(p)
    start, _ = evaluate(p, "edp", seeds[0].mapping.boundaries[None], seeds[0].mapping.place[None])
    bits, place, which = neighbours(p, Structure(p), np.random.default_rng(4), start, 64, ALL_MOVES)
    assert len(place) > 0 and p.fits(place).all() and p.placeable(place).all()
    assert set(which) <= set(range(len(ALL_MOVES)))


def test_neighbours_follow_the_odds_given():
    p = problem("tile")
    seeds = structured_seeds(p)
    start, _ = evaluate(p, "edp", seeds[0].mapping.boundaries[None], seeds[0].mapping.place[None])
    odds = np.zeros(len(ALL_MOVES))
    odds[ALL_MOVES.index("swap_chiplets")] = 0.5  # need not sum to one
    _, _, which = neighbours(p, Structure(p), np.random.default_rng(4), start, 32, ALL_MOVES, odds)
    assert len(which) > 0 and (which == ALL_MOVES.index("swap_chiplets")).all()


def test_an_adaptive_climb_draws_each_move_by_its_wins_over_the_neighbours_it_made(monkeypatch):
    """Each round's odds are (wins so far + 1) / (neighbours made so far + moves): uniform at
    first, and a move that has won is drawn more often than one with as many tries that has not."""
    from xcompass.search import local

    p = problem("tile")
    seed = structured_seeds(p)[0].mapping
    start, _ = evaluate(p, "edp", seed.boundaries[None], seed.place[None])
    calls = []
    real = local.neighbours

    def spy(problem, structure, rng, current, n, moves, odds=None):  # noqa: ANN001, ANN202
        out = real(problem, structure, rng, current, n, moves, odds)
        calls.append((odds.copy(), out[2].copy()))
        return out

    monkeypatch.setattr(local, "neighbours", spy)
    best, rep = local.local_search(p, "edp", start, 30, seed=1, width=4, recost=4, adapt=True)
    M = len(ALL_MOVES)
    assert np.array_equal(calls[0][0], np.full(M, 1 / M))
    tries = np.zeros(M)
    for odds, which in calls:
        wins = odds * (tries + M) - 1  # what the odds imply each move has won so far
        np.testing.assert_allclose(wins, np.round(wins), atol=1e-9)
        assert (np.round(wins) >= 0).all()
        tries += np.bincount(which, minlength=M)
    final = np.array([rep.wins[m] for m in ALL_MOVES])
    assert final.sum() > 0 and (np.round(wins) <= final).all()
    assert best.score[0] < start.score[0]


def test_local_search_without_a_screen_recosts_every_neighbour_and_never_gets_worse():
    p = problem("tile")
    seed = structured_seeds(p)[0].mapping
    start, _ = evaluate(p, "edp", seed.boundaries[None], seed.place[None])
    best, rep = local_search(p, "edp", start, 24, seed=1, width=4, recost=4)
    assert rep.screened == 0 and rep.taus == [] and rep.evaluations <= 24
    assert best.score[0] <= start.score[0]
    again, _ = evaluate(p, "edp", best.bits, best.place)  # the engine's own figure
    assert again.score[0] == best.score[0]
    assert [e for _, e, _ in rep.trace] == sorted(e for _, e, _ in rep.trace)
    assert all(b < a for (_, _, a), (_, _, b) in zip(rep.trace, rep.trace[1:], strict=False))


@pytest.mark.parametrize("snake", [False, True])
def test_a_striped_pipeline_puts_each_segment_s_units_on_distinct_chiplets(snake):
    p = problem("tile")
    B, U = p.shape
    m = striped_pipeline(p, 4, replicas=2, snake=snake)
    assert m is not None and (p.groups.tp[m.place] == 1).all()
    seg = np.r_[0, np.cumsum(m.boundaries)]
    assert np.array_equal(seg, np.arange(U) // 4)  # segments of 4 consecutive units
    for s in range(seg.max() + 1):
        units = np.flatnonzero(seg == s)
        assert len(set(m.place[0, units])) == len(units)  # one unit per chiplet a segment
    assert np.array_equal(m.place[0, :4], m.place[0, 4:8])  # the i-th unit on the i-th chiplet
    assert set(m.place[1]).isdisjoint(set(m.place[0]))  # the second replica's chiplets
    assert np.array_equal(m.place[2], m.place[0])
    if snake:  # consecutive stages are mesh neighbours
        lead = p.groups.members[m.place[0, :4], 0]
        cols = p.target.network.dims[0]
        steps = np.abs(np.diff(lead % cols)) + np.abs(np.diff(lead // cols))
        assert (steps == 1).all()
    assert striped_pipeline(p, 37) is None
    names = [s.name for s in structured_seeds(p)]
    assert any(n.startswith("striped k=") for n in names)
    assert any(n.startswith("striped snake") for n in names)


def test_a_critical_kick_moves_critical_path_nodes_and_keeps_the_genome_valid():
    from xcompass.engine.mapping import Mapping
    from xcompass.engine.schedule import evaluate_mapping

    p = problem("tile")
    s = Structure(p)
    m = striped_pipeline(p, 4, replicas=2)
    path = s.critical_path(m.boundaries, m.place)
    r = evaluate_mapping(p.train[0], Mapping(m.boundaries, m.place))
    assert path[0] == int(np.argmax(r.end[0].ravel()))  # it starts at the last node to end
    assert len(set(path.tolist())) == len(path)
    ends = r.end[0].ravel()[path]
    assert (np.diff(ends) <= 0).all()  # walking back in time
    bits, place = s.critical_kick(np.random.default_rng(0), m.boundaries[None], m.place[None], 3)
    assert np.array_equal(bits[0], m.boundaries) and p.placeable(place).all()
    changed = np.flatnonzero((place[0] != m.place).ravel())
    assert 0 < len(changed) <= 3 and set(changed) <= set(path.tolist())


@cache
def small_sram() -> SearchProblem:
    """The tiny model at tile granularity on simba-36 with 0.1 MB of SRAM a chiplet: 64 of
    its 104 tiles do not fit one chiplet or two, 56 of them fit four, 8 fit nowhere."""
    t = target_preset("simba-36")
    small = replace(t, kinds=tuple(replace(k, sram_mb=0.1) for k in t.kinds))
    return build_problem(TINY, build_workload(parse_spec(SPEC), 3), small, granularity="tile")


def test_wider_groups_are_the_narrowest_groups_around_a_group():
    g = problem("tile").groups
    chips = [set(int(c) for c in m if c >= 0) for m in g.members]
    wider = wider_groups(g)
    for i, w in enumerate(wider):
        around = [j for j in range(len(chips)) if g.tp[j] > g.tp[i] and chips[i] <= chips[j]]
        if not around:
            assert w == -1 or (g.tp[w] > g.tp[i] and g.members[i, 0] in chips[w])
            continue
        assert chips[i] <= chips[w] and g.tp[w] == min(g.tp[j] for j in around)
    one = int(np.flatnonzero((g.tp == 1) & (g.members[:, 0] == 0))[0])
    assert g.tp[wider[one]] == 2 and 0 in chips[wider[one]]
    assert wider[int(np.argmax(g.tp))] == -1  # nothing is wider than the widest


def test_fitting_widens_exactly_the_nodes_whose_weights_do_not_fit():
    p = small_sram()
    s, fits, g = Structure(p), sram_fits(p), p.groups
    B, U = p.shape
    g0 = int(np.flatnonzero((g.tp == 1) & (g.members[:, 0] == 0))[0])
    place = np.full((1, B, U), g0, dtype=np.int64)
    q = s.fitted(place)[0]
    stays = fits[:, g0] | ~fits.any(axis=1)  # fits where it is, or fits nowhere: kept
    assert stays.sum() < U and (~fits.any(axis=1)).any()  # the fixture has both kinds
    assert (q[:, stays] == g0).all()
    moved = q[:, ~stays]
    assert (moved == moved[:1]).all()  # every micro-batch alike
    for u, grp in zip(np.flatnonzero(~stays), moved[0], strict=True):
        assert fits[u, grp] and 0 in g.members[grp]
        narrower = [j for j in np.flatnonzero(fits[u]) if 0 in g.members[j]]
        assert g.tp[grp] == min(g.tp[j] for j in narrower)  # the narrowest that fits
    assert np.array_equal(s.fitted(q[None]), q[None])  # fitting a fitted mapping: no change
    assert not np.shares_memory(q, place)


def test_a_fitted_climb_costs_the_fitted_mappings_and_never_ends_worse():
    p = small_sram()
    s, g = Structure(p), p.groups
    B, U = p.shape
    g0 = int(np.flatnonzero((g.tp == 1) & (g.members[:, 0] == 0))[0])
    place = np.full((1, B, U), g0, dtype=np.int64)  # everything on chiplet 0, one segment
    start, _ = evaluate(p, "edp", np.zeros((1, U - 1), dtype=bool), place)
    fitted, _ = evaluate(p, "edp", start.bits, s.fitted(start.place))
    assert fitted.score[0] != start.score[0]
    one, rep = local_search(p, "edp", start, 1, seed=1, width=4, fit=True, structure=s)
    assert rep.evaluations == 1  # the fitted start: the better of it and the start is kept
    assert one.score[0] == min(start.score[0], fitted.score[0])
    best, rep = local_search(p, "edp", start, 24, seed=1, width=4, fit=True, structure=s)
    assert rep.evaluations <= 24 and best.score[0] <= start.score[0]
    assert sum(rep.wins.values()) > 0  # it climbed (among fitted mappings)
    again, _ = evaluate(p, "edp", best.bits, best.place)  # the engine's own figure
    assert again.score[0] == best.score[0]
    is_start = np.array_equal(best.place, start.place) and np.array_equal(best.bits, start.bits)
    assert is_start or np.array_equal(s.fitted(best.place), best.place)
