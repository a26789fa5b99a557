"""The serving simulator on hand-worked timelines: each policy's iteration-by-iteration
composition, KV admission and preemption, P-B-D back-pressure, the router and the metrics.

Iterations here cost a fixed second (a stand-in cost function), so every time is countable
by hand; `test_serving_engine.py` checks the engine-costed path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xcompass.errors import XcompassError
from xcompass.serving.arrivals import RequestStream
from xcompass.serving.metrics import SLO, summarize
from xcompass.serving.policies import PolicyOptions
from xcompass.serving.replicas import Replica
from xcompass.serving.simulator import Simulation


def stream(*reqs: tuple[float, int, int]) -> RequestStream:
    """(arrival s, prompt, output) per request."""
    a, p, o = zip(*reqs, strict=True)
    return RequestStream(np.array(a, float), np.array(p), np.array(o))


def one_second(steps: list) -> tuple[float, float]:
    return 1.0, 1.0


def serve(reqs, policy, replicas=1, kv=10**6, **kw):
    reps = [Replica(i, np.array([0]), (i,), kv) for i in range(replicas)]
    sim = Simulation(reqs, reps, [one_second] * replicas, policy, sample_every=1, **kw)
    return sim.run()


def steps(out, replica=0):
    """Each iteration of a replica as (start, [(request, new tokens, history, kind), ...])."""
    it = out.iterations
    return [
        (float(it["start"][k]), [tuple(i) for m in out.sampled[k][1] for i in m])
        for k in range(len(it["start"]))
        if it["replica"][k] == replica
    ]


def test_sarathi_chunks_prompts_under_the_budget_decodes_first():
    out = serve(stream((0, 10, 3), (0, 4, 2)), PolicyOptions("sarathi", token_budget=8))
    assert steps(out) == [
        (0.0, [(0, 8, 0, "p")]),  # A's first chunk fills the budget; B waits
        (1.0, [(0, 2, 8, "c"), (1, 4, 0, "p")]),  # A's rest, then B whole
        (2.0, [(0, 1, 10, "d"), (1, 1, 4, "d")]),  # both decode over their prompts
        (3.0, [(0, 1, 11, "d")]),  # B left with its 2 tokens
    ]
    assert out.first_token_s.tolist() == [2.0, 2.0]
    assert out.finish_s.tolist() == [4.0, 3.0]
    assert out.gaps_s.tolist() == [1.0, 1.0, 1.0]


def test_orca_mixes_whole_prompts_with_decodes():
    out = serve(stream((0, 6, 3), (0.5, 5, 2), (0.5, 9, 1)), PolicyOptions("orca", token_budget=8))
    assert steps(out) == [
        (0.0, [(0, 6, 0, "p")]),
        (1.0, [(0, 1, 6, "d"), (1, 5, 0, "p")]),  # request 2's 9 tokens do not fit what is left
        (2.0, [(0, 1, 7, "d"), (1, 1, 5, "d")]),  # ... nor with two decodes
        (3.0, [(2, 9, 0, "p")]),  # alone, a prompt larger than the budget still runs
    ]
    assert out.finish_s.tolist() == [3.0, 3.0, 4.0]


def test_static_batches_drain_before_the_next_is_admitted():
    out = serve(stream((0, 4, 3), (0, 2, 1), (0.5, 3, 1)), PolicyOptions("static"))
    assert steps(out) == [
        (0.0, [(0, 4, 0, "p"), (1, 2, 0, "p")]),
        (1.0, [(0, 1, 4, "d")]),
        (2.0, [(0, 1, 5, "d")]),
        (3.0, [(2, 3, 0, "p")]),  # arrived at 0.5, admitted once the batch drained
    ]
    assert out.admitted_s.tolist() == [0.0, 0.0, 3.0]


def test_vllm_preempts_the_latest_admitted_and_recomputes_it():
    # 48 KV tokens = 3 blocks of 16: both prompts fit, but the second decode needs a block
    out = serve(stream((0, 16, 20), (0, 16, 4)), PolicyOptions("vllm"), kv=48)
    s = steps(out)
    assert s[0] == (0.0, [(0, 16, 0, "p"), (1, 16, 0, "p")])
    assert s[1] == (1.0, [(0, 1, 16, "d")])  # B preempted: A takes the last free block
    assert s[19] == (19.0, [(0, 1, 34, "d")])  # A's last token
    assert s[20] == (20.0, [(1, 17, 0, "p")])  # B re-prefills prompt + its one token
    assert s[21:] == [(21.0, [(1, 1, 17, "d")]), (22.0, [(1, 1, 18, "d")])]
    assert out.preemptions.tolist() == [0, 1]
    assert out.finish_s.tolist() == [20.0, 23.0]
    b_gaps = out.gaps_s[out.gap_request == 1].tolist()
    assert b_gaps == [20.0, 1.0, 1.0]  # the stall shows up as one long gap


def test_xy_serve_verifies_drafts_and_chunks_on_whole_tiles():
    all_accepted = PolicyOptions("xy-serve", token_budget=40, draft=3, acceptance=1.0, tile=16)
    out = serve(stream((0, 50, 9)), all_accepted)
    assert steps(out) == [
        (0.0, [(0, 32, 0, "p")]),  # 40 cut to whole tiles of 16
        (1.0, [(0, 18, 32, "c")]),  # the rest finishes the prompt: any size
        (2.0, [(0, 4, 50, "v")]),  # draft 3 + 1, all accepted: 4 tokens
        (3.0, [(0, 4, 54, "v")]),  # 4 more: 9 with the prefill's
    ]
    assert out.gaps_s.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    none = PolicyOptions("xy-serve", token_budget=64, draft=3, acceptance=0.0, tile=16)
    out = serve(stream((0, 10, 3)), none)
    assert [s[1] for s in steps(out)] == [[(0, 10, 0, "p")], [(0, 4, 10, "v")], [(0, 4, 11, "v")]]


def test_pbd_buffer_back_pressures_prefill():
    pbd = PolicyOptions("pbd", buffer_tokens=16, max_running=1)
    out = serve(stream((0, 16, 3), (0, 16, 3), (0, 16, 3)), pbd, replicas=2)
    assert [s[1] for s in steps(out, 0)] == [
        [(0, 16, 0, "p")],
        [(1, 16, 0, "p")],
        [(2, 16, 0, "p")],
    ]
    assert [s[0] for s in steps(out, 0)] == [0.0, 1.0, 3.0]  # C waits for B to leave the buffer
    assert out.first_token_s.tolist() == [1.0, 2.0, 4.0]
    assert out.finish_s.tolist() == [3.0, 5.0, 7.0]
    assert out.replica.tolist() == [1, 1, 1]
    assert out.iterations["buffer"].max() == 16


def test_pbd_without_buffer_hands_off_to_reserved_decode_room():
    out = serve(stream((0, 8, 2), (0, 8, 2)), PolicyOptions("pbd", max_running=1), replicas=2)
    # no buffer: B may prefill only once the decoder has room for it, after A left
    assert out.first_token_s.tolist() == [1.0, 3.0]
    assert out.finish_s.tolist() == [2.0, 4.0]


def test_disaggregated_policies_need_two_replicas():
    with pytest.raises(XcompassError, match="needs at least 2 replicas"):
        serve(stream((0, 8, 2)), PolicyOptions("disagg"))
    with pytest.raises(XcompassError, match="--prefill-replicas 2: the mapping has 2"):
        serve(stream((0, 8, 2)), PolicyOptions("disagg", prefill_replicas=2), replicas=2)


def test_router_least_tokens_and_round_robin():
    reqs = stream((0, 100, 50), (0.1, 4, 2), (0.2, 4, 2), (0.3, 4, 2))
    least = serve(reqs, PolicyOptions("sarathi", token_budget=512), replicas=2)
    assert least.replica.tolist() == [0, 1, 1, 1]  # the long request keeps replica 0 busy
    rr = serve(reqs, PolicyOptions("sarathi"), replicas=2, router="round-robin")
    assert rr.replica.tolist() == [0, 1, 0, 1]


def test_requests_that_never_fit_are_reported_not_dropped():
    out = serve(stream((0, 40, 20), (0, 4, 2)), PolicyOptions("sarathi"), kv=48, max_context=0)
    assert list(out.rejected) == [0]
    assert "exceeds any replica's (48)" in out.rejected[0]
    out = serve(stream((0, 40, 20), (0, 4, 2)), PolicyOptions("sarathi"), max_context=50)
    assert out.rejected == {0: "prompt + output = 60 tokens exceed --max-context 50"}
    s = summarize(out, SLO())
    assert (s["requests"], s["finished"], s["rejected"], s["in_flight"]) == (2, 1, 1, 0)


def test_metrics_on_the_sarathi_timeline():
    out = serve(stream((0, 10, 3), (0, 4, 2)), PolicyOptions("sarathi", token_budget=8))
    s = summarize(out, SLO(ttft_s=2.0, tbt_s=1.0))
    assert s["ttft_s"]["p50"] == 2.0 and s["ttft_s"]["mean"] == 2.0
    assert s["tbt_s"]["p99"] == 1.0 and s["tbt_s"]["count"] == 3
    assert s["e2e_s"]["mean"] == 3.5  # (4 + 3) / 2
    assert s["tpot_s"]["mean"] == 1.0  # A: (4 - 2) / 2, B: (3 - 2) / 1
    assert s["makespan_s"] == 4.0
    assert s["throughput_req_s"] == 0.5 and s["throughput_tok_s"] == 5 / 4
    assert s["goodput_req_s"] == 0.5 and s["slo_met"]
    strict = summarize(out, SLO(ttft_s=1.5, tbt_s=1.0))
    assert strict["goodput_req_s"] == 0.0 and not strict["slo_met"]
    assert s["queueing_s"]["mean"] == 0.5  # B admitted at 1
    assert s["energy_j"] == 4.0  # four iterations of 1 J, no idle power


def test_policy_options_are_checked():
    with pytest.raises(XcompassError, match="--policy 'fcfs': unknown"):
        PolicyOptions("fcfs")
    with pytest.raises(XcompassError, match=r"--acceptance 1.5: must be in \[0, 1\]"):
        PolicyOptions("xy-serve", acceptance=1.5)
    with pytest.raises(XcompassError, match="--draft: does not apply to --policy sarathi"):
        PolicyOptions("sarathi").check_applies({"draft": 3})
    with pytest.raises(XcompassError, match="--max-running 0: must be at least 1"):
        PolicyOptions("vllm", max_running=0)


POLICY_NAMES = ("static", "vllm", "orca", "sarathi", "xy-serve", "pbd", "disagg")


REQUESTS = st.lists(
    st.tuples(st.floats(0, 5), st.integers(1, 60), st.integers(1, 12)), min_size=1, max_size=25
)
"""Up to 25 requests as (arrival s, prompt, output): what the property tests serve."""


@settings(max_examples=60, deadline=None)
@given(
    reqs=REQUESTS,
    policy=st.sampled_from(POLICY_NAMES),
    kv=st.integers(16, 400),
    budget=st.integers(1, 64),
    running=st.integers(1, 6),
)
def test_every_request_is_accounted_for(reqs, policy, kv, budget, running):
    reqs = sorted(reqs)
    extra = {"buffer_tokens": 64} if policy == "pbd" else {}
    opts = PolicyOptions(policy, token_budget=budget, max_running=running, **extra)
    out = serve(stream(*reqs), opts, replicas=2 if policy in ("pbd", "disagg") else 1, kv=kv)
    done = ~np.isnan(out.finish_s)
    assert done.sum() + len(out.rejected) == len(reqs)  # nothing left in flight, none lost
    assert not any(done[list(out.rejected)])
    served = np.flatnonzero(done)
    counts = np.bincount(out.gap_request, minlength=len(reqs))
    assert (counts[served] == out.output[served] - 1).all()  # every token after the first
    assert (out.first_token_s[served] >= out.arrival_s[served]).all()
    assert (out.finish_s[served] >= out.first_token_s[served]).all()
    assert (out.iterations["kv_used"] <= kv).all()


def test_host_queue_model_by_hand():
    from xcompass.serving.host import HostModel, host_time

    host = HostModel(launch_us=10.0, fixed_us=200.0, replay_us=50.0)
    # eager: 1,000 launches = 10 ms of issue; the device's 4 ms hide under it, plus the fixed
    assert host_time("eager", host, 1000, False, 0.004, 0.0) == pytest.approx(0.0102)
    # a device-bound step: the host runs ahead, only the fixed part shows
    assert host_time("eager", host, 1000, True, 0.030, 0.0) == pytest.approx(0.0302)
    # graph-decode: a decode step replays its graph, a step with a prompt is eager
    assert host_time("graph-decode", host, 1000, False, 0.004, 0.0) == pytest.approx(0.00405)
    assert host_time("graph-decode", host, 1000, True, 0.004, 0.0) == pytest.approx(0.0102)
    assert host_time("graph", host, 1000, True, 0.004, 0.0) == 0.004
    jittery = HostModel(launch_us=10.0, jitter=0.5)
    assert host_time("eager", jittery, 1000, False, 0.0, 1.0) == pytest.approx(0.01 * np.exp(0.5))


def test_host_time_enters_each_iteration():
    reqs = stream((0, 8, 3))
    wall = lambda has_prompt, device: device + (0.5 if has_prompt else 0.25)  # noqa: E731
    reps = [Replica(0, np.array([0]), (0,), 10**6)]
    out = Simulation(reqs, reps, [one_second], PolicyOptions("sarathi"), host=wall).run()
    assert out.iterations["start"].tolist() == [0.0, 1.5, 2.75]
    assert out.finish_s.tolist() == [4.0]
