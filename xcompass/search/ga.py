"""Compass's genetic algorithm, with its seed bug fixed.

Generation 0 holds every feasible standard strategy (and any extra seed) plus random genomes up
to the population size; when the seeds outnumber the population, all are scored and the best
`population` kept. Each later generation keeps one elite (the best so far, so no seed better
than everything found is ever lost) and breeds the rest: two tournaments of 5, crossover,
mutation with falling probabilities, repair (a node on a placement its unit cannot run on moves
to that group's first chiplet, `SearchProblem.legalize`; an offspring that does not fit in memory
is redrawn, then falls back to its better parent). Infeasible genomes are never evaluated and
never selected.

A run is resumable: `GAState` is a plain, picklable checkpoint (population, scores, random
generator state, counters), and `run(state=...)` continues it exactly as if never stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from xcompass.errors import XcompassError
from xcompass.search.evaluation import score
from xcompass.search.fidelity import ScreenStats, bred, check_fidelity, kendall_tau
from xcompass.search.operators import (
    MutationRates,
    crossover,
    feasible_offspring,
    mutate,
    random_genomes,
)
from xcompass.search.population import (
    Clock,
    Progress,
    ProgressCallback,
    Scored,
    SearchResult,
    SeedPool,
    evaluate,
)
from xcompass.search.problem import SearchProblem

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class GAConfig:
    """Compass's defaults: population 120-250, 100-300 generations; `budget` caps the
    evaluations (default population x generations). Generation 0 always scores every seed,
    even when they alone exceed the budget (then no generation follows)."""

    population: int = 120
    generations: int = 100
    budget: int | None = None
    seed: int = 0
    tournament: int = 5
    elite: int = 1
    rates: MutationRates = field(default_factory=MutationRates)
    repair_tries: int = 3
    fidelity: float = 1.0  # fraction of bred candidates the engine re-costs (fidelity.py)
    local: float = 0.0  # share of the budget for the memetic local search after the GA
    coarse: tuple[str, ...] = ()  # coarse-to-fine chain whose bests seed generation 0
    structured: bool = False  # unit-pipeline seeds in generation 0 (structure.py)

    def __post_init__(self) -> None:
        check_fidelity(self.fidelity)

    @property
    def total_budget(self) -> int:
        return self.budget if self.budget else self.population * self.generations


@dataclass
class GAState:
    """A checkpoint: everything the next generation depends on."""

    generation: int  # generations done, the initial one included
    evaluations: int
    population: Scored
    best: Scored
    rng_state: dict
    history: list[tuple[int, float]]
    wall_s: float
    screen: ScreenStats | None = None  # fidelity < 1: what the screen did (not checkpointed)


def tournament(rng: np.random.Generator, scores: np.ndarray, n: int, size: int) -> np.ndarray:
    """n winners, each the best of `size` individuals drawn with replacement."""
    picks = rng.integers(0, len(scores), (n, size))
    return picks[np.arange(n), np.argmin(scores[picks], axis=1)]


def fill_random(
    problem: SearchProblem,
    rng: np.random.Generator,
    n: int,
    pool: Scored,
    tries: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """n feasible genomes: Compass's random mappings, or (where none of `tries` fits) a seed
    from `pool` put through a disruptive mutation."""
    B, U = problem.shape
    bits, place = random_genomes(rng, n, (B, U), problem.group_ids)
    problem.legalize(place)
    bad = ~problem.fits(place)
    for _ in range(tries - 1):
        if not bad.any():
            break
        idx = np.flatnonzero(bad)
        b2, p2 = random_genomes(rng, len(idx), (B, U), problem.group_ids)
        problem.legalize(p2)
        bits[idx], place[idx] = b2, p2
        bad[idx] = ~problem.fits(p2)
    if bad.any():
        if not len(pool):
            raise XcompassError(
                "no mapping fits the target's memory: no standard strategy fits and random "
                "mappings do not either"
            )
        idx = np.flatnonzero(bad)
        src = pool.take(rng.integers(0, len(pool), len(idx)))
        fallback = (src.bits, src.place)

        def make(sub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            b, p = mutate(rng, src.bits[sub], src.place[sub], problem.group_ids, 0.0)
            return b, problem.legalize(p)

        b2, p2, _ = feasible_offspring(make, problem.fits, fallback)
        bits[idx], place[idx] = b2, p2
    return bits, place


class GeneticSearch:
    """Compass's GA on a `SearchProblem`, scored by `objective` (not `pareto`)."""

    method = "ga"

    def __init__(
        self,
        problem: SearchProblem,
        objective: str = "edp",
        config: GAConfig | None = None,
        pool: SeedPool | None = None,
    ) -> None:
        self.problem = problem
        self.objective = objective
        self.config = config or GAConfig()
        self.pool = pool if pool is not None else SeedPool.build(problem, objective)
        c = self.config
        if c.population < 2:
            raise XcompassError(f"population={c.population}: must be at least 2")
        if c.generations < 1:
            raise XcompassError(f"generations={c.generations}: must be at least 1")
        self._screen = None
        if c.fidelity < 1.0 and problem.serving is not None:
            raise XcompassError(
                f"fidelity={c.fidelity}: a serving objective has no screening model; use fidelity=1"
            )

    @property
    def screen(self):  # noqa: ANN201
        """The screening model on the problem's training batches (built on first use)."""
        if self._screen is None:
            from xcompass.search.screen import Screen

            self._screen = Screen(self.problem.train)
        return self._screen

    def start(self) -> GAState:
        """Generation 0: every seed, then random genomes up to the population size."""
        c, clock = self.config, Clock()
        rng = np.random.default_rng(c.seed)
        seeds = self.pool.scored
        n_fill = max(c.population - len(seeds), 0)
        bits, place = fill_random(self.problem, rng, n_fill, seeds)
        filled, spent = evaluate(self.problem, self.objective, bits, place)
        everyone = Scored.concat([seeds, filled])
        order = np.argsort(everyone.score, kind="stable")[: c.population]
        population = everyone.take(order)
        best = population.best()
        evaluations = self.pool.evaluations + spent
        return GAState(
            1,
            evaluations,
            population,
            best,
            rng.bit_generator.state,
            [(evaluations, float(best.score[0]))],
            self.pool.wall_s + clock.elapsed,
        )

    def can_step(self, state: GAState) -> bool:
        c = self.config
        children = len(state.population) - c.elite
        return state.generation < c.generations and (state.evaluations + children <= c.total_budget)

    def step(self, state: GAState) -> GAState:
        """One generation: elite kept, the rest bred, scored and put in place."""
        c, problem = self.config, self.problem
        clock = Clock(state.wall_s)
        rng = np.random.default_rng()
        rng.bit_generator.state = state.rng_state
        pop = state.population
        progress = state.generation / c.generations
        n = len(pop) - c.elite
        m = bred(n, c.fidelity)
        a = tournament(rng, pop.score, m, c.tournament)
        b = tournament(rng, pop.score, m, c.tournament)
        better = np.where(pop.score[a] <= pop.score[b], a, b)
        fallback = (pop.bits[better], pop.place[better])

        def make(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            ia, ib = a[idx], b[idx]
            cb, cp = crossover(rng, pop.bits[ia], pop.place[ia], pop.bits[ib], pop.place[ib])
            mb, mp = mutate(rng, cb, cp, problem.group_ids, progress, c.rates)
            return mb, problem.legalize(mp)

        bits, place, fell = feasible_offspring(make, problem.fits, fallback, c.repair_tries)
        fits = ~fell  # what feasible_offspring checked; a fallback parent is checked again
        if fell.any():
            fits[fell] = problem.fits(place[fell])
        stats = state.screen
        if m > n:  # screen every candidate, the engine re-costs the n best of them
            screened = score(self.objective, self.screen(bits, place), problem.tokens)
            pick = np.argsort(screened, kind="stable")[:n]
            bits, place, fits = bits[pick], place[pick], fits[pick]
        children, spent = evaluate(problem, self.objective, bits, place, fits)
        if m > n:
            stats = stats or ScreenStats(c.fidelity)
            stats.screened += m
            stats.taus.append(kendall_tau(screened[pick], children.score))
        elite = pop.take(np.argsort(pop.score, kind="stable")[: c.elite])
        population = Scored.concat([elite, children])
        best = state.best
        challenger = children.best()
        if challenger.score[0] < best.score[0]:
            best = challenger
        evaluations = state.evaluations + spent
        history = [*state.history, (evaluations, float(best.score[0]))]
        return GAState(
            state.generation + 1,
            evaluations,
            population,
            best,
            rng.bit_generator.state,
            history,
            clock.elapsed,
            stats,
        )

    def run(
        self, state: GAState | None = None, progress: ProgressCallback | None = None
    ) -> tuple[SearchResult, GAState]:
        """Run (or continue `state`) until the generations or the budget are spent, or
        `progress` returns True. Returns the result and the final checkpoint."""
        state = state or self.start()
        self._report(state, progress)
        while self.can_step(state):
            state = self.step(state)
            if self._report(state, progress):
                break
        result = SearchResult(
            self.method, state.best, state.evaluations, state.wall_s, list(state.history)
        )
        if state.screen is not None:
            result.stats["screen"] = state.screen.as_dict()
        return result, state

    def _report(self, state: GAState, progress: ProgressCallback | None) -> bool:
        if progress is None:
            return False
        best = state.best
        return bool(
            progress(
                Progress(
                    self.method,
                    state.generation,
                    self.config.generations,
                    state.evaluations,
                    self.config.total_budget,
                    float(best.score[0]),
                    float(best.latency_s[0]),
                    float(best.energy_j[0]),
                    state.wall_s,
                )
            )
        )
