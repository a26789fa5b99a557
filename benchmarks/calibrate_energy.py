"""Fit the energy terms of a GPU preset to whole-board energy measurements and report the error.

    python benchmarks/calibrate_energy.py [--csv FILE] [--target h200|h100|...]

Data: `../shared/data/h200_energy_calibration.csv` by default (H200), or the same format from
the lent H100 (`benchmarks/data/h100_energy.csv`), both taken by `measure_energy.py`
(`benchmarks/gpu/measure_energy.py`): every case is one CUDA graph replayed back to back for
~1.2 s; `joules_per_rep` is the NVML whole-board energy counter's delta per repetition (idle
power included), `us_per_rep` the wall time per repetition, `idle_w` the board's power measured
before any work.

Model fitted (the engine's own energy formula, xcompass/engine/schedule.py), per kernel:

    E = static_w x t + pj_per_mac x MACs + dram_pj_per_bit x 8 x DRAM bytes
        + sram_pj_per_bit x 8 x on-chip bytes

with MACs and bytes counted by the engine itself (`xcompass.cost.opcost.op_cost` on the target's
chiplet kind) and `t` the MEASURED kernel time, so the model's latency errors do not leak into
the energy coefficients. The four coefficients are fitted by non-negative least squares on the
relative error (each row divided by its measured energy: energies span 0.1 mJ to 2 J), with an
exact small-problem NNLS (every active set of the 4 columns solved by lstsq, the best feasible
one kept; numpy only). `idle_w` is not fitted: it is the board's measured idle power.

What the measurement does that the engine's counts do not (modelled honestly here):
  * the weights are not flushed from L2 between repetitions, so a kernel whose working set
    (every tensor it touches) fits the L2 (`sram_mb` of the preset: 60 MB H200, 50 MB H100)
    reads it from L2 on every repetition after the first: such a row's DRAM bytes are counted
    as on-chip bytes (DRAM 0). A whole layer in serving never fits (a Llama-3-8B layer has
    436 MB of weights), so the engine keeps its cold-L2 counts;
  * `add_4096` is `x + x`: the kernel loads both operands but they are one tensor, so HBM sees
    2 tensors (read x, write y) while the model's add moves 3; on chip 3 are moved.
The fit uses every other row of each (kind, name) series (GEMM, copy, element-wise) and checks
on the others, as benchmarks/calibrate.py does for latency. `attention` and `layer` rows (in the
H100 file) are never fitted: they are printed as a check, layers through the engine
(`layer_ops` of a RoPE-free layer, as measured, evaluated on one GPU of the target; per layer
group, mean |error| and worst row). A third H100 (`H100_HELD_OUT`, the first board's cases) is
checked with the shipped values as they are, never fitted, and the boards are compared case by
case (`energy_boards.py`).

Printed: per row and per kind, the error of the fitted energy with the measured time and with
the model's predicted time (same counts), and the engine as it runs (predicted time, cold-L2
counts); then the fitted values, rounded as shipped (xcompass/data/targets/<target>.toml and
the presets built on the same GPU carry exactly these; test/unit/test_energy.py checks it), and
the static and idle power the presets with no board measurement borrow (`ascend-910b`, `mt3000`:
the H200 fit's shares of its 700 W cap x their full-load power, `BORROWED`;
test/unit/test_static_power.py checks them).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import sys
from pathlib import Path

import numpy as np

from xcompass.cost.kernelcost import op_cost
from xcompass.cost.opcost import OpCost, OpSpec, RequestGroup
from xcompass.hardware.targetfile import preset
from xcompass.hardware.targets import ChipletKind

sys.path.insert(0, str(Path(__file__).resolve().parent))
from energy_boards import compare_boards, layer_check, mean_max  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_CSV = HERE.parents[1] / "shared" / "data" / "h200_energy_calibration.csv"
# The H100 fit: benchmarks/gpu/measure_outliers.py's sweep on one lent H100 (61 rows: weight-
# streaming GEMMs at 1-128 rows, decode attention, read-only and write-only streams, batched
# decode layers), the method of measure_energy.py. The first H100 file (another lent board,
# 15 kernel rows, mostly compute-bound) is kept as a check of its layers.
H100_CSV = HERE / "data" / "h100_energy_decode.csv"
H100_OTHER_BOARD = HERE / "data" / "h100_energy.csv"
# A third lent H100, measured after the fit by measure_energy.py (the first board's 38 cases):
# checked with the shipped values as they are, never fitted (a held-out board)
H100_HELD_OUT = HERE / "data" / "h100_energy_20261207.csv"
FIT_KINDS = ("gemm", "copy", "read", "write", "eltwise")
CHECK_KINDS = ("attention", "layer")
# element-wise kernels of measure_energy.py: (tensors the model moves, kernels, distinct tensors)
# add_4096 is x + x: one input tensor; silu_mul is F.silu(g) * u (two kernels)
ELTWISE = {"rmsnorm": (2, 1, 2), "add": (3, 1, 2), "silu": (5, 2, 5)}
COPY_WIDTH = 4096  # a copy is an element-wise op moving 2 tensors (read + write)
PARAMS = ("static_w", "pj_per_mac", "dram_pj_per_bit", "sram_pj_per_bit")
DIGITS = {"static_w": 1, "pj_per_mac": 3, "dram_pj_per_bit": 3, "sram_pj_per_bit": 3}
UNITS = {"static_w": "W", "pj_per_mac": "pJ", "dram_pj_per_bit": "pJ/bit",
         "sram_pj_per_bit": "pJ/bit"}  # fmt: skip
# Presets with no board measurement borrow the H200 fit's static and idle power as shares of its
# 700 W cap, times their own full-load power per chiplet (docs/targets.md says why the H200's
# and not the H100's): (full-load W from their sources, idle: the share or power-gated 1/10)
POWER_CAP_W = 700.0
BORROWED = {
    "ascend-910b": (310.0, "board"),  # Ascend 910 measured at full load, Hot Chips 31 (2019)
    "mt3000": (11.6e3 / 45.4 / 4, "gated"),  # 11.6 TF fp64 at 45.4 GF/W per chip, 4 clusters
}


@dataclasses.dataclass(frozen=True)
class Counts:
    """One measured row as the engine counts it, and as the measurement ran it."""

    kind: str
    label: str
    series: tuple[str, str]
    measured_s: float
    measured_j: float
    predicted_s: float  # the model's kernel time
    macs: float
    dram_bytes: float  # as measured: 0 when the working set stays in L2
    sram_bytes: float
    engine_dram_bytes: float  # the engine's cold-L2 counts
    engine_sram_bytes: float
    l2_resident: bool


@dataclasses.dataclass(frozen=True)
class EnergyFit:
    static_w: float
    pj_per_mac: float
    dram_pj_per_bit: float
    sram_pj_per_bit: float
    idle_w: float

    def dynamic_j(self, macs: float, dram_bytes: float, sram_bytes: float) -> float:
        pj = (
            self.pj_per_mac * macs
            + self.dram_pj_per_bit * 8 * dram_bytes
            + self.sram_pj_per_bit * 8 * sram_bytes
        )
        return pj * 1e-12

    def row_j(self, c: Counts, time: str = "measured", counts: str = "measured") -> float:
        t = c.measured_s if time == "measured" else c.predicted_s
        if counts == "measured":
            return self.static_w * t + self.dynamic_j(c.macs, c.dram_bytes, c.sram_bytes)
        return self.static_w * t + self.dynamic_j(c.macs, c.engine_dram_bytes, c.engine_sram_bytes)

    def rounded(self) -> EnergyFit:
        return dataclasses.replace(
            self,
            **{p: round(getattr(self, p), DIGITS[p]) for p in PARAMS},
            idle_w=round(self.idle_w, 1),
        )


def load_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        sys.exit(f"calibrate_energy.py: error: {path} not found (is shared/ beside the project?)")
    with path.open() as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _working_set(cost: OpCost, distinct: float = 1.0) -> float:
    """Bytes of every tensor the kernel touches (weights, activations, KV): what the engine
    streams from DRAM when nothing is cached."""
    return cost.dram_bytes * distinct


def count_row(chip: ChipletKind, row: dict[str, str]) -> Counts:
    """MACs, bytes and predicted time of one GEMM / copy / element-wise / attention row."""
    kind = row["kind"]
    i = lambda key: int(row[key])  # noqa: E731
    distinct = 1.0  # fraction of the model's moved bytes that are distinct tensors
    if kind == "gemm":
        cost = op_cost(chip, OpSpec("gemm", n=i("n"), k=i("k")), [RequestGroup(i("m"), 0)], 2)
        label = f"{row['name']} m={row['m']}"
    elif kind in ("copy", "read", "write"):
        # `tokens` = bytes moved: a copy reads and writes (2 tensors), x.sum() only reads and
        # x.fill_() only writes (1 tensor; measure_outliers.py)
        tensors = 2 if kind == "copy" else 1
        tokens = i("tokens") // (tensors * COPY_WIDTH * 2)
        op = OpSpec("eltwise", width=COPY_WIDTH, tensors=tensors)
        cost = op_cost(chip, op, [RequestGroup(tokens, 0)], 2)
        label = f"{row['name']}"
    elif kind == "eltwise":
        tensors, kernels, unique = ELTWISE[row["name"].split("_")[0]]
        op = OpSpec("eltwise", width=i("n"), tensors=tensors, kernels=kernels)
        cost = op_cost(chip, op, [RequestGroup(i("m"), 0)], 2)
        distinct = unique / tensors
        label = f"{row['name']} m={row['m']}"
    elif kind == "attention":
        q, kv, batch = i("q_len"), i("kv_len"), i("batch")
        # measure_energy.py's attention: 32 query heads, 8 KV heads of 128
        op = OpSpec("attention", heads=32, kv_heads=8, head_dim=128, causal=q > 1)
        cost = op_cost(chip, op, [RequestGroup(q, kv - q, batch)], 2)
        label = f"attention b={batch} q={q} kv={kv}"
    else:
        raise ValueError(f"row kind '{kind}' is not a kernel")
    working_set = _working_set(cost, distinct)
    resident = working_set <= chip.sram_mb * 2**20
    dram = 0.0 if resident else cost.dram_bytes * distinct
    sram = max(cost.sram_bytes, cost.dram_bytes) if resident else cost.sram_bytes
    return Counts(
        kind=kind,
        label=label,
        series=(kind, row["name"]),
        measured_s=float(row["us_per_rep"]) * 1e-6,
        measured_j=float(row["joules_per_rep"]),
        predicted_s=cost.time_s,
        macs=cost.macs,
        dram_bytes=dram,
        sram_bytes=sram,
        engine_dram_bytes=cost.dram_bytes,
        engine_sram_bytes=cost.sram_bytes,
        l2_resident=resident,
    )


def split(rows: list[Counts]) -> tuple[list[Counts], list[Counts]]:
    """Alternate rows of each (kind, name) series: even positions fit, odd positions check."""
    fit, check, seen = [], [], {}
    for r in rows:
        pos = seen.get(r.series, 0)
        seen[r.series] = pos + 1
        (fit if pos % 2 == 0 else check).append(r)
    return fit, check


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """argmin ||a x - b|| subject to x >= 0, exactly, for a few columns: the optimum solves the
    unconstrained problem on its active (positive) columns, so try every column subset."""
    best, best_res = np.zeros(a.shape[1]), float(np.sum(b**2))
    for mask in itertools.product((False, True), repeat=a.shape[1]):
        cols = [j for j in range(a.shape[1]) if mask[j]]
        if not cols:
            continue
        sol, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
        if (sol < 0).any():
            continue
        x = np.zeros(a.shape[1])
        x[cols] = sol
        res = float(np.sum((a @ x - b) ** 2))
        if res < best_res - 1e-15 * max(best_res, 1.0):
            best, best_res = x, res
    return best


def fit_energy(rows: list[Counts], idle_w: float) -> EnergyFit:
    """Relative-error NNLS of (static W, pJ/MAC, DRAM pJ/bit, on-chip pJ/bit), unrounded."""
    a = np.array(
        [[r.measured_s, r.macs * 1e-12, 8 * r.dram_bytes * 1e-12, 8 * r.sram_bytes * 1e-12]
         for r in rows]
    )  # fmt: skip
    b = np.array([r.measured_j for r in rows])
    x = nnls(a / b[:, None], np.ones(len(rows)))
    return EnergyFit(*(float(v) for v in x), idle_w=idle_w)


def calibrate(
    csv_path: Path, target: str
) -> tuple[EnergyFit, list[Counts], list[Counts], list[dict[str, str]]]:
    """(shipped fit, rounded; fit rows; check rows; all CSV rows) for one file and preset."""
    rows = load_rows(csv_path)
    chip = preset(target).kinds[0]
    counted = [count_row(chip, r) for r in rows if r["kind"] in FIT_KINDS]
    fit_rows, check_rows = split(counted)
    idle = float(np.mean([float(r["idle_w"]) for r in rows]))
    return fit_energy(fit_rows, idle).rounded(), fit_rows, check_rows, rows


def _err(pred: float, meas: float) -> float:
    return (pred - meas) / meas


def _mape(values: list[float]) -> str:
    return f"{100 * float(np.mean(np.abs(values))):.1f}%" if values else "-"


def _row_line(fit: EnergyFit, r: Counts, use: str) -> str:
    """One kernel row: times, measured energy, and the three errors of the fitted energy."""
    errors = "".join(
        f"{_err(fit.row_j(r, t, n), r.measured_j):>+8.1%}"
        for t, n in (("measured", "measured"), ("predicted", "measured"), ("predicted", "engine"))
    )
    l2 = "yes" if r.l2_resident else ""
    times = f"{r.measured_s * 1e6:>9.1f}{r.predicted_s * 1e6:>9.1f}{r.measured_j * 1e3:>10.3f}"
    return f"  {r.label:<30}{use:>6}{l2:>4}{times}{errors}"


def _kind_mape(fit: EnergyFit, rows: list[Counts], time: str, counts: str = "measured") -> str:
    return _mape([_err(fit.row_j(r, time, counts), r.measured_j) for r in rows])


def report(csv_path: Path, target: str, other_board: Path | None = None) -> EnergyFit:
    fit, fit_rows, check_rows, rows = calibrate(csv_path, target)
    raw = fit_energy(fit_rows, fit.idle_w)
    chip = preset(target).kinds[0]
    print(f"== {target} energy calibration ({csv_path.name}; L2 {chip.sram_mb:g} MB) ==")
    print(f"  {'row':<30}{'use':>6}{'L2':>4}{'meas us':>9}{'pred us':>9}{'meas mJ':>10}"
          f"{'t meas':>8}{'t pred':>8}{'engine':>8}")  # fmt: skip
    fit_ids = {id(r) for r in fit_rows}
    for r in fit_rows + check_rows:
        use = "fit" if id(r) in fit_ids else "check"
        print(_row_line(fit, r, use))
    print("  energy error per kind, MAPE (t meas: fitted energy with the measured kernel time;"
          " t pred: with the model's time; engine: model's time and cold-L2 counts)")  # fmt: skip
    print(f"  {'kind':<9}{'fit rows':>9}{'t meas':>8}{'t pred':>8}{'check rows':>11}{'t meas':>8}"
          f"{'t pred':>8}{'engine (all)':>13}")  # fmt: skip
    for kind in FIT_KINDS:
        f = [r for r in fit_rows if r.kind == kind]
        c = [r for r in check_rows if r.kind == kind]
        fit_part = (
            f"{len(f):>9}{_kind_mape(fit, f, 'measured'):>8}{_kind_mape(fit, f, 'predicted'):>8}"
        )
        check = (
            f"{len(c):>11}{_kind_mape(fit, c, 'measured'):>8}{_kind_mape(fit, c, 'predicted'):>8}"
        )
        engine = _kind_mape(fit, f + c, "predicted", "engine")
        print(f"  {kind:<9}{fit_part}{check}{engine:>13}")
    attention = [r for r in rows if r["kind"] == "attention"]
    if attention:
        print("  attention (never fitted):")
        errs = []
        for row in attention:
            r = count_row(chip, row)
            errs.append(_err(fit.row_j(r), r.measured_j))
            print(_row_line(fit, r, "check"))
        print(f"  attention: MAPE {_mape(errs)} (measured time)")
    layers = [r for r in rows if r["kind"] == "layer"]
    if layers:
        layer_check(fit, target, layers)
    if other_board is not None and other_board.is_file():
        other = [r for r in load_rows(other_board) if r["kind"] == "layer"]
        idle = float(np.mean([float(r["idle_w"]) for r in load_rows(other_board)]))
        print(f"  another board's layers ({other_board.name}, idle {idle:.1f} W; never fitted):")
        layer_check(fit, target, other)
    print("  fitted (fit rows; shipped values are these, rounded):")
    for p in PARAMS:
        print(f"    {p:<17} {getattr(fit, p):>9} {UNITS[p]:<7} (unrounded {getattr(raw, p):.6g})")
    print(f"    {'idle_w':<17} {fit.idle_w:>9} W       (measured board idle, mean of the file)")
    print(f"  TOML: [[chiplet]] pj_per_mac = {fit.pj_per_mac}, sram_pj_per_bit = "
          f"{fit.sram_pj_per_bit}, static_w = {fit.static_w}, idle_w = {fit.idle_w}; "
          f"[[dram]] pj_per_bit = {fit.dram_pj_per_bit}")  # fmt: skip
    return fit


def held_out_board(fit: EnergyFit, target: str, path: Path) -> None:
    """A board the fit never saw, checked with the shipped values as they are: every kernel
    kind and layer group, then the boards compared case by case (how far two lent boards
    differ is the floor under any energy figure checked on one board)."""
    rows = load_rows(path)
    chip = preset(target).kinds[0]
    idle = float(np.mean([float(r["idle_w"]) for r in rows]))
    print(f"== {target} held-out board ({path.name}, idle {idle:.1f} W; never fitted: the "
          f"shipped values above) ==")  # fmt: skip
    print(f"  {'row':<30}{'use':>6}{'L2':>4}{'meas us':>9}{'pred us':>9}{'meas mJ':>10}"
          f"{'t meas':>8}{'t pred':>8}{'engine':>8}")  # fmt: skip
    kinds: dict[str, list[Counts]] = {}
    for row in rows:
        if row["kind"] != "layer":
            kinds.setdefault(row["kind"], []).append(count_row(chip, row))
            print(_row_line(fit, kinds[row["kind"]][-1], "check"))
    print(f"  energy error per kind, mean |error| (worst row): {'rows':>5}{'t meas':>16}"
          f"{'t pred':>18}{'engine':>18}")  # fmt: skip
    for kind, counted in kinds.items():
        ways = (("measured", "measured"), ("predicted", "measured"), ("predicted", "engine"))
        cells = "".join(
            f"{mean_max([_err(fit.row_j(r, t, n), r.measured_j) for r in counted]):>18}"
            for t, n in ways
        )
        print(f"    {kind:<46}{len(counted):>5}{cells}")
    layer_check(fit, target, [r for r in rows if r["kind"] == "layer"])
    boards = (("first", H100_OTHER_BOARD), ("fitting", H100_CSV), ("held-out", path))
    compare_boards([(name, p, load_rows(p)) for name, p in boards if p.is_file()])


def borrowed_power(fit: EnergyFit, full_load_w: float, idle: str) -> tuple[float, float]:
    """(static_w, idle_w) of a chiplet with no board measurement: `fit`'s static and idle
    shares of the 700 W cap times its full-load power; a power-gated chiplet (MTCMOS cuts
    leakage 10-50x, an idle mesh node still routes) keeps 1/10 of its static power."""
    static = round(fit.static_w / POWER_CAP_W * full_load_w, 1)
    if idle == "gated":
        return static, round(static / 10, 2)
    return static, round(fit.idle_w / POWER_CAP_W * full_load_w, 1)


def report_borrowed(fit: EnergyFit) -> None:
    shares = f"static {fit.static_w / POWER_CAP_W:.1%}, idle {fit.idle_w / POWER_CAP_W:.1%}"
    print(f"  borrowed ({shares} of the {POWER_CAP_W:g} W cap x full-load power):")
    for name, (full, idle) in BORROWED.items():
        static_w, idle_w = borrowed_power(fit, full, idle)
        print(f"    {name:<12} full load {full:6.1f} W: static_w = {static_w}, idle_w = {idle_w}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", type=Path, help=f"measurements (default {DEFAULT_CSV})")
    parser.add_argument("--target", help="preset whose counts and L2 are used (default h200)")
    args = parser.parse_args([] if argv is None and __name__ != "__main__" else argv)
    if args.csv is None and args.target is None:
        report_borrowed(report(DEFAULT_CSV, "h200"))
        if H100_CSV.is_file():  # `run.py calibrate_energy` prints both GPUs
            print()
            h100 = report(H100_CSV, "h100", H100_OTHER_BOARD)
            if H100_HELD_OUT.is_file():
                print()
                held_out_board(h100, "h100", H100_HELD_OUT)
        return
    report(args.csv or DEFAULT_CSV, args.target or "h200")


if __name__ == "__main__":
    main()
