"""What a search method is to the study: one class with `start(run) -> Handle`.

A method gets a `Run` (the problem, the objective, the GA's settings, the shared seed pool, the
evaluations it may spend, a progress callback, the backend and the study's resumable state) and
returns a handle whose `result()` is its `SearchResult` (the bound's: a `LowerBound`). Most
methods compute in `start` and return `Done`; one that runs on a worker returns the backend's
handle, and the study collects it after the methods that run here. `xcompass.search.registry`
lists the methods; `xcompass.search.study.Study` runs them. Nothing here loads the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from xcompass.search.ga import GAConfig, GAState
    from xcompass.search.population import ProgressCallback, SearchResult, SeedPool
    from xcompass.search.problem import SearchProblem

SEARCH = "search"  # the searched method: its spend is every baseline's budget
BASELINE = "baseline"  # a peer run on the searched method's budget
BOUND = "bound"  # no mapping: what no mapping can beat


class Handle(Protocol):
    def result(self) -> Any: ...


class Done:
    """A result already computed in this process."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


class Backend(Protocol):
    """Where evaluations and whole methods run (`xcompass.explore.backends` implements it;
    the study needs only this much)."""

    name: str
    parallel: bool

    def submit(self, problem: SearchProblem, fn: Callable[..., Any], *args: Any) -> Handle: ...

    def beside_task(self, problem: SearchProblem) -> SearchProblem: ...


class InProcess:
    """The default backend: everything in this process."""

    name = "in-process"
    parallel = False

    def submit(self, problem: SearchProblem, fn: Callable[..., Any], *args: Any) -> Handle:
        return Done(fn(problem, *args))

    def beside_task(self, problem: SearchProblem) -> SearchProblem:
        return problem


@dataclass
class StudyState:
    """Where a study stands: the seed pool, the GA's state (None before generation 0, and for
    NSGA-II, which is not resumable), and the methods already finished. A checkpoint
    (`xcompass.explore.checkpoint`) stores and restores exactly these fields."""

    pool: SeedPool | None = None
    ga: GAState | None = None
    results: dict[str, SearchResult] = field(default_factory=dict)


@dataclass
class Run:
    """What a method may use. `budget` is the evaluations a baseline may spend (the searched
    method's spend); a searched method reads its own from `config`."""

    problem: SearchProblem
    objective: str
    config: GAConfig
    pool: SeedPool
    budget: int = 0
    progress: ProgressCallback | None = None
    backend: Backend = field(default_factory=InProcess)
    state: StudyState = field(default_factory=StudyState)
    save: Callable[[], None] = lambda: None
    every: int = 10
    busy: bool = False  # a method runs on a worker: evaluate here with `backend.beside_task`

    @property
    def scalar(self) -> str:
        """The one-number objective (`pareto` compares EDP)."""
        return "edp" if self.objective == "pareto" else self.objective

    @property
    def here(self) -> SearchProblem:
        """The problem to evaluate on in this process while a method runs on a worker."""
        return self.backend.beside_task(self.problem) if self.busy else self.problem

    def with_budget(self, budget: int, busy: bool = False) -> Run:
        return replace(self, budget=budget, busy=busy)


class Method(Protocol):
    """A search method: `start` runs it (or sends it to a worker)."""

    def start(self, run: Run) -> Handle: ...
