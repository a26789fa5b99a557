"""`attention_mixed_unpacked`: FlashAttention-2's varlen call shares a KV head among its query
heads only when every request has one new token (measured on the lent H100:
benchmarks/data/h100_serving_kernels.csv, docs/serving-measurements.md)."""

from __future__ import annotations

import dataclasses

import pytest

from xcompass.cost.attentioncost import attention_cost
from xcompass.cost.opcost import OpSpec, RequestGroup
from xcompass.hardware.targetfile import load_target

OP = OpSpec("attention", "attn", heads=32, kv_heads=8, head_dim=128, split="heads")


def chips() -> tuple:
    """The preset's dense kernel with the mechanism off and on (its ragged calls otherwise run
    the varlen kernel, which loses the sharing by its own rule: test_attention_variants.py)."""
    h100 = load_target("h100").kinds[0]
    assert h100.attention_mixed_unpacked == 1.0  # on in the NVIDIA presets
    dense = dataclasses.replace(h100, attention_varlen=0.0)
    return dataclasses.replace(dense, attention_mixed_unpacked=0.0), dense


def test_decodes_beside_a_prompt_stream_their_kv_once_per_query_head():
    off, on = chips()
    decodes, prompt = RequestGroup(1, 1023, 10), RequestGroup(256, 0, 1)
    a = attention_cost(off, OP, [decodes, prompt], 2)
    b = attention_cost(on, OP, [decodes, prompt], 2)
    kv_decodes = 2 * 8 * 128 * (1023 + 1) * 10 * 2  # K and V, 8 KV heads, bf16: 41,943,040 B
    assert b.dram_bytes - a.dram_bytes == pytest.approx(3 * kv_decodes)  # 4 query heads per KV head
    assert b.time_s > a.time_s


def test_a_decode_only_call_keeps_gqa():
    off, on = chips()
    groups = [RequestGroup(1, 2048, 64), RequestGroup(1, 512, 8)]
    assert attention_cost(on, OP, groups, 2) == attention_cost(off, OP, groups, 2)


def test_long_queries_are_not_affected():
    off, on = chips()
    long_only = [RequestGroup(512, 0, 1), RequestGroup(256, 1024, 2)]  # a query tile or more
    assert attention_cost(on, OP, long_only, 2) == attention_cost(off, OP, long_only, 2)
