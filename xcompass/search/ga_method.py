"""The GA as a study method (the registry's "ga"): `GeneticSearch` run resumably, with the seeds
a search below a layer adds (unit pipelines, the coarse chain's bests: `coarse.fine_pool`) and
the memetic local search at the end. Kept apart from `ga` because the coarse chain itself runs
`GeneticSearch` at the coarser granularities."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xcompass.search.coarse import fine_pool
from xcompass.search.ga import GAState, GeneticSearch
from xcompass.search.population import Clock, SearchResult

if TYPE_CHECKING:
    from xcompass.search.method import Done, Run

MEMETIC = {"widen": 1, "kick": 6}
"""The memetic step's knobs (`local.local_search`): an iterated local search that jumps 6
random moves from the best once 40 rounds of 16 screened neighbours bring nothing, instead of
widening the round to 64 (on Compass's tile scenario at 50 s CPU from the best unit pipeline:
+6.7..+10.2% above the best known over 3 seeds, against +11..+14% for widening;
`benchmarks/search_tile_sweep.py`)."""


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
            best, evaluations, wall, history = self._local(run, search, state, total, stats)
        result = SearchResult("ga", best, evaluations, wall, history)
        result.stats = stats
        return Done(result)

    @staticmethod
    def _local(run: Run, search: GeneticSearch, state: GAState, total: int, stats: dict):  # noqa: ANN205
        """The memetic step on the GA's best with the budget it left."""
        from xcompass.search.local import local_search

        clock = Clock(state.wall_s)
        ga_best = float(state.best.score[0])
        best, report = local_search(
            run.problem,
            run.scalar,
            state.best,
            total - state.evaluations,
            seed=run.config.seed,
            screen=search.screen,
            **MEMETIC,
        )
        evaluations = state.evaluations + report.evaluations
        history = [*state.history, (evaluations, float(best.score[0]))]
        stats["local"] = {
            "start": ga_best,
            "end": float(best.score[0]),
            "evaluations": report.evaluations,
            "screened": report.screened,
            "rounds": report.rounds,
            "kicks": report.kicks,
            "wins": report.wins,
        }
        return best, evaluations, clock.elapsed, history
