"""Hand-worked schedule cases: pipeline bubbles, links and DRAM channels shared in time, power
gating, and the compiled kernel against the reference. Every expected figure is derived in the
comments from the rules in xcompass/engine/schedule.py on round-number targets."""

import tomllib
from pathlib import Path

import numpy as np
import pytest

from xcompass.engine.context import EvalContext
from xcompass.engine.mapping import Mapping, make_groups, partition
from xcompass.engine.schedule import Timeline, common_slot, evaluate, evaluate_mapping
from xcompass.engine.schedule_jit import evaluate_fast
from xcompass.hardware.targetfile import parse_target
from xcompass.hardware.targetfile import preset as target_preset
from xcompass.layer.layercost import CostTable, build_cost_table
from xcompass.model.models import preset
from xcompass.model.workload import DEFAULT_SPEC, build_workload, parse_spec

INPUTS = Path(__file__).resolve().parents[1] / "inputs"
HOP = 100e-9  # my-target.toml: 100 ns per hop, 10 GB/s links, 100 GB/s DRAM channels


def line_target(n: int, static_w: float = 0.0, idle_w: float | None = None):
    """n chiplets in a row on one DRAM channel (my-target.toml's figures)."""
    data = tomllib.loads((INPUTS / "my-target.toml").read_text())
    chip = data["chiplet"][0]
    chip["count"], chip["dram_channel"], chip["static_w"] = n, 0, static_w
    if idle_w is not None:
        chip["idle_w"] = idle_w
    data["dram"][0]["count"] = 1
    data["network"]["dims"] = [n, 1]
    return parse_target(data, "line")


def table(time_s, dram_bytes=0.0, act_bytes=0.0, B=2) -> CostTable:
    """A cost table from per-(micro-batch, position) node times and DRAM bytes: [B, 3] arrays
    or scalars. Position 0 = first layer, 2 = last, 1 = the others."""
    shape = (B, 3, 1, 1)
    t = np.broadcast_to(np.asarray(time_s, dtype=float), (B, 3))[..., None, None]
    d = np.broadcast_to(np.asarray(dram_bytes, dtype=float), (B, 3))[..., None, None]
    zeros = np.zeros(shape)
    return CostTable(
        tp_options=(1,),
        time_stream=t.copy(),
        time_resident=t.copy(),
        dram_stream=d.copy(),
        dram_resident=d.copy(),
        macs=zeros,
        sram_bytes=zeros,
        weight_bytes=np.zeros((3, 1)),
        fits_sram=np.zeros((1, 3, 1), dtype=bool),
        act_bytes=np.full(B, float(act_bytes)),
        kv_bytes=np.zeros(B),
        allreduce_bytes=np.zeros(B),
        allreduces=0,
        tokens=np.ones(B),
    )


def both(ctx, mapping):
    """The reference's detailed result, after checking the compiled kernel agrees."""
    ref = evaluate_mapping(ctx, mapping)
    fast = evaluate_fast(ctx, mapping.boundaries[None], mapping.place[None])
    np.testing.assert_allclose(fast.latency_s, ref.latency_s, rtol=1e-12)
    np.testing.assert_allclose(fast.energy_j, ref.energy_j, rtol=1e-12)
    return ref


def test_timeline_fills_gaps():
    tl = Timeline()
    tl.book(2.0, 1.0)  # [2, 3)
    tl.book(5.0, 1.0)  # [5, 6)
    assert tl.earliest(0.0, 2.0) == 0.0  # [0, 2) fits before the first booking
    assert tl.earliest(0.5, 2.0) == 3.0  # [0.5, 2.5) would overlap: next gap is [3, 5)
    assert tl.earliest(3.0, 2.0) == 3.0  # touches both neighbours exactly
    assert tl.earliest(3.5, 2.0) == 6.0  # the [3, 5) gap is too short from 3.5
    a, b = Timeline(), Timeline()
    a.book(0.0, 1.0)
    b.book(1.0, 1.0)
    assert common_slot([(a, 1.0, 1.0), (b, 1.0, 1.0)], 0.0) == 2.0  # free on both only from 2
    # a half share fits beside another half share, not beside a 0.6 share
    half = Timeline()
    half.book(0.0, 4.0, 0.5)
    assert half.earliest(0.0, 1.0, 0.5) == 0.0
    assert half.earliest(0.0, 1.0, 0.6) == 4.0


def _jit_fill(bookings, fills):
    """The compiled kernel's fill on one channel: book `bookings` as fills, then return the
    finishes of `fills` (t, need, cap, run) and the breakpoints."""
    from xcompass.engine.schedule_core import fill as _fill

    times, used, cnt = np.zeros((1, 32)), np.zeros((1, 32)), np.zeros(1, dtype=np.int64)
    out = [_fill(times, used, cnt, 0, *f) for f in (*bookings, *fills)]
    n = cnt[0]
    return out[len(bookings) :], list(times[0, :n]), list(used[0, :n])


def test_a_stream_too_small_for_the_clock_books_nothing():
    # [0, 1) full; a stream of 1e-20 s arriving at 0.5 finishes where the booking ends (1.0 +
    # 1e-20 == 1.0): it must not take a share of the free tail, or the next stream that walks
    # into the tail finds no bandwidth (a division by zero, an infinite latency)
    tl = Timeline()
    assert tl.fill(0.0, 1.0, 1.0, 1.0) == 1.0
    assert tl.fill(0.5, 1e-20, 1.0, 1e-20) == 1.0
    assert tl.used[-1] == 0.0
    assert tl.fill(0.5, 0.25, 1.0, 0.25) == 1.25  # waits for the booking, then runs
    assert tl.times == [0.0, 0.5, 1.0, 1.25] and tl.used == [1.0, 1.0, 1.0, 0.0]
    fills = [(0.5, 1e-20, 1.0, 1e-20), (0.5, 0.25, 1.0, 0.25)]
    finishes, times, used = _jit_fill([(0.0, 1.0, 1.0, 1.0)], fills)
    assert finishes == [1.0, 1.25] and times == tl.times and used == tl.used
    # inside a gap, too: [0, 1) at 1/2 and [1, 2) full; a tiny stream at 0.25 books nothing
    tl = Timeline()
    tl.book(0.0, 1.0, 0.5)
    tl.book(1.0, 1.0, 1.0)
    assert tl.fill(0.25, 1e-20, 1.0, 1e-20) == 0.25
    assert tl.times == [0.0, 0.25, 1.0, 2.0] and tl.used == [0.5, 0.5, 1.0, 0.0]


def test_a_stream_fills_the_bandwidth_left_free():
    tl = Timeline()
    tl.book(0.0, 2.0, 0.75)  # a stream holding 3/4 of the channel during [0, 2)
    # 1 channel-second wanted at up to the full rate: 1/4 free until 2 gives 0.5, the other
    # 0.5 goes at full rate after 2: done at 2.5
    assert tl.fill(0.0, 1.0, 1.0, 1.0) == pytest.approx(2.5, rel=1e-15)
    # the channel is now full during [0, 2.5): a stream capped at 1/2 waits, then takes 1/2
    assert tl.fill(1.0, 0.5, 0.5, 1.0) == pytest.approx(3.5, rel=1e-15)
    assert tl.times == [0.0, 1.0, 2.0, 2.5, 3.5]
    assert tl.used == [1.0, 1.0, 1.0, 0.5, 0.0]
    # from 3.5 on nothing is booked: a stream at 1/4 for 2 s just appends
    assert tl.fill(4.0, 0.5, 0.25, 2.0) == 6.0
    assert tl.times[-3:] == [3.5, 4.0, 6.0] and tl.used[-3:] == [0.0, 0.25, 0.0]


def test_two_chiplet_pipeline_bubble():
    target = line_target(2)
    ctx = EvalContext(table(1.0, act_bytes=10e9), make_groups(target, (1,)), target, 2)
    r = both(ctx, Mapping(np.zeros(1, dtype=bool), np.array([[0, 1], [0, 1]])))
    # a 10 GB activation holds the link 1 s (10 GB/s) and arrives one hop (100 ns) later
    # mb0: l0 on chip 0 [0, 1], link [1, 2], l1 on chip 1 [2+hop, 3+hop]
    # mb1: l0 on chip 0 [1, 2], link [2, 3], arrives 3+hop, chip 1 free at 3+hop: [3+hop, 4+hop]
    np.testing.assert_allclose(r.start[0], [[0, 2 + HOP], [1, 3 + HOP]], rtol=1e-12)
    np.testing.assert_allclose(r.end[0], [[1, 3 + HOP], [2, 4 + HOP]], rtol=1e-12)
    assert r.latency_s[0] == pytest.approx(4 + HOP, rel=1e-12)
    # energy: two 10 GB transfers, 1 hop each, 1 pJ/bit/hop (static power 0)
    assert r.energy_j[0] == pytest.approx(2 * 10e9 * 8 * 1e-12, rel=1e-12)


def test_contended_link_serializes_transfers():
    target = line_target(4)
    ctx = EvalContext(table(1.0, act_bytes=10e9), make_groups(target, (1,)), target, 2)
    # mb0: chip 0 -> chip 2 (links 0E, 1E); mb1: chip 1 -> chip 3 (links 1E, 2E): both want 1E
    r = both(ctx, Mapping(np.zeros(1, dtype=bool), np.array([[0, 2], [1, 3]])))
    # mb0's transfer holds 0E and 1E during [1, 2], arrives 2 + 2 hops: l1 [2+2hop, 3+2hop]
    # mb1's transfer (ready at 1 too) finds 1E busy until 2: holds [2, 3], l1 [3+2hop, 4+2hop]
    assert r.end[0, 0, 1] == pytest.approx(3 + 2 * HOP, rel=1e-12)
    assert r.start[0, 1, 1] == pytest.approx(3 + 2 * HOP, rel=1e-12)
    assert r.link_wait[0, 1, 1] == pytest.approx(1.0, rel=1e-12)
    assert r.latency_s[0] == pytest.approx(4 + 2 * HOP, rel=1e-12)
    # what the links did: link id = 4 x chiplet + direction (0 = east); node ids b * L + l
    assert r.transfers == [(1, (0, 4), 1.0, 2.0), (3, (4, 8), 2.0, 3.0)]
    # disjoint routes (chip 2 -> 3 shares nothing with 0 -> 1) finish a full second earlier
    disjoint = both(ctx, Mapping(np.zeros(1, dtype=bool), np.array([[0, 1], [2, 3]])))
    assert disjoint.latency_s[0] == pytest.approx(3 + HOP, rel=1e-12)


def test_later_listed_node_that_starts_earlier_is_not_delayed():
    target = line_target(2)
    # one DRAM channel (100 GB/s). mb0: a 2 s first layer with no DRAM traffic, then a 1 s last
    # layer streaming 100 GB (the channel for 1 s). mb1: a 1 s first layer streaming 100 GB.
    tb = table([[2.0, 0, 1.0], [1.0, 0, 1.0]], dram_bytes=[[0, 0, 100e9], [100e9, 0, 0]])
    ctx = EvalContext(tb, make_groups(target, (1,)), target, 2)
    r = both(ctx, Mapping(np.zeros(1, dtype=bool), np.array([[0, 0], [1, 1]])))
    # list order: mb0 l0 [0, 2], mb0 l1 [2, 3] books the channel [2, 3], then mb1 l0 on chip 1
    # can start at 0: the channel is free during [0, 1], so it runs [0, 1] — it is not queued
    # behind mb0's booking, which lies in its future (program-order booking gave [3, 4]).
    np.testing.assert_allclose(r.start[0], [[0, 2], [0, 1]], rtol=1e-12)
    np.testing.assert_allclose(r.end[0], [[2, 3], [1, 2]], rtol=1e-12)
    assert r.stall_time[0].max() == 0.0
    assert r.latency_s[0] == pytest.approx(3.0, rel=1e-12)


def test_overlapping_dram_streams_share_the_channel_first_come_first_served():
    target = line_target(2)
    # both chips start at 0 and stream 100 GB (1 s of the channel) during a 1 s layer
    ctx = EvalContext(table(1.0, dram_bytes=100e9, B=2), make_groups(target, (1,)), target, 1)
    r = both(ctx, Mapping(np.zeros(0, dtype=bool), np.array([[0], [1]])))
    # each wants the whole channel (100 GB in its 1 s run): mb0, booked first, takes it during
    # [0, 1]; mb1 gets what is left — nothing until 1, then all of it — and ends at 2, its
    # compute done at 1 (a 1 s DRAM stall)
    np.testing.assert_allclose(r.end[0, :, 0], [1.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(r.stall_time[0, :, 0], [0.0, 1.0], atol=1e-12)
    # the channel's streams: (node, channel, start, end, share at the node's own rate)
    assert [(n, ch) for n, ch, *_ in r.dram_streams] == [(0, 0), (1, 0)]
    np.testing.assert_allclose([x[2:] for x in r.dram_streams], [[0, 1, 1], [0, 2, 1]], rtol=1e-12)
    # a tensor-parallel pair on the one channel streams 2 x 100 GB: 2 s of the channel, more
    # than its 1 s run, so it takes the whole channel and runs 2 s
    groups = make_groups(target, (1, 2))
    tp_table = table(1.0, dram_bytes=100e9, B=1)
    tp_table.tp_options = (1, 2)
    for name in ("time_stream", "time_resident", "dram_stream", "dram_resident", "macs"):
        setattr(tp_table, name, np.repeat(getattr(tp_table, name), 2, axis=3))
    tp_table.sram_bytes = np.repeat(tp_table.sram_bytes, 2, axis=3)
    tp_table.fits_sram = np.zeros((1, 3, 2), dtype=bool)
    tp_table.weight_bytes = np.zeros((3, 2))
    ctx = EvalContext(tp_table, groups, target, 1)
    pair = groups.find((0, 1))
    r = both(ctx, Mapping(np.zeros(0, dtype=bool), np.array([[pair]])))
    assert r.end[0, 0, 0] == pytest.approx(2.0, rel=1e-12)


def test_idle_chiplets_draw_idle_power():
    # 4 chiplets: static 2 W when running anything, 0.5 W when power-gated (no task)
    target = line_target(4, static_w=2.0, idle_w=0.5)
    ctx = EvalContext(table(1.0, B=1), make_groups(target, (1,)), target, 2)
    r = both(ctx, Mapping(np.zeros(1, dtype=bool), np.array([[0, 1]])))
    # chip 0 [0, 1], chip 1 [1, 2] (no activation bytes, 0-hop latency 100 ns): latency 2+hop
    latency = 2 + HOP
    assert r.latency_s[0] == pytest.approx(latency, rel=1e-12)
    # two powered chips at 2 W, two gated at 0.5 W, over the whole run
    assert r.parts["static"][0] == pytest.approx(latency * (2 * 2.0 + 2 * 0.5), rel=1e-12)
    np.testing.assert_allclose(r.static_j[0], np.array([2.0, 2.0, 0.5, 0.5]) * latency)
    np.testing.assert_array_equal(r.powered[0], [True, True, False, False])
    # without an idle_w field a chiplet is not gated: idle draws static_w
    ungated = line_target(4, static_w=2.0)
    ctx = EvalContext(table(1.0, B=1), make_groups(ungated, (1,)), ungated, 2)
    r = both(ctx, Mapping(np.zeros(1, dtype=bool), np.array([[0, 1]])))
    assert r.parts["static"][0] == pytest.approx(latency * 4 * 2.0, rel=1e-12)


def test_segments_change_the_execution_order():
    target = line_target(2)
    ctx = EvalContext(table(1.0), make_groups(target, (1,)), target, 2)
    # everything on chip 0: one segment runs mb0 l0, mb0 l1, mb1 l0, mb1 l1
    one = both(ctx, Mapping(np.array([False]), np.zeros((2, 2), dtype=int)))
    np.testing.assert_allclose(one.start[0], [[0, 1], [2, 3]])
    # a boundary after layer 0: mb0 l0, mb1 l0, then mb0 l1, mb1 l1
    two = both(ctx, Mapping(np.array([True]), np.zeros((2, 2), dtype=int)))
    np.testing.assert_allclose(two.start[0], [[0, 2], [1, 3]])


@pytest.mark.parametrize(
    ("target_name", "tps"),
    [("compass-het-36", (1, 2)), ("simba-36", (1, 2, 4)), ("dgx-h100x8", (1, 2, 4, 8))],
)
def test_compiled_kernel_matches_the_reference(target_name, tps):
    model, target = preset("llama3-8b"), target_preset(target_name)
    workload = build_workload(parse_spec("prefill:512x2,decode:1024x16"), 4)
    tb = build_cost_table(model, workload, target, tps)
    groups = make_groups(target, tps)
    ctx = EvalContext(tb, groups, target, 6)
    rng = np.random.default_rng(1)
    boundaries = rng.random((24, 5)) < 0.3
    place = rng.integers(0, len(groups.tp), (24, 4, 6))
    ref, fast = evaluate(ctx, boundaries, place), evaluate_fast(ctx, boundaries, place)
    np.testing.assert_allclose(fast.latency_s, ref.latency_s, rtol=1e-12)
    np.testing.assert_allclose(fast.energy_j, ref.energy_j, rtol=1e-12)
    for key in ref.parts:
        np.testing.assert_allclose(fast.parts[key], ref.parts[key], rtol=1e-12, atol=1e-15)


def readme_command_1(strategy: str, **options):
    """llama3-8b, 4 layers, the default workload on simba-36 (the README's first command)."""
    model, target = preset("llama3-8b"), target_preset("simba-36")
    workload = build_workload(parse_spec(DEFAULT_SPEC), None)
    tps = tuple(sorted({1, options.get("tp", 1)}))
    groups = make_groups(target, tps)
    mapping = partition(strategy, model, workload, target, groups, 4, **options)
    ctx = EvalContext(build_cost_table(model, workload, target, tps), groups, target, 4)
    return both(ctx, mapping)


def test_no_phantom_dram_wait_in_the_readme_pipeline():
    r = readme_command_1("pipeline")
    # micro-batch 1's first layer on chiplet 0 used to run 0.536 -> 1.101 s, queued behind
    # bookings of the channel that lay in its future; layer 1 of the same micro-batch takes
    # 0.0105 s. Now the two identical decode layers take the same time, give or take DRAM
    # sharing with at most the one other chiplet on their channel that runs at the same time.
    first, second = r.end[0, 1, 0] - r.start[0, 1, 0], r.end[0, 1, 1] - r.start[0, 1, 1]
    assert first == pytest.approx(second, rel=0.05)
    assert r.stall_time[0].sum() < 0.05 * r.latency_s[0]


def test_no_phantom_wait_in_the_readme_hybrid():
    r = readme_command_1("hybrid", tp=2, pp=4, dp=2)
    # a decode layer took 0.836 s instead of 0.0053 s; every decode node now takes what its
    # kernels and its share of the channel say
    decode = r.end[0, 1] - r.start[0, 1]
    assert decode.max() < 0.02


# --- units below a layer: a DAG per micro-batch ------------------------------------------


def dag(preds: list[list[int]], edge_gb: list[float], node_s: float = 1.0, B: int = 1):
    """Units with the given predecessor lists, every unit `node_s` seconds on its chiplet, the
    edges (in order) carrying `edge_gb` GB each; one cost row per unit."""
    from xcompass.engine.units import Units, UnitTable

    U = len(preds)
    start = np.r_[0, np.cumsum([len(p) for p in preds])]
    shape = (B, U, 1, 1)
    zeros = np.zeros(shape)
    units = Units(
        "group",
        tuple(f"u{i}" for i in range(U)),
        np.zeros(U, dtype=np.int64),
        np.arange(U),
        start.astype(np.int64),
        np.array([s for p in preds for s in p], dtype=np.int64),
        np.tile(np.array(edge_gb, dtype=float) * 1e9, (B, 1)),
    )
    unit_table = UnitTable(
        np.full(shape, node_s),
        np.full(shape, node_s),
        zeros,
        zeros,
        zeros,
        zeros,
        np.zeros((U, 1)),
        np.zeros((1, U, 1), dtype=bool),
        np.zeros((B, U)),
        np.zeros((B, U)),
        np.zeros(U, dtype=np.int64),
    )
    return units, unit_table


def test_a_diamond_of_units_on_two_chiplets():
    target = line_target(2)
    ctx = EvalContext(table(1.0, B=1), make_groups(target, (1,)), target, 4)
    ctx.use_units(*dag([[], [0], [0], [1, 2]], [10, 10, 10, 10]))
    # A -> B, A -> C, B -> D, C -> D; A, B, D on chip 0, C on chip 1; 1 s each, 10 GB edges
    # (1 s on the 10 GB/s link, +100 ns a hop). A [0, 1]; B [1, 2] (A's output stays on chip);
    # A -> C holds 0E during [1, 2], C [2+hop, 3+hop]; C -> D holds 1W [3+hop, 4+hop]; D waits
    # for its last input: [4+2hop, 5+2hop]
    r = evaluate_mapping(ctx, Mapping(np.zeros(3, dtype=bool), np.array([[0, 0, 1, 0]])))
    np.testing.assert_allclose(r.start[0, 0], [0, 1, 2 + HOP, 4 + 2 * HOP], rtol=1e-12)
    assert r.latency_s[0] == pytest.approx(5 + 2 * HOP, rel=1e-12)
    assert r.crit_pred[0, 0, 3] == 2  # D's last input came from C
    from xcompass.engine.report import critical_path

    cp = critical_path(r)  # D, the C -> D transfer, C, the A -> C transfer, A
    assert cp["compute"] == pytest.approx(3.0, rel=1e-12)
    assert cp["nop_transfer"] == pytest.approx(2 + 2 * HOP, rel=1e-12)


def test_a_residual_edge_crossing_the_nop():
    target = line_target(2)
    ctx = EvalContext(table(1.0, B=1), make_groups(target, (1,)), target, 3)
    # X -> Y (10 GB), X -> Z (the residual stream, 20 GB), Y -> Z (10 GB); X on chip 0, Y and Z
    # on chip 1. Both of X's outputs leave at 1 on the one link 0E: Y's (ranked first) holds
    # it [1, 2], the residual [2, 4]. Y [2+hop, 3+hop]; Z waits for the residual: [4+hop, 5+hop]
    ctx.use_units(*dag([[], [0], [0, 1]], [10, 20, 10]))
    r = evaluate_mapping(ctx, Mapping(np.zeros(2, dtype=bool), np.array([[0, 1, 1]])))
    np.testing.assert_allclose(r.start[0, 0], [0, 2 + HOP, 4 + HOP], rtol=1e-12)
    assert r.link_wait[0, 0, 2] == pytest.approx(1.0, rel=1e-12)
    assert r.transfers == [(1, (0,), 1.0, 2.0), (2, (0,), 2.0, 4.0)]
    assert r.latency_s[0] == pytest.approx(5 + HOP, rel=1e-12)


def test_group_units_of_a_layer_on_one_gpu_cost_the_layer():
    # kernels as units, all on the one GPU: nothing crosses a link and one channel serves them
    # one after another, so the run takes what the whole layers take
    model, target = preset("llama3-8b"), target_preset("h100")
    workload = build_workload(parse_spec("prefill:512,decode:1024x8"), None)
    tb = build_cost_table(model, workload, target, (1,))
    groups = make_groups(target, (1,))
    layer = EvalContext(tb, groups, target, 2)
    group = EvalContext(tb, groups, target, 2, granularity="group")
    n = group.units.count
    assert n == 2 * len(tb.positions[1])
    one = evaluate_mapping(layer, Mapping(np.zeros(1, bool), np.zeros((2, 2), dtype=int)))
    many = evaluate_mapping(group, Mapping(np.zeros(n - 1, bool), np.zeros((2, n), dtype=int)))
    assert many.latency_s[0] == pytest.approx(one.latency_s[0], rel=1e-9)
    assert many.energy_j[0] == pytest.approx(one.energy_j[0], rel=1e-9)


@pytest.mark.parametrize(
    ("target_name", "tps"),
    [("compass-het-36", (1, 2)), ("simba-36", (1, 2, 4)), ("dgx-h100x8", (1, 2, 4, 8))],
)
@pytest.mark.parametrize("granularity", ["layer", "group"])
def test_dag_kernel_matches_the_reference(target_name, tps, granularity):
    from xcompass.engine.schedule_dag import evaluate_dag

    model, target = preset("llama3-8b"), target_preset(target_name)
    workload = build_workload(parse_spec("prefill:512x2,decode:1024x16"), 4)
    tb = build_cost_table(model, workload, target, tps)
    groups = make_groups(target, tps)
    ctx = EvalContext(tb, groups, target, 3, granularity=granularity)
    U = ctx.units.count
    rng = np.random.default_rng(2)
    boundaries = rng.random((12, U - 1)) < 0.3
    place = rng.integers(0, len(groups.tp), (12, 4, U))
    ref, fast = evaluate(ctx, boundaries, place), evaluate_dag(ctx, boundaries, place)
    np.testing.assert_allclose(fast.latency_s, ref.latency_s, rtol=1e-12)
    np.testing.assert_allclose(fast.energy_j, ref.energy_j, rtol=1e-12)
    for key in ref.parts:
        np.testing.assert_allclose(fast.parts[key], ref.parts[key], rtol=1e-12, atol=1e-15)


def test_dag_kernel_reruns_an_individual_whose_links_overflow():
    from xcompass.engine import schedule_dag

    target = line_target(2)
    ctx = EvalContext(table(1.0, B=1), make_groups(target, (1,)), target, 4)
    ctx.use_units(*dag([[], [0], [0], [1, 2]], [10, 10, 10, 10]))
    place = np.array([[[0, 0, 1, 0]], [[0, 1, 0, 1]]])
    bounds = np.zeros((2, 3), dtype=bool)
    ref = evaluate(ctx, bounds, place)
    real = schedule_dag._kernel
    caps = []

    def tiny(arrays, order, flat, B, U, cap, *out):  # first with room for one booking per link
        caps.append(cap)
        real(arrays, order, flat, B, U, 2 if len(caps) == 1 else cap, *out)

    schedule_dag._kernel = tiny
    try:
        fast = schedule_dag.evaluate_dag(ctx, bounds, place)
    finally:
        schedule_dag._kernel = real
    np.testing.assert_allclose(fast.latency_s, ref.latency_s, rtol=1e-12)
    assert len(caps) == 2  # the second individual (two messages on link 0E) ran again
