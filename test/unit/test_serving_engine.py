"""Serving on the engine: replicas of a mapping, their KV room, iterations costed by the same
engine as map-cost, and the grid cache against the exact engine."""

from __future__ import annotations

import numpy as np
import pytest

from xcompass.engine.context import EvalContext
from xcompass.engine.schedule import evaluate_mapping
from xcompass.errors import XcompassError
from xcompass.layer.layercost import build_cost_table
from xcompass.model.trace import read_trace
from xcompass.model.workload import MicroBatch, Request, RequestKind, Workload
from xcompass.serving import PolicyOptions, parse_strategy, serving_setup, simulate
from xcompass.serving.arrivals import RequestStream, from_trace, generated
from xcompass.serving.replicas import replica_engine


def test_kv_room_of_one_gpu_by_hand():
    setup = serving_setup("llama3-8b", "h100", strategy="single")
    m = setup.model
    L, h, kv, f, V = m.layers, m.hidden, m.kv_features, m.ffn, m.vocab
    weights = 2 * (2 * V * h + L * (h * (h + 2 * kv) + h * h + 3 * h * f))  # bf16 GEMM weights
    free = (80e9 - weights - 2 * h) * 0.9  # one token's activation; KV_FRACTION
    assert setup.replicas[0].kv_tokens == int(free / (L * 2 * kv * 2))  # 439,041 tokens


def test_replicas_are_the_mapping_s_independent_servers():
    dp = serving_setup("llama3-8b", "dgx-h100x8", strategy="hybrid tp=2 dp=4")
    assert [r.chiplets for r in dp.replicas] == [(0, 1), (2, 3), (4, 5), (6, 7)]
    pp = serving_setup("llama3-8b", "dgx-h100x8", strategy="pipeline pp=2")
    assert [(r.chiplets, r.microbatches) for r in pp.replicas] == [((0, 1), 2)]
    # a pipeline stage holds half the layers: twice the tokens of KV per GPU of room
    single = serving_setup("llama3-8b", "h100", strategy="single").replicas[0].kv_tokens
    assert pp.replicas[0].kv_tokens > 2 * single


def test_an_iteration_costs_what_map_cost_charges_for_that_step():
    setup = serving_setup("llama3-8b", "dgx-h100x8", strategy="tensor tp=4")
    rep = setup.replicas[0]
    engine = replica_engine(setup.model, setup.target, setup.kernels, setup.mapping,
                            setup.groups, rep, "graph")  # fmt: skip
    step = [(1, 700, 12, "d"), (300, 0, 1, "p")]
    latency, energy = engine.cost([step])
    reqs = (Request("d", RequestKind.DECODE, 700, 1, 12), Request("p", RequestKind.PREFILL, 0, 300))
    wl = Workload(reqs, (MicroBatch("mb0", ("d", "p")),))
    table = build_cost_table(setup.model, wl, setup.target, setup.groups.tp_options,
                             whole_model=True, kernels=setup.kernels)  # fmt: skip
    ctx = EvalContext(table, setup.groups, setup.target, setup.model.layers)
    mapping = type(setup.mapping)(setup.mapping.boundaries, setup.mapping.place[rep.rows])
    full = evaluate_mapping(ctx, mapping)
    assert latency == pytest.approx(full.latency_s[0], rel=1e-12)
    idle_others = 4 * setup.target.kinds[0].idle_w * latency  # GPUs 4-7 idle in map-cost
    assert energy == pytest.approx(full.energy_j[0] - idle_others, rel=1e-12)


def test_a_prefill_chunk_pays_one_logit_row_not_one_per_token():
    setup = serving_setup("llama3-8b", "h100", strategy="single")
    engine = replica_engine(setup.model, setup.target, setup.kernels, setup.mapping,
                            setup.groups, setup.replicas[0], "graph")  # fmt: skip
    chunk, _ = engine.cost([[(512, 1024, 1, "c")]])
    verify, _ = engine.cost([[(512, 1024, 1, "v")]])  # a verify needs logits for all 512
    assert chunk < verify


def test_cache_agrees_with_the_exact_engine(shared_data):
    trace = read_trace(shared_data / "traces" / "AzureLLMInferenceTrace_conv.csv")
    stream = from_trace(trace, requests=60, rate_scale=4.0)
    setup = serving_setup("llama3-8b", "h100", strategy="single")
    policy = PolicyOptions("sarathi", max_running=16)
    cached = simulate(setup, stream, policy, check=80)
    exact = simulate(setup, stream, policy, exact=True)
    err = cached.summary["cost_cache"]
    assert err["sampled"] == 80 and err["mean_abs_error"] < 0.01
    # iteration boundaries shift a little, so arrivals land in other iterations: compare what
    # a user reads (the distributions), not request by request
    for metric, tol in (("ttft_s", 0.1), ("tbt_s", 0.02), ("e2e_s", 0.02)):
        a, b = cached.summary[metric], exact.summary[metric]
        assert a["mean"] == pytest.approx(b["mean"], rel=tol), metric
    assert exact.summary["engine_calls"] == exact.summary["iterations"]


def test_cache_agrees_with_the_exact_engine_on_a_varlen_kernel(shared_data):
    """FlashAttention-2's varlen kernel tiles and splits by the longest request: the grid keeps
    the longest decode's history (`decode_max`) and interpolates the chunks' history."""
    import dataclasses

    from xcompass.hardware.targetfile import load_target

    h100 = load_target("h100")
    kinds = tuple(dataclasses.replace(k, attention_varlen=2.0) for k in h100.kinds)
    target = dataclasses.replace(h100, kinds=kinds)
    trace = read_trace(shared_data / "traces" / "AzureLLMInferenceTrace_conv.csv")
    stream = from_trace(trace, requests=60, rate_scale=4.0)
    setup = serving_setup("llama3-8b", target, strategy="single")
    cached = simulate(setup, stream, PolicyOptions("sarathi", max_running=16), check=80)
    err = cached.summary["cost_cache"]
    assert err["sampled"] == 80 and err["mean_abs_error"] < 0.01


def test_canonical_step_keeps_the_longest_decode_and_the_mean():
    from xcompass.serving.cost_cache import canonical

    # 4 decodes, mean history 100, the longest 250: three share (400 - 250) / 3 = 50
    assert canonical(4, 100, 250, 0, 0, 0, 0, 4, 0) == [(1, 50, 3, "d"), (1, 250, 1, "d")]
    # no longer one than the mean (0 on the grid: a dense kernel's cache): all at the mean
    assert canonical(4, 100, 0, 0, 0, 0, 1, 516, 0) == [(1, 100, 4, "d"), (512, 0, 1, "p")]


def test_generated_arrivals_are_poisson_at_the_rate_and_deterministic():
    s = generated(20.0, 100.0, np.array([100, 200]), np.array([10, 20]), seed=3)
    assert abs(len(s) - 2000) < 150  # 2000 expected, sd ~45
    gaps = np.diff(s.arrival_s)
    assert abs(gaps.std() / gaps.mean() - 1.0) < 0.1  # exponential: CV 1
    again = generated(20.0, 100.0, np.array([100, 200]), np.array([10, 20]), seed=3)
    assert np.array_equal(s.arrival_s, again.arrival_s) and np.array_equal(s.prompt, again.prompt)
    bursty = generated(20.0, 100.0, np.array([100]), np.array([10]), seed=3, cv=3.0)
    g = np.diff(bursty.arrival_s)
    assert g.std() / g.mean() > 2.0


def test_trace_window_rate_scale_and_bad_traces(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:00:00.0000000,10,0\n"
        "2023-11-16 18:00:01.5000000,20,5\n"
        "2023-11-16 18:00:04.0000000,30,6\n"
    )
    s = from_trace(read_trace(path))
    assert s.arrival_s.tolist() == [0.0, 1.5, 4.0]
    assert s.output.tolist() == [1, 5, 6]  # a row with 0 generated tokens emits the prefill's
    w = from_trace(read_trace(path), window=(1.0, 10.0), rate_scale=2.0)
    assert w.arrival_s.tolist() == [0.0, 1.25] and w.prompt.tolist() == [20, 30]
    with pytest.raises(XcompassError, match="--window 9:10: the trace ends 4.0 s"):
        from_trace(read_trace(path), window=(9.0, 10.0))
    with pytest.raises(XcompassError, match="--rate-scale -1: must be positive"):
        from_trace(read_trace(path), rate_scale=-1.0)
    path.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:00:05,10,1\n2023-11-16 18:00:01,2,3\n"
    )
    with pytest.raises(XcompassError, match="request 2: TIMESTAMP .* is earlier than the request"):
        from_trace(read_trace(path))
    path.write_text("ContextTokens,GeneratedTokens\n10,1\n")
    with pytest.raises(XcompassError, match="has no TIMESTAMP column to replay"):
        from_trace(read_trace(path))


def test_strategy_text_and_whole_model_checks():
    assert parse_strategy("hybrid tp=4 dp=2") == ("hybrid", {"tp": 4, "dp": 2})
    with pytest.raises(XcompassError, match="P-B-D is a serving policy here"):
        parse_strategy("pbd")
    with pytest.raises(XcompassError, match="'tp' given twice"):
        parse_strategy("tensor tp=2 tp=4")
    with pytest.raises(XcompassError, match="unknown option 'ep'"):
        parse_strategy("tensor ep=2")
    with pytest.raises(XcompassError, match="tp=3 does not divide"):
        serving_setup("llama3-8b", "dgx-h100x8", strategy="tensor tp=3")


def test_stream_checks():
    with pytest.raises(XcompassError, match="arrivals must be in time order"):
        RequestStream(np.array([1.0, 0.0]), np.array([1, 1]), np.array([1, 1]))
    with pytest.raises(XcompassError, match="--qps 0: must be positive"):
        generated(0.0, 10.0, np.array([1]), np.array([1]))


def test_a_workload_that_can_never_fit_is_refused_before_work():
    setup = serving_setup("llama3-8b", "h100", strategy="single")
    huge = RequestStream(np.array([0.0, 1.0]), np.array([500_000, 600_000]), np.array([1, 1]))
    with pytest.raises(XcompassError, match="no request fits: the smallest needs 500,001 tokens"):
        simulate(setup, huge, PolicyOptions("sarathi"))


def test_model_flops_by_hand():
    from xcompass.model.models import resolve_model
    from xcompass.serving import model_flops

    m = resolve_model("llama3-8b")  # 32 layers, 4096 hidden, 32 x 128 query, 8 x 128 KV, 14336
    per_token = 2 * 32 * (4096 * (4096 + 2 * 1024) + 4096 * 4096 + 3 * 4096 * 14336)
    head = 2 * 128256 * 4096
    flops = model_flops(m)
    # a 3-token prompt that emits 2 tokens: 4 tokens through the layers (the last output is
    # never fed back), 2 LM-head rows, 1 + 2 + 3 + 4 = 10 causal pairs
    got = flops(np.array([3]), np.array([2]))
    assert got[0] == pytest.approx(4 * per_token + 2 * head + 4 * 32 * 4096 * 10, rel=1e-12)
