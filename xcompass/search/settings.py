"""What decides a study's result besides the problem: `SearchSettings` (a checkpoint's header
holds them) and the search's knobs below a layer (`below_layer`: multi-fidelity, the
coarse-to-fine chain, the memetic local search), with their defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from xcompass.errors import XcompassError
from xcompass.search import registry
from xcompass.search.coarse import check_chain
from xcompass.search.fidelity import check_fidelity, check_share
from xcompass.search.ga import GAConfig
from xcompass.search.objectives import OBJECTIVES

BASELINES = registry.baselines()
"""The baselines registered at import (`registry.baselines()` for those added later)."""
DEFAULT_POPULATION = 100
DEFAULT_GENERATIONS = 60
DEFAULT_CHECKPOINT_EVERY = 10


@dataclass(frozen=True)
class SearchSettings:
    """What decides the search's result besides the problem (all of it goes into a
    checkpoint's header: a checkpoint resumes only under the same settings)."""

    objective: str = "edp"
    population: int = DEFAULT_POPULATION
    generations: int = DEFAULT_GENERATIONS
    budget: int = 0  # 0: population x generations
    seed: int = 0
    baselines: tuple[str, ...] = BASELINES
    # below a layer (None: the granularity's default, `BELOW_LAYER`; at layer: off)
    fidelity: float | None = None  # fraction of bred candidates the engine re-costs
    coarse: tuple[str, ...] | None = None  # coarse-to-fine chain, e.g. ("layer", "group")
    local: float | None = None  # share of the budget for the memetic local search

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise XcompassError(
                f"unknown objective '{self.objective}' (valid: {', '.join(OBJECTIVES)})"
            )
        registry.check_baselines(self.baselines)
        if self.fidelity is not None:
            check_fidelity(self.fidelity)
        if self.coarse is not None:
            object.__setattr__(self, "coarse", check_chain(self.coarse))
        if self.local is not None:
            check_share(self.local)

    @property
    def scalar(self) -> str:
        return "edp" if self.objective == "pareto" else self.objective

    def config(self, granularity: str = "layer", serving: bool = False) -> GAConfig:
        """The GA's settings; below a layer, the multi-fidelity knobs' defaults apply (not
        for a serving objective, which has no screen)."""
        knobs = below_layer("layer" if serving else granularity, self.fidelity, self.coarse,
                            self.local)  # fmt: skip
        return GAConfig(self.population, self.generations, self.budget or None, self.seed, **knobs)

    def as_dict(self) -> dict:
        """Plain data (the knobs below a layer only where set: older checkpoints match)."""
        out = asdict(self)
        out["baselines"] = ",".join(self.baselines)
        for key in ("fidelity", "coarse", "local"):
            if out[key] is None:
                del out[key]
        if "coarse" in out:
            out["coarse"] = ",".join(out["coarse"])
        return out


BELOW_LAYER = {"fidelity": 0.25, "local": 0.75}
"""Defaults of the multi-fidelity knobs at granularity group and tile (chain: every coarser
granularity); at layer every knob is off (Compass's GA)."""


def below_layer(
    granularity: str,
    fidelity: float | None = None,
    coarse: tuple[str, ...] | None = None,
    local: float | None = None,
) -> dict[str, Any]:
    """The GA's knobs for a granularity: what is given, else the granularity's default."""
    from xcompass.names import GRANULARITIES

    fine = granularity != "layer"
    chain = GRANULARITIES[: GRANULARITIES.index(granularity)] if fine else ()
    coarse = tuple(coarse) if coarse is not None else chain
    check_chain(coarse, granularity)
    return {
        "fidelity": fidelity
        if fidelity is not None
        else (BELOW_LAYER["fidelity"] if fine else 1.0),
        "local": local if local is not None else (BELOW_LAYER["local"] if fine else 0.0),
        "coarse": coarse,
        "structured": fine,
    }
