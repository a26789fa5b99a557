"""`xcompass explore` as a Python API (IR-free): how should this model, serving this mix, be laid
out on this machine, and what does it cost?

    from xcompass.explore import SearchSettings, explore

    result = explore("llama3-8b", "prefill:512x2,decode:1024x32", "simba-36",
                     settings=SearchSettings(population=60, generations=40, seed=1),
                     workers=2)                   # or scheduler="tcp://host:8786"
    print(result.table())                         # found mapping vs every baseline, the bound
    result.mapping                                # xcompass.engine.mapping.Mapping (bits,
    placement)
    result.report["latency_s"]                    # the cost report (xcompass.engine.report.FIELDS)
    result.save("out")                            # report.json, trace.json, pictures

Every argument has the command line's default (llama3-8b, whole model; a mixed step sampled
from the embedded Azure request-length distribution; compass-het-36; the default lowering; the
GA at population 100 x 60 generations with SA, random search and the best standard strategy on
the same budget). With `workers=2` or more, worker processes are spawned: call it under
`if __name__ == "__main__":` in a script. `checkpoint=`/`resume=` make it resumable, `progress=`
takes a callback
(`xcompass.search.Progress` -> True to stop). A compiler with its own pipeline can instead build
a `ProblemSpec` (its own kernels, workload, target) and run an `Explorer`; one that speaks xDSL
can run the passes (`map-autotune`, `map-cost`) on its module.

To score mappings by serving requests over time instead of pricing one step:

    explore("llama3-8b", target="dgx-h100x8",
            settings=SearchSettings("goodput", population=16, generations=8),
            serving=ServingOptions(trace="conv.csv", window=(0, 600), rate_scale=2.0))

(`capacity` likewise; the report's `search.methods[*].serving` holds each method's best served
on the training window and on the later test window.)

Names load on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_WHERE = {
    "explore": "api",
    "Exploration": "api",
    "Explorer": "api",
    "ProblemSpec": "spec",
    "SearchSettings": "study",
    "ServingOptions": "api",
    "Study": "study",
    "problem_spec": "inputs",
    "backend_for": "inputs",
    "Backend": "backends",
    "ProcessPool": "backends",
    "DaskCluster": "dask_backend",
    "default_workload": "workloads",
    "results_table": "table",
    "write_outputs": "outputs",
}

__all__ = [
    "Backend",
    "DaskCluster",
    "Exploration",
    "Explorer",
    "ProblemSpec",
    "ProcessPool",
    "SearchSettings",
    "ServingOptions",
    "Study",
    "backend_for",
    "default_workload",
    "explore",
    "problem_spec",
    "results_table",
    "write_outputs",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'xcompass.explore' has no attribute '{name}'")
    value = getattr(import_module(f"xcompass.explore.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from xcompass.explore.api import Exploration, Explorer, explore
    from xcompass.explore.backends import Backend, ProcessPool
    from xcompass.explore.dask_backend import DaskCluster
    from xcompass.explore.inputs import backend_for, problem_spec
    from xcompass.explore.outputs import write_outputs
    from xcompass.explore.serving_options import ServingOptions
    from xcompass.explore.spec import ProblemSpec
    from xcompass.explore.study import SearchSettings, Study
    from xcompass.explore.table import results_table
    from xcompass.explore.workloads import default_workload
