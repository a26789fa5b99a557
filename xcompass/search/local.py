"""The memetic step: a screened local search around one mapping.

Each round draws `width` neighbours of the current mapping, each by one move (a structure-aware
move of `xcompass.search.structure` or one of Compass's operators alone), screens them all, and
the exact engine re-costs the `recost` best by the screen; the best exact neighbour replaces the
current mapping when it is better. Every figure that decides is the engine's, so the result is
never worse than the start. It counts, per move, the rounds it won, so an ablation can say which
moves pay, and (`adapt`) so the climb can draw the moves that have paid more often: on Compass's
tile scenario a few moves win most rounds and several almost none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xcompass.search.evaluation import score
from xcompass.search.fidelity import kendall_tau
from xcompass.search.operators import PLACEMENT_MUTATIONS, mutate, only
from xcompass.search.population import Scored, evaluate
from xcompass.search.problem import SearchProblem
from xcompass.search.structure import MOVES, Structure

COMPASS_MOVES = ("bit_flip", "boundary_shift", *PLACEMENT_MUTATIONS)
ALL_MOVES = (*MOVES, *COMPASS_MOVES)


@dataclass
class LocalReport:
    """What a local search did: exact evaluations, screens, rounds, per-move wins, taus."""

    evaluations: int = 0
    screened: int = 0
    rounds: int = 0
    wins: dict[str, int] = field(default_factory=dict)
    taus: list[float] = field(default_factory=list)
    trace: list[tuple[float, int, float]] = field(default_factory=list)  # (CPU s, evals, best)
    kicks: int = 0  # iterated local search: jumps out of a local optimum
    gated: int = 0  # rounds the screen judged no better than the current mapping


def neighbours(
    problem: SearchProblem,
    structure: Structure,
    rng: np.random.Generator,
    current: Scored,
    n: int,
    moves: tuple[str, ...],
    odds: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n neighbours of the first genome of `current` that fit in memory, each one move away
    (drawn uniformly, or in proportion to `odds`); returns bits, place and the index of the
    move that made each."""
    if odds is None:
        which = rng.integers(0, len(moves), n)
    else:
        which = rng.choice(len(moves), n, p=odds / odds.sum())
    bits = np.repeat(current.bits[:1], n, axis=0)
    place = np.repeat(current.place[:1], n, axis=0)
    bits, place = _apply(problem, structure, rng, bits, place, which, moves)
    ok = problem.fits(place)
    return bits[ok], place[ok], which[ok]


def _apply(problem, structure, rng, bits, place, which, moves):  # noqa: ANN001, ANN202
    """Genome i moved by `moves[which[i]]` (in place of the copies given)."""
    for k, name in enumerate(moves):
        idx = np.flatnonzero(which == k)
        if not len(idx):
            continue
        if name in MOVES:
            b, p = structure.apply(name, rng, bits[idx], place[idx])
        else:
            rates, probs = only(name)
            b, p = mutate(rng, bits[idx], place[idx], problem.group_ids, 0.0, rates, probs)
            problem.legalize(p)
        bits[idx], place[idx] = b, p
    return bits, place


def kicked(
    problem: SearchProblem,
    structure: Structure,
    rng: np.random.Generator,
    best: Scored,
    moves: tuple[str, ...],
    steps: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """`best` after `steps` random moves in a row (a jump out of a local optimum), or None
    when it does not fit in memory."""
    bits, place = best.bits[:1].copy(), best.place[:1].copy()
    for _ in range(steps):
        bits, place = _apply(problem, structure, rng, bits, place,
                             rng.integers(0, len(moves), 1), moves)  # fmt: skip
    return (bits, place) if problem.fits(place)[0] else None


def _as(scored: Scored, place: np.ndarray) -> Scored:
    """`scored` (one individual) with the genome `place` in place of the mapping it costs."""
    return Scored(scored.bits, place, scored.evaluation, scored.score)


def local_search(
    problem: SearchProblem,
    objective: str,
    start: Scored,
    budget: int,
    seed: int = 0,
    width: int = 16,
    recost: int = 1,
    moves: tuple[str, ...] = ALL_MOVES,
    structure: Structure | None = None,
    screen=None,  # noqa: ANN001
    patience: int = 40,
    widen: int = 4,
    cpu_limit_s: float | None = None,
    kick: int = 0,
    critical: bool = False,
    gate: bool = False,
    fit: bool = False,
    adapt: bool = False,
) -> tuple[Scored, LocalReport]:
    """Improve `start` (exactly scored) spending at most `budget` exact evaluations (and,
    for benchmarks that compare at equal time, at most `cpu_limit_s` of this process's CPU
    time). With `recost >= width` nothing is screened: every neighbour is re-costed.

    `kick` > 0 makes it an iterated local search: once the widest round has gone `patience`
    rounds without a gain, the search jumps to the best found after `kick` random moves
    and climbs again from there (the best is kept; it only ever decides the result).

    With `gate`, a round whose best screened neighbour screens no better than the current
    mapping spends no exact evaluation: it counts as a round without a gain.

    With `fit`, the moves change a genome but what is screened, costed and returned is the
    genome `Structure.fitted` (every node whose weights do not fit its group's SRAM widened
    until they do): the search walks the genomes' neighbourhoods, the figures are the fitted
    mappings' (the start's own figures stay a candidate).

    With `adapt`, moves are drawn in proportion to their success so far, (wins + 1) /
    (neighbours made + len(moves)), instead of uniformly (adaptive operator selection)."""
    import time

    from xcompass.search.screen import Screen

    structure = structure or Structure(problem)
    screen = screen or Screen(problem.train)
    rng = np.random.default_rng([seed, 7])

    def decoded(place: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The mappings genomes `place` stand for, and which of them fit in memory (the
        genomes themselves, already checked, without `fit`)."""
        if not fit:
            return place, np.ones(len(place), dtype=bool)
        out = structure.fitted(place)
        return out, problem.fits(out)

    best = start.take([int(np.argmin(start.score))])
    report = LocalReport(wins=dict.fromkeys(moves, 0))
    current = genome = best_genome = best  # genome: what the moves change; current: its figures
    if fit:  # climb from the fitted start; the start itself stays a candidate
        phen, ok = decoded(best.place)
        if ok[0] and not np.array_equal(phen, best.place) and budget >= 1:
            current, spent = evaluate(problem, objective, best.bits, phen)
            report.evaluations += spent
            genome = _as(current, best.place)
            if current.score[0] < best.score[0]:
                best, best_genome = current, genome
    stale, fails, narrow, widest = 0, 0, width, widen * width
    t0 = time.process_time()
    near = None  # the screen around the current mapping (`Screen.around`)
    in_a_row = 0  # gated rounds since the last exact evaluation: the gate never stalls a search
    tries = np.zeros(len(moves))
    while report.evaluations + recost <= budget and fails < 1000:
        if cpu_limit_s is not None and time.process_time() - t0 > cpu_limit_s:
            break
        odds = None
        if adapt:
            won_by = np.array([report.wins[m] for m in moves], dtype=float)
            odds = (won_by + 1.0) / (tries + len(moves))
        bits, place, which = neighbours(problem, structure, rng, genome, width, moves, odds)
        if adapt:
            tries += np.bincount(which, minlength=len(moves))
        moved = place  # the genomes; `place`: the mappings they stand for
        if fit and len(place):
            place, ok = decoded(place)
            bits, place, moved, which = bits[ok], place[ok], moved[ok], which[ok]
        if not len(place):
            fails += 1
            continue
        gated = False
        if recost < len(place):
            if near is None:  # the neighbours of `current` are screened from where they differ
                near = screen.around(current.bits, current.place)
            screened = score(objective, near(bits, place), problem.tokens)
            pick = np.argsort(screened, kind="stable")[:recost]
            report.screened += len(place)
            here = score(objective, near.base, problem.tokens)[0]
            gated = gate and screened[pick[0]] >= here and in_a_row < 4 * patience
        else:
            pick = np.arange(len(place))
        won = False
        if gated:  # the screen sees no gain: no exact evaluation this round
            report.gated += 1
            in_a_row += 1
        else:
            cand, spent = evaluate(problem, objective, bits[pick], place[pick])
            report.evaluations += spent
            report.rounds += 1
            in_a_row = 0
            if recost < len(place):
                report.taus.append(kendall_tau(screened[pick], cand.score))
            i = int(np.argmin(cand.score))
            won = bool(cand.score[i] < current.score[0])
        if won:
            current, near = cand.take([i]), None
            genome = _as(current, moved[pick[i]][None])
            report.wins[moves[int(which[pick[i]])]] += 1
            stale = 0
            if current.score[0] < best.score[0]:
                best, best_genome = current, genome
                report.trace.append((time.process_time() - t0, report.evaluations, best.score[0]))
            continue
        stale += 1
        if stale >= patience and kick and width >= widest:  # stuck: jump and climb again
            if critical:  # aimed at the engine's critical path
                jb, jp = structure.critical_kick(rng, best.bits[:1], best.place[:1], kick)
                jump = (jb, jp) if problem.fits(jp)[0] else None
            else:
                jump = kicked(problem, structure, rng, best_genome, moves, kick)
            if jump is not None:
                moved, (phen, ok) = jump[1], decoded(jump[1])
                jump = (jump[0], phen) if ok[0] else None
            if jump is not None and report.evaluations + 1 <= budget:
                current, spent = evaluate(problem, objective, *jump)
                genome = _as(current, moved)
                near = None
                report.evaluations += spent
                report.kicks += 1
            width, stale = narrow, 0
        elif stale >= patience:  # a local optimum for this width: look wider
            width, stale = min(2 * width, widest), 0
    return best, report
