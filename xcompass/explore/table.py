"""The results table `xcompass explore` prints (and `xcompass report` reprints): the found
mapping against every baseline and the lower bound, from a report's `search` section alone.

Columns: mean latency, energy and EDP over the training request batches (the module's step when
there are none), throughput (tokens per step / latency), how much the found mapping improves
on that row's objective ("found vs it": lower EDP, latency or energy, higher throughput), and
how far the row is from the lower bound on the objective. With test batches, the objective on
batches the search never saw.
"""

from __future__ import annotations

from typing import Any

NAMES = {
    "ga": "found (GA)",
    "nsga2": "found (NSGA-II, lowest EDP)",
    "sa": "simulated annealing",
    "random": "random search",
    "standard": "best standard",
}
UNITS = {"edp": "EDP", "latency": "latency", "energy": "energy", "throughput": "throughput"}


def _pct(x: float | None, sign: bool = True) -> str:
    if x is None or x != x:  # None or NaN
        return "-"
    return f"{x * 100:+.1f}%" if sign else f"{x * 100:.1f}%"


def _objective_value(objective: str, m: dict[str, Any], tokens: float) -> float:
    return {
        "edp": m["edp_js"],
        "latency": m["latency_s"],
        "energy": m["energy_j"],
        "throughput": tokens / m["latency_s"] if m["latency_s"] else 0.0,
    }[objective]


def table_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (strings), first the found mapping, then each baseline, the bound."""
    search = report["search"]
    objective = "edp" if search["objective"] == "pareto" else search["objective"]
    tokens = float(report.get("explore", {}).get("tokens_per_batch", report["tokens"]))
    methods = search["methods"]
    found = methods[search["searched"]]
    bound = search["lower_bound"]
    f_val = _objective_value(objective, found, tokens)
    b_val = (
        bound["throughput_tok_s"]
        if objective == "throughput"
        else bound[{"edp": "edp_js", "latency": "latency_s", "energy": "energy_j"}[objective]]
    )
    has_test = any("test_score" in m for m in methods.values())
    header = [
        "method",
        "latency ms",
        "energy J",
        "EDP J*s",
        "tok/s",
        f"found vs it ({UNITS[objective]})",
        "above bound",
    ]
    if has_test:
        header.append("test objective")
    rows = []
    for name, m in methods.items():
        label = NAMES.get(name, name)
        if name == "standard" and search.get("best_standard"):
            label = f"{label} ({search['best_standard']})"
        value = _objective_value(objective, m, tokens)
        # the found mapping's objective relative to this row's
        relative = f_val / value - 1.0 if value else None
        versus = "-" if name == search["searched"] else _pct(relative)
        if objective == "throughput":
            above = _pct(1.0 - value / b_val if b_val else None, sign=False) + " below"
        else:
            above = _pct(value / b_val - 1.0 if b_val else None)
        row = [
            label,
            f"{m['latency_s'] * 1e3:,.2f}",
            f"{m['energy_j']:,.4g}",
            f"{m['edp_js']:,.4g}",
            f"{tokens / m['latency_s']:,.0f}" if m["latency_s"] else "-",
            versus,
            above,
        ]
        if has_test:
            t = m.get("test_score")
            row.append("-" if t is None else f"{abs(t):,.4g}")
        rows.append(row)
    bound_row = [
        "lower bound",
        f"{bound['latency_s'] * 1e3:,.2f}",
        f"{bound['energy_j']:,.4g}",
        f"{bound['edp_js']:,.4g}",
        f"{bound['throughput_tok_s']:,.0f}",
        "-",
        "-",
    ]
    rows.append(bound_row + (["-"] if has_test else []))
    return header, rows


def format_rows(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def headline(report: dict[str, Any]) -> str:
    """Two lines: what was mapped, and how it was searched."""
    ex, search = report.get("explore", {}), report["search"]
    method = "NSGA-II" if search["searched"] == "nsga2" else "GA"
    evals = search["methods"][search["searched"]]["evaluations"]
    first = ex.get("problem") or f"{report['model']} on {report['target']}"
    second = (
        f"objective {search['objective']}; {method} population {search['population']} x "
        f"{search['generations']} generations ({evals:,} evaluations, every baseline the same); "
        f"seed {search['seed']}; {ex.get('backend', 'in-process')}"
    )
    if "search_s" in ex:
        second += f"; search {ex['search_s']:.1f} s"
    return f"{first}\n{second}"


def results_table(report: dict[str, Any]) -> str:
    header, rows = table_rows(report)
    return f"{headline(report)}\n\n{format_rows(header, rows)}\n"
