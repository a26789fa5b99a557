"""The one autotuning study: the searched method and its peers on the same evaluation budget,
the bound, and the answer (the best mapping any of them evaluated).

`Study.run` scores the standard strategies once (the seed pool every method shares), runs the
searched method the registry gives for the objective (the GA, NSGA-II for `pareto`), then every
baseline asked for on exactly the evaluations the search spent, computes the bound, and scores
each method's best on the test request batches. Methods come from `xcompass.search.registry`;
the study knows none of them by name. `map-autotune`, `xcompass explore` (through
`xcompass.explore.study`, which adds nothing but the names it always had), the Python API and
`benchmarks/bench_search.py` all call this class (`autotune` is it, in one call).

It is resumable: `state` (`StudyState`) is always the last consistent point, `checkpoint` is
called with it after the pool, every `every` GA generations and after each method, and a study
given a saved state continues to the result an uninterrupted one gives. A baseline that finds
no mapping (random search on a machine where almost nothing fits) is a result that says so;
the study goes on. The answer never loses to a method's best: every method's best goes into
one comparison (for `pareto`, every method's front into one archive), and the outcome says
which method found it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from xcompass.errors import XcompassError
from xcompass.search import registry
from xcompass.search.archive import merge_fronts
from xcompass.search.bounds import LowerBound
from xcompass.search.evaluation import Evaluation, score
from xcompass.search.ga import GAConfig
from xcompass.search.method import Backend, Done, Handle, InProcess, Run, StudyState
from xcompass.search.objectives import SERVING_OBJECTIVES, better, check_objective
from xcompass.search.population import Progress, ProgressCallback, Scored, SearchResult, SeedPool
from xcompass.search.problem import SearchProblem
from xcompass.search.seeds import Seed
from xcompass.search.settings import (  # noqa: F401 (their home; re-exported here)
    BASELINES,
    BELOW_LAYER,
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_GENERATIONS,
    DEFAULT_POPULATION,
    SearchSettings,
    below_layer,
)

__all__ = [
    "BASELINES",
    "Outcome",
    "SearchSettings",
    "Study",
    "StudyState",
    "autotune",
    "better",
]


@dataclass
class Outcome:
    """Every method's result, the bound, test-batch scores of each method's best, and the
    answer: the best mapping any method evaluated."""

    objective: str
    config: GAConfig
    searched: str  # the searched method ("ga" or "nsga2"); it always has a mapping
    results: dict[str, SearchResult]  # the searched method first, then the baselines
    bound: LowerBound
    pool: SeedPool
    test: dict[str, Evaluation] = field(default_factory=dict)
    test_tokens: np.ndarray | None = None
    failed: dict[str, SearchResult] = field(default_factory=dict)  # found no mapping (why)
    serving: dict[str, dict[str, Any]] = field(default_factory=dict)  # goodput / capacity:
    # per method, its best served on the training and the test window ({"train", "test"})
    serving_bound: float = float("-inf")  # goodput: minus the window's offered rate
    serving_setup: dict[str, Any] = field(default_factory=dict)  # policy, SLOs, windows

    def bound_score(self) -> float:
        """The bound on the objective's score (-inf where there is none: capacity)."""
        if self.objective in SERVING_OBJECTIVES:
            return self.serving_bound
        return self.bound.objective(self.objective)

    @cached_property
    def answer(self) -> SearchResult:
        """The best mapping any method evaluated, as a result named after the method that
        found it (ties go to the searched method, then registry order), with the searched
        method's spend and history. For `pareto`, `front` is the non-dominated set of every
        method's front and the best is its lowest-EDP point."""
        feasible = list(self.results.items())
        searched = self.results[self.searched]
        if self.objective == "pareto":
            fronts = [r.front if r.front is not None else r.best for _, r in feasible]
            front, source = merge_fronts(fronts)
            edp = front.latency_s * front.energy_j
            front.score = edp
            i = int(np.argmin(edp))
            best, finder = front.take([i]), feasible[int(source[i])][0]
        else:
            scores = [float(r.best.score[0]) for _, r in feasible]
            finder = feasible[int(np.argmin(scores))][0]
            best, front = self.results[finder].best, None
        return SearchResult(
            finder, best, searched.evaluations, searched.wall_s, list(searched.history), front
        )

    @property
    def best(self) -> SearchResult:
        """The answer (what `map-autotune` writes and `explore` reports)."""
        return self.answer

    @property
    def found_by(self) -> str:
        return self.answer.method

    def scalar(self) -> str:
        """The one-number objective methods are compared on (`pareto` compares EDP)."""
        return "edp" if self.objective == "pareto" else self.objective

    def improvement(self, method: str = "standard") -> float:
        """Relative change of the searched method's own best score against `method`'s
        (negative: the search did better; for throughput, a higher throughput is negative here
        too). How the search itself fares; `summary()["better_than"]` compares the answer."""
        ours = self.results[self.searched].best.score[0]
        theirs = self.results[method].best.score[0]
        return float((ours - theirs) / abs(theirs))

    def test_score(self, method: str) -> float | None:
        if method not in self.test or self.test_tokens is None:
            return None
        return float(score(self.scalar(), self.test[method], self.test_tokens)[0])

    def summary(self) -> dict[str, Any]:
        """Plain data for reports and IR provenance."""
        methods = {}
        failed = {
            name: {
                "note": r.note or "no mapping that fits in memory",
                "evaluations": r.evaluations,
                "wall_s": r.wall_s,
            }
            for name, r in self.failed.items()
        }
        for name, r in self.results.items():
            entry = {
                "score": float(r.best.score[0]),
                "latency_s": float(r.best.latency_s[0]),
                "energy_j": float(r.best.energy_j[0]),
                "edp_js": float(r.best.latency_s[0] * r.best.energy_j[0]),
                "evaluations": r.evaluations,
                "wall_s": r.wall_s,
                "evaluations_per_s": r.evaluations_per_s,
                **r.stats,
            }
            test = self.test_score(name)
            if test is not None:
                entry["test_score"] = test
            if name in self.serving:
                entry["serving"] = self.serving[name]
            methods[name] = entry
        b, answer = self.bound, self.answer
        found = {
            "method": answer.method,
            "score": float(answer.best.score[0]),
            "latency_s": float(answer.best.latency_s[0]),
            "energy_j": float(answer.best.energy_j[0]),
            "edp_js": float(answer.best.latency_s[0] * answer.best.energy_j[0]),
        }
        test = self.test_answer()
        if test is not None:
            found["test_score"] = test
        if answer.method in self.serving:
            found["serving"] = self.serving[answer.method]
        ours = found["score"]
        extra = {"serving": self.serving_setup} if self.serving_setup else {}
        return {
            **extra,
            "objective": self.objective,
            "searched": self.searched,
            "answer": found,
            "population": self.config.population,
            "generations": self.config.generations,
            "budget": self.config.total_budget,
            "seed": self.config.seed,
            "seeds": len(self.pool),
            "best_standard": self.pool.names[self.pool.best_index()] if len(self.pool) else "",
            "methods": methods,
            "failed": failed,
            "improvement_vs": {m: self.improvement(m) for m in methods if m != self.searched},
            "better_than": {m: better(ours, methods[m]["score"]) for m in methods},
            "lower_bound": {
                "latency_s": b.latency_s,
                "energy_j": b.energy_j,
                "edp_js": b.edp_js,
                "throughput_tok_s": b.throughput_tok_s,
                "latency_parts_s": b.latency_parts_s,
                "objective": self.bound_score(),
            },
        }

    def test_answer(self) -> float | None:
        """The answer's objective on the test batches (its finder's, or, for a front point no
        method kept as its best, scored here)."""
        answer = self.answer
        own = self.results[answer.method].best
        if (
            answer.method in self.test
            and np.array_equal(own.bits, answer.best.bits)
            and np.array_equal(own.place, answer.best.place)
        ):
            return self.test_score(answer.method)
        return None


class Study:
    """One study on `problem`; `state` is always the last consistent point (what Ctrl-C
    saves). `config` overrides the GA's settings beyond `settings` (tournament, rates)."""

    def __init__(
        self,
        problem: SearchProblem,
        settings: SearchSettings,
        backend: Backend | None = None,
        *,
        config: GAConfig | None = None,
        extra_seeds: Sequence[Seed] = (),
        progress: ProgressCallback | None = None,
        checkpoint: Callable[[Any], None] | None = None,
        every: int = DEFAULT_CHECKPOINT_EVERY,
        state: Any = None,
    ) -> None:
        self.problem, self.settings = problem, settings
        self.config = config or settings.config(problem.granularity, problem.serving is not None)
        self.backend: Backend = backend if backend is not None else InProcess()
        self.extra_seeds = extra_seeds
        self.progress = progress
        self.checkpoint = checkpoint
        self.every = max(1, every)
        self.state = state if state is not None else StudyState()

    def _save(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint(self.state)

    def best_so_far(self) -> Scored | None:
        """The best mapping evaluated so far by any method (else the best seed), for Ctrl-C."""
        s = self.state
        candidates = [r.best for r in s.results.values() if r.feasible]
        if s.ga is not None:
            candidates.append(s.ga.best)
        if s.pool is not None and len(s.pool):
            candidates.append(s.pool.scored.take([s.pool.best_index()]))
        if not candidates:
            return None
        return candidates[int(np.argmin([float(c.score[0]) for c in candidates]))]

    def run(self) -> Outcome:
        st, cfg = self.settings, self.config
        check_objective(st.objective)
        serving = self.problem.serving
        wants = st.objective in SERVING_OBJECTIVES
        if wants != (serving is not None) or (wants and serving.objective != st.objective):
            have = f"a {serving.objective} problem" if serving is not None else "a static problem"
            raise XcompassError(
                f"objective {st.objective}: the search problem is {have}; a serving objective "
                "needs a problem built with its serving options (policy, SLOs, trace windows)"
            )
        if self.state.pool is None:
            self.state.pool = SeedPool.build(self.problem, st.scalar, self.extra_seeds)
            self._save()
        pool = self.state.pool
        run = Run(
            self.problem,
            st.objective,
            cfg,
            pool,
            cfg.total_budget,
            self.progress,
            self.backend,
            self.state,
            self._save,
            self.every,
        )
        done = self.state.results
        searched = registry.searched_for(st.objective).name
        if searched not in done:
            done[searched] = registry.REGISTRY[searched].load().start(run).result()
            self._save()
        self._baselines(run.with_budget(done[searched].evaluations))
        results, failed = {searched: done[searched]}, {}
        for name in registry.baselines():  # registry order, whatever order they finished in
            if name in st.baselines and done.get(name) is not None:
                (results if done[name].feasible else failed)[name] = done[name]
        bound = registry.bound().load().start(run).result()
        outcome = Outcome(st.objective, cfg, searched, results, bound, pool, failed=failed)
        if serving is not None:
            self._serve_results(outcome)
        elif self.problem.test:
            for name, r in results.items():
                ev = self.problem.evaluate_test(r.best.bits, r.best.place)
                if ev is not None:
                    outcome.test[name] = ev
            outcome.test_tokens = self.problem.test_tokens
        return outcome

    def _serve_results(self, outcome: Outcome) -> None:
        """Goodput / capacity: each method's best served on the training window (the figures
        it was scored by) and on the test window no method ever scored; the answer's test run
        also re-costs some iterations exactly (the cost cache's error)."""
        serving = self.problem.serving
        finder = outcome.answer.method
        for name, r in outcome.results.items():
            mapping = r.best.mapping()
            check = serving.test_check if name == finder else 0
            train = serving.figures(mapping, "train")
            test = serving.figures(mapping, "test", check=check)
            outcome.serving[name] = {"train": train, "test": test}
            lat, energy = serving.as_row(test)
            outcome.test[name] = Evaluation(np.array([[lat]]), np.array([[energy]]))
        outcome.test_tokens = np.ones(1)
        outcome.serving_bound = serving.bound()
        outcome.serving_setup = {**serving.options.as_dict(), "objective": serving.objective,
                                 "train_requests": len(serving.train),
                                 "test_requests": len(serving.test),
                                 "description": serving.describe()}  # fmt: skip

    def _baselines(self, run: Run) -> None:
        """Every baseline asked for, here or (a method that asks for it) on a worker; those on
        workers are collected after the ones that run here. A baseline that raises a
        diagnostic becomes a result that carries it."""
        done = self.state.results
        away: dict[str, Handle] = {}
        for name in registry.baselines():
            if name not in self.settings.baselines or name in done:
                continue
            method = registry.REGISTRY[name].load()
            try:
                handle = method.start(run.with_budget(run.budget, busy=bool(away)))
            except XcompassError as exc:
                handle = Done(self._failed(name, str(exc)))
            if isinstance(handle, Done):
                result = handle.result()
                if result is not None:
                    done[name] = result
                    self._save()
            else:
                away[name] = handle
        for name, handle in away.items():
            if self.progress is not None:
                nan = float("nan")
                self.progress(Progress(name, 0, 0, 0, run.budget, nan, nan, nan, 0.0))
            try:
                done[name] = handle.result()
            except XcompassError as exc:
                done[name] = self._failed(name, str(exc))
            self._save()

    def _failed(self, name: str, note: str) -> SearchResult:
        return SearchResult.failed(name, note, self.problem.shape, len(self.problem.train))


def autotune(
    problem: SearchProblem,
    objective: str = "edp",
    config: GAConfig | None = None,
    baselines: Sequence[str] = BASELINES,
    extra_seeds: Sequence[Seed] = (),
    progress: ProgressCallback | None = None,
) -> Outcome:
    """The study in one call, in this process: search, then `baselines` on the evaluations
    the search spent."""
    check_objective(objective)
    config = config or GAConfig()
    settings = SearchSettings(
        objective,
        config.population,
        config.generations,
        config.budget or 0,
        config.seed,
        tuple(baselines),
    )
    return Study(problem, settings, config=config, extra_seeds=extra_seeds, progress=progress).run()
