"""The nested search: NSGA-II over the hardware space outside (objectives: EDP or serving
goodput, money, area), the mapping study inside each design point.

The outer search is pymoo's NSGA-II in ask-and-tell form: each generation's designs are
decoded, constrained (area, power, cost: a design over a limit is never mapped), looked up in
a cache keyed by the design point, and the new ones mapped, one inner study each, on the
workers of the existing backends (`xcompass.explore.backends`: in-process, local processes,
Dask) while this process maps its share. The inner study is `xcompass explore`'s, at layer
granularity on a small fixed budget (GA plus the free standard strategies); its result depends
only on the design and the seed, so the run is deterministic for a seed whatever the
workers. The seed packages (`simba-36`, `compass-het-36`) are mapped and priced too: in
generation 0 where the space holds them, as reference points on the front otherwise.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from xcompass.codesign.cost import Bill
from xcompass.codesign.space import Design, Space
from xcompass.errors import XcompassError
from xcompass.hardware.targetfile import parse_target, preset
from xcompass.hardware.targets import Target

SEEDS = ("simba-36", "compass-het-36")
CODESIGN_OBJECTIVES = ("edp", "goodput")
_BIG = 1e30  # pymoo needs finite objectives; a design that cannot run is marked by G > 0


@dataclass(frozen=True)
class InnerSettings:
    """The mapping study run at every design point (fixed, small: 40 x 60 = 2,400)."""

    model: str = "llama3-8b"
    workload: str | None = None
    layers: int | None = None
    objective: str = "edp"
    population: int = 40
    generations: int = 60
    seed: int = 0
    serving: Any = None  # ServingOptions for goodput (None: its defaults)


@dataclass
class Point:
    """One design point: what it is, what it costs, how well it runs (after its inner study)."""

    index: int
    name: str
    design: Design
    bill: Bill
    measures: dict[str, float]
    violations: dict[str, float]
    inner: dict[str, Any] = field(default_factory=dict)
    seed: str = ""  # the preset it is, when a seed
    in_space: bool = True
    target_data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def allowed(self) -> bool:
        return all(v <= 0 for v in self.violations.values())

    @property
    def feasible(self) -> bool:
        return self.allowed and bool(self.inner.get("feasible"))

    @property
    def edp_js(self) -> float:
        return float(self.inner.get("edp_js", np.inf))

    @property
    def goodput(self) -> float:
        return float(self.inner.get("goodput", 0.0))

    def performance(self, objective: str) -> float:
        """Lower is better: EDP, or minus goodput."""
        return self.edp_js if objective == "edp" else -self.goodput

    def objectives(self, objective: str) -> np.ndarray:
        if not self.feasible:
            return np.full(3, _BIG)
        return np.array(
            [self.performance(objective), self.bill.total_usd, self.measures["area_mm2"]]
        )

    def figure_of_merit(self, objective: str) -> float:
        """EDP x cost (lower is better), or goodput per dollar (higher is better)."""
        if objective == "edp":
            return self.edp_js * self.bill.total_usd if self.feasible else np.inf
        return self.goodput / self.bill.total_usd if self.feasible else 0.0


# --- the inner study (runs on a worker) ---------------------------------------------------------


def inner_study(payload: dict[str, Any]) -> dict[str, Any]:
    """Map one design: the explore study on its target, deterministic for the seed."""
    from xcompass.explore.inputs import problem_spec
    from xcompass.explore.study import SearchSettings, Study

    started = time.process_time()
    s: InnerSettings = payload["settings"]
    target = parse_target(payload["data"], f"design '{payload['name']}'", payload["name"])
    try:
        spec = problem_spec(s.model, s.workload, target, layers=s.layers)
        if s.objective == "goodput":
            from xcompass.explore.serving_options import ServingOptions

            spec = replace(spec, serving=s.serving or ServingOptions())
        problem = spec.problem(s.seed, s.objective)
        settings = SearchSettings(
            s.objective, s.population, s.generations, 0, s.seed, ("standard",)
        )
        outcome = Study(problem, settings).run()
    except XcompassError as exc:
        return {"feasible": False, "why": str(exc), "cpu_s": time.process_time() - started}
    best = outcome.best.best
    lat, energy, score = (float(best.latency_s[0]), float(best.energy_j[0]), float(best.score[0]))
    out = {
        "feasible": bool(np.isfinite(score)),
        "latency_s": lat,
        "energy_j": energy,
        "edp_js": lat * energy,
        "score": score,
        "found_by": outcome.found_by,
        "evaluations": int(sum(r.evaluations for r in outcome.results.values())),
        "cpu_s": time.process_time() - started,
    }
    if s.objective == "goodput":
        out["goodput"] = -score if np.isfinite(score) else 0.0
    if not out["feasible"]:
        out["why"] = "no mapping fits the package's memory"
    return out


def _on_worker(problem: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """A backend task (`fn(problem, *args)`): the worker's installed problem is not used."""
    return inner_study(payload)


# --- the outer search ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OuterSettings:
    population: int = 20
    generations: int = 5
    seed: int = 0


Progress = Callable[[int, int, list[Point]], None]


class Codesign:
    """One nested search over `space` (see the module docstring); `run()` returns every point."""

    def __init__(
        self,
        space: Space,
        inner: InnerSettings,
        outer: OuterSettings,
        backend: Any = None,
        workers: int = 1,
        progress: Progress | None = None,
    ) -> None:
        if inner.objective not in CODESIGN_OBJECTIVES:
            raise XcompassError(
                f"objective '{inner.objective}': unknown (valid: {', '.join(CODESIGN_OBJECTIVES)})"
            )
        self.space, self.inner, self.outer = space, inner, outer
        self.backend, self.workers, self.progress = backend, max(1, workers), progress
        self.cache: dict[Design, Point] = {}
        self.seeds: list[Point] = []
        self.points: list[Point] = []  # in order of first evaluation
        self.remote_cpu_s = 0.0
        self._attached: Any = None

    # -- points --

    def _point(self, design: Design, seed: str = "", target: Target | None = None) -> Point:
        name = seed or f"{self.space.name}-d{len(self.points):03d}"
        data = self.space.target_data(design, name) if target is None else _preset_data(seed)
        bill = self.space.bill(design)
        violations = self.space.violations(design, target)
        if target is not None:  # a reference package: mapped whatever the space's limits
            violations = {k: violations[k] for k in ("chiplets", "reticle_mm2")}
        return Point(
            len(self.points),
            name,
            design,
            bill,
            self.space.measures(design, target),
            violations,
            seed=seed,
            in_space=target is None,
            target_data=data,
        )

    def _map(self, points: list[Point]) -> None:
        """Inner studies for `points` (allowed ones only): every `workers`-th here, the rest
        on the backend's workers, started first."""
        todo = [p for p in points if p.allowed]
        for p in points:
            if not p.allowed:
                over = ", ".join(k for k, v in p.violations.items() if v > 0)
                p.inner = {"feasible": False, "why": f"over the limit: {over}"}
        payloads = [{"name": p.name, "data": p.target_data, "settings": self.inner} for p in todo]
        remote = {}
        if self.backend is not None and self.workers > 1:
            problem = self._attach()
            for i, payload in enumerate(payloads):
                if i % self.workers:
                    remote[i] = self.backend.submit(problem, _on_worker, payload)
        for i, payload in enumerate(payloads):
            if i not in remote:
                todo[i].inner = inner_study(payload)
        for i, handle in remote.items():
            todo[i].inner = handle.result()
            self.remote_cpu_s += todo[i].inner.get("cpu_s", 0.0)

    def _attach(self) -> Any:
        """Start the backend's workers once (they need a problem installed: the base's)."""
        if self._attached is None:
            from xcompass.explore.inputs import problem_spec

            spec = problem_spec(
                self.inner.model,
                self.inner.workload,
                self.space.base_target,
                layers=self.inner.layers,
            )
            problem = spec.problem(self.inner.seed)
            key = hashlib.sha256(f"codesign {self.space.name} {id(self)}".encode()).hexdigest()
            self._attached = self.backend.attach(problem, key)
        return self._attached

    def evaluate(self, designs: list[Design]) -> list[Point]:
        new = []
        for d in designs:
            if d not in self.cache:
                p = self._point(d)
                self.cache[d] = p
                self.points.append(p)
                new.append(p)
        self._map(new)
        return [self.cache[d] for d in designs]

    def _seed_points(self) -> list[np.ndarray]:
        """Map the seed packages; return the variables of those the space holds (they join
        generation 0 under their preset names; the others are reference points)."""
        xs, new = [], []
        for name in SEEDS:
            target = preset(name)
            design = Design.from_target(target, self.space.clock_ghz)
            x = self.space.encode(design)
            if x is not None and design not in self.cache:
                point = self._point(design, name)
                self.cache[design] = point
                self.points.append(point)
                xs.append(x)
            elif x is not None:
                point = self.cache[design]
            else:
                point = self._point(design, name, target)
                point.in_space = False
            new.append(point)
            self.seeds.append(point)
        self._map(new)
        return xs

    # -- the run --

    def run(self) -> list[Point]:
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.core.evaluator import Evaluator
        from pymoo.core.problem import Problem
        from pymoo.problems.static import StaticProblem

        xl, xu = self.space.bounds()
        rng = np.random.default_rng(self.outer.seed)
        seeds = self._seed_points()
        n = self.outer.population
        start = rng.uniform(xl, xu, size=(n, len(xl)))
        if seeds:
            start[: len(seeds)] = np.array(seeds)[:n]
        problem = Problem(n_var=len(xl), n_obj=3, n_ieq_constr=1, xl=xl, xu=xu)
        algorithm = NSGA2(pop_size=n, sampling=start, eliminate_duplicates=True)
        algorithm.setup(
            problem,
            seed=self.outer.seed,
            termination=("n_gen", self.outer.generations),
            verbose=False,
        )
        gen = 0
        while algorithm.has_next():
            pop = algorithm.ask()
            X = pop.get("X")
            points = self.evaluate([self.space.decode(x) for x in X])
            F = np.array([p.objectives(self.inner.objective) for p in points])
            G = np.array([[self._violation(p)] for p in points])
            Evaluator().eval(StaticProblem(problem, F=F, G=G), pop)
            algorithm.tell(infills=pop)
            gen += 1
            if self.progress is not None:
                self.progress(gen, self.outer.generations, self.points)
        return self.points

    @staticmethod
    def _violation(p: Point) -> float:
        if not p.allowed:
            return max(v for v in p.violations.values() if v > 0)
        return 0.0 if p.feasible else 1.0

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()


def _preset_data(name: str) -> dict[str, Any]:
    from xcompass.hardware.targetfile import target_data

    return json.loads(json.dumps(target_data(name)))
