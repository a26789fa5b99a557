"""Hand-worked cost cases on round-number targets: every expected figure is derived in the
comments from the formulas in xcompass/opcost.py and xcompass/schedule.py."""

import dataclasses
import tomllib
from pathlib import Path

import pytest

from xcompass.opcost import OpSpec, RequestGroup, op_cost
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
