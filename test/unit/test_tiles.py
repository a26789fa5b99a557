"""granularity=tile (xcompass.engine.tiles, xcompass.engine.tilecost): Compass's unit count, tile
costs worked by
hand on round-number chiplets, the bytes each edge carries, empty request slots, the option
checks, and the compiled DAG schedule against the reference on tile units."""

import tomllib
from pathlib import Path

import numpy as np
import pytest

from xcompass.engine.context import EvalContext
from xcompass.engine.granularity import build_units
from xcompass.engine.mapping import Mapping, make_groups
from xcompass.engine.schedule import evaluate, evaluate_mapping
from xcompass.engine.tiles import check_tiles, check_tp, tile_spec
from xcompass.errors import XcompassError
from xcompass.hardware.targetfile import parse_target
from xcompass.hardware.targetfile import preset as target_preset
from xcompass.layer.layercost import build_cost_table
from xcompass.model.models import preset
from xcompass.model.workload import build_workload, parse_spec

INPUTS = Path(__file__).resolve().parents[1] / "inputs"
FLOOR = 1e-6  # my-target.toml: 1 us kernel floor, 1 TFLOP/s, 16 x 16 tiles, one unit


def one_chiplet(dram_gbs: float = 100.0):
    """my-target.toml's chiplet (no wave quantization: one unit), DRAM at `dram_gbs`."""
    data = tomllib.loads((INPUTS / "my-target.toml").read_text())
    data["chiplet"][0]["dram_gbs"] = dram_gbs
    return parse_target(data, "mesh-2x2")


def tiles_of(model_name, spec_text, target, microbatches=None, layers=1, **sizes):
    model = preset(model_name)
    workload = build_workload(parse_spec(spec_text), microbatches)
    table = build_cost_table(model, workload, target, (1,))
    spec = tile_spec(model, workload, target, **sizes)
    units, ut = build_units(table, layers, "tile", None, spec)
    return table, units, ut


def unit(units, name):
    return units.names.index(name)


def cost(ut, units, name, b=0, field="time_stream"):
    return getattr(ut, field)[b, units.row[unit(units, name)], 0, 0]


def kernel_cost(table, name, b=0, field="kernel_time"):
    j = [k.name for k in table.kernels].index(name)
    return getattr(table, field)[b, j, 0, 0]


def in_edges(units, name, b=0):
    """{source unit name: bytes} of a unit's in-edges."""
    u = unit(units, name)
    lo, hi = units.pred_start[u], units.pred_start[u + 1]
    return {units.names[units.pred[e]]: units.edge_bytes[b, e] for e in range(lo, hi)}


def test_compass_block_is_485_units_per_microbatch():
    # GPT-3 6.7B, two request groups per micro-batch (512 and 256 new tokens), Compass's tiles
    # (128 columns, one head): 1 norm + 3 x 32 (q, k, v: 4096 columns) + 3 x 32 x 2 (QK^T,
    # softmax, PV per head and request) + 32 (o) + 1 add + 1 norm + 128 (up: 16384 columns)
    # + 1 gelu + 32 (down) + 1 add = 485
    _, units, _ = tiles_of(
        "gpt3-7b", "prefill:512x4,prefill:256x4", target_preset("simba-36"), microbatches=4
    )
    assert units.count == 485
    names = units.names
    assert names[:3] == ("layer0.attn_norm", "layer0.q[0:128]", "layer0.q[128:256]")
    assert names[32] == "layer0.q[3968:4096]"
    assert names[97:101] == (
        "layer0.attn.qk.h0.r0",
        "layer0.attn.qk.h0.r1",
        "layer0.attn.qk.h1.r0",
        "layer0.attn.qk.h1.r1",
    )
    assert names[-1] == "layer0.h_out"
    count = {k: sum(n.startswith(f"layer0.{k}") for n in names) for k in ("up[", "attn.pv.")}
    assert count == {"up[": 128, "attn.pv.": 64}
    assert len(set(names)) == 485


def test_compute_bound_gemm_tiles_sum_to_the_kernel_plus_their_floors():
    # prefill 512 on one 1 TFLOP/s chiplet: q is [512 x 4096] x [4096 x 4096]; a 128-column
    # tile computes 2 x 512 x 128 x 4096 flops = 536.870912 us (its 5.4 MB of DRAM take 54 us),
    # plus its 1 us floor; the 32 tiles take the kernel's time plus 31 more floors
    table, units, ut = tiles_of("gpt3-7b", "prefill:512", one_chiplet())
    tile = cost(ut, units, "layer0.q[0:128]")
    assert tile == pytest.approx(FLOOR + 2 * 512 * 128 * 4096 / 1e12, rel=1e-12)
    tiles = sum(cost(ut, units, f"layer0.q[{c}:{c + 128}]") for c in range(0, 4096, 128))
    assert tiles == pytest.approx(kernel_cost(table, "q") + 31 * FLOOR, rel=1e-12)
    # up: 16384 columns, 128 tiles
    ups = sum(cost(ut, units, f"layer0.up[{c}:{c + 128}]") for c in range(0, 16384, 128))
    assert ups == pytest.approx(kernel_cost(table, "up") + 127 * FLOOR, rel=1e-12)


def test_dram_bound_gemm_tiles_reread_their_input():
    # decode, one token, DRAM at 10 GB/s: a q tile reads its whole input (4096 x 2 B), its
    # weights' columns (4096 x 128 x 2 B) and writes 128 x 2 B: 1,056,768 B = 105.6768 us at
    # 10 GB/s (its compute, one 16-row tile: 2 x 16 x 128 x 4096 flops = 16.8 us); 32 tiles
    # move the kernel's bytes plus 31 more reads of the input
    table, units, ut = tiles_of("gpt3-7b", "decode:1024", one_chiplet(10.0))
    nbytes = 4096 * 2 + 4096 * 128 * 2 + 128 * 2
    assert cost(ut, units, "layer0.q[0:128]", field="dram_stream") == nbytes
    assert cost(ut, units, "layer0.q[0:128]") == pytest.approx(FLOOR + nbytes / 10e9, rel=1e-12)
    names = [f"layer0.q[{c}:{c + 128}]" for c in range(0, 4096, 128)]
    moved = sum(cost(ut, units, n, field="dram_stream") for n in names)
    assert moved == kernel_cost(table, "q", field="kernel_dram") + 31 * 4096 * 2
    time = sum(cost(ut, units, n) for n in names)
    assert time == pytest.approx(kernel_cost(table, "q") + 31 * (FLOOR + 8192 / 10e9), rel=1e-12)


def test_an_attention_unit_is_one_head_of_one_request():
    # QK^T of one head for a 512-token prefill: [512 x 128] x [128 x 512] = 2 x 512 x 512 x 128
    # flops = 67.108864 us (its 0.8 MB of Q, K and scores: 7.9 us); the 256-token request's:
    # 2 x 256 x 256 x 128 = 16.777216 us. The kernel over both requests and 32 heads is the
    # sum of its 64 units less 63 floors.
    table, units, ut = tiles_of("gpt3-7b", "prefill:512,prefill:256", one_chiplet(), 1)
    r0 = cost(ut, units, "layer0.attn.qk.h0.r0")
    r1 = cost(ut, units, "layer0.attn.qk.h5.r1")
    assert r0 == pytest.approx(FLOOR + 2 * 512 * 512 * 128 / 1e12, rel=1e-12)
    assert r1 == pytest.approx(FLOOR + 2 * 256 * 256 * 128 / 1e12, rel=1e-12)
    assert 32 * (r0 + r1) == pytest.approx(kernel_cost(table, "attn.qk") + 63 * FLOOR, rel=1e-12)
    # the KV cache (none in prefill) and the scores' bytes: 512 x 512 pairs x 2 B
    assert in_edges(units, "layer0.attn.softmax.h0.r0") == {"layer0.attn.qk.h0.r0": 512 * 512 * 2}


def test_edges_carry_the_overlap_of_what_is_written_and_read():
    _, units, _ = tiles_of("gpt3-7b", "prefill:512,prefill:256", target_preset("simba-36"), 1)
    # QK^T of head 3 for request group 1 (256 tokens) reads Q's and K's columns 384..511 of
    # that request: the q and k tiles [384:512], 256 x 128 x 2 B each, and nothing else
    assert in_edges(units, "layer0.attn.qk.h3.r1") == {
        "layer0.q[384:512]": 256 * 128 * 2,
        "layer0.k[384:512]": 256 * 128 * 2,
    }
    # every o tile reads all of its input: every head's PV of both requests
    o = in_edges(units, "layer0.o[128:256]")
    assert len(o) == 64
    assert o["layer0.attn.pv.h31.r0"] == 512 * 128 * 2
    assert o["layer0.attn.pv.h31.r1"] == 256 * 128 * 2
    # a norm reads the whole of every tile of the GEMM before it (the residual add reads down)
    add = in_edges(units, "layer0.h_out")
    assert add["layer0.h_attn"] == 768 * 4096 * 2
    assert add["layer0.down[0:128]"] == 768 * 128 * 2 and len(add) == 33


def test_gqa_heads_read_the_kv_heads_they_use():
    # Llama-3 8B: 32 query heads over 8 KV heads (4 each); tile-heads=2. Heads 4-5 use KV
    # head 1: PV reads v's tile [128:256] (one KV head of 128 columns) and K from k_rope's
    # columns 128..255; heads 2-3 and 0-1 both use KV head 0
    _, units, _ = tiles_of("llama3-8b", "prefill:64", target_preset("simba-36"), heads=2)
    pv = in_edges(units, "layer0.attn.pv.h4-5.r0")
    assert pv == {"layer0.attn.softmax.h4-5.r0": 64 * 64 * 2 * 2, "layer0.v[128:256]": 64 * 128 * 2}
    qk = in_edges(units, "layer0.attn.qk.h2-3.r0")
    assert qk == {"layer0.q_rope": 64 * 256 * 2, "layer0.k_rope": 64 * 128 * 2}


def test_empty_request_slots_cost_nothing():
    # two micro-batches (dealt largest first: [prefill 128], then [prefill 64, decode x4]): the
    # first has one request group, so its slot-1 units exist (the unit DAG is the same for
    # every micro-batch) but cost and carry nothing
    _, units, ut = tiles_of("gpt3-7b", "prefill:128,prefill:64,decode:512x4", one_chiplet(), 2)
    names = ("layer0.attn.qk.h0.r1", "layer0.attn.softmax.h7.r1", "layer0.attn.pv.h31.r1")
    for name in names:
        assert cost(ut, units, name, b=1) > 0.0
        for field in ("time_stream", "time_resident", "dram_stream", "macs"):
            assert cost(ut, units, name, b=0, field=field) == 0.0
        assert all(v == 0.0 for v in in_edges(units, name, b=0).values())
    # decode x4 over 512 tokens of history: the head's K and V cache, 2 x 128 x 513 x 4 x 2 B
    qk = units.row[unit(units, "layer0.attn.qk.h0.r1")]
    assert ut.kv_bytes[:, qk].tolist() == [0.0, 2 * 128 * 513 * 4 * 2]


def test_tile_options_are_checked():
    model, simba = preset("gpt3-7b"), target_preset("simba-36")
    with pytest.raises(XcompassError, match=r"^tile-width=100 is not a multiple of simba-36's"):
        check_tiles(model, simba, 100, 1)
    with pytest.raises(XcompassError, match=r"^tile-width=0 "):
        check_tiles(model, simba, 0, 1)
    with pytest.raises(XcompassError, match=r"^tile-heads=3 does not divide the model's 32 heads"):
        check_tiles(model, simba, 128, 3)
    check_tiles(model, simba, 96, 32)
    with pytest.raises(XcompassError, match="group of 4 cannot share a tile evenly: tile-heads=2"):
        check_tp(128, 2, [1, 4])
    check_tp(128, 4, [1, 2, 4])


def test_units_on_their_layers_chiplet_cost_what_evaluate_gives():
    # map-cost's path (EvalContext with the tile spec) and an explicit build agree
    model, target = preset("gpt3-7b"), target_preset("simba-36")
    workload = build_workload(parse_spec("prefill:128,decode:256x4"), None)
    table = build_cost_table(model, workload, target, (1,))
    spec = tile_spec(model, workload, target, width=512, heads=4)
    groups = make_groups(target, (1,))
    ctx = EvalContext(table, groups, target, 2, "tile", tiles=spec)
    U = ctx.units.count
    assert U == 2 * (1 + 3 * 8 + 3 * 8 + 8 + 1 + 1 + 32 + 1 + 8 + 1)
    place = np.where(ctx.units.layer == 0, 0, 1)[None].repeat(2, axis=0)
    one = evaluate_mapping(ctx, Mapping(np.zeros(U - 1, bool), place))
    again = evaluate(ctx, np.zeros((1, U - 1), bool), place[None])
    assert one.latency_s[0] == again.latency_s[0] > 0.0


@pytest.mark.parametrize("target_name", ["simba-36", "compass-het-36"])
def test_dag_kernel_matches_the_reference_on_tiles(target_name):
    from xcompass.engine.schedule_dag import evaluate_dag

    model, target = preset("gpt3-7b"), target_preset(target_name)
    workload = build_workload(parse_spec("prefill:256x2,prefill:64x2,decode:512x8"), 3)
    tps = (1, 2)
    table = build_cost_table(model, workload, target, tps)
    spec = tile_spec(model, workload, target, width=1024, heads=8)
    groups = make_groups(target, tps)
    ctx = EvalContext(table, groups, target, 2, "tile", tiles=spec)
    U = ctx.units.count
    rng = np.random.default_rng(5)
    boundaries = rng.random((6, U - 1)) < 0.1
    singles = np.flatnonzero(groups.tp == 1)  # tiles of 8 heads split over 2 too; keep it simple
    place = singles[rng.integers(0, len(singles), (6, 3, U))]
    ref, fast = evaluate(ctx, boundaries, place), evaluate_dag(ctx, boundaries, place)
    np.testing.assert_allclose(fast.latency_s, ref.latency_s, rtol=1e-12)
    np.testing.assert_allclose(fast.energy_j, ref.energy_j, rtol=1e-12)
    for key in ref.parts:
        np.testing.assert_allclose(fast.parts[key], ref.parts[key], rtol=1e-12, atol=1e-15)


def test_map_cost_of_a_tile_mapping_is_the_cores_evaluate_of_its_genome():
    # llm-partition{granularity=tile} writes the mapping; to_genome reads back the genome the
    # pass built (lossless: from_genome of it prints the same tasks); map-cost's latency is
    # the core's evaluate of that genome on units built from the same tile spec
    from xcompass.dialects.map import from_genome, to_genome
    from xcompass.passes.ir_bridge import find_mapping
    from xcompass.passes.map_cost import MapCostPass
    from xcompass.passes.partition import PartitionPass
    from xcompass.tools.importer import build_module
    from xdsl.context import Context

    model, target = preset("gpt3-7b"), target_preset("simba-36")
    workload = build_workload(parse_spec("prefill:128,prefill:64,decode:256x4"), 2)
    module = build_module(model, workload, 2, "simba-36")
    PartitionPass("pipeline", "tile", pp=2, tile_width=512, tile_heads=4).apply(Context(), module)
    mapping_op = find_mapping(module)
    assert mapping_op.tiles == (512, 4)
    groups = make_groups(target, (1,))
    names = [mb.name for mb in workload.microbatches]
    genome = to_genome(mapping_op, names, groups)
    table = build_cost_table(model, workload, target, (1,))
    spec = tile_spec(model, workload, target, width=512, heads=4)
    ctx = EvalContext(table, groups, target, 2, "tile", tiles=spec)
    assert genome.place.shape == (2, ctx.units.count)
    again = from_genome("mapping", genome, names, groups, ctx.units, (512, 4))
    again.attributes.update(mapping_op.attributes)
    assert str(again) == str(mapping_op)
    MapCostPass().apply(Context(), module)
    core = evaluate_mapping(ctx, genome)
    assert mapping_op.attributes["latency_s"].value.data == core.latency_s[0]
    assert mapping_op.attributes["energy_j"].value.data == core.energy_j[0]
