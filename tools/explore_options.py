"""The options of `xcompass explore`: one table (name, click settings), so that the command,
its checks and a checkpoint's stored flags read the same names and ranges."""

from __future__ import annotations

from typing import Any

import click

from xcompass.hardware.comm import MODES
from xcompass.model.models import MAX_LAYERS
from xcompass.model.trace import MAX_SAMPLE
from xcompass.model.workload import MAX_MICROBATCHES, MAX_SEED
from xcompass.names import GRANULARITIES
from xcompass.search.objectives import OBJECTIVES

DEFAULT_OUT = "xcompass-out"
MAX_BUDGET = 10**9  # evaluations; fits every IR attribute it reaches (i64)
MAX_TILE = 2**20  # --tile-width, --tile-heads (the model's own sizes refuse most before that)
MAX_POPULATION, MAX_GENERATIONS, MAX_SAMPLES = 10_000, 100_000, 256  # as map-autotune's


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


def explore_options(f: Any) -> Any:
    """The click options of `xcompass explore`, in OPTIONS order."""
    for name, kwargs in reversed(OPTIONS):
        kwargs = dict(kwargs)
        extra = kwargs.pop("param_decls", ())
        f = click.option(name, *extra, **kwargs)(f)
    return f
