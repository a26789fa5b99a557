"""The main job without the IR: build the search problem, run the study (resumable, on any
backend), cost the best mapping and assemble the report. `xcompass explore` runs exactly this
after importing and lowering the model as IR; `explore()` is the same for a Python caller
that starts from a model configuration (it lowers with `xcompass.layer.lowering`'s planners, which
make the decisions the lowering passes make)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from xcompass.engine.mapping import Mapping
from xcompass.engine.report import answer_context, cost_mapping
from xcompass.engine.schedule import Result
from xcompass.explore import checkpoint as ckpt
from xcompass.explore.backends import Backend
from xcompass.explore.inputs import backend_for, problem_spec
from xcompass.explore.report_extra import activity, convergence, front, layout
from xcompass.explore.serving_options import ServingOptions
from xcompass.explore.spec import ProblemSpec
from xcompass.explore.study import SearchSettings, Study
from xcompass.hardware.targets import Target
from xcompass.model.models import ModelConfig
from xcompass.model.workload import Workload
from xcompass.names import TILE_HEADS, TILE_WIDTH
from xcompass.search.layout import describe as describe_layout
from xcompass.search.population import ProgressCallback
from xcompass.search.problem import SearchProblem
from xcompass.search.study import Outcome


def xcompass_version() -> str:
    try:
        return version("xcompass")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


@dataclass
class Exploration:
    """A finished exploration: the study's outcome, the best mapping and its report."""

    spec: ProblemSpec
    settings: SearchSettings
    problem: SearchProblem
    outcome: Outcome
    report: dict[str, Any]
    wall_s: float

    @property
    def mapping(self) -> Mapping:
        return self.outcome.best.best.mapping()

    def table(self) -> str:
        from xcompass.explore.table import results_table

        return results_table(self.report)

    def save(self, out: str, pictures: bool = True) -> list[str]:
        """report.json, trace.json and (with `pictures`) the pictures into folder `out`."""
        from xcompass.explore.outputs import write_outputs

        return write_outputs(self.report, out, pictures)


def mapping_report(
    spec: ProblemSpec,
    problem: SearchProblem,
    outcome: Outcome,
    settings: SearchSettings,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """The best mapping costed on the spec's own serving step, with every explore addition."""
    mapping = outcome.best.best.mapping()
    ectx = answer_context(problem, bool(spec.train_samples or spec.test_samples))
    below = problem.granularity != "layer"
    search = outcome.summary()
    search["answer"]["layout"] = describe_layout(
        mapping, problem.groups, problem.unit_graph if below else None
    )

    def extra(result: Result) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if spec.lowering is not None:
            fields["lowering"] = spec.lowering
        fields.update(
            search=search,
            convergence=convergence(outcome),
            pareto=front(outcome),
            layout=layout(spec.target),
            activity=activity(result, mapping, problem.groups, spec.workload),
            explore={**meta, **settings.as_dict(), "problem": spec.summary()},
        )
        return fields

    return cost_mapping(ectx, mapping, spec.workload, spec.model.name, extra).report


class Explorer:
    """Runs one exploration in steps a command line can interleave with its own checks:
    `prepare()` (build the problem, check a resumed checkpoint against it), then `run()`.
    On Ctrl-C, `run()` saves the checkpoint (when one is asked for) and re-raises;
    `best_so_far()` then gives the mapping to keep."""

    def __init__(
        self,
        spec: ProblemSpec,
        settings: SearchSettings,
        backend: Backend | None = None,
        *,
        checkpoint: str | None = None,
        resume: ckpt.Loaded | None = None,
        resume_path: str = "",
        every: int = 10,
        progress: ProgressCallback | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.spec, self.settings = spec, settings
        self.backend = backend or Backend()
        self.checkpoint, self.resume, self.resume_path = checkpoint, resume, resume_path
        self.every, self.progress = every, progress
        self.meta = dict(meta or {})
        self.problem: SearchProblem | None = None
        self.study: Study | None = None
        self.header: dict[str, Any] = {}
        self.interrupt_checkpoint = ""  # where Ctrl-C saves when no checkpoint is asked for
        self.saved_at = ""

    def prepare(self) -> SearchProblem:
        started = time.perf_counter()
        problem = self.spec.problem(self.settings.seed, self.settings.objective)
        self.header = {
            "fingerprint": ckpt.fingerprint(
                problem.model,
                problem.workload,
                problem.target,
                problem.units,
                problem.whole_model,
                problem.mode,
                self.spec.kernels,
                tuple(ctx.table.tokens.tolist() for ctx in problem.train),
                [c.table.tokens.tolist() for c in problem.test],
                *([problem.serving.options] if problem.serving is not None else []),
            ),
            "problem": self.spec.summary(),
            "settings": self.settings.as_dict(),
            "xcompass": xcompass_version(),
        }
        state = None
        if self.resume is not None:
            ckpt.check_matches(self.resume, self.header, "--resume", self.resume_path)
            state = self.resume.state()
        key = self.header["fingerprint"]
        self.problem = self.backend.attach(problem, key)
        self.study = Study(
            self.problem,
            self.settings,
            self.backend,
            progress=self.progress,
            checkpoint=self._save if self.checkpoint else None,
            every=self.every,
            state=state,
        )
        self.meta["prepare_s"] = time.perf_counter() - started
        return problem

    def _save(self, state: ckpt.StudyState) -> None:
        assert self.checkpoint is not None
        ckpt.save(self.checkpoint, state, self.header)

    def run(self) -> Exploration:
        if self.study is None:
            self.prepare()
        assert self.study is not None and self.problem is not None
        started = time.perf_counter()
        try:
            outcome = self.study.run()
        except KeyboardInterrupt:
            path = self.checkpoint or self.interrupt_checkpoint
            if path:
                ckpt.save(path, self.study.state, self.header)
                self.saved_at = path
            raise
        meta = {
            **self.meta,
            "tokens_per_batch": float(self.problem.tokens.mean()),
            "backend": self.backend.name,
            "search_s": time.perf_counter() - started,
            "xcompass": xcompass_version(),
        }
        report = mapping_report(self.spec, self.problem, outcome, self.settings, meta)
        return Exploration(
            self.spec, self.settings, self.problem, outcome, report, time.perf_counter() - started
        )

    def best_so_far(self) -> Mapping | None:
        best = self.study.best_so_far() if self.study is not None else None
        return best.mapping() if best is not None else None


def explore(
    model: str | ModelConfig = "llama3-8b",
    workload: str | Workload | None = None,
    target: str | Target = "compass-het-36",
    *,
    layers: int | None = None,
    lowering: str = "default",
    mode: str = "graph",
    microbatches: int | None = None,
    granularity: str = "layer",
    tile_width: int = TILE_WIDTH,
    tile_heads: int = TILE_HEADS,
    settings: SearchSettings | None = None,
    serving: ServingOptions | None = None,
    train_samples: int = 0,
    test_samples: int = 0,
    workers: int = 1,
    scheduler: str | Any | None = None,
    checkpoint: str | None = None,
    resume: str | None = None,
    every: int = 10,
    progress: ProgressCallback | Callable[..., Any] | None = None,
) -> Exploration:
    """Map `model` serving `workload` on `target` and say what it costs (see the package
    docstring for an example). Every argument has `xcompass explore`'s default. With
    `settings.objective` goodput or capacity, mappings are scored by serving `serving`'s
    training window (default `ServingOptions()`: the embedded arrivals, sarathi, 0:60 s) and
    reported on its test window."""
    settings = settings or SearchSettings()
    spec = problem_spec(
        model,
        workload,
        target,
        layers=layers,
        lowering=lowering,
        mode=mode,
        microbatches=microbatches,
        train_samples=train_samples,
        test_samples=test_samples,
        granularity=granularity,
        tile_width=tile_width,
        tile_heads=tile_heads,
    )
    if serving is not None:
        from dataclasses import replace

        spec = replace(spec, serving=serving)
    loaded = ckpt.load(resume) if resume else None
    with backend_for(workers, scheduler) as backend:
        explorer = Explorer(
            spec,
            settings,
            backend,
            checkpoint=checkpoint,
            resume=loaded,
            resume_path=resume or "",
            every=every,
            progress=progress,
        )
        return explorer.run()
