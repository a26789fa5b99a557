"""What a co-exploration found: the Pareto front over (performance, money, area), a table, the
picture of cost against EDP (or goodput) with the seed packages marked, and the files.

    front.csv            the front's designs (and the seeds), one row each
    designs.csv          every design point evaluated, in evaluation order
    codesign.json        the settings, the seeds, the front, timings
    front.png, .svg      cost against the performance objective, seeds marked
    designs/NAME.toml    the best designs as target files (`xcompass explore --target` takes them)
(`designs/NAME.mlir`, the design with its mapping in IR, is the command line's: it needs the IR.)
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from xcompass.codesign.search import InnerSettings, OuterSettings, Point
from xcompass.codesign.space import Space
from xcompass.codesign.toml_out import dumps_toml
from xcompass.fileio import write_atomically

BEST = 3
"""Best designs written as targets (by EDP x cost, or goodput per dollar)."""


@dataclass
class CodesignResult:
    space: Space
    inner: InnerSettings
    outer: OuterSettings
    points: list[Point]
    seeds: list[Point]
    wall_s: float
    cpu_s: float  # this process plus every inner study on a worker

    @property
    def objective(self) -> str:
        return self.inner.objective

    @property
    def front(self) -> list[Point]:
        """The feasible design points no other beats on performance, cost and area."""
        from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

        ok = [p for p in self.points if p.feasible]
        if not ok:
            return []
        F = np.array([p.objectives(self.objective) for p in ok])
        keep = NonDominatedSorting().do(F, only_non_dominated_front=True)
        front, seen = [], set()
        for i in sorted(int(i) for i in keep):  # one design per point of objective space
            key = tuple(F[i])
            if key not in seen:
                seen.add(key)
                front.append(ok[i])
        return sorted(front, key=lambda p: (p.bill.total_usd, p.index))

    def best(self, k: int = BEST) -> list[Point]:
        """The front's best by the figure of merit (EDP x cost; goodput per dollar)."""
        front = self.front
        if self.objective == "edp":
            return sorted(front, key=lambda p: (p.figure_of_merit("edp"), p.index))[:k]
        return sorted(front, key=lambda p: (-p.figure_of_merit("goodput"), p.index))[:k]

    def gain_over_seeds(self) -> float:
        """How much better the best design's figure of merit is than the better seed's
        (0.15 = 15% better than both); nan without a feasible seed or design."""
        best = self.best(1)
        seeds = [s for s in self.seeds if s.feasible]
        if not best or not seeds:
            return float("nan")
        ours = best[0].figure_of_merit(self.objective)
        if self.objective == "edp":
            theirs = min(s.figure_of_merit("edp") for s in seeds)
            return 1 - ours / theirs
        theirs = max(s.figure_of_merit("goodput") for s in seeds)
        return ours / theirs - 1

    # -- rows --

    def row(self, p: Point, role: str) -> dict[str, Any]:
        r: dict[str, Any] = {"name": p.name, "role": role, "design": p.design.summary()}
        if self.objective == "edp":
            r["edp_js"] = p.edp_js if p.feasible else ""
            r["latency_s"] = p.inner.get("latency_s", "")
            r["energy_j"] = p.inner.get("energy_j", "")
        else:
            r["goodput_rps"] = p.goodput if p.feasible else ""
        r.update({k: round(v, 4) for k, v in p.bill.as_dict().items()})
        r["power_w"] = round(p.measures["power_w"], 4)
        r["merit"] = p.figure_of_merit(self.objective) if p.feasible else ""
        r["feasible"] = p.feasible
        r["why"] = p.inner.get("why", "")
        r.update(p.design.as_dict())
        return r

    def rows(self) -> list[dict[str, Any]]:
        front = {p.name for p in self.front}
        seeds = {p.name for p in self.seeds}

        def role(p: Point) -> str:
            return (
                ",".join(
                    x for x, on in (("seed", p.name in seeds), ("front", p.name in front)) if on
                )
                or "-"
            )

        return [self.row(p, role(p)) for p in self.points] + [
            self.row(s, "seed (outside the space)") for s in self.seeds if not s.in_space
        ]

    def table(self) -> str:
        """The front and the seeds, as the command line prints them."""
        unit = "EDP (J s)" if self.objective == "edp" else "goodput (req/s)"
        merit = "EDP x $" if self.objective == "edp" else "req/s per $"
        lines = [
            f"{'design':<18} {unit:>16} {'cost ($)':>10} {'area (mm2)':>11} {merit:>10}  package"
        ]
        front = self.front
        outside = [s for s in self.seeds if s.name not in {p.name for p in front}]
        for tag, group in (("", front), ("seed ", outside)):
            for p in group:
                perf = p.edp_js if self.objective == "edp" else p.goodput
                shown = f"{perf:16.5g}" if p.feasible else f"{'-':>16}"
                merit_v = (
                    f"{p.figure_of_merit(self.objective):10.4g}" if p.feasible else f"{'-':>10}"
                )
                name = (tag + p.name)[:18]
                lines.append(
                    f"{name:<18} {shown} {p.bill.total_usd:10.2f} "
                    f"{p.measures['area_mm2']:11.1f} {merit_v}  {p.design.summary()}"
                )
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        return {
            "space": self.space.name,
            "base": self.space.base_target.name,
            "objective": self.objective,
            "inner": {k: v for k, v in asdict(self.inner).items() if k != "serving"},
            "outer": asdict(self.outer),
            "design_points": len(self.points),
            "mapped": sum(1 for p in self.points if "evaluations" in p.inner),
            "mapping_evaluations": sum(p.inner.get("evaluations", 0) for p in self.points),
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "gain_over_seeds": self.gain_over_seeds(),
            "front": [self.row(p, "front") for p in self.front],
            "seeds": [self.row(p, "seed") for p in self.seeds],
            "best": [p.name for p in self.best()],
        }

    # -- files --

    def save(self, out: str, pictures: bool = True) -> list[str]:
        os.makedirs(os.path.join(out, "designs"), exist_ok=True)
        written = []
        rows = self.rows()
        for name, subset in (
            ("designs.csv", rows),
            ("front.csv", [r for r in rows if "front" in r["role"] or "seed" in r["role"]]),
        ):
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(subset)
            write_atomically(os.path.join(out, name), buf.getvalue())
            written.append(name)
        text = json.dumps(self.summary(), indent=1, default=float)
        write_atomically(os.path.join(out, "codesign.json"), text + "\n")
        written.append("codesign.json")
        for p in self.best():
            path = os.path.join("designs", f"{p.name}.toml")
            write_atomically(os.path.join(out, path), dumps_toml(p.target_data))
            written.append(path)
        if pictures:
            from xcompass.codesign.plot import front_picture

            written += front_picture(self, out)
        return written
