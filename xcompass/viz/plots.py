"""The convergence plot (each method's best objective against evaluations spent, with the
best standard strategy and the lower bound as lines) and the Pareto plot (the latency-energy
front with every baseline and the bound's corner)."""

from __future__ import annotations

from typing import Any

from xcompass.viz.style import PALETTE, figure, save

LABELS = {
    "ga": "GA",
    "nsga2": "NSGA-II (EDP)",
    "sa": "simulated annealing",
    "random": "random search",
    "standard": "best standard",
}
AXIS = {
    "edp": "EDP (J*s)",
    "latency": "latency (s)",
    "energy": "energy (J)",
    "throughput": "throughput (tokens/s)",
}


def draw_convergence(report: dict[str, Any], stem: str) -> list[str]:
    conv = report["convergence"]
    objective = conv["objective"]
    sign = -1.0 if objective == "throughput" else 1.0  # scores of throughput are negative
    fig = figure(6.4, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    for i, (name, points) in enumerate(conv["methods"].items()):
        if name == "standard" or not points:
            continue
        xs = [p[0] for p in points]
        ys = [sign * p[1] for p in points]
        ax.step(xs, ys, where="post", label=LABELS.get(name, name), color=PALETTE[i], linewidth=1.4)
    if conv.get("standard") is not None:
        ax.axhline(
            sign * conv["standard"],
            color="0.35",
            linestyle="--",
            linewidth=1,
            label="best standard",
        )
    ax.axhline(
        sign * conv["lower_bound"],
        color="0.35",
        linestyle=":",
        linewidth=1,
        label="lower bound" + (" (upper)" if sign < 0 else ""),
    )
    values = [abs(p[1]) for pts in conv["methods"].values() for p in pts if p[1] == p[1]]
    if sign > 0 and values and min(values) > 0 and max(values) / min(values) > 4:
        ax.set_yscale("log")  # random search starts an order of magnitude above the rest
    ax.set_xlabel("evaluations")
    ax.set_ylabel(("best " if sign > 0 else "best ") + AXIS.get(objective, objective))
    ax.set_title(f"{report['model']} on {report['target']}: search convergence", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(color="0.92", linewidth=0.5)
    return save(fig, stem)


def draw_pareto(report: dict[str, Any], stem: str) -> list[str]:
    front = report.get("pareto") or []
    search = report["search"]
    fig = figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    if front:
        ax.plot(
            [p["latency_s"] * 1e3 for p in front],
            [p["energy_j"] for p in front],
            "o-",
            color=PALETTE[0],
            markersize=4,
            label="Pareto front (NSGA-II)",
        )
    for i, (name, m) in enumerate(search["methods"].items()):
        if name == search["searched"]:
            continue
        ax.plot(
            m["latency_s"] * 1e3,
            m["energy_j"],
            "s",
            color=PALETTE[1 + i],
            markersize=6,
            label=LABELS.get(name, name),
        )
    b = search["lower_bound"]
    ax.plot(
        b["latency_s"] * 1e3,
        b["energy_j"],
        "x",
        color="0.2",
        markersize=8,
        label="lower bound (latency, energy)",
    )
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("energy (J)")
    ax.set_title(f"{report['model']} on {report['target']}: latency-energy front", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(color="0.92", linewidth=0.5)
    return save(fig, stem)
