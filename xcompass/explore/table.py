"""The results table `xcompass explore` prints (and `xcompass report` reprints): the answer
against every method's best and the lower bound, from a report's `search` section alone.

Rows: "found" is the answer, the best mapping any method evaluated, named after the method that
found it, with a one-line summary of its layout under it; then every other method's best (the
searched method's too when a baseline beat it), a line for a method that found no mapping
(saying why), and the bound. Columns: mean latency, energy and EDP over the training request
batches (the module's step when there are none), throughput (tokens per step / latency), and
two comparisons on the objective with one sign convention whatever the objective: "found %
better" (how much better the answer is than that row: lower EDP, latency or energy, higher
throughput; positive = better) and "bound % better" (how much better the lower bound is than
that row: the most that row could still gain). With test batches, the objective on batches the
search never saw.
"""

from __future__ import annotations

from typing import Any

from xcompass.search import registry
from xcompass.search.objectives import SERVING_OBJECTIVES, better

PARETO_NOTE = ", lowest EDP"


def label(name: str) -> str:
    return registry.label(name)


def _pct(x: float | None) -> str:
    if x is None or x != x:  # None or NaN
        return "-"
    return f"{x * 100:+.1f}%"


def _answer(search: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(finder, figures) of the answer; a report from before the shared archive names the
    searched method's best."""
    answer = search.get("answer")
    if answer is None:
        return search["searched"], search["methods"][search["searched"]]
    return answer["method"], answer


SERVING_NOTE = {
    "goodput": "goodput: requests per second that meet both SLOs over the window's makespan",
    "capacity": "capacity: the highest arrival rate (the window replayed faster or slower) at "
    "which\nTTFT p90 and TBT p99 meet their SLOs",
}
SERVING_WHERE = (
    "train = the window every method scored mappings on, test = the later window none of\n"
    "them saw; TTFT p90, TBT p99 and SLOs (met or missed) are of the training window's run "
    "at its\nown rate."
)


def _serving_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """`--objective goodput|capacity`: each method's best mapping served on the training
    window (what it was scored by) and on the test window; "found % better" and "bound %
    better" on the training window's figure, one sign convention (positive = better)."""
    search = report["search"]
    what = "capacity" if search["objective"] == "capacity" else "goodput"
    methods, failed = search["methods"], search.get("failed", {})
    finder, found = _answer(search)
    bound = search["lower_bound"]["objective"]
    header = [
        "method",
        f"train {what} req/s",
        "TTFT p90 ms",
        "TBT p99 ms",
        "SLOs",
        f"test {what} req/s",
        "found % better",
        "bound % better",
    ]

    def figures(m: dict[str, Any]) -> list[str]:
        sv = m.get("serving") or {}
        train, test = sv.get("train", {}), sv.get("test", {})
        if not train.get("feasible", False):
            return [f"{-m['score']:,.2f}" if m["score"] <= 0 else "-", "-", "-", "-", "-"]
        return [
            value(train),
            f"{train['ttft_p90_s'] * 1e3:,.0f}",
            f"{train['tbt_p99_s'] * 1e3:,.1f}",
            "met" if train["slo_met"] else "missed",
            value(test) if test.get("feasible") else "-",
        ]

    def value(f: dict[str, Any]) -> str:
        return ("≥" if f.get("capped") else "") + f"{f['value']:,.2f}"

    def vs_bound(score: float) -> str:
        return _pct(better(bound, score)) if bound not in (float("inf"), float("-inf")) else "-"

    rows = [[f"found ({label(finder)})", *figures(found), "-", vs_bound(found["score"])]]
    if found.get("layout"):
        rows.append(["", f"layout: {found['layout']}"])
    order = list(registry.REGISTRY)
    names = sorted([*methods, *failed], key=lambda n: order.index(n) if n in order else len(order))
    for name in names:
        if name in failed:
            rows.append([label(name), f"found no mapping: {failed[name]['note']}"])
            continue
        if name == finder:
            continue
        m = methods[name]
        text = label(name)
        if name == "standard" and search.get("best_standard"):
            text = f"{text} ({search['best_standard']})"
        rows.append(
            [text, *figures(m), _pct(better(found["score"], m["score"])), vs_bound(m["score"])]
        )
    if bound not in (float("inf"), float("-inf")):
        rows.append(["offered rate (upper bound)", f"{-bound:,.2f}", "-", "-", "-", "-", "-", "-"])
    return header, rows


def table_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (strings). A row of two cells is a line of words under its label
    (layout, a method that found nothing)."""
    search = report["search"]
    if search["objective"] in SERVING_OBJECTIVES:
        return _serving_rows(report)
    tokens = float(report.get("explore", {}).get("tokens_per_batch", report["tokens"]))
    methods, failed = search["methods"], search.get("failed", {})
    finder, found = _answer(search)
    bound = search["lower_bound"]["objective"]
    has_test = any("test_score" in m for m in methods.values())
    header = [
        "method",
        "latency ms",
        "energy J",
        "EDP J*s",
        "tok/s",
        "found % better",
        "bound % better",
    ]
    if has_test:
        header.append("test objective")

    def figures(m: dict[str, Any]) -> list[str]:
        return [
            f"{m['latency_s'] * 1e3:,.2f}",
            f"{m['energy_j']:,.4g}",
            f"{m['edp_js']:,.4g}",
            f"{tokens / m['latency_s']:,.0f}" if m["latency_s"] else "-",
        ]

    def test(m: dict[str, Any]) -> list[str]:
        if not has_test:
            return []
        t = m.get("test_score")
        return ["-" if t is None else f"{abs(t):,.4g}"]

    pareto = PARETO_NOTE if search["objective"] == "pareto" else ""
    rows = [
        [
            f"found ({label(finder)}{pareto})",
            *figures(found),
            "-",
            _pct(better(bound, found["score"])),
            *test(found),
        ]
    ]
    if found.get("layout"):
        rows.append(["", f"layout: {found['layout']}"])
    order = list(registry.REGISTRY)
    names = sorted([*methods, *failed], key=lambda n: order.index(n) if n in order else len(order))
    for name in names:
        if name in failed:
            rows.append([label(name), f"found no mapping: {failed[name]['note']}"])
            continue
        m = methods[name]
        if name == finder:
            continue
        text = label(name)
        if name == "standard" and search.get("best_standard"):
            text = f"{text} ({search['best_standard']})"
        rows.append(
            [
                text,
                *figures(m),
                _pct(better(found["score"], m["score"])),
                _pct(better(bound, m["score"])),
                *test(m),
            ]
        )
    b = search["lower_bound"]
    bound_row = [
        "lower bound",
        f"{b['latency_s'] * 1e3:,.2f}",
        f"{b['energy_j']:,.4g}",
        f"{b['edp_js']:,.4g}",
        f"{b['throughput_tok_s']:,.0f}",
        "-",
        "-",
    ]
    rows.append(bound_row + (["-"] if has_test else []))
    return header, rows


def format_rows(header: list[str], rows: list[list[str]]) -> str:
    full = [r for r in [header, *rows] if len(r) == len(header)]
    widths = [max(len(r[i]) for r in full) for i in range(len(header))]
    widths[0] = max([widths[0], *(len(r[0]) for r in rows)])

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        if len(cells) == 2:  # words under the label, not aligned to columns
            return f"{first}  {cells[1]}".rstrip()
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def headline(report: dict[str, Any]) -> str:
    """Two lines: what was mapped, and how it was searched."""
    ex, search = report.get("explore", {}), report["search"]
    method = label(search["searched"])
    evals = search["methods"][search["searched"]]["evaluations"]
    ran = [*search["methods"], *search.get("failed", {})]
    budgeted = [m for m in ran if m != search["searched"] and registry.spends(m)]
    same = ", every baseline the same" if budgeted else "; no baseline on this budget"
    first = ex.get("problem") or f"{report['model']} on {report['target']}"
    second = (
        f"objective {search['objective']}; {method} population {search['population']} x "
        f"{search['generations']} generations ({evals:,} evaluations{same}); "
        f"seed {search['seed']}; {ex.get('backend', 'in-process')}"
    )
    if "search_s" in ex:
        second += f"; search {ex['search_s']:.1f} s"
    serving = search.get("serving")
    if serving and serving.get("description"):
        second += f"\n{serving['description']}"
    return f"{first}\n{second}"


def results_table(report: dict[str, Any]) -> str:
    header, rows = table_rows(report)
    objective = report["search"]["objective"]
    note = ""
    if objective in SERVING_OBJECTIVES:
        note = f"\n{SERVING_NOTE[objective]};\n{SERVING_WHERE}\n"
        _, found = _answer(report["search"])
        cache = ((found.get("serving") or {}).get("test") or {}).get("cost_cache")
        if cache:
            note += (
                f"iteration costs (grid cache): on {cache['sampled']} iterations of the answer's "
                f"test run, within\n{cache['mean_abs_error']:.2%} of the exact engine (mean; max "
                f"{cache['max_abs_error']:.2%})\n"
            )
    return f"{headline(report)}\n\n{format_rows(header, rows)}\n{note}"
