"""Eager mode's host queue (xcompass/engine/hostqueue.py): hand-worked timelines, in the Python
reference and in both compiled kernels (equal to 1e-12), and the target field's checks.

The rule: the host issues kernel k of its queue at k x launch_us (it never waits for the
device); a kernel starts when it has been issued and the kernel before it has ended."""

import numpy as np
import pytest
from test_schedule import line_target

from xcompass.engine.context import EvalContext
from xcompass.engine.hostqueue import _excess
from xcompass.engine.mapping import make_groups
from xcompass.engine.schedule import evaluate
from xcompass.engine.schedule_dag import evaluate_dag
from xcompass.engine.schedule_jit import evaluate_fast
from xcompass.engine.units import Units, UnitTable
from xcompass.errors import XcompassError
from xcompass.layer.kernels import Kernel
from xcompass.layer.layercost import CostTable

US = 1e-6


def eager_target(n: int, launch_us: float, collective_us: float = 0.0):
    t = line_target(n)
    host = {"launch_us": launch_us, "collective_launch_us": collective_us}
    kinds = tuple(k.__class__(**{**k.__dict__, **host}) for k in t.kinds)
    return t.__class__(**{**t.__dict__, "kinds": kinds})


def layer_table(kernel_us: list[list[float]], mode: str) -> CostTable:
    """One micro-batch; position p runs the kernels `kernel_us[p]` (us, one launch each)."""
    flat = [t for pos in kernel_us for t in pos]
    J = len(flat)
    kt = np.array(flat, dtype=float)[None, :, None, None] * US  # [B, J, K, T]
    positions, j = [], 0
    for pos in kernel_us:
        positions.append(tuple(range(j, j + len(pos))))
        j += len(pos)
    rows = np.stack([kt[:, list(p)].sum(axis=1) for p in positions], axis=1)
    zeros = np.zeros_like(rows)
    kern = Kernel("k", "gemm", (), "", (), (), "")
    return CostTable(
        tp_options=(1,), time_stream=rows, time_resident=rows.copy(), dram_stream=zeros,
        dram_resident=zeros, macs=zeros, sram_bytes=zeros, weight_bytes=np.zeros((3, 1)),
        fits_sram=np.zeros((1, 3, 1), dtype=bool), act_bytes=np.zeros(1), kv_bytes=np.zeros(1),
        allreduce_bytes=np.zeros(1), allreduces=0, tokens=np.ones(1), mode=mode,
        kernels=(kern,) * J, positions=tuple(positions), kernel_time=kt,
        kernel_time_resident=kt.copy(),
    )  # fmt: skip


def run_chain(ctx: EvalContext, place: list[int]):
    """Reference and chain kernel of one mapping (one segment); they must agree."""
    p = np.array([[place]])
    bounds = np.zeros((1, len(place) - 1), dtype=bool)
    ref = evaluate(ctx, bounds, p, detail=True)
    fast = evaluate_fast(ctx, bounds, p)
    np.testing.assert_allclose(fast.latency_s, ref.latency_s, rtol=1e-12, atol=0)
    np.testing.assert_allclose(fast.energy_j, ref.energy_j, rtol=1e-12, atol=0)
    return ref


def test_the_excess_of_three_kernels():
    # 5, 20, 5 us, 10 us a launch: issued at 10, 20, 30 after 0, 5, 25 us of device time before
    # them: Q = max(10 - 0, 20 - 5, 30 - 25) = 15 (M = Q + T = 45)
    h = np.array([[10.0]])  # [kind, TP]
    one = [(np.array([[[t]]]), 1, h) for t in (5.0, 20.0, 5.0)]
    q, issue = _excess(one)
    assert q.item() == pytest.approx(15.0, abs=1e-12) and issue.item() == 30.0
    # as one piece of 3 equal launches: max(10 - 0, 20 - 10, 30 - 20) = 10
    q, issue = _excess([(np.array([[[30.0]]]), 3, h)])
    assert q.item() == pytest.approx(10.0, abs=1e-12) and issue.item() == 30.0
    # then a collective costing the host 40: issued at 70 after 30 us: max(15, 70 - 30) = 40
    q, issue = _excess([*one, (np.array([[[8.0]]]), 1, np.array([[40.0]]))])
    assert q.item() == pytest.approx(40.0, abs=1e-12) and issue.item() == 70.0


def test_a_layer_of_three_kernels_waits_for_its_launches():
    # kernel 1 issued at 10 runs 10-15; kernel 2 issued at 20 runs 20-40; kernel 3 issued at
    # 30 waits for the device, runs 40-45: 45 us eager against 30 us in a CUDA graph
    target = eager_target(1, 10.0)
    groups = make_groups(target, (1,))
    eager = EvalContext(layer_table([[5.0, 20.0, 5.0]] * 3, "eager"), groups, target, 1)
    r = run_chain(eager, [0])
    assert r.latency_s[0] == pytest.approx(45 * US, rel=1e-12)
    assert r.start[0, 0, 0] == pytest.approx(15 * US, rel=1e-12)  # runs as in a graph from 15
    assert r.host_wait[0, 0, 0] == pytest.approx(15 * US, rel=1e-12)
    assert r.blame[0, 0, 0] == -2
    graph = EvalContext(layer_table([[5.0, 20.0, 5.0]] * 3, "graph"), groups, target, 1)
    assert run_chain(graph, [0]).latency_s[0] == pytest.approx(30 * US, rel=1e-12)


def test_a_chain_of_layers_hides_launches_behind_a_long_kernel():
    # three layers of one kernel, 5 / 20 / 5 us, launches 10 us apart: 10-15, 20-40 (issued
    # at 20), 40-45 (issued at 30, behind the 20 us kernel): 45 us, not 3 x 10 + 30 = 60
    target = eager_target(1, 10.0)
    ctx = EvalContext(layer_table([[5.0], [20.0], [5.0]], "eager"), make_groups(target, (1,)),
                      target, 3)  # fmt: skip
    r = run_chain(ctx, [0, 0, 0])
    assert r.latency_s[0] == pytest.approx(45 * US, rel=1e-12)
    np.testing.assert_allclose(r.start[0, 0], np.array([10, 20, 40]) * US, rtol=1e-12)
    np.testing.assert_allclose(r.host_wait[0, 0], np.array([10, 5, 0]) * US, rtol=1e-12)


def test_each_gpu_has_its_own_host():
    # 5 us kernels, 10 us launches. One GPU: 10-15, then issued at 20: 20-25 = 25 us. Two GPUs:
    # GPU 1's host issued its layer at 10, so it starts when the input lands at 15 + 0.1 (one
    # 100 ns hop): 20.1 us
    target = eager_target(2, 10.0)
    ctx = EvalContext(layer_table([[5.0]] * 3, "eager"), make_groups(target, (1,)), target, 2)
    assert run_chain(ctx, [0, 0]).latency_s[0] == pytest.approx(25 * US, rel=1e-12)
    assert run_chain(ctx, [0, 1]).latency_s[0] == pytest.approx(20.1 * US, rel=1e-12)


def test_a_send_and_a_receive_cost_their_hosts():
    # as above, and an NCCL send or receive costs its host 8 us: GPU 1's host issues the
    # receive (8) and the layer (10) by 18, after the input landed at 15.1: 18-23
    target = eager_target(2, 10.0, 8.0)
    ctx = EvalContext(layer_table([[5.0]] * 3, "eager"), make_groups(target, (1,)), target, 2)
    r = run_chain(ctx, [0, 1])
    assert r.latency_s[0] == pytest.approx(23 * US, rel=1e-12)
    assert r.host_wait[0, 0, 1] == pytest.approx((18 - 15.1) * US, rel=1e-9)


def unit_chain(unit_us: list[float]) -> tuple[Units, UnitTable]:
    """A chain of units of one launch each (no per-kernel times: a row is one launch)."""
    U = len(unit_us)
    t = np.array(unit_us, dtype=float)[None, :, None, None] * US
    z = np.zeros_like(t)
    units = Units("group", tuple(f"u{i}" for i in range(U)), np.zeros(U, dtype=np.int64),
                  np.arange(U), np.r_[0, np.arange(U)].astype(np.int64)[: U + 1],
                  np.arange(U - 1, dtype=np.int64), np.zeros((1, U - 1)))  # fmt: skip
    ut = UnitTable(t, t.copy(), z, z, z, z, np.zeros((U, 1)), np.zeros((1, U, 1), dtype=bool),
                   np.zeros((1, U)), np.zeros((1, U)), np.zeros(U, dtype=np.int64))  # fmt: skip
    return units, ut


@pytest.mark.parametrize(
    ("place", "p2p_us", "want_us"), [([0, 0, 0], 8.0, 45.0), ([0, 1, 1], 0.0, 40.1),
                                     ([0, 1, 1], 8.0, 43.0)]
)  # fmt: skip
def test_the_dag_kernel_keeps_the_same_host_queue(place, p2p_us, want_us):
    # units 5 / 20 / 5 us on one GPU: 45 us as above; with the last two on GPU 1 (whose host
    # issues u1 at 10 and u2 at 20): u0 10-15, u1 15.1-35.1, u2 35.1-40.1; and if a receive
    # costs GPU 1's host 8 us: u1 issued at 18: 18-38, u2 issued at 28: 38-43
    target = eager_target(2, 10.0, p2p_us)
    ctx = EvalContext(layer_table([[1.0]] * 3, "eager"), make_groups(target, (1,)), target, 3)
    ctx.use_units(*unit_chain([5.0, 20.0, 5.0]))
    p, bounds = np.array([[place]]), np.zeros((1, 2), dtype=bool)
    ref = evaluate(ctx, bounds, p)
    fast = evaluate_dag(ctx, bounds, p)
    np.testing.assert_allclose(fast.latency_s, ref.latency_s, rtol=1e-12, atol=0)
    assert ref.latency_s[0] == pytest.approx(want_us * US, rel=1e-12)


def test_graph_mode_has_no_host_term():
    target = eager_target(1, 10.0)
    ctx = EvalContext(layer_table([[5.0]] * 3, "graph"), make_groups(target, (1,)), target, 3)
    assert not ctx.eager and not ctx.host_issue.any() and not ctx.host_q_stream.any()
    assert run_chain(ctx, [0, 0, 0]).latency_s[0] == pytest.approx(15 * US, rel=1e-12)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-0.5, "field 'chiplet[0].launch_us' must be >= 0, got -0.5"),
        (2e4, "field 'chiplet[0].launch_us' must be 0 to 10000 (us, the host's time per launch)"),
        ("fast", "field 'chiplet[0].launch_us' must be float, got 'fast'"),
    ],
)
def test_launch_us_is_checked(value, message):
    # and collective_launch_us alike, which defaults to launch_us
    import tomllib
    from pathlib import Path

    from xcompass.hardware.targetfile import parse_target

    data = tomllib.loads((Path(__file__).parents[1] / "inputs" / "my-target.toml").read_text())
    data["chiplet"][0]["launch_us"] = value
    with pytest.raises(XcompassError) as err:
        parse_target(data, "t")
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("target_name", "tps"), [("dgx-h100x8", (1, 2, 8)), ("hgx-h200x4", (1, 2, 4))]
)
@pytest.mark.parametrize("granularity", ["layer", "group"])
def test_eager_kernels_match_the_reference_on_random_mappings(target_name, tps, granularity):
    # presets whose host figures are real (launch 23.9 us; 18.0 and 65.2 us a collective)
    from xcompass.hardware.targetfile import preset as target_preset
    from xcompass.layer.layercost import build_cost_table
    from xcompass.model.models import preset
    from xcompass.model.workload import build_workload, parse_spec

    model, target = preset("llama3-8b"), target_preset(target_name)
    workload = build_workload(parse_spec("prefill:512x2,decode:1024x16"), 4)
    tb = build_cost_table(model, workload, target, tps, mode="eager")
    groups = make_groups(target, tps)
    ctx = EvalContext(tb, groups, target, 4, granularity=granularity)
    assert ctx.eager and ctx.host_issue.max() > 0
    U = ctx.units.count
    rng = np.random.default_rng(3)
    bounds = rng.random((12, U - 1)) < 0.3
    place = rng.integers(0, len(groups.tp), (12, 4, U))
    ref = evaluate(ctx, bounds, place, detail=True)
    assert (ref.host_wait > 0).any()  # the host queue is exercised
    fast = (evaluate_fast if granularity == "layer" else evaluate_dag)(ctx, bounds, place)
    np.testing.assert_allclose(fast.latency_s, ref.latency_s, rtol=1e-12)
    np.testing.assert_allclose(fast.energy_j, ref.energy_j, rtol=1e-12)
    if granularity == "layer":
        np.testing.assert_allclose(evaluate_dag(ctx, bounds, place).latency_s, ref.latency_s,
                                   rtol=1e-12)  # fmt: skip
