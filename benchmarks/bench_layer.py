"""Whole-layer fidelity: the model's prediction for one Llama-3-8B layer on `h100` (through the
real pipeline: import -> PYTORCH_LOWERING (the kernels PyTorch runs in a CUDA graph: fused QKV
and gate+up GEMMs, separate norm/activation/add kernels, one flash-attention kernel) ->
llm-partition{single} -> map-cost) against layers this project measured on an H100
(benchmarks/data/h100_layers.csv, from benchmarks/gpu/measure_layer.py). The cost model was not
fitted to the CUDA-graph rows; in eager mode (`map-cost{mode=eager}`: the host queue of
xcompass/engine/hostqueue.py) `launch_us` was fitted on the even eager rows
(benchmarks/calibrate_eager.py), the odd ones are its check. The `unlowered` column is the same
IR costed before any lowering pass (graph mode)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from xcompass.passes import PYTORCH_LOWERING

HERE = Path(__file__).resolve().parent


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def predict(spec: str, mode: str = "graph") -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        imp = subprocess.run([_tool("xcompass"), "import", "--model", "llama3-8b", "--layers", "1",
                              "--workload", spec, "--target", "h100"], check=True,
                             capture_output=True, text=True)  # fmt: skip
        pipeline = (
            f"{PYTORCH_LOWERING},llm-partition{{strategy=single}},"
            f"map-cost{{report={report} mode={mode}}}"
        )
        subprocess.run([_tool("xcompass-opt"), "-p", pipeline],
                       input=imp.stdout, check=True, capture_output=True, text=True)  # fmt: skip
        r = json.loads(report.read_text())
        return r["latency_s"] * 1e6, r["unlowered"]["latency_s"] * 1e6


def main() -> None:
    rows = [
        r
        for r in csv.DictReader(
            line for line in (HERE / "data" / "h100_layers.csv").open() if not line.startswith("#")
        )
    ]
    measured: dict[tuple[str, str, str], dict[str, float]] = {}
    for r in rows:
        key = (r["phase"], r["batch"], r["tokens"], r["ctx"])
        measured.setdefault(key, {})[r["mode"]] = float(r["median_us"])
    print("== whole llama3-8b layer on h100: prediction vs measurement ==")
    head = f"  {'workload':<16}{'pred graph':>11}{'graph_us':>10}{'err':>8}"
    print(head + f"{'pred eager':>11}{'eager_us':>10}{'err':>8}{'unlowered_us':>14}")
    errs_graph, errs_eager = [], []
    for (phase, batch, tokens, ctx), m in measured.items():
        spec = f"prefill:{tokens}" if phase == "prefill" else f"decode:{ctx}x{batch}"
        p, unlowered = predict(spec)
        pe, _ = predict(spec, "eager")
        eg, ee = (p - m["cudagraph"]) / m["cudagraph"], (pe - m["eager"]) / m["eager"]
        errs_graph.append(abs(eg))
        errs_eager.append(abs(ee))
        line = f"  {spec:<16}{p:>11.1f}{m['cudagraph']:>10.1f}{eg:>+8.1%}"
        print(line + f"{pe:>11.1f}{m['eager']:>10.1f}{ee:>+8.1%}{unlowered:>14.1f}")
    n = len(errs_graph)
    fit, check = errs_eager[0::2], errs_eager[1::2]
    print(
        f"  mean |error| CUDA graph: {sum(errs_graph) / n:.1%}, max {max(errs_graph):.1%}; "
        f"eager: {sum(errs_eager) / n:.1%} (fit rows {sum(fit) / len(fit):.1%}, check rows "
        f"{sum(check) / len(check):.1%}), max {max(errs_eager):.1%}"
    )


if __name__ == "__main__":
    main()
