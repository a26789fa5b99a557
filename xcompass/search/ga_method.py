"""The GA as a study method (the registry's "ga"): `GeneticSearch` run resumably, with the seeds
a search below a layer adds (unit pipelines, the coarse chain's bests: `coarse.fine_pool`) and
the memetic local search at the end. Kept apart from `ga` because the coarse chain itself runs
`GeneticSearch` at the coarser granularities."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from xcompass.search.coarse import fine_pool
from xcompass.search.ga import GAState, GeneticSearch
from xcompass.search.population import Clock, Scored, SearchResult, SeedPool

if TYPE_CHECKING:
    from xcompass.search.method import Done, Run

MEMETIC = {"widen": 1, "kick": 6, "fit": True, "adapt": True}
"""The memetic step's knobs (`local.local_search`): an iterated local search that jumps 6
random moves from the best once 40 rounds of 16 screened neighbours bring nothing, instead of
widening the round to 64 (on Compass's tile scenario at 50 s CPU from the best unit pipeline:
+6.7..+10.2% above the best known over 3 seeds, against +11..+14% for widening;
`benchmarks/search_tile_sweep.py`), among fitted mappings (`fit`: what it costs is the genome
with every node whose weights do not fit its group's SRAM widened until they do; on the same
scenario at 2,100 evaluations 0.00401-0.00414 J*s over 3 seeds against 0.0132-0.0135 unfitted;
`Structure.fitted`), drawing its moves in proportion to their success so far (`adapt`: on the
same scenario at 2,100 evaluations over 16 seeds +3.48% above the best known on the mean
against +5.15% for uniform draws, `benchmarks/search_tile_seeds.py`)."""


GATE_TAU = 0.3
"""The memetic step gates its rounds (`local_search(gate=True)`: no exact evaluation where the
screen sees no gain) only when the screen ranked the GA's re-costed children with a Kendall tau
of at least this: a moderate rank correlation. On Compass's tile scenario (tau 0.43-0.68) the
gate put the default within 2% of the best known on two seeds of three at ~60 s; on the 13B
block on compass-het-36 (tau 0.17) a gated climb ended 34% above the ungated one."""

STARTS = 4
"""Climbs the memetic step starts (the GA's best and the next best distinct seeds), halved each
round: which seed a climb ends best from is not the seed that starts best (on Compass's tile
scenario the best striped pipeline, k=9 on 4 replicas, climbs to 0.0146 J*s in 600 exact
evaluations, the k=18 one on 2 replicas from 5% worse to 0.0137)."""


class GAMethod:
    """The GA as a study method: resumable from `run.state.ga`, a checkpoint (`run.save`)
    after generation 0, every `run.every` generations and at the end. Below a layer its
    config may add seeds (unit pipelines, the coarse chain's bests: `coarse.fine_pool`), screen
    candidates (`fidelity`) and end with a memetic local search on `local` of the budget."""

    def start(self, run: Run) -> Done:
        from dataclasses import replace

        from xcompass.search.method import Done

        c = run.config
        pool, stages = run.pool, {}
        state = run.state.ga
        if state is None and (c.structured or c.coarse):
            pool, stages = fine_pool(run.problem, run.scalar, run.pool, c)
        total = c.total_budget
        local = int(c.local * total) if c.local > 0 else 0
        config = replace(c, budget=total - local) if local else c
        search = GeneticSearch(run.problem, run.objective, config, pool)
        if state is None:
            state = search.start()
            run.state.ga = state
            run.save()
        stop = search._report(state, run.progress)
        while not stop and search.can_step(state):
            state = search.step(state)
            run.state.ga = state
            if state.generation % run.every == 0:
                run.save()
            stop = search._report(state, run.progress)
        best, evaluations, wall = state.best, state.evaluations, state.wall_s
        history = list(state.history)
        stats: dict = dict(stages)
        if state.screen is not None:
            stats["screen"] = state.screen.as_dict()
        if local and not stop:
            best, evaluations, wall, history = self._local(run, search, state, total, stats, pool)
        result = SearchResult("ga", best, evaluations, wall, history)
        result.stats = stats
        return Done(result)

    @staticmethod
    def _local(  # noqa: ANN205
        run: Run, search: GeneticSearch, state: GAState, total: int, stats: dict, pool: SeedPool
    ):
        """The memetic step with the budget the GA left: climbs from the GA's best and from
        the best seeds of other structures, the better half kept after each round
        (`starts`), the last one climbing on with what is left."""
        from xcompass.search.local import local_search

        clock = Clock(state.wall_s)
        ga_best = float(state.best.score[0])
        tau = state.screen.tau if state.screen is not None else float("nan")
        gate = bool(np.isfinite(tau) and tau >= GATE_TAU)
        budget = total - state.evaluations
        climbs = [state.best, *other_starts(pool, state.best, STARTS - 1)]
        spent, report = 0, None
        rounds: list[list[float]] = []
        while len(climbs) > 1:  # successive halving: budget / 2 on round 1, / 4 on round 2...
            share = budget // (2 ** (len(rounds) + 1) * len(climbs))
            if share < 1:
                break
            ended = []
            for best, rep in climbs_of(run, climbs, share, search.screen, gate):
                spent += rep.evaluations
                ended.append(best)
            rounds.append([float(b.score[0]) for b in ended])
            order = np.argsort([b.score[0] for b in ended], kind="stable")
            climbs = [ended[i] for i in order[: max(1, len(ended) // 2)]]
        best, report = local_search(
            run.problem, run.scalar, climbs[0], budget - spent, seed=run.config.seed,
            screen=search.screen, gate=gate, **MEMETIC,
        )  # fmt: skip
        evaluations = state.evaluations + spent + report.evaluations
        history = [*state.history, (evaluations, float(best.score[0]))]
        stats["local"] = {
            "start": ga_best,
            "end": float(best.score[0]),
            "rounds": rounds,
            "evaluations": spent + report.evaluations,
            "screened": report.screened,
            "climb_rounds": report.rounds,
            "kicks": report.kicks,
            "gate": gate,
            "gated": report.gated,
            "wins": report.wins,
        }
        return best, evaluations, clock.elapsed, history


def climbs_of(run: Run, starts: list[Scored], share: int, screen, gate: bool) -> list:  # noqa: ANN001
    """One round of the successive halving: a climb of `share` exact evaluations from each
    start (climb i seeded `seed + 1000 i`). With a parallel backend the climbs after the first
    run on its workers while this process climbs the first; each climb is deterministic, so
    where they run never changes the result."""
    seed = run.config.seed
    args = [(run.scalar, start, share, seed + 1000 * i, gate) for i, start in enumerate(starts)]
    away = []
    if run.backend.parallel:
        away = [run.backend.submit(run.problem, _climb, *a) for a in args[1:]]
    here = [_climb(run.problem, *a, screen=screen) for a in (args[:1] if away else args)]
    return here + [h.result() for h in away]


def _climb(problem, objective: str, start: Scored, share: int, seed: int, gate: bool,
           screen=None):  # fmt: skip  # noqa: ANN001, ANN202
    """One climb, here or on a worker (there the screen is rebuilt: it is a pure function of
    the problem's training batches)."""
    from xcompass.search.local import local_search

    return local_search(problem, objective, start, share, seed=seed, gate=gate, screen=screen,
                        **MEMETIC)  # fmt: skip


def other_starts(pool: SeedPool, best: Scored, count: int) -> list[Scored]:
    """The `count` best seeds of the pool that differ from `best` (by genome), exactly scored:
    where the climbs of the successive halving start besides the GA's best."""
    if count <= 0 or not len(pool):
        return []
    key = best.bits[0].tobytes() + best.place[0].tobytes()
    out: list[Scored] = []
    for i in np.argsort(pool.scored.score, kind="stable"):
        one = pool.scored.take([int(i)])
        if one.bits[0].tobytes() + one.place[0].tobytes() != key:
            out.append(one)
        if len(out) == count:
            break
    return out
