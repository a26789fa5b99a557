"""`xcompass explore --objective goodput|capacity`: the search scores mappings by serving a
training window of a trace and reports on a later window it never saw.

A small trace written here (plain-second timestamps, short requests) keeps every serving run
to a fraction of a second: llama3-8b on dgx-h100x8, 2 micro-batches."""

from __future__ import annotations

import json

import numpy as np
import pytest
from xcompass.tools.cli import main

from xcompass.explore import SearchSettings
from xcompass.explore.inputs import problem_spec
from xcompass.explore.serving_objective import ServingObjective
from xcompass.explore.serving_options import ServingOptions
from xcompass.model.trace import read_trace
from xcompass.search.seeds import standard_seeds
from xcompass.serving import PolicyOptions, from_trace, serving_setup, simulate
from xcompass.serving.capacity import find_capacity
from xcompass.serving.metrics import SLO

WORKLOAD = ["--workload", "prefill:512,decode:1024x3", "--microbatches", "2"]
BASE = ["--model", "llama3-8b", "--target", "dgx-h100x8", *WORKLOAD, "--quiet"]
TRACED = ["--model", "llama3-8b", "--target", "dgx-h100x8", "--sample", "4", "--microbatches",
          "2", "--quiet"]  # fmt: skip


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    """80 requests, one every 0.25 s (20 s), prompts 64-1024 and outputs 4-40 tokens."""
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("trace") / "trace.csv"
    rows = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for i in range(80):
        rows.append(f"{i * 0.25:.2f},{int(rng.integers(64, 1025))},{int(rng.integers(4, 41))}")
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def objective(trace: str, name: str = "goodput", **kw) -> tuple:
    spec = problem_spec("llama3-8b", "prefill:512,decode:1024x3", "dgx-h100x8", microbatches=2)
    from dataclasses import replace

    options = ServingOptions(trace=trace, window=(0.0, 10.0), **kw)
    problem = replace(spec, serving=options).problem(0, name)
    return spec, problem


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        main(["explore", *argv])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def direct_goodput(spec, problem, mapping, window, rate_scale) -> dict:
    """`simulate` on a fresh setup (no grid shared with the search), as a user would."""
    setup = serving_setup(
        spec.model, spec.target, mapping=mapping, groups=problem.groups, kernels=spec.kernels
    )
    stream = from_trace(read_trace(problem.serving.options.trace), window=window,
                        rate_scale=rate_scale)  # fmt: skip
    return simulate(setup, stream, PolicyOptions("sarathi"), slo=SLO(), check=0).summary


def test_goodput_ranks_mappings_in_the_order_served_goodput_says(trace):
    # at 6x the trace's rate, one chiplet serving both micro-batches falls behind, eight
    # data-parallel replicas do not: their served goodputs differ, and the scores must say so
    spec, problem = objective(trace, rate_scale=6.0)
    seeds = {s.name: s.mapping for s in standard_seeds(problem)}
    picked = [seeds["single"], seeds["tensor tp=8"]]
    bits = np.stack([m.boundaries.astype(bool) for m in picked])
    place = np.stack([m.place for m in picked])
    ev = problem.evaluator(bits, place)
    from xcompass.search.evaluation import score

    scores = score("goodput", ev, problem.tokens)
    served = [direct_goodput(spec, problem, m, (0.0, 10.0), 6.0)["goodput_req_s"] for m in picked]
    assert served[0] != served[1]
    assert np.argsort(scores).tolist() == np.argsort([-g for g in served]).tolist()
    assert scores == pytest.approx([-g for g in served], rel=1e-12)


def test_shared_grids_do_not_depend_on_the_order_individuals_come_in(trace):
    _, problem = objective(trace, rate_scale=3.0)
    seeds = standard_seeds(problem)[:4]
    bits = np.stack([s.mapping.boundaries.astype(bool) for s in seeds])
    place = np.stack([s.mapping.place for s in seeds])
    forward = problem.evaluator(bits, place)
    _, fresh = objective(trace, rate_scale=3.0)
    backward = fresh.evaluator(bits[::-1], place[::-1])
    np.testing.assert_array_equal(forward.latency_s, backward.latency_s[:, ::-1])
    np.testing.assert_array_equal(forward.energy_j, backward.energy_j[:, ::-1])


def test_a_mapping_with_no_kv_room_is_infeasible_not_a_crash(trace):
    from xcompass.search.population import evaluate

    spec, problem = objective(trace)
    serving = problem.serving
    # a model whose weights fill a chiplet: llama3-70b on one H100 of the DGX
    big = problem_spec("llama3-70b", "prefill:512,decode:1024x3", "dgx-h100x8", microbatches=2)
    big_problem = big._static_problem(0)
    one = ServingObjective(
        "goodput", big.model, big.target, big.kernels, big_problem.groups, "graph",
        serving.policy, serving.slo, serving.train, serving.test, serving.options,
    )  # fmt: skip
    B, U = big_problem.shape
    ev = one.evaluate(np.zeros((1, U - 1), bool), np.zeros((1, B, U), np.int64))
    assert np.isinf(ev.latency_s).all() and np.isinf(ev.energy_j).all()
    scored, _ = evaluate(problem, "goodput", np.zeros((1, problem.units - 1), bool),
                         np.zeros((1, *problem.shape), np.int64))  # fmt: skip
    assert np.isfinite(scored.score[0])  # 8b on one chiplet serves (badly): feasible


def test_capacity_objective_is_find_capacity_of_the_training_window(trace):
    spec, problem = objective(trace, "capacity")
    mapping = {s.name: s.mapping for s in standard_seeds(problem)}["tensor tp=4"]
    ev = problem.evaluator(mapping.boundaries[None].astype(bool), mapping.place[None])
    setup = serving_setup(
        spec.model, spec.target, mapping=mapping, groups=problem.groups, kernels=spec.kernels
    )
    stream = from_trace(read_trace(trace), window=(0.0, 10.0))
    capacity, _ = find_capacity(
        stream, lambda s: simulate(setup, s, PolicyOptions("sarathi"), check=0).summary
    )
    assert capacity > 0
    assert 1.0 / ev.latency_s[0, 0] == pytest.approx(capacity, rel=1e-12)


@pytest.fixture(scope="module")
def explored(tmp_path_factory, trace):
    out = tmp_path_factory.mktemp("goodput") / "out"
    argv = [*TRACED, "--objective", "goodput", "--trace", trace, "--window", "0:10",
            "--rate-scale", "4", "--population", "6", "--generations", "2", "--seed", "3",
            "--no-pictures", "--out", str(out)]  # fmt: skip
    main_code = 0
    try:
        main(["explore", *argv])
    except SystemExit as exc:
        main_code = int(exc.code or 0)
    assert main_code == 0
    return out


def test_the_table_shows_training_and_test_goodput_for_every_method(explored, capsys):
    code, printed, _ = run(capsys, "--help")
    assert code == 0 and "--test-window" in printed and "--slo-ttft" in printed
    report = json.loads((explored / "report.json").read_text())
    search = report["search"]
    assert search["objective"] == "goodput"
    assert search["serving"]["window"] == [0.0, 10.0]
    assert search["serving"]["test_window"] == [10.0, 20.0]  # as long, right after
    for name in ("ga", "sa", "random", "standard"):
        sv = search["methods"][name]["serving"]
        assert sv["train"]["value"] == pytest.approx(-search["methods"][name]["score"])
        assert sv["test"]["requests"] == 40 and sv["train"]["requests"] == 40
    from xcompass.explore.table import results_table

    table = results_table(report)
    for text in ("train goodput req/s", "test goodput req/s", "simulated annealing",
                 "random search", "best standard", "offered rate (upper bound)"):  # fmt: skip
        assert text in table


def test_reported_test_window_equals_simulate_of_the_written_mapping(explored, trace):
    from xcompass.tools.serve_ir import setup_from_mlir

    report = json.loads((explored / "report.json").read_text())
    test = report["search"]["answer"]["serving"]["test"]
    setup = setup_from_mlir(str(explored / "mapping.mlir"), None, None, "graph")
    stream = from_trace(read_trace(trace), window=(10.0, 20.0), rate_scale=4.0)
    s = simulate(setup, stream, PolicyOptions("sarathi"), slo=SLO(2.0, 0.2), check=0).summary
    assert test["goodput_req_s"] == pytest.approx(s["goodput_req_s"], rel=1e-12)
    assert test["ttft_p90_s"] == pytest.approx(s["ttft_s"]["p90"], rel=1e-12)
    assert test["tbt_p99_s"] == pytest.approx(s["tbt_s"]["p99"], rel=1e-12)
    assert test["finished"] == s["finished"] and test["slo_met"] == s["slo_met"]
    assert report["search"]["answer"]["test_score"] == pytest.approx(-s["goodput_req_s"])


def test_same_seed_same_answer(trace):
    from xcompass.explore import explore

    def once():
        options = ServingOptions(trace=trace, window=(0.0, 10.0), rate_scale=4.0)
        ex = explore("llama3-8b", "prefill:512,decode:1024x3", "dgx-h100x8", microbatches=2,
                     settings=SearchSettings("goodput", 4, 2, seed=5), serving=options)  # fmt: skip
        s = ex.report["search"]
        return ex.mapping, {k: v["score"] for k, v in s["methods"].items()}, s["answer"]

    (m1, scores1, a1), (m2, scores2, a2) = once(), once()
    np.testing.assert_array_equal(m1.place, m2.place)
    np.testing.assert_array_equal(m1.boundaries, m2.boundaries)
    for a in (a1, a2):  # the one wall-clock figure
        assert a["serving"]["test"]["cost_cache"].pop("check_wall_s") >= 0
    assert scores1 == scores2 and a1["serving"] == a2["serving"]


BAD = [
    (["--policy", "vllm"], "--policy: needs --objective goodput or capacity"),
    (["--objective", "latency", "--window", "0:10"], "--window: needs --objective goodput"),
    (["--rate-scale", "2"], "--rate-scale: needs --objective goodput or capacity"),
    (["--slo-tbt", "0.1"], "--slo-tbt: needs --objective goodput or capacity"),
    (["--objective", "goodput", "--layers", "4"], "--layers 4: --objective goodput serves the "
     "whole model"),
    (["--objective", "capacity", "--granularity", "group"], "--granularity group: --objective "
     "capacity serves layer mappings"),
    (["--objective", "goodput", "--train-samples", "2"], "--train-samples 2: --objective "
     "goodput scores on --window"),
    (["--objective", "goodput", "--window", "0:10", "--test-window", "5:15"],
     "--test-window 5:15: overlaps --window 0:10"),
    (["--objective", "goodput", "--window", "10"], "--window '10': expected START:END"),
    (["--objective", "goodput", "--window", "9:3"], "--window 9:3: need 0 <= START < END"),
    (["--objective", "goodput", "--slo-ttft", "0"], "--slo-ttft 0: must be positive"),
    (["--objective", "goodput", "--rate-scale", "-1"], "--rate-scale -1: must be positive"),
    (["--objective", "goodput", "--policy", "fifo"], "--policy 'fifo': unknown (valid: static"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), BAD)
def test_bad_combinations_are_one_line_before_any_work(capsys, tmp_path, argv, message):
    out = tmp_path / "out"
    code, printed, err = run(capsys, *BASE, *argv, "--out", str(out))
    assert code != 0 and not printed
    assert message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()  # refused before the output folder is made


def test_a_window_past_the_trace_is_named(capsys, tmp_path, trace):
    out = tmp_path / "out"
    code, _, err = run(capsys, *TRACED, "--objective", "goodput", "--trace", trace,
                       "--window", "0:20", "--out", str(out))  # fmt: skip
    assert code != 0 and not out.exists()
    assert "--test-window 20:40: the trace ends" in err and len(err.strip().splitlines()) == 1


def test_map_autotune_refuses_a_serving_objective():
    from xcompass.passes.autotune import AutotunePass

    from xcompass.errors import XcompassError

    with pytest.raises(Exception, match="use xcompass explore --objective goodput") as info:
        AutotunePass(objective="goodput").check_options()
    assert not isinstance(info.value, XcompassError) or "\n" not in str(info.value)


def test_resume_takes_the_serving_options_from_the_checkpoint(capsys, tmp_path, trace):
    ck = str(tmp_path / "ck.npz")
    argv = [*TRACED, "--objective", "goodput", "--trace", trace, "--window", "0:10",
            "--rate-scale", "4", "--population", "4", "--generations", "2", "--no-pictures",
            "--checkpoint", ck, "--out", str(tmp_path / "a")]  # fmt: skip
    code, first, err = run(capsys, *argv)
    assert code == 0, err
    code, again, err = run(capsys, "--resume", ck, "--out", str(tmp_path / "b"), "--quiet")
    assert code == 0, err
    assert "test window 10:20 s" in again

    def rows(text: str) -> list[str]:
        return [x for x in text.splitlines() if x.startswith(("found", "simulated", "random"))]

    assert rows(again) == rows(first) and len(rows(first)) == 3
    code, _, err = run(capsys, "--resume", ck, "--rate-scale", "2", "--out", str(tmp_path / "c"))
    assert code != 0 and "was written with --rate-scale 4.0" in err
