"""The serving simulator against a real continuous-batching loop (bench_serve's fidelity rows).

Ground truth: `benchmarks/gpu/measure_serving.py` on the lent H100 (Llama-3-8B shapes, a
Sarathi scheduler with budget 512 and 64 running requests, FlashAttention-2 varlen over KV
slabs, Azure conversation rows 2000-2399 at 1.25x), eager and graph-decode runs, plus fixed
compositions timed as CUDA graphs (`h100_serving_*.csv`; docs/serving-measurements.md).

1. Device time per composition: the engine (graph mode, `pytorch` lowering, which launches
   the loop's four GEMMs and one attention call per layer) against each composition's CUDA
   graph replay, with the varlen-GQA mechanism off and on.
2. Host model: `launch_us` and the jitter fitted on the even eager decode-only iterations
   (launch-bound: wall = issue + fixed), `replay_us` on the even graph-decode ones, `gap_us`
   (an eager kernel's device time beyond its graph replay) from the fixed compositions' eager
   and graph walls; checked per iteration on the odd ones (device from the engine, host from
   the fit): MAPE and mean signed error, per kind of step and over all of a mode's.
3. End to end: the measured requests (arrival, prompt, output) replayed through the simulator
   with the same policy; TTFT and TBT percentiles against the measured ones.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from xcompass.hardware.targetfile import load_target
from xcompass.serving import PolicyOptions, RequestStream, serving_setup, simulate
from xcompass.serving.cost_cache import serving_target
from xcompass.serving.host import HostModel
from xcompass.serving.replicas import replica_engine

DATA = Path(__file__).resolve().parent / "data"
LOOP = PolicyOptions("sarathi", token_budget=512, max_running=64)


def loop_kernels() -> tuple:
    """The measured loop's layer, kernel for kernel as measure_serving.py launches it: F.rms_norm
    as one kernel (torch.profiler's count, benchmarks/data/h100_small_eltwise.csv; the loop's
    other launches per layer, 24-29 in all by its counts, are cuBLAS's split-K reduces, timed
    inside the GEMMs), the fused QKV GEMM, RoPE as 5
    element-wise kernels per tensor (neg, cat, two muls, add: 10 passes of its width), two
    index_copy_ K/V writes, the varlen attention call, the O GEMM and residual add, the
    gate+up GEMM, SiLU and the product as two kernels, the down GEMM and residual add. Each
    is an op-level kernel costed with the h100 preset as it stands: a description of the
    program, nothing fitted."""
    from xcompass.cost.opcost import OpSpec
    from xcompass.layer.kernels import Kernel
    from xcompass.layer.layercost import layer_ops
    from xcompass.model.models import resolve_model

    ops = []
    for op in layer_ops(resolve_model("llama3-8b")):
        if op.name.endswith("norm"):
            op = dataclasses.replace(op, kernels=1)
        elif op.name.endswith("rope"):
            op = dataclasses.replace(op, tensors=10, kernels=5)
        ops.append(op)
        if op.name == "k_rope":
            ops.append(OpSpec("eltwise", "kv_write", width=1024, tensors=4, kernels=2))
    return tuple(Kernel(o.name, "op", (o.name,), "op-level", (), (), o.split, (o,)) for o in ops)


ATTENTION = {
    "dense": dict(attention_varlen=0.0, attention_mixed_unpacked=0.0),
    "unpacked": dict(attention_varlen=0.0),
    "varlen": dict(attention_varlen=2.0),
}
"""How the engine costs the loop's attention call: the dense kernel the `h100` attention
figures were fitted on (SDPA's cuDNN kernel); the same with `attention_mixed_unpacked` (the
previous release: a chunk in the call costs the decodes their GQA sharing); FlashAttention-2's
varlen kernel (the preset's `attention_varlen_*` fields, benchmarks/data/h100_attention.csv),
which the loop runs on every step: `attention_varlen = 2`, a description of the program like
its kernel list (the preset leaves it 0)."""


def _engine(attention: str = "varlen", layer: str = "loop"):  # noqa: ANN202
    target = load_target("h100")
    kinds = tuple(dataclasses.replace(k, **ATTENTION[attention]) for k in target.kinds)
    target = serving_target(dataclasses.replace(target, kinds=kinds))
    kernels = loop_kernels() if layer == "loop" else layer
    setup = serving_setup("llama3-8b", target, strategy="single", kernels=kernels)
    rep = setup.replicas[0]
    engine = replica_engine(
        setup.model, setup.target, setup.kernels, setup.mapping, setup.groups, rep, "graph"
    )
    return setup, engine


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, newline="") as handle:
        return list(csv.DictReader(handle))


def _step(decode_ctx: str, chunks: str) -> list[tuple[int, int, int, str]]:
    step = [(1, int(c), 1, "d") for c in decode_ctx.split(";") if c]
    for pair in (p for p in chunks.split(";") if p):
        q, h = (int(x) for x in pair.split(":"))
        step.append((q, h, 1, "c" if h else "p"))
    return step


def _mape(pred: np.ndarray, meas: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - meas) / meas)) if len(meas) else float("nan")


def compositions() -> list[tuple[str, float, float, float, float]]:
    """(composition, measured graph ms, engine ms with each attention of ATTENTION)."""
    engines = [_engine(a)[1] for a in ATTENTION]
    out = []
    for r in _rows("h100_serving_kernels.csv"):
        step = []
        if int(r["n_decode"]):
            step.append((1, int(r["decode_ctx"]), int(r["n_decode"]), "d"))
        if int(r["n_prefill"]):
            h = int(r["chunk_history"])
            step.append((int(r["chunk"]), h, 1, "c" if h else "p"))
        out.append((r["comp"], float(r["graph_ms"]), *(e.cost([step])[0] * 1e3 for e in engines)))
    return out


def fit_host(rows: list[dict[str, str]], kernels: int) -> HostModel:
    """launch_us, jitter and fixed_us from the even eager decode-only iterations (launch-bound:
    host >= 0.9 x gpu), replay_us from the even graph-decode decode-only ones."""
    eager = [
        r
        for i, r in enumerate(rows)
        if i % 2 == 0 and r["mode"] == "eager" and not r["prefill_chunks"]
        and float(r["host_ms"]) >= 0.9 * float(r["gpu_ms"])  # launch-bound
    ]  # fmt: skip
    fixed = float(np.median([float(r["wall_ms"]) - float(r["gpu_ms"]) for r in eager]))
    issue = np.array([float(r["wall_ms"]) - fixed for r in eager])
    launch = float(np.median(issue)) / kernels * 1e3
    log = np.log(issue)
    jitter = float((np.percentile(log, 90) - np.median(log)) / 1.2816)
    graph = [r for i, r in enumerate(rows) if i % 2 == 0 and r["mode"] == "graph-decode"
             and not r["prefill_chunks"]]  # fmt: skip
    replay = float(np.median([float(r["wall_ms"]) - float(r["gpu_ms"]) for r in graph])) * 1e3
    return HostModel(launch_us=launch, fixed_us=fixed * 1e3, replay_us=replay, jitter=jitter,
                     gap_us=eager_gap_us())  # fmt: skip


def eager_gap_us() -> float:
    """The device's time per kernel of an eager step beyond its CUDA graph, where the GPU is
    the bottleneck: the fixed compositions whose eager host time is under 90% of their graph
    replay, (eager wall - graph wall) / kernels, median (measured; no engine figure in it)."""
    gaps = [
        (float(r["eager_wall_p50_ms"]) - float(r["graph_wall_ms"])) / int(r["n_kernels"]) * 1e3
        for r in _rows("h100_serving_kernels.csv")
        if r["graph_wall_ms"] and float(r["eager_host_ms"]) < 0.9 * float(r["graph_ms"])
    ]
    return float(np.median(gaps)) if gaps else 0.0


def iterations(host: HostModel, kernels: int) -> dict[str, tuple[float, float, int]]:
    """Per-iteration MAPE on the odd iterations (host without jitter: its median), per mode and
    kind of step."""
    from xcompass.serving.host import host_time

    _, engine = _engine()
    memo: dict[tuple, float] = {}
    rows = _rows("h100_serving_iterations.csv")
    groups: dict[str, tuple[list[float], list[float]]] = {}
    for i, r in enumerate(rows):
        if i % 2 == 0:
            continue
        step = _step(r["decode_ctx"], r["prefill_chunks"])
        key = tuple(step)
        if key not in memo:
            memo[key] = engine.cost([step])[0]
        mode = r["mode"]
        pred = host_time(mode, host, kernels, bool(r["prefill_chunks"]), memo[key], 0.0)
        kind = "mixed" if r["prefill_chunks"] else "decode-only"
        p, m = groups.setdefault(f"{mode} {kind}", ([], []))
        p.append(pred * 1e3)
        m.append(float(r["wall_ms"]))
    for mode in ("eager", "graph-decode"):  # every step of the mode
        p = [x for k, (ps, _) in groups.items() if k.startswith(mode + " ") for x in ps]
        m = [x for k, (_, ms) in groups.items() if k.startswith(mode + " ") for x in ms]
        groups[f"{mode} all"] = (p, m)
    return {
        k: (_mape(np.array(p), np.array(m)), float(np.mean(np.array(p) / np.array(m) - 1)), len(m))
        for k, (p, m) in groups.items()
    }


def measured_latencies(mode: str) -> tuple[RequestStream, np.ndarray, np.ndarray]:
    """The measured requests as a stream, their TTFTs and every inter-token gap."""
    rows = [r for r in _rows("h100_serving_requests.csv") if r["mode"] == mode]
    rows.sort(key=lambda r: float(r["arrival_s"]))
    arrival = np.array([float(r["arrival_s"]) for r in rows])
    stream = RequestStream(
        arrival - arrival[0],
        np.array([int(r["prompt"]) for r in rows]),
        np.array([int(r["output"]) for r in rows]),
        "h100_serving_requests.csv",
    )
    ttft = np.array([float(r["first_token_s"]) - float(r["arrival_s"]) for r in rows])
    gaps = []
    for r in rows:
        times = [float(r["first_token_s"])] + [float(t) for t in r["token_times_s"].split(";") if t]
        gaps += list(np.diff(times))
    return stream, ttft, np.array(gaps)


def _features(step: list[tuple[int, int, int, str]]) -> list[float]:
    dec = [s for s in step if s[3] == "d"]
    chunks = [s for s in step if s[3] != "d"]
    return [1.0, len(dec), sum(c for _, c, _, _ in dec) / 1e3, sum(q for q, *_ in chunks),
            sum(q * (h + q / 2) for q, h, _, _ in chunks) / 1e6, float(bool(chunks)),
            len(dec) * float(bool(chunks))]  # fmt: skip


def measured_device(mode: str):  # noqa: ANN201
    """A device-time model fitted (least squares) on the even measured iterations of `mode`:
    what the simulator's dynamics give when the iteration costs are right."""
    rows = [r for i, r in enumerate(_rows("h100_serving_iterations.csv"))
            if i % 2 == 0 and r["mode"] == mode]  # fmt: skip
    x = np.array([_features(_step(r["decode_ctx"], r["prefill_chunks"])) for r in rows])
    y = np.array([float(r["gpu_ms"]) for r in rows]) * 1e-3
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)

    def cost(microbatches: list) -> tuple[float, float]:
        step = [(q, h, 1, k) for mb in microbatches for _, q, h, k in mb]
        return float(np.dot(coef, _features(step))), 0.0

    return cost


def end_to_end(host: HostModel) -> list[tuple[str, str, str, float, float]]:
    """(mode, costs, metric, measured, simulated) for TTFT and TBT p50 / p90: with the engine's
    device times, and with device times fitted on the measured iterations themselves."""
    from xcompass.serving.simulator import Simulation

    setup, _ = _engine()
    out = []
    for mode in ("eager", "graph-decode"):
        stream, ttft, gaps = measured_latencies(mode)
        run = simulate(setup, stream, LOOP, execution=mode, host=host, max_context=4096)
        out += _compare(mode, "engine", run.outcome, ttft, gaps)
        wall = {
            "eager": lambda p, d: d + host.fixed_us * 1e-6,
            "graph-decode": lambda p, d: d + (host.fixed_us if p else host.replay_us) * 1e-6,
        }
        sim = Simulation(stream, setup.replicas, [measured_device(mode)], LOOP, host=wall[mode])
        out += _compare(mode, "fitted", sim.run(), ttft, gaps)
    return out


def _compare(mode: str, costs: str, o, ttft: np.ndarray, gaps: np.ndarray) -> list:  # noqa: ANN001
    out = []
    sim_ttft = o.first_token_s - o.arrival_s
    for name, meas, sim in (("TTFT", ttft, sim_ttft), ("TBT", gaps, o.gaps_s)):
        for pct in (50, 90):
            out.append((mode, costs, f"{name} p{pct}", float(np.percentile(meas, pct)),
                            float(np.percentile(sim, pct))))  # fmt: skip
    return out


def main() -> None:
    print("## serving fidelity: the H100 continuous-batching loop (benchmarks/data/h100_serving_*)")
    rows = compositions()
    print("\ndevice time per composition (CUDA graph of the loop's step vs engine, graph mode;")
    print("attention as the dense kernel, + mixed unpacking (previous release), as FA2 varlen):")
    print(f"{'composition':24s} {'measured':>9s} {'dense':>9s} {'error':>7s} {'unpacked':>9s}"
          f" {'error':>7s} {'varlen':>9s} {'error':>7s}")  # fmt: skip
    for comp, meas, *model in rows:
        cells = " ".join(f"{m:7.2f}ms {m / meas - 1:+7.1%}" for m in model)
        print(f"{comp:24s} {meas:7.2f}ms {cells}")
    for label, pick in (("decode-only", "decode"), ("mixed", "mixed"), ("prompt only", "prefill")):
        sel = [r for r in rows if r[0].startswith(pick)]
        meas = np.array([r[1] for r in sel])
        errs = [_mape(np.array([r[2 + i] for r in sel]), meas) for i in range(len(ATTENTION))]
        print(f"  MAPE {label}: " + " -> ".join(f"{e:.1%}" for e in errs))
    setup, _ = _engine()
    from xcompass.layer.layercost import kernels_of

    kernels = sum(kernels_of(k) for k in setup.kernels) * setup.model.layers + 3
    host = fit_host(_rows("h100_serving_iterations.csv"), kernels)
    print(f"\nhost model fitted on the even iterations ({kernels} launches per step): "
          f"launch_us {host.launch_us:.2f}, fixed_us {host.fixed_us:.0f}, replay_us "
          f"{host.replay_us:.0f}, jitter sigma {host.jitter:.3f}, eager gap_us {host.gap_us:.2f} "
          "(from the compositions' eager vs graph wall)")  # fmt: skip
    print("per-iteration error on the odd iterations (engine device time + fitted host):")
    for key, (mape, mean, n) in sorted(iterations(host, kernels).items()):
        print(f"  {key:24s} MAPE {mape:6.1%}, mean error {mean:+6.1%} ({n} iterations)")
    print("\nend to end: the measured requests replayed (sarathi, budget 512, 64 running):")
    print("(device times from the engine, or fitted on the measured iterations' even half)")
    print(f"{'mode':14s} {'device':8s} {'metric':9s} {'measured':>10s} {'simulated':>10s} "
          f"{'error':>7s}")  # fmt: skip
    for mode, costs, metric, meas, sim in end_to_end(host):
        print(f"{mode:14s} {costs:8s} {metric:9s} {meas * 1e3:8.1f}ms {sim * 1e3:8.1f}ms "
              f"{sim / meas - 1:+7.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
