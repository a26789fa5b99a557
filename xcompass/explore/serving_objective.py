"""`objective=goodput|capacity`: the search scores a mapping by serving requests over time.

A static objective prices one step; a deployment is judged by how many requests per second
meet their SLOs. With a serving objective, every genome (at `granularity=layer`, a whole-model
mapping) is turned into a `Mapping`, served by `xcompass.serving.simulate` on a *training*
window of arrivals with the chosen policy and SLOs, and scored:

- `goodput`: the requests per second that meet both SLOs on the training window (DistServe's
  per-request attainment, `summary["goodput_req_s"]`: over the run's makespan, first arrival
  to last finish, so the window's drain counts too; a window long against a request's life
  weighs it less). It tells mappings apart only under load: when every mapping meets every
  SLO and drains alike, all score about the offered rate (raise `--rate-scale`, or use
  `capacity`, which needs no load to be chosen).
- `capacity`: the highest arrival rate (the training window replayed faster or slower) at
  which the SLOs hold (Vidur-Search's criterion, `serving.capacity.find_capacity`); about ten
  serving runs per mapping, so roughly three times goodput's cost. The window must be long
  enough that its requests, arriving at once, cannot all be served within the TTFT SLO:
  otherwise every mapping reaches find_capacity's ceiling (2**10 x the window's rate; the
  figures say `capped`, the table "≥").

After the search, each method's best mapping is served again on a *test* window, a later
part of the same arrivals that no method ever scored, and both figures go into the report:
the test window says whether the mapping found is good for the traffic or only for the few
minutes it was chosen on.

How the figures travel through the search (which knows latency and energy per request batch,
`Evaluation`): one row (the training window) per individual, `latency_s` = seconds per good
request (1 / goodput, or 1 / capacity; +inf when none is good) and `energy_j` = energy per
finished request (at the window's own rate). `objectives.score_arrays` turns that into
-goodput (-capacity), lower is better like every score. A mapping that cannot serve at all
(no memory left for KV after the weights and activations, on any replica) is infeasible: both
rows +inf, scored +inf, never selected, as a mapping that does not fit in memory is. Every
method (GA, simulated annealing, random search, the standard strategies) is scored through
this one evaluator, so the table compares like with like.

What makes it affordable (a search serves hundreds of mappings):
- a genome served once is never served again (memoized on its bits and placement: a GA's
  elites and repeated children cost nothing);
- the iteration-cost grid of a replica (`serving.cost_cache.CachedCost`: exact engine calls at
  grid corners) is kept across individuals, keyed by what the replica's engine depends on (the
  segmentation, its rows of the placement): a mutation that changes one replica of a
  data-parallel mapping re-costs only that replica. Grid corners are exact engine values, so a
  shared grid gives bit-identical results whatever order individuals come in (in-process, over
  workers or on Dask);
- the kernel-cost memo (`layercost.build_cost_table(memo=...)`, keyed by kernel, chiplet kind,
  TP degree and what the kernel depends on) is one dict for every replica of every mapping: it
  depends only on the model, target and kernels, which the objective fixes;
- the training window is short by default (60 s of arrivals) and iterations are costed through
  the grid (`check=0`: no exact re-costing inside the search). The answer's test-window run
  re-costs `TEST_CHECK` of its iterations exactly and reports the cache's error.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xcompass.engine.mapping import Groups, Mapping
from xcompass.errors import XcompassError
from xcompass.explore.serving_options import DEFAULT_QPS, ServingOptions, is_serving
from xcompass.hardware.targets import Target
from xcompass.layer.kernels import Kernel
from xcompass.model.models import ModelConfig
from xcompass.search.evaluation import Evaluation
from xcompass.search.objectives import SERVING_OBJECTIVES
from xcompass.serving import ServingRun, ServingSetup, simulate
from xcompass.serving.arrivals import RequestStream
from xcompass.serving.capacity import find_capacity
from xcompass.serving.cost_cache import CachedCost
from xcompass.serving.metrics import SLO
from xcompass.serving.policies import PolicyOptions
from xcompass.serving.replicas import replica_engine

GRID_CACHE = 512
"""Replica cost grids kept (least recently used dropped first): bounds memory on long runs."""
TEST_CHECK = 100
"""Iterations of the answer's test-window run re-costed exactly (the cache's error)."""

FIGURES = ("goodput_req_s", "throughput_req_s", "slo_attainment", "slo_met", "requests",
           "finished", "rejected", "energy_per_request_j")  # fmt: skip


def streams(options: ServingOptions) -> tuple[RequestStream, RequestStream]:
    """The training and test windows' requests (one-line errors naming the option)."""
    from xcompass.serving.arrivals import check_positive, from_trace

    check_positive("--rate-scale", options.rate_scale, 1e6)
    train_w, test_w = options.windows()
    if options.trace is None:
        return (_embedded(train_w, options.rate_scale, options.seed, train_w, test_w),
                _embedded(test_w, options.rate_scale, options.seed, train_w, test_w))  # fmt: skip
    from xcompass.model.trace import read_trace

    data = read_trace(options.trace)
    out = []
    for flag, w in (("--window", train_w), ("--test-window", test_w)):
        try:
            out.append(from_trace(data, window=w, rate_scale=options.rate_scale))
        except XcompassError as exc:
            text = str(exc)
            if text.startswith("--window"):  # outside the trace: name the window asked for
                text = text.split(": ", 1)[1]
            elif "holds no request" not in text:  # the trace itself (no timestamps, order)
                raise XcompassError(f"--trace {text}") from None
            raise XcompassError(f"{flag} {w[0]:g}:{w[1]:g}: {text}") from None
    return out[0], out[1]


def _embedded(
    window: tuple[float, float],
    rate_scale: float,
    seed: int,
    *every: tuple[float, float],
) -> RequestStream:
    """A window of the embedded arrivals: one Poisson stream at DEFAULT_QPS with lengths drawn
    from the embedded Azure distribution, long enough for every window asked for (so the
    training and test windows are parts of the same traffic)."""
    from xcompass.explore.workloads import embedded_lengths
    from xcompass.serving.arrivals import generated

    end = max(w[1] for w in every)
    prompt, output = embedded_lengths().draw(np.random.default_rng(seed), 4096)
    stream = generated(DEFAULT_QPS, end, prompt, output, seed=seed, source="embedded arrivals")
    keep = np.flatnonzero((stream.arrival_s >= window[0]) & (stream.arrival_s < window[1]))
    if not keep.size:
        raise XcompassError(f"--window {window[0]:g}:{window[1]:g}: holds no request")
    out = RequestStream(
        stream.arrival_s[keep] - stream.arrival_s[keep[0]],
        stream.prompt[keep],
        stream.output[keep],
        f"embedded arrivals ({DEFAULT_QPS:g} qps) {window[0]:g}:{window[1]:g} s",
    )
    return out.scaled(rate_scale) if rate_scale != 1.0 else out


@dataclass
class _SharedSetup(ServingSetup):
    """A serving setup whose replicas take their cost grids from the objective's shared cache
    (see the module docstring) instead of building their own."""

    grids: Any = field(default=None, repr=False)

    def costs(self) -> list[CachedCost]:
        if not self._costs:
            self._costs = [self.grids.get(self, r) for r in self.replicas]
        return self._costs


class _Grids:
    """Replica cost grids by what the replica's engine depends on, least recently used
    dropped beyond GRID_CACHE; one kernel-cost memo for all of them."""

    def __init__(self) -> None:
        self.grids: OrderedDict[tuple, CachedCost] = OrderedDict()
        self.memo: dict = {}
        self.built = 0

    def get(self, setup: ServingSetup, replica: Any) -> CachedCost:
        m = setup.mapping
        rows = np.ascontiguousarray(m.place[replica.rows], dtype=np.int64)
        key = (m.boundaries.astype(bool).tobytes(), rows.shape, rows.tobytes())
        got = self.grids.get(key)
        if got is not None:
            self.grids.move_to_end(key)
            return got
        engine = replica_engine(setup.model, setup.target, setup.kernels, m, setup.groups,
                                replica, setup.mode)  # fmt: skip
        engine.memo = self.memo  # valid for every engine of this model, target and kernels
        got = self.grids[key] = CachedCost(engine)
        self.built += 1
        if len(self.grids) > GRID_CACHE:
            self.grids.popitem(last=False)
        return got


@dataclass
class ServingObjective:
    """Scores mappings by serving the training window; reports them on the test window.
    (The search's study calls it through `problem.serving`; it lives above the search.)

    Picklable (a process pool or Dask worker holds a copy with its own caches; results do not
    depend on the caches, only the time does)."""

    objective: str
    model: ModelConfig
    target: Target
    kernels: tuple[Kernel, ...] | None
    groups: Groups
    mode: str
    policy: PolicyOptions
    slo: SLO
    train: RequestStream
    test: RequestStream
    options: ServingOptions = field(default_factory=ServingOptions)
    test_check: int = field(default=TEST_CHECK, init=False)  # the answer's exact re-costs
    _grids: _Grids = field(default_factory=_Grids, init=False, repr=False)
    _memo: dict = field(default_factory=dict, init=False, repr=False)

    @staticmethod
    def as_row(figures: dict[str, Any]) -> tuple[float, float]:
        """A served figure as the (latency, energy) row the search's scores are made of."""
        return _as_row(figures)

    def __post_init__(self) -> None:
        if not is_serving(self.objective):
            raise XcompassError(
                f"objective '{self.objective}' is not a serving objective "
                f"({', '.join(SERVING_OBJECTIVES)})"
            )

    @staticmethod
    def build(
        objective: str,
        model: ModelConfig,
        target: Target,
        kernels: tuple[Kernel, ...] | None,
        groups: Groups,
        mode: str,
        options: ServingOptions,
    ) -> ServingObjective:
        train, test = streams(options)
        return ServingObjective(objective, model, target, kernels, groups, mode,
                                options.policy_options(), options.slo(), train, test,
                                options)  # fmt: skip

    # -- serving one mapping ---------------------------------------------------------------

    def setup(self, mapping: Mapping) -> ServingSetup:
        """The mapping as a server (raises XcompassError when it leaves no KV room)."""
        return _SharedSetup(self.model, self.target, mapping, self.groups, self.kernels,
                            self.mode, grids=self._grids)  # fmt: skip

    def serve(self, mapping: Mapping, stream: RequestStream, check: int = 0) -> ServingRun:
        return simulate(self.setup(mapping), stream, self.policy, slo=self.slo, check=check)

    def figures(self, mapping: Mapping, window: str = "train", check: int = 0) -> dict[str, Any]:
        """The mapping served on a window ("train" or "test"): the objective's `value`
        (goodput or capacity, req/s) and the run's headline figures; `feasible` False with the
        reason when the mapping cannot serve."""
        stream = self.train if window == "train" else self.test
        try:
            setup = self.setup(mapping)
        except XcompassError as exc:
            return {"feasible": False, "why": str(exc), "value": 0.0}
        run = simulate(setup, stream, self.policy, slo=self.slo, check=check)
        out: dict[str, Any] = {"feasible": True, "replicas": len(setup.replicas)}
        if self.objective == "capacity":
            capacity, points = find_capacity(
                stream,
                lambda s: simulate(setup, s, self.policy, slo=self.slo, check=0).summary,
            )
            out["capacity_req_s"] = capacity
            out["capacity_points"] = len(points)
            # find_capacity stops doubling at 2**MAX_DOUBLINGS x the window's rate: a window
            # short enough to be served within the SLOs as one burst has no capacity to find
            out["capped"] = bool(points) and all(p["slo_met"] for p in points)
            out["value"] = capacity
        else:
            out["value"] = run.summary["goodput_req_s"]
        s = run.summary
        out.update({k: s[k] for k in FIGURES})
        out["ttft_p90_s"] = s["ttft_s"]["p90"]
        out["tbt_p99_s"] = s["tbt_s"]["p99"]
        out["offered_req_s"] = _offered(stream)
        if "cost_cache" in s:
            out["cost_cache"] = s["cost_cache"]
        return out

    # -- the search's view -----------------------------------------------------------------

    def evaluate(self, boundaries: np.ndarray, place: np.ndarray) -> Evaluation:
        """[1, P]: seconds per good request and energy per finished request on the training
        window (+inf both for a mapping that cannot serve). Memoized per genome."""
        P = len(place)
        lat, energy = np.full((1, P), np.inf), np.full((1, P), np.inf)
        for p in range(P):
            bits = np.asarray(boundaries[p], dtype=bool)
            pl = np.ascontiguousarray(place[p], dtype=np.int64)
            key = (bits.tobytes(), pl.shape, pl.tobytes())
            got = self._memo.get(key)
            if got is None:
                f = self.figures(Mapping(bits.copy(), pl.copy()))
                got = self._memo[key] = _as_row(f)
            lat[0, p], energy[0, p] = got
        return Evaluation(lat, energy)

    def evaluate_test(self, boundaries: np.ndarray, place: np.ndarray) -> Evaluation:
        """Like `evaluate`, on the test window (not memoized with the training figures)."""
        P = len(place)
        lat, energy = np.full((1, P), np.inf), np.full((1, P), np.inf)
        for p in range(P):
            m = Mapping(np.asarray(boundaries[p], bool).copy(), np.asarray(place[p]).copy())
            lat[0, p], energy[0, p] = _as_row(self.figures(m, "test"))
        return Evaluation(lat, energy)

    def evaluator(self) -> ServingEvaluator:
        return ServingEvaluator(self)

    def bound(self) -> float:
        """A bound on the score no mapping can beat: goodput counts requests that finish, over
        a span at least the window's arrival span, so it is below the window's requests over
        that span (the offered rate). Capacity has no finite bound: -inf (reports read it as
        "none"; every comparison with it is NaN)."""
        span = self.train.span_s
        if self.objective != "goodput" or span <= 0:
            return -math.inf
        return -len(self.train) / span

    def describe(self) -> str:
        o = self.options
        train, test = o.windows()
        scale = f" x{o.rate_scale:g}" if o.rate_scale != 1.0 else ""
        return (
            f"serving {o.trace or 'the embedded arrivals'}{scale} with {self.policy.name} "
            f"(SLOs TTFT p90 <= {self.slo.ttft_s:g} s, TBT p99 <= {self.slo.tbt_s * 1e3:g} ms): "
            f"train window {train[0]:g}:{train[1]:g} s ({len(self.train):,} requests), test "
            f"window {test[0]:g}:{test[1]:g} s ({len(self.test):,} requests)"
        )


def _offered(stream: RequestStream) -> float:
    span = stream.span_s
    return (len(stream) - 1) / span if span > 0 else float(len(stream))


def _as_row(f: dict[str, Any]) -> tuple[float, float]:
    if not f["feasible"]:
        return math.inf, math.inf
    value = float(f["value"])
    return (1.0 / value if value > 0 else math.inf), float(f["energy_per_request_j"])


@dataclass
class ServingEvaluator:
    """`SearchProblem.evaluator` for a serving objective (picklable)."""

    objective: ServingObjective

    def __call__(self, boundaries: np.ndarray, place: np.ndarray) -> Evaluation:
        return self.objective.evaluate(boundaries, place)
