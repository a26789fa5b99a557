"""Serving over time (IR-free): replay arrivals through a scheduling policy onto a mapping,
every iteration timed and energy-costed by the engine the search optimizes.

    from xcompass.serving import serving_setup, simulate, PolicyOptions
    setup = serving_setup("llama3-70b", "dgx-h100x8", strategy="tensor tp=8")
    run = simulate(setup, stream, PolicyOptions("sarathi"))
    run.summary["ttft_s"]["p90"], run.summary["goodput_req_s"]

A stream comes from `arrivals.from_trace` (a trace's timestamps) or `arrivals.generated`
(Poisson / gamma at a QPS). See `policies` for the schedulers, `replicas` for how a mapping
becomes servers, `cost_cache` for how an hour of iterations is costed fast and checked.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xcompass.engine.mapping import STRATEGIES, Groups, Mapping, make_groups, partition
from xcompass.errors import XcompassError, shown
from xcompass.hardware.comm import check_mode, transfer_params
from xcompass.hardware.targetfile import load_target
from xcompass.hardware.targets import Target
from xcompass.layer.kernels import Kernel
from xcompass.layer.lowering import core_lowering
from xcompass.model.models import ModelConfig, resolve_model
from xcompass.model.workload import MicroBatch, Request, RequestKind, Workload
from xcompass.search.problem import search_tp_options
from xcompass.serving.arrivals import RequestStream, from_trace, generated
from xcompass.serving.cost_cache import CachedCost, cache_error
from xcompass.serving.host import EXECUTIONS, HostModel, check_execution, host_time
from xcompass.serving.metrics import SLO, summarize
from xcompass.serving.policies import POLICIES, PolicyOptions
from xcompass.serving.replicas import Replica, build_replicas, kv_bytes_per_token, replica_engine
from xcompass.serving.simulator import ROUTERS, Outcome, Simulation

__all__ = [
    "POLICIES",
    "EXECUTIONS",
    "ROUTERS",
    "HostModel",
    "SLO",
    "PolicyOptions",
    "RequestStream",
    "ServingRun",
    "ServingSetup",
    "from_trace",
    "generated",
    "parse_strategy",
    "serving_setup",
    "simulate",
]

_STRATEGY = re.compile(r"(?P<name>[a-z]+)((?:\s+[a-z]+=[0-9]+)*)\s*", re.ASCII)
_DEGREES = ("tp", "pp", "dp")
_TAKES = {"single": (), "tensor": ("tp",), "pipeline": ("pp",), "data": ("dp",),
          "hybrid": _DEGREES}  # fmt: skip


def parse_strategy(text: str) -> tuple[str, dict[str, int]]:
    """`'hybrid tp=4 pp=2 dp=1'` (llm-partition's names) -> ('hybrid', {'tp': 4, ...})."""
    m = _STRATEGY.fullmatch(text.strip())
    where = f"--strategy '{shown(text, 40)}'"
    if not m:
        raise XcompassError(f"{where}: expected 'NAME [tp=N] [pp=N] [dp=N]'")
    name = m["name"]
    if name not in STRATEGIES or name == "pbd":
        valid = ", ".join(s for s in STRATEGIES if s != "pbd")
        hint = " (P-B-D is a serving policy here: --policy pbd)" if name == "pbd" else ""
        raise XcompassError(f"{where}: unknown strategy '{name}' (valid: {valid}){hint}")
    degrees: dict[str, int] = {}
    for part in text.split()[1:]:
        key, _, value = part.partition("=")
        if key not in _DEGREES:
            raise XcompassError(f"{where}: unknown option '{key}' (valid: tp, pp, dp)")
        if key not in _TAKES[name]:
            takes = ", ".join(_TAKES[name]) or "no degree"
            raise XcompassError(f"{where}: {name} takes {takes}, not '{key}'")
        if key in degrees:
            raise XcompassError(f"{where}: '{key}' given twice")
        if len(value) > 6 or not 1 <= int(value) <= 4096:
            raise XcompassError(f"{where}: {key}={value} must be 1 to 4096")
        degrees[key] = int(value)
    return name, degrees


@dataclass
class ServingSetup:
    """What a serving run is for: model, target, the mapping and how its layers run."""

    model: ModelConfig
    target: Target
    mapping: Mapping
    groups: Groups
    kernels: tuple[Kernel, ...] | None
    mode: str = "graph"
    strategy: str = ""
    replicas: list[Replica] = field(default_factory=list)
    _costs: list[CachedCost] = field(default_factory=list, init=False, repr=False)

    def costs(self) -> list[CachedCost]:
        """Each replica's cached engine, kept across runs on this setup (a capacity search
        serves the same mapping many times: its grid corners are costed once)."""
        if not self._costs:
            self._costs = [
                CachedCost(replica_engine(self.model, self.target, self.kernels, self.mapping,
                                          self.groups, r, self.mode))
                for r in self.replicas
            ]  # fmt: skip
        return self._costs

    def __post_init__(self) -> None:
        check_mode(self.mode)
        L = self.mapping.place.shape[1]
        if self.model.layers != L:
            raise XcompassError(
                f"the mapping places {L} layers, {self.model.name} has {self.model.layers}: "
                "serving needs a mapping of the whole model"
            )
        if not self.replicas:
            self.replicas = build_replicas(
                self.model, self.target, self.mapping, self.groups, self.kernels
            )
        empty = [r.index for r in self.replicas if r.kv_tokens < 1]
        if empty:
            raise XcompassError(
                f"the mapping leaves no memory for KV cache on replica {empty[0]} (weights and "
                "activations fill it): use more chiplets per replica"
            )


def _placeholder(microbatches: int) -> Workload:
    reqs = tuple(Request(f"r{b}", RequestKind.DECODE, 1024, 1) for b in range(microbatches))
    mbs = tuple(MicroBatch(f"mb{b}", (f"r{b}",)) for b in range(microbatches))
    return Workload(reqs, mbs)


def strategy_mapping(
    model: ModelConfig, target: Target, groups: Groups, text: str
) -> tuple[Mapping, str]:
    """A standard strategy as a serving mapping: one micro-batch per data-parallel replica and
    pipeline stage (so a pipeline has a micro-batch per stage in flight)."""
    name, deg = parse_strategy(text)
    tp, pp, dp = deg.get("tp", 1), deg.get("pp", 0), deg.get("dp", 1)
    if name == "tensor" and "tp" not in deg:
        tp = max(t for t in groups.tp_options if model.heads % t == 0)
        if tp == 1:  # one chiplet: the largest group is the chiplet itself
            name, deg = "single", {}
    if name == "data" and "dp" not in deg:
        dp = target.chiplets
    stages = pp if name in ("hybrid", "pipeline") and pp else 1
    if name == "pipeline" and not pp:
        stages = min(target.chiplets, model.layers)
    B = max(dp, 1) * max(stages, 1)
    mapping = partition(name, model, _placeholder(B), target, groups, model.layers, tp, pp, dp)
    shown_text = " ".join([name] + [f"{k}={v}" for k, v in (("tp", tp), ("pp", pp), ("dp", dp))
                                    if k in deg or (k == "tp" and name == "tensor")])  # fmt: skip
    return mapping, shown_text


def serving_setup(
    model: str | ModelConfig,
    target: str | Target,
    *,
    strategy: str = "tensor",
    mapping: Mapping | None = None,
    groups: Groups | None = None,
    kernels: tuple[Kernel, ...] | None | str = "default",
    mode: str = "graph",
) -> ServingSetup:
    """A whole-model mapping to serve: a standard `strategy` (llm-partition's syntax) or a
    given `mapping` (with its `groups`); `kernels` as the named lowering pipeline decides
    them (`default`, `pytorch`, `none`) or given."""
    model_cfg = resolve_model(model) if isinstance(model, str) else model
    target_obj = load_target(target) if isinstance(target, str) else target
    if isinstance(kernels, str):
        sample = _placeholder(1)
        sample = Workload(
            (*sample.requests, Request("p", RequestKind.PREFILL, 0, 512)),
            (MicroBatch("mb0", ("r0", "p")),),
        )
        kernels = core_lowering(model_cfg, target_obj, sample, kernels)[0]
    if mapping is None:
        groups = make_groups(target_obj, search_tp_options(model_cfg, target_obj))
        mapping, strategy = strategy_mapping(model_cfg, target_obj, groups, strategy)
    elif groups is None:
        raise XcompassError("a given mapping needs its placement groups")
    return ServingSetup(model_cfg, target_obj, mapping, groups, kernels, mode, strategy)


@dataclass
class ServingRun:
    """A finished run: the summary (report.json), the raw outcome (per request, iteration)."""

    summary: dict[str, Any]
    outcome: Outcome
    setup: ServingSetup
    policy: PolicyOptions

    def request_table(self) -> dict[str, np.ndarray]:
        o = self.outcome
        return {
            "request": np.arange(len(o.arrival_s)),
            "arrival_s": o.arrival_s,
            "prompt": o.prompt,
            "output": o.output,
            "replica": o.replica,
            "admitted_s": o.admitted_s,
            "first_token_s": o.first_token_s,
            "finish_s": o.finish_s,
            "ttft_s": o.first_token_s - o.arrival_s,
            "e2e_s": o.finish_s - o.arrival_s,
            "preemptions": o.preemptions,
        }


def _largest_tile(target: Target) -> int:
    return max(max(k.gemm_tiles) for k in target.kinds)


def simulate(
    setup: ServingSetup,
    stream: RequestStream,
    policy: PolicyOptions,
    *,
    slo: SLO = SLO(),  # noqa: B008 (frozen)
    router: str = "least-tokens",
    exact: bool = False,
    check: int = 200,
    execution: str = "graph",
    host: HostModel = HostModel(),  # noqa: B008 (frozen)
    max_context: int = 0,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> ServingRun:
    """Serve `stream` on `setup` with `policy`. Iterations are costed through the grid cache
    (`cost_cache`), or with `exact` by the engine on every step; `check` iterations of the
    run are re-costed exactly afterwards and the cache's error is in the summary."""
    if policy.name == "xy-serve" and not policy.tile:
        from dataclasses import replace

        policy = replace(policy, tile=_largest_tile(setup.target))
    if not len(stream):
        raise XcompassError("no request to serve")
    room = max(r.kv_tokens for r in setup.replicas)
    smallest = int((stream.prompt + stream.output).min())
    if smallest > room:
        raise XcompassError(
            f"no request fits: the smallest needs {smallest:,} tokens of KV (prompt + output), "
            f"the largest replica holds {room:,}; use more chiplets per replica or shorter "
            "requests"
        )
    caches = setup.costs()
    engines = [c.engine for c in caches]
    calls_before = sum(e.calls for e in engines)
    costs = [c.exact if exact else c.cost for c in caches]
    latency, bandwidth, _ = transfer_params(setup.target.network, setup.mode)
    kvpt = kv_bytes_per_token(setup.model)

    def transfer(tokens: int) -> float:
        return latency + tokens * kvpt / bandwidth

    sim = Simulation(
        stream,
        [
            Replica(r.index, r.rows, r.chiplets, r.kv_tokens, "both", r.idle_w)
            for r in setup.replicas
        ],
        costs,
        policy,
        router=router,
        host=_host_fn(setup, execution, host, seed),
        transfer_s=transfer,
        max_context=max_context,
        seed=seed,
        sample_every=0 if exact or not check else 1,
        sample_cap=check,
        feature_costs=None if exact else [c.cost_features for c in caches],
    )
    started = time.perf_counter()
    outcome = sim.run(progress)
    wall = time.perf_counter() - started
    extra: dict[str, Any] = {
        "policy": {**policy.__dict__, "budget": policy.budget},
        "router": router,
        "model": setup.model.name,
        "target": setup.target.name,
        "strategy": setup.strategy,
        "source": stream.source,
        "execution": execution,
        "host": host.__dict__,
        "simulation_wall_s": wall,
        "engine_calls": sum(e.calls for e in engines) - calls_before,
    }
    if not exact and check and outcome.sampled:
        extra["cost_cache"] = _check_cache(caches, outcome, check)
    idle = np.array([setup.target.kinds[k].idle_w for k in setup.target.kind_of()])
    used = sorted({c for r in setup.replicas for c in r.chiplets})
    other = float(idle.sum() - idle[used].sum())
    kinds = setup.target.kind_of()
    peak = {
        r.index: sum(setup.target.kinds[kinds[c]].peak_tflops for c in r.chiplets) * 1e12
        for r in setup.replicas
    }
    done = ~np.isnan(outcome.finish_s)
    flops = np.where(done, model_flops(setup.model)(outcome.prompt, outcome.output), 0.0)
    summary = summarize(outcome, slo, other, extra, peak, flops)
    return ServingRun(summary, outcome, setup, policy)


def model_flops(model: ModelConfig) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The useful model FLOPs of serving each request (what MFU counts; a recompute after a
    preemption is not useful work): 2 x the active weights per processed token (the prompt and
    every output token but the last), the LM head once per output token, and causal
    attention's QK^T and PV per visible (query, key) pair: n(n + 1)/2 over the prompt and its
    outputs."""
    attn = model.hidden * (2 * model.q_features + 2 * model.kv_features)  # Q, K, V and O
    mlp = model.top_k * (3 if model.gated else 2) * model.hidden * model.ffn
    dense = 2.0 * model.layers * (attn + mlp)
    head = 2.0 * model.vocab * model.hidden
    pair = 4.0 * model.layers * model.q_features

    def flops(prompt: np.ndarray, output: np.ndarray) -> np.ndarray:
        n = prompt.astype(float) + output - 1  # tokens whose K/V the model computes
        return dense * n + head * output + pair * n * (n + 1) / 2

    return flops


def _host_fn(
    setup: ServingSetup, execution: str, host: HostModel, seed: int
) -> Callable[[bool, float], float] | None:
    """The host's part of each iteration (`host.host_time`), or None for `graph`."""
    check_execution(execution)
    if execution == "graph":
        return None
    from xcompass.layer.layercost import kernels_of

    chip = setup.target.kinds[0]  # a MoE layer's routing launches are the target's
    per_layer = sum(kernels_of(k, chip) for k in setup.kernels) if setup.kernels else 0
    kernels = per_layer * setup.model.layers + 3  # embedding, final norm, LM head
    rng = np.random.default_rng(seed + 1)

    def wall(has_prompt: bool, device_s: float) -> float:
        draw = float(rng.standard_normal()) if host.jitter else 0.0
        return host_time(execution, host, kernels, has_prompt, device_s, draw)

    return wall


def _check_cache(caches: list[CachedCost], outcome: Outcome, check: int) -> dict[str, Any]:
    """Re-cost `check` of the run's own iterations exactly: the cache's error on them."""
    sampled = outcome.sampled
    pick = np.unique(np.linspace(0, len(sampled) - 1, min(check, len(sampled))).astype(int))
    rep_of = outcome.iterations["replica"]
    cached, exact = [], []
    started = time.perf_counter()
    for k in pick:
        index, step = sampled[k]
        cache = caches[int(rep_of[index])]
        cached.append(cache.cost(step)[0])
        exact.append(cache.exact(step)[0])
    out = cache_error(np.array(cached), np.array(exact))
    out["check_wall_s"] = time.perf_counter() - started
    out["corners"] = sum(len(c.corners) for c in caches)
    return out


def stream_from(
    *,
    trace: Any = None,
    rate_scale: float = 1.0,
    window: tuple[float, float] | None = None,
    requests: int | None = None,
    qps: float | None = None,
    duration_s: float | None = None,
    lengths: tuple[np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
) -> RequestStream:
    """A trace replay (`trace`, a `Trace`) or generated arrivals (`qps`, `duration_s`,
    `lengths` = (prompt, output) pairs to draw from)."""
    if trace is not None and qps is None:
        return from_trace(trace, rate_scale=rate_scale, window=window, requests=requests)
    if qps is None or duration_s is None or lengths is None:
        raise XcompassError("give a trace, or --qps with --duration and lengths")
    stream = generated(qps, duration_s, *lengths, seed=seed)
    return stream.first(requests) if requests else stream
