"""Static and idle power of the presets with no board measurement (`ascend-910b`, `mt3000`):
their full-load power from their sources times the static and idle shares of the H200 energy fit
(benchmarks/calibrate_energy.py, `BORROWED`; docs/targets.md says why the H200's and not the
H100's). One source: the shipped h200 values (test_energy.py ties them to the fit)."""

import dataclasses

import pytest
from test_energy import _calibration

from xcompass.hardware.targetfile import preset


def h200_fit():
    cal = _calibration()
    chip = preset("h200").kinds[0]
    return cal, cal.EnergyFit(chip.static_w, chip.pj_per_mac, 0.0, chip.sram_pj_per_bit,
                              chip.idle_w)  # fmt: skip


def test_the_shares_are_worked_by_hand():
    cal, fit = h200_fit()
    # 137.6 / 700 = 19.66% static, 120.9 / 700 = 17.27% idle of the H200's cap
    # Ascend: 310 W x 0.19657 = 60.94 -> 60.9 W; 310 x 0.17271 = 53.54 -> 53.5 W
    assert cal.borrowed_power(fit, 310.0, "board") == (60.9, 53.5)
    # MT-3000 cluster: 11.6 TF / 45.4 GF/W / 4 = 63.88 W x 0.19657 = 12.56 -> 12.6 W, gated 1/10
    assert cal.borrowed_power(fit, 11.6e3 / 45.4 / 4, "gated") == (12.6, 1.26)


@pytest.mark.parametrize("name", ["ascend-910b", "mt3000"])
def test_presets_carry_the_borrowed_power(name):
    cal, fit = h200_fit()
    full, idle = cal.BORROWED[name]
    static_w, idle_w = cal.borrowed_power(fit, full, idle)
    for kind in preset(name).kinds:
        assert (kind.static_w, kind.idle_w) == (static_w, idle_w), name


def test_the_h100_share_is_not_borrowed():
    # the H100 fit puts 336.1 W (48%) in static power because its on-chip term is 0: borrowed
    # by a preset that charges on-chip traffic per bit, it would count that energy twice
    cal, _ = h200_fit()
    h100 = preset("h100").kinds[0]
    assert h100.sram_pj_per_bit == 0.0 and h100.static_w / cal.POWER_CAP_W > 0.45
    for name in cal.BORROWED:
        assert all(k.sram_pj_per_bit > 0 for k in preset(name).kinds), name
    fit = dataclasses.replace(h200_fit()[1], static_w=h100.static_w)
    assert cal.borrowed_power(fit, 310.0, "board")[0] != preset("ascend-910b").kinds[0].static_w
