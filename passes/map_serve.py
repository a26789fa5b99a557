"""`map-serve{policy= trace= qps= duration= rate-scale= requests= slo-ttft= slo-tbt= report=}`:
serve requests arriving over time on the module's mapping and write what users of the server
see onto the `map.mapping` (TTFT p50/p90/p99, TBT p99, throughput, goodput, whether the SLOs
hold) and, with `report`, the whole summary as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import numpy as np
from xcompass.dialects.map import MappingOp
from xcompass.passes.errors import PassFailure, check_choices
from xcompass.passes.ir_bridge import find_mapping, read_mapping
from xdsl.context import Context
from xdsl.dialects.builtin import BoolAttr, FloatAttr, IntegerAttr, ModuleOp, StringAttr, f64, i64
from xdsl.passes import ModulePass

from xcompass.errors import XcompassError
from xcompass.fileio import write_atomically
from xcompass.serving.host import EXECUTIONS
from xcompass.serving.policies import POLICIES

ATTRS = {
    "serve_ttft_p50_s": ("ttft_s", "p50"),
    "serve_ttft_p90_s": ("ttft_s", "p90"),
    "serve_ttft_p99_s": ("ttft_s", "p99"),
    "serve_tbt_p50_s": ("tbt_s", "p50"),
    "serve_tbt_p99_s": ("tbt_s", "p99"),
    "serve_tpot_mean_s": ("tpot_s", "mean"),
    "serve_e2e_p90_s": ("e2e_s", "p90"),
    "serve_throughput_req_s": ("throughput_req_s", None),
    "serve_throughput_tok_s": ("throughput_tok_s", None),
    "serve_goodput_req_s": ("goodput_req_s", None),
    "serve_energy_per_token_j": ("energy_per_token_j", None),
}
"""Attributes map-serve writes on the mapping, and where in the summary each comes from."""


def serving_setup_of(module: ModuleOp, pass_name: str, mode: str = "graph"):  # noqa: ANN201
    """The module's whole-model mapping as a `ServingSetup` (its model, target, kernels)."""
    from xcompass.serving import ServingSetup

    mapping_op = find_mapping(module)
    if mapping_op is None:
        raise PassFailure(f"{pass_name}: the module has no map.mapping (run llm-partition first)")
    if mapping_op.granularity_name != "layer":
        raise PassFailure(
            f"{pass_name}: a '{mapping_op.granularity_name}' mapping places units below a "
            "layer; serving needs a layer mapping"
        )
    placed = read_mapping(module, pass_name)
    problem, groups, mapping = placed.problem, placed.groups, placed.mapping
    if not problem.whole_model:
        raise PassFailure(
            f"{pass_name}: the module maps {problem.layers} decoder layers, not the whole model "
            "(import it without --layers): serving needs the embedding and the LM head"
        )
    try:
        return ServingSetup(
            problem.model, problem.target, mapping, groups, problem.kernels, mode,
            strategy=_strategy(mapping_op),
        )  # fmt: skip
    except XcompassError as exc:
        raise PassFailure(f"{pass_name}: {exc}") from None


def _strategy(op: MappingOp) -> str:
    attr = op.attributes.get("strategy")
    return attr.data if isinstance(attr, StringAttr) else "mapping"


@dataclass(frozen=True)
class MapServePass(ModulePass):
    """Serve a trace (`trace=CSV`, at its timestamps x `rate-scale`, first `requests`) or
    Poisson arrivals (`qps`, `duration`, lengths from the embedded Azure distribution) on the
    module's mapping with `policy`; SLOs `slo-ttft` (read at p90) and `slo-tbt` (p99). `mode`
    is how steps are issued (graph, eager: the target's launch_us per kernel, graph-decode),
    as `xcompass serve --mode`."""

    name = "map-serve"

    policy: Literal[POLICIES] = "sarathi"
    trace: str = ""
    qps: float | int = 0.0  # an integer is a number too
    duration: float | int = 0.0
    rate_scale: float | int = 1.0
    requests: int = 0
    slo_ttft: float | int = 2.0
    slo_tbt: float | int = 0.2
    token_budget: int = 0
    max_running: int = 64
    mode: Literal[EXECUTIONS] = "graph"
    seed: int = 0
    report: str = ""

    def check_options(self) -> None:
        check_choices(self)

    def _checked(self) -> tuple:
        from xcompass.serving.arrivals import check_positive
        from xcompass.serving.metrics import SLO
        from xcompass.serving.policies import PolicyOptions

        if bool(self.trace) == bool(self.qps):
            raise XcompassError("give trace=CSV or qps=Q (with duration=S), one of them")
        if self.qps:
            check_positive("option qps", self.qps, 1e6)
            check_positive("option duration", self.duration, 30 * 86400.0)
        check_positive("option rate-scale", self.rate_scale, 1e6)
        check_positive("option slo-ttft", self.slo_ttft, 86400.0)
        check_positive("option slo-tbt", self.slo_tbt, 86400.0)
        if not 0 <= self.requests <= 2**20:
            raise XcompassError(f"option requests={self.requests}: must be 0 to {2**20:,}")
        policy = PolicyOptions(self.policy, token_budget=self.token_budget,
                               max_running=self.max_running)  # fmt: skip
        return policy, SLO(self.slo_ttft, self.slo_tbt)

    def _stream(self):  # noqa: ANN202
        from xcompass.explore.workloads import embedded_lengths
        from xcompass.model.trace import read_trace
        from xcompass.serving import from_trace, generated

        if self.trace:
            return from_trace(read_trace(self.trace), rate_scale=self.rate_scale,
                              requests=self.requests or None)  # fmt: skip
        prompt, output = embedded_lengths().draw(np.random.default_rng(self.seed), 4096)
        stream = generated(self.qps, self.duration, prompt, output, seed=self.seed)
        if self.rate_scale != 1.0:
            stream = stream.scaled(self.rate_scale)
        return stream.first(self.requests) if self.requests else stream

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from xcompass.serving import HostModel, simulate

        self.check_options()
        try:
            policy, slo = self._checked()
        except XcompassError as exc:
            raise PassFailure(f"map-serve: {exc}") from None
        setup = serving_setup_of(op, "map-serve")
        host = HostModel(launch_us=setup.target.kinds[0].launch_us)
        try:
            run = simulate(setup, self._stream(), policy, slo=slo, seed=self.seed,
                           execution=self.mode, host=host)  # fmt: skip
        except XcompassError as exc:
            raise PassFailure(f"map-serve: {exc}") from None
        s = run.summary
        mapping_op = find_mapping(op)
        for name, (key, sub) in ATTRS.items():
            value = s[key][sub] if sub else s[key]
            mapping_op.attributes[name] = FloatAttr(float(value), f64)
        mapping_op.attributes["serve_policy"] = StringAttr(policy.name)
        mapping_op.attributes["serve_requests"] = IntegerAttr(int(s["finished"]), i64)
        mapping_op.attributes["serve_slo_met"] = BoolAttr.from_bool(bool(s["slo_met"]))
        if self.report:
            try:
                write_atomically(self.report, json.dumps(s, indent=1) + "\n")
            except OSError as exc:
                raise PassFailure(
                    f"map-serve: cannot write report '{self.report}' ({exc.strerror})"
                ) from None
