"""Hardware co-exploration: search the package (chiplet kinds, counts, MACs, SRAM, clock,
DRAM, NoP) together with the mapping, under area, power and money.

    from xcompass.codesign import codesign

    result = codesign("llama3-8b", "space.toml", objective="edp",
                      population=20, generations=5, workers=2)
    print(result.table())                     # the Pareto front and the seed packages
    result.save("out")                        # front.csv, designs.csv, front.png, designs/*.toml

A space file says which target fields vary (`xcompass.codesign.space`); the area and money
model is Chiplet Actuary's as Gemini codes it (`xcompass.codesign.cost`, figures in
docs/codesign.md); the nested search is `xcompass.codesign.search`. With `workers=2` or more,
worker processes are spawned: call it under `if __name__ == "__main__":` in a script.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xcompass.codesign.result import CodesignResult
    from xcompass.codesign.search import Progress
    from xcompass.codesign.space import Space

__all__ = ["codesign"]


def codesign(
    model: str = "llama3-8b",
    space: str | Path | Space = "space.toml",
    objective: str = "edp",
    *,
    workload: str | None = None,
    layers: int | None = None,
    population: int = 20,
    generations: int = 5,
    inner_population: int = 40,
    inner_generations: int = 60,
    seed: int = 0,
    serving: Any = None,
    workers: int = 1,
    scheduler: Any = None,
    progress: Progress | None = None,
) -> CodesignResult:
    """Search `space` for packages that serve `model` well and cheaply: NSGA-II over the
    hardware (population x generations design points), the explore study inside each
    (inner_population x inner_generations mappings). Deterministic for `seed`."""
    from xcompass.codesign.result import CodesignResult
    from xcompass.codesign.search import Codesign, InnerSettings, OuterSettings
    from xcompass.codesign.space import Space
    from xcompass.codesign.spacefile import load_space
    from xcompass.explore.inputs import backend_for

    wall, cpu = time.perf_counter(), time.process_time()
    sp = space if isinstance(space, Space) else load_space(space)
    inner = InnerSettings(
        model, workload, layers, objective, inner_population, inner_generations, seed, serving
    )
    outer = OuterSettings(population, generations, seed)
    backend = backend_for(workers, scheduler) if workers > 1 or scheduler is not None else None
    slots = workers if scheduler is None else max(2, workers)
    search = Codesign(sp, inner, outer, backend, slots, progress)
    try:
        points = search.run()
    finally:
        search.close()
    cpu_s = time.process_time() - cpu + search.remote_cpu_s
    return CodesignResult(sp, inner, outer, points, search.seeds, time.perf_counter() - wall, cpu_s)
