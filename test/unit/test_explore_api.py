"""The embedding API: the IR-free `explore()` lowers like the passes (so it answers what the
command line answers), and the README's two embedding examples run."""

from __future__ import annotations

import json

from explore_cases import assert_same_outcome
from xcompass.passes import DEFAULT_LOWERING, PYTORCH_LOWERING
from xcompass.tools.explore_ir import lowered_module, lowering_passes

from xcompass.explore import SearchSettings, explore
from xcompass.explore.inputs import problem_spec, resolve_workload
from xcompass.model.models import preset
from xcompass.search import registry


def test_the_core_lowering_is_the_passes_lowering():
    """explore() lowers with xcompass.layer.lowering's planners; the command line runs the passes
    and reads the IR back: the kernels (hence every cost) must be the same."""
    model = preset("llama3-8b")
    workload, _ = resolve_workload(None, None)
    for name, pipeline in (
        ("default", DEFAULT_LOWERING),
        ("pytorch", PYTORCH_LOWERING),
        ("none", ""),
    ):
        spec = problem_spec(model, workload, "compass-het-36", layers=2, lowering=name)
        ir = lowered_module(model, workload, 2, "compass-het-36", lowering_passes(pipeline))
        assert spec.kernels == ir.problem.kernels, name
        assert spec.lowering == ir.summary, name


def test_readme_api_example(tmp_path):
    settings = SearchSettings(population=16, generations=3, seed=1)
    result = explore(
        "llama3-8b",
        "prefill:512x2,decode:1024x32",
        "simba-36",
        layers=2,
        settings=settings,
        workers=1,
    )
    finder = result.outcome.found_by  # the best any method evaluated (here, often SA's)
    assert f"found ({registry.label(finder)})" in result.table()
    assert result.mapping.place.shape == (2, 2)
    assert result.report["latency_s"] > 0
    written = result.save(str(tmp_path), pictures=False)
    assert {p.rsplit("/", 1)[1] for p in written} == {"report.json", "trace.json"}
    again = explore(
        "llama3-8b", "prefill:512x2,decode:1024x32", "simba-36", layers=2, settings=settings
    )
    assert_same_outcome(result.outcome, again.outcome)


def test_readme_pass_pipeline_example(tmp_path):
    """Another compiler's xDSL pipeline runs the search as passes on its own module."""
    from xcompass.tools.importer import build_module
    from xcompass.tools.universe import XCOMPASS_UNIVERSE
    from xdsl.context import Context
    from xdsl.passes import PassPipeline

    from xcompass.model.workload import build_workload, parse_spec

    module = build_module(
        preset("llama3-8b"),
        build_workload(parse_spec("prefill:512x2,decode:1024x32"), 2),
        layers=4,
        target="simba-36",
    )
    ctx = Context()
    for name, dialect in XCOMPASS_UNIVERSE.all_dialects.items():
        ctx.register_dialect(name, dialect)
    report = tmp_path / "r.json"
    pipeline = PassPipeline.parse_spec(
        XCOMPASS_UNIVERSE.all_passes,
        f"llm-fuse,llm-stage-attention,llm-pad-tiles,"
        f'map-autotune{{population=16 generations=3}},map-cost{{report="{report}"}}',
    )
    pipeline.apply(ctx, module)
    assert "map.mapping" in str(module)
    assert json.loads(report.read_text())["latency_s"] > 0


def test_the_api_searches_units_below_a_layer():
    """explore(granularity=...) maps kernel or tile units, like `xcompass explore`."""
    from xcompass.explore import SearchSettings, explore

    small = SearchSettings("edp", 8, 2, 0, 0, ("standard",))
    for granularity, units in (("group", 10), ("tile", None)):
        done = explore("llama3-8b", "prefill:128,decode:256x4", "simba-36", layers=2,
                       granularity=granularity, tile_width=256, settings=small)  # fmt: skip
        assert done.problem.granularity == granularity
        assert done.report["granularity"] == granularity
        if units is not None:
            assert done.problem.units == units
        else:
            assert done.problem.tiles["width"] == 256 and done.problem.units > 10
        assert done.problem.fits(done.mapping.place[None])[0]


def test_a_baseline_that_finds_nothing_is_a_row_not_the_end():
    """llama3-70b on dgx-h100x8 (issue 14): no random mapping fits in memory; the run still
    answers, and the table's random-search row says why."""
    settings = SearchSettings(population=16, generations=3)
    result = explore("llama3-70b", target="dgx-h100x8", settings=settings)
    failed = result.report["search"]["failed"]
    assert set(failed) == {"random"} and "fits in memory" in failed["random"]["note"]
    rows = result.table().splitlines()
    (row,) = [r for r in rows if r.startswith("random search")]
    assert row.split(None, 2)[2].startswith("found no mapping: none of ")
    assert result.report["latency_s"] > 0 and result.outcome.answer.feasible
