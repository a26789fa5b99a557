"""Mapping search on genome arrays (IR-free): Compass's GA with its seed bug fixed, a
latency-energy Pareto mode (pymoo NSGA-II with our operators), and the peers it must beat on the
same budget (random search, simulated annealing, the best standard strategy, an analytic lower
bound).

    problem = build_problem(model, workload, target, whole_model=True)
    outcome = autotune(problem, "edp", GAConfig(population=120, generations=100, seed=0))
    outcome.best.best.mapping()          # the Mapping found
    outcome.summary()                    # every method's figures, the bound

`xcompass.search.pareto.pareto_search` is the Pareto mode (imported on use: it loads pymoo).
Hooks for distributed runs: `SearchProblem.evaluator` (any `Evaluator`), `GeneticSearch.run`'s
`progress` callback (return True to stop) and its `GAState` checkpoint (`run(state=...)`).
"""

from xcompass.search.autotune import BASELINES, Outcome, autotune, check_objective
from xcompass.search.baselines import anneal, best_standard, random_search
from xcompass.search.bounds import LowerBound, lower_bound
from xcompass.search.ga import GAConfig, GAState, GeneticSearch
from xcompass.search.operators import MutationRates
from xcompass.search.population import Progress, Scored, SearchResult, SeedPool
from xcompass.search.problem import (
    OBJECTIVES,
    Evaluation,
    Evaluator,
    LocalEvaluator,
    SearchProblem,
    build_problem,
)
from xcompass.search.samples import (
    SpecDistribution,
    TraceDistribution,
    batch_seeds,
    sample_batches,
)
from xcompass.search.seeds import Seed, standard_seeds

__all__ = [
    "BASELINES",
    "OBJECTIVES",
    "Evaluation",
    "Evaluator",
    "GAConfig",
    "GAState",
    "GeneticSearch",
    "LocalEvaluator",
    "LowerBound",
    "MutationRates",
    "Outcome",
    "Progress",
    "Scored",
    "SearchProblem",
    "SearchResult",
    "Seed",
    "SeedPool",
    "SpecDistribution",
    "TraceDistribution",
    "anneal",
    "autotune",
    "batch_seeds",
    "best_standard",
    "build_problem",
    "check_objective",
    "lower_bound",
    "random_search",
    "sample_batches",
    "standard_seeds",
]
