"""Hand-worked cost cases on round-number targets: every expected figure is derived in the
comments from the formulas in xcompass/cost/opcost.py and xcompass/engine/schedule.py."""

import dataclasses
import math
import tomllib
from pathlib import Path

import pytest

from xcompass.cost.attentioncost import attention_tiles
from xcompass.cost.kernelcost import op_cost
from xcompass.cost.opcost import OpSpec, RequestGroup, busiest_unit
from xcompass.errors import XcompassError
from xcompass.hardware.targetfile import load_target_file, parse_target

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
    # 64 tokens: (1 + 64) * 64 / 2 = 2080 visible pairs -> MACs = 2 * 2 heads * 16 * 2080
    # tiles: 64 rows < 128 -> one tile of 64 rows (a multiple of 16) per head, scale 64/128 = 0.5;
    # its last row sees keys 0..63 -> ceil(64/128) = 1 key block (the diagonal one, whole):
    # work 0.5 * 1 = 0.5 block step, 2 heads on 1 unit -> 1.0 step of 4*128*128*16 = 1048576 flop
    # compute = 1.048576 us at 1 TFLOP/s; memory = (K,V 2*16*64 + Q,O 2*2*16*64) * 2 B / 100 GB/s
    # = 0.12288 us -> compute-bound
    cost = op_cost(chip, op, [RequestGroup(64, 0)], 2)
    assert cost.macs == 2 * 2 * 16 * 2080
    assert cost.time_s == pytest.approx(1e-6 + 1.048576e-6, rel=1e-12)


def test_causal_attention_tiles_dealt_heaviest_first_round_robin(mesh2x2):
    chip = dataclasses.replace(mesh2x2.kinds[0], units=2)
    op = OpSpec("attention", heads=1, kv_heads=1, head_dim=16, causal=True)
    # 384 new tokens, one head: three 128-row tiles whose last rows see 128, 256, 384 keys ->
    # 1, 2, 3 key blocks. Heaviest first, round-robin on 2 units: unit 0 gets 3 + 1 = 4 steps,
    # unit 1 gets 2 (a longest-first greedy would balance 3 / 3; the static order does not).
    tiles = attention_tiles(op, [RequestGroup(384, 0)], heads=1, overhead=0.0)
    assert tiles == [(1.0, 1), (2.0, 1), (3.0, 1)]
    assert busiest_unit(tiles, 2) == 4.0
    # per unit 1e12 / 2 flop/s: compute = 4 * 1048576 / 5e11 = 8.388608 us; memory = (K,V + Q,O)
    # = (2*16*384 + 2*16*384) * 2 B / 100 GB/s = 0.49152 us
    cost = op_cost(chip, op, [RequestGroup(384, 0)], 2)
    assert cost.time_s == pytest.approx(1e-6 + 8.388608e-6, rel=1e-12)
    # 0.5 block steps of overhead per tile: 3.5 + 1.5 = 5.0 steps on unit 0 -> 10.48576 us
    slow = dataclasses.replace(chip, attention_tile_overhead=0.5)
    cost = op_cost(slow, op, [RequestGroup(384, 0)], 2)
    assert cost.time_s == pytest.approx(1e-6 + 10.48576e-6, rel=1e-12)


def test_busiest_unit_wraps_around_the_units():
    # 5 tiles of 3 then 4 of 1 on 3 units, dealt 3,3,3 | 3,3,1 | 1,1,1: unit 0 gets 3+3+1 = 7,
    # unit 1 gets 3+3+1 = 7, unit 2 gets 3+1+1 = 5
    assert busiest_unit([(1.0, 4), (3.0, 5)], 3) == 7.0
    assert busiest_unit([], 3) == 0.0


def test_short_requests_run_short_tiles():
    op = OpSpec("attention", heads=2, kv_heads=1, head_dim=16, causal=True)
    # decode (1 new token over 1023): one 16-row tile per head, scale 16/128; its row sees 1024
    # keys = 8 blocks -> 8/8 = 1 step (+ overhead 1.0 * 16/128 = 0.125); a window of 256 keys
    # leaves 2 blocks
    assert attention_tiles(op, [RequestGroup(1, 1023, 4)], 2, 1.0) == [(1.125, 8)]
    windowed = dataclasses.replace(op, window=256)
    assert attention_tiles(windowed, [RequestGroup(1, 1023, 4)], 2, 0.0) == [(0.25, 8)]
    # 130 new tokens: two full 128-row tiles (the second padded), seeing 1 and 2 key blocks
    assert attention_tiles(op, [RequestGroup(130, 0)], 1, 0.0) == [(1.0, 1), (2.0, 1)]


def test_gqa_packing_puts_a_kv_heads_queries_in_one_tile():
    op = OpSpec("attention", heads=8, kv_heads=1, head_dim=16, causal=True)
    # attention_gqa_pack: the 8 query heads of the one KV head are 8 rows of one 16-row tile
    # per request (scale 16/128, 8 key blocks -> 1 step + 0.125 overhead): 4 tiles, not 32
    assert attention_tiles(op, [RequestGroup(1, 1023, 4)], 8, 1.0, group=8) == [(1.125, 4)]
    assert attention_tiles(op, [RequestGroup(1, 1023, 4)], 8, 1.0) == [(1.125, 32)]
    # 3 new tokens x 8 heads = 24 rows: one 32-row tile per KV head (scale 1/4) over 8 blocks
    assert attention_tiles(op, [RequestGroup(3, 1021, 1)], 8, 0.0, group=8) == [(2.0, 1)]
    # a prompt's rows do not fit one tile: one tile set per query head as before
    assert attention_tiles(op, [RequestGroup(130, 0)], 8, 0.0, group=8) == [(1.0, 8), (2.0, 8)]


def test_decode_attention_reads_each_requests_kv(mesh2x2):
    # 100 TFLOP/s, so that decode is memory-bound: 8 tiles (4 requests x 2 heads) of 1 block
    # step each (test_short_requests_run_short_tiles) = 8 * 1048576 flop / 1e14 = 83.9 ns
    chip = dataclasses.replace(mesh2x2.kinds[0], peak_tflops=100.0)
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


def test_few_gemm_tiles_split_k_over_the_units(mesh2x2):
    chip = dataclasses.replace(mesh2x2.kinds[0], units=8)
    # [16 x 256] x [256 x 32]: 1 x 2 = 2 tiles of 16x16, each 256/64 = 4 k steps: 8 steps dealt
    # to 8 units -> 1 step each = 2*16*16*64 flop / (1e12/8 per unit) = 262.144 ns (one tile per
    # unit would take 4 steps). memory = (32*256 + 16*256 + 16*32) * 2 B / 100 GB/s = 256 ns
    cost = op_cost(chip, OpSpec("gemm", n=32, k=256), [RequestGroup(16, 0)], 2)
    assert cost.time_s == pytest.approx(1e-6 + 262.144e-9, rel=1e-12)


def test_few_busy_units_stream_a_share_of_dram(mesh2x2):
    chip = dataclasses.replace(mesh2x2.kinds[0], units=8, dram_gbs=10.0, dram_saturation_units=8.0)
    # [1 x 1024] x [1024 x 48]: 3 tiles, split k 8 // 3 = 2 ways -> 6 busy units of the 8 that
    # saturate DRAM: share 0.75. memory = (48*1024 + 1024 + 48) * 2 B / (10 GB/s * 0.75)
    # = 13.393067 us; compute = ceil(3 * 16 steps / 8) = 6 steps * 262.144 ns = 1.572864 us
    cost = op_cost(chip, OpSpec("gemm", n=48, k=1024), [RequestGroup(1, 0)], 2)
    assert cost.time_s == pytest.approx(1e-6 + 100448 / (1e10 * 0.75), rel=1e-12)
    # with the saturation unset (0) every busy unit count streams at full rate
    full = dataclasses.replace(chip, dram_saturation_units=0.0)
    cost = op_cost(full, OpSpec("gemm", n=48, k=1024), [RequestGroup(1, 0)], 2)
    assert cost.time_s == pytest.approx(1e-6 + 100448 / 1e10, rel=1e-12)


def test_gemm_compute_past_the_power_cap_runs_slower(mesh2x2):
    chip = dataclasses.replace(mesh2x2.kinds[0], throttle_after_us=1.0, throttled_clock=0.5)
    # [256 x 64] x [64 x 256]: 16 * 16 = 256 tiles of one k step: 256 * 32768 flop / 1e12
    # = 8.388608 us at the boost clock; past 1 us at half the clock: 1 + 7.388608 / 0.5
    # = 15.777216 us; memory = (256*64*2 + 256*256) * 2 B / 100 GB/s = 1.96608 us
    cost = op_cost(chip, OpSpec("gemm", n=256, k=64), [RequestGroup(256, 0)], 2)
    assert cost.time_s == pytest.approx(1e-6 + 15.777216e-6, rel=1e-12)
    # attention is not throttled (its softmax keeps it under the cap in the calibration data)
    op = OpSpec("attention", heads=2, kv_heads=1, head_dim=16, causal=True)
    assert op_cost(chip, op, [RequestGroup(64, 0)], 2).time_s == pytest.approx(2.048576e-6)


def test_norm_waits_for_one_rows_critical_path(mesh2x2):
    chip = dataclasses.replace(mesh2x2.kinds[0], reduction_ns_per_element=2.0)
    # 4 rows of 1024: moved = 2 tensors * 4 * 1024 * 2 B = 16384 B / 100 GB/s = 163.84 ns;
    # a norm takes at least one row's walk: 1024 * 2 ns = 2.048 us, which the streaming of
    # so few rows does not hide: floor + max(163.84 ns, 2.048 us)
    norm = op_cost(chip, OpSpec("eltwise", "norm", width=1024), [RequestGroup(4, 0)], 2)
    assert norm.time_s == pytest.approx(1e-6 + 2.048e-6, rel=1e-12)
    # 100 rows: 409.6 KB / 100 GB/s = 4.096 us of streaming hides the 2.048 us walk
    many = op_cost(chip, OpSpec("eltwise", "norm", width=1024), [RequestGroup(100, 0)], 2)
    assert many.time_s == pytest.approx(1e-6 + 4.096e-6, rel=1e-12)
    for named in ("final_norm", "llm.rmsnorm", "llm.layernorm"):
        op = OpSpec("eltwise", named, width=1024)
        assert op_cost(chip, op, [RequestGroup(4, 0)], 2).time_s == norm.time_s
    flagged = OpSpec("eltwise", "softmax", width=1024, reduction=True)
    assert op_cost(chip, flagged, [RequestGroup(4, 0)], 2).time_s == norm.time_s
    # an element-wise op that does not reduce rows streams only
    add = op_cost(chip, OpSpec("eltwise", "llm.add", width=1024), [RequestGroup(4, 0)], 2)
    assert add.time_s == pytest.approx(1e-6 + 163.84e-9, rel=1e-12)


def test_op_calibration_fields_default_off_and_are_validated():
    data = tomllib.loads((INPUTS / "my-target.toml").read_text())
    chip = parse_target(data, "t").kinds[0]
    assert (chip.reduction_ns_per_element, chip.attention_tile_overhead) == (0.0, 0.0)
    assert (chip.dram_saturation_units, chip.throttle_after_us, chip.throttled_clock) == (0, 0, 0)
    data["chiplet"][0]["attention_tile_overhead"] = -0.5
    with pytest.raises(XcompassError, match="attention_tile_overhead.*>= 0"):
        parse_target(data, "t")
    data["chiplet"][0]["attention_tile_overhead"] = 1.5
    data["chiplet"][0]["throttled_clock"] = 1.2
    with pytest.raises(XcompassError, match="throttled_clock"):
        parse_target(data, "t")


def test_norm_reread_misses_on_chip_in_proportion_to_width(mesh2x2):
    chip = dataclasses.replace(mesh2x2.kinds[0], norm_reread_width=2048.0)
    # 100 rows of 1024: 2 tensors = 409600 B; the re-read of the input (204800 B) misses for
    # 1024 / 2048 = half of it: 102400 B more -> 512000 B / 100 GB/s = 5.12 us
    norm = op_cost(chip, OpSpec("eltwise", "norm", width=1024), [RequestGroup(100, 0)], 2)
    assert norm.dram_bytes == 512000.0
    assert norm.time_s == pytest.approx(1e-6 + 5.12e-6, rel=1e-12)
    # rows of 4096 >= 2048: the whole re-read streams, 3 tensors (an add moves as much)
    wide = op_cost(chip, OpSpec("eltwise", "norm", width=4096), [RequestGroup(100, 0)], 2)
    add = op_cost(chip, OpSpec("eltwise", "add", width=4096, tensors=3), [RequestGroup(100, 0)], 2)
    assert wide.dram_bytes == add.dram_bytes == 3 * 100 * 4096 * 2
    # off (0) and element-wise ops that do not reduce rows: no re-read
    norm_op = OpSpec("eltwise", "norm", width=1024)
    off = op_cost(mesh2x2.kinds[0], norm_op, [RequestGroup(100, 0)], 2)
    assert off.dram_bytes == 409600.0
    plain = op_cost(chip, OpSpec("eltwise", "act", width=1024), [RequestGroup(100, 0)], 2)
    assert plain.dram_bytes == 409600.0


def test_gemm_overlap_is_the_p_norm_of_compute_and_streaming(mesh2x2):
    chip = mesh2x2.kinds[0]
    op = OpSpec("gemm", n=256, k=64)
    base = op_cost(chip, op, [RequestGroup(256, 0)], 2)
    # as in the power-cap test above: compute 8.388608 us, memory 1.96608 us; max: compute
    assert base.time_s == pytest.approx(1e-6 + 8.388608e-6, rel=1e-12)
    p2 = op_cost(dataclasses.replace(chip, gemm_overlap=2.0), op, [RequestGroup(256, 0)], 2)
    # (8.388608^2 + 1.96608^2)^(1/2) = 8.615933... us
    assert p2.time_s == pytest.approx(1e-6 + math.hypot(8.388608e-6, 1.96608e-6), rel=1e-12)
    assert p2.dram_bytes == base.dram_bytes and p2.macs == base.macs
    # equal compute and memory: 2^(1/p) of either (p = 4: +18.9%)
    from xcompass.cost.opcost import overlap

    assert overlap(dataclasses.replace(chip, gemm_overlap=4.0), 3.0, 3.0) == pytest.approx(
        3.0 * 2**0.25, rel=1e-12
    )
    assert overlap(chip, 3.0, 1.0) == 3.0


def test_moe_grouped_gemm_overlap_and_routing_hand_worked(mesh2x2):
    from xcompass.cost.moecost import grouped_gemm_time, routing_time

    chip = mesh2x2.kinds[0]
    # two experts of 256 rows, [256 x 64] x [64 x 256] each (the GEMM of the power-cap test):
    # compute 2 x 8.388608 us; each streams 256 x (64 + 256) x 2 + 64 x 256 x 2 = 196608 B at
    # 100 GB/s = 1.96608 us, 3.93216 us for both
    t0, moved, w = grouped_gemm_time(chip, 256, 2, 256, 64, 2)
    assert (moved, w) == (2 * 196608.0, 64 * 256 * 2.0)
    assert t0 == pytest.approx(1e-6 + 16.777216e-6, rel=1e-12)
    # grouped_overlap 1: no overlap at all, compute + streaming
    t1 = grouped_gemm_time(dataclasses.replace(chip, grouped_overlap=1.0), 256, 2, 256, 64, 2)[0]
    assert t1 == pytest.approx(1e-6 + 16.777216e-6 + 3.93216e-6, rel=1e-12)
    # routing: 10 kernels at the 1 us element-wise floor, and 4 rows of 1024 x 2 B per routed
    # row: 8 routed rows -> 65536 B at 100 GB/s = 0.65536 us
    routed = dataclasses.replace(chip, moe_route_kernels=10.0, moe_combine_tensors=4.0)
    assert routing_time(routed, 8, 1024, 2) == pytest.approx((10.65536e-6, 65536.0), rel=1e-12)
    assert routing_time(chip, 8, 1024, 2) == (0.0, 0.0)  # off by default
    # the MoE op adds exactly the routing on top of its experts (4 tokens, top-2 of 4 experts)
    op = OpSpec("moe", k=1024, ffn=512, experts=4, top_k=2)
    base = op_cost(chip, op, [RequestGroup(4, 0)], 2)
    more = op_cost(routed, op, [RequestGroup(4, 0)], 2)
    assert more.time_s - base.time_s == pytest.approx(10.65536e-6, rel=1e-9)
    assert more.dram_bytes - base.dram_bytes == 65536.0
    assert more.macs == base.macs == 8 * 1024 * 512 * 3
