"""`map-autotune{...}`: search a mapping for the module's problem and write the best back.

Reads the model, workload and target (and the module's current `map.mapping`, if any, as one
more seed), runs the one study (`xcompass.search.study`: the GA, or NSGA-II for
`objective=pareto`, then every registered baseline on the same evaluation budget, and the lower
bound), and replaces the mapping with the best mapping any method evaluated (`found_by` names
the method), costed like `map-cost` does (tasks annotated with start/end/energy, totals on the
mapping) plus a `search` dictionary of provenance: objective, budget, seed, evaluations, the
baselines' scores (`<method>_failed` for one that found no mapping) and the answer's change
against each, the lower bound. `objective=pareto` merges every method's front and writes its
lowest-EDP point as
`@mapping` (what later passes cost) and every front point, fastest first, as `@pareto_<i>`
with its latency, energy and EDP; `report=FILE.json` lists the front.

With `train-samples=K`, the score is the mean over K request batches sampled from `trace=CSV`
(Azure format, `sample=N` requests each; default the module's request count) or from
`spec=SPEC` (the SPEC's mix with lengths drawn around its values), dealt into the module's
micro-batch count; `test-samples=T` more batches report how the mapping does on batches the
search never saw. Every option is checked before any work, with a one-line diagnostic.

`granularity` = layer | group | tile says what the search places (default: the granularity of
the module's mapping, else layer): below a layer, the genome is segmentation bits over the unit
boundaries and a placement group per (micro-batch, unit), the search runs on the unit DAG, and
the best is written as a unit mapping (`map.mapping @mapping units N of "group"`, or `of "tile"
width W heads H` with `tile-width` / `tile-heads` as `llm-partition` takes them; defaults: the
module's mapping's, else Compass's 128 columns and 1 head). A module mapping at a coarser
granularity (layers) is expanded to the units as one more seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from xcompass.dialects.map import MappingOp, to_genome
from xcompass.passes.annotate import write_answer, write_report
from xcompass.passes.errors import PassFailure, check_choices
from xcompass.passes.ir_bridge import Problem, check_placement, find_mapping, read_problem
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass

from xcompass.engine.mapping import Mapping, expand
from xcompass.engine.report import answer_context, cost_mapping
from xcompass.engine.tiles import check_tiles
from xcompass.errors import XcompassError, shown
from xcompass.hardware.comm import MODES
from xcompass.model.trace import MAX_SAMPLE, read_trace
from xcompass.model.workload import MAX_SEED, parse_spec
from xcompass.names import GRANULARITIES
from xcompass.search.objectives import OBJECTIVES, SERVING_OBJECTIVES

if TYPE_CHECKING:  # the search loads numba: only when the pass runs
    from xcompass.search import GAConfig, Outcome, SearchProblem, Seed

AVAILABLE_GRANULARITIES = ("", *GRANULARITIES)
"""`granularity`'s values ("": the module mapping's, else layer)."""
MAX_POPULATION = 10_000
MAX_GENERATIONS = 100_000
MAX_SAMPLES = 256
NAME = "map-autotune"


def _fail(message: str) -> PassFailure:
    return PassFailure(f"{NAME}: {message}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class AutotunePass(ModulePass):
    """Search the mapping space (Compass's GA by default) and write the best mapping found.

    objective: edp | latency | energy | throughput | pareto; population >= 2; generations >= 1;
    budget: evaluations, at least one generation (0: population x generations); seed: the
    search is deterministic for it; granularity: layer | group | tile (the current mapping's by
    default); tile-width / tile-heads: tile sizes (granularity=tile); train-samples /
    test-samples: request batches to score on and to report on (need trace= or spec=);
    baselines=false skips SA and random search; mode: graph | eager; report: JSON."""

    name = NAME

    objective: Literal[OBJECTIVES] = "edp"
    population: int = 120
    generations: int = 100
    budget: int = 0
    seed: int = 0
    granularity: Literal[AVAILABLE_GRANULARITIES] = ""
    tile_width: int | None = None
    tile_heads: int | None = None
    train_samples: int = 0
    test_samples: int = 0
    trace: str = ""
    spec: str = ""
    sample: int = 0
    baselines: bool = True
    mode: Literal[MODES] = "graph"
    report: str = ""

    def check_options(self) -> None:
        """Everything that can be judged without the IR, before any work."""
        if self.objective in SERVING_OBJECTIVES:  # needs arrivals, a policy and SLOs
            raise _fail(
                f"objective {self.objective} scores mappings by serving a trace window: use "
                f"xcompass explore --objective {self.objective} (map-autotune prices the "
                "module's step)"
            )
        check_choices(self)
        ranges = {
            "population": (2, MAX_POPULATION, "individuals per generation"),
            "generations": (1, MAX_GENERATIONS, "generations"),
            "seed": (0, MAX_SEED, "the search's random seed"),
            "train-samples": (0, MAX_SAMPLES, "request batches to score on"),
            "test-samples": (0, MAX_SAMPLES, "request batches to report on"),
            "sample": (0, MAX_SAMPLE, "requests per sampled batch (0: the module's count)"),
        }
        for key, (low, high, meaning) in ranges.items():
            value = getattr(self, key.replace("-", "_"))
            if not _is_int(value):
                raise _fail(f"option '{key}' expects an integer, got {shown(value, 40)}")
            if not low <= value <= high:
                raise _fail(f"{key}={value} is out of range: {meaning}, {low} to {high:,}")
        if not _is_int(self.budget) or self.budget < 0:
            raise _fail(
                f"budget={shown(self.budget, 40)} is out of range: evaluations, at least one "
                f"generation (population={self.population}), or 0 for population x generations"
            )
        if 0 < self.budget < self.population:
            raise _fail(
                f"budget={self.budget} is smaller than one generation (population="
                f"{self.population}): give at least {self.population} evaluations, or 0 for "
                "population x generations"
            )
        for key in ("tile_width", "tile_heads"):
            value, option = getattr(self, key), key.replace("_", "-")
            if value is None:
                continue
            if not _is_int(value):
                raise _fail(f"option '{option}' expects an integer, got {shown(value, 40)}")
            if self.granularity and self.granularity != "tile":
                raise _fail(
                    f"option '{option}' applies to granularity=tile only "
                    f"(granularity={self.granularity})"
                )
            if value < 1:
                raise _fail(f"{option}={value} must be a positive integer")
        if self.trace and self.spec:
            raise _fail("trace= and spec= both give a distribution: give one")
        for key in ("train-samples", "test-samples"):
            value = getattr(self, key.replace("-", "_"))
            if value and not (self.trace or self.spec):
                raise _fail(
                    f"{key}={value} needs a distribution to sample request batches from: "
                    "give trace=FILE.csv or spec=SPEC"
                )
        if self.sample and not self.trace:
            raise _fail(f"sample={self.sample} sizes trace batches: give trace=FILE.csv too")
        if (self.trace or self.spec) and not (self.train_samples or self.test_samples):
            raise _fail(
                "trace= or spec= is a distribution to sample: give train-samples=K "
                "(and test-samples=T) to use it"
            )
        if self.trace and not os.access(self.trace, os.R_OK):
            raise _fail(f"trace '{shown(self.trace, 100)}': cannot read the file")
        if self.spec:
            try:
                parse_spec(self.spec)
            except XcompassError as exc:
                raise _fail(f"spec={shown(self.spec, 40)}: {exc}") from None

    def config(self) -> GAConfig:
        from xcompass.search import GAConfig

        return GAConfig(
            population=self.population,
            generations=self.generations,
            budget=self.budget or None,
            seed=self.seed,
        )

    def units_of(self, problem: Problem, old: MappingOp | None) -> tuple[str, dict[str, Any]]:
        """The granularity searched and its tile options: the options', else the module
        mapping's, else layer (Compass's tile sizes), checked against the target and model."""
        granularity = self.granularity or (old.granularity_name if old is not None else "layer")
        given = self.tile_width is not None or self.tile_heads is not None
        if given and granularity != "tile":
            why = "by default" if old is None else "as the module's mapping"
            raise _fail(
                f"option 'tile-{'width' if self.tile_width is not None else 'heads'}' applies "
                f"to granularity=tile only (granularity={granularity} {why})"
            )
        if granularity != "tile":
            return granularity, {}
        width, heads = 128, 1
        if old is not None and old.granularity_name == "tile" and old.tiles is not None:
            width, heads = old.tiles
        width = self.tile_width if self.tile_width is not None else width
        heads = self.tile_heads if self.tile_heads is not None else heads
        try:
            check_tiles(problem.model, problem.target, width, heads)
        except XcompassError as exc:
            raise PassFailure(f"{NAME} on {problem.target.name}: {exc}") from None
        layer = problem.layer
        return granularity, {
            "graph": layer.graph,
            "lowering": layer.lowering,
            "width": width,
            "heads": heads,
        }

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from xcompass.search import autotune
        from xcompass.search.registry import baselines, free_baselines

        self.check_options()
        problem = read_problem(op, NAME)
        old = find_mapping(op)
        if old is not None:  # a seed: it must fit the target like any mapping a pass reads
            check_placement(old, problem, NAME)
        granularity, tiles = self.units_of(problem, old)
        try:
            search = self.search_problem(problem, granularity, tiles)
            extra = self.module_seed(old, problem, search)
            outcome = autotune(
                search,
                self.objective,
                self.config(),
                baselines() if self.baselines else free_baselines(),
                extra,
            )
        except XcompassError as exc:
            raise PassFailure(f"{NAME} on {problem.target.name}: {exc}") from None
        best = outcome.best.best.mapping()
        report = self.answer_report(best, problem, search, outcome)
        if self.report:
            write_report(NAME, self.report, report)
        write_answer(op, old, best, search, outcome, report)

    # --- reading ------------------------------------------------------------------------

    def layer_costing(self, problem: Problem) -> dict[str, Any]:
        """How map-cost costs a layer of this module (lowered kernels when the IR has them)."""
        if getattr(problem, "layer", None) is not None:
            return {"kernels": problem.kernels}
        return {"ops": problem.ops}

    def search_problem(
        self, problem: Problem, granularity: str = "layer", tiles: dict[str, Any] | None = None
    ) -> SearchProblem:
        from xcompass.search import (
            SpecDistribution,
            TraceDistribution,
            batch_seeds,
            build_problem,
            sample_batches,
        )

        B = len(problem.workload.microbatches)
        train, test = [], []
        if self.train_samples or self.test_samples:
            if self.trace:
                requests = self.sample or sum(r.count for r in problem.workload.requests)
                distribution = TraceDistribution(read_trace(self.trace), requests)
            else:
                distribution = SpecDistribution(tuple(parse_spec(self.spec)))
            train_seeds, test_seeds = batch_seeds(self.seed, self.train_samples, self.test_samples)
            train = sample_batches(distribution, B, train_seeds)
            test = sample_batches(distribution, B, test_seeds)
        return build_problem(
            problem.model,
            problem.workload,
            problem.target,
            units=problem.layers,
            layer_costing=self.layer_costing(problem),
            whole_model=problem.whole_model,
            mode=self.mode,
            train_workloads=train,
            test_workloads=test,
            granularity=granularity,
            tiles=tiles or None,
        )

    def module_seed(
        self, old: MappingOp | None, problem: Problem, search: SearchProblem
    ) -> list[Seed]:
        """The module's current mapping, as one more seed (when it fits the search space)."""
        from xcompass.search import Seed

        if old is None:
            return []
        placed, theirs = old.layers.value.data, old.granularity_name
        if theirs == "layer" and search.granularity != "layer":
            if placed != search.layers:
                raise XcompassError(
                    f"the module's mapping places {placed} layers, the module has {search.layers}"
                )
            layer_mapping = to_genome(old, problem.microbatch_names, search.groups)
            mapping = expand(layer_mapping, search.unit_graph)
        elif theirs != search.granularity:
            raise XcompassError(
                f"the module's mapping places {theirs} units, finer than granularity="
                f"{search.granularity}: search at granularity={theirs} (or re-partition)"
            )
        elif placed != search.units or (
            theirs == "tile" and old.tiles != (search.tiles["width"], search.tiles["heads"])
        ):
            raise XcompassError(
                f"the module's mapping places {placed} units, the search {search.units}"
                + (
                    f" (tiles of width {old.tiles[0]} and {old.tiles[1]} heads, the search's "
                    f"{search.tiles['width']} and {search.tiles['heads']})"
                    if theirs == "tile" and old.tiles is not None
                    else ""
                )
            )
        else:
            mapping = to_genome(old, problem.microbatch_names, search.groups)
        name = old.attributes.get("strategy")
        label = name.data if isinstance(name, StringAttr) else "mapping"
        return [Seed(f"module {label}", mapping)]

    # --- writing ------------------------------------------------------------------------

    def answer_report(
        self, mapping: Mapping, problem: Problem, search: SearchProblem, outcome: Outcome
    ) -> dict[str, Any]:
        """The answer costed once on the module's workload (as map-cost costs it), with the
        search's summary and front: what the IR carries and `report=` writes."""
        from xcompass.explore.report_extra import front
        from xcompass.search.layout import describe

        sampled = bool(self.train_samples or self.test_samples)
        ectx = answer_context(search, sampled)
        report = cost_mapping(ectx, mapping, problem.workload, problem.model.name).report
        below = search.granularity != "layer"
        summary = outcome.summary()
        summary["answer"]["layout"] = describe(
            mapping, search.groups, ectx.units if below else None
        )
        report["search"] = summary
        if outcome.best.front is not None:
            report["pareto"] = front(outcome)
        return report
