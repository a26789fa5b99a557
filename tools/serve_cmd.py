"""`xcompass serve`: serve requests arriving over time on a mapping and say what users of the
server see (TTFT, TBT, goodput under SLOs, capacity). Every option is checked before any work;
heavy modules load only when the command runs."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import click

from xcompass.errors import XcompassError, shown
from xcompass.model.workload import MAX_SEED, MAX_TOKENS
from xcompass.serving.arrivals import parse_window

DEFAULT_OUT = "xcompass-serve-out"
DEFAULT_QPS, DEFAULT_DURATION_S = 4.0, 60.0
MAX_HOST_US = 1e6
MAX_SLO_S = 86400.0
POLICY_ONLY = ("draft", "acceptance", "buffer_tokens", "prefill_replicas", "tile")


def _positive(option: str, value: float | None, upper: float) -> None:
    if value is not None and (not math.isfinite(value) or not 0 < value <= upper):
        raise XcompassError(f"{option} {value:g}: must be positive and at most {upper:g}")


def _check(o: dict[str, Any]) -> None:
    """Everything that can be said before reading a file: option ranges and combinations."""
    from xcompass.serving.policies import PolicyOptions

    arrivals_given = o["qps"] is not None or o["duration"] is not None
    if o["trace"] is not None and arrivals_given:
        raise XcompassError("--trace and --qps/--duration: give one way of arriving")
    if o["trace"] is None:
        for flag in ("rate_scale", "window"):
            if o[flag] is not None:
                raise XcompassError(f"--{flag.replace('_', '-')}: needs --trace")
    if o["lengths"] is not None and o["trace"] is not None:
        raise XcompassError("--lengths: needs --qps (a trace has its own lengths)")
    if o["mapping"] is not None and o["strategy"] is not None:
        raise XcompassError("--mapping and --strategy: give one or the other")
    _positive("--rate-scale", o["rate_scale"], 1e6)
    _positive("--qps", o["qps"], 1e6)
    _positive("--duration", o["duration"], 30 * 86400.0)
    _positive("--slo-ttft", o["slo_ttft"], MAX_SLO_S)
    _positive("--slo-tbt", o["slo_tbt"], MAX_SLO_S)
    for flag in ("host_us", "replay_us", "jitter", "launch_us"):
        value = o[flag]
        if value is not None and not (math.isfinite(value) and 0 <= value <= MAX_HOST_US):
            raise XcompassError(f"--{flag.replace('_', '-')} {value:g}: must be 0 to "
                                f"{MAX_HOST_US:g}")  # fmt: skip
    if o["mode"] == "graph":
        for flag in ("launch_us", "host_us", "replay_us", "jitter"):
            if flag in o.get("given", ()):
                raise XcompassError(
                    f"--{flag.replace('_', '-')}: needs --mode eager or graph-decode"
                )
    if o["requests"] is not None and not 1 <= o["requests"] <= 2**20:
        raise XcompassError(f"--requests {o['requests']}: must be 1 to {2**20:,}")
    if not 0 <= o["max_context"] <= MAX_TOKENS:
        raise XcompassError(f"--max-context {o['max_context']}: must be 0 to {MAX_TOKENS:,}")
    if not 0 <= o["check"] <= 100_000:
        raise XcompassError(f"--check {o['check']}: must be 0 to 100,000")
    if not 0 <= o["seed"] <= MAX_SEED:
        raise XcompassError(f"--seed {o['seed']}: must be 0 to {MAX_SEED:,}")
    parse_window("--window", o["window"])
    given = {k: o[k] for k in POLICY_ONLY}
    policy = PolicyOptions(
        o["policy"],
        token_budget=o["token_budget"] or 0,
        max_running=o["max_running"],
        **{k: v for k, v in given.items() if v is not None},
    )
    policy.check_applies(given)


def _check_out(out: str, inputs: dict[str, str | None]) -> None:
    """Never write over an input: refuse before work when one sits in --out under a name the
    run writes."""
    from xcompass.serving.outputs import OUTPUTS

    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise XcompassError(f"--out {shown(out)}: exists and is not a folder")
    for flag, path in inputs.items():
        if path is None or not os.path.exists(path):
            continue
        for name in OUTPUTS:
            target = folder / name
            if target.exists() and os.path.samefile(target, path):
                raise XcompassError(
                    f"--out {shown(out)}: would overwrite {flag} {shown(path)} (the run writes "
                    f"{name}); choose another folder"
                )


OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--model", {"default": "llama3-8b", "show_default": True,
                 "help": "Model preset or Hugging Face config.json."}),
    ("--target", {"default": "h100", "show_default": True, "help": "Target preset or TOML."}),
    ("--mapping", {"default": None, "help": "A whole-model mapping.mlir (xcompass explore "
                   "--out, or llm-partition) whose model and target are the command's."}),
    ("--strategy", {"default": None, "help": "A standard mapping in llm-partition's words, "
                    "e.g. 'hybrid tp=4 dp=2'  [default: tensor, the largest TP group]"}),
    ("--lowering", {"default": "default", "show_default": True,
                    "type": click.Choice(["default", "pytorch", "none"]),
                    "help": "How a layer runs (the named lowering pipeline)."}),
    ("--policy", {"default": "sarathi", "show_default": True,
                  "help": "static, vllm, orca, sarathi, xy-serve, pbd, disagg."}),
    ("--trace", {"default": None, "help": "Replay a trace (TIMESTAMP,ContextTokens,"
                 "GeneratedTokens) at its own timestamps."}),
    ("--rate-scale", {"type": float, "default": None, "help": "Arrive F times as fast."}),
    ("--window", {"default": None, "help": "START:END seconds of the trace to replay."}),
    ("--requests", {"type": int, "default": None, "help": "Serve only the first N."}),
    ("--qps", {"type": float, "default": None,
               "help": f"Poisson arrivals per second  [default: {DEFAULT_QPS:g} without --trace]"}),
    ("--duration", {"type": float, "default": None,
                    "help": f"Seconds of arrivals  [default: {DEFAULT_DURATION_S:g}]"}),
    ("--lengths", {"default": None, "help": "Prompt lengths for --qps: a SPEC of prefill:LEN "
                   "items or a trace CSV  [default: the embedded Azure distribution]"}),
    ("--output-tokens", {"type": int, "default": 128, "show_default": True,
                         "help": "Output tokens per request with a SPEC --lengths."}),
    ("--token-budget", {"type": int, "default": None,
                        "help": "Tokens per iteration  [default: 512 chunked, 4096 whole]"}),
    ("--max-running", {"type": int, "default": 64, "show_default": True,
                       "help": "Most requests holding KV at once (per replica)."}),
    ("--max-context", {"type": int, "default": 0, "show_default": True,
                       "help": "Skip (and report) requests whose prompt + output exceed it; 0: "
                       "none."}),
    ("--draft", {"type": int, "default": None, "help": "xy-serve: draft tokens per verify."}),
    ("--acceptance", {"type": float, "default": None,
                      "help": "xy-serve: acceptance probability per draft token."}),
    ("--tile", {"type": int, "default": None, "help": "xy-serve: chunk granule in tokens."}),
    ("--buffer-tokens", {"type": int, "default": None,
                         "help": "pbd: KV buffer size in tokens (0: direct hand-off)."}),
    ("--prefill-replicas", {"type": int, "default": None,
                            "help": "pbd/disagg: replicas that prefill  [default: half]"}),
    ("--router", {"default": "least-tokens", "show_default": True,
                  "type": click.Choice(["least-tokens", "round-robin"])}),
    ("--mode", {"default": "graph", "show_default": True,
                 "type": click.Choice(["graph", "eager", "graph-decode"]),
                 "help": "How steps are issued: CUDA graphs (device time only), eager from the "
                 "host (host queue: max of issue and device time), or decode steps from "
                 "graphs and prompts eager (vLLM)."}),
    ("--launch-us", {"type": float, "default": None,
                     "help": "Host time per launched kernel in eager steps  [default: the "
                     "target's launch_us]"}),
    ("--host-us", {"type": float, "default": 0.0, "show_default": True,
                   "help": "Fixed host time per eager step (scheduling, inputs, sync)."}),
    ("--replay-us", {"type": float, "default": 0.0, "show_default": True,
                     "help": "Host time per CUDA-graph replay (graph-decode)."}),
    ("--jitter", {"type": float, "default": 0.0, "show_default": True,
                  "help": "Lognormal sigma of the eager issue time (measured H100: 0.26)."}),
    ("--slo-ttft", {"type": float, "default": 2.0, "show_default": True,
                    "help": "TTFT SLO (s), read at p90."}),
    ("--slo-tbt", {"type": float, "default": 0.2, "show_default": True,
                   "help": "Time-between-tokens SLO (s), read at p99."}),
    ("--capacity", {"is_flag": True, "help": "Also find the highest rate meeting the SLOs."}),
    ("--exact", {"is_flag": True, "help": "Cost every iteration with the engine (slow)."}),
    ("--check", {"type": int, "default": 200, "show_default": True,
                 "help": "Iterations re-costed exactly to report the cache's error."}),
    ("--seed", {"type": int, "default": 0, "show_default": True}),
    ("--out", {"default": DEFAULT_OUT, "show_default": True}),
    ("--pictures/--no-pictures", {"default": True, "show_default": True}),
    ("--quiet", {"is_flag": True, "help": "No progress display."}),
]  # fmt: skip


def _options(f: Any) -> Any:
    for name, kwargs in reversed(OPTIONS):
        f = click.option(name, **kwargs)(f)
    return f


@click.command("serve")
@_options
def serve_cmd(**o: Any) -> None:
    """Serve requests arriving over time (a trace's timestamps, or Poisson at a QPS) on a
    mapping with a scheduling policy; every iteration is costed by the engine. Prints TTFT,
    TBT, throughput, goodput under the SLOs (and --capacity), writes report.json,
    requests.csv, iterations.csv, trace.json and pictures into --out."""
    started = time.perf_counter()
    from click.core import ParameterSource

    ctx = click.get_current_context()
    o["given"] = {k for k in o if ctx.get_parameter_source(k) is ParameterSource.COMMANDLINE}
    _check(o)
    _check_out(o["out"], {"--trace": o["trace"], "--mapping": o["mapping"],
                          "--model": o["model"], "--target": o["target"],
                          "--lengths": o["lengths"]})  # fmt: skip
    from xcompass import serving
    from xcompass.serving.capacity import find_capacity
    from xcompass.serving.metrics import SLO
    from xcompass.serving.outputs import write_outputs
    from xcompass.serving.policies import PolicyOptions

    setup = _setup(o)
    if o["launch_us"] is None:
        o["launch_us"] = setup.target.kinds[0].launch_us
    stream = _stream(o)
    policy = PolicyOptions(
        o["policy"],
        token_budget=o["token_budget"] or 0,
        max_running=o["max_running"],
        **{k: o[k] for k in POLICY_ONLY if o[k] is not None},
    )
    slo = SLO(o["slo_ttft"], o["slo_tbt"])
    from xcompass.serving.host import HostModel

    host = HostModel(o["launch_us"], o["host_us"], o["replay_us"], o["jitter"])
    kw = dict(router=o["router"], exact=o["exact"], execution=o["mode"], host=host,
              max_context=o["max_context"], seed=o["seed"])  # fmt: skip
    with _progress(o["quiet"], stream.arrival_s[-1]) as tick:
        run = serving.simulate(setup, stream, policy, slo=slo, check=o["check"],
                               progress=tick, **kw)  # fmt: skip
    capacity = None
    if o["capacity"]:
        value, capacity = find_capacity(
            stream, lambda s: serving.simulate(setup, s, policy, slo=slo, check=0, **kw).summary
        )
        run.summary["capacity_req_s"] = value
    written = write_outputs(run, o["out"], o["pictures"], capacity)
    click.echo(summary_table(run.summary))
    click.echo(
        f"\nwrote into {o['out']}: {', '.join(written)} ({time.perf_counter() - started:.1f} s)"
    )


def _setup(o: dict[str, Any]) -> Any:
    from xcompass import serving

    if o["mapping"] is None:
        return serving.serving_setup(
            o["model"], o["target"], strategy=o["strategy"] or "tensor",
            kernels=o["lowering"],
        )  # fmt: skip
    from xcompass.tools.serve_ir import setup_from_mlir

    given = o["given"]
    return setup_from_mlir(
        o["mapping"],
        o["model"] if "model" in given else None,
        o["target"] if "target" in given else None,
        "graph",
    )


def _stream(o: dict[str, Any]) -> Any:
    import numpy as np

    from xcompass import serving
    from xcompass.model.trace import read_trace

    if o["trace"] is not None:
        return serving.from_trace(
            read_trace(o["trace"]),
            rate_scale=o["rate_scale"] or 1.0,
            window=parse_window("--window", o["window"]),
            requests=o["requests"],
        )
    qps = o["qps"] if o["qps"] is not None else DEFAULT_QPS
    duration = o["duration"] if o["duration"] is not None else DEFAULT_DURATION_S
    lengths = o["lengths"]
    if lengths is None:
        from xcompass.explore.workloads import embedded_lengths

        prompt, output = embedded_lengths().draw(np.random.default_rng(o["seed"]), 4096)
    elif lengths.endswith(".csv") or os.path.exists(lengths):
        trace = read_trace(lengths)
        prompt, output = trace.context, np.maximum(trace.generated, 1)
    else:
        from xcompass.serving.arrivals import lengths_from_spec

        prompt, output = lengths_from_spec(lengths, o["output_tokens"])
    stream = serving.generated(qps, duration, prompt, output, seed=o["seed"])
    if not len(stream):
        raise XcompassError(
            f"--qps {qps:g} x --duration {duration:g}: no request arrives; raise either"
        )
    return stream.first(o["requests"]) if o["requests"] else stream


class _progress:
    """A rich bar over simulated time on a terminal's stderr; nothing otherwise."""

    def __init__(self, quiet: bool, end_s: float) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.enabled = not quiet and self.console.is_terminal
        self.end = max(float(end_s), 1e-9)

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("serving"), BarColumn(),
                            TextColumn("{task.fields[t]:>10}"), TimeRemainingColumn(),
                            console=self.console, transient=True)  # fmt: skip
        self.bar.__enter__()
        self.task = self.bar.add_task("serve", total=self.end, t="")
        return lambda t: self.bar.update(self.task, completed=min(t, self.end), t=f"{t:.0f} s")

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)


def _ms(d: dict[str, float]) -> str:
    return f"{d['p50'] * 1e3:,.1f} / {d['p90'] * 1e3:,.1f} / {d['p99'] * 1e3:,.1f}"


def summary_table(s: dict[str, Any]) -> str:
    """The run in a few lines a person reads."""
    pol = s["policy"]
    reps = s["replicas"]
    lines = [
        f"{s['model']} on {s['target']} ({s['strategy'] or 'mapping'}; {len(reps)} "
        f"replica{'s' if len(reps) > 1 else ''}), policy {pol['name']} (budget "
        f"{pol['budget']}, max running {pol['max_running']}), {s['execution']} mode",
        f"{s['requests']:,} requests from {s['source']}: {s['finished']:,} finished, "
        f"{s['rejected']:,} rejected, {s['iterations']:,} iterations over "
        f"{s['makespan_s']:,.1f} s",
        "",
        "                      p50 / p90 / p99 (ms)",
        f"TTFT                  {_ms(s['ttft_s'])}",
        f"time between tokens   {_ms(s['tbt_s'])}",
        f"time per output token {_ms(s['tpot_s'])}",
        f"queueing              {_ms(s['queueing_s'])}",
        f"end to end            {_ms(s['e2e_s'])}",
        "",
        f"throughput {s['throughput_req_s']:.2f} req/s, {s['throughput_tok_s']:,.0f} tok/s; "
        f"goodput {s['goodput_req_s']:.2f} req/s ({s['slo_attainment']:.1%} of requests meet "
        f"TTFT <= {s['slo']['ttft_s']:g} s and TBT <= {s['slo']['tbt_s'] * 1e3:g} ms); SLOs "
        f"{'met' if s['slo_met'] else 'missed'} (TTFT p90, TBT p99)",
        f"energy {s['energy_j']:,.0f} J: {s['energy_per_token_j']:.3f} J/token, "
        f"{s['energy_per_request_j']:.1f} J/request; preemptions {s['preemptions']:,}; MFU "
        f"{s['mfu']:.1%} of busy time",
    ]
    if "capacity_req_s" in s:
        lines.append(f"capacity (highest rate meeting the SLOs): {s['capacity_req_s']:.2f} req/s")
    if "cost_cache" in s:
        c = s["cost_cache"]
        lines.append(
            f"iteration costs: {s['engine_calls']:,} engine calls; on {c['sampled']} of the "
            f"run's iterations the cache is within {c['mean_abs_error']:.2%} of the exact "
            f"engine (mean; max {c['max_abs_error']:.2%})"
        )
    if s["rejected"]:
        ex = s["rejected_example"]
        lines.append(f"rejected, e.g. request {ex['request']}: {ex['why']}")
    return "\n".join(lines)
