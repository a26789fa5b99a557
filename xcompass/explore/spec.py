"""What `explore` maps, IR-free: the model, the serving step, the target, how a layer runs, and
where training and test batches come from (`inputs.problem_spec` builds one from names; the
`Explorer` of `api` searches it)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from xcompass.errors import XcompassError
from xcompass.explore.serving_options import ServingOptions, check_combination, is_serving
from xcompass.explore.workloads import describe
from xcompass.hardware.targets import Target
from xcompass.layer.kernels import Kernel
from xcompass.model.models import ModelConfig
from xcompass.model.workload import Workload
from xcompass.names import GRANULARITIES
from xcompass.search.problem import SearchProblem, build_problem
from xcompass.search.samples import Distribution, batch_seeds, sample_batches


@dataclass(frozen=True)
class ProblemSpec:
    """What is mapped: a model (its first `layers` decoder layers, or the whole model with
    embedding and LM head when None), a serving step, a target, how one layer runs
    (`kernels`, as the lowering decided; None: unlowered), the execution mode, and optionally
    a distribution to draw training / test request batches from."""

    model: ModelConfig
    workload: Workload
    target: Target
    layers: int | None = None
    kernels: tuple[Kernel, ...] | None = None
    mode: str = "graph"
    distribution: Distribution | None = None
    train_samples: int = 0
    test_samples: int = 0
    granularity: str = "layer"
    lowering: dict[str, Any] | None = field(default=None, compare=False)  # report summary
    tiles: dict[str, Any] | None = field(default=None, compare=False)  # granularity=tile:
    # the layer's graph and lowering, tile width and heads (`inputs.tile_options`)
    serving: ServingOptions | None = None  # objective goodput / capacity: what is served

    @property
    def units(self) -> int:
        return self.layers if self.layers is not None else self.model.layers

    def summary(self) -> str:
        part = f"{self.layers} layers" if self.layers is not None else "whole model"
        text = f"{self.model.name} ({part}) on {self.target.name}, {describe(self.workload)}"
        if self.mode != "graph":
            text += f", {self.mode} mode"
        if self.train_samples or self.test_samples:
            text += f"; {self.train_samples} training / {self.test_samples} test batches"
        return text

    def problem(self, seed: int, objective: str = "edp") -> SearchProblem:
        """The search problem (request batches sampled with the search's seed); for a serving
        objective (goodput, capacity), one whose evaluator serves `serving`'s windows."""
        check_combination(
            objective,
            {"serving=ServingOptions(...)": self.serving},
            layers=self.layers,
            granularity=self.granularity,
            train_samples=self.train_samples,
            test_samples=self.test_samples,
        )
        problem = self._static_problem(seed)
        if not is_serving(objective):
            return problem

        from xcompass.explore.serving_objective import ServingObjective

        options = self.serving or ServingOptions()
        serving = ServingObjective.build(
            objective, self.model, self.target, self.kernels, problem.groups, self.mode, options
        )
        return replace(problem, serving=serving, evaluator=None)

    def _static_problem(self, seed: int) -> SearchProblem:
        if self.granularity not in GRANULARITIES:
            raise XcompassError(
                f"unknown granularity '{self.granularity}' (valid: {', '.join(GRANULARITIES)})"
            )
        extra: dict[str, Any] = {}
        if self.granularity != "layer":
            extra["granularity"] = self.granularity
            extra["tiles"] = self.tiles if self.granularity == "tile" else None
        train: list[Workload] = []
        test: list[Workload] = []
        if self.train_samples or self.test_samples:
            if self.distribution is None:
                raise XcompassError("training / test batches need a distribution to sample")
            B = len(self.workload.microbatches)
            seeds = batch_seeds(seed, self.train_samples, self.test_samples)
            train = sample_batches(self.distribution, B, seeds[0])
            test = sample_batches(self.distribution, B, seeds[1])
        return build_problem(
            self.model,
            self.workload,
            self.target,
            units=self.units,
            layer_costing={"kernels": self.kernels} if self.kernels is not None else None,
            whole_model=self.layers is None,
            mode=self.mode,
            train_workloads=train,
            test_workloads=test,
            **extra,
        )
