"""Hand-worked energy cases on round-number targets, and the shipped GPU energy terms against
benchmarks/calibrate_energy.py. Every expected figure is derived in the comments from the
formula of xcompass/engine/schedule.py: per node MACs x pj_per_mac + on-chip bytes x 8 x
sram_pj_per_bit + DRAM bytes x 8 x dram pj_per_bit + NoP bits x hops x pj_per_bit_hop; per
chiplet static_w x latency when it runs any task, idle_w x latency when it runs none."""

import importlib.util
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from xcompass.cost.kernelcost import op_cost
from xcompass.cost.opcost import OpSpec, RequestGroup
from xcompass.engine.context import EvalContext
from xcompass.engine.mapping import Mapping, make_groups
from xcompass.engine.schedule import evaluate_mapping
from xcompass.engine.schedule_jit import evaluate_fast
from xcompass.hardware.targetfile import PRESET_NAMES, parse_target, preset
from xcompass.layer.layercost import build_cost_table
from xcompass.model.models import ModelConfig
from xcompass.model.workload import one_microbatch_per_group, parse_spec

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ROOT / "test" / "inputs"
PJ = 1e-12
# [32 x 64] x [64 x 32] bf16 GEMM, one micro-batch of 32 prefill tokens
GEMM = OpSpec("gemm", "gemm", n=32, k=64)
MACS = 32 * 32 * 64  # 65,536
DRAM_B = (32 * 64 + 32 * 64 + 32 * 32) * 2  # weights + input + output = 10,240 B
SRAM_B = (32 * 64 + 32 * 32) * 2  # activations through on-chip memory = 6,144 B
# my-target.toml: 1 TFLOP/s, one unit, 16x16 tiles, 1 us floor: 4 tiles x 2*16*16*64 flop
GEMM_S = 1e-6 + 4 * 2 * 16 * 16 * 64 / 1e12  # 1.131072 us (compute-bound: memory 102.4 ns)


def energy_target(n: int, static_w: float = 0.0, idle_w: float | None = None):
    """n chiplets in a row on one DRAM channel; 1 pJ/MAC, 0.5 pJ/bit on chip, 10 pJ/bit DRAM,
    1 pJ/bit/hop, 10 GB/s links, 100 ns per hop (my-target.toml, round energies)."""
    data = tomllib.loads((INPUTS / "my-target.toml").read_text())
    chip = data["chiplet"][0]
    chip.update(count=n, dram_channel=0, pj_per_mac=1.0, sram_pj_per_bit=0.5, static_w=static_w)
    if idle_w is not None:
        chip["idle_w"] = idle_w
    data["dram"][0].update(count=1, pj_per_bit=10.0)
    data["network"]["dims"] = [n, 1]
    return parse_target(data, "energy-line")


def gemm_context(target, layers: int) -> EvalContext:
    model = ModelConfig("tiny", hidden=64, layers=layers, heads=1, kv_heads=1, head_dim=64,
                        ffn=64, vocab=16)  # fmt: skip
    workload = one_microbatch_per_group(parse_spec("prefill:32"))
    table = build_cost_table(model, workload, target, (1,), ops=[GEMM])
    return EvalContext(table, make_groups(target, (1,)), target, layers)


def both(ctx, mapping):
    """The reference's detailed result, after checking the compiled kernel agrees."""
    ref = evaluate_mapping(ctx, mapping)
    fast = evaluate_fast(ctx, mapping.boundaries[None], mapping.place[None])
    np.testing.assert_allclose(fast.latency_s, ref.latency_s, rtol=1e-12)
    np.testing.assert_allclose(fast.energy_j, ref.energy_j, rtol=1e-12)
    return ref


def test_one_gemm_counts():
    cost = op_cost(energy_target(1).kinds[0], GEMM, [RequestGroup(32, 0)], 2)
    assert (cost.macs, cost.dram_bytes, cost.sram_bytes) == (MACS, DRAM_B, SRAM_B)
    assert cost.time_s == pytest.approx(GEMM_S, rel=1e-12)


def test_one_gemm_dynamic_energy():
    # 65,536 MACs x 1 pJ + 6,144 B x 8 x 0.5 pJ + 10,240 B x 8 x 10 pJ
    # = 65,536 + 24,576 + 819,200 pJ = 909,312 pJ
    dynamic = 909_312 * PJ
    one = Mapping(np.zeros(0, dtype=bool), np.zeros((1, 1), dtype=int))
    r = both(gemm_context(energy_target(1), 1), one)
    assert r.latency_s[0] == pytest.approx(GEMM_S, rel=1e-12)
    assert r.energy_j[0] == pytest.approx(dynamic, rel=1e-12)
    assert r.parts["compute"][0] == pytest.approx(65_536 * PJ, rel=1e-12)
    assert r.parts["sram"][0] == pytest.approx(24_576 * PJ, rel=1e-12)
    assert r.parts["dram"][0] == pytest.approx(819_200 * PJ, rel=1e-12)
    assert r.parts["nop"][0] == 0.0
    # a 3 W static chiplet adds 3 W x 1.131072 us
    r = both(gemm_context(energy_target(1, static_w=3.0), 1), one)
    assert r.energy_j[0] == pytest.approx(dynamic + 3.0 * GEMM_S, rel=1e-12)


def test_two_of_four_chiplets_run_the_others_are_gated():
    # two layers of the GEMM pipelined over chiplets 0 and 1 of 4; chiplets 2 and 3 get no task
    target = energy_target(4, static_w=2.0, idle_w=0.5)
    r = both(gemm_context(target, 2), Mapping(np.zeros(1, dtype=bool), np.array([[0, 1]])))
    # layer 0 on chip 0 [0, t]; its 32 x 64 bf16 output (4,096 B) crosses one link:
    # 4,096 B / 10 GB/s = 409.6 ns + 1 hop x 100 ns; layer 1 on chip 1 [t + 509.6 ns, 2t + 509.6 ns]
    latency = 2 * GEMM_S + 409.6e-9 + 100e-9
    assert r.latency_s[0] == pytest.approx(latency, rel=1e-12)
    # dynamic: two GEMMs (909,312 pJ each) + the transfer 4,096 x 8 bits x 1 hop x 1 pJ
    dynamic = (2 * 909_312 + 32_768) * PJ
    # static: 2 powered chiplets x 2 W + 2 gated chiplets x 0.5 W, for the whole run
    static = (2 * 2.0 + 2 * 0.5) * latency
    assert r.parts["static"][0] == pytest.approx(static, rel=1e-12)
    assert r.energy_j[0] == pytest.approx(dynamic + static, rel=1e-12)
    np.testing.assert_allclose(r.static_j[0], np.array([2.0, 2.0, 0.5, 0.5]) * latency, rtol=1e-12)


def test_idle_power_never_exceeds_static_power():
    for name in PRESET_NAMES:
        for kind in preset(name).kinds:
            assert 0.0 <= kind.idle_w <= kind.static_w, (name, kind.kind)


def _calibration():
    spec = importlib.util.spec_from_file_location(
        "calibrate_energy", ROOT / "benchmarks" / "calibrate_energy.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("csv", "gpu", "presets"),
    [
        ("h200", "h200", ("h200", "hgx-h200x2", "hgx-h200x4", "hgx-h200x8")),
        ("h100", "h100", ("h100", "dgx-h100x8")),
    ],
)
def test_shipped_gpu_energy_is_the_calibration_fit(csv, gpu, presets):
    """The TOML values are exactly what benchmarks/calibrate_energy.py prints."""
    cal = _calibration()
    path = cal.DEFAULT_CSV if csv == "h200" else cal.H100_CSV
    if not path.is_file():
        pytest.skip(f"{path} not present")
    fit, *_ = cal.calibrate(path, gpu)
    for name in presets:
        if name not in PRESET_NAMES:
            continue  # a preset another change adds
        target = preset(name)
        for kind in target.kinds:
            assert kind.pj_per_mac == pytest.approx(fit.pj_per_mac, abs=1e-9), name
            assert kind.sram_pj_per_bit == pytest.approx(fit.sram_pj_per_bit, abs=1e-9), name
            assert kind.static_w == pytest.approx(fit.static_w, abs=1e-9), name
            assert kind.idle_w == pytest.approx(fit.idle_w, abs=1e-9), name
        for dram in target.drams:
            assert dram.pj_per_bit == pytest.approx(fit.dram_pj_per_bit, abs=1e-9), name
