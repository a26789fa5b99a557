"""The Compass table: per scenario (model x workload x target), at equal evaluation budget, the
EDP of the GA, simulated annealing, random search and the best standard strategy, the analytic
lower bound, wall time and evaluations per second.

    .venv/bin/python benchmarks/bench_search.py            # every scenario, population 60 x 40
    .venv/bin/python benchmarks/bench_search.py --compass  # Compass's budget: 120 x 100
    .venv/bin/python benchmarks/bench_search.py llama3-8b/decode/simba-36 ...   # some rows
    .venv/bin/python benchmarks/bench_search.py --tile          # Compass's tile rows + speed
    .venv/bin/python benchmarks/bench_search.py --speed --generations 100   # the full speed row

Workloads come from the Azure conversation trace (seed 0): `prefill` = 8 prompts, `decode` =
64 requests each at a random decode step, `mixed` = 64 requests at a random step of their life
(prefill or decode), dealt into 8 micro-batches. Layers are costed unlowered (one kernel per op).
A scenario is one `Scenario` row.

Below a layer (`search_tile`, issue 19): the tile rows run the default tile search (multi-fidelity
GA with coarse-to-fine and unit-pipeline seeds and a memetic local search) against SA and random
on the same exact evaluations, over 3 seeds; then Compass's scenario against its best-known EDP
(`benchmarks/data/tile_best_known.json`, from `benchmarks/tile_long_run.py`: 16 seeded
islands x 7,500 exact evaluations), the move ablation and the bound's gap at every granularity.

Compass's own scenarios (`TILE_SCENARIOS`): one GPT-3 block (6.7B or 13B) split into tile units
as Compass does (`granularity=tile`: Q/K/V per head, attention per (head, request), GEMMs in
N-tiles of 128 columns: 485 units for 6.7B), the 64 `mixed` requests in 32 micro-batches of two
(`compass_pairs`), on simba-36 and compass-het-36. Their table runs at a smaller budget
(`TILE_CONFIG`; --compass: 120 x 100) because a random mapping of 15,520 nodes scatters every
edge over the mesh and costs the DAG kernel ~40 ms (bench_eval). The speed row is Compass's
run: that scenario on simba-36, population 120 x 100 generations (by default 5 of them,
extrapolated), one core; it reports wall time,
evaluations per second and where the time goes (building the problem, scoring the seeds, the
engine, the operators).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from xcompass.errors import XcompassError  # noqa: E402
from xcompass.hardware.targetfile import preset as target_preset
from xcompass.model.models import preset  # noqa: E402
from xcompass.model.trace import read_trace  # noqa: E402
from xcompass.model.workload import (  # noqa: E402
    MicroBatch,
    Request,
    RequestKind,
    Workload,
    split_microbatches,
)
from xcompass.search import (  # noqa: E402
    GAConfig,
    GeneticSearch,
    Outcome,
    SearchProblem,
    SeedPool,
    autotune,
    build_problem,
)

TRACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
TRACE = TRACE / "AzureLLMInferenceTrace_conv.csv"
MODELS = {  # name -> (preset, layers or None for the whole model with embedding and LM head)
    "llama3-8b": ("llama3-8b", None),
    "mixtral-8x7b": ("mixtral-8x7b", None),
    "gpt3-7b": ("gpt3-7b", 32),
    "gpt3-13b": ("gpt3-13b", 40),
    "gpt3-7b-block": ("gpt3-7b", 1),  # Compass's scenarios: one block, tile units
    "gpt3-13b-block": ("gpt3-13b", 1),
}
WORKLOADS = ("prefill", "decode", "mixed")
TARGETS = ("simba-36", "compass-het-36", "hgx-h200x8")
MICROBATCHES = 8


@dataclass(frozen=True)
class Scenario:
    model: str
    workload: str
    target: str
    granularity: str = "layer"
    microbatches: int = MICROBATCHES

    @property
    def name(self) -> str:
        return f"{self.model}/{self.workload}/{self.target}"

    @property
    def label(self) -> str:
        return self.name + (f" ({self.granularity})" if self.granularity != "layer" else "")


LAYER_MODELS = ("llama3-8b", "mixtral-8x7b", "gpt3-7b", "gpt3-13b")
SCENARIOS = [Scenario(m, w, t) for m in LAYER_MODELS for w in WORKLOADS for t in TARGETS]
TILE_SCENARIOS = [
    Scenario(m, "mixed", t, granularity="tile", microbatches=32)
    for m in ("gpt3-7b-block", "gpt3-13b-block")
    for t in ("simba-36", "compass-het-36")
]
TILE_ROW = TILE_SCENARIOS[0]
"""Compass's own scenario: the speed row."""
TILE_CONFIG = GAConfig(24, 10)
"""The tile rows' default budget (a random tile mapping costs the engine about a second)."""


def trace_requests(kind: str, seed: int = 0) -> list[Request]:
    """Requests drawn from the conversation trace: prompts, decode steps or both."""
    trace = read_trace(TRACE)
    rng = np.random.default_rng(seed)
    count = 8 if kind == "prefill" else 64
    rows = rng.choice(len(trace), size=count, replace=False)
    out = []
    for i, j in enumerate(rows):
        ctx, gen = int(trace.context[j]), max(int(trace.generated[j]), 2)
        step = {"prefill": 0, "decode": int(rng.integers(1, gen))}.get(
            kind, int(rng.integers(0, gen))
        )
        if step == 0:
            out.append(Request(f"r{i}", RequestKind.PREFILL, 0, ctx))
        else:
            out.append(Request(f"r{i}", RequestKind.DECODE, ctx + step - 1, 1))
    return out


def compass_pairs(requests: list[Request], n: int) -> Workload:
    """Compass's batching: `n` micro-batches of len(requests) / n requests each, balanced on
    tokens (the largest with the smallest: micro-batch j holds the j-th and the (2n-1-j)-th
    by new tokens for two each)."""
    per = len(requests) // n
    if per * n != len(requests):
        raise XcompassError(f"{len(requests)} requests do not deal evenly into {n} micro-batches")
    order = sorted(requests, key=lambda r: (-r.new_tokens * r.count, r.name))
    mbs = []
    for j in range(n):
        picks = [order[k * n + (j if k % 2 == 0 else n - 1 - j)] for k in range(per)]
        mbs.append(MicroBatch(f"mb{j}", tuple(r.name for r in picks)))
    return Workload(tuple(requests), tuple(mbs))


def workload_of(s: Scenario) -> Workload:
    if s.granularity == "tile":
        return compass_pairs(trace_requests(s.workload), s.microbatches)
    return split_microbatches(trace_requests(s.workload), s.microbatches)


def problem_of(s: Scenario) -> SearchProblem:
    name, layers = MODELS[s.model]
    model = preset(name)
    return build_problem(
        model,
        workload_of(s),
        target_preset(s.target),
        units=layers or model.layers,
        whole_model=layers is None,
        granularity=s.granularity,
    )


def run(s: Scenario, config: GAConfig) -> Outcome | str:
    """The study for one scenario, or why it cannot run."""
    try:
        return autotune(problem_of(s), "edp", config)
    except XcompassError as exc:
        return str(exc)


def warm_up() -> None:
    """Compile (or load) every kernel once so no row pays for it."""
    run(Scenario("gpt3-7b", "decode", "simba-36", microbatches=2), GAConfig(6, 2))
    run(Scenario("gpt3-7b", "decode", "hgx-h200x8", microbatches=2), GAConfig(6, 2))
    run(Scenario("gpt3-7b-block", "decode", "simba-36", "tile", microbatches=2), GAConfig(4, 1))


def pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def table(config: GAConfig, scenarios: list[Scenario]) -> list[tuple[Scenario, Outcome]]:
    print(
        f"== mapping search at equal budget (population {config.population} x "
        f"{config.generations} generations = {config.total_budget} evaluations, seed "
        f"{config.seed}; EDP in J*s, lower is better) =="
    )
    header = (
        f"{'scenario':36} {'seeds':>5} {'standard':>10} {'GA':>10} {'SA':>10} {'random':>10} "
        f"{'GA-std':>7} {'GA-SA':>7} {'GA-rnd':>7} {'bound':>10} {'GA/LB':>6} "
        f"{'GA s':>6} {'ev/s':>7}  best standard"
    )
    print(header)
    done = []
    for s in scenarios:
        out = run(s, config)
        if isinstance(out, str):
            print(f"{s.label:36} skipped: {out}")
            continue
        r = out.results
        ga, sa, rnd, std = (r[k].best.score[0] for k in ("ga", "sa", "random", "standard"))
        lb = out.bound.edp_js
        print(
            f"{s.label:36} {len(out.pool):>5} {std:>10.4g} {ga:>10.4g} {sa:>10.4g} {rnd:>10.4g} "
            f"{pct(ga / std - 1):>7} {pct(ga / sa - 1):>7} {pct(ga / rnd - 1):>7} "
            f"{lb:>10.4g} {ga / lb:>6.2f} {r['ga'].wall_s:>6.2f} "
            f"{r['ga'].evaluations_per_s:>7.0f}  {out.pool.names[out.pool.best_index()]}"
        )
        done.append((s, out))
    return done


def summary(done: list[tuple[Scenario, Outcome]]) -> None:
    if not done:
        return

    def mean_change(method: str) -> float:
        return float(np.mean([o.improvement(method) for _, o in done]))

    beats_sa = sum(o.improvement("sa") < 0 for _, o in done)
    beats_rnd = sum(o.improvement("random") < 0 for _, o in done)
    ties_std = sum(o.improvement("standard") == 0 for _, o in done)
    gaps = [o.best.best.score[0] / o.bound.edp_js for _, o in done]
    print(
        f"mean EDP change of the GA: {pct(mean_change('standard'))} vs the best standard "
        f"strategy (equal to it in {ties_std} of {len(done)} rows), "
        f"{pct(mean_change('sa'))} vs SA (GA better in {beats_sa}/{len(done)}), "
        f"{pct(mean_change('random'))} vs random search (better in {beats_rnd}/{len(done)})"
    )
    print(
        f"GA EDP / lower bound: mean {np.mean(gaps):.2f}x, range {min(gaps):.2f}x to "
        f"{max(gaps):.2f}x"
    )


def speed(config: GAConfig) -> None:
    """Compass's speed target: its own scenario (one GPT-3-6.7B block in tile units, 32
    micro-batches of two requests, simba-36), population x generations, one core; where the
    time goes: building the problem (cost rows, units), scoring the seeds, the GA's engine
    calls and everything else in its generations (selection, crossover, mutation, repair,
    memory checks)."""
    s = TILE_ROW
    t0 = time.perf_counter()
    problem = problem_of(s)
    build_s = time.perf_counter() - t0
    engine = {"s": 0.0, "calls": 0}
    evaluator = problem.evaluator

    def timed(bits: np.ndarray, place: np.ndarray):  # noqa: ANN202
        t = time.perf_counter()
        out = evaluator(bits, place)
        engine["s"] += time.perf_counter() - t
        engine["calls"] += len(place)
        return out

    problem.evaluator = timed
    t1 = time.perf_counter()
    pool = SeedPool.build(problem, "edp")
    pool_s = time.perf_counter() - t1
    seed_engine = engine["s"]
    ga, _ = GeneticSearch(problem, "edp", config, pool).run()
    ga_s = ga.wall_s - pool.wall_s
    ga_engine = engine["s"] - seed_engine
    B, U = problem.shape
    nodes = B * U
    total = build_s + ga.wall_s
    evals = ga.evaluations
    print(
        f"speed: {s.label}: {U} units x {B} micro-batches = {nodes:,} nodes on {s.target}, "
        f"GA {config.population} x {config.generations}: {evals:,} evaluations in "
        f"{total:.1f} s wall ({evals / total:.1f} evaluations/s, "
        f"{1e6 * engine['s'] / max(engine['calls'], 1) / nodes:.2f} us per node in the engine)"
    )
    print(
        f"  build {build_s:.1f} s | seeds {pool_s:.1f} s ({len(pool)} seeds) | generations "
        f"{ga_s:.1f} s = engine {ga_engine:.1f} s ({100 * ga_engine / max(ga_s, 1e-9):.0f}%) + "
        f"operators, repair, memory {ga_s - ga_engine:.1f} s | best EDP {ga.best.score[0]:.4g} "
        f"vs best seed {pool.scored.score.min():.4g} ({pool.names[pool.best_index()]})"
    )
    print(
        f"  Compass's target: 12,000 evaluations in under 10 s; Compass's C++: ~654 s on 2 "
        f"threads; at this run's rate 12,000 evaluations take ~{12000 * total / evals:.0f} s"
    )


def main(argv: list[str] | tuple[str, ...] = ()) -> None:
    """`benchmarks/run.py` calls it with no arguments: every layer scenario at the default
    budget, then the tile rows and the speed row (--tile: only the tile rows; --speed: only the
    speed row)."""
    compass = "--compass" in argv
    args = list(argv)
    # Compass's full 120 x 100 takes most of an hour on the DAG kernel today: by default the
    # speed row runs 5 generations and extrapolates (--generations 100 for the real thing)
    generations = 5
    if "--generations" in args:
        k = args.index("--generations")
        generations = int(args[k + 1])
        del args[k : k + 2]
    names = [a for a in args if not a.startswith("--")]
    config = GAConfig(120, 100) if compass else GAConfig(60, 40)
    tile_config = GAConfig(120, 100) if compass else TILE_CONFIG
    t0 = time.perf_counter()
    warm_up()
    only_tile, only_speed = "--tile" in args, "--speed" in args
    if not (only_tile or only_speed):
        scenarios = [s for s in SCENARIOS if not names or s.name in names]
        summary(table(config, scenarios))
    tiles = [s for s in TILE_SCENARIOS if not names or s.name in names]
    if tiles and not only_speed:
        import search_tile

        search_tile.compass_table(tiles, problem_of, tile_config.population,
                                  tile_config.generations)  # fmt: skip
        if not names:
            search_tile.target_row()
            search_tile.ablation()
            search_tile.bound_gaps()
    if not names and not only_tile:
        speed(GAConfig(120, generations))
    print(f"bench_search: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
