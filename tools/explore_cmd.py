"""`xcompass explore` (the main job: import, lower, search, cost, show) and `xcompass report`
(re-render a saved report). Every option is checked before any work; heavy modules load only
when a command runs, so `xcompass --help` stays fast."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import click

from xcompass.comm import MODES
from xcompass.errors import XcompassError, shown
from xcompass.search.objectives import OBJECTIVES
from xcompass.trace import MAX_SAMPLE
from xcompass.workload import MAX_MICROBATCHES, MAX_SEED

DEFAULT_OUT = "xcompass-out"
MAX_POPULATION, MAX_GENERATIONS, MAX_SAMPLES = 10_000, 100_000, 256  # as map-autotune's
SCHEDULER_TIMEOUT_S = 5.0
EXIT_INTERRUPTED = 130


@dataclass
class Checked:
    """What the option checks produced (so no file is read twice)."""

    model: Any
    target: str
    passes: tuple
    resume: Any
    backend: Any
    settings: Any


def _named(flag: str, read: Any, value: str) -> Any:
    """`read(value)`, its diagnostic prefixed with the option that gave the value."""
    try:
        return read(value)
    except XcompassError as exc:
        raise XcompassError(f"{flag}: {exc}") from None


def _check(o: dict[str, Any]) -> Checked:
    """Every check that needs no model import or search, in the order a user reads options."""
    from xcompass.tools.explore_ir import lowering_passes

    from xcompass import models as model_lib
    from xcompass import targets as target_lib
    from xcompass.explore import checkpoint as ckpt
    from xcompass.explore.inputs import backend_for
    from xcompass.explore.outputs import check_out_dir, make_out_dir
    from xcompass.explore.study import BASELINES, SearchSettings
    from xcompass.workload import parse_spec

    if o["workload"] is not None and o["trace"] is not None:
        raise XcompassError("--workload and --trace: give one or the other")
    if o["requests"] is not None and o["trace"] is None:
        raise XcompassError(f"--requests {o['requests']}: sizes a --trace sample; give --trace")
    if 0 < o["budget"] < o["population"]:
        raise XcompassError(
            f"--budget {o['budget']}: smaller than one generation (--population "
            f"{o['population']}); give at least {o['population']}, or 0 for population x "
            "generations"
        )
    for flag in ("tile_width", "tile_heads"):
        if o[flag] is not None and o["granularity"] != "tile":
            raise XcompassError(
                f"--{flag.replace('_', '-')} {o[flag]}: sizes tiles; give --granularity tile "
                f"(not {o['granularity']})"
            )
    if o["objective"] == "pareto":
        for flag in ("checkpoint", "resume"):
            if o[flag]:
                raise XcompassError(
                    f"--{flag}: objective pareto (NSGA-II) is not resumable; drop --{flag} or "
                    f"choose {', '.join(x for x in OBJECTIVES if x != 'pareto')}"
                )
    if o["checkpoint_every"] is not None and not o["checkpoint"]:
        raise XcompassError(
            f"--checkpoint-every {o['checkpoint_every']}: saves to --checkpoint FILE; give it"
        )
    if o["scheduler_timeout"] is not None and not o["scheduler"]:
        raise XcompassError(
            f"--scheduler-timeout {o['scheduler_timeout']}: waits for --scheduler; give it"
        )
    if o["workers"] > 1 and o["scheduler"]:
        raise XcompassError("--workers and --scheduler: give one or the other")
    check_out_dir(o["out"])
    model = _named("--model", model_lib.resolve_model, o["model"])
    if o["layers"] is not None and o["layers"] > model.layers:
        raise XcompassError(f"--layers {o['layers']}: {model.name} has {model.layers} layers")
    target = _named("--target", target_lib.resolve_target_spec, o["target"])
    if o["granularity"] == "tile":
        from xcompass.tiles import check_tiles

        width, heads = o["tile_width"] or 128, o["tile_heads"] or 1
        try:
            check_tiles(model, target_lib.load_target(target), width, heads)
        except XcompassError as exc:
            flag = "--tile-width" if "tile-width" in str(exc) else "--tile-heads"
            raise XcompassError(f"{flag}: {exc}") from None
    if o["workload"] is not None:
        _named("--workload", parse_spec, o["workload"])
    if o["trace"] is not None and not os.access(o["trace"], os.R_OK):
        raise XcompassError(f"--trace {shown(o['trace'], 100)}: cannot read the file")
    passes = lowering_passes(o["lowering"])
    settings = SearchSettings(
        o["objective"],
        o["population"],
        o["generations"],
        o["budget"],
        o["seed"],
        BASELINES if o["baselines"] else ("standard",),
    )
    resume = None
    if o["resume"]:
        resume = ckpt.load(o["resume"])
        ckpt.check_settings(resume, settings.as_dict(), "--resume", o["resume"])
    if o["checkpoint"]:
        ckpt.check_writable_checkpoint(o["checkpoint"])
        same = (
            o["resume"]
            and os.path.exists(o["checkpoint"])
            and os.path.samefile(o["checkpoint"], o["resume"])
        )
        if os.path.exists(o["checkpoint"]) and not same:
            raise XcompassError(
                f"--checkpoint {shown(o['checkpoint'], 100)}: exists; continue it with --resume "
                "FILE, or name a new file (refusing to overwrite it)"
            )
    timeout = o["scheduler_timeout"] or SCHEDULER_TIMEOUT_S
    backend = backend_for(o["workers"], o["scheduler"] or None, timeout)
    try:
        make_out_dir(o["out"])  # last: every other check passed
    except XcompassError:
        backend.close()
        raise
    return Checked(model, target, passes, resume, backend, settings)


# fmt: off
OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--model", dict(default="llama3-8b", show_default=True, metavar="NAME|config.json",
                     help="A preset (xcompass models) or a Hugging Face config.json.")),
    ("--layers", dict(type=click.IntRange(min=1), default=None,
                      help="Map the first N decoder layers only  [default: the whole model]")),
    ("--workload", dict(default=None, metavar="SPEC",
                        help="prefill:LEN[xN],decode:CTX[xN],verify:CTX+DRAFT[xN]  [default: a "
                        "mixed step sampled from the embedded Azure request-length distribution]")),
    ("--trace", dict(default=None, metavar="CSV",
                     help="Azure-format trace to sample the step (and any batches) from.")),
    ("--requests", dict(type=click.IntRange(1, MAX_SAMPLE), default=None,
                        help="Requests in flight sampled from --trace  [default: 32]")),
    ("--microbatches", dict(type=click.IntRange(1, MAX_MICROBATCHES), default=None,
                            help="Micro-batches  [default: 8 sampled, one per SPEC item]")),
    ("--sample-seed", dict(type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
                           help="Seed of the sampled step.")),
    ("--target", dict(default="compass-het-36", show_default=True, metavar="NAME|FILE",
                      help="A preset (xcompass targets) or a target TOML.")),
    ("--lowering", dict(default="default", show_default=True, metavar="NAME|PIPELINE",
                        help="default, pytorch, none, or lowering passes: "
                        "'llm-fuse{eltwise=false},llm-stage-attention'")),
    ("--mode", dict(type=click.Choice(MODES), default="graph", show_default=True,
                    help="Execution mode.")),
    ("--granularity", dict(type=click.Choice(("layer", "group", "tile")), default="layer",
                           show_default=True, help="What a mapping places: decoder layers, "
                           "kernels of the lowered layers, or Compass's tiles.")),
    ("--tile-width", dict(type=click.IntRange(min=1), default=None,
                          help="Columns of a GEMM tile (--granularity tile)  [default: 128]")),
    ("--tile-heads", dict(type=click.IntRange(min=1), default=None,
                          help="Heads of an attention tile (--granularity tile)  [default: 1]")),
    ("--objective", dict(type=click.Choice(OBJECTIVES), default="edp", show_default=True,
                         help="What the search minimizes (pareto: a latency-energy front).")),
    ("--population", dict(type=click.IntRange(2, MAX_POPULATION), default=None,
                          help="Individuals per generation  [default: 100]")),
    ("--generations", dict(type=click.IntRange(1, MAX_GENERATIONS), default=None,
                           help="Generations  [default: 60]")),
    ("--budget", dict(type=click.IntRange(min=0), default=0,
                      help="Evaluations, every method the same  [default: population x "
                      "generations]")),
    ("--seed", dict(type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
                    help="Search seed: one seed, one result, on any backend.")),
    ("--train-samples", dict(type=click.IntRange(0, MAX_SAMPLES), default=0,
                             help="Score on K request batches sampled like the step.")),
    ("--test-samples", dict(type=click.IntRange(0, MAX_SAMPLES), default=0,
                            help="Report on T more batches the search never saw.")),
    ("--baselines/--no-baselines", dict(default=True, show_default=True,
                                        help="Run annealing and random search on the budget.")),
    ("--out", dict(default=DEFAULT_OUT, show_default=True, metavar="DIR",
                   help="Folder for mapping.mlir, report.json, trace.json and pictures.")),
    ("--checkpoint", dict(default=None, metavar="FILE",
                          help="Save the search state here (Ctrl-C saves too).")),
    ("--checkpoint-every", dict(type=click.IntRange(1, MAX_GENERATIONS), default=None,
                                help="Generations between checkpoints  [default: 10]")),
    ("--resume", dict(default=None, metavar="FILE",
                      help="Continue a checkpoint to the result an uninterrupted run gives.")),
    ("--workers", dict(type=click.IntRange(1, 256), default=1, show_default=True,
                       help="Processes that evaluate (this one included).")),
    ("--scheduler", dict(default=None, metavar="ADDRESS",
                         help="Evaluate on a Dask cluster (pip install 'xcompass[dask]').")),
    ("--scheduler-timeout", dict(type=click.FloatRange(0.1, 600.0), default=None,
                                 help="Seconds to wait for the --scheduler  [default: 5]")),
    ("--pictures/--no-pictures", dict(default=True, show_default=True,
                                      help="Draw the Gantt, mapping and search pictures.")),
    ("--quiet", dict(is_flag=True, help="No live progress display.")),
]
# fmt: on


def _options(f: Any) -> Any:
    for name, kwargs in reversed(OPTIONS):
        f = click.option(name, **kwargs)(f)
    return f


@click.command("explore")
@_options
def explore_cmd(**o: Any) -> None:
    """The main job: how should this model, serving this mix, be laid out on this machine,
    and what does it cost? Imports the model, lowers it, searches the mapping space against
    every baseline, and writes the answer into --out."""
    from xcompass.explore.study import DEFAULT_GENERATIONS, DEFAULT_POPULATION

    started = time.perf_counter()
    o["population"] = o["population"] or DEFAULT_POPULATION
    o["generations"] = o["generations"] or DEFAULT_GENERATIONS
    checked = _check(o)
    try:
        with checked.backend:
            _explore(o, checked, started)
    except KeyboardInterrupt:
        click.echo("xcompass explore: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _explore(o: dict[str, Any], c: Checked, started: float) -> None:
    from xcompass.tools.explore_ir import lowered_module, module_text

    from xcompass.explore.api import Explorer, ProblemSpec
    from xcompass.explore.inputs import resolve_workload, tile_options
    from xcompass.explore.outputs import write_outputs
    from xcompass.explore.progress import LiveProgress
    from xcompass.explore.table import results_table
    from xcompass.fileio import write_atomically

    live = LiveProgress(o["objective"], enabled=False if o["quiet"] else None)
    with live:
        live.phase("import + lower")
        workload, dist = resolve_workload(
            o["workload"], o["microbatches"], o["sample_seed"], o["trace"], o["requests"] or 32
        )
        lowered = lowered_module(c.model, workload, o["layers"], c.target, c.passes)
        spec = ProblemSpec(
            c.model,
            workload,
            lowered.problem.target,
            o["layers"],
            lowered.problem.kernels,
            o["mode"],
            dist,
            o["train_samples"],
            o["test_samples"],
            o["granularity"],
            lowered.summary,
            tile_options(
                lowered.problem.layer.graph,
                lowered.problem.layer.lowering,
                o["tile_width"] or 128,
                o["tile_heads"] or 1,
            )
            if o["granularity"] == "tile"
            else None,
        )
        explorer = Explorer(
            spec,
            c.settings,
            c.backend,
            checkpoint=o["checkpoint"],
            resume=c.resume,
            resume_path=o["resume"] or "",
            every=o["checkpoint_every"] or 10,
            progress=live,
            meta={"lowering": o["lowering"], "target_spec": o["target"]},
        )
        explorer.interrupt_checkpoint = os.path.join(o["out"], "checkpoint.npz")
        live.phase("cost, seeds")
        explorer.prepare()
        try:
            result = explorer.run()
        except KeyboardInterrupt:
            live.bar.stop()
            _interrupted(o, explorer, lowered)
            raise
    result.report["explore"]["wall_s"] = time.perf_counter() - started
    mlir = os.path.join(o["out"], "mapping.mlir")
    write_atomically(
        mlir,
        module_text(
            lowered,
            result.mapping,
            explorer.problem,
            result.outcome,
            o["mode"],
            o["train_samples"],
            o["test_samples"],
        ),
    )
    written = [mlir, *write_outputs(result.report, o["out"], o["pictures"])]
    click.echo(results_table(result.report))
    took = time.perf_counter() - started
    click.echo(f"wrote into {o['out']}: {_names(written)} ({took:.1f} s)")


def _names(paths: list[str]) -> str:
    return ", ".join(os.path.basename(p) for p in paths)


def _interrupted(o: dict[str, Any], explorer: Any, lowered: Any) -> None:
    """Ctrl-C during the search: the checkpoint is saved; keep the best mapping so far."""
    from xcompass.tools.explore_ir import interim_module_text

    from xcompass.fileio import write_atomically

    mapping = explorer.best_so_far()
    lines = []
    if explorer.saved_at:
        lines.append(f"checkpoint {explorer.saved_at} (continue with --resume {explorer.saved_at})")
    if mapping is not None:
        mlir = os.path.join(o["out"], "best-so-far.mlir")
        report = os.path.join(o["out"], "best-so-far.json")
        write_atomically(
            mlir, interim_module_text(lowered, mapping, explorer.problem, o["mode"], report)
        )
        lines.append(f"best mapping so far {mlir} (its cost: {report})")
    for line in lines:
        click.echo(f"xcompass explore: {line}", err=True)


@click.command("report")
@click.argument("report_path", metavar="REPORT.json")
@click.option(
    "--out",
    default=None,
    metavar="DIR",
    help="Redraw the trace and pictures into DIR (default: print the tables only).",
)
@click.option("--pictures/--no-pictures", default=True, show_default=True)
def report_cmd(report_path: str, out: str | None, pictures: bool) -> None:
    """Re-render the tables (and with --out, the trace and pictures) from a saved report
    (xcompass explore's report.json, or map-cost{report=...}'s)."""
    from xcompass.explore.outputs import check_out_dir, write_outputs
    from xcompass.explore.reading import read_report, summary_text

    if out is not None:
        check_out_dir(out)
    report = read_report(report_path)
    click.echo(summary_text(report))
    if out is not None:
        written = write_outputs(report, out, pictures, write_report=False)
        click.echo(f"wrote into {out}: {_names(written)}")
