"""Energy checks the fit never sees: whole layers through the engine, and lent boards compared.

Used by `benchmarks/calibrate_energy.py` (which prints them); split off because these checks
are about the data and the engine, not about fitting. Three H100 boards were measured with the
same method (`benchmarks/gpu/measure_energy.py` or `measure_outliers.py`: one CUDA graph replayed
for ~1.2 s, NVML board energy per repetition). Each board was measured once, so a difference
between two boards is board-to-board and run-to-run variation together.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Protocol

import numpy as np

from xcompass.hardware.targetfile import preset
from xcompass.hardware.targets import Target

# the columns that name one measured case (same shapes on two boards = same key)
CASE = ("kind", "name", "m", "n", "k", "batch", "q_len", "kv_len", "tokens")


class Fit(Protocol):
    """The fitted energy terms (calibrate_energy.EnergyFit)."""

    static_w: float
    pj_per_mac: float
    dram_pj_per_bit: float
    sram_pj_per_bit: float
    idle_w: float


def with_fit(target: Target, fit: Fit) -> Target:
    """The target with the fitted energy terms (whatever its TOML says today)."""
    kinds = tuple(
        dataclasses.replace(k, pj_per_mac=fit.pj_per_mac, sram_pj_per_bit=fit.sram_pj_per_bit,
                            static_w=fit.static_w, idle_w=fit.idle_w)
        for k in target.kinds
    )  # fmt: skip
    drams = tuple(dataclasses.replace(d, pj_per_bit=fit.dram_pj_per_bit) for d in target.drams)
    return dataclasses.replace(target, kinds=kinds, drams=drams)


def _err(pred: float, meas: float) -> float:
    return (pred - meas) / meas


def mean_max(values: list[float]) -> str:
    """`mean |x| (the x of largest magnitude)`: a group's figure and its worst row."""
    if not values:
        return "-"
    worst = max(values, key=abs)
    return f"{100 * float(np.mean(np.abs(values))):.1f}% ({worst:+.1%})"


def layer_group(row: dict[str, str]) -> str:
    """`llama3-8b decode`: the model and the phase of a layer row (the target's layer groups)."""
    model, phase = row["name"].rsplit("_", 1)
    return f"{model} {phase}"


def layer_check(fit: Fit, target_name: str, rows: list[dict[str, str]]) -> list[float]:
    """Whole layers measured on the board, predicted by the engine on one GPU of the target;
    prints each row, then each layer group's mean |error| and worst row. Returns the engine's
    errors, one per row."""
    from xcompass.engine.context import EvalContext
    from xcompass.engine.mapping import make_groups
    from xcompass.engine.schedule import evaluate
    from xcompass.layer.layercost import build_cost_table, layer_ops
    from xcompass.model.models import preset as model_preset
    from xcompass.model.workload import one_microbatch_per_group, parse_spec

    target = with_fit(preset(target_name), fit)
    print(f"  whole layers (never fitted; the engine with the fitted values: layer_ops of a "
          f"RoPE-free layer, as measured, on one GPU of '{target_name}')")  # fmt: skip
    print(f"  {'layer':<34}{'meas us':>9}{'pred us':>9}{'meas mJ':>10}{'pred mJ':>10}{'err':>8}"
          f"{'with meas t':>13}{'err':>8}")  # fmt: skip
    errs, errs_t = [], []
    for r in rows:
        model = dataclasses.replace(model_preset(r["name"].rsplit("_", 1)[0]), rope=False)
        q, kv, batch = int(r["q_len"]), int(r["kv_len"]), int(r["batch"])
        spec = f"prefill:{q}" if kv == q else f"decode:{kv - q}x{batch}"
        workload = one_microbatch_per_group(parse_spec(spec))
        table = build_cost_table(model, workload, target, (1,), ops=layer_ops(model))
        ctx = EvalContext(table, make_groups(target, (1,)), target, 1)
        res = evaluate(ctx, np.zeros((1, 0), dtype=bool), np.zeros((1, 1, 1), dtype=np.int64))
        t_pred, e_pred = float(res.latency_s[0]), float(res.energy_j[0])
        static = float(res.parts["static"][0]) if res.parts and "static" in res.parts else 0.0
        e_meas_t = e_pred - static + fit.static_w * float(r["us_per_rep"]) * 1e-6
        meas = float(r["joules_per_rep"])
        errs.append(_err(e_pred, meas))
        errs_t.append(_err(e_meas_t, meas))
        label = f"{r['name']} {spec}"
        head = f"  {label:<34}{float(r['us_per_rep']):>9.1f}{t_pred * 1e6:>9.1f}{meas * 1e3:>10.2f}"
        tail = f"{e_meas_t * 1e3:>13.2f}{errs_t[-1]:>+8.1%}"
        print(f"{head}{e_pred * 1e3:>10.2f}{errs[-1]:>+8.1%}{tail}")
    mape = lambda v: f"{100 * float(np.mean(np.abs(v))):.1f}%"  # noqa: E731
    print(f"  layers: MAPE {mape(errs)} (engine), {mape(errs_t)} (measured time)")
    head = f"{'rows':>5}{'engine':>18}{'measured time':>18}"
    print(f"  layer groups, mean |error| (worst row): {head}")
    groups = list(dict.fromkeys(layer_group(r) for r in rows))
    for g in groups:
        idx = [i for i, r in enumerate(rows) if layer_group(r) == g]
        engine, timed = mean_max([errs[i] for i in idx]), mean_max([errs_t[i] for i in idx])
        print(f"    {g:<37}{len(idx):>5}{engine:>18}{timed:>18}")
    return errs


def _ratios(a: dict, b: dict, keys: list) -> tuple[np.ndarray, np.ndarray]:
    """(time ratios, energy ratios) of b over a, one per case."""
    t = np.array([float(b[k]["us_per_rep"]) / float(a[k]["us_per_rep"]) for k in keys])
    j = np.array([float(b[k]["joules_per_rep"]) / float(a[k]["joules_per_rep"]) for k in keys])
    return t, j


def _spread(x: np.ndarray) -> str:
    d = x - 1.0
    span = f"{d.min():+.1%}..{d.max():+.1%}"
    return f"mean {d.mean():+.1%}, mean |diff| {np.abs(d).mean():.1%}, {span}"


def compare_boards(boards: list[tuple[str, Path, list[dict[str, str]]]]) -> None:
    """Every case two boards share, the later board over the first: time and energy per
    repetition (kernels and layers apart), then each layer case's energy on every board."""
    keyed = [(name, {tuple(r[c] for c in CASE): r for r in rows}) for name, _, rows in boards]
    (first, a), (last, b) = keyed[0], keyed[-1]
    idle = ", ".join(f"{n} {np.mean([float(r['idle_w']) for r in rs]):.1f}" for n, _, rs in boards)
    print(f"  boards ({', '.join(f'{n}: {p.name}' for n, p, _ in boards)}); idle W: {idle}")
    shared = [k for k in b if k in a]
    print(f"  boards compared case by case ({last} / {first}, same shapes):")
    for label, keys in (
        ("kernels", [k for k in shared if k[0] != "layer"]),
        ("layers", [k for k in shared if k[0] == "layer"]),
    ):
        t, j = _ratios(a, b, keys)
        print(f"    {label:<8}({len(keys):>2}) time   {_spread(t)}")
        print(f"    {'':<8}     energy {_spread(j)}")
    names = "".join(f"{n:>12}" for n, _ in keyed)
    print("  layer energy per board, mJ (the same layer, the same method):")
    print(f"    {'layer':<32}{names}{'max/min':>9}")
    for k in shared:
        if k[0] != "layer":
            continue
        mj = [float(rows[k]["joules_per_rep"]) * 1e3 if k in rows else None for _, rows in keyed]
        have = [v for v in mj if v is not None]
        cells = "".join(f"{v:>12.2f}" if v is not None else f"{'-':>12}" for v in mj)
        label = f"{k[1]} b={k[5]} kv={k[7]}"
        print(f"    {label:<32}{cells}{max(have) / min(have) - 1:>+9.1%}")
