# ruff: noqa: E501 (the table is wider than a line of code)
"""The results table, exactly: the answer named after the method that found it with its layout
under it, every other method, a method that found nothing as a row that says so, and one sign
convention (positive = better) for both comparisons whatever the objective."""

from __future__ import annotations

from xcompass.explore.table import results_table


def _method(latency_s: float, energy_j: float, score: float, evaluations: int = 600) -> dict:
    return {
        "score": score,
        "latency_s": latency_s,
        "energy_j": energy_j,
        "edp_js": latency_s * energy_j,
        "evaluations": evaluations,
    }


def _report(objective: str, scores: dict[str, float], bound: float, failed: bool) -> dict:
    methods = {
        "ga": _method(0.100, 2.0, scores["ga"]),
        "sa": _method(0.080, 2.0, scores["sa"]),
        "standard": _method(0.200, 1.0, scores["standard"], 16),
    }
    search = {
        "objective": objective,
        "searched": "ga",
        "answer": {**methods["sa"], "method": "sa", "layout": "2 pipeline stages (layers 0 | 1)"},
        "population": 20,
        "generations": 30,
        "seed": 0,
        "best_standard": "pipeline pp=2",
        "methods": methods,
        "failed": {"random": {"note": "none of 2,400 random mappings fits in memory"}}
        if failed
        else {},
        "lower_bound": {
            "latency_s": 0.05,
            "energy_j": 1.0,
            "edp_js": 0.05,
            "throughput_tok_s": 20000.0,
            "objective": bound,
        },
    }
    return {"model": "m", "target": "t", "tokens": 1000.0, "search": search}


EDP = """m on t
objective edp; GA population 20 x 30 generations (600 evaluations, every baseline the same); seed 0; in-process

method                         latency ms  energy J  EDP J*s   tok/s  found % better  bound % better
-----------------------------  ----------  --------  -------  ------  --------------  --------------
found (simulated annealing)         80.00         2     0.16  12,500               -          +68.8%
                               layout: 2 pipeline stages (layers 0 | 1)
GA                                 100.00         2      0.2  10,000          +20.0%          +75.0%
random search                  found no mapping: none of 2,400 random mappings fits in memory
best standard (pipeline pp=2)      200.00         1      0.2   5,000          +20.0%          +75.0%
lower bound                         50.00         1     0.05  20,000               -               -
"""


def test_the_table_exactly():
    report = _report("edp", {"ga": 0.2, "sa": 0.16, "standard": 0.2}, 0.05, failed=True)
    assert results_table(report) == EDP


THROUGHPUT_ROWS = """\
found (simulated annealing)         80.00         2     0.16  12,500               -          +60.0%
                               layout: 2 pipeline stages (layers 0 | 1)
GA                                 100.00         2      0.2  10,000          +25.0%         +100.0%
best standard (pipeline pp=2)      200.00         1      0.2   5,000         +150.0%         +300.0%
"""


def test_throughput_reads_the_same_way_and_no_baselines_says_so():
    """Higher throughput is better: the answer's 12,500 tok/s is 25% better than 10,000 and
    the bound's 20,000 is 60% better than 12,500. Without a baseline on the budget the header
    does not claim one."""
    scores = {"ga": -10000.0, "sa": -12500.0, "standard": -5000.0}
    report = _report("throughput", scores, -20000.0, failed=False)
    table = results_table(report)
    assert THROUGHPUT_ROWS in table
    del report["search"]["methods"]["sa"]
    report["search"]["answer"]["method"] = "ga"
    report["search"]["answer"].update(report["search"]["methods"]["ga"])
    first = results_table(report).splitlines()[1]
    assert "every baseline the same" not in first and "no baseline on this budget" in first
