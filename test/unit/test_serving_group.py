"""The decode group (`xcompass.serving.decodegroup`) against the per-request path: Orca and
Sarathi served both ways must give the same run, iteration by iteration, with a cost that
depends on every feature the group sums (count, mean and longest history)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_serving import REQUESTS

from xcompass.serving.arrivals import RequestStream
from xcompass.serving.cost_cache import Features
from xcompass.serving.decodegroup import DecodeGroup
from xcompass.serving.policies import PolicyOptions
from xcompass.serving.replicas import Replica
from xcompass.serving.simulator import Simulation


def feature_cost(f: Features) -> tuple[float, float]:
    """A step's seconds and joules from every feature (distinct weights: a wrong sum shows)."""
    t = 1.0 + 0.1 * f.decodes + 0.01 * f.decode_ctx + 0.001 * f.decode_max
    t += 0.05 * f.chunks + 0.003 * f.prompt_tokens + 0.0007 * f.chunk_ctx
    return t, 2.0 * t


def item_cost(step: list) -> tuple[float, float]:
    (items,) = step
    return feature_cost(Features.of(items))


def run(reqs, policy: PolicyOptions, kv: int, grouped: bool):
    reps = [Replica(0, np.array([0]), (0,), kv)]
    sim = Simulation(
        reqs, reps, [item_cost], policy, sample_every=1,
        feature_costs=[feature_cost] if grouped else None,
    )  # fmt: skip
    return sim.run()


def test_group_sums_follow_joins_and_leaves():
    g = DecodeGroup()
    g.join(7, 0, history=100, tokens=1, output=3, last=0.5)  # decodes in iterations 0 and 1
    g.join(8, 0, history=40, tokens=1, output=5, last=0.5)
    assert (g.total, g.longest(0), g.longest(2)) == (140, 100, 102)
    assert g.items(1) == [(7, 1, 101, "d"), (8, 1, 41, "d")]
    assert g.finishing == {1: [7], 3: [8]}
    g.ends.extend([1.0, 3.0])
    tokens, last, gaps = g.leave(7, 1)
    assert (tokens, last, gaps.tolist()) == (3, 3.0, [0.5, 2.0])
    assert (g.total, g.longest(1)) == (41 - 1, 41)  # the longest recomputed: request 8's


def test_a_request_that_leaves_before_decoding_has_no_gaps():
    g = DecodeGroup()
    g.join(3, 5, history=10, tokens=1, output=4, last=2.0)
    tokens, last, gaps = g.leave(3, 4)
    assert (tokens, last, len(gaps)) == (1, 2.0, 0)


@settings(max_examples=60, deadline=None)
@given(
    reqs=REQUESTS,
    policy=st.sampled_from(("orca", "sarathi")),
    kv=st.integers(64, 800),
    budget=st.integers(1, 64),
    running=st.integers(1, 8),
)
def test_grouped_decodes_serve_what_per_request_decodes_serve(reqs, policy, kv, budget, running):
    reqs = sorted(reqs)
    a, p, o = (np.array(x) for x in zip(*reqs, strict=True))
    stream = RequestStream(a.astype(float), p, o)
    opts = PolicyOptions(policy, token_budget=budget, max_running=running)
    one, other = run(stream, opts, kv, True), run(stream, opts, kv, False)
    for name in ("admitted_s", "first_token_s", "finish_s", "gap_count", "energy_j"):
        assert np.array_equal(getattr(one, name), getattr(other, name), equal_nan=True), name
    for name, values in one.iterations.items():
        assert np.array_equal(values, other.iterations[name]), name
    # the same gaps per request (the group writes a request's gaps when it leaves)
    mine, theirs = (np.lexsort((out.gaps_s, out.gap_request)) for out in (one, other))
    assert np.array_equal(one.gap_request[mine], other.gap_request[theirs])
    assert np.array_equal(one.gaps_s[mine], other.gaps_s[theirs])
    # the sampled steps list the same requests
    assert [sorted(s[1][0]) for s in one.sampled] == [sorted(s[1][0]) for s in other.sampled]
