"""Turning what a caller names (a model preset or config.json, a SPEC or a trace, a target, a
lowering pipeline, workers or a scheduler) into a `ProblemSpec` and a `Backend`, IR-free.
`xcompass explore` checks every option first (tools/explore_checks.py); these functions raise
`XcompassError` with a one-line diagnostic for a Python caller too."""

from __future__ import annotations

from typing import Any

from xcompass.errors import XcompassError
from xcompass.explore.backends import Backend, ProcessPool
from xcompass.explore.dask_backend import DaskCluster
from xcompass.explore.spec import ProblemSpec
from xcompass.explore.workloads import DEFAULT_MICROBATCHES, default_distribution
from xcompass.hardware.targetfile import load_target
from xcompass.hardware.targets import Target
from xcompass.layer.lowering import core_layer, core_lowering
from xcompass.model.models import ModelConfig, resolve_model
from xcompass.model.trace import read_trace, sample_step
from xcompass.model.workload import Workload, build_workload, parse_spec, split_microbatches
from xcompass.names import TILE_HEADS, TILE_WIDTH
from xcompass.search.samples import Distribution, SpecDistribution, TraceDistribution


def resolve_workload(
    workload: str | Workload | None,
    microbatches: int | None,
    sample_seed: int = 0,
    trace: str | None = None,
    requests: int = 32,
) -> tuple[Workload, Distribution | None]:
    """The serving step and the distribution it comes from (for training / test batches):
    a SPEC (one micro-batch per item unless `microbatches`), a trace sample, a `Workload`, or
    by default the embedded distribution (8 micro-batches)."""
    if trace is not None:
        if workload is not None:
            raise XcompassError("--workload and --trace: give one or the other")
        data = read_trace(trace)
        reqs = sample_step(data, requests, sample_seed)
        n = min(microbatches or DEFAULT_MICROBATCHES, len(reqs))
        return split_microbatches(reqs, n), TraceDistribution(data, requests)
    if workload is None:
        dist = default_distribution()
        total = sum(r.count for r in dist.mix)
        return dist.sample(sample_seed, min(microbatches or DEFAULT_MICROBATCHES, total)), dist
    if isinstance(workload, Workload):
        if microbatches is not None:
            raise XcompassError("microbatches: a Workload object is already dealt into them")
        return workload, None
    reqs = parse_spec(workload)
    try:
        built = build_workload(reqs, microbatches)
    except XcompassError as exc:  # name the option that asked for what cannot be
        if microbatches is None:
            raise
        raise XcompassError(f"--microbatches {microbatches}: {exc}") from None
    return built, SpecDistribution(tuple(reqs))


def problem_spec(
    model: str | ModelConfig = "llama3-8b",
    workload: str | Workload | None = None,
    target: str | Target = "compass-het-36",
    *,
    layers: int | None = None,
    lowering: str = "default",
    mode: str = "graph",
    microbatches: int | None = None,
    train_samples: int = 0,
    test_samples: int = 0,
    trace: str | None = None,
    requests: int = 32,
    sample_seed: int = 0,
    granularity: str = "layer",
    tile_width: int = TILE_WIDTH,
    tile_heads: int = TILE_HEADS,
) -> ProblemSpec:
    model_cfg = resolve_model(model) if isinstance(model, str) else model
    if layers is not None and not 1 <= layers <= model_cfg.layers:
        raise XcompassError(f"layers={layers}: {model_cfg.name} has 1 to {model_cfg.layers}")
    target_obj = load_target(target) if isinstance(target, str) else target
    wl, dist = resolve_workload(workload, microbatches, sample_seed, trace, requests)
    kernels, summary = core_lowering(model_cfg, target_obj, wl, lowering)
    tiles = None
    if granularity == "tile":
        graph, decided = core_layer(model_cfg, target_obj, wl, lowering)
        tiles = tile_options(graph, decided, tile_width, tile_heads)
    return ProblemSpec(
        model_cfg,
        wl,
        target_obj,
        layers,
        kernels,
        mode,
        dist,
        train_samples,
        test_samples,
        granularity,
        summary,
        tiles,
    )


def tile_options(graph: Any, lowering: Any, width: int, heads: int) -> dict[str, Any]:
    """What `build_problem(granularity="tile")` needs besides the kernels."""
    return {"graph": graph, "lowering": lowering, "width": width, "heads": heads}


def backend_for(workers: int = 1, scheduler: Any = None, timeout_s: float = 5.0) -> Backend:
    """In-process (1 worker), local processes, or a Dask cluster (an address or a Client)."""
    if scheduler is not None and workers > 1:
        raise XcompassError("--workers and --scheduler: give one or the other")
    if scheduler is not None:
        if isinstance(scheduler, str):
            return DaskCluster.connect(scheduler, timeout_s)
        return DaskCluster(scheduler)
    if workers < 1:
        raise XcompassError(f"--workers {workers}: must be at least 1")
    return ProcessPool(workers) if workers > 1 else Backend()
