"""Multi-fidelity search below a layer: the screening model is the engine where nothing
contends, ranks candidates, and never decides a figure the search reports; the fidelity knob
is checked; coarse-to-fine never returns worse than its coarse seed and refuses a chain from
fine to coarse."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from xcompass.engine.mapping import expand
from xcompass.errors import XcompassError
from xcompass.hardware.targetfile import preset as target_preset
from xcompass.model.models import ModelConfig
from xcompass.model.workload import build_workload, parse_spec
from xcompass.search import GAConfig, GeneticSearch, SearchProblem, SeedPool, build_problem
from xcompass.search.coarse import check_chain, coarse_of, refine, unit_owner
from xcompass.search.fidelity import check_fidelity, kendall_tau
from xcompass.search.screen import Screen
from xcompass.search.study import SearchSettings, Study

TINY = ModelConfig("tiny", hidden=512, layers=2, heads=4, kv_heads=2, head_dim=128, ffn=1024,
                   vocab=1000)  # fmt: skip
SPEC = "prefill:256x2,decode:512x6"


@cache
def unit_problem(granularity: str) -> SearchProblem:
    """2 layers of a small model, 3 micro-batches, on Compass's 36-chiplet mesh."""
    workload = build_workload(parse_spec(SPEC), 3)
    return build_problem(TINY, workload, target_preset("simba-36"), granularity=granularity)


@pytest.mark.parametrize("granularity", ["group", "tile"])
def test_the_screen_is_the_engine_where_nothing_contends(granularity):
    """Everything on one chiplet: no message crosses a link and one stream at a time reads
    DRAM, so the screen's list schedule is the engine's to rounding."""
    p = unit_problem(granularity)
    B, U = p.shape
    screen = Screen(p.train)
    for chiplet in (0, 17):
        place = np.full((1, B, U), chiplet, dtype=np.int64)
        for bits in (np.zeros((1, U - 1), bool), np.ones((1, U - 1), bool)):
            fast, exact = screen(bits, place), p.evaluator(bits, place)
            np.testing.assert_allclose(fast.latency_s, exact.latency_s, rtol=1e-9)
            np.testing.assert_allclose(fast.energy_j, exact.energy_j, rtol=1e-9)


def test_the_screen_ranks_mutants_of_a_seed_like_the_engine():
    p = unit_problem("tile")
    pool = SeedPool.build(p, "edp")
    from xcompass.search.operators import mutate

    rng = np.random.default_rng(0)
    src = pool.scored.take(rng.integers(0, len(pool), 60))
    bits, place = mutate(rng, src.bits, src.place, p.group_ids, 0.0)
    p.legalize(place)
    ok = p.fits(place)
    fast = Screen(p.train)(bits[ok], place[ok])
    exact = p.evaluator(bits[ok], place[ok])
    tau = kendall_tau(fast.latency_s[0] * fast.energy_j[0], exact.latency_s[0] * exact.energy_j[0])
    assert tau > 0.5


@pytest.mark.parametrize("snapshots", [1, 4, 256])
def test_the_screen_around_a_mapping_gives_the_full_screen_bit_for_bit(monkeypatch, snapshots):
    """`Screen.around` resumes each neighbour from the base's last snapshot before the first
    block it changes: every move of the local search, boundaries flipped, the base itself and
    mappings unlike it all screen exactly as from scratch."""
    from xcompass.search import screen as screen_module
    from xcompass.search.local import ALL_MOVES, neighbours
    from xcompass.search.structure import Structure, structured_seeds

    monkeypatch.setattr(screen_module, "SNAPSHOTS", snapshots)
    p = unit_problem("tile")
    screen, structure = Screen(p.train), Structure(p)
    rng = np.random.default_rng(1)
    pool = SeedPool.build(p, "edp", structured_seeds(p)).scored
    segments = pool.bits.sum(axis=1)
    bases = [pool.take([int(np.argmax(segments))]), pool.take([int(np.argmin(segments))])]
    assert segments.max() > 4  # a base of many segments: snapshots inside and across them
    for base in bases:
        near = screen.around(base.bits, base.place)
        whole = screen(base.bits[:1], base.place[:1])
        assert np.array_equal(near.base.latency_s, whole.latency_s)
        for _ in range(6):
            bits, place, _ = neighbours(p, structure, rng, base, 12, ALL_MOVES)
            other = bases[1] if base is bases[0] else bases[0]
            bits = np.concatenate([bits, base.bits[:1], other.bits[:1]])
            place = np.concatenate([place, base.place[:1], other.place[:1]])
            got, want = near(bits, place), screen(bits, place)
            assert np.array_equal(got.latency_s, want.latency_s)
            assert np.array_equal(got.energy_j, want.energy_j)
        assert near.bases[0].every == max(1, -(-near.bases[0].blocks // snapshots))


def test_the_gated_local_search_spends_no_evaluation_on_a_round_the_screen_rejects():
    """With `gate`, a round whose best screened neighbour screens no better than the current
    mapping costs no exact evaluation; the result is still the engine's and never worse."""
    from xcompass.search.local import local_search
    from xcompass.search.structure import structured_seeds

    p = unit_problem("tile")
    pool = SeedPool.build(p, "edp", structured_seeds(p)).scored
    start = pool.take([int(np.argmin(pool.score))])
    best, report = local_search(p, "edp", start, 40, seed=0, gate=True, kick=6, widen=1)
    assert report.gated > 0 and report.evaluations <= 40
    assert report.rounds == report.evaluations - report.kicks  # one exact evaluation a round
    again = p.evaluator(best.bits, best.place)
    assert again.latency_s[0, 0] * again.energy_j[0, 0] == best.score[0] <= start.score[0]


def test_kendall_tau_by_hand():
    assert kendall_tau([1, 2, 3], [10, 20, 30]) == 1.0
    assert kendall_tau([1, 2, 3], [30, 20, 10]) == -1.0
    # pairs (1,2) concordant, (1,3) concordant, (2,3) discordant: (2 - 1) / 3
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert np.isnan(kendall_tau([1.0], [2.0]))


@pytest.mark.parametrize("bad", [0, -0.5, 1.5, float("nan"), "x"])
def test_a_fidelity_outside_zero_one_is_refused_in_one_line(bad):
    with pytest.raises(XcompassError) as err:
        check_fidelity(bad)
    assert "fidelity=" in str(err.value) and "(0, 1]" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(XcompassError, match=r"\(0, 1\]"):
        SearchSettings(fidelity=bad)  # type: ignore[arg-type]


def test_the_screen_never_decides_the_result():
    """At fidelity 1/4 every individual the GA keeps was re-costed by the engine: the best's
    figures are the engine's on that mapping, exactly."""
    p = unit_problem("tile")
    pool = SeedPool.build(p, "edp")
    config = GAConfig(population=10, generations=6, seed=1, fidelity=0.25)
    result, state = GeneticSearch(p, "edp", config, pool).run()
    again = p.evaluator(result.best.bits, result.best.place)
    assert again.latency_s[0, 0] == result.best.evaluation.latency_s[0, 0]
    assert again.energy_j[0, 0] == result.best.evaluation.energy_j[0, 0]
    pop = state.population
    exact = p.evaluator(pop.bits, pop.place)
    assert np.array_equal(exact.latency_s, pop.evaluation.latency_s)
    stats = result.stats["screen"]
    assert stats["fidelity"] == 0.25 and stats["generations"] == 5
    assert stats["screened"] == 5 * 4 * 9  # 9 children a generation, bred 4x over
    assert -1.0 <= stats["kendall_tau"] <= 1.0
    # the budget counts the engine's evaluations only
    assert result.evaluations == len(pool) + (10 - len(pool)) + 5 * 9


def test_fidelity_one_is_compass_ga_bit_for_bit():
    p = unit_problem("group")
    pool = SeedPool.build(p, "edp")
    a, _ = GeneticSearch(p, "edp", GAConfig(8, 4, seed=2), pool).run()
    b, _ = GeneticSearch(p, "edp", GAConfig(8, 4, seed=2, fidelity=1.0), pool).run()
    assert np.array_equal(a.best.place, b.best.place) and a.history == b.history
    assert "screen" not in a.stats


def test_a_chain_from_fine_to_coarse_is_refused_in_one_line():
    for chain, fine in ((("group", "layer"), "tile"), (("tile",), "group"), (("layer",), "layer")):
        with pytest.raises(XcompassError, match="does not go from coarse to fine") as err:
            check_chain(chain, fine)
        assert "\n" not in str(err.value)
    with pytest.raises(XcompassError, match="unknown granularity 'row'"):
        check_chain(("row",))
    with pytest.raises(XcompassError, match="coarse to fine"):
        SearchSettings(coarse=("tile", "layer"))
    assert check_chain(("layer", "group"), "tile") == ("layer", "group")


def test_refining_a_layer_mapping_is_expanding_it():
    fine = unit_problem("group")
    layer = coarse_of(fine, "layer")
    rng = np.random.default_rng(3)
    from xcompass.engine.mapping import Mapping

    for _ in range(5):
        m = Mapping(rng.random(layer.units - 1) < 0.5, rng.integers(0, 36, layer.shape))
        ours = refine(m, unit_owner(layer, fine), fine)
        theirs = expand(m, fine.unit_graph)
        assert np.array_equal(ours.place, theirs.place)
        assert np.array_equal(ours.boundaries, theirs.boundaries)


def test_group_units_refine_to_their_tiles():
    group, tile = unit_problem("group"), unit_problem("tile")
    owner = unit_owner(group, tile)
    assert owner.min() == 0 and owner.max() == group.units - 1
    assert (np.diff(owner) >= 0).all()  # a kernel's tiles are contiguous, in kernel order
    names_g, names_t = group.unit_graph.names, tile.unit_graph.names
    for u in (0, tile.units // 2, tile.units - 1):
        assert names_t[u].startswith(names_g[owner[u]].split("[")[0].rsplit(".", 0)[0])


def test_coarse_to_fine_never_returns_worse_than_its_coarse_seed():
    p = unit_problem("tile")
    settings = SearchSettings("edp", 10, 4, 0, 0, ("standard",))
    out = Study(p, settings).run()
    ga = out.results["ga"]
    stages = ga.stats["stages"]
    assert [s["granularity"] for s in stages] == ["layer", "group"]
    for s in stages:
        assert ga.best.score[0] <= s["score_fine"]
    assert ga.best.score[0] <= ga.stats["best_standard"]
    # the written figures are the engine's on the written mapping
    again = p.evaluator(ga.best.bits, ga.best.place)
    assert again.latency_s[0, 0] * again.energy_j[0, 0] == pytest.approx(ga.best.score[0], rel=0)
    assert "local" in ga.stats and ga.stats["local"]["end"] <= ga.stats["local"]["start"]


def test_the_memetic_climbs_start_from_distinct_seeds_best_first():
    from xcompass.search.ga_method import other_starts
    from xcompass.search.population import SeedPool
    from xcompass.search.structure import structured_seeds

    p = unit_problem("tile")
    pool = SeedPool.build(p, "edp", structured_seeds(p))
    best = pool.scored.take([pool.best_index()])
    starts = other_starts(pool, best, 3)
    assert len(starts) == min(3, len(pool) - 1)
    scores = [float(s.score[0]) for s in starts]
    assert scores == sorted(scores) and scores[0] >= float(best.score[0])
    for s in starts:  # none is the best's own genome
        assert not (np.array_equal(s.bits, best.bits) and np.array_equal(s.place, best.place))


def test_a_best_known_record_for_another_problem_is_refused_in_one_line(tmp_path):
    import json

    from xcompass.search.known import identity, load_best_known

    p = unit_problem("tile")
    good = tmp_path / "best.json"
    good.write_text(json.dumps({"problem": identity(p), "edp_js": 1.5}))
    assert load_best_known(good, p)["edp_js"] == 1.5
    other = unit_problem("group")
    with pytest.raises(XcompassError, match=r"best.json: recorded for another problem \(units"):
        load_best_known(good, other)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(XcompassError, match="bad.json: not a best-known record"):
        load_best_known(bad, p)


@pytest.mark.parametrize("threshold", [-1.0, 2.0])
def test_the_memetic_step_gates_its_climbs_only_where_the_screen_ranked_like_the_engine(
    monkeypatch, threshold
):
    """The gate is on when the GA's screen tau reaches `GATE_TAU` (here: always, -1; never, 2)."""
    from xcompass.search import ga_method

    monkeypatch.setattr(ga_method, "GATE_TAU", threshold)
    p = unit_problem("tile")
    settings = SearchSettings("edp", 24, 20, 0, 0, ())
    stats = Study(p, settings).run().results["ga"].stats
    local = stats["local"]
    assert stats["screen"]["kendall_tau"] is not None  # the GA screened: a tau to gate on
    assert local["gate"] is (threshold < 0)
    assert (local["gated"] > 0) is (threshold < 0)
