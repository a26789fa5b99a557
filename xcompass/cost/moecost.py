"""A MoE layer's experts and routing on one chiplet kind, built on opcost's GEMM tiles and
element-wise streaming (op_cost dispatches `moe` ops here). Measured on the lent H100 with
torch._grouped_mm's CUTLASS grouped GEMM and PyTorch's routing kernels
(benchmarks/data/h100_moe.csv, benchmarks/gpu/measure_outliers.py; fitted by
benchmarks/calibrate_moe.py)."""

from __future__ import annotations

import math

from xcompass.cost.opcost import (
    OpCost,
    OpSpec,
    dram_share,
    eltwise_cost,
    hardware_cover,
    overlap,
    tile_compute,
)
from xcompass.hardware.targets import ChipletKind


def moe_cost(
    chip: ChipletKind,
    op: OpSpec,
    tokens: int,
    dtype_bytes: int,
    tp: int = 1,
    weights_resident: bool = False,
) -> OpCost:
    """A MoE layer's experts (the router GEMM is its own op): two grouped GEMMs (gate+up,
    down: one floor each, the active experts' tiles and weights summed, each expert given
    its balanced share of the routed rows), the gated activation over the routed rows, and
    the routing around them (measured on the lent H100, benchmarks/data/h100_moe.csv, with
    torch._grouped_mm's CUTLASS kernel):

    - the grouped GEMM overlaps compute and weight streaming worse than cuBLAS's dense
      kernels: (c^p + m^p)^(1/p) with p = `grouped_overlap` (0: the larger one);
    - `moe_route_kernels` small kernels (softmax, top-k, renormalise, the permutation's sort,
      histogram and offsets, the gather, the weighting, the combine), one element-wise floor
      each, and `moe_combine_tensors` hidden-wide rows moved per routed row by the gather and
      the combine (PyTorch's index_add_ scatters bf16 rows with atomics: about 20 rows' worth).
    0 for all three: the model before they were measured (experts' tiles only)."""
    mats = 3 if op.gated else 2
    routed = tokens * op.top_k
    active = min(op.experts, routed)
    per_expert = math.ceil(routed / op.experts) if routed else 0
    ffn = op.ffn // tp if op.split else op.ffn
    time = dram = weights = 0.0
    for n, k in (((mats - 1) * ffn, op.k), (op.k, ffn)):
        t, moved, w = grouped_gemm_time(
            chip, per_expert, active, n, k, dtype_bytes, weights_resident
        )
        time, dram, weights = time + t, dram + moved, weights + op.experts * w
    macs = float(routed) * op.k * ffn * mats
    cost = OpCost(time, macs, dram, weights, float(routed * (op.k + ffn) * 2 * dtype_bytes))
    act = eltwise_cost(
        chip,
        OpSpec("eltwise", width=ffn, tensors=5 if op.gated else 2, kernels=2 if op.gated else 1),
        routed,
        dtype_bytes,
    )
    route_time, route_bytes = routing_time(chip, routed, op.k, dtype_bytes)
    return cost + act + OpCost(route_time, 0.0, route_bytes, 0.0, route_bytes)


def grouped_gemm_time(
    chip: ChipletKind,
    rows: int,
    experts: int,
    n: int,
    k: int,
    dtype_bytes: int,
    weights_resident: bool = False,
) -> tuple[float, float, float]:
    """(seconds, DRAM bytes, one expert's weight bytes) of one grouped GEMM: `experts`
    experts of `rows` rows each, `[rows, k] x [k, n]`, in one kernel (one floor)."""
    if rows <= 0 or experts <= 0:
        return 0.0, 0.0, float(n * k * dtype_bytes)
    compute, units = tile_compute(chip, hardware_cover(chip, rows), n, k)
    w = float(n * k * dtype_bytes)
    moved = float(rows * (k + n) * dtype_bytes) + (0.0 if weights_resident else w)
    memory = moved / (chip.bandwidth * dram_share(chip, units))
    both = overlap(chip, experts * compute, experts * memory, chip.grouped_overlap)
    return chip.kernel_floor_us * 1e-6 + both, experts * moved, w


def moe_launches(chip: ChipletKind | None, op: OpSpec) -> tuple[int, int]:
    """(routing, expert) kernel launches an eager host issues for a MoE layer, in that order:
    the routing's `moe_route_kernels` (the very kernels `routing_time` charges a floor each;
    none without a chip), then the experts' two grouped GEMMs and their activation (two
    kernels when gated). Measured on the lent H100 (benchmarks/data/h100_moe.csv): 22 routing
    kernels (7 top-k, 10 permutation, 5 combine; 31 from 4096 tokens, where the sort takes
    radix passes), 6 expert kernels (each grouped GEMM launches a small set-up kernel too)."""
    route = round(chip.moe_route_kernels) if chip is not None else 0
    return route, 2 + (2 if op.gated else 1)


def routing_time(
    chip: ChipletKind, routed: int, hidden: int, dtype_bytes: int
) -> tuple[float, float]:
    """(seconds, bytes) of a MoE layer's routing kernels around its experts (top-k,
    permutation, gather, combine; not the router GEMM) for `routed` (token, expert) rows."""
    moved = chip.moe_combine_tensors * routed * hidden * dtype_bytes
    if routed <= 0 or not (chip.moe_route_kernels or moved):
        return 0.0, 0.0
    time = chip.moe_route_kernels * chip.eltwise_floor_us * 1e-6 + moved / chip.eltwise_bandwidth
    return time, moved
