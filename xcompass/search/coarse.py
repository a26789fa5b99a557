"""Coarse to fine: a search below a layer starts from the best of fast searches at coarser
granularities (layer, then group), each expanded to the next one's units.

A stage is a small GA on the problem rebuilt at the stage's granularity (the same model,
request batch, target, lowering and TP options; its units are a handful per micro-batch, so it
costs a fraction of one fine evaluation each), seeded with the previous stage's best expanded to
its units. Every stage's best, expanded to the fine units, joins the standard strategies in the
fine search's seed pool, where the exact engine scores it; the fine search keeps its best seed
(elitism), so it never returns worse than its coarse seed. `stages` says what each contributed.

Expansion (`refine`): a fine unit goes where the coarse unit holding it went (a layer holds its
kernels, a kernel its tiles), a fine segment starts where the coarse segment of its unit changes,
and a placement a fine unit cannot take (a TP group over a one-head tile) is repaired as the
search repairs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xcompass.engine.mapping import Mapping
from xcompass.errors import XcompassError
from xcompass.names import GRANULARITIES
from xcompass.search.problem import SearchProblem, build_problem
from xcompass.search.seeds import Seed


def check_chain(
    chain: tuple[str, ...] | list[str], fine: str | None = None, name: str = "coarse"
) -> tuple[str, ...]:
    """A chain must name granularities from coarse to fine, each coarser than `fine`."""
    chain = tuple(chain)
    flag = f"{name} {','.join(chain)}" if name.startswith("--") else f"{name}={','.join(chain)}"
    for g in chain:
        if g not in GRANULARITIES:
            raise XcompassError(
                f"{flag}: unknown granularity '{g}' (valid, coarse to fine: "
                f"{', '.join(GRANULARITIES)})"
            )
    ranks = [GRANULARITIES.index(g) for g in chain]
    if fine is not None:
        ranks.append(GRANULARITIES.index(fine))
    if any(b <= a for a, b in zip(ranks, ranks[1:], strict=False)):
        full = ",".join([*chain, fine] if fine is not None else chain)
        raise XcompassError(
            f"{flag}: the chain {full} does not go from coarse to fine "
            f"(order: {', '.join(GRANULARITIES)})"
        )
    return chain


def coarse_of(fine: SearchProblem, granularity: str) -> SearchProblem:
    """`fine` rebuilt at a coarser granularity (its own request batch, the IR's)."""
    tiles = None
    if granularity == "tile":
        tiles = {k: v for k, v in fine.tiles.items() if k != "slots"} or None
    return build_problem(
        fine.model,
        fine.workload,
        fine.target,
        units=fine.layers,
        layer_costing=fine.layer_costing,
        whole_model=fine.whole_model,
        mode=fine.mode,
        tp_options=fine.groups.tp_options,
        granularity=granularity,
        tiles=tiles,
    )


def unit_owner(coarse: SearchProblem, fine: SearchProblem) -> np.ndarray:
    """[U fine]: the coarse unit holding each fine unit."""
    fu = fine.unit_graph
    if coarse.unit_graph is None:  # layers
        return fu.layer.astype(np.int64)
    cu = coarse.unit_graph
    ck = coarse.train[0].ut.kernel
    fk = fine.train[0].ut.kernel
    where = {(int(cu.layer[u]), int(ck[cu.row[u]])): u for u in range(cu.count)}
    try:
        return np.array(
            [where[(int(fu.layer[u]), int(fk[fu.row[u]]))] for u in range(fu.count)],
            dtype=np.int64,
        )
    except KeyError:
        raise XcompassError(
            f"coarse to fine: a {fine.granularity} unit's kernel is no {coarse.granularity} "
            "unit (the two problems were lowered differently)"
        ) from None


def refine(mapping: Mapping, owner: np.ndarray, fine: SearchProblem) -> Mapping:
    """A coarse mapping on the fine units (see the module docstring)."""
    seg = np.r_[0, np.cumsum(np.asarray(mapping.boundaries, dtype=np.int64))]
    fseg = seg[owner]
    bits = fseg[1:] != fseg[:-1]
    place = np.ascontiguousarray(mapping.place[:, owner], dtype=np.int64)
    return Mapping(bits.astype(bool), fine.legalize(place[None])[0])


@dataclass
class Stage:
    """One coarse stage: its granularity, its best score there, its spend."""

    granularity: str
    score: float
    evaluations: int
    wall_s: float
    mapping: Mapping

    def as_dict(self) -> dict[str, Any]:
        return {
            "granularity": self.granularity,
            "score_at_stage": self.score,
            "evaluations": self.evaluations,
            "wall_s": self.wall_s,
        }


def coarse_seeds(
    fine: SearchProblem,
    objective: str,
    chain: tuple[str, ...],
    population: int = 24,
    generations: int = 12,
    seed: int = 0,
) -> tuple[list[Seed], list[Stage]]:
    """Run the chain; each stage's best expanded to the fine units, and the stages."""
    from xcompass.search.ga import GAConfig, GeneticSearch
    from xcompass.search.population import SeedPool
    from xcompass.search.structure import structured_seeds

    chain = check_chain(chain, fine.granularity)
    seeds: list[Seed] = []
    stages: list[Stage] = []
    previous: tuple[SearchProblem, Mapping] | None = None
    for granularity in chain:
        problem = coarse_of(fine, granularity)
        extra = structured_seeds(problem)
        if previous is not None:
            carried = refine(previous[1], unit_owner(previous[0], problem), problem)
            extra.insert(0, Seed(f"coarse {previous[0].granularity}", carried))
        extra = [s for s in extra if problem.fits(s.mapping.place[None])[0]]
        pool = SeedPool.build(problem, objective, extra)
        config = GAConfig(population, generations, seed=seed)
        result, _ = GeneticSearch(problem, objective, config, pool).run()
        best = result.best.mapping()
        stages.append(
            Stage(granularity, float(result.best.score[0]), result.evaluations, result.wall_s, best)
        )
        seeds.append(Seed(f"coarse {granularity}", refine(best, unit_owner(problem, fine), fine)))
        previous = (problem, best)
    return seeds, stages


def fine_pool(problem: SearchProblem, objective: str, pool: Any, config: Any) -> tuple[Any, dict]:
    """The GA's seed pool below a layer: the study's pool plus the unit pipelines (when
    `config.structured`) and the coarse chain's bests, scored exactly here (their evaluations
    count against the GA's budget); and a report of what each stage contributed."""
    from xcompass.search.population import Scored as _Scored
    from xcompass.search.population import SeedPool, evaluate
    from xcompass.search.structure import structured_seeds

    extra: list[Seed] = structured_seeds(problem) if config.structured else []
    stages: list[Stage] = []
    if config.coarse:
        coarse, stages = coarse_seeds(problem, objective, config.coarse, seed=config.seed)
        extra = coarse + extra
    if not extra:
        return pool, {}
    bits = np.stack([s.mapping.boundaries.astype(bool) for s in extra])
    place = np.stack([s.mapping.place.astype(np.int64) for s in extra])
    scored, spent = evaluate(problem, objective, bits, place)
    keep = np.flatnonzero(np.isfinite(scored.score))
    names = [*pool.names, *(extra[i].name for i in keep)]
    merged = SeedPool(
        names,
        _Scored.concat([pool.scored, scored.take(keep)]),
        pool.evaluations + spent,
        pool.wall_s + sum(st.wall_s for st in stages),
    )
    best_std = float(pool.scored.score.min()) if len(pool) else float("inf")
    by_name = dict(zip([extra[i].name for i in keep], scored.score[keep].tolist(), strict=True))
    report = {
        "best_standard": best_std,
        "stages": [
            {**st.as_dict(), "score_fine": by_name.get(f"coarse {st.granularity}")} for st in stages
        ],
        "structured_best": min(
            (v for k, v in by_name.items() if not k.startswith("coarse")), default=None
        ),
        "seeds_added": len(keep),
    }
    return merged, report
