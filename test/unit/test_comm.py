"""The communication model (xcompass/hardware/comm.py) on hand-worked cases, the [network] schema,
and
the shipped NVLink presets against what benchmarks/calibrate_comm.py fits."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from xcompass.errors import XcompassError
from xcompass.hardware.comm import (
    allreduce_bits,
    allreduce_time,
    bus_gbs,
    p2p_time,
    transfer_params,
)
from xcompass.hardware.targetfile import parse_target, preset
from xcompass.hardware.targets import Network

REPO = Path(__file__).resolve().parents[2]

# Round numbers: links 100 GB/s (1e5 bytes/us), all-reduce bulk 200 GB/s at every group size,
# small-message protocol at half of it.
NET = Network(
    topology="switch",
    link_gbs=100.0,
    pj_per_bit_hop=1.0,
    latency_us=10.0,
    hop_ns=50.0,
    eager_latency_us=40.0,
    allreduce_gbs=200.0,
    allreduce_latency_us=10.0,
    eager_allreduce_latency_us=30.0,
    allreduce_step_us=1.0,
    allreduce_small_fraction=0.5,
    allreduce_bulk_extra_us=5.0,
    allreduce_bulk_step_us=3.0,
    allreduce_peak_gbs=200.0,
)


def us(seconds) -> float:  # noqa: ANN001
    return float(np.asarray(seconds)) * 1e6


def test_p2p_per_mode() -> None:
    # 1e6 bytes at 1e5 bytes/us = 10 us, plus the mode's latency, plus 50 ns per hop
    assert us(p2p_time(NET, "graph", 1e6)) == pytest.approx(20.0)
    assert us(p2p_time(NET, "eager", 1e6)) == pytest.approx(50.0)
    assert us(p2p_time(NET, "graph", 1e6, hops=2)) == pytest.approx(20.1)
    assert transfer_params(NET, "eager") == pytest.approx((40e-6, 100e9, 50e-9))


@pytest.mark.parametrize(
    ("mode", "tp", "nbytes", "expected_us"),
    [
        # 2 members move 2(2-1)/2 = 1x the bytes; no extra ring steps
        ("graph", 2, 1e5, 11.0),  # small 10 + 1 = 11 beats bulk 10 + 5 + 0.5
        ("graph", 2, 2e6, 25.0),  # bulk 15 + 10 = 25 beats small 10 + 20
        ("eager", 2, 1e5, 31.0),  # eager base 30
        # 4 members move 1.5x the bytes, 2(4-2) = 4 extra steps (small 1 us, bulk 3 us each)
        ("graph", 4, 4e5, 20.0),  # small 10 + 4 + 6; bulk 10 + 5 + 12 + 3 = 30
        ("graph", 4, 4e6, 57.0),  # bulk 10 + 5 + 12 + 30; small 10 + 4 + 60 = 74
        ("eager", 4, 4e5, 40.0),  # small 30 + 4 + 6
        # 8 members move 1.75x the bytes, 12 extra steps
        ("graph", 8, 8e5, 36.0),  # small 10 + 12 + 14; bulk 10 + 5 + 36 + 7 = 58
        ("graph", 8, 8e7, 751.0),  # bulk 10 + 5 + 36 + 700; small 10 + 12 + 1400
    ],
)
def test_allreduce_hand_worked(mode: str, tp: int, nbytes: float, expected_us: float) -> None:
    assert us(allreduce_time(NET, mode, np.array(tp), np.array(nbytes))) == pytest.approx(
        expected_us
    )


def test_allreduce_vectorized_and_tp1_free() -> None:
    t = allreduce_time(NET, "graph", np.array([1, 2, 4]), np.array([1e5, 1e5, 4e5]))
    assert t * 1e6 == pytest.approx([0.0, 11.0, 20.0])
    table = allreduce_time(NET, "graph", np.array([[1, 2]]), np.array([[1e5], [2e6]]))
    assert table.shape == (2, 2)
    assert table[1] * 1e6 == pytest.approx([0.0, 25.0])
    assert allreduce_bits(np.array([1, 2, 4]), np.array([10.0, 10.0, 10.0])) == pytest.approx(
        [0.0, 160.0, 480.0]
    )


def test_bus_bandwidth_grows_with_group_size() -> None:
    # B(n) = peak - (peak - B2) x 2/n: 200 at 2, 250 at 4, 275 at 8 GB/s with a 300 GB/s peak
    net = replace(NET, allreduce_peak_gbs=300.0)
    assert bus_gbs(net, np.array([2, 4, 8])) == pytest.approx([200.0, 250.0, 275.0])
    # 8 members, 8e7 bytes: bulk 10 + 5 + 36 + 1.4e8 / 2.75e5 = 560.09 us; small 22 + 1120
    assert us(allreduce_time(net, "graph", 8, 8e7)) == pytest.approx(51.0 + 1.4e8 / 2.75e5)
    # 4 members, 4e5 bytes: small 10 + 4 + 6e5 / 1.25e5 = 18.8 us
    assert us(allreduce_time(net, "graph", 4, 4e5)) == pytest.approx(18.8)


def test_unknown_mode() -> None:
    with pytest.raises(XcompassError, match="unknown execution mode 'lazy'"):
        transfer_params(NET, "lazy")


# --- the [network] schema ---------------------------------------------------------------------


def _target(**network: object) -> dict:
    return {
        "meta": {"name": "t"},
        "chiplet": [
            {
                "kind": "g",
                "count": 4,
                "peak_tflops": 100.0,
                "compute_efficiency": 0.5,
                "attention_efficiency": 0.5,
                "units": 8,
                "tile_m": 16,
                "tile_n": 16,
                "sram_mb": 1.0,
                "dram_gbs": 100.0,
                "dram_efficiency": 0.5,
                "kernel_floor_us": 1.0,
                "eltwise_floor_us": 1.0,
                "attention_floor_us": 1.0,
                "pj_per_mac": 1.0,
                "sram_pj_per_bit": 1.0,
                "static_w": 1.0,
                "memory_gb": 1.0,
                "dram_channel": 0,
            }
        ],
        "dram": [{"bw_gbs": 100.0, "pj_per_bit": 1.0, "capacity_gb": 4.0}],
        "network": {"topology": "switch", "pj_per_bit_hop": 1.0, **network},
    }


def test_network_defaults_are_one_line_in_both_modes() -> None:
    net = parse_target(_target(link_gbs=50.0, latency_us=7.0), "t").network
    assert net.eager_latency_us == net.allreduce_latency_us == net.eager_allreduce_latency_us == 7.0
    assert net.allreduce_gbs == net.allreduce_peak_gbs == 50.0
    assert net.allreduce_small_fraction == 1.0
    assert net.allreduce_step_us == net.allreduce_bulk_step_us == net.allreduce_bulk_extra_us == 0
    # the plain ring: 7 us + 2(n-1)/n x bytes / 50 GB/s, whatever the mode
    for mode in ("graph", "eager"):
        t = allreduce_time(net, mode, np.array([2, 4]), np.array([1e6, 1e6]))
        assert t * 1e6 == pytest.approx([7.0 + 20.0, 7.0 + 30.0])


def test_network_eager_allreduce_default_follows_p2p_gap() -> None:
    net = parse_target(
        _target(link_gbs=50.0, latency_us=7.0, eager_latency_us=27.0, allreduce_latency_us=9.0),
        "t",
    ).network
    assert net.eager_allreduce_latency_us == 29.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("eager_latency_us", -1.0, "field 'network.eager_latency_us' must be >= 0, got -1.0"),
        ("allreduce_small_fraction", 0.0, "'network.allreduce_small_fraction' is a share of the"),
        ("allreduce_small_fraction", 1.5, "'network.allreduce_small_fraction' is a share of the"),
        ("allreduce_peak_gbs", 40.0, "'network.allreduce_peak_gbs' must be >= allreduce_gbs (50)"),
        ("allreduce_gbs", -5.0, "field 'network.allreduce_gbs' is a bandwidth"),
        ("allreduce_step_us", "fast", "field 'network.allreduce_step_us' must be float"),
        ("allreduce_bulk_step_us", float("nan"), "field 'network.allreduce_bulk_step_us' must be"),
        ("eager_allreduce_latency_us", 1e300, "'network.eager_allreduce_latency_us' must be a fin"),
        ("turbo", 1.0, "field 'network.turbo' is not a network field"),
    ],
)
def test_network_bad_fields_named(field: str, value: object, message: str) -> None:
    with pytest.raises(XcompassError, match=re.escape(message)):
        parse_target(_target(link_gbs=50.0, **{field: value}), "t")


def test_mesh_dims_must_be_positive_ints() -> None:
    bad = _target(link_gbs=50.0, dims=["2", 2])
    bad["network"]["topology"] = "mesh"
    with pytest.raises(XcompassError, match="network.dims"):
        parse_target(bad, "t")


# --- presets against the calibration ----------------------------------------------------------


def _calibrate_comm():  # noqa: ANN202
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import calibrate_comm
    finally:
        sys.path.pop(0)
    return calibrate_comm


def test_hgx_h200x2_network_is_the_fit(shared_data: Path) -> None:
    csv = shared_data / "h200x2_communication_graph.csv"
    if not csv.is_file():
        pytest.skip("h200x2_communication_graph.csv is absent")
    fitted = _calibrate_comm().fit_network(csv)
    net = preset("hgx-h200x2").network
    assert {key: getattr(net, key) for key in fitted} == fitted


def test_nvlink_presets_share_the_fabric() -> None:
    """The H200 nodes and the DGX H100 (same NVLink4 / NVSwitch generation) ship one link and
    collective model; only the group-size terms matter beyond two GPUs."""
    base = preset("hgx-h200x2").network
    for name in ("hgx-h200x4", "hgx-h200x8", "dgx-h100x8"):
        assert preset(name).network == base, name
