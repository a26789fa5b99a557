"""`objective=pareto`: a latency-energy front from pymoo's NSGA-II, run with our genome's
operators (Compass's crossover and mutations, memory repair), our seeds in generation 0 and
one vectorized engine call per generation.

pymoo sees a genome as one integer vector: the U-1 segmentation bits, then place[B, U] row by
row. The front returned is the non-dominated set of *every* individual evaluated (an archive
kept during the run, seeds included), so a point NSGA-II's survival dropped is never lost.
"""

from __future__ import annotations

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.callback import Callback
from pymoo.core.crossover import Crossover
from pymoo.core.duplicate import DuplicateElimination
from pymoo.core.mutation import Mutation
from pymoo.core.problem import Problem
from pymoo.core.sampling import Sampling
from pymoo.optimize import minimize
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from xcompass.search.ga import GAConfig, fill_random
from xcompass.search.method import Done, Run
from xcompass.search.operators import crossover, feasible_offspring, mutate
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

_INFEASIBLE = 1e300  # pymoo needs finite objectives; the constraint marks these anyway


def encode(bits: np.ndarray, place: np.ndarray) -> np.ndarray:
    """[P, U-1 + B*U] integer vectors."""
    P, B, U = place.shape
    return np.concatenate([bits.astype(np.int64), place.reshape(P, B * U)], axis=1)


def decode(x: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    B, U = shape
    x = np.asarray(x, dtype=np.int64)
    return x[:, : U - 1].astype(bool), np.ascontiguousarray(x[:, U - 1 :]).reshape(-1, B, U)


def non_dominated(front: Scored) -> Scored:
    """The individuals no other beats on both mean latency and mean energy (one per point),
    sorted by latency."""
    if len(front) == 0:
        return front
    F = np.stack([front.latency_s, front.energy_j], axis=1)
    keep = NonDominatedSorting().do(F, only_non_dominated_front=True)
    keep = np.asarray(keep, dtype=np.int64)
    _, first = np.unique(F[keep], axis=0, return_index=True)
    keep = keep[np.sort(first)]
    return front.take(keep[np.argsort(front.latency_s[keep], kind="stable")])


class _MappingProblem(Problem):
    """Vectorized: one `evaluate` (one engine call per request batch) per generation."""

    def __init__(self, search: SearchProblem, pool: SeedPool) -> None:
        B, U = search.shape
        super().__init__(
            n_var=U - 1 + B * U,
            n_obj=2,
            n_ieq_constr=1,
            xl=0,
            xu=max(len(search.group_ids) - 1, 1),
            vtype=int,
        )
        self.search = search
        self.evaluations = pool.evaluations
        self.known = {bytes(x.tobytes()): i for i, x in enumerate(encode(*_genomes(pool.scored)))}
        self.pool = pool
        self.archive = non_dominated(pool.scored)

    def _evaluate(self, X, out, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        X = np.asarray(X, dtype=np.int64)
        P = len(X)
        K = len(self.search.train)
        lat, energy = np.full((K, P), np.inf), np.full((K, P), np.inf)
        keys = [bytes(x.tobytes()) for x in X]
        fresh = np.array([k not in self.known for k in keys], dtype=bool)
        for i in np.flatnonzero(~fresh):
            j = self.known[keys[i]]
            lat[:, i] = self.pool.scored.evaluation.latency_s[:, j]
            energy[:, i] = self.pool.scored.evaluation.energy_j[:, j]
        bits, place = decode(X, self.search.shape)
        if fresh.any():
            scored, spent = evaluate(self.search, "edp", bits[fresh], place[fresh])
            self.evaluations += spent
            lat[:, fresh] = scored.evaluation.latency_s
            energy[:, fresh] = scored.evaluation.energy_j
            ok = np.isfinite(scored.score)
            batch = scored.take(np.flatnonzero(ok))
            self.archive = non_dominated(Scored.concat([self.archive, batch]))
        load = self.search.load(place)
        mean_lat, mean_e = lat.mean(axis=0), energy.mean(axis=0)
        bad = ~np.isfinite(mean_lat)
        out["F"] = np.stack(
            [np.where(bad, _INFEASIBLE, mean_lat), np.where(bad, _INFEASIBLE, mean_e)], axis=1
        )
        out["G"] = (load - 1.0)[:, None]


def _genomes(scored: Scored) -> tuple[np.ndarray, np.ndarray]:
    return scored.bits, scored.place


class _SeedSampling(Sampling):
    """Generation 0: every seed, then random feasible genomes up to the population size."""

    def __init__(self, pool: SeedPool) -> None:
        super().__init__()
        self.pool = pool

    def _do(self, problem, n_samples, *args, random_state=None, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seeds = self.pool.scored
        n_fill = max(n_samples - len(seeds), 0)
        bits, place = fill_random(problem.search, random_state, n_fill, seeds)
        return np.concatenate([encode(seeds.bits, seeds.place), encode(bits, place)])


class _CompassCrossover(Crossover):
    """Compass's crossover, one child per pair; a child that does not fit is redrawn, then
    falls back to its first parent."""

    def __init__(self) -> None:
        super().__init__(n_parents=2, n_offsprings=1, prob=1.0)

    def _do(self, problem, X, *args, random_state=None, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        search = problem.search
        ba, pa = decode(X[0], search.shape)
        bb, pb = decode(X[1], search.shape)

        def make(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            cb, cp = crossover(random_state, ba[idx], pa[idx], bb[idx], pb[idx])
            return cb, search.legalize(cp)

        bits, place, _ = feasible_offspring(make, search.fits, (ba, pa))
        return encode(bits, place)[None]


class _CompassMutation(Mutation):
    """Compass's mutations with its falling schedule (progress = generation / generations);
    a result that does not fit is redrawn, then left unmutated."""

    def __init__(self, generations: int, config: GAConfig) -> None:
        super().__init__(prob=1.0)
        self.generations = generations
        self.config = config

    def _do(self, problem, X, *args, random_state=None, algorithm=None, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        search = problem.search
        bits, place = decode(X, search.shape)
        generation = algorithm.n_gen if algorithm is not None and algorithm.n_gen else 1
        progress = min((generation - 1) / max(self.generations, 1), 1.0)

        def make(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            mb, mp = mutate(
                random_state, bits[idx], place[idx], search.group_ids, progress, self.config.rates
            )
            return mb, search.legalize(mp)

        b2, p2, _ = feasible_offspring(make, search.fits, (bits, place), self.config.repair_tries)
        return encode(b2, p2)


class _GenomeDuplicates(DuplicateElimination):
    """Exact duplicates by content (pymoo's distance-based check is quadratic in genome
    length and memory)."""

    def _do(self, pop, other, is_duplicate):  # noqa: ANN001, ANN202
        seen = set()
        if other is not None:
            seen.update(np.asarray(o.X, dtype=np.int64).tobytes() for o in other)
        for i, ind in enumerate(pop):
            key = np.asarray(ind.X, dtype=np.int64).tobytes()
            if key in seen:
                is_duplicate[i] = True
            else:
                seen.add(key)
        return is_duplicate


class _Report(Callback):
    def __init__(self, progress: ProgressCallback | None, generations: int, budget: int) -> None:
        super().__init__()
        self.progress, self.generations, self.budget = progress, generations, budget
        self.clock = Clock()
        self.history: list[tuple[int, float]] = []

    def notify(self, algorithm) -> None:  # noqa: ANN001
        problem: _MappingProblem = algorithm.problem
        front = problem.archive
        edp = front.latency_s * front.energy_j
        best = front.take([int(np.argmin(edp))])
        self.history.append((problem.evaluations, float(edp.min())))
        if self.progress is None:
            return
        stop = self.progress(
            Progress(
                "nsga2",
                int(algorithm.n_gen),
                self.generations,
                problem.evaluations,
                self.budget,
                float(edp.min()),
                float(best.latency_s[0]),
                float(best.energy_j[0]),
                self.clock.elapsed,
            )
        )
        if stop:
            algorithm.termination.force_termination = True


def pareto_search(
    problem: SearchProblem,
    config: GAConfig,
    pool: SeedPool,
    progress: ProgressCallback | None = None,
) -> SearchResult:
    """NSGA-II on (mean latency, mean energy) within `config`'s budget. The result's `best` is
    the front's lowest-EDP point, `front` the whole front sorted by latency."""
    clock = Clock(pool.wall_s)
    budget = config.total_budget
    first = max(config.population, len(pool))
    generations = min(config.generations, 1 + max(budget - first, 0) // config.population)
    mproblem = _MappingProblem(problem, pool)
    algorithm = NSGA2(
        pop_size=config.population,
        sampling=_SeedSampling(pool),
        crossover=_CompassCrossover(),
        mutation=_CompassMutation(generations, config),
        eliminate_duplicates=_GenomeDuplicates(),
    )
    report = _Report(progress, generations, budget)
    minimize(
        mproblem,
        algorithm,
        termination=("n_gen", generations),
        seed=config.seed,
        callback=report,
        verbose=False,
        copy_algorithm=False,
    )
    front = mproblem.archive
    edp = front.latency_s * front.energy_j
    best = front.take([int(np.argmin(edp))])
    best.score = edp[[int(np.argmin(edp))]]
    front.score = edp
    return SearchResult(
        "nsga2", best, mproblem.evaluations, clock.elapsed, report.history, front=front
    )


class NSGA2Method:
    """NSGA-II as the study's searched method for `objective=pareto` (not resumable)."""

    def start(self, run: Run) -> Done:
        return Done(pareto_search(run.problem, run.config, run.pool, run.progress))
