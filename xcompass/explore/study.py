"""A resumable, parallel `xcompass.search.autotune`: the same study (seed pool, the GA or
NSGA-II, then simulated annealing, random search and the best standard strategy on the
evaluations the search spent, the lower bound, test batches), with

- a checkpoint after every `every` generations and after each method finishes (`StudyState`;
  the GA continues from its `GAState` exactly as if never stopped);
- evaluation through a `Backend` (in-process, local processes, Dask), and simulated annealing
  on a worker while random search runs here, when the backend is parallel.

For the same problem and settings, `Study(...).run()` returns what `autotune` returns (tested),
whatever the backend and however often it was interrupted and resumed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from xcompass.errors import XcompassError
from xcompass.explore.backends import Backend, Handle
from xcompass.explore.checkpoint import StudyState
from xcompass.search.baselines import anneal, best_standard, random_search
from xcompass.search.bounds import lower_bound
from xcompass.search.ga import GAConfig, GAState, GeneticSearch
from xcompass.search.objectives import OBJECTIVES
from xcompass.search.population import Progress, ProgressCallback, Scored, SearchResult, SeedPool
from xcompass.search.seeds import Seed
from xcompass.search.study import BASELINES, Outcome

DEFAULT_POPULATION = 100
DEFAULT_GENERATIONS = 60
DEFAULT_CHECKPOINT_EVERY = 10


@dataclass(frozen=True)
class SearchSettings:
    """What decides the search's result besides the problem (all of it goes into a
    checkpoint's header: a checkpoint resumes only under the same settings)."""

    objective: str = "edp"
    population: int = DEFAULT_POPULATION
    generations: int = DEFAULT_GENERATIONS
    budget: int = 0  # 0: population x generations
    seed: int = 0
    baselines: tuple[str, ...] = BASELINES

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise XcompassError(
                f"unknown objective '{self.objective}' (valid: {', '.join(OBJECTIVES)})"
            )
        unknown = [b for b in self.baselines if b not in BASELINES]
        if unknown:
            raise XcompassError(f"unknown baseline '{unknown[0]}' (valid: {', '.join(BASELINES)})")

    @property
    def scalar(self) -> str:
        return "edp" if self.objective == "pareto" else self.objective

    def config(self) -> GAConfig:
        return GAConfig(self.population, self.generations, self.budget or None, self.seed)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["baselines"] = ",".join(self.baselines)
        return out


def _anneal_task(problem, objective, budget, seed, pool):  # noqa: ANN001, ANN202
    return anneal(problem, objective, budget, seed, pool)


class Study:
    """One study; `state` is always the last consistent point (what Ctrl-C saves)."""

    def __init__(
        self,
        problem,  # noqa: ANN001 - a SearchProblem (the backend's evaluator attached)
        settings: SearchSettings,
        backend: Backend | None = None,
        *,
        extra_seeds: Sequence[Seed] = (),
        progress: ProgressCallback | None = None,
        checkpoint: Callable[[StudyState], None] | None = None,
        every: int = DEFAULT_CHECKPOINT_EVERY,
        state: StudyState | None = None,
    ) -> None:
        self.problem, self.settings = problem, settings
        self.backend = backend or Backend()
        self.extra_seeds = extra_seeds
        self.progress = progress
        self.checkpoint = checkpoint
        self.every = max(1, every)
        self.state = state or StudyState()

    def _save(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint(self.state)

    def best_so_far(self) -> Scored | None:
        """The best mapping the searched method has (else the best seed), for Ctrl-C."""
        s = self.state
        searched = s.results.get("nsga2") or s.results.get("ga")
        if searched is not None:
            return searched.best
        if s.ga is not None:
            return s.ga.best
        if s.pool is not None and len(s.pool):
            return s.pool.scored.take([s.pool.best_index()])
        return None

    def run(self) -> Outcome:
        st, cfg = self.settings, self.settings.config()
        if self.state.pool is None:
            self.state.pool = SeedPool.build(self.problem, st.scalar, self.extra_seeds)
            self._save()
        pool = self.state.pool
        searched = self._search(cfg, pool)
        baselines = self._baselines(searched.evaluations, pool)
        results = {searched.method: searched}
        for name in BASELINES:  # autotune's order
            if name in baselines:
                results[name] = baselines[name]
        outcome = Outcome(
            st.objective, cfg, searched.method, results, lower_bound(self.problem), pool
        )
        if self.problem.test:
            for name, r in results.items():
                ev = self.problem.evaluate_test(r.best.bits, r.best.place)
                if ev is not None:
                    outcome.test[name] = ev
            outcome.test_tokens = self.problem.test_tokens
        return outcome

    # --- the searched method ---------------------------------------------------------------

    def _search(self, cfg: GAConfig, pool: SeedPool) -> SearchResult:
        done = self.state.results
        if self.settings.objective == "pareto":
            if "nsga2" not in done:
                from xcompass.search.pareto import pareto_search  # pymoo loads only when needed

                done["nsga2"] = pareto_search(self.problem, cfg, pool, self.progress)
                self._save()
            return done["nsga2"]
        if "ga" in done:
            return done["ga"]
        search = GeneticSearch(self.problem, self.settings.objective, cfg, pool)
        state = self.state.ga
        if state is None:
            state = search.start()
            self.state.ga = state
            self._save()
        stop = self._report(search, state)
        while not stop and search.can_step(state):
            state = search.step(state)
            self.state.ga = state
            if state.generation % self.every == 0:
                self._save()
            stop = self._report(search, state)
        done["ga"] = SearchResult(
            "ga", state.best, state.evaluations, state.wall_s, list(state.history)
        )
        self._save()
        return done["ga"]

    def _report(self, search: GeneticSearch, state: GAState) -> bool:
        if self.progress is None:
            return False
        best = state.best
        report = Progress(
            "ga",
            state.generation,
            search.config.generations,
            state.evaluations,
            search.config.total_budget,
            float(best.score[0]),
            float(best.latency_s[0]),
            float(best.energy_j[0]),
            state.wall_s,
        )
        return bool(self.progress(report))

    # --- the baselines ---------------------------------------------------------------------

    def _baselines(self, budget: int, pool: SeedPool) -> dict[str, SearchResult]:
        st, done = self.settings, self.state.results
        wanted = [b for b in st.baselines if b != "standard" or len(pool)]
        if "sa" in wanted and not len(pool):
            wanted.remove("sa")
        if "standard" in wanted and "standard" not in done:
            done["standard"] = best_standard(pool)
        remote: Handle | None = None
        if "sa" in wanted and "sa" not in done and self.backend.parallel:
            remote = self.backend.submit(
                self.problem, _anneal_task, st.scalar, budget, st.seed, pool
            )
        if "sa" in wanted and "sa" not in done and remote is None:
            done["sa"] = anneal(self.problem, st.scalar, budget, st.seed, pool, self.progress)
            self._save()
        if "random" in wanted and "random" not in done:
            here = self.problem if remote is None else self.backend.beside_task(self.problem)
            done["random"] = random_search(
                here, st.scalar, budget, st.seed, st.population, self.progress
            )
            self._save()
        if remote is not None:
            if self.progress is not None:
                self.progress(
                    Progress("sa", 0, 0, 0, budget, float("nan"), float("nan"), float("nan"), 0.0)
                )
            done["sa"] = remote.result()
            self._save()
        return {name: done[name] for name in wanted}
