"""Fit the `h100` and `h200` presets' op-level parameters to measured kernels and report error.

Data: `h100` from ../shared/data/h100_calibration.csv, `h200` from
benchmarks/data/h200_calibration.csv (the same sweep, measured with the same script on the lent
H200). Free parameters (xcompass/cost/opcost.py says what each does): GEMM kernel floor, DRAM
efficiency and the number of units that saturate DRAM, GEMM tile shape and compute efficiency;
attention floor, efficiency, per-tile overhead and KV streaming efficiency; element-wise floor
and streaming efficiency; the norm's per-element row latency. Every parameter is shared by a
whole kind of kernel: none is fitted to one shape.

The fit uses every other row of each (kind, name, batch) series of the shapes in the H100 file;
the remaining rows are reported separately as a check on over-fitting. The H200 file also holds
shapes the H100 file keeps back (other GEMM shapes, 64 heads, width 8192, ...): they are never
fitted and are reported as "unseen shapes". Re-run with `python benchmarks/calibrate.py
[--target h100|h200]` (prints the fitted values to paste into the presets' [[chiplet]] tables
and the per-kind mean absolute percentage error).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import os
import sys
from pathlib import Path

import numpy as np

from xcompass.cost.kernelcost import op_cost
from xcompass.cost.opcost import OpSpec, RequestGroup
from xcompass.hardware.targetfile import preset

HERE = Path(__file__).resolve().parent
DATA = {
    "h100": HERE.parents[1] / "shared" / "data" / "h100_calibration.csv",
    "h200": HERE / "data" / "h200_calibration.csv",
}
# More rows of the same method (event-timed eager op, L2 flushed, median of 30) on the lent H100:
# the issue-18 outlier shapes (K = 14336 and 28672 x 8192 GEMMs around the ridge, RMSNorm of
# width 2048-8192 up to 32K rows; benchmarks/gpu/measure_outliers.py). Fitted and checked with
# the H100 file, half each; they do not change which H200 shapes count as unseen.
EXTRA = {"h100": HERE / "data" / "h100_outliers.csv"}
ELTWISE = {  # tensors moved per element, kernels, row reduction: measure_gpu.py's implementations
    "rmsnorm": (2, 1, True),  # F.rms_norm: read x, write y; one block reduces each row
    "add": (3, 1, False),  # a + b
    "silu": (5, 2, False),  # F.silu(g) * up: silu reads g writes t; mul reads t, up, writes y
}
KINDS = ("gemm", "attention", "eltwise")
# The CSVs time one eager op between two CUDA events; the presets' floors are what a kernel costs
# back to back in a stream or CUDA graph (how xcompass/layer/layercost.py adds them up). The
# difference
# was measured, not fitted (torch profiler, PyTorch 2.11, 2026-11-21): the event-timed median of
# an op exceeds its kernels' own durations (and the gaps between them) by the figures below, and
# the kernels of a llama3-8b decode layer replayed in a CUDA graph on the H100 start 0.45 us
# apart. H100: 27 ops timed both ways in one process on the lent H100 (the host kind the CSV
# came from). H200: the CSV's own event-timed medians minus the kernel durations of the same 27
# ops profiled on a lent single H200 (the CSV's 4-GPU host adds ~1.5 us per op).
EVENT_US = {
    "h100": {"gemm": 2.57, "eltwise": 2.40, "attention": 2.62},
    "h200": {"gemm": 3.76, "eltwise": 3.81, "attention": 5.03},
}
GRAPH_GAP_US = 0.45
# The sweeps empty L2 by writing 512 MiB before every rep (FLUSH.zero_() in measure_gpu.py and
# measure_outliers.py), which leaves L2 full of dirty lines: the op that follows writes back as
# many of them as it reads in, min(its reads, L2), while it streams. Measured on the lent H100
# (benchmarks/data/h100_flush_methods.csv, benchmarks/gpu/measure_kernel_picks.py: the same op
# after a 512 MiB write and after a 512 MiB read): 5-10 us for GEMMs and adds reading 33-250 MB,
# 0.35 us at 1 MB, none at 1 row; one rate over the bytes read, 6.5 TB/s (least mean absolute
# residual, 1.0 us over its 15 rows: the write-back overlaps the op's reads). A CUDA-graph layer
# has no such debt (each kernel follows kernels that mostly read). `--flush-writeback` takes it
# out of the rows rather than into the floors; the shipped presets are fitted without it
# (docs/targets.md, "The calibration's flush": it takes the layer's GEMMs at M = 1 from +13% to
# +2%, but element-wise ops whose output fits L2 write it back after the kernel, which one rate
# cannot express, and long prefill layers move to -9%). 0: not measured for that card.
FLUSH_WRITEBACK_TBS = {"h100": 6.5, "h200": 0.0}
WRITEBACK = {"on": False}
KEYS = (
    "tile_m",
    "tile_n",
    "compute_efficiency",
    "throttle_after_us",
    "throttled_clock",
    "dram_efficiency",
    "dram_saturation_units",
    "kernel_floor_us",
    "attention_floor_us",
    "attention_efficiency",
    "attention_tile_overhead",
    "attention_dram_efficiency",
    "eltwise_floor_us",
    "eltwise_dram_efficiency",
    "reduction_ns_per_element",
    "gemm_overlap",
    "norm_reread_width",
)


def load_rows(target: str) -> list[dict[str, str]]:
    path = DATA[target]
    if not path.is_file():
        where = "shared/ must sit beside the project" if target == "h100" else "benchmarks/data"
        sys.exit(f"calibrate.py: error: {path} not found ({where})")
    with path.open() as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] in KINDS]
    extra = EXTRA.get(target)
    if extra is not None and extra.is_file():
        with extra.open() as f:
            rows += [{**r, "src": extra.stem} for r in csv.DictReader(f) if r["kind"] in KINDS]
    return rows


def h100_series() -> set[tuple[str, str]] | None:
    """(kind, name) series of the H100 calibration file: the shapes any fit may see."""
    if not DATA["h100"].is_file():
        return None
    with DATA["h100"].open() as f:
        return {(r["kind"], r["name"]) for r in csv.DictReader(f) if r["kind"] in KINDS}


def case(row: dict) -> tuple[OpSpec, list[RequestGroup], float]:
    """The op, its request groups and the measured microseconds of one CSV row (kept in it)."""
    if "_case" not in row:
        row["_case"] = (*_case(row), float(row["median_us"]))
    return row["_case"]


def _case(row: dict[str, str]) -> tuple[OpSpec, list[RequestGroup]]:
    kind = row["kind"]
    i = lambda key: int(row[key])  # noqa: E731
    if kind == "gemm":
        return OpSpec("gemm", n=i("n"), k=i("k")), [RequestGroup(i("m"), 0)]
    if kind == "attention":
        q, kv = i("q_len"), i("kv_len")
        op = OpSpec(
            "attention",
            heads=i("heads"),
            kv_heads=i("kv_heads"),
            head_dim=i("head_dim"),
            causal=q > 1,
        )
        return op, [RequestGroup(q, kv - q, i("batch"))]
    tensors, kernels, reduction = ELTWISE[row["name"].split("_")[0]]
    op = OpSpec("eltwise", width=i("n"), tensors=tensors, kernels=kernels, reduction=reduction)
    return op, [RequestGroup(i("m"), 0)]


def over_graph_us(chip, kind: str) -> float:  # noqa: ANN001
    """What an event-timed eager op shows beyond the same op inside a CUDA graph."""
    return EVENT_US[chip.kind][kind] - GRAPH_GAP_US


def flush_writeback_us(chip, dram_bytes: float) -> float:  # noqa: ANN001
    """What the sweep's write flush costs the op that follows (FLUSH_WRITEBACK_TBS)."""
    rate = FLUSH_WRITEBACK_TBS.get(chip.kind, 0.0)
    if rate <= 0 or not WRITEBACK["on"]:
        return 0.0
    return min(dram_bytes, chip.sram_mb * 2**20) / (rate * 1e6)


def predict(chip, row: dict[str, str]) -> float:  # noqa: ANN001
    """Seconds the measurement would show: the op in a stream, the event-timing overhead and
    the write-back of the flush's dirty lines."""
    return measured_us(chip, row) * 1e-6


def read_bytes(op: OpSpec, groups: list[RequestGroup], dram_bytes: float) -> float:
    """DRAM bytes an op reads (what evicts the flush's dirty lines): its traffic less the one
    tensor it writes (a GEMM's and attention's output, an element-wise op's last tensor)."""
    tokens = sum(g.q * g.count for g in groups)
    if op.kind == "gemm":
        return dram_bytes - 2.0 * tokens * op.n
    if op.kind == "attention":
        return dram_bytes - 2.0 * tokens * op.heads * op.head_dim
    return dram_bytes - 2.0 * tokens * op.width


def measured_us(chip, row: dict[str, str]) -> float:  # noqa: ANN001
    op, groups, _ = case(row)
    cost = op_cost(chip, op, groups, 2)
    evicted = read_bytes(op, groups, cost.dram_bytes)
    return cost.time_s * 1e6 + over_graph_us(chip, row["kind"]) + flush_writeback_us(chip, evicted)


def mape(chip, rows) -> float:  # noqa: ANN001
    errs = [abs(measured_us(chip, r) - case(r)[2]) / case(r)[2] for r in rows]
    return 100.0 * float(np.mean(errs)) if errs else float("nan")


def split(rows):  # noqa: ANN001, ANN201
    """Alternate rows of each series: even positions fit, odd positions check."""
    fit, check, seen = [], [], {}
    for r in rows:
        key = (r["kind"], r["name"], r.get("batch", ""), r.get("src", ""))
        pos = seen.get(key, 0)
        seen[key] = pos + 1
        (fit if pos % 2 == 0 else check).append(r)
    return fit, check


def search(chip, rows, grid: dict[str, list]):  # noqa: ANN001, ANN201
    """Exhaustive search over a small grid (cheap: a few thousand model evaluations)."""
    best, best_err = chip, mape(chip, rows)
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        cand = dataclasses.replace(chip, **dict(zip(keys, values, strict=True)))
        err = mape(cand, rows)
        if err < best_err:
            best, best_err = cand, err
    return best


def grid(lo: float, hi: float, step: float, digits: int = 2) -> list:
    return [float(v) for v in np.round(np.arange(lo, hi + step / 2, step), digits)]


def fit_target(target: str, fit: list[dict[str, str]]):  # noqa: ANN201
    """The staged fit from a fixed datasheet-level start (independent of what is shipped)."""
    by_kind = lambda rs, k: [r for r in rs if r["kind"] == k]  # noqa: E731
    chip = dataclasses.replace(
        preset(target).kinds[0],
        tile_m=128,
        tile_n=128,
        compute_efficiency=0.75,
        throttle_after_us=0.0,
        throttled_clock=0.0,
        dram_efficiency=0.9,
        dram_saturation_units=0.0,
        kernel_floor_us=5.0,
        attention_floor_us=5.0,
        attention_efficiency=0.5,
        attention_tile_overhead=0.0,
        attention_dram_efficiency=0.9,
        eltwise_floor_us=5.0,
        eltwise_dram_efficiency=0.9,
        reduction_ns_per_element=0.0,
        gemm_overlap=0.0,
        norm_reread_width=0.0,
    )
    attention_core = {"attention_floor_us": grid(1.0, 10.0, 0.5, 1),
                      "attention_efficiency": grid(0.40, 0.90, 0.01),
                      "attention_tile_overhead": grid(0.0, 3.0, 0.25)}  # fmt: skip
    streaming = {"kernel_floor_us": grid(1.0, 10.0, 0.1, 1),
                 "dram_efficiency": grid(0.75, 1.0, 0.01),
                 "dram_saturation_units": [0.0, *grid(66.0, 132.0, 6.0, 0)]}  # fmt: skip
    gemm = [r for r in by_kind(fit, "gemm")]
    norm = [r for r in by_kind(fit, "eltwise") if ELTWISE[r["name"].split("_")[0]][2]]
    plain = [r for r in by_kind(fit, "eltwise") if r not in norm]
    # Stages, in order: memory-bound GEMMs (m <= 64: weight streaming) fix the floor, the
    # sustained bandwidth and how many busy units saturate it (floors >= 1 us in a graph: a
    # 1x4096 add kernel takes 1.5 us); all GEMMs fix the tile shape and compute efficiency
    # (which decide how many units stream), then the power cap's onset and clock with the
    # efficiency, then streaming again; attention fixes its floor, efficiency and per-tile
    # overhead, then its KV streaming rate (long contiguous reads may beat GEMM weight
    # streaming), then the first three again; plain element-wise ops (add, SiLU*mul) fix their
    # floor and streaming rate, norms their row latency and how much of their input's re-read
    # misses on chip. After the power cap, the overlap exponent of compute and streaming near
    # the ridge (cuBLAS's mid-M kernels), with the efficiency, before streaming is refitted.
    stages = [
        ([r for r in gemm if int(r["m"]) <= 64], streaming),
        (gemm, {"tile_m": [64, 128, 256], "tile_n": [128, 256],
                "compute_efficiency": grid(0.70, 0.85, 0.01)}),
        (gemm, {"throttle_after_us": grid(0.0, 1000.0, 100.0, 0),
                "throttled_clock": [0.0, *grid(0.80, 0.99, 0.01)],
                "compute_efficiency": grid(0.70, 0.90, 0.01)}),
        (gemm, {"gemm_overlap": [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0],
                "compute_efficiency": grid(0.74, 0.92, 0.01)}),
        ([r for r in gemm if int(r["m"]) <= 64], streaming),
        (by_kind(fit, "attention"), attention_core),
        (by_kind(fit, "attention"), {"attention_dram_efficiency": grid(0.70, 1.0, 0.01)}),
        (by_kind(fit, "attention"), attention_core),
        (plain, {"eltwise_floor_us": grid(0.5, 8.0, 0.1, 1),
                 "eltwise_dram_efficiency": grid(0.6, 1.0, 0.01)}),
        (norm, {"reduction_ns_per_element": grid(0.0, 4.0, 0.05),
                "norm_reread_width": [0.0, *grid(4096.0, 16384.0, 1024.0, 0)]}),
    ]  # fmt: skip
    for rows_, space in stages:
        chip = search(chip, rows_, space)
    return chip


def report(target: str) -> None:
    rows = load_rows(target)
    series = h100_series()
    seen = [r for r in rows if series is None or r.get("src") or (r["kind"], r["name"]) in series]
    unseen = [r for r in rows if r not in seen]
    fit, check = split(seen)
    chip = fit_target(target, fit)
    shipped_chip = preset(target).kinds[0]
    by_kind = lambda rs, k: [r for r in rs if r["kind"] == k]  # noqa: E731
    print(f"== {target} calibration ({os.path.relpath(DATA[target], HERE.parent)}) ==")
    for key in KEYS:
        print(f"  {key:<26} fitted {getattr(chip, key):<8} shipped {getattr(shipped_chip, key)}")
    head = f"  {'kind':<10}{'rows fit':>9}{'MAPE fit':>10}{'rows check':>11}{'MAPE check':>11}"
    head += f"{'MAPE shipped (all)':>20}"
    if unseen:
        head += f"{'unseen rows':>12}{'MAPE unseen':>12}"
    print(head)
    for kind in KINDS:
        f, c = by_kind(fit, kind), by_kind(check, kind)
        shipped = mape(shipped_chip, by_kind(seen, kind))
        line = f"  {kind:<10}{len(f):>9}{mape(chip, f):>9.1f}%{len(c):>11}{mape(chip, c):>10.1f}%"
        line += f"{shipped:>19.1f}%"
        if unseen:
            u = by_kind(unseen, kind)
            line += f"{len(u):>12}{mape(shipped_chip, u):>11.1f}%"
        print(line)
    if unseen:
        print("  (unseen: shapes the H100 file keeps back, never fitted; with the shipped values)")
    extra = [r for r in seen if r.get("src")]
    if extra:
        print(f"  of which {extra[0]['src']} (fit and check halves; fitted values):")
        for kind in KINDS:
            names = sorted({r["name"] for r in extra if r["kind"] == kind})
            for name in names:
                group = [r for r in extra if r["name"] == name]
                errs = [predict(chip, r) * 1e6 / float(r["median_us"]) - 1 for r in group]
                worst = max(errs, key=abs)
                mean = 100 * float(np.mean(np.abs(errs)))
                worst_pct = f"{100 * worst:+6.1f}%"
                print(f"    {name:<18}{len(group):>4} rows  MAPE {mean:5.1f}%  worst {worst_pct}")
    print(f"  [[chiplet]] keys for {target}.toml:")
    print("    " + ", ".join(f"{key} = {getattr(chip, key)}" for key in KEYS))


def main(targets: tuple[str, ...] = ("h100", "h200")) -> None:
    for i, target in enumerate(targets):
        if i:
            print()
        report(target)
    if "h100" in targets:  # the attention variants: FlashAttention-2 varlen, unfused, dense
        from calibrate_attention import report as attention_variants

        print()
        attention_variants()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=sorted(DATA), action="append")
    parser.add_argument(
        "--flush-writeback",
        action="store_true",
        help="take the sweep's flush write-back out of the rows (not shipped)",
    )
    args = parser.parse_args()
    WRITEBACK["on"] = args.flush_writeback
    main(tuple(args.target) if args.target else ("h100", "h200"))
