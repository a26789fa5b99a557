"""Fit the `h100` preset's MoE fields to measured Mixtral-8x7B kernels and check whole layers.

Data: benchmarks/data/h100_moe.csv (benchmarks/gpu/measure_outliers.py on the lent H100, bf16,
torch._grouped_mm's CUTLASS grouped GEMM for the experts, L2 flushed before every timed rep).
Free parameters (xcompass/cost/opcost.py, `moe_cost`): `grouped_overlap` (how the grouped GEMM
overlaps its compute with its weight streaming), `moe_route_kernels` and
`moe_combine_tensors` (the routing kernels around the experts: their count and the hidden-wide
rows the gather and combine move per routed row). Everything else is the shipped preset
(benchmarks/calibrate.py's fit).

Fit rows: every other token count of the per-stage kernel times (the sum of the kernels' own
durations of one profiled call, `kernel_us`): the two grouped GEMMs, and the routing
(softmax/top-k/renormalise without the router GEMM, the permutation, the combine). The other
token counts are the check. Whole Mixtral layers (RoPE-free, graph mode; prefill 128-4096
tokens, decode 1-64 requests) are never fitted: the engine's layer (`layer_ops`) against them.
The same layers in eager mode (never fitted either: the host's `launch_us` is
benchmarks/calibrate_eager.py's, from Llama layers) go through the real passes
(import -> PYTORCH_LOWERING -> llm-partition -> the engine's host queue, where the MoE layer
launches its `moe_route_kernels` routing kernels before its experts).

    python benchmarks/calibrate_moe.py
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_tp import _context  # noqa: E402
from xcompass.passes import PYTORCH_LOWERING  # noqa: E402
from xcompass.passes.ir_bridge import read_mapping  # noqa: E402
from xcompass.tools.importer import build_module  # noqa: E402
from xcompass.tools.universe import XCOMPASS_UNIVERSE  # noqa: E402
from xdsl.passes import PassPipeline  # noqa: E402

from xcompass.cost.kernelcost import op_cost  # noqa: E402
from xcompass.cost.moecost import grouped_gemm_time, routing_time  # noqa: E402
from xcompass.cost.opcost import RequestGroup  # noqa: E402
from xcompass.engine.context import EvalContext  # noqa: E402
from xcompass.engine.schedule import evaluate_mapping  # noqa: E402
from xcompass.hardware.targetfile import preset  # noqa: E402
from xcompass.hardware.targets import ChipletKind  # noqa: E402
from xcompass.layer.kernels import layer_kernels  # noqa: E402
from xcompass.layer.layercost import build_cost_table, layer_ops  # noqa: E402
from xcompass.model.models import preset as model_preset  # noqa: E402
from xcompass.model.workload import build_workload, parse_spec  # noqa: E402

DATA = HERE / "data" / "h100_moe.csv"
MODEL = "mixtral-8x7b"
FIELDS = ("grouped_overlap", "moe_route_kernels", "moe_combine_tensors")
ROUTE_STAGES = ("topk", "permute", "unpermute")  # `topk` includes the router GEMM: subtracted


def load() -> list[dict[str, str]]:
    if not DATA.is_file():
        sys.exit(f"calibrate_moe.py: error: {DATA} not found")
    with DATA.open() as f:
        return list(csv.DictReader(f))


def stage_cases(rows: list[dict[str, str]]) -> list[tuple[str, int, float]]:
    """(stage, tokens, measured seconds): `gate_up`, `down` and `route` per token count."""
    by = {
        (r["name"], int(r["tokens"])): float(r["kernel_us"]) for r in rows if r["kind"] == "stage"
    }
    out = []
    for t in sorted({t for _, t in by}):
        out += [("gate_up", t, by[("gate_up", t)] * 1e-6), ("down", t, by[("down", t)] * 1e-6)]
        route = sum(by[(s, t)] for s in ROUTE_STAGES) - by[("router", t)]
        out.append(("route", t, route * 1e-6))
    return out


def predict_stage(chip: ChipletKind, stage: str, tokens: int) -> float:
    m = model_preset(MODEL)
    routed = tokens * m.top_k
    rows, active = -(-routed // m.experts), min(m.experts, routed)
    if stage == "gate_up":
        return grouped_gemm_time(chip, rows, active, 2 * m.ffn, m.hidden, 2)[0]
    if stage == "down":
        return grouped_gemm_time(chip, rows, active, m.hidden, m.ffn, 2)[0]
    return routing_time(chip, routed, m.hidden, 2)[0]


def errors(chip: ChipletKind, cases: list[tuple[str, int, float]]) -> list[float]:
    return [predict_stage(chip, s, t) / meas - 1 for s, t, meas in cases]


def mape(errs: list[float]) -> float:
    return 100 * float(np.mean(np.abs(errs))) if errs else float("nan")


def fit(chip: ChipletKind, cases: list[tuple[str, int, float]]) -> ChipletKind:
    """Grid search: the grouped GEMMs' overlap on their rows, the routing on its rows."""
    gemm = [c for c in cases if c[0] != "route"]
    route = [c for c in cases if c[0] == "route"]
    best = min(
        (0.0, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 6.0),
        key=lambda p: mape(errors(dataclasses.replace(chip, grouped_overlap=p), gemm)),
    )
    chip = dataclasses.replace(chip, grouped_overlap=best)
    grid = itertools.product(range(0, 41), np.round(np.arange(0.0, 40.01, 0.5), 1))
    kernels, tensors = min(
        grid,
        key=lambda kt: mape(
            errors(
                dataclasses.replace(chip, moe_route_kernels=float(kt[0]),
                                    moe_combine_tensors=float(kt[1])),
                route,
            )
        ),
    )  # fmt: skip
    return dataclasses.replace(chip, moe_route_kernels=float(kernels),
                               moe_combine_tensors=float(tensors))  # fmt: skip


def predict_layer(chip: ChipletKind, groups: list[RequestGroup]) -> float:
    """The engine's RoPE-free Mixtral layer in a CUDA graph: its kernels back to back."""
    model = dataclasses.replace(model_preset(MODEL), rope=False)
    return sum(op_cost(chip, op, groups, 2).time_s for op in layer_ops(model))


def layer_rows(rows: list[dict[str, str]]) -> list[tuple[str, list[RequestGroup], float]]:
    out = []
    for r in rows:
        if r["kind"] != "layer" or r["mode"] != "cudagraph":
            continue
        t = int(r["tokens"])
        if r["name"].endswith("prefill"):
            label, groups = f"prefill:{t}", [RequestGroup(t, 0)]
        else:
            label, groups = (
                f"decode:{r['ctx']}x{r['batch']}",
                [RequestGroup(1, int(r["ctx"]), int(r["batch"]))],
            )
        out.append((label, groups, float(r["median_us"]) * 1e-6))
    return out


def eager_rows(rows: list[dict[str, str]]) -> list[tuple[str, float, float]]:
    """(workload spec, measured eager seconds, measured CUDA-graph seconds) of the layer rows."""
    meas: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["kind"] == "layer":
            t = int(r["tokens"])
            spec = f"prefill:{t}" if r["name"].endswith("prefill") else f"decode:{r['ctx']}x{t}"
            meas.setdefault(spec, {})[r["mode"]] = float(r["median_us"]) * 1e-6
    return [(s, m["eager"], m["cudagraph"]) for s, m in meas.items() if len(m) == 2]


def predict_eager(spec: str) -> tuple[float, float]:
    """(eager, graph) seconds of the RoPE-free Mixtral layer through the real passes on the
    shipped `h100` preset (its host: calibrate_eager.py's `launch_us`)."""
    model = dataclasses.replace(model_preset(MODEL), rope=False)
    module = build_module(model, build_workload(parse_spec(spec), None), layers=1, target="h100")
    PassPipeline.parse_spec(
        XCOMPASS_UNIVERSE.all_passes, f"{PYTORCH_LOWERING},llm-partition{{strategy=single}}"
    ).apply(_context(), module)
    placed = read_mapping(module, "calibrate_moe")
    p = placed.problem
    kernels = layer_kernels(p.layer.graph, p.layer.lowering)
    out = []
    for mode in ("eager", "graph"):
        table = build_cost_table(p.model, p.workload, p.target, placed.groups.tp_options,
                                 mode=mode, kernels=kernels)  # fmt: skip
        ctx = EvalContext(table, placed.groups, p.target, p.layers)
        out.append(float(evaluate_mapping(ctx, placed.mapping).latency_s[0]))
    return out[0], out[1]


def print_eager(rows: list[dict[str, str]]) -> None:
    """The eager layer rows: measured and predicted, eager and graph, and the eager error."""
    print("  whole Mixtral-8x7B layers, eager (never fitted), the engine's host queue on h100:")
    print(f"    {'workload':<16}{'eager':>9}{'pred':>9}{'error':>8}{'graph':>9}{'pred':>9}")
    errs = []
    for spec, eager, graph in eager_rows(rows):
        pe, pg = predict_eager(spec)
        errs.append(pe / eager - 1)
        print(f"    {spec:<16}{eager * 1e6:>9.1f}{pe * 1e6:>9.1f}{errs[-1]:>+8.1%}"
              f"{graph * 1e6:>9.1f}{pg * 1e6:>9.1f}")  # fmt: skip
    phase = [spec.split(":")[0] for spec, _, _ in eager_rows(rows)]
    by = {ph: [e for e, p in zip(errs, phase, strict=True) if p == ph] for ph in phase}
    print(f"  eager: MAPE {mape(errs):.1f}% (max {100 * max(map(abs, errs)):.1f}%), "
          + ", ".join(f"{ph} {mape(e):.1f}%" for ph, e in by.items()))  # fmt: skip


def main() -> None:
    rows = load()
    cases = stage_cases(rows)
    tokens = sorted({t for _, t, _ in cases})
    fit_t = set(tokens[::2])
    fit_cases = [c for c in cases if c[1] in fit_t]
    check_cases = [c for c in cases if c[1] not in fit_t]
    shipped = preset("h100").kinds[0]
    off = dataclasses.replace(shipped, **dict.fromkeys(FIELDS, 0.0))
    fitted = fit(off, fit_cases)
    impl = {r["impl"] for r in rows}
    print(f"== h100 MoE calibration ({DATA.name}; experts by {', '.join(sorted(impl))}) ==")
    for key in FIELDS:
        print(f"  {key:<22} fitted {getattr(fitted, key):<8} shipped {getattr(shipped, key)}")
    print(f"  {'stage':<9}{'fit rows':>9}{'MAPE fit':>10}{'check rows':>11}{'MAPE check':>11}"
          f"{'off (all)':>11}{'shipped (all)':>14}")  # fmt: skip
    for stage in ("gate_up", "down", "route"):
        f = [c for c in fit_cases if c[0] == stage]
        c = [c for c in check_cases if c[0] == stage]
        both = f + c
        print(f"  {stage:<9}{len(f):>9}{mape(errors(fitted, f)):>9.1f}%{len(c):>11}"
              f"{mape(errors(fitted, c)):>10.1f}%{mape(errors(off, both)):>10.1f}%"
              f"{mape(errors(shipped, both)):>13.1f}%")  # fmt: skip
    print("  whole Mixtral-8x7B layers, CUDA graph (never fitted): measured, engine with the")
    print("  fields off, engine as shipped")
    errs_off, errs_on = [], []
    for label, groups, meas in layer_rows(rows):
        p_off, p_on = predict_layer(off, groups), predict_layer(shipped, groups)
        errs_off.append(p_off / meas - 1)
        errs_on.append(p_on / meas - 1)
        print(f"    {label:<16}{meas * 1e6:>9.1f} us{p_off * 1e6:>9.1f}{errs_off[-1]:>+8.1%}"
              f"{p_on * 1e6:>9.1f}{errs_on[-1]:>+8.1%}")  # fmt: skip
    for phase in ("prefill", "decode"):
        sel = [i for i, (label, _, _) in enumerate(layer_rows(rows)) if label.startswith(phase)]
        print(f"  {phase}: MAPE off {mape([errs_off[i] for i in sel]):.1f}%, "
              f"shipped {mape([errs_on[i] for i in sel]):.1f}%")  # fmt: skip
    print_eager(rows)
    print("  TOML: " + ", ".join(f"{k} = {getattr(fitted, k)}" for k in FIELDS))


if __name__ == "__main__":
    main()
