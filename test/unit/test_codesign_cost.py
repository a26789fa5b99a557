"""The area and money model, worked by hand (figures: docs/codesign.md)."""

import math

import pytest

from xcompass.codesign.cost import (
    CostModel,
    DieSpec,
    die_area,
    dies_per_wafer,
    good_die_usd,
    io_area,
    nb_yield,
    package_bill,
    peak_power_w,
    raw_die_usd,
)
from xcompass.errors import XcompassError


def test_die_area_macs_sram_and_d2d_phys():
    # core: 1000 MACs x 463.2 um^2 + 1 MB x 2^20 B x 0.7712 um^2/B = 0.4632 + 0.8086618112 mm^2
    # x 2.2 (post-layout) = 2.79809598464; PHYs: 4 ports x 2 directions x 125 GB/s at 125
    # GB/s/mm^2 (organic) = 8 mm^2; x 1.05 x 1.05 (control, DFT)
    area = die_area(DieSpec(1, 1000, 1.0), 125.0, CostModel(package="os"))
    assert area == pytest.approx((1.2718618112 * 2.2 + 8.0) * 1.1025, rel=1e-12)
    assert area == pytest.approx(11.9049008230656, rel=1e-12)
    # on an interposer the PHYs are denser: 1000 / 1350 mm^2
    si = die_area(DieSpec(1, 1000, 1.0), 125.0, CostModel(package="si"))
    assert si == pytest.approx((1.2718618112 * 2.2 + 1000 / 1350) * 1.1025, rel=1e-12)
    # a die alone has no die-to-die ports
    assert die_area(DieSpec(1, 1000, 1.0, ports=0), 125.0, CostModel()) == pytest.approx(
        1.2718618112 * 2.2 * 1.1025, rel=1e-12
    )


def test_io_die_holds_the_dram_phys():
    # 44 GB/s: one DDR PHY (6.53 mm^2) + controller (0.0459 mm^2), x 1.1025
    assert io_area(44.0, CostModel()) == pytest.approx(7.24992975, rel=1e-12)
    assert io_area(256.0, CostModel()) == pytest.approx(256 / 44 * 7.24992975, rel=1e-12)


def test_dies_per_wafer_and_negative_binomial_yield():
    # 100 mm^2 die: (10 + 0.2 scribe)^2 = 104.04 mm^2; usable radius 150 - 5 = 145 mm
    # pi 145^2 / 104.04 - pi 290 / sqrt(208.08) = 634.87 - 63.16
    assert dies_per_wafer(100.0) == pytest.approx(571.7124344116608, rel=1e-12)
    # D0 = 0.08 /cm^2, 1 cm^2, alpha 10: 1.008^-10
    assert nb_yield(100.0, 0.08, 10.0) == pytest.approx(0.9234102243269047, rel=1e-12)
    # Poisson is the limit of many clusters
    assert nb_yield(100.0, 0.08, 1e9) == pytest.approx(math.exp(-0.08), rel=1e-6)
    # 12 nm wafer $5,992: raw die = 5992 / 571.71..., a good one / 0.92341...
    assert raw_die_usd(100.0, "12") == pytest.approx(5992 / 571.7124344116608, rel=1e-12)
    assert good_die_usd(100.0, "12") == pytest.approx(
        5992 / 571.7124344116608 / 0.9234102243269047, rel=1e-12
    )


def test_organic_package_by_hand():
    """Two compute dies and the I/O die on an organic substrate (Chiplet Actuary's OS)."""
    m = CostModel(node="7", package="os")
    bill = package_bill([DieSpec(2, 1000, 1.0)], 125.0, 44.0, m)
    a, io = 11.9049008230656, 7.24992975
    assert bill.die_mm2 == pytest.approx((a,), rel=1e-12)
    assert bill.silicon_mm2 == pytest.approx(2 * a + io, rel=1e-12)
    raw = 2 * (raw_die_usd(a, "7") + 0.005 * a) + raw_die_usd(io, "7") + 0.005 * io
    defect = 2 * (good_die_usd(a, "7") - raw_die_usd(a, "7")) + (
        good_die_usd(io, "7") - raw_die_usd(io, "7")
    )
    assert bill.dies_usd == pytest.approx(raw + defect, rel=1e-12)
    # substrate: 4 x silicon x $0.005/mm^2 x 1.5 (a multi-die package under 17 x 17 mm^2)
    substrate_area = 4 * (2 * a + io)
    assert substrate_area < 289
    bond = 0.99**3  # three dies bonded, each at 99%
    assert bill.package_usd == pytest.approx(substrate_area * 0.005 * 1.5 / bond, rel=1e-12)
    assert bill.assembly_usd == pytest.approx((raw + defect) * (1 / bond - 1), rel=1e-12)
    assert bill.dram_usd == pytest.approx(3.5, rel=1e-12)  # $3.5 per 44 GB/s
    assert bill.total_usd == pytest.approx(
        raw + defect + substrate_area * 0.0075 / bond + (raw + defect) * (1 / bond - 1) + 3.5,
        rel=1e-12,
    )


def test_interposer_package_by_hand():
    """The same dies on a silicon interposer (chip-last: dies bonded to a tested interposer)."""
    m = CostModel(node="7", package="si")
    bill = package_bill([DieSpec(2, 1000, 1.0)], 125.0, 44.0, m)
    a = (1.2718618112 * 2.2 + 1000 / 1350) * 1.1025
    io = 7.24992975
    silicon = 2 * a + io
    inter = 1.1 * silicon
    y1 = (1 + 0.06 * inter / 100 / 6) ** -6
    bond, y3 = 0.95**3, 0.99
    interposer = 1937 / dies_per_wafer(inter) + inter * 0.005
    substrate = 4 * inter * 0.005
    assert bill.package_usd == pytest.approx(interposer / (y1 * bond * y3) + substrate / y3)
    raw = 2 * (raw_die_usd(a, "7") + 0.01 * a) + raw_die_usd(io, "7") + 0.01 * io
    defect = 2 * (good_die_usd(a, "7") - raw_die_usd(a, "7")) + (
        good_die_usd(io, "7") - raw_die_usd(io, "7")
    )
    assert bill.dies_usd == pytest.approx(raw + defect, rel=1e-12)
    assert bill.assembly_usd == pytest.approx((raw + defect) * (1 / (bond * y3) - 1), rel=1e-12)


def test_simba_36_in_the_default_model():
    """simba-36 (36 dies of 1024 MACs and 2 MB, 128 GB/s links, 256 GB/s DRAM), 12 nm, organic:
    a regression anchor for the table in docs/codesign.md."""
    bill = package_bill([DieSpec(36, 1024, 2.0)], 128.0, 256.0, CostModel())
    assert bill.die_mm2[0] == pytest.approx(14.10495, rel=1e-5)
    assert bill.silicon_mm2 == pytest.approx(549.95975, rel=1e-6)
    assert bill.total_usd == pytest.approx(140.75111, rel=1e-6)


def test_peak_power():
    # 36 x (1024 MACs x 1 GHz x 0.0873 pJ + 35 mW) + 256 GB/s x 8 bit x 5.5 pJ
    w = peak_power_w([(36, 1024, 1.0, 0.0873, 0.035)], 256.0, 5.5)
    assert w == pytest.approx(36 * (0.0893952 + 0.035) + 11.264, rel=1e-12)


def test_bad_cost_model_names_the_field():
    with pytest.raises(XcompassError, match=r"cost.node '3': unknown \(valid: 5, 7, 12, 14, 28\)"):
        CostModel(node="3")
    with pytest.raises(XcompassError, match=r"cost.package 'cowos': unknown \(valid: si, os\)"):
        CostModel(package="cowos")
