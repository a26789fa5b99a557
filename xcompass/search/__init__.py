"""Mapping search on genome arrays (IR-free): Compass's GA with its seed bug fixed, a
latency-energy Pareto mode (pymoo NSGA-II with our operators), and the peers it must beat on the
same budget (random search, simulated annealing, the best standard strategy, an analytic lower
bound).

    problem = build_problem(model, workload, target, whole_model=True)
    outcome = autotune(problem, "edp", GAConfig(population=120, generations=100, seed=0))
    outcome.best.best.mapping()          # the answer: the best mapping any method evaluated
    outcome.found_by                     # which method found it ("ga", "sa", ...)
    outcome.summary()                    # every method's figures, the bound

Methods are listed in `xcompass.search.registry` (one line each) and run by one
`xcompass.search.study.Study`, which `map-autotune` and `xcompass explore` call too.

`xcompass.search.pareto.pareto_search` is the Pareto mode (it loads pymoo).
Hooks for distributed runs: `SearchProblem.evaluator` (any `Evaluator`), `GeneticSearch.run`'s
`progress` callback (return True to stop) and its `GAState` checkpoint (`run(state=...)`).

Names are loaded on first use, so `xcompass.search.objectives` (what option checks need) stays
cheap to import: the rest pulls in numba and the cost engine.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_WHERE = {
    "BASELINES": "study",
    "Outcome": "study",
    "SearchSettings": "study",
    "Study": "study",
    "StudyState": "method",
    "autotune": "study",
    "REGISTRY": "registry",
    "register": "registry",
    "anneal": "baselines",
    "best_standard": "baselines",
    "random_search": "baselines",
    "LowerBound": "bounds",
    "lower_bound": "bounds",
    "GAConfig": "ga",
    "GAState": "ga",
    "GeneticSearch": "ga",
    "OBJECTIVES": "objectives",
    "check_objective": "objectives",
    "MutationRates": "operators",
    "Progress": "population",
    "Scored": "population",
    "SearchResult": "population",
    "SeedPool": "population",
    "Evaluation": "evaluation",
    "Evaluator": "evaluation",
    "LocalEvaluator": "evaluation",
    "SearchProblem": "problem",
    "build_problem": "problem",
    "SpecDistribution": "samples",
    "TraceDistribution": "samples",
    "batch_seeds": "samples",
    "sample_batches": "samples",
    "Seed": "seeds",
    "standard_seeds": "seeds",
}

__all__ = [
    "BASELINES",
    "Evaluation",
    "Evaluator",
    "GAConfig",
    "GAState",
    "GeneticSearch",
    "LocalEvaluator",
    "LowerBound",
    "MutationRates",
    "OBJECTIVES",
    "Outcome",
    "Progress",
    "REGISTRY",
    "Scored",
    "SearchProblem",
    "SearchResult",
    "SearchSettings",
    "Seed",
    "SeedPool",
    "SpecDistribution",
    "Study",
    "StudyState",
    "TraceDistribution",
    "anneal",
    "autotune",
    "batch_seeds",
    "best_standard",
    "build_problem",
    "check_objective",
    "lower_bound",
    "random_search",
    "register",
    "sample_batches",
    "standard_seeds",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'xcompass.search' has no attribute '{name}'")
    value = getattr(import_module(f"xcompass.search.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from xcompass.search.baselines import anneal, best_standard, random_search
    from xcompass.search.bounds import LowerBound, lower_bound
    from xcompass.search.evaluation import Evaluation, Evaluator, LocalEvaluator
    from xcompass.search.ga import GAConfig, GAState, GeneticSearch
    from xcompass.search.method import StudyState
    from xcompass.search.objectives import OBJECTIVES, check_objective
    from xcompass.search.operators import MutationRates
    from xcompass.search.population import Progress, Scored, SearchResult, SeedPool
    from xcompass.search.problem import SearchProblem, build_problem
    from xcompass.search.registry import REGISTRY, register
    from xcompass.search.samples import (
        SpecDistribution,
        TraceDistribution,
        batch_seeds,
        sample_batches,
    )
    from xcompass.search.seeds import Seed, standard_seeds
    from xcompass.search.study import BASELINES, Outcome, SearchSettings, Study, autotune
