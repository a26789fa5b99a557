"""One autotuning study: the searched mapping and its peers on the same evaluation budget.

`autotune` scores the standard strategies once (the seed pool), runs the GA (or NSGA-II for
`pareto`), then random search and simulated annealing with exactly the evaluations the search
spent, takes the best standard strategy, computes the analytic lower bound, and reports every
method's best on the test request batches. `map-autotune` and `benchmarks/bench_search.py`
are thin layers over it; `xcompass explore` can call it the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xcompass.search.baselines import anneal, best_standard, random_search
from xcompass.search.bounds import LowerBound, lower_bound
from xcompass.search.ga import GAConfig, GeneticSearch
from xcompass.search.objectives import check_objective
from xcompass.search.population import ProgressCallback, SearchResult, SeedPool
from xcompass.search.problem import Evaluation, SearchProblem, score
from xcompass.search.seeds import Seed

BASELINES = ("sa", "random", "standard")


@dataclass
class Outcome:
    """Every method's result, the bound, and test-batch scores of each method's best."""

    objective: str
    config: GAConfig
    searched: str  # "ga" or "nsga2"
    results: dict[str, SearchResult]
    bound: LowerBound
    pool: SeedPool
    test: dict[str, Evaluation] = field(default_factory=dict)
    test_tokens: np.ndarray | None = None

    @property
    def best(self) -> SearchResult:
        return self.results[self.searched]

    def scalar(self) -> str:
        """The one-number objective methods are compared on (`pareto` compares EDP)."""
        return "edp" if self.objective == "pareto" else self.objective

    def improvement(self, method: str = "standard") -> float:
        """Relative change of the searched best's score against `method`'s (negative: the
        search is better; for throughput, a higher throughput is negative here too)."""
        ours, theirs = self.best.best.score[0], self.results[method].best.score[0]
        return float((ours - theirs) / abs(theirs))

    def test_score(self, method: str) -> float | None:
        if method not in self.test or self.test_tokens is None:
            return None
        return float(score(self.scalar(), self.test[method], self.test_tokens)[0])

    def summary(self) -> dict[str, Any]:
        """Plain data for reports and IR provenance."""
        methods = {}
        for name, r in self.results.items():
            entry = {
                "score": float(r.best.score[0]),
                "latency_s": float(r.best.latency_s[0]),
                "energy_j": float(r.best.energy_j[0]),
                "edp_js": float(r.best.latency_s[0] * r.best.energy_j[0]),
                "evaluations": r.evaluations,
                "wall_s": r.wall_s,
                "evaluations_per_s": r.evaluations_per_s,
            }
            test = self.test_score(name)
            if test is not None:
                entry["test_score"] = test
            methods[name] = entry
        b = self.bound
        return {
            "objective": self.objective,
            "searched": self.searched,
            "population": self.config.population,
            "generations": self.config.generations,
            "budget": self.config.total_budget,
            "seed": self.config.seed,
            "seeds": len(self.pool),
            "best_standard": self.pool.names[self.pool.best_index()] if len(self.pool) else "",
            "methods": methods,
            "improvement_vs": {m: self.improvement(m) for m in self.results if m != self.searched},
            "lower_bound": {
                "latency_s": b.latency_s,
                "energy_j": b.energy_j,
                "edp_js": b.edp_js,
                "throughput_tok_s": b.throughput_tok_s,
                "latency_parts_s": b.latency_parts_s,
                "objective": b.objective(self.objective),
            },
        }


def autotune(
    problem: SearchProblem,
    objective: str = "edp",
    config: GAConfig | None = None,
    baselines: Sequence[str] = BASELINES,
    extra_seeds: Sequence[Seed] = (),
    progress: ProgressCallback | None = None,
) -> Outcome:
    """Search, then run `baselines` on the evaluations the search spent."""
    check_objective(objective)
    config = config or GAConfig()
    scalar = "edp" if objective == "pareto" else objective
    pool = SeedPool.build(problem, scalar, extra_seeds)
    if objective == "pareto":
        from xcompass.search.pareto import pareto_search  # pymoo loads only when needed

        searched = pareto_search(problem, config, pool, progress)
    else:
        searched, _ = GeneticSearch(problem, objective, config, pool).run(progress=progress)
    results = {searched.method: searched}
    budget = searched.evaluations
    for name in baselines:
        if name == "standard" and len(pool):
            results[name] = best_standard(pool)
        elif name == "sa" and len(pool):
            results[name] = anneal(problem, scalar, budget, config.seed, pool, progress)
        elif name == "random":
            results[name] = random_search(
                problem, scalar, budget, config.seed, config.population, progress
            )
    outcome = Outcome(objective, config, searched.method, results, lower_bound(problem), pool)
    if problem.test:
        for name, r in results.items():
            ev = problem.evaluate_test(r.best.bits, r.best.place)
            if ev is not None:
                outcome.test[name] = ev
        outcome.test_tokens = problem.test_tokens
    return outcome
