"""Hand-worked cost cases on round-number targets: every expected figure is derived in the
comments from the formulas in xcompass/opcost.py and xcompass/schedule.py."""

import dataclasses
import tomllib
from pathlib import Path

import numpy as np
import pytest

from xcompass.layercost import CostTable
from xcompass.mapping import Mapping, make_groups
from xcompass.opcost import OpSpec, RequestGroup, op_cost
from xcompass.schedule import EvalContext, evaluate, evaluate_mapping
from xcompass.schedule_jit import evaluate_fast
from xcompass.targets import load_target_file, parse_target

INPUTS = Path(__file__).resolve().parents[1] / "inputs"


@pytest.fixture
def mesh2x2():
    # 1 TFLOP/s, 1 unit, 16x16 tiles, 100 GB/s, 1 us floors, 10 GB/s links, 100 ns per hop
    return load_target_file(INPUTS / "my-target.toml")


def line_target(n: int):
    data = tomllib.loads((INPUTS / "my-target.toml").read_text())
    data["chiplet"][0]["count"] = n
    data["chiplet"][0]["dram_channel"] = 0
    data["dram"][0]["count"] = 1
    data["network"]["dims"] = [n, 1]
    return parse_target(data, "line")


def test_one_gemm_counts_whole_tiles(mesh2x2):
    chip = mesh2x2.kinds[0]
    # [33 x 64] x [64 x 32] bf16: ceil(33/16) * ceil(32/16) = 6 tiles, one unit -> 6 waves
    # compute = 6 * 2*16*16*64 flop / 1e12 = 196.608 ns
    # memory  = (32*64 + 33*64 + 33*32) * 2 B / 100 GB/s = 104.32 ns -> compute-bound
    cost = op_cost(chip, OpSpec("gemm", n=32, k=64), [RequestGroup(33, 0)], 2)
    assert cost.time_s == pytest.approx(1e-6 + 196.608e-9, rel=1e-12)
    assert cost.macs == 33 * 32 * 64
    assert cost.dram_bytes == (32 * 64 + 33 * 64 + 33 * 32) * 2
    # 32 rows fit two row-tiles exactly: 4 tiles, 131.072 ns
    cost32 = op_cost(chip, OpSpec("gemm", n=32, k=64), [RequestGroup(32, 0)], 2)
    assert cost32.time_s == pytest.approx(1e-6 + 131.072e-9, rel=1e-12)


def test_one_gemm_memory_bound(mesh2x2):
    chip = dataclasses.replace(mesh2x2.kinds[0], dram_gbs=10.0)
    # one token through a 1024x1024 weight at 10 GB/s: memory = (1024*1024 + 2*1024) * 2 B / 1e10
    # = 210.1248 us; compute = 64 tiles (one padded row-tile) * 2*16*16*1024 / 1e12 = 33.554432 us
    op = OpSpec("gemm", n=1024, k=1024)
    cost = op_cost(chip, op, [RequestGroup(1, 0)], 2)
    assert cost.time_s == pytest.approx(1e-6 + 210.1248e-6, rel=1e-12)
    # weights resident on chip: only 4 KiB of activations move, compute dominates
    resident = op_cost(chip, op, [RequestGroup(1, 0)], 2, 1, True)
    assert resident.time_s == pytest.approx(1e-6 + 33.554432e-6, rel=1e-12)


def test_prefill_attention_is_causal(mesh2x2):
    chip = mesh2x2.kinds[0]
    op = OpSpec("attention", heads=2, kv_heads=1, head_dim=16, causal=True)
    # 64 tokens: (1 + 64) * 64 / 2 = 2080 visible pairs; flops = 4 * 2 heads * 16 * 2080
    cost = op_cost(chip, op, [RequestGroup(64, 0)], 2)
    assert cost.time_s == pytest.approx(1e-6 + 4 * 2 * 16 * 2080 / 1e12, rel=1e-12)


def test_decode_attention_reads_each_requests_kv(mesh2x2):
    chip = mesh2x2.kinds[0]
    op = OpSpec("attention", heads=2, kv_heads=1, head_dim=16, causal=True)
    # 4 requests, 1023 tokens of history + 1 new: K and V of 1024 tokens, 1 KV head of 16, bf16
    kv = 2 * 1 * 16 * 1024 * 4 * 2
    qo = 2 * 2 * 16 * 1 * 4 * 2
    cost = op_cost(chip, op, [RequestGroup(1, 1023, 4)], 2)
    assert cost.dram_bytes == kv + qo
    assert cost.time_s == pytest.approx(1e-6 + (kv + qo) / 1e11, rel=1e-12)
    # a sliding window of 256 caps the keys each request reads
    windowed = op_cost(
        chip,
        OpSpec("attention", heads=2, kv_heads=1, head_dim=16, window=256),
        [RequestGroup(1, 1023, 4)],
        2,
    )
    assert windowed.dram_bytes == 2 * 16 * 256 * 4 * 2 + qo


def uniform_table(B: int, L: int, node_s: float, act_bytes: float) -> CostTable:
    shape = (B, 3, 1, 1)
    zeros = np.zeros(shape)
    return CostTable(
        tp_options=(1,),
        time_stream=np.full(shape, node_s),
        time_resident=np.full(shape, node_s),
        dram_stream=zeros,
        dram_resident=zeros,
        macs=zeros,
        sram_bytes=zeros,
        weight_bytes=np.zeros((3, 1)),
        fits_sram=np.zeros((1, 3, 1), dtype=bool),
        act_bytes=np.full(B, act_bytes),
        kv_bytes=np.zeros(B),
        allreduce_bytes=np.zeros(B),
        allreduces=0,
        tokens=np.ones(B),
    )


def test_two_chiplet_pipeline_bubble():
    target = line_target(2)
    groups = make_groups(target, (1,))
    # 2 micro-batches x 2 layers, 1 s per node; 10 GB over a 10 GB/s link = 1 s, + 100 ns per hop
    ctx = EvalContext(uniform_table(2, 2, 1.0, 10e9), groups, target, 2)
    mapping = Mapping(np.zeros(1, dtype=bool), np.array([[0, 1], [0, 1]]))
    r = evaluate_mapping(ctx, mapping)
    hop = 100e-9
    # mb0: l0 on chip 0 [0, 1], transfer [1, 2+hop], l1 on chip 1 [2+hop, 3+hop]
    # mb1: l0 on chip 0 [1, 2], transfer waits for the link [2+hop, 3+2hop], l1 [3+2hop, 4+2hop]
    np.testing.assert_allclose(r.start[0], [[0, 2 + hop], [1, 3 + 2 * hop]], rtol=1e-12)
    np.testing.assert_allclose(r.end[0], [[1, 3 + hop], [2, 4 + 2 * hop]], rtol=1e-12)
    assert r.latency_s[0] == pytest.approx(4 + 2 * hop, rel=1e-12)
    # chip 1 idles 2+hop s before its first node: the pipeline fill bubble
    assert r.start[0, 0, 1] - 0.0 == pytest.approx(2 + hop, rel=1e-12)
    # energy: two 10 GB transfers, 1 hop each, 1 pJ/bit/hop
    assert r.energy_j[0] == pytest.approx(2 * 10e9 * 8 * 1e-12, rel=1e-12)


def test_contended_link_serializes_transfers():
    target = line_target(4)
    groups = make_groups(target, (1,))
    ctx = EvalContext(uniform_table(2, 2, 1.0, 10e9), groups, target, 2)
    hop = 100e-9
    # mb0: chip 0 -> chip 2 (links 0E, 1E); mb1: chip 1 -> chip 3 (links 1E, 2E): both want 1E
    contended = Mapping(np.zeros(1, dtype=bool), np.array([[0, 2], [1, 3]]))
    r = evaluate_mapping(ctx, contended)
    # mb0's transfer holds 1E during [1, 2+2hop]; mb1's waits, then runs [2+2hop, 3+4hop]
    assert r.end[0, 0, 1] == pytest.approx(3 + 2 * hop, rel=1e-12)
    assert r.start[0, 1, 1] == pytest.approx(3 + 4 * hop, rel=1e-12)
    assert r.latency_s[0] == pytest.approx(4 + 4 * hop, rel=1e-12)
    # disjoint routes (chip 2 -> 3 shares nothing with 0 -> 1) finish a full second earlier
    disjoint = Mapping(np.zeros(1, dtype=bool), np.array([[0, 1], [2, 3]]))
    assert evaluate_mapping(ctx, disjoint).latency_s[0] == pytest.approx(3 + hop, rel=1e-12)


def test_segments_change_the_execution_order():
    target = line_target(2)
    groups = make_groups(target, (1,))
    ctx = EvalContext(uniform_table(2, 2, 1.0, 0.0), groups, target, 2)
    # everything on chip 0: one segment runs mb0 l0, mb0 l1, mb1 l0, mb1 l1
    one = evaluate_mapping(ctx, Mapping(np.array([False]), np.zeros((2, 2), dtype=int)))
    np.testing.assert_allclose(one.start[0], [[0, 1], [2, 3]])
    # a boundary after layer 0: mb0 l0, mb1 l0, then mb0 l1, mb1 l1
    two = evaluate_mapping(ctx, Mapping(np.array([True]), np.zeros((2, 2), dtype=int)))
    np.testing.assert_allclose(two.start[0], [[0, 2], [1, 3]])


def test_compiled_kernel_matches_the_numpy_reference():
    from xcompass.layercost import build_cost_table
    from xcompass.models import preset
    from xcompass.targets import preset as target_preset
    from xcompass.workload import build_workload, parse_spec

    model, target = preset("llama3-8b"), target_preset("compass-het-36")
    workload = build_workload(parse_spec("prefill:512x2,decode:1024x16"), 4)
    table = build_cost_table(model, workload, target, (1, 2))
    groups = make_groups(target, (1, 2))
    ctx = EvalContext(table, groups, target, 6)
    rng = np.random.default_rng(1)
    boundaries = rng.random((32, 5)) < 0.3
    place = rng.integers(0, len(groups.tp), (32, 4, 6))
    ref, fast = evaluate(ctx, boundaries, place), evaluate_fast(ctx, boundaries, place)
    np.testing.assert_allclose(fast.latency_s, ref.latency_s, rtol=1e-12)
    np.testing.assert_allclose(fast.energy_j, ref.energy_j, rtol=1e-12)
    for key in ref.parts:
        np.testing.assert_allclose(fast.parts[key], ref.parts[key], rtol=1e-12, atol=1e-15)
