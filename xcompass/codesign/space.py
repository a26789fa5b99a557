"""A hardware space over the target schema: which fields of a base target vary, over what, and
under which constraints; and a design point of it turned into a target.

A space file (TOML; `docs/codesign.md` documents it, `test/inputs/codesign/` has examples):

    [space]          name, base (a preset or target file), description, clock_ghz
    [[kind]]         name (a chiplet kind of the base), count, macs, sram_mb, freq_ghz
    [dram]           channels, bw_gbs (per channel)
    [network]        link_gbs
    [constraints]    area_mm2, power_w, cost_usd (at most); dram_gbs (the package's DRAM
                     bandwidth, fixed: bw_gbs = dram_gbs / channels); total_macs (fixed: the
                     kinds' macs are weights scaled to it)
    [cost]           the cost model's knobs (`xcompass.codesign.cost.CostModel`)

A field is a number (fixed), `[low, high]` (a range) or `{values = [...]}` (a choice). A design
point becomes a target by editing the base target's data and validating it with
`parse_target` (the schema's one reader); how derived fields scale is in `docs/codesign.md`.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from xcompass.codesign.cost import Bill, CostModel, DieSpec, package_bill, peak_power_w
from xcompass.hardware.targetfile import MAX_CHIPLETS, parse_target
from xcompass.hardware.targets import Target

KIND_FIELDS = {"count": int, "macs": int, "sram_mb": float, "freq_ghz": float}
DRAM_FIELDS = {"channels": int, "bw_gbs": float}
NETWORK_FIELDS = {"link_gbs": float}
CONSTRAINTS = ("area_mm2", "power_w", "cost_usd", "dram_gbs", "total_macs")
LIMITS = ("area_mm2", "power_w", "cost_usd")  # upper limits a design must stay under
SECTIONS = ("space", "kind", "dram", "network", "constraints", "cost")
MAX_VALUE = 1e9
RETICLE_MM2 = 858.0  # 26 x 33 mm: no die may be larger (Gemini checks the same)
MAX_CORNERS = 4096  # designs enumerated to check that a constraint can be met


@dataclass(frozen=True)
class Axis:
    """One field's values: fixed (low == high), a range, or a choice among `values`."""

    low: float
    high: float
    integer: bool = False
    values: tuple[float, ...] = ()

    @property
    def free(self) -> bool:
        return len(self.values) > 1 if self.values else self.high > self.low

    @property
    def log(self) -> bool:
        """Ranges over an order of magnitude are searched on a log scale (sizes)."""
        return not self.values and self.low > 0 and self.high / self.low >= 8

    def bounds(self) -> tuple[float, float]:
        if self.values:
            return 0.0, len(self.values) - 1e-9
        if self.log:
            return math.log(self.low), math.log(self.high)
        return self.low, self.high + (1 - 1e-9 if self.integer else 0.0)

    def decode(self, x: float) -> float:
        lo, hi = self.bounds()
        x = min(max(float(x), lo), hi)
        if self.values:
            return self.values[int(x)]
        if self.integer:
            v = round(math.exp(x)) if self.log else math.floor(x)
            return float(min(max(v, self.low), self.high))
        v = math.exp(x) if self.log else x
        return min(max(float(f"{v:.4g}"), self.low), self.high)  # 4 digits: one cache key

    def encode(self, value: float) -> float | None:
        """The search variable that decodes to `value`, or None when the axis cannot hold it."""
        if self.values:
            hits = [i for i, v in enumerate(self.values) if math.isclose(v, value)]
            return hits[0] + 0.5 if hits else None
        if not self.low - 1e-9 <= value <= self.high + 1e-9:
            return None
        if self.log:
            return math.log(min(max(value, self.low), self.high))
        return value + 0.5 if self.integer else value

    def corners(self) -> list[float]:
        """Values to enumerate when checking constraints (every one for counts)."""
        if self.values:
            return sorted(self.values)
        if self.integer and self.high - self.low < MAX_CHIPLETS:
            return [float(v) for v in range(int(self.low), int(self.high) + 1)]
        return [self.low]


@dataclass(frozen=True)
class KindDesign:
    name: str
    count: int
    macs: int
    sram_mb: float
    freq_ghz: float


@dataclass(frozen=True)
class Design:
    """A point of the space, every derived field resolved (hashable: the search's cache key)."""

    kinds: tuple[KindDesign, ...]
    channels: int
    bw_gbs: float
    link_gbs: float

    @property
    def chiplets(self) -> int:
        return sum(k.count for k in self.kinds)

    @property
    def dram_gbs(self) -> float:
        return self.channels * self.bw_gbs

    @property
    def total_macs(self) -> int:
        return sum(k.count * k.macs for k in self.kinds)

    def summary(self) -> str:
        kinds = " + ".join(
            f"{k.count}x {k.name} ({k.macs} MACs, {k.sram_mb:.3g} MB, {k.freq_ghz:.3g} GHz)"
            for k in self.kinds
        )
        return (
            f"{kinds}; DRAM {self.channels} x {self.bw_gbs:.4g} GB/s; "
            f"NoP {self.link_gbs:.4g} GB/s links"
        )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in self.kinds:
            for f in ("count", "macs", "sram_mb", "freq_ghz"):
                out[f"{k.name}.{f}"] = getattr(k, f)
        out.update(channels=self.channels, bw_gbs=self.bw_gbs, link_gbs=self.link_gbs)
        return out

    @staticmethod
    def from_target(target: Target, clock_ghz: float = 1.0) -> Design:
        """A target as a design point (MACs from its peak at `clock_ghz`)."""
        kinds = tuple(
            KindDesign(
                k.kind, k.count, round(k.peak_tflops * 1e3 / (2 * clock_ghz)), k.sram_mb, clock_ghz
            )
            for k in target.kinds
        )
        bw = sum(d.bw_gbs for d in target.drams) / len(target.drams)
        return Design(kinds, len(target.drams), bw, target.network.link_gbs)


@dataclass(frozen=True)
class Space:
    """A validated space file."""

    name: str
    description: str
    base: str  # a preset name or a target file's absolute path
    base_data: dict[str, Any]
    base_target: Target
    clock_ghz: float
    kinds: tuple[dict[str, Axis], ...]  # per kind of the base, in its order
    dram: dict[str, Axis]
    network: dict[str, Axis]
    constraints: dict[str, float]
    cost: CostModel
    path: str = ""

    # -- the search's variables --

    def axes(self) -> list[tuple[str, Axis]]:
        """Every field with its axis, named as a space file names it."""
        out = []
        for k, axes in zip(self.base_target.kinds, self.kinds, strict=True):
            out += [(f"{k.kind}.{f}", a) for f, a in axes.items()]
        out += [(f"dram.{f}", a) for f, a in self.dram.items()]
        out += [(f"network.{f}", a) for f, a in self.network.items()]
        return out

    def free(self) -> list[tuple[str, Axis]]:
        return [(n, a) for n, a in self.axes() if a.free]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        b = np.array([a.bounds() for _, a in self.free()], dtype=float)
        return b[:, 0], b[:, 1]

    def decode(self, x: np.ndarray) -> Design:
        values = {n: a.low for n, a in self.axes()}
        for (n, a), xi in zip(self.free(), x, strict=True):
            values[n] = a.decode(xi)
        return self._design(values)

    def encode(self, design: Design) -> np.ndarray | None:
        """The variables of `design`, or None when the space does not hold it."""
        if [k.name for k in design.kinds] != [k.kind for k in self.base_target.kinds]:
            return None
        given = design.as_dict()  # derived fields (budgets) are checked by decoding below
        x = []
        for n, a in self.free():
            e = a.encode(float(given[n.replace("dram.", "").replace("network.", "")]))
            if e is None:
                return None
            x.append(e)
        out = np.array(x, dtype=float)
        return out if self.decode(out) == design else None

    def _design(self, v: dict[str, float]) -> Design:
        kinds = []
        for k in self.base_target.kinds:
            kinds.append(
                KindDesign(
                    k.kind,
                    int(v[f"{k.kind}.count"]),
                    int(v[f"{k.kind}.macs"]),
                    float(v[f"{k.kind}.sram_mb"]),
                    float(v[f"{k.kind}.freq_ghz"]),
                )
            )
        total = self.constraints.get("total_macs")
        if total:
            weight = sum(k.count * k.macs for k in kinds)
            kinds = [
                KindDesign(
                    k.name, k.count, max(1, round(total * k.macs / weight)), k.sram_mb, k.freq_ghz
                )
                for k in kinds
            ]
        channels = int(v["dram.channels"])
        budget = self.constraints.get("dram_gbs")
        if budget:  # a die streams from one channel: a budget is split over at most one per die
            channels = min(channels, sum(k.count for k in kinds))
        bw = budget / channels if budget else float(v["dram.bw_gbs"])
        return Design(tuple(kinds), channels, bw, float(v["network.link_gbs"]))

    # -- what a design costs, and whether it is allowed --

    def bill(self, design: Design) -> Bill:
        ports = 4 if design.chiplets > 1 else 0
        dies = [DieSpec(k.count, k.macs, k.sram_mb, ports) for k in design.kinds]
        return package_bill(dies, design.link_gbs, design.dram_gbs, self.cost)

    def power_w(self, design: Design, target: Target | None = None) -> float:
        """Peak power; per-MAC energy and static power per MAC come from `target`'s kinds (by
        position; default the base target, whose kinds a design of the space has)."""
        ref = target or self.base_target
        rows = []
        for k, base in zip(design.kinds, ref.kinds, strict=True):
            macs = base.peak_tflops * 1e3 / (2 * self.clock_ghz)
            rows.append(
                (k.count, k.macs, k.freq_ghz, base.pj_per_mac, base.static_w * k.macs / macs)
            )
        return peak_power_w(rows, design.dram_gbs, ref.drams[0].pj_per_bit)

    def measures(self, design: Design, target: Target | None = None) -> dict[str, float]:
        bill = self.bill(design)
        return {
            "area_mm2": bill.silicon_mm2,
            "power_w": self.power_w(design, target),
            "cost_usd": bill.total_usd,
        }

    def violations(self, design: Design, target: Target | None = None) -> dict[str, float]:
        """How far each limit is exceeded (<= 0: met), plus the target schema's chiplet cap."""
        m = self.measures(design, target)
        out = {c: m[c] - self.constraints[c] for c in LIMITS if c in self.constraints}
        out["chiplets"] = float(design.chiplets - MAX_CHIPLETS)
        out["reticle_mm2"] = max(self.bill(design).die_mm2) - RETICLE_MM2
        return out

    def base_macs(self) -> list[tuple[int, float]]:
        return [
            (round(k.peak_tflops * 1e3 / (2 * self.clock_ghz)), k.sram_mb)
            for k in self.base_target.kinds
        ]

    # -- a design as a target --

    def target_data(self, design: Design, name: str) -> dict[str, Any]:
        """The base target's data with the design's fields (see docs/codesign.md)."""
        data = copy.deepcopy(self.base_data)
        mesh = data["network"]["topology"] == "mesh"
        n = design.chiplets
        dims = tuple(data["network"].get("dims", (0, 0)))
        if mesh and n != self.base_target.chiplets:
            rows = max(r for r in range(1, int(math.isqrt(n)) + 1) if n % r == 0)
            dims = (n // rows, rows)
        attach = controllers(design.channels, dims) if mesh else []
        chan = nearest(attach, n, dims) if mesh else [0] * n
        at = 0
        for raw, k, base, (bmacs, bsram) in zip(
            data["chiplet"], design.kinds, self.base_target.kinds, self.base_macs(), strict=True
        ):
            scale = k.macs / bmacs
            units, tile_m, tile_n = _cores(base.units, base.tile_m, base.tile_n, scale)
            per_unit = (k.sram_mb / units) / (bsram / base.units)  # SRAM per core vs the base's
            raw.update(
                count=k.count,
                peak_tflops=_short(k.macs * 2 * k.freq_ghz / 1e3),
                units=units,
                sram_mb=k.sram_mb,
                sram_pj_per_bit=_short(base.sram_pj_per_bit * per_unit),
                static_w=_short(base.static_w * scale),
                idle_w=_short(base.idle_w * scale),
                dram_gbs=design.bw_gbs,
                tile_m=tile_m,
                tile_n=tile_n,
                dram_channel=chan[at : at + k.count],
            )
            if (tile_m, tile_n) != (base.tile_m, base.tile_n):
                for key in ("mma_m", "tile_set"):
                    raw.pop(key, None)  # sized for the base core's array, not this one
            at += k.count
        base_dram = data["dram"][0]
        capacity = sum(d.capacity_gb for d in self.base_target.drams)
        dram = {
            "count": design.channels,
            "bw_gbs": design.bw_gbs,
            "pj_per_bit": base_dram["pj_per_bit"],
            "capacity_gb": capacity / design.channels,
        }
        if mesh:
            dram["attach"] = [list(p) for p in attach]
            data["network"]["dims"] = list(dims)
        data["dram"] = [dram]
        data["network"]["link_gbs"] = design.link_gbs
        if "memory" in data:
            total = sum(m["capacity_gb"] for m in data["memory"])
            data["memory"] = [
                {"name": data["memory"][0].get("name", "package-dram"), "capacity_gb": total}
            ]
        data["meta"] = {
            "name": name,
            "description": f"xcompass codesign design of space '{self.name}': {design.summary()}",
            "sources": [
                f"generated by xcompass codesign from {self.base_target.name}; MACs, SRAM, clock, "
                "DRAM and NoP figures are the design's, per-MAC static power and per-MB SRAM "
                "energy scale the base's (docs/codesign.md)",
                *self.base_data["meta"].get("sources", []),
            ],
        }
        return data

    def target(self, design: Design, name: str) -> Target:
        return parse_target(self.target_data(design, name), f"design '{name}'", name)


def _cores(units: int, tile_m: int, tile_n: int, scale: float) -> tuple[int, int, int]:
    """A die with `scale` x the base kind's MACs: more cores of the base's core (units, same
    tiles), as Simba and Gemini tile a chiplet with cores; with fewer MACs, the base's cores
    with a smaller array (tiles shrink by sqrt(scale), to powers of two, at least 8)."""
    if scale >= 1:
        return max(1, round(units * scale)), tile_m, tile_n

    def shrink(t: int) -> int:
        return max(8, 2 ** round(math.log2(t * math.sqrt(scale))))

    return units, shrink(tile_m), shrink(tile_n)


def _short(x: float) -> float:
    """Six significant digits: what a person would write in a target file."""
    return float(f"{x:.6g}")


def controllers(channels: int, dims: tuple[int, int]) -> list[tuple[int, int]]:
    """DRAM controllers on the mesh's left and right edges, spread over the rows (left first):
    simba-36's 4 at (0, 1), (0, 4), (5, 1), (5, 4)."""
    cols, rows = dims
    left = (channels + 1) // 2
    out = []
    for side, n in ((0, left), (cols - 1, channels - left)):
        out += [(side, int((j + 0.5) * rows / n)) for j in range(n)]
    return out


def nearest(attach: list[tuple[int, int]], n: int, dims: tuple[int, int]) -> list[int]:
    """Each chiplet's channel: the nearest controller by hops (ties: the lower channel)."""
    cols = dims[0]
    out = []
    for i in range(n):
        x, y = i % cols, i // cols
        dist = [abs(x - a) + abs(y - b) for a, b in attach]
        out.append(int(np.argmin(dist)))
    return out
