"""Co-exploration of the package and the mapping (`xcompass codesign`): what heterogeneity buys
at equal area, how chiplet granularity trades EDP against money, and how fast the nested search
runs.

    python benchmarks/bench_codesign.py [--hetero] [--granularity] [--search] [--workers 2]
                                        [--out DIR]

- hetero: Compass's direction (a heterogeneous package beats a homogeneous one) checked at
  equal silicon: simba-36 against compass-het-36's two kinds shrunk to simba-36's MACs and SRAM
  (18 x 1536 MACs / 3 MB + 18 x 512 / 1 MB), and compass-het-36 against one kind with its MACs
  and SRAM (36 x 2560 / 5 MB). Area is linear in MACs and SRAM, so each pair has equal area.
  EDP is the best of 3 inner studies (seeds 0-2, 40 x 60 each) of llama3-8b (whole model,
  explore's default mixed step).
- granularity: simba-36's 36,864 MACs and 72 MB of SRAM in 1 to 144 dies (DRAM budget
  256 GB/s, 128 GB/s links), each mapped by the inner study: EDP, cost, area, die yield, and
  EDP x cost (Gemini's U-shape, or why not). Then the cost alone of the same split at 8x and
  32x the silicon, where dies get large enough for yield to matter.
- search: NSGA-II over `test/inputs/codesign/granularity.toml` (1 to 144 dies, SRAM, DRAM
  channels, link bandwidth; total MACs and DRAM budget fixed; area <= 1,200 mm^2): NSGA-II at
  population 20 for 7 generations (140 proposals; decoded duplicates are cached, about 110
  distinct design points), each mapped by 40 x 60 = 2,400 evaluations, on `--workers` processes.
  Goal: < 5 min on 2 cores; the front's best EDP x cost >= 15% better than both seeds.
  Writes the front, the picture and the best designs into --out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPACES = REPO / "test" / "inputs" / "codesign"
SEEDS = (0, 1, 2)


def _map(space, design, name: str, seeds=SEEDS) -> dict:  # noqa: ANN001
    """The best of the inner studies over `seeds` (an EDP objective)."""
    from xcompass.codesign.search import InnerSettings, inner_study

    data = space.target_data(design, name)
    runs = [inner_study({"name": name, "data": data, "settings": InnerSettings(seed=s)})
            for s in seeds]  # fmt: skip
    ok = [r for r in runs if r["feasible"]]
    return min(ok, key=lambda r: r["edp_js"]) if ok else runs[0]


def _row(label: str, space, design, run: dict) -> str:  # noqa: ANN001
    bill = space.bill(design)
    edp = run.get("edp_js", float("inf"))
    return (f"{label:<34} {edp:9.4g} {run.get('latency_s', 0) * 1e3:9.1f} "
            f"{run.get('energy_j', 0):8.3f} {bill.silicon_mm2:8.1f} {bill.total_usd:8.2f} "
            f"{edp * bill.total_usd:9.4g}")  # fmt: skip


HEADER = (f"{'package':<34} {'EDP (J s)':>9} {'lat (ms)':>9} {'E (J)':>8} {'mm^2':>8} "
          f"{'cost $':>8} {'EDP x $':>9}")  # fmt: skip


def hetero() -> None:
    from xcompass.codesign.space import Design, KindDesign
    from xcompass.codesign.spacefile import load_space
    from xcompass.hardware.targetfile import preset

    homo = load_space(SPACES / "granularity.toml")  # simba-36's schema
    het = load_space(SPACES / "het.toml")  # compass-het-36's
    simba = Design.from_target(preset("simba-36"))
    het36 = Design.from_target(preset("compass-het-36"))

    def two(tesla: tuple, tpu: tuple) -> Design:
        kinds = (KindDesign("tesla", 18, *tesla, 1.0), KindDesign("tpu", 18, *tpu, 1.0))
        return Design(kinds, 4, 64.0, 128.0)

    pairs = [
        ("at simba-36's silicon (36,864 MACs, 72 MB)",
         [("simba-36 (36 x 1024 / 2 MB)", homo, simba),
          ("het 18 x 1536/3 + 18 x 512/1", het, two((1536, 3.0), (512, 1.0)))]),
        ("at compass-het-36's silicon (92,160 MACs, 180 MB)",
         [("homogeneous 36 x 2560 / 5 MB", homo,
           Design((KindDesign("ws", 36, 2560, 5.0, 1.0),), 4, 64.0, 128.0)),
          ("compass-het-36 (18 x 4096/8 + 18 x 1024/2)", het, het36)]),
    ]  # fmt: skip
    print("## heterogeneity at equal area: llama3-8b, best of 3 inner studies (40 x 60) each")
    for title, rows in pairs:
        print(f"### {title}")
        print(HEADER)
        edps = []
        for label, space, design in rows:
            run = _map(space, design, label.split()[0])
            edps.append(run.get("edp_js", float("inf")))
            print(_row(label, space, design, run))
        print(f"heterogeneous / homogeneous EDP: {edps[1] / edps[0]:.3f}")


def _sweep(space, scale: int) -> None:  # noqa: ANN001
    from xcompass.codesign.space import Design, KindDesign

    macs, sram = 36864 * scale, 72.0 * scale
    print(f"### {macs:,} MACs and {sram:g} MB split into N dies (DRAM 256 GB/s, 128 GB/s links)")
    print(f"{'dies':>5} {'MACs/die':>9} {'die mm^2':>9} {'yield':>6} " + HEADER[35:])
    for n in (1, 2, 4, 9, 16, 36, 64, 144):
        ch = min(4, n)  # a die streams from one channel: the budget over at most one per die
        design = Design((KindDesign("ws", n, macs // n, sram / n, 1.0),), ch, 256 / ch, 128.0)
        bill = space.bill(design)
        limits = space.violations(design)  # the reticle and the chiplet cap, not the space's area
        over = [k for k in ("reticle_mm2", "chiplets") if limits[k] > 0]
        if over:
            print(f"{n:>5} {macs // n:>9} {bill.die_mm2[0]:9.2f} {bill.yields[0]:6.3f}  "
                  f"not buildable: {', '.join(over)}")  # fmt: skip
            continue
        run = _map(space, design, f"g{n}")
        print(f"{n:>5} {macs // n:>9} {bill.die_mm2[0]:9.2f} {bill.yields[0]:6.3f} "
              + _row("", space, design, run)[35:])  # fmt: skip


def granularity() -> None:
    from xcompass.codesign.cost import CostModel, DieSpec, package_bill
    from xcompass.codesign.spacefile import load_space

    space = load_space(SPACES / "granularity.toml")
    print("## granularity: a fixed amount of silicon in 1 to 144 dies, llama3-8b mapped on each")
    _sweep(space, 1)
    _sweep(space, 8)
    print("### cost alone (organic substrate, 12 nm): US$ per package")
    scales = (1, 8, 32)
    print(f"{'dies':>5} " + " ".join(f"{f'{s}x silicon':>14}" for s in scales))
    for n in (1, 2, 4, 9, 16, 36, 64, 144):
        costs = []
        for s in scales:
            die = DieSpec(n, 36864 * s // n, 72.0 * s / n, 4 if n > 1 else 0)
            costs.append(package_bill([die], 128.0, 256.0, CostModel()).total_usd)
        print(f"{n:>5} " + " ".join(f"{c:14.1f}" for c in costs))


def search(workers: int, out: str) -> None:
    from xcompass.codesign import codesign

    started = time.perf_counter()

    def progress(gen: int, total: int, points: list) -> None:
        print(f"  generation {gen}/{total}: {len(points)} design points "
              f"({time.perf_counter() - started:.1f} s)", flush=True)  # fmt: skip

    print(f"## nested search: NSGA-II 20 x 7 over granularity.toml, 2,400 mapping evaluations "
          f"per design, {workers} workers")  # fmt: skip
    r = codesign("llama3-8b", SPACES / "granularity.toml", population=20, generations=7,
                 inner_population=40, inner_generations=60, seed=0, workers=workers,
                 progress=progress)  # fmt: skip
    s = r.summary()
    print(f"{s['design_points']} design points ({s['mapped']} mapped, "
          f"{s['mapping_evaluations']:,} mapping evaluations) in {r.wall_s:.1f} s wall, "
          f"{r.cpu_s:.1f} s CPU (this process + inner studies on workers)")  # fmt: skip
    print(r.table())
    seeds = {p.seed: p for p in r.seeds if p.feasible}
    best = r.best(1)[0]
    for name, p in seeds.items():
        gain = 1 - best.figure_of_merit("edp") / p.figure_of_merit("edp")
        cost = best.bill.total_usd / p.bill.total_usd
        print(f"best {best.name} vs {name}: EDP x{best.edp_js / p.edp_js:.3f}, cost "
              f"x{cost:.3f}, EDP x cost {100 * gain:+.1f}%")  # fmt: skip
    print(
        f"gain over the better seed (EDP x cost): {100 * r.gain_over_seeds():+.1f}% (goal >= 15%)"
    )
    files = r.save(out)
    print(f"wrote into {out}: {', '.join(files)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hetero", action="store_true")
    parser.add_argument("--granularity", action="store_true")
    parser.add_argument("--search", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "data" / "codesign"))
    args = parser.parse_args(argv if argv is not None else [])
    everything = not (args.hetero or args.granularity or args.search)
    if args.hetero or everything:
        hetero()
        print()
    if args.granularity or everything:
        granularity()
        print()
    if args.search or everything:
        search(args.workers, args.out)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
