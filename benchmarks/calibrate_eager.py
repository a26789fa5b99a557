"""Fit `launch_us` (the host's time to issue one kernel in eager mode,
`xcompass/engine/hostqueue.py`)
per machine, on half the eager rows, and check it on the other half.

Machines and rows (every eager figure this project measured; the prediction goes through the
real passes: import -> PYTORCH_LOWERING -> llm-partition -> the engine in eager mode):
- the lent H100 host (`h100` preset): single Llama-3-8B layers (benchmarks/data/h100_layers.csv,
  benchmarks/gpu/measure_layer.py) and chains of 1-8 layers, prefill and batched decode
  (benchmarks/data/h100_eager_chains.csv, benchmarks/gpu/measure_eager.py) where present;
- the lent 4-GPU H200 host (`h200`, `hgx-h200xN`): tensor-parallel layers tp = 1, 2, 4
  (benchmarks/data/h200_tp_layers.csv) and GPipe pipelines (benchmarks/data/h200_pipeline.csv).

Fit rows: the even rows of each file (in file order); check rows: the odd ones. `launch_us` is
a 0.1 us grid search for the least mean |relative error| over a machine's one-GPU fit rows,
then `collective_launch_us` (the host's time per NCCL all-reduce, send or receive) a 0.4 us
grid search over its multi-GPU fit rows (tensor-parallel layers, pipelines). Prints the
fitted value per machine and the mean |error| (signed mean) per file and half, the same for the
previous model (each kernel costs at least launch_us, 24.4 us) for comparison.

Usage: .venv/bin/python benchmarks/calibrate_eager.py [-v: every row]
"""

from __future__ import annotations

import csv
import dataclasses
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_tp import TARGETS, _context  # noqa: E402
from xcompass.passes import PYTORCH_LOWERING  # noqa: E402
from xcompass.passes.ir_bridge import read_mapping  # noqa: E402
from xcompass.tools.importer import build_module  # noqa: E402
from xcompass.tools.universe import XCOMPASS_UNIVERSE  # noqa: E402
from xdsl.passes import PassPipeline  # noqa: E402

from xcompass.engine.context import EvalContext  # noqa: E402
from xcompass.engine.schedule import evaluate_mapping  # noqa: E402
from xcompass.layer.kernels import layer_kernels  # noqa: E402
from xcompass.layer.layercost import build_cost_table  # noqa: E402
from xcompass.model.models import preset  # noqa: E402
from xcompass.model.workload import build_workload, parse_spec  # noqa: E402

GRID = np.round(np.arange(0.0, 40.01, 0.1), 1)


def _rows(name: str) -> list[dict[str, str]]:
    path = HERE / "data" / name
    if not path.exists():
        return []
    return list(csv.DictReader(x for x in path.read_text().splitlines() if not x.startswith("#")))


def cases() -> list[dict]:
    """Every eager row: machine, file, workload, layers, target, strategy, measured us."""
    out = []
    graph_h100 = {
        (r["phase"], r["tokens"], r["ctx"]): float(r["median_us"])
        for r in _rows("h100_layers.csv")
        if r["mode"] == "cudagraph"
    }
    for r in _rows("h100_layers.csv"):
        if r["mode"] != "eager":
            continue
        spec = (
            f"prefill:{r['tokens']}"
            if r["phase"] == "prefill"
            else f"decode:{r['ctx']}x{r['batch']}"
        )
        out.append(dict(host="h100", file="h100_layers", spec=spec, mbs=None, layers=1,
                        target="h100", strategy="single", meas=float(r["median_us"]),
                        graph=graph_h100[(r["phase"], r["tokens"], r["ctx"])]))  # fmt: skip
    for r in _rows("h100_eager_chains.csv"):
        spec = f"prefill:{r['q_len']}" if r["phase"] == "prefill" else f"decode:{r['ctx']}"
        if int(r["batch"]) > 1:
            spec += f"x{r['batch']}"
        out.append(dict(host="h100", file="h100_eager_chains", spec=spec, mbs=None,
                        layers=int(r["layers"]), target="h100", strategy="single",
                        meas=float(r["eager_us"]), graph=float(r["graph_us"])))  # fmt: skip
    for r in _rows("h200_tp_layers.csv"):
        tp, batch, q, kv = int(r["tp"]), int(r["batch"]), int(r["q_len"]), int(r["kv_len"])
        spec = f"prefill:{q}" if r["phase"] == "prefill" else f"decode:{kv - 1}x{batch}"
        out.append(dict(host="h200", file="h200_tp_layers", spec=spec, mbs=None, layers=1,
                        target=TARGETS[tp], model=r["model"],
                        strategy="single" if tp == 1 else f"tensor tp={tp}",
                        meas=float(r["eager_us"]), graph=float(r["graph_us"])))  # fmt: skip
    for r in _rows("h200_pipeline.csv"):
        pp, mbs, batch = int(r["pp"]), int(r["microbatches"]), int(r["batch"])
        n = batch * mbs
        spec = (
            f"prefill:{r['q_len']}" if r["phase"] == "prefill" else f"decode:{int(r['kv_len']) - 1}"
        )
        spec = spec if n == 1 else f"{spec}x{n}"
        out.append(dict(host="h200", file="h200_pipeline", spec=spec, mbs=mbs,
                        layers=int(r["layers"]), target=TARGETS[pp],
                        strategy="single" if pp == 1 else f"pipeline pp={pp}",
                        meas=float(r["eager_us"]), graph=float(r["graph_us"])))  # fmt: skip
    seen: dict[str, int] = {}
    for c in out:  # even / odd within each file
        c["fit"] = seen.get(c["file"], 0) % 2 == 0
        seen[c["file"]] = seen.get(c["file"], 0) + 1
    return out


def engine(case: dict):  # noqa: ANN201
    """(table, groups, target, layers, mapping) of a case through the real passes."""
    model = preset(case.get("model", "llama3-8b"))
    workload = build_workload(parse_spec(case["spec"]), case["mbs"])
    module = build_module(model, workload, layers=case["layers"], target=case["target"])
    PassPipeline.parse_spec(
        XCOMPASS_UNIVERSE.all_passes,
        f"{PYTORCH_LOWERING},llm-partition{{strategy={case['strategy']}}}",
    ).apply(_context(), module)
    placed = read_mapping(module, "calibrate_eager")
    p = placed.problem
    kernels = layer_kernels(p.layer.graph, p.layer.lowering)
    table = build_cost_table(p.model, p.workload, p.target, placed.groups.tp_options,
                             whole_model=p.whole_model, mode="eager", kernels=kernels)  # fmt: skip
    return table, placed.groups, p.target, p.layers, placed.mapping


def predict_us(setup, launch_us: float, collective_us: float | None = None) -> float:  # noqa: ANN001
    table, groups, target, layers, mapping = setup
    coll = launch_us if collective_us is None else collective_us
    kinds = tuple(
        dataclasses.replace(k, launch_us=launch_us, collective_launch_us=coll) for k in target.kinds
    )
    ctx = EvalContext(table, groups, dataclasses.replace(target, kinds=kinds), layers)
    return float(evaluate_mapping(ctx, mapping).latency_s[0]) * 1e6


def graph_us(setup) -> float:  # noqa: ANN001
    """The same mapping in graph mode (no host term, graph-mode collective latencies)."""
    table, groups, target, layers, mapping = setup
    ctx = EvalContext(dataclasses.replace(table, mode="graph"), groups, target, layers)
    return float(evaluate_mapping(ctx, mapping).latency_s[0]) * 1e6


def summary(cs: list[dict]) -> list[str]:
    """Per file and half: mean |error| (signed) of the eager time, and of eager / graph (the
    host model's own part: predicted eager / graph over measured eager / graph)."""
    lines = []
    for f in dict.fromkeys(c["file"] for c in cs):
        for half in (True, False):
            mine = [c for c in cs if c["file"] == f and c["fit"] == half]
            e = [c["pred"] / c["meas"] - 1 for c in mine]
            ratio = [(c["pred"] / c["pred_graph"]) / (c["meas"] / c["graph"]) - 1 for c in mine]
            if e:
                lines.append(
                    f"  {f:<18}{'fit' if half else 'check':<6} eager {np.mean(np.abs(e)):.1%} "
                    f"({np.mean(e):+.1%}), eager/graph {np.mean(np.abs(ratio)):.1%} "
                    f"({np.mean(ratio):+.1%}), n={len(e)}"
                )
    return lines


def _fit(cs: list[dict], curve: str) -> int:
    err = np.mean([np.abs(c[curve] / c["meas"] - 1) for c in cs if c["fit"]], axis=0)
    return int(np.argmin(err))


def main() -> None:
    cs = cases()
    for c in cs:
        c["setup"] = engine(c)
        c["multi"] = c["strategy"] != "single"  # NCCL collectives or send/recv
        c["pred_graph"] = graph_us(c["setup"])
    for host in ("h100", "h200"):
        mine = [c for c in cs if c["host"] == host]
        # launch_us on one-GPU rows, then collective_launch_us on the multi-GPU ones
        for c in mine:
            if not c["multi"]:
                c["curve"] = np.array([predict_us(c["setup"], h) for h in GRID])
        best = _fit([c for c in mine if not c["multi"]], "curve")
        launch = float(GRID[best])
        coll = launch
        tp_rows = [c for c in mine if c["multi"]]
        if tp_rows:
            for c in tp_rows:
                c["curve"] = np.array([predict_us(c["setup"], launch, h) for h in GRID * 4])
            coll = float(GRID[_fit(tp_rows, "curve")] * 4)
        for c in mine:
            c["pred"] = predict_us(c["setup"], launch, coll)
        print(f"== {host} host: launch_us = {launch} us, collective_launch_us = {coll:.1f} us ==")
        print("\n".join(summary(mine)))
        if "-v" in sys.argv:
            for c in mine:
                print(f"    {c['file']:<18}{c['target']:<11}{c['strategy']:<16}L={c['layers']:<2}"
                      f"{c['spec']:<18}{'fit' if c['fit'] else 'check':<6}{c['meas']:>10.1f}"
                      f"{c['pred']:>10.1f}{c['pred'] / c['meas'] - 1:>+8.1%}"
                      f"{c['graph']:>10.1f}{c['pred_graph']:>10.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
