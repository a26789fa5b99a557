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
from click.core import ParameterSource

from xcompass.errors import XcompassError, shown
from xcompass.hardware.comm import MODES
from xcompass.model.models import MAX_LAYERS
from xcompass.model.trace import MAX_SAMPLE
from xcompass.model.workload import MAX_MICROBATCHES, MAX_SEED
from xcompass.names import GRANULARITIES, TILE_HEADS, TILE_WIDTH
from xcompass.search.objectives import OBJECTIVES

DEFAULT_OUT = "xcompass-out"
MAX_POPULATION, MAX_GENERATIONS, MAX_SAMPLES = 10_000, 100_000, 256  # as map-autotune's
MAX_BUDGET = 10**9  # evaluations; fits every IR attribute it reaches (i64)
MAX_TILE = 2**20  # --tile-width, --tile-heads (the model's own sizes refuse most before that)
SCHEDULER_TIMEOUT_S = 5.0
EXIT_INTERRUPTED = 130
RESUMED = (
    "model",
    "layers",
    "workload",
    "trace",
    "requests",
    "microbatches",
    "sample_seed",
    "target",
    "lowering",
    "mode",
    "granularity",
    "tile_width",
    "tile_heads",
    "objective",
    "population",
    "generations",
    "budget",
    "seed",
    "train_samples",
    "test_samples",
    "baselines",
    "policy",
    "slo_ttft",
    "slo_tbt",
    "window",
    "test_window",
    "rate_scale",
)
"""The options a checkpoint stores and `--resume FILE` takes from it (a flag given anyway must
agree); the rest (--out, --workers, --scheduler, --pictures, ...) may change between runs."""
PATHS = ("model", "trace", "target")  # stored as absolute paths when they name files
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "inproc", "ucx")


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


def _flag_text(key: str, value: Any) -> str:
    if key == "baselines":
        return "--baselines" if value else "--no-baselines"
    return f"--{key.replace('_', '-')} {shown(value, 100)}"


def _stored(key: str, value: Any) -> Any:
    """An option as the checkpoint keeps it: a file as its absolute path (resume works from
    any folder)."""
    if key in PATHS and isinstance(value, str) and os.path.isfile(value):
        return os.path.abspath(value)
    return value


def checkpoint_options(o: dict[str, Any]) -> dict[str, Any]:
    return {key: _stored(key, o[key]) for key in RESUMED}


def _take_from_checkpoint(o: dict[str, Any], given: set[str], loaded: Any) -> None:
    """`--resume FILE`: options not given come from the checkpoint; one given must agree."""
    saved = loaded.header.get("options")
    if not saved:  # a checkpoint of an older xcompass: its settings are checked later
        return
    where = f"--resume {shown(o['resume'], 100)}"
    for key in RESUMED:
        if key not in saved:
            continue
        theirs = saved[key]
        if key not in given:
            o[key] = theirs
            continue
        if _stored(key, o[key]) != theirs:
            raise XcompassError(
                f"{_flag_text(key, o[key])}: {where} was written with "
                f"{_flag_text(key, theirs)}; leave the flag out to continue it"
            )


def check_scheduler(address: str) -> None:
    """`[SCHEME://]HOST:PORT`, parsed here so a bad address is one line, before any work."""
    where = f"--scheduler {shown(address, 100)}"
    expected = "expected [tcp://]HOST:PORT"
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme not in SCHEDULER_SCHEMES:
        raise XcompassError(
            f"{where}: not a scheduler address (scheme '{shown(scheme, 20)}'; valid: "
            f"{', '.join(SCHEDULER_SCHEMES)}; {expected})"
        )
    if scheme in ("inproc", "ucx"):
        return
    host, colon, port = rest.rpartition(":")
    if not colon or not host or any(c in host for c in " /\\"):
        raise XcompassError(f"{where}: not a scheduler address ({expected})")
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise XcompassError(
            f"{where}: not a scheduler address (port '{shown(port, 20)}' is not a number "
            f"from 1 to 65535; {expected})"
        )


def _check_pareto(o: dict[str, Any]) -> None:
    for flag in ("checkpoint", "resume"):
        if o[flag]:
            raise XcompassError(
                f"--{flag}: objective pareto (NSGA-II) is not resumable; drop --{flag} or "
                f"choose {', '.join(x for x in OBJECTIVES if x != 'pareto')}"
            )


def _check_serving(o: dict[str, Any]) -> None:
    """--objective goodput|capacity: its options, and what it cannot take (one line each)."""
    from xcompass.explore.serving_options import FLAGS, check_combination

    check_combination(
        o["objective"],
        {f"--{k.replace('_', '-')}": o[k] for k in FLAGS},
        layers=o["layers"],
        granularity=o["granularity"],
        train_samples=o["train_samples"],
        test_samples=o["test_samples"],
    )
    if o["objective"] in ("goodput", "capacity"):
        serving_options(o).check()


def serving_options(o: dict[str, Any]) -> Any:
    """The serving objective's options from explore's flags (defaults where not given)."""
    from xcompass.explore.serving_options import ServingOptions, parse_window

    return ServingOptions(
        policy=o["policy"] or "sarathi",
        slo_ttft_s=2.0 if o["slo_ttft"] is None else o["slo_ttft"],
        slo_tbt_s=0.2 if o["slo_tbt"] is None else o["slo_tbt"],
        trace=o["trace"],
        window=parse_window("--window", o["window"]),
        test_window=parse_window("--test-window", o["test_window"]),
        rate_scale=1.0 if o["rate_scale"] is None else o["rate_scale"],
        seed=o["sample_seed"],
    )


def _check(o: dict[str, Any], resume: Any = None) -> Checked:
    """Every check that needs no model import or search, in the order a user reads options."""
    from xcompass.tools.explore_ir import lowering_passes

    from xcompass.explore import checkpoint as ckpt
    from xcompass.explore.inputs import backend_for
    from xcompass.explore.outputs import check_out_dir, check_outputs, make_out_dir
    from xcompass.explore.study import BASELINES, SearchSettings
    from xcompass.fileio import check_readable, same_file
    from xcompass.hardware import targetfile as target_lib
    from xcompass.model import models as model_lib
    from xcompass.model.workload import build_workload, parse_spec

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
        _check_pareto(o)
    _check_serving(o)
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
    if o["scheduler"]:
        check_scheduler(o["scheduler"])
    check_out_dir(o["out"])
    inputs = {f"--{k}": o[k] for k in ("model", "trace", "target", "resume", "checkpoint")}
    check_outputs(
        o["out"],
        inputs,
        allowed=(("--resume", "checkpoint.npz"), ("--checkpoint", "checkpoint.npz")),
    )
    model = _named("--model", model_lib.resolve_model, o["model"])
    if o["layers"] is not None and o["layers"] > model.layers:
        raise XcompassError(f"--layers {o['layers']}: {model.name} has {model.layers} layers")
    target = _named("--target", target_lib.resolve_target_spec, o["target"])
    if o["granularity"] == "tile":
        from xcompass.engine.tiles import check_tiles

        width, heads = o["tile_width"] or TILE_WIDTH, o["tile_heads"] or TILE_HEADS
        try:
            check_tiles(model, target_lib.load_target(target), width, heads)
        except XcompassError as exc:
            flag = "--tile-width" if "tile-width" in str(exc) else "--tile-heads"
            raise XcompassError(f"{flag}: {exc}") from None
    if o["workload"] is not None:
        requests = _named("--workload", parse_spec, o["workload"])
        if o["microbatches"] is not None:
            try:
                build_workload(requests, o["microbatches"])
            except XcompassError as exc:
                raise XcompassError(f"--microbatches {o['microbatches']}: {exc}") from None
    if o["trace"] is not None:
        try:
            check_readable(o["trace"])
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise XcompassError(
                f"--trace {shown(o['trace'], 100)}: cannot read the file ({reason})"
            ) from None
        if o["objective"] in ("goodput", "capacity"):  # its windows hold requests
            from xcompass.explore.serving_objective import streams

            streams(serving_options(o))
    passes = lowering_passes(o["lowering"])
    settings = SearchSettings(
        o["objective"],
        o["population"],
        o["generations"],
        o["budget"],
        o["seed"],
        BASELINES if o["baselines"] else ("standard",),
        **search_knobs(o),
    )
    if o["resume"]:
        if resume is None:
            resume = ckpt.load(o["resume"])
        ckpt.check_settings(resume, settings.as_dict(), "--resume", o["resume"])
    if o["checkpoint"]:
        ckpt.check_writable_checkpoint(o["checkpoint"])
        same = o["resume"] and same_file(o["checkpoint"], o["resume"])
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


class FiniteRange(click.FloatRange):
    """click's FloatRange lets NaN through (every comparison with it is false)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        number = super().convert(value, param, ctx)
        if number != number:
            self.fail(
                f"{value!r} is not a number in the range {self._describe_range()}.", param, ctx
            )
        return number


# fmt: off
OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--model", dict(default="llama3-8b", show_default=True, metavar="NAME|config.json",
                     help="A preset (xcompass models) or a Hugging Face config.json.")),
    ("--layers", dict(type=click.IntRange(1, MAX_LAYERS), default=None,
                      help="Map the first N decoder layers only  [default: the whole model]")),
    ("--workload", dict(default=None, metavar="SPEC",
                        help="prefill:LEN[xN],decode:CTX[xN],verify:CTX+DRAFT[xN]  [default: a "
                        "mixed step sampled from the embedded Azure request-length distribution]")),
    ("--trace", dict(default=None, metavar="CSV",
                     help="Azure-format trace to sample the step (and any batches) from.")),
    ("--requests", dict(param_decls=("--sample", "requests"), type=click.IntRange(1, MAX_SAMPLE),
                        default=None, help="Requests in flight sampled from --trace  [default: "
                        "32] (--sample is the same option, as in xcompass import)")),
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
    ("--granularity", dict(type=click.Choice(GRANULARITIES), default="layer",
                           show_default=True, help="What a mapping places: decoder layers, "
                           "kernels of the lowered layers, or Compass's tiles.")),
    ("--tile-width", dict(type=click.IntRange(1, MAX_TILE), default=None,
                          help="Columns of a GEMM tile (--granularity tile)  [default: 128]")),
    ("--tile-heads", dict(type=click.IntRange(1, MAX_TILE), default=None,
                          help="Heads of an attention tile (--granularity tile)  [default: 1]")),
    ("--objective", dict(type=click.Choice(OBJECTIVES), default="edp", show_default=True,
                         help="What the search minimizes (pareto: a latency-energy front; "
                         "goodput, capacity: serve --window of the arrivals, report on "
                         "--test-window).")),
    ("--policy", dict(default=None, metavar="NAME",
                      help="goodput/capacity: serving policy, as xcompass serve  [default: "
                      "sarathi]")),
    ("--slo-ttft", dict(type=float, default=None,
                        help="goodput/capacity: TTFT SLO (s), read at p90  [default: 2]")),
    ("--slo-tbt", dict(type=float, default=None,
                       help="goodput/capacity: time-between-tokens SLO (s), p99  [default: "
                       "0.2]")),
    ("--window", dict(default=None, metavar="START:END",
                      help="goodput/capacity: seconds of the arrivals (--trace, or the "
                      "embedded ones at 4 qps) the search scores on  [default: 0:60]")),
    ("--test-window", dict(default=None, metavar="START:END",
                           help="goodput/capacity: later seconds the result is reported on "
                           "[default: as long as --window, right after it]")),
    ("--rate-scale", dict(type=float, default=None,
                          help="goodput/capacity: arrive F times as fast  [default: 1]")),
    ("--population", dict(type=click.IntRange(2, MAX_POPULATION), default=None,
                          help="Individuals per generation  [default: 100]")),
    ("--generations", dict(type=click.IntRange(1, MAX_GENERATIONS), default=None,
                           help="Generations  [default: 60]")),
    ("--budget", dict(type=click.IntRange(0, MAX_BUDGET), default=0,
                      help="Evaluations, every method the same  [default: population x "
                      "generations]")),
    ("--fidelity", dict(default=None, metavar="F",
                        help="Below a layer: fraction of bred candidates the engine re-costs "
                        "(the rest only screened), in (0, 1]  [default: 0.25 below a layer, "
                        "1 at layer]")),
    ("--coarse", dict(default=None, metavar="CHAIN",
                      help="Below a layer: coarser granularities searched first, coarse to "
                      "fine, e.g. layer,group ('none': no chain)  [default: every coarser "
                      "one]")),
    ("--local", dict(default=None, metavar="SHARE",
                     help="Below a layer: share of the budget for the memetic local search, "
                     "in [0, 1)  [default: 0.75 below a layer, 0 at layer]")),
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
                      help="Continue a checkpoint to the result an uninterrupted run gives "
                      "(its settings come from the checkpoint: no other flag is needed).")),
    ("--workers", dict(type=click.IntRange(1, 256), default=1, show_default=True,
                       help="Processes that evaluate (this one included).")),
    ("--scheduler", dict(default=None, metavar="ADDRESS",
                         help="Evaluate on a Dask cluster (pip install 'xcompass[dask]').")),
    ("--scheduler-timeout", dict(type=FiniteRange(0.1, 600.0), default=None,
                                 help="Seconds to wait for the --scheduler  [default: 5]")),
    ("--pictures/--no-pictures", dict(default=True, show_default=True,
                                      help="Draw the Gantt, mapping and search pictures.")),
    ("--quiet", dict(is_flag=True, help="No live progress display.")),
]
# fmt: on


def search_knobs(o: dict[str, Any]) -> dict[str, Any]:
    """--fidelity, --coarse, --local as `SearchSettings` fields (None: the granularity's
    default), each checked with a one-line diagnostic before any work."""
    from xcompass.search.coarse import check_chain
    from xcompass.search.fidelity import check_fidelity, check_share

    out: dict[str, Any] = {}
    if o.get("fidelity") is not None:
        out["fidelity"] = check_fidelity(o["fidelity"], "--fidelity")
    if o.get("local") is not None:
        out["local"] = check_share(o["local"], "--local")
    if o.get("coarse") is not None:
        chain = () if o["coarse"] == "none" else tuple(o["coarse"].split(","))
        out["coarse"] = check_chain(chain, o["granularity"], "--coarse")
    return out


def _options(f: Any) -> Any:
    for name, kwargs in reversed(OPTIONS):
        kwargs = dict(kwargs)
        extra = kwargs.pop("param_decls", ())
        f = click.option(name, *extra, **kwargs)(f)
    return f


@click.command("explore")
@_options
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
            _check_pareto(o)
        resume = ckpt.load(o["resume"])
        _take_from_checkpoint(o, given, resume)
    if o["objective"] in ("goodput", "capacity"):  # each evaluation serves a window
        from xcompass.explore.serving_options import SERVING_GENERATIONS, SERVING_POPULATION

        DEFAULT_POPULATION, DEFAULT_GENERATIONS = SERVING_POPULATION, SERVING_GENERATIONS
    o["population"] = o["population"] or DEFAULT_POPULATION
    o["generations"] = o["generations"] or DEFAULT_GENERATIONS
    checked = _check(o, resume)
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
