"""An eager MoE layer's host launches (issue 18): the routing's `moe_route_kernels` small kernels
are launched by the host before the experts' grouped GEMMs and activation, from the one target
field the device model charges a floor each (xcompass/cost/moecost.py, engine/hostqueue.py).

Measured on the lent H100 (benchmarks/data/h100_moe.csv, the stages' kernel lists): 22 routing
kernels (top-k 7, permutation 10, combine 5) and 6 expert kernels per Mixtral layer; the h100
preset's fitted `moe_route_kernels` is 21 and the model counts 4 expert launches."""

import dataclasses

import numpy as np
import pytest
from test_hostqueue import US, eager_target, run_chain

from xcompass.cost.moecost import moe_launches, routing_time
from xcompass.cost.opcost import OpSpec
from xcompass.engine.context import EvalContext
from xcompass.engine.mapping import make_groups
from xcompass.layer.kernels import Kernel
from xcompass.layer.layercost import CostTable, build_cost_table, kernels_of

MOE = OpSpec("moe", "moe", k=64, ffn=128, experts=4, top_k=2, gated=True, split="k")
MOE_KERNEL = Kernel("moe", "moe", ("moe",), "", (), (), "k", (MOE,))


def moe_target(launch_us: float, route_kernels: float):
    t = eager_target(1, launch_us)
    kinds = tuple(dataclasses.replace(k, moe_route_kernels=route_kernels) for k in t.kinds)
    return dataclasses.replace(t, kinds=kinds)


def moe_table(total_us: float, route_us: float, mode: str = "eager") -> CostTable:
    """One micro-batch, one layer of one MoE kernel: `total_us` of device time, `route_us` of
    it its routing."""
    kt = np.array([[[[total_us * US]]]])  # [B, J, K, T]
    rows = np.stack([kt[:, [0]].sum(axis=1)] * 3, axis=1)  # [B, 3, K, T]
    z = np.zeros_like(rows)
    return CostTable(
        tp_options=(1,), time_stream=rows, time_resident=rows.copy(), dram_stream=z,
        dram_resident=z, macs=z, sram_bytes=z, weight_bytes=np.zeros((3, 1)),
        fits_sram=np.zeros((1, 3, 1), dtype=bool), act_bytes=np.zeros(1), kv_bytes=np.zeros(1),
        allreduce_bytes=np.zeros(1), allreduces=0, tokens=np.ones(1), mode=mode,
        kernels=(MOE_KERNEL,), positions=((0,), (0,), (0,)), kernel_time=kt,
        kernel_time_resident=kt.copy(), kernel_route_time=np.array([[[route_us * US]]]),
    )  # fmt: skip


def test_a_moe_layer_launches_its_routing_kernels():
    chip = moe_target(10.0, 3.0).kinds[0]
    assert moe_launches(chip, MOE) == (3, 4)  # routing; two grouped GEMMs + a gated activation
    assert kernels_of(MOE_KERNEL, chip) == 7
    assert kernels_of(MOE_KERNEL) == 4  # no chip: the routing's launches are not counted
    assert moe_launches(chip, dataclasses.replace(MOE, gated=False)) == (3, 3)
    assert moe_launches(dataclasses.replace(chip, moe_route_kernels=20.6), MOE) == (21, 4)


def test_h100_counts_the_fitted_routing_kernels():
    from xcompass.hardware.targetfile import preset

    chip = preset("h100").kinds[0]
    assert chip.moe_route_kernels == 21.0  # benchmarks/calibrate_moe.py's fit
    assert kernels_of(MOE_KERNEL, chip) == 25  # measured: 22 + 6 kernels (h100_moe.csv)


def test_the_host_issues_the_routing_before_the_experts():
    # 3 routing launches (6 us of device time, 2 us each) then 4 expert launches (80 us, 20
    # each), the host 10 us a launch: routing 10-12, 20-22, 30-32; the first grouped GEMM is
    # issued at 40 and the experts run back to back 40-120 us. Counting the experts' 4 launches
    # only (the count before issue 18) the 86 us of device time run from the first launch at
    # 10 us: 96 us; in a CUDA graph, 86 us.
    target = moe_target(10.0, 3.0)
    groups = make_groups(target, (1,))
    ctx = EvalContext(moe_table(86.0, 6.0), groups, target, 1)
    r = run_chain(ctx, [0])
    assert r.latency_s[0] == pytest.approx(120 * US, rel=1e-12)
    assert r.start[0, 0, 0] == pytest.approx(34 * US, rel=1e-12)  # as in a graph from Q = 34
    none = moe_target(10.0, 0.0)
    ctx = EvalContext(moe_table(86.0, 0.0), make_groups(none, (1,)), none, 1)
    assert run_chain(ctx, [0]).latency_s[0] == pytest.approx(96 * US, rel=1e-12)
    graph = EvalContext(moe_table(86.0, 6.0, "graph"), groups, target, 1)
    assert run_chain(graph, [0]).latency_s[0] == pytest.approx(86 * US, rel=1e-12)


def test_a_host_bound_moe_layer_pays_every_launch():
    # 21 routing launches of 1 us each and 4 experts of 2 us, 10 us a launch: the last expert
    # is issued at 250 us and runs 250-252 us (the h100 preset's count, host-bound as decode)
    target = moe_target(10.0, 21.0)
    ctx = EvalContext(moe_table(29.0, 21.0), make_groups(target, (1,)), target, 1)
    assert run_chain(ctx, [0]).latency_s[0] == pytest.approx(252 * US, rel=1e-12)


def test_the_cost_table_keeps_each_moe_kernels_routing_time():
    from xcompass.hardware.targetfile import preset
    from xcompass.model.models import preset as model_preset
    from xcompass.model.workload import build_workload, parse_spec

    target = preset("h100")
    chip = target.kinds[0]
    mixtral = model_preset("mixtral-8x7b")
    workload = build_workload(parse_spec("prefill:128,decode:512x8"), 2)
    table = build_cost_table(mixtral, workload, target, (1, 2), mode="eager")
    moe = [j for j, k in enumerate(table.kernels) if k.kind in ("moe", "op") and k.specs
           and k.specs[0].kind == "moe"]  # fmt: skip
    assert len(moe) == 1 and table.kernel_route_time is not None
    for b, tokens in enumerate((128, 8)):
        want = routing_time(chip, tokens * 2, mixtral.hidden, mixtral.dtype_bytes)[0]
        assert table.kernel_route_time[b, moe[0], 0] == want
    assert not np.delete(table.kernel_route_time, moe, axis=1).any()
    llama = build_cost_table(model_preset("llama3-8b"), workload, target, (1,), mode="eager")
    assert llama.kernel_route_time is None
