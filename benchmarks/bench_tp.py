"""Tensor-parallel fidelity: one Megatron-sharded decoder layer (tp = 1, 2, 4) on H200s, predicted
through the real pipeline (import -> PYTORCH_LOWERING -> llm-partition{strategy=tensor tp=N} ->
map-cost in graph and eager mode) against layers this project measured on the lent 4-GPU H200
host (benchmarks/data/h200_tp_layers.csv, from benchmarks/gpu/measure_tp_layer.py). Nothing was
fitted to the CUDA-graph figures: the GEMM/attention figures come from the single-H200 sweep, the
all-reduce law from the NCCL sweeps (benchmarks/calibrate_comm.py). Eager mode's host queue
(xcompass/engine/hostqueue.py: `launch_us`, `collective_launch_us` of the H200 presets) was fitted
on the
even rows of this file and of h200_pipeline.csv (benchmarks/calibrate_eager.py); the odd rows
are its check.

The measured layer is RoPE-free (two RoPE kernels fewer than the model's Llama layer) and is timed
as the slowest rank's median with cold L2; both all-reduces of [tokens, hidden] are inside it."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

from xcompass.passes import PYTORCH_LOWERING
from xcompass.tools.importer import build_module
from xcompass.tools.universe import XCOMPASS_UNIVERSE
from xdsl.context import Context
from xdsl.passes import PassPipeline

from xcompass.model.models import preset
from xcompass.model.workload import Workload, build_workload, parse_spec

HERE = Path(__file__).resolve().parent
TARGETS = {1: "h200", 2: "hgx-h200x2", 4: "hgx-h200x4", 8: "hgx-h200x8"}


def _context() -> Context:
    ctx = Context()
    for name, dialect in XCOMPASS_UNIVERSE.all_dialects.items():
        ctx.register_dialect(name, dialect)
    return ctx


def latency_us(
    model: str, workload: Workload, layers: int, target: str, strategy: str, mode: str
) -> float:
    """The mapping's latency (us) through the real passes: PYTORCH_LOWERING, llm-partition
    with `strategy`, map-cost in `mode`."""
    module = build_module(preset(model), workload, layers=layers, target=target)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        pipeline = PassPipeline.parse_spec(
            XCOMPASS_UNIVERSE.all_passes,
            f"{PYTORCH_LOWERING},llm-partition{{strategy={strategy}}},"
            f'map-cost{{report="{report}" mode={mode}}}',
        )
        pipeline.apply(_context(), module)
        return json.loads(report.read_text())["latency_s"] * 1e6


def predict(model: str, spec: str, tp: int, mode: str) -> float:
    """Predicted layer time (us) of one tensor-parallel layer."""
    strategy = "single" if tp == 1 else f"tensor tp={tp}"
    workload = build_workload(parse_spec(spec), None)
    return latency_us(model, workload, 1, TARGETS[tp], strategy, mode)


def main() -> None:
    rows = list(csv.DictReader((HERE / "data" / "h200_tp_layers.csv").open()))
    print("== tensor-parallel layers on H200s: prediction vs measurement (graph never fitted) ==")
    print(
        f"  {'model':<11}{'tp':>3} {'workload':<16}{'meas graph':>11}{'pred':>9}{'err':>8}"
        f"{'meas eager':>12}{'pred':>9}{'err':>8}"
    )
    errs: dict[tuple[str, int], list[float]] = {}
    halves: dict[bool, list[float]] = {True: [], False: []}  # eager, fit (even) / check rows
    for i, r in enumerate(rows):
        tp, batch, q, kv = int(r["tp"]), int(r["batch"]), int(r["q_len"]), int(r["kv_len"])
        spec = f"prefill:{q}" if r["phase"] == "prefill" else f"decode:{kv - 1}x{batch}"
        line = f"  {r['model']:<11}{tp:>3} {spec:<16}"
        for mode, col in (("graph", "graph_us"), ("eager", "eager_us")):
            meas, pred = float(r[col]), predict(r["model"], spec, tp, mode)
            err = (pred - meas) / meas
            errs.setdefault((mode, tp), []).append(abs(err))
            if mode == "eager":
                halves[i % 2 == 0].append(abs(err))
            line += f"{meas:>11.1f}{pred:>9.1f}{err:>+8.1%}" + (" " if mode == "graph" else "")
        print(line)
    for mode in ("graph", "eager"):
        parts = [
            f"tp={tp}: {sum(e) / len(e):.1%} (max {max(e):.1%})"
            for (m, tp), e in sorted(errs.items())
            if m == mode
        ]
        print(f"  mean |error|, {mode}: " + ", ".join(parts))
    fit, check = halves[True], halves[False]
    print(f"  eager, fit rows {sum(fit) / len(fit):.1%}, check rows {sum(check) / len(check):.1%}")


if __name__ == "__main__":
    main()
