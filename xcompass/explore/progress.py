"""The live display of `xcompass explore` (rich, on stderr): a line per method with its
generation, best objective, evaluations per second and time left. Nothing is drawn when stderr
is not a terminal (logs and pipes stay clean) or with --quiet."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
)

from xcompass.search.population import Progress as SearchProgress

NAMES = {"ga": "GA", "nsga2": "NSGA-II", "sa": "annealing", "random": "random"}
UNITS = {"edp": "J*s", "latency": "s", "energy": "J", "throughput": "tok/s", "pareto": "J*s"}


def _score(objective: str, value: float) -> str:
    if not math.isfinite(value):
        return "-"
    if objective == "throughput":
        return f"{-value:,.0f} tok/s"
    if objective in ("goodput", "capacity"):  # scored as their negatives
        return f"{-value:,.2f} req/s"
    return f"{value:.4g} {UNITS.get(objective, '')}"


class LiveProgress:
    """Use as a context manager; call with each `Progress` report, `phase(text)` for steps
    that report nothing (import, lowering, cost tables)."""

    def __init__(
        self, objective: str, enabled: bool | None = None, console: Console | None = None
    ) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self.objective = objective
        self.tasks: dict[str, Any] = {}
        self.bar = Progress(  # fits 80 columns
            SpinnerColumn(),
            TextColumn("{task.description:<10}"),
            BarColumn(bar_width=16),
            TextColumn("{task.fields[step]:>12}"),
            TextColumn("{task.fields[best]:>14}"),
            TextColumn("{task.fields[rate]:>10}"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.enabled,
        )
        self._phase: Any = None

    def __enter__(self) -> LiveProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.phase_done()
        for method in list(self.tasks):
            self.finish(method)
        self.bar.stop()

    def phase(self, text: str) -> None:
        self.phase_done()
        self._phase = self.bar.add_task(text, total=None, step="", best="", rate="")

    def phase_done(self) -> None:
        if self._phase is not None:
            self.bar.update(self._phase, total=1, completed=1)
            self._phase = None

    def __call__(self, report: SearchProgress) -> None:
        self.phase_done()
        method = report.method
        if method not in self.tasks:
            for earlier in list(self.tasks):  # methods run one after another (SA may overlap)
                if earlier != "sa":
                    self.finish(earlier)
            self.tasks[method] = self.bar.add_task(
                NAMES.get(method, method), total=report.budget or None, step="", best="", rate=""
            )
        task = self.tasks[method]
        if math.isnan(report.best_score):  # running elsewhere: no figures to show
            self.bar.update(task, step="on a worker", best="-", rate="")
            return
        if report.steps:
            step = f"gen {report.step}/{report.steps}"
        else:
            step = f"{report.evaluations:,} evals"
        rate = report.evaluations / report.elapsed_s if report.elapsed_s > 0 else 0.0
        self.bar.update(
            task,
            completed=min(report.evaluations, report.budget or 0),
            step=step,
            best=_score(self.objective, report.best_score),
            rate=f"{rate:,.0f}/s",
        )

    def finish(self, method: str) -> None:
        task = self.tasks.get(method)
        if task is not None:
            total = self.bar.tasks[task].total
            self.bar.update(task, completed=total)
