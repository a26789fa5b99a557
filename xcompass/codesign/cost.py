"""What a package costs to build: die area from MACs and SRAM, die yield, wafer cost per node,
and the packaging, bonding and assembly-yield cost of putting the dies on an interposer or an
organic substrate.

The money model is Chiplet Actuary's (Feng & Ma, DAC'22) as the Gemini code (HPCA'24,
`src/cost.cpp`) implements it; the area model is Gemini's (`src/main.cpp`: MAC and SRAM
densities at 12 nm, post-layout, control and DFT factors). Every figure and its source is in
`docs/codesign.md`; `test/unit/test_codesign_cost.py` works the formulas by hand. The model
prices recurring cost (no NRE: one design is compared with another at volume).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xcompass.errors import XcompassError

# --- figures (docs/codesign.md cites each) ----------------------------------------------------

WAFER_USD = {"5": 16988.0, "7": 9346.0, "12": 5992.0, "14": 3984.0, "28": 2891.0, "55": 1937.0}
"""300 mm wafer price per node, US$ (Gemini cost.cpp, from CSET's 2020 estimates)."""
DEFECTS_PER_CM2 = {"5": 0.11, "7": 0.09, "12": 0.08, "14": 0.08, "28": 0.07, "55": 0.07}
"""Killer defect density D0 per node, per cm^2 (Gemini cost.cpp / Chiplet Actuary)."""
NODES = tuple(n for n in WAFER_USD if n != "55")
"""Logic nodes a design may name (55 nm prices the passive interposer)."""
PACKAGES = ("si", "os")
"""`si`: 2.5D silicon interposer on a substrate; `os`: dies straight on an organic substrate."""

WAFER_MM = 300.0
SCRIBE_MM = 0.2
EDGE_LOSS_MM = 5.0
CLUSTER = 10.0  # negative-binomial clustering parameter of logic dies ("critical level")


@dataclass(frozen=True)
class CostModel:
    """Every knob of the area and money model (a space file's `[cost]` table sets them)."""

    node: str = "12"
    package: str = "os"
    mac_um2: float = 463.2  # one FP16 MAC at 12 nm: Gemini's 57.9 um^2 8-bit MAC x 8
    sram_um2_per_byte: float = 0.7712  # Gemini: 0.0964 um^2 per bit x 8
    layout_scale: float = 2.2  # post-layout over cell area (Gemini)
    control_dft: float = 1.05 * 1.05  # control unit and design-for-test (Gemini)
    d2d_gbs_per_mm2: float = 0.0  # 0: the package's (UCIe advanced 1350, standard 125)
    io_mm2_per_44gbs: float = 6.53 + 0.0459  # DDR PHY + controller per 44 GB/s (Gemini)
    dram_usd_per_44gbs: float = 3.5  # DRAM devices per 44 GB/s (Gemini, DRAMeXchange)
    bump_usd_per_mm2: float = 0.0  # 0: the package's (micro-bump 0.01, C4 0.005)
    bonding_yield: float = 0.0  # 0: the package's per-die bonding yield (si 0.95, os 0.99)
    substrate_usd_per_mm2: float = 0.005
    substrate_scale: float = 4.0  # substrate area over die (os) or interposer (si) area
    interposer_scale: float = 1.1  # interposer area over the dies' area
    interposer_defects_per_cm2: float = 0.06
    interposer_cluster: float = 6.0
    substrate_yield: float = 0.99  # the interposer's assembly onto the substrate

    def __post_init__(self) -> None:
        if self.node not in NODES:
            raise XcompassError(f"cost.node '{self.node}': unknown (valid: {', '.join(NODES)})")
        if self.package not in PACKAGES:
            raise XcompassError(
                f"cost.package '{self.package}': unknown (valid: {', '.join(PACKAGES)})"
            )

    @property
    def d2d_density(self) -> float:
        return self.d2d_gbs_per_mm2 or (1350.0 if self.package == "si" else 125.0)

    @property
    def bump(self) -> float:
        return self.bump_usd_per_mm2 or (0.01 if self.package == "si" else 0.005)

    @property
    def bond(self) -> float:
        return self.bonding_yield or (0.95 if self.package == "si" else 0.99)


@dataclass(frozen=True)
class DieSpec:
    """One kind of compute die as the cost model sees it."""

    count: int
    macs: int
    sram_mb: float
    ports: int = 4  # die-to-die ports (a mesh chiplet has 4; one die alone has none)


@dataclass(frozen=True)
class Bill:
    """A package's area and cost, broken down (US$, mm^2)."""

    die_mm2: tuple[float, ...]  # per kind of compute die
    io_mm2: float
    silicon_mm2: float  # every die, compute and I/O
    dies_usd: float  # known-good dies (raw silicon, defects, bumps)
    package_usd: float  # interposer and substrate, with their own yield losses
    assembly_usd: float  # good dies and packages thrown away by failed bonding
    dram_usd: float
    yields: tuple[float, ...]  # die yield per kind of compute die

    @property
    def total_usd(self) -> float:
        return self.dies_usd + self.package_usd + self.assembly_usd + self.dram_usd

    def as_dict(self) -> dict[str, float]:
        return {
            "cost_usd": self.total_usd,
            "dies_usd": self.dies_usd,
            "package_usd": self.package_usd,
            "assembly_usd": self.assembly_usd,
            "dram_usd": self.dram_usd,
            "silicon_mm2": self.silicon_mm2,
            "io_mm2": self.io_mm2,
        }


# --- area -------------------------------------------------------------------------------------


def die_area(die: DieSpec, link_gbs: float, m: CostModel) -> float:
    """mm^2 of one compute die: (MACs + SRAM) x post-layout scale, plus its die-to-die PHYs
    (each port sends and receives `link_gbs`), all x control and DFT."""
    core = (die.macs * m.mac_um2 + die.sram_mb * 2**20 * m.sram_um2_per_byte) * 1e-6
    d2d = die.ports * 2 * link_gbs / m.d2d_density
    return (core * m.layout_scale + d2d) * m.control_dft


def io_area(dram_gbs: float, m: CostModel) -> float:
    """mm^2 of the I/O die holding the DRAM PHYs and controllers (Gemini's I/O die)."""
    return dram_gbs / 44.0 * m.io_mm2_per_44gbs * m.control_dft


# --- yield and wafer --------------------------------------------------------------------------


def dies_per_wafer(area_mm2: float) -> float:
    """Gross dies of `area_mm2` on a 300 mm wafer (scribe lane, edge loss; Chiplet Actuary)."""
    a = (math.sqrt(area_mm2) + SCRIBE_MM) ** 2
    r = WAFER_MM / 2 - EDGE_LOSS_MM
    return math.pi * r * r / a - math.pi * 2 * r / math.sqrt(2 * a)


def nb_yield(area_mm2: float, defects_per_cm2: float, cluster: float) -> float:
    """Negative-binomial yield (1 + D0 A / alpha)^-alpha (A in cm^2): Poisson as alpha -> inf,
    clustered defects kill fewer large dies for small alpha."""
    return (1 + defects_per_cm2 * area_mm2 / 100 / cluster) ** -cluster


def raw_die_usd(area_mm2: float, node: str) -> float:
    return WAFER_USD[node] / dies_per_wafer(area_mm2)


def good_die_usd(area_mm2: float, node: str) -> float:
    """A known-good die: the wafer's price over the good dies on it."""
    return raw_die_usd(area_mm2, node) / nb_yield(area_mm2, DEFECTS_PER_CM2[node], CLUSTER)


# --- the package ------------------------------------------------------------------------------


def package_bill(dies: list[DieSpec], link_gbs: float, dram_gbs: float, m: CostModel) -> Bill:
    """Chiplet Actuary's recurring cost of `dies` plus one I/O die for `dram_gbs` of DRAM,
    packaged as `m.package` (chip-last: dies bonded after the interposer is tested)."""
    areas = [die_area(d, link_gbs, m) for d in dies]
    io = io_area(dram_gbs, m)
    parts = [(a, d.count) for a, d in zip(areas, dies, strict=True)] + [(io, 1)]
    n = sum(c for _, c in parts)
    silicon = sum(a * c for a, c in parts)
    raw = sum((raw_die_usd(a, m.node) + a * m.bump) * c for a, c in parts)
    defect = sum((good_die_usd(a, m.node) - raw_die_usd(a, m.node)) * c for a, c in parts)
    bonding = m.bond**n
    y3 = m.substrate_yield
    if m.package == "si":
        inter = silicon * m.interposer_scale
        y1 = nb_yield(inter, m.interposer_defects_per_cm2, m.interposer_cluster)
        interposer = WAFER_USD["55"] / dies_per_wafer(inter) + inter * 0.005  # + C4 bumps
        substrate = inter * m.substrate_scale * m.substrate_usd_per_mm2
        package = interposer / (y1 * bonding * y3) + substrate / y3
        wasted = (raw + defect) * (1 / (bonding * y3) - 1)
    else:
        area = silicon * m.substrate_scale
        factor = 1.0 if n == 1 else 2.0 if area > 900 else 1.75 if area > 289 else 1.5
        substrate = area * m.substrate_usd_per_mm2 * factor
        package = substrate / bonding
        wasted = (raw + defect) * (1 / bonding - 1)
    dram = dram_gbs / 44.0 * m.dram_usd_per_44gbs
    yields = tuple(nb_yield(a, DEFECTS_PER_CM2[m.node], CLUSTER) for a in areas)
    return Bill(tuple(areas), io, silicon, raw + defect, package, wasted, dram, yields)


def peak_power_w(
    dies: list[tuple[int, int, float, float, float]], dram_gbs: float, dram_pj_per_bit: float
) -> float:
    """Peak power: every MAC busy at its clock plus static power, DRAM at full bandwidth.
    `dies`: (count, macs, clock GHz, pJ per MAC, static W) per kind."""
    compute = sum(c * (macs * ghz * 1e9 * pj * 1e-12 + w) for c, macs, ghz, pj, w in dies)
    return compute + dram_gbs * 1e9 * 8 * dram_pj_per_bit * 1e-12
