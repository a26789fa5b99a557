"""`xcompass explore` (the main job: import, lower, search, cost, show) and `xcompass report`
(re-render a saved report). Every option is checked before any work; heavy modules load only
when a command runs, so `xcompass --help` stays fast."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import click
from click.core import ParameterSource
from xcompass.tools.explore_checks import (
    EXIT_INTERRUPTED,
    Checked,
    check_options,
    check_pareto,
    checkpoint_options,
    serving_options,
    take_from_checkpoint,
)
from xcompass.tools.explore_options import explore_options

from xcompass.errors import XcompassError, shown
from xcompass.names import TILE_WIDTH


@click.command("explore")
@explore_options
def explore_cmd(**o: Any) -> None:
    """The main job: how should this model, serving this mix, be laid out on this machine,
    and what does it cost? Imports the model, lowers it, searches the mapping space against
    every baseline, and writes the answer into --out."""
    from xcompass.explore import checkpoint as ckpt
    from xcompass.explore.study import DEFAULT_GENERATIONS, DEFAULT_POPULATION

    started = time.perf_counter()
    ctx = click.get_current_context()
    given = {
        k
        for k in o
        if ctx.get_parameter_source(k) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    }
    resume = None
    if o["resume"] is not None:
        if o["objective"] == "pareto":  # an option's error before reading any file
            check_pareto(o)
        resume = ckpt.load(o["resume"])
        take_from_checkpoint(o, given, resume)
    if o["objective"] in ("goodput", "capacity"):  # each evaluation serves a window
        from xcompass.explore.serving_options import SERVING_GENERATIONS, SERVING_POPULATION

        DEFAULT_POPULATION, DEFAULT_GENERATIONS = SERVING_POPULATION, SERVING_GENERATIONS
    o["population"] = o["population"] or DEFAULT_POPULATION
    o["generations"] = o["generations"] or DEFAULT_GENERATIONS
    checked = check_options(o, resume)
    try:
        with checked.backend:
            _explore(o, checked, started)
    except KeyboardInterrupt:
        click.echo("xcompass explore: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _explore(o: dict[str, Any], c: Checked, started: float) -> None:
    from xcompass.tools.explore_ir import lowered_module, module_text

    from xcompass.explore.api import Explorer
    from xcompass.explore.inputs import resolve_workload, tile_options
    from xcompass.explore.outputs import remove_interim, write_outputs
    from xcompass.explore.progress import LiveProgress
    from xcompass.explore.spec import ProblemSpec
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
                o["tile_width"] or TILE_WIDTH,
                o["tile_heads"] or 1,
            )
            if o["granularity"] == "tile"
            else None,
            serving=serving_options(o) if o["objective"] in ("goodput", "capacity") else None,
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
        explorer.header["options"] = checkpoint_options(o)  # --resume FILE needs no flags
        if c.resume is not None:
            from xcompass.explore import checkpoint as ckpt

            ckpt.check_problem(c.resume, explorer.problem, "--resume", o["resume"])
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
        module_text(lowered, result),
    )
    written = [mlir, *write_outputs(result.report, o["out"], o["pictures"])]
    remove_interim(o["out"])  # an earlier Ctrl-C's best-so-far.* is superseded
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
    from xcompass.explore.outputs import check_out_dir, check_outputs, write_outputs
    from xcompass.explore.reading import pictures_problem, read_report, summary_text

    if out is not None:
        check_out_dir(out)
        check_outputs(out, {"REPORT": report_path}, allowed=(("REPORT", "report.json"),))
    report = read_report(report_path)
    if out is not None and (problem := pictures_problem(report)):
        raise XcompassError(f"{shown(report_path, 100)}: cannot draw into --out: {problem}")
    click.echo(summary_text(report))
    if out is not None:
        written = write_outputs(report, out, pictures, write_report=False)
        click.echo(f"wrote into {out}: {_names(written)}")
