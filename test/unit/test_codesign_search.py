"""The nested search: deterministic for a seed (in-process and on workers alike), seeds in
generation 0 where the space holds them, constraints keep designs from being mapped."""

from pathlib import Path

import pytest

from xcompass.codesign import codesign
from xcompass.codesign.spacefile import load_space

INPUTS = Path(__file__).resolve().parents[1] / "inputs" / "codesign"
SMALL = dict(layers=2, workload="decode:512x4", population=4, generations=2,
             inner_population=6, inner_generations=2)  # fmt: skip


def _fingerprint(result):  # noqa: ANN001, ANN202
    return [(p.name, p.design, p.inner.get("edp_js"), p.bill.total_usd) for p in result.points]


def test_deterministic_for_a_seed(tmp_path):
    space = load_space(INPUTS / "granularity.toml")
    a = codesign("llama3-8b", space, seed=3, **SMALL)
    b = codesign("llama3-8b", space, seed=3, **SMALL)
    assert _fingerprint(a) == _fingerprint(b)
    assert [p.name for p in a.front] == [p.name for p in b.front]
    c = codesign("llama3-8b", space, seed=4, **SMALL)
    assert _fingerprint(c) != _fingerprint(a)
    # simba-36 is in this space: it is generation 0's first design, under its own name
    assert a.points[0].name == "simba-36" and a.points[0].seed == "simba-36"
    # compass-het-36 is not (two kinds): a reference point, mapped and priced all the same
    het = [s for s in a.seeds if s.seed == "compass-het-36"][0]
    assert (
        not het.in_space
        and het.feasible
        and het.bill.total_usd == pytest.approx(200.5267, rel=1e-5)
    )
    files = a.save(str(tmp_path))
    assert {"front.csv", "designs.csv", "codesign.json", "front.png"} <= set(files)
    assert (tmp_path / "front.csv").read_text().startswith("name,role,design,edp_js,")


def test_same_answer_on_workers():
    space = load_space(INPUTS / "granularity.toml")
    here = codesign("llama3-8b", space, seed=3, **SMALL)
    there = codesign("llama3-8b", space, seed=3, workers=2, **SMALL)
    assert _fingerprint(there) == _fingerprint(here)


def test_designs_over_a_limit_are_not_mapped(tmp_path):
    text = (INPUTS / "granularity.toml").read_text().replace("area_mm2 = 1200", "area_mm2 = 400")
    path = tmp_path / "tight.toml"
    path.write_text(text)
    result = codesign("llama3-8b", load_space(path), seed=1, **SMALL)
    over = [p for p in result.points if p.measures["area_mm2"] > 400]
    assert over and all("evaluations" not in p.inner for p in over)
    assert all(p.inner["why"] == "over the limit: area_mm2" for p in over)
    assert all(p.measures["area_mm2"] <= 400 for p in result.front)
