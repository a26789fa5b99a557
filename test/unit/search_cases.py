"""Small search problems shared by the search tests (built once per test session)."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from xcompass.hardware.targetfile import preset as target_preset
from xcompass.model.models import preset
from xcompass.model.workload import build_workload, parse_spec
from xcompass.search import SearchProblem, build_problem

SPEC = "prefill:512x2,decode:1024x14"


@cache
def mesh_problem() -> SearchProblem:
    """4 layers x 4 micro-batches on Compass's 36-chiplet mesh (one shared package DRAM)."""
    workload = build_workload(parse_spec(SPEC), 4)
    return build_problem(preset("llama3-8b"), workload, target_preset("simba-36"), units=4)


@cache
def tight_problem() -> SearchProblem:
    """8 GPUs with 1.2 GB each: two of the 4 layers fit one GPU, so memory binds (a single
    GPU, or replicating every layer, does not fit)."""
    gpus = target_preset("hgx-h200x8")
    tight = replace(gpus, kinds=(replace(gpus.kinds[0], memory_gb=1.2),))
    workload = build_workload(parse_spec(SPEC), 4)
    return build_problem(preset("llama3-8b"), workload, tight, units=4)


@cache
def sampled_problem() -> SearchProblem:
    """Scored on three request batches drawn around the SPEC, reported on two others."""
    from xcompass.search import SpecDistribution, batch_seeds, sample_batches

    distribution = SpecDistribution(tuple(parse_spec(SPEC)))
    train, test = batch_seeds(0, 3, 2)
    workload = build_workload(parse_spec(SPEC), 4)
    return build_problem(
        preset("llama3-8b"),
        workload,
        target_preset("dgx-h100x8"),
        units=4,
        train_workloads=sample_batches(distribution, 4, train),
        test_workloads=sample_batches(distribution, 4, test),
    )
