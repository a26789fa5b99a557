"""bench_search's rows below a layer (issue 19): the Compass table at granularity=tile with the
default tile search and a 3-seed spread, Compass's own tile scenario against its best-known EDP
(CPU time on one core), what each stage of the search contributes, the move ablation, and the
bound's gap at every granularity.

The default tile search (`SearchSettings` at granularity tile): generation 0 holds the standard
strategies, unit pipelines (plain and striped) and the bests of fast GAs at layer then group
granularity expanded to tiles; a multi-fidelity GA (fidelity 0.25: the screen ranks 4x the
children, the engine re-costs the best quarter) spends a quarter of the exact budget, a
screened iterated local search (16 neighbours a round, the screen's best re-costed, a jump of 6
random moves after 40 rounds without a gain) the rest, among fitted mappings (every node whose
weights do not fit its group's SRAM widened until they do: `Structure.fitted`).
SA and random search get the study's standard pool and the same number of exact evaluations.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from xcompass.search import SearchProblem, SeedPool, lower_bound
from xcompass.search.ga_method import MEMETIC
from xcompass.search.local import ALL_MOVES, COMPASS_MOVES, local_search
from xcompass.search.structure import MOVES, sram_fits, structured_seeds
from xcompass.search.study import SearchSettings, Study

BEST_KNOWN = Path(__file__).resolve().parent / "data" / "tile_best_known.json"


def target_problem(granularity: str = "tile") -> SearchProblem:
    """Compass's tile scenario exactly as `xcompass explore` builds it (the long run's)."""
    from xcompass.explore.inputs import problem_spec

    spec = problem_spec("gpt3-7b", "prefill:32x18,decode:433x46", "simba-36", layers=1,
                        microbatches=32, granularity=granularity)  # fmt: skip
    return spec.problem(0)


def best_known(problem: SearchProblem) -> dict:
    """The recorded best-known EDP for `problem`; one line when the file is for another."""
    from xcompass.search.known import load_best_known

    return load_best_known(BEST_KNOWN, problem)


def study(
    problem: SearchProblem,
    population: int,
    generations: int,
    budget: int,
    seed: int,
    baselines: tuple[str, ...] = ("sa", "random", "standard"),
    **knobs,
):  # noqa: ANN003, ANN201
    settings = SearchSettings("edp", population, generations, budget, seed, baselines, **knobs)
    t0 = time.process_time()
    out = Study(problem, settings).run()
    return out, time.process_time() - t0


def compass_table(
    scenarios: list,
    problem_of,
    population: int,
    generations: int,
    seeds: tuple[int, ...] = (0, 1, 2),
) -> None:  # noqa: ANN001
    """GA vs SA vs random vs best standard vs the bound, each seed's EDP; mean and spread."""
    print(f"== granularity=tile, the default tile search (population {population} x "
          f"{generations} = {population * generations} exact evaluations a method), seeds "
          f"{', '.join(map(str, seeds))}; EDP J*s as mean (min-max over seeds) ==")  # fmt: skip
    print(f"{'scenario':36} {'standard':>9} {'GA':>22} {'SA':>22} {'random':>22} {'bound':>9} "
          f"{'GA/LB':>6} {'GA CPU s':>8} {'SA+rnd s':>8}")  # fmt: skip
    for s in scenarios:
        p = problem_of(s)
        rows = {m: [] for m in ("ga", "sa", "random", "standard")}
        cpu_ga, cpu_base = [], []
        for seed in seeds:
            out, _ = study(p, population, generations, 0, seed)
            for m in rows:
                rows[m].append(float(out.results[m].best.score[0]))
            cpu_ga.append(out.results["ga"].wall_s)
            cpu_base.append(out.results["sa"].wall_s + out.results["random"].wall_s)
        lb = lower_bound(p).edp_js

        def cell(v: list[float]) -> str:
            return f"{np.mean(v):.4g} ({min(v):.4g}-{max(v):.4g})"

        print(f"{s.label:36} {np.mean(rows['standard']):>9.4g} {cell(rows['ga']):>22} "
              f"{cell(rows['sa']):>22} {cell(rows['random']):>22} {lb:>9.4g} "
              f"{np.mean(rows['ga']) / lb:>6.1f} {np.mean(cpu_ga):>8.1f} "
              f"{np.mean(cpu_base):>8.1f}", flush=True)  # fmt: skip
        worst_ga = max(rows["ga"])
        margin = {m: min(rows[m]) / worst_ga - 1 for m in ("sa", "random")}
        print(f"  GA's worst seed vs the best seed of SA {100 * margin['sa']:+.1f}%, of random "
              f"{100 * margin['random']:+.1f}% (positive: the GA wins beyond the "
              "spread)")  # fmt: skip


def target_row(
    budgets: tuple[int, ...] = (2100, 1500, 450), seeds: tuple[int, ...] = (0, 1, 2)
) -> None:
    """The default tile search on Compass's scenario against the best known, CPU seconds
    (process time, one core; the problem's build and the kernels' compilation excluded)."""
    p = target_problem()
    record = best_known(p)
    known = record["edp_js"]
    print(f"== Compass's tile scenario ({record['command']}): best known {known:.6g} J*s "
          f"({record['evaluations']:,} exact evaluations, "
          f"{record['machine'].split(',')[0]}) ==")  # fmt: skip
    study(p, 10, 2, 0, 0, baselines=())  # compile and load everything once
    for budget in budgets:
        for seed in seeds:
            out, cpu = study(p, 40, 10_000, budget, seed, baselines=())
            ga = out.results["ga"]
            edp = float(ga.best.latency_s[0] * ga.best.energy_j[0])
            st = ga.stats
            stages = ", ".join(f"{x['granularity']} {x['score_fine']:.4g}" for x in st["stages"])
            tau = st.get("screen", {}).get("kendall_tau")
            local = st.get("local", {"start": edp, "end": edp})
            gap = 100 * (edp / known - 1)
            print(f"  budget {budget:>5} seed {seed}: EDP {edp:.5g} ({gap:+.2f}% "
                  f"vs best known) in {cpu:.1f} s CPU | standard {st['best_standard']:.4g}, "
                  f"coarse seeds {stages}, unit pipelines {st['structured_best']:.4g}, GA "
                  f"{local['start']:.4g} (screen tau {tau if tau is None else round(tau, 2)}), "
                  f"local search {local['end']:.4g}", flush=True)  # fmt: skip


def ablation(budget: int = 600, seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    """Which moves pay: the local search from the same start (the best unit pipeline) on the
    same exact budget with each move set, as the default's memetic step runs it on this
    scenario (16 neighbours a round, the screen's best re-costed, kicks, and the gate: the
    screen's tau is above `GATE_TAU` here); and per move, the rounds it won with all of them."""
    p = target_problem()
    pool = SeedPool.build(p, "edp", structured_seeds(p))
    start = pool.scored.take([pool.best_index()])
    print(f"== move ablation: screened local search from {pool.names[pool.best_index()]} "
          f"(EDP {start.score[0]:.5g}), {budget} exact evaluations, seeds {seeds} ==")  # fmt: skip
    sets = {
        "Compass's operators only": COMPASS_MOVES,
        "structure-aware only": MOVES,
        "all": ALL_MOVES,
        "all, not fitted": ALL_MOVES,
        **{f"all but {m}": tuple(x for x in ALL_MOVES if x != m) for m in MOVES},
    }
    wins = dict.fromkeys(ALL_MOVES, 0)
    for name, moves in sets.items():
        got = []
        knobs = {**MEMETIC, "fit": MEMETIC["fit"] and name != "all, not fitted"}
        for seed in seeds:
            best, rep = local_search(p, "edp", start, budget, seed=seed, moves=moves, gate=True,
                                     **knobs)  # fmt: skip
            got.append(float(best.score[0]))
            if name == "all":
                for k, v in rep.wins.items():
                    wins[k] += v
        print(
            f"  {name:32} EDP {np.mean(got):.5g} ({min(got):.5g}-{max(got):.5g}), "
            f"{100 * (np.mean(got) / start.score[0] - 1):+.1f}% from the start",
            flush=True,
        )
    print("  rounds won with all moves: " + ", ".join(f"{k} {v}" for k, v in wins.items()))


def _breakdown(problem: SearchProblem, mapping: dict) -> None:
    """The best known mapping's latency and energy by source, as the engine gives them."""
    from xcompass.engine.schedule import evaluate

    bits = np.array(mapping["boundaries"], dtype=bool)
    r = evaluate(problem.train[0], bits, np.array(mapping["place"], dtype=np.int64))
    parts = ", ".join(f"{k} {float(v[0]):.4g} J" for k, v in r.parts.items())
    fits, tp = sram_fits(problem), problem.groups.tp
    narrow = ~fits[:, tp <= 2].any(axis=1)  # fits no group of one or two chiplets
    print(f"  tiles whose weights fit no group of TP 1 or 2: {int(narrow.sum())} of "
          f"{problem.units}, of them fitting a TP-4 group: "
          f"{int((narrow & fits[:, tp == 4].any(axis=1)).sum())}")  # fmt: skip
    print(f"  best known mapping: latency {1e3 * r.latency_s[0]:.2f} ms, energy "
          f"{r.energy_j[0]:.4g} J ({parts})")  # fmt: skip


def bound_gaps() -> None:
    """The bound against the best mapping known at each granularity of Compass's scenario."""
    record = json.loads(BEST_KNOWN.read_text())
    print("== the bound's gap on Compass's scenario ==")
    for g in ("layer", "group", "tile"):
        p = target_problem(g)
        lb = lower_bound(p)
        if g == "tile":
            best, how = record["edp_js"], "best known"
            _breakdown(p, record["mapping"])
        else:
            out, _ = study(p, 40, 30, 0, 0, baselines=())
            best, how = float(out.results["ga"].best.score[0]), "GA 40 x 30"
        parts = ", ".join(f"{k} {1e3 * v:.2f} ms" for k, v in lb.latency_parts_s.items())
        print(f"  {g:6} bound {lb.edp_js:.4g} (latency {1e3 * lb.latency_s:.2f} ms: {parts}; "
              f"energy {lb.energy_j:.4g} J) vs {how} {best:.4g}: "
              f"{best / lb.edp_js:.1f}x")  # fmt: skip
