"""The search methods a study runs, one line each.

Adding a method is one file with a class that has `start(run) -> Handle` (see
`xcompass.search.method`) and one line below: its name (the key in reports and IR), its role
(the searched method, a baseline on the searched method's budget, or the bound), its label in
the results table, which objectives it serves (searched methods), and where the class lives.
The study, `map-autotune`, `xcompass explore` and the report pick it up from here. Classes
load on first use, so reading the registry (option checks, help texts) stays cheap and
pymoo loads only for NSGA-II.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from xcompass.errors import XcompassError
from xcompass.search.method import BASELINE, BOUND, SEARCH
from xcompass.search.objectives import OBJECTIVES

SCALAR = tuple(o for o in OBJECTIVES if o != "pareto")


@dataclass(frozen=True)
class Entry:
    name: str
    role: str
    label: str
    where: str  # "module:Class"
    objectives: tuple[str, ...] = OBJECTIVES
    spends: bool = True  # spends evaluations of its own (False: reads the shared seed pool)

    def load(self) -> Any:
        """A fresh instance of the method's class."""
        module, cls = self.where.split(":")
        return getattr(import_module(module), cls)()


REGISTRY: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("ga", SEARCH, "GA", "xcompass.search.ga_method:GAMethod", SCALAR),
        Entry("nsga2", SEARCH, "NSGA-II", "xcompass.search.pareto:NSGA2Method", ("pareto",)),
        Entry("sa", BASELINE, "simulated annealing", "xcompass.search.baselines:Annealing"),
        Entry("random", BASELINE, "random search", "xcompass.search.baselines:RandomSearch"),
        Entry(
            "standard",
            BASELINE,
            "best standard",
            "xcompass.search.baselines:BestStandard",
            spends=False,
        ),
        Entry("bound", BOUND, "lower bound", "xcompass.search.bounds:Bound"),
    )
}


def register(entry: Entry) -> None:
    """Add a method at run time (a plug-in, a test); the name must be new."""
    if entry.name in REGISTRY:
        raise XcompassError(f"search method '{entry.name}' is already registered")
    REGISTRY[entry.name] = entry


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)


def baselines() -> tuple[str, ...]:
    """Every baseline's name, in the order the study runs them and the table lists them."""
    return tuple(e.name for e in REGISTRY.values() if e.role == BASELINE)


def free_baselines() -> tuple[str, ...]:
    """The baselines that cost no evaluations of their own (what `baselines=false` keeps)."""
    return tuple(e.name for e in REGISTRY.values() if e.role == BASELINE and not e.spends)


def spends(name: str) -> bool:
    """Whether method `name` spends a budget of evaluations (unknown names: yes)."""
    entry = REGISTRY.get(name)
    return entry.spends if entry is not None else True


def searched_for(objective: str) -> Entry:
    """The searched method for `objective` (the first registered that serves it)."""
    for e in REGISTRY.values():
        if e.role == SEARCH and objective in e.objectives:
            return e
    raise XcompassError(f"no search method serves objective '{objective}'")


def bound() -> Entry:
    return next(e for e in REGISTRY.values() if e.role == BOUND)


def label(name: str) -> str:
    entry = REGISTRY.get(name)
    return entry.label if entry is not None else name


def check_baselines(names: tuple[str, ...] | list[str]) -> None:
    """One line naming the first unknown baseline and the valid ones."""
    valid = baselines()
    for name in names:
        if name not in valid:
            raise XcompassError(f"unknown baseline '{name}' (valid: {', '.join(valid)})")
