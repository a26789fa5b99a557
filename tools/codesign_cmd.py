"""`xcompass codesign`: search the package together with the mapping (NSGA-II over a hardware
space, the explore study at each design point) and write the Pareto front of performance,
money and area. Every option and the space file are checked before any work; the best
designs are written as target files and as `.mlir` modules that carry the generated target
(`#xhw.target`) and their mapping."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import click

from xcompass.errors import XcompassError, shown

DEFAULT_OUT = "xcompass-codesign-out"
MAX_OUTER, MAX_INNER = 10_000, 100_000


def _check(o: dict[str, Any]) -> tuple[Any, Any]:
    """Everything before any search: the model, the workload, the space file (and whether its
    constraints can be met), the output folder."""
    from xcompass.codesign.spacefile import load_space
    from xcompass.explore.outputs import check_out_dir, make_out_dir
    from xcompass.model import models as model_lib
    from xcompass.model.workload import parse_spec

    try:
        model = model_lib.resolve_model(o["model"])
    except XcompassError as exc:
        raise XcompassError(f"--model: {exc}") from None
    if o["layers"] is not None and o["layers"] > model.layers:
        raise XcompassError(f"--layers {o['layers']}: {model.name} has {model.layers} layers")
    if o["workload"] is not None:
        try:
            parse_spec(o["workload"])
        except XcompassError as exc:
            raise XcompassError(f"--workload: {exc}") from None
    serving = _serving(o)
    try:
        space = load_space(o["space"])
    except XcompassError as exc:
        raise XcompassError(f"--space: {exc}") from None
    check_out_dir(o["out"])
    make_out_dir(o["out"])
    return model, space, serving


def _serving(o: dict[str, Any]) -> Any:
    """--objective goodput: what each mapping serves (explore's options and defaults)."""
    flags = ("slo_ttft", "slo_tbt", "window")
    if o["objective"] != "goodput":
        for flag in flags:
            if o[flag] is not None:
                raise XcompassError(
                    f"--{flag.replace('_', '-')}: applies to --objective goodput (not edp)"
                )
        return None
    from xcompass.explore.serving_options import ServingOptions, parse_window

    options = ServingOptions(
        slo_ttft_s=2.0 if o["slo_ttft"] is None else o["slo_ttft"],
        slo_tbt_s=0.2 if o["slo_tbt"] is None else o["slo_tbt"],
        window=parse_window("--window", o["window"]),
    )
    options.check()
    return options


def _progress(quiet: bool) -> Any:
    started = time.perf_counter()

    def report(gen: int, total: int, points: list) -> None:
        if not quiet:
            mapped = sum(1 for p in points if "evaluations" in p.inner)
            click.echo(
                f"generation {gen}/{total}: {len(points)} design points, {mapped} mapped "
                f"({time.perf_counter() - started:.1f} s)",
                err=True,
            )

    return report


def write_modules(result: Any, out: str, model: Any) -> list[str]:
    """Each best design as IR: the model imported and lowered for the generated target, its
    mapping found again by the same (deterministic) inner study, the target embedded."""
    from xcompass.dialects.hw import TARGET_ATTR, TargetAttr
    from xcompass.tools.explore_ir import lowered_module, lowering_passes, module_text

    from xcompass.explore.api import Explorer
    from xcompass.explore.inputs import problem_spec
    from xcompass.explore.study import SearchSettings
    from xcompass.fileio import write_atomically

    inner = result.inner
    written = []
    for p in result.best():
        toml = os.path.abspath(os.path.join(out, "designs", f"{p.name}.toml"))
        spec = problem_spec(model, inner.workload, toml, layers=inner.layers)
        if inner.objective == "goodput":
            from dataclasses import replace

            from xcompass.explore.serving_options import ServingOptions

            spec = replace(spec, serving=inner.serving or ServingOptions())
        settings = SearchSettings(inner.objective, inner.population, inner.generations, 0,
                                  inner.seed, ("standard",))  # fmt: skip
        found = Explorer(spec, settings).run()
        lowered = lowered_module(model, spec.workload, inner.layers, toml,
                                 lowering_passes("default"))  # fmt: skip
        lowered.module.attributes[TARGET_ATTR] = TargetAttr.from_data(p.name, p.target_data)
        path = os.path.join("designs", f"{p.name}.mlir")
        write_atomically(os.path.join(out, path), module_text(lowered, found))
        written.append(path)
    return written


@click.command("codesign")
@click.option(
    "--model",
    default="llama3-8b",
    show_default=True,
    metavar="NAME|config.json",
    help="A preset (xcompass models) or a Hugging Face config.json.",
)
@click.option(
    "--space",
    required=True,
    metavar="SPACE.toml",
    help="Which target fields vary, their ranges, the constraints (docs/codesign.md).",
)
@click.option(
    "--objective",
    type=click.Choice(["edp", "goodput"]),
    default="edp",
    show_default=True,
    help="Performance objective (beside cost and area).",
)
@click.option(
    "--workload",
    default=None,
    metavar="SPEC",
    help="The serving step mapped at each design  [default: explore's]",
)
@click.option(
    "--layers",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Map the first N decoder layers only  [default: the whole model]",
)
@click.option(
    "--population",
    type=click.IntRange(2, MAX_OUTER),
    default=20,
    show_default=True,
    help="Designs per NSGA-II generation.",
)
@click.option(
    "--generations",
    type=click.IntRange(1, MAX_OUTER),
    default=5,
    show_default=True,
    help="NSGA-II generations over the hardware.",
)
@click.option(
    "--inner-population",
    type=click.IntRange(2, MAX_INNER),
    default=40,
    show_default=True,
    help="Mapping search population at each design.",
)
@click.option(
    "--inner-generations",
    type=click.IntRange(1, MAX_INNER),
    default=60,
    show_default=True,
    help="Mapping search generations at each design.",
)
@click.option(
    "--slo-ttft",
    type=float,
    default=None,
    metavar="S",
    help="goodput: time-to-first-token SLO (p90)  [default: 2]",
)
@click.option(
    "--slo-tbt",
    type=float,
    default=None,
    metavar="S",
    help="goodput: time-between-tokens SLO (p99)  [default: 0.2]",
)
@click.option(
    "--window",
    default=None,
    metavar="START:END",
    help="goodput: seconds of arrivals each mapping serves  [default: explore's]",
)
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Processes mapping design points (this one included).",
)
@click.option(
    "--out",
    default=DEFAULT_OUT,
    show_default=True,
    metavar="DIR",
    help="Folder for front.csv, designs.csv, codesign.json, front.png, designs/.",
)
@click.option("--pictures/--no-pictures", default=True, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def codesign_cmd(**o: Any) -> None:  # fmt: skip
    """Search the package with the mapping: a Pareto front of performance, money and area over
    the hardware space of SPACE.toml, with simba-36 and compass-het-36 as seeds."""
    from xcompass.codesign import codesign

    started = time.perf_counter()
    model, space, serving = _check(o)
    try:
        result = codesign(
            o["model"],
            space,
            o["objective"],
            workload=o["workload"],
            layers=o["layers"],
            population=o["population"],
            generations=o["generations"],
            inner_population=o["inner_population"],
            inner_generations=o["inner_generations"],
            seed=o["seed"],
            serving=serving,
            workers=o["workers"],
            progress=_progress(o["quiet"]),
        )
    except KeyboardInterrupt:
        click.echo("xcompass codesign: interrupted", err=True)
        sys.exit(130)
    written = result.save(o["out"], o["pictures"])
    written += write_modules(result, o["out"], model)
    click.echo(result.table())
    s = result.summary()
    click.echo(
        f"{s['design_points']} design points, {s['mapped']} mapped "
        f"({s['mapping_evaluations']:,} mapping evaluations); "
        f"best vs the better seed: {100 * s['gain_over_seeds']:+.1f}% "
        + ("EDP x cost" if result.objective == "edp" else "goodput per $")
    )
    took = time.perf_counter() - started
    click.echo(f"wrote into {shown(o['out'], 100)}: {', '.join(written)} ({took:.1f} s)")
