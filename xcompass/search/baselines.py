"""The peers the GA must beat on the same evaluation budget: random search (Compass's
`random_run`), simulated annealing (Gemini's method) and the best standard strategy. Every move
and random mapping is repaired like the GA's (`SearchProblem.legalize`) before its memory is
checked.

Simulated annealing follows Gemini (HPCA 2024): one current mapping, a random local move per
step, Metropolis acceptance, geometric cooling. Its moves on our genome:
- flip: toggle one segmentation bit (split or merge two segments);
- move: give one (micro-batch, unit) node another placement group, or with probability 1/2 the
  unit of every micro-batch (a whole layer moves, as Gemini moves a layer between cores);
- swap: exchange the placements of two nodes.
It works on log-cost, so the temperature means the same on every scale: T0 accepts a move 10%
worse with probability 1/2, and T falls geometrically to T0/1000 at the last step. It starts
from the best standard strategy, whose pool evaluations it pays for like the GA.
"""

from __future__ import annotations

import numpy as np

from xcompass.search.archive import Archive, non_dominated
from xcompass.search.method import Done, Handle, Run
from xcompass.search.objectives import maximized
from xcompass.search.operators import random_genomes
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

SA_MOVES = ("flip", "move", "swap")


def _log_cost(objective: str, s: float) -> float:
    """Scale-free cost for the acceptance test (throughput, goodput, capacity are scored
    negative)."""
    if maximized(objective):
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(-np.log(-s)) if s <= 0 else float("inf")
    return np.log(s)


def propose(
    rng: np.random.Generator, bits: np.ndarray, place: np.ndarray, group_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One of Gemini's moves applied to a copy of one genome (bits [U-1], place [B, U])."""
    bits, place = bits.copy(), place.copy()
    B, U = place.shape
    move = SA_MOVES[int(rng.integers(0, 3))]
    if move == "flip" and U > 1:
        i = int(rng.integers(0, U - 1))
        bits[i] = not bits[i]
    elif move == "swap" and B * U > 1:
        (b1, b2), (u1, u2) = rng.integers(0, B, 2), rng.integers(0, U, 2)
        place[b1, u1], place[b2, u2] = place[b2, u2], place[b1, u1]
    else:
        u, g = int(rng.integers(0, U)), group_ids[int(rng.integers(0, len(group_ids)))]
        if rng.random() < 0.5:
            place[int(rng.integers(0, B)), u] = g
        else:
            place[:, u] = g
    return bits, place


def anneal(
    problem: SearchProblem,
    objective: str,
    budget: int,
    seed: int,
    pool: SeedPool,
    progress: ProgressCallback | None = None,
    worse_at_start: float = 0.10,
    cooling_span: float = 1e-3,
    report_every: int = 100,
    front: bool = False,
) -> SearchResult:
    """Simulated annealing from the pool's best mapping until `budget` evaluations are spent
    (the pool's included). Moves that do not fit in memory are redrawn, not evaluated. With
    `front`, the result keeps the latency-energy front of every mapping it evaluated."""
    clock = Clock(pool.wall_s)
    rng = np.random.default_rng([seed, 1])
    current = pool.scored.take([pool.best_index()])
    best = current
    spent = pool.evaluations
    steps = max(budget - spent, 0)
    t0 = np.log(1.0 + worse_at_start) / np.log(2.0)
    alpha = cooling_span ** (1.0 / max(steps, 1))
    temperature = t0
    history = [(spent, float(best.score[0]))]
    cur_cost = _log_cost(objective, float(current.score[0]))
    archive = Archive() if front else None
    if archive is not None:
        archive.add(pool.scored)
    attempts = 0
    while spent < budget and attempts < 20 * max(steps, 1):
        attempts += 1
        bits, place = propose(rng, current.bits[0], current.place[0], problem.group_ids)
        problem.legalize(place)
        if not problem.fits(place[None])[0]:
            continue
        cand, used = evaluate(problem, objective, bits[None], place[None])
        spent += used
        if archive is not None:
            archive.add(cand)
        new_cost = _log_cost(objective, float(cand.score[0]))
        delta = new_cost - cur_cost
        if delta <= 0.0 or rng.random() < np.exp(-delta / temperature):
            current, cur_cost = cand, new_cost
            if cand.score[0] < best.score[0]:
                best = cand
        temperature *= alpha
        if spent % report_every == 0:
            history.append((spent, float(best.score[0])))
            if _report(progress, "sa", spent // report_every, budget, spent, best, clock):
                break
    history.append((spent, float(best.score[0])))
    kept = archive.result() if archive is not None else None
    return SearchResult("sa", best, spent, clock.elapsed, history, front=kept)


def random_search(
    problem: SearchProblem,
    objective: str,
    budget: int,
    seed: int,
    batch: int = 120,
    progress: ProgressCallback | None = None,
    front: bool = False,
) -> SearchResult:
    """Compass's random run: `budget` random mappings (coin-flip boundaries, any group per
    node), scored in batches; those that do not fit are redrawn, not evaluated. When none of
    the mappings drawn fits, the result is `SearchResult.failed` (a row that says so, not an
    error: the other methods' results stand). With `front`, it keeps the latency-energy front
    of every mapping it evaluated."""
    clock = Clock()
    rng = np.random.default_rng([seed, 2])
    best: Scored | None = None
    spent, rounds = 0, 0
    history: list[tuple[int, float]] = []
    archive = Archive() if front else None
    drawn = 0
    while spent < budget and rounds < 20 * (budget // max(batch, 1) + 1):
        rounds += 1
        n = min(batch, budget - spent)
        bits, place = random_genomes(rng, n, problem.shape, problem.group_ids)
        problem.legalize(place)
        ok = problem.fits(place)
        drawn += n
        scored, used = evaluate(problem, objective, bits[ok], place[ok])
        spent += used
        if archive is not None and used:
            archive.add(scored)
        if used and (best is None or scored.score.min() < best.score[0]):
            best = scored.best()
        if best is not None:
            history.append((spent, float(best.score[0])))
            if _report(progress, "random", rounds, budget, spent, best, clock):
                break
    if best is None:
        return SearchResult.failed(
            "random",
            f"none of {drawn:,} random mappings fits in memory",
            problem.shape,
            len(problem.train),
            clock.elapsed,
        )
    kept = archive.result() if archive is not None else None
    return SearchResult("random", best, spent, clock.elapsed, history, front=kept)


def best_standard(pool: SeedPool, front: bool = False) -> SearchResult:
    """The best of the standard strategies (what `llm-partition` offers, tuned); with
    `front`, the latency-energy front of all of them."""
    best = pool.scored.take([pool.best_index()])
    kept = non_dominated(pool.scored) if front else None
    result = SearchResult("standard", best, pool.evaluations, pool.wall_s, front=kept)
    result.history.append((pool.evaluations, float(best.score[0])))
    return result


# --- the baselines as study methods (`xcompass.search.registry`) ----------------------------


def _anneal_task(
    problem: SearchProblem, objective: str, budget: int, seed: int, pool: SeedPool, front: bool
) -> SearchResult:
    """Simulated annealing as a worker runs it (module level, so it pickles)."""
    return anneal(problem, objective, budget, seed, pool, front=front)


class Annealing:
    """Needs a standard strategy to start from; runs on a worker when the backend is
    parallel (while random search runs here)."""

    def start(self, run: Run) -> Handle:
        if not len(run.pool):
            note = "no standard strategy fits in memory to start from"
            return Done(SearchResult.failed("sa", note, run.problem.shape, len(run.problem.train)))
        pareto = run.objective == "pareto"
        if run.backend.parallel:
            args = (run.scalar, run.budget, run.config.seed, run.pool, pareto)
            return run.backend.submit(run.problem, _anneal_task, *args)
        return Done(
            anneal(
                run.problem,
                run.scalar,
                run.budget,
                run.config.seed,
                run.pool,
                run.progress,
                front=pareto,
            )
        )


class RandomSearch:
    def start(self, run: Run) -> Done:
        pareto = run.objective == "pareto"
        return Done(
            random_search(
                run.here,
                run.scalar,
                run.budget,
                run.config.seed,
                run.config.population,
                run.progress,
                front=pareto,
            )
        )


class BestStandard:
    def start(self, run: Run) -> Done:
        if not len(run.pool):
            note = "no standard strategy fits in memory"
            shape, samples = run.problem.shape, len(run.problem.train)
            return Done(SearchResult.failed("standard", note, shape, samples))
        return Done(best_standard(run.pool, front=run.objective == "pareto"))


def _report(
    progress: ProgressCallback | None,
    method: str,
    step: int,
    budget: int,
    spent: int,
    best: Scored,
    clock: Clock,
) -> bool:
    if progress is None:
        return False
    return bool(
        progress(
            Progress(
                method,
                step,
                0,
                spent,
                budget,
                float(best.score[0]),
                float(best.latency_s[0]),
                float(best.energy_j[0]),
                clock.elapsed,
            )
        )
    )
