"""Fit the communication model (`[network]` of the GPU presets) and report the error per size.
The eager host's `launch_us` is fitted by `calibrate_eager.py` (the host-queue model).

Run: `python benchmarks/calibrate_comm.py` (also `python benchmarks/run.py calibrate_comm`).
It prints the fitted values to paste into `xcompass/data/targets/*.toml`; the shipped
`hgx-h200x2` network is exactly what `fit_network()` returns (test/unit/test_comm.py checks).

Data (NCCL 2-GPU sweeps on NVLink-connected H200s, bf16, slowest rank, median of 20-30):
- `../shared/data/h200x2_communication_graph.csv`: all-reduce and send/recv of 1 KiB..1 GiB;
  ops_per_graph 16 (4 for the largest sizes) = back to back inside one CUDA graph, per-op time
  (the steady state a decode step sees): the **graph** mode; ops_per_graph 0 = barrier + host
  sync before each op: the **eager** mode; ops_per_graph 1 (graph launch included) is shown
  for reference only.
- `../shared/data/h200x2_communication.csv`: the older eager sweep (a second eager check).
- `benchmarks/data/h200x4_communication_graph.csv` (when present): the same sweep on a 4-GPU
  H200 host at world 2 and 4: a check of the group-size law, then the fit of its per-step
  latencies (the 8-GPU presets are a prediction from it).

Method. Sizes alternate between fit rows (1 KiB, 16 KiB, ..., 1 GiB: even powers of 4) and check
rows (4 KiB, 64 KiB, ...); every fit minimises the squared *relative* error, so microsecond
latencies and millisecond transfers weigh the same.
- Point-to-point: time = latency + bytes / link_gbs. Graph rows give both; eager rows give only
  the eager latency (the links do not get faster when the host synchronises: bandwidth shared).
- All-reduce over n members, NCCL's ring as NCCL's own tuner models it (src/graph/tuning.cc):
  f = 2(n-1)/n of the bytes crosses each member's link, latency = base + 2(n-1) x per-step; two
  protocols, the faster one wins (NCCL picks by the same model):
    small (LL)    = A + 2(n-2) s       + f S / (LL_FRACTION x B)
    bulk (Simple) = A + C + 2(n-2) s_b + f S / B
  LL_FRACTION = 0.5 (NCCL: "busBw * .5" for ring LL: 8-byte stores carry 4 data bytes + flag) and
  C = 7.4 us (NCCL's tuner: Simple ring 8.4 + 2 x 3.4 us minus LL ring 6.6 + 2 x 0.6 us at two
  ranks on NVLink) are fixed; A (per mode) and B are fitted on the world-2 rows.
  Group size: s, s_b are NCCL's NVLink ring per-step latencies (LL 0.6 us, Simple 3.4 us) until
  world-4 rows exist; then they are fitted on the world-4 graph rows (everything else fixed).
  Bus bandwidth B does not depend on n on an NVSwitch (each GPU drives its own 18 links; NCCL
  maintainers report 365-370 GB/s ring busbw for 2..8 H100s, NVIDIA/nccl#1455, nccl-tests#212).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data"
GRAPH_CSV = SHARED / "h200x2_communication_graph.csv"
EAGER_CSV = SHARED / "h200x2_communication.csv"
X4_CSV = HERE / "data" / "h200x4_communication_graph.csv"

LL_FRACTION = 0.5  # NCCL tuning.cc: ring LL bus bandwidth = busBw * .5
BULK_EXTRA_US = 7.4  # NCCL tuning.cc, 2 ranks on NVLink: (8.4 + 2*3.4) - (6.6 + 2*0.6)
NCCL_STEP_US = 0.6  # NCCL tuning.cc hwLat[NVLINK][RING][LL]: per ring step
NCCL_BULK_STEP_US = 3.4  # hwLat[NVLINK][RING][SIMPLE]


# --- data -------------------------------------------------------------------------------------


def load(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        sys.exit(
            f"calibrate_comm.py: error: {path} not found (shared/ must sit beside the project)"
        )
    with path.open() as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def series(
    rows: list[dict[str, str]], kind: str, mode: str, world: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, median us) of one collective in one mode, sorted by size. graph: the
    back-to-back-in-one-graph rows (ops_per_graph > 1); eager: ops_per_graph 0; `one`: one op
    per graph replay (graph launch included). The older eager file has no ops_per_graph."""

    def wanted(r: dict[str, str]) -> bool:
        opg = int(r.get("ops_per_graph") or 0)
        return {"graph": opg > 1, "eager": opg == 0, "one": opg == 1}[mode]

    pts = sorted(
        (int(r["bytes"]), float(r["median_us"]))
        for r in rows
        if r["kind"] == kind and int(r.get("world") or 2) == world and wanted(r)
    )
    return np.array([p[0] for p in pts], dtype=float), np.array([p[1] for p in pts])


def fit_mask(n: int) -> np.ndarray:
    """Fit on every other size (the first, third, ...), check on the others."""
    return np.arange(n) % 2 == 0


# --- fits -------------------------------------------------------------------------------------


def _intercept(t: np.ndarray, g: np.ndarray) -> float:
    """The a minimising sum(((a + g - t) / t)^2)."""
    w = 1.0 / t**2
    return float(np.sum(w * (t - g)) / np.sum(w))


def _line(size: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """(latency us, GB/s) of latency + bytes / bandwidth, relative least squares."""
    a = np.stack([np.ones_like(size), size], 1) / t[:, None]
    (lat, inv), *_ = np.linalg.lstsq(a, np.ones_like(t), rcond=None)
    return float(lat), float(1e-3 / inv)  # bytes/us -> GB/s


def bus(bw2: float, world: int, peak: float | None = None) -> float:
    """Bus bandwidth (GB/s) at `world` members: bw2 at 2, tending to `peak` (comm.bus_gbs)."""
    peak = bw2 if peak is None else max(peak, bw2)
    return peak - (peak - bw2) * 2.0 / max(world, 2)


def ar_shape(size: np.ndarray, bw2: float, world: int = 2, step: float = 0.0,
             bulk_step: float = 0.0, peak: float | None = None) -> np.ndarray:  # fmt: skip
    """All-reduce time minus the 2-member latency A (us), both protocols, NCCL's ring."""
    moved = 2.0 * (world - 1) / world * size
    bw = bus(bw2, world, peak) * 1e3  # bytes per us
    extra = 2.0 * (world - 2)
    small = extra * step + moved / (LL_FRACTION * bw)
    bulk = BULK_EXTRA_US + extra * bulk_step + moved / bw
    return np.minimum(small, bulk)


def fit_allreduce_graph(size: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """(A us, bus GB/s): a fine grid over the bandwidth, A in closed form for each."""
    best = (np.inf, 0.0, 0.0)
    for bw in np.arange(100.0, 600.0, 0.1):
        g = ar_shape(size, bw)
        a = _intercept(t, g)
        err = float(np.sum(((a + g - t) / t) ** 2))
        if err < best[0]:
            best = (err, a, float(bw))
    return best[1], best[2]


def fit_law(size: np.ndarray, t: np.ndarray, a: float, bw2: float, world: int):  # noqa: ANN201
    """(step us, bulk step us, peak GB/s) of the group-size law, grid-searched on the rows of
    one larger world with the 2-member latency A and bandwidth fixed (vectorised grid)."""
    steps = np.arange(0.0, 3.0, 0.01)[:, None, None]
    bulk_steps = np.arange(0.0, 8.0, 0.05)[None, :, None]
    moved = 2.0 * (world - 1) / world * size[None, None, :]
    extra = 2.0 * (world - 2)
    best = (np.inf, 0.0, 0.0, bw2)
    for peak in np.arange(bw2, bw2 + 200.0, 0.5):
        bw = bus(bw2, world, peak) * 1e3
        small = a + extra * steps + moved / (LL_FRACTION * bw)
        bulk = a + BULK_EXTRA_US + extra * bulk_steps + moved / bw
        err = np.sum(((np.minimum(small, bulk) - t) / t) ** 2, axis=2)
        i, j = np.unravel_index(np.argmin(err), err.shape)
        if err[i, j] < best[0]:
            best = (float(err[i, j]), float(steps[i, 0, 0]), float(bulk_steps[0, j, 0]), peak)
    return best[1], best[2], float(best[3])


def fit_network(path: Path = GRAPH_CSV, x4: Path = X4_CSV) -> dict[str, float]:
    """The `[network]` values (what the NVLink presets ship), rounded to the precision written
    in the TOML files: links, latencies and 2-member all-reduce from the world-2 sweep `path`;
    the group-size law (per-step latencies, peak bus bandwidth) from the world-4 rows of `x4`
    when that file exists, else NCCL's tuner steps and a bandwidth independent of n."""
    rows = load(path)
    out: dict[str, float] = {}
    size, t = series(rows, "p2p", "graph")
    m = fit_mask(len(size))
    lat, bw = _line(size[m], t[m])
    out["link_gbs"], out["latency_us"] = round(bw, 1), round(lat, 2)
    size, t = series(rows, "p2p", "eager")
    m = fit_mask(len(size))
    out["eager_latency_us"] = round(_intercept(t[m], size[m] / (out["link_gbs"] * 1e3)), 2)
    size, t = series(rows, "allreduce", "graph")
    m = fit_mask(len(size))
    a, bw = fit_allreduce_graph(size[m], t[m])
    out["allreduce_gbs"] = round(bw, 1)
    out["allreduce_small_fraction"] = LL_FRACTION
    out["allreduce_bulk_extra_us"] = BULK_EXTRA_US
    out["allreduce_latency_us"] = round(a, 2)
    size, t = series(rows, "allreduce", "eager")
    m = fit_mask(len(size))
    g = ar_shape(size[m], out["allreduce_gbs"])
    out["eager_allreduce_latency_us"] = round(_intercept(t[m], g), 2)
    step, bulk, peak = NCCL_STEP_US, NCCL_BULK_STEP_US, out["allreduce_gbs"]
    if x4.is_file():
        size, t = series(load(x4), "allreduce", "graph", world=4)
        m = fit_mask(len(size))
        step, bulk, peak = fit_law(size[m], t[m], out["allreduce_latency_us"], bw, 4)
    out["allreduce_step_us"] = round(step, 2)
    out["allreduce_bulk_step_us"] = round(bulk, 2)
    out["allreduce_peak_gbs"] = round(peak, 1)
    return out


def predict(net: dict[str, float], kind: str, mode: str, size: np.ndarray, world: int = 2,
            law: bool = True) -> np.ndarray:  # fmt: skip
    """Model time (us) from fitted values, the same formulas as xcompass/hardware/comm.py;
    law=False:
    NCCL's tuner steps and a bandwidth independent of n (the prediction before world 4)."""
    if kind == "p2p":
        lat = net["latency_us"] if mode == "graph" else net["eager_latency_us"]
        return lat + size / (net["link_gbs"] * 1e3)
    a = net["allreduce_latency_us"] if mode == "graph" else net["eager_allreduce_latency_us"]
    if not law:
        return a + ar_shape(size, net["allreduce_gbs"], world, NCCL_STEP_US, NCCL_BULK_STEP_US)
    return a + ar_shape(size, net["allreduce_gbs"], world, net["allreduce_step_us"],
                        net["allreduce_bulk_step_us"], net["allreduce_peak_gbs"])  # fmt: skip


# --- report -----------------------------------------------------------------------------------


def _table(title: str, size: np.ndarray, t: np.ndarray, pred: np.ndarray,
           mask: np.ndarray | None) -> np.ndarray:  # fmt: skip
    err = (pred - t) / t
    print(f"  {title}")
    print(f"    {'bytes':>11}{'measured_us':>13}{'model_us':>10}{'error':>8}")
    for i in range(len(size)):
        tag = "" if mask is None else ("  fit" if mask[i] else "  check")
        print(f"    {int(size[i]):>11}{t[i]:>13.1f}{pred[i]:>10.1f}{err[i]:>+8.1%}{tag}")
    if mask is None:
        print(f"    MAPE {np.mean(np.abs(err)):.1%}, max {np.max(np.abs(err)):.1%}")
    else:
        print(
            f"    MAPE fit rows {np.mean(np.abs(err[mask])):.1%}, check rows "
            f"{np.mean(np.abs(err[~mask])):.1%}, max {np.max(np.abs(err)):.1%}"
        )
    return err


def report_world2(net: dict[str, float]) -> None:
    rows = load(GRAPH_CSV)
    print("== world 2 (h200x2_communication_graph.csv): fit on alternate sizes ==")
    for kind in ("p2p", "allreduce"):
        for mode in ("graph", "eager"):
            size, t = series(rows, kind, mode)
            _table(f"{kind}, {mode}", size, t, predict(net, kind, mode, size), fit_mask(len(size)))
    size, t = series(rows, "allreduce", "graph")
    m = fit_mask(len(size))
    lat, bw = _line(size[m], t[m])
    err = (lat + size / (bw * 1e3) - t) / t
    print(
        f"  (one protocol instead, latency {lat:.2f} us + bytes / {bw:.1f} GB/s: MAPE fit rows "
        f"{np.mean(np.abs(err[m])):.1%}, check {np.mean(np.abs(err[~m])):.1%}, max "
        f"{np.max(np.abs(err)):.1%} at {int(size[np.argmax(np.abs(err))])} B)"
    )
    for kind in ("p2p", "allreduce"):
        size, t = series(rows, kind, "one")
        err = (predict(net, kind, "graph", size) - t) / t
        print(
            f"  {kind}, one op per graph replay (graph launch included, not a mode): graph model "
            f"{np.mean(err):+.1%} on average (small sizes {np.mean(err[:5]):+.1%})"
        )
    if EAGER_CSV.is_file():
        old = load(EAGER_CSV)
        for kind in ("p2p", "allreduce"):
            size, t = series(old, kind, "eager")
            _table(f"{kind}, eager, older sweep (h200x2_communication.csv, not fitted)", size, t,
                   predict(net, kind, "eager", size), None)  # fmt: skip


def report_worlds(net: dict[str, float]) -> None:
    """World-4 check of the group-size law, then the law fitted on world 2 + 4."""
    if not X4_CSV.is_file():
        print(f"== world 4: {X4_CSV.name} not present; group-size law from NCCL's tuner ==")
        return
    rows = load(X4_CSV)
    print(f"== world 2 and 4 on the 4-GPU host ({X4_CSV.name}) ==")
    for kind in ("p2p", "allreduce"):
        size, t = series(rows, kind, "graph", world=2)
        _table(f"{kind}, graph, world 2 re-measured (model fitted on the shared file)", size,
               t, predict(net, kind, "graph", size), None)  # fmt: skip
    size, t = series(rows, "allreduce", "graph", world=4)
    _table("allreduce, graph, world 4: PREDICTED from world 2 + NCCL's tuner (steps 0.6 / 3.4 us,"
           " bus bandwidth independent of n)", size, t,
           predict(net, "allreduce", "graph", size, 4, law=False), None)  # fmt: skip
    m = fit_mask(len(size))
    print(
        f"  law fitted on world-4 graph rows (alternate sizes): step {net['allreduce_step_us']} "
        f"us, bulk step {net['allreduce_bulk_step_us']} us, peak bus "
        f"{net['allreduce_peak_gbs']} GB/s -> B(4) = "
        f"{bus(net['allreduce_gbs'], 4, net['allreduce_peak_gbs']):.1f} GB/s"
    )
    _table("allreduce, graph, world 4: law fitted on world 2 + 4", size, t,
           predict(net, "allreduce", "graph", size, 4), m)  # fmt: skip
    size, t = series(rows, "allreduce", "eager", world=4)
    _table("allreduce, eager, world 4 (eager latency + the graph-fitted law; not fitted)", size,
           t, predict(net, "allreduce", "eager", size, 4), None)  # fmt: skip
    size, t = series(rows, "p2p", "graph", world=4)
    _table("p2p, graph, world 4 (rank 0 -> 1 while the group holds 4)", size, t,
           predict(net, "p2p", "graph", size), None)  # fmt: skip


def report_world8(net: dict[str, float]) -> None:
    peak = net["allreduce_peak_gbs"]
    b = {n: bus(net["allreduce_gbs"], n, peak) for n in (2, 4, 8)}
    print(
        f"== prediction for 8 members: bus {b[8]:.1f} GB/s (2: {b[2]:.1f}, 4: {b[4]:.1f}), "
        f"latency {net['allreduce_latency_us'] + 12 * net['allreduce_step_us']:.1f} us =="
    )
    print(f"    {'bytes':>11}" + "".join(f"{f'n={n} us':>11}" for n in (2, 4, 8)))
    for size in (2**10, 2**14, 2**16, 2**20, 2**22, 2**24, 2**26, 2**28, 2**30):
        s = np.array([float(size)])
        cells = "".join(f"{predict(net, 'allreduce', 'graph', s, n)[0]:>11.1f}" for n in (2, 4, 8))
        print(f"    {size:>11}{cells}")


def main() -> None:
    net = fit_network()
    print("== fitted [network] (hgx-h200x2; shared by the H200/H100 NVLink presets) ==")
    for key, value in net.items():
        print(f"  {key} = {value}")
    report_world2(net)
    report_worlds(net)
    report_world8(net)


if __name__ == "__main__":
    main()
