"""Small explore problems and comparisons shared by the explore tests."""

from __future__ import annotations

from functools import cache

import numpy as np

from xcompass.explore.inputs import problem_spec
from xcompass.explore.spec import ProblemSpec
from xcompass.explore.study import SearchSettings
from xcompass.search import SearchProblem
from xcompass.search.study import Outcome

SETTINGS = SearchSettings(population=24, generations=8, seed=3)


@cache
def small_spec() -> ProblemSpec:
    """llama3-8b, 4 layers, the default sampled step in 4 micro-batches, compass-het-36."""
    return problem_spec(layers=4, microbatches=4)


@cache
def small_problem() -> SearchProblem:
    return small_spec().problem(SETTINGS.seed)


def assert_same_outcome(a: Outcome, b: Outcome) -> None:
    """Identical results: every method's best genome, score, spend and history."""
    assert list(a.results) == list(b.results)
    for name in a.results:
        ra, rb = a.results[name], b.results[name]
        assert np.array_equal(ra.best.bits, rb.best.bits), name
        assert np.array_equal(ra.best.place, rb.best.place), name
        assert ra.best.score[0] == rb.best.score[0], name
        assert ra.evaluations == rb.evaluations, name
        assert ra.history == rb.history, name
    assert a.bound == b.bound
