"""The space file: validated like a target (one line per mistake, before any search); design
points become targets through parse_target."""

import tomllib
from pathlib import Path

import pytest

from xcompass.codesign.space import Design, KindDesign, controllers, nearest
from xcompass.codesign.spacefile import load_space
from xcompass.codesign.toml_out import dumps_toml
from xcompass.errors import XcompassError
from xcompass.hardware.targetfile import parse_target, preset

INPUTS = Path(__file__).resolve().parents[1] / "inputs" / "codesign"

GOOD = """
[space]
name = "s"
base = "simba-36"

[[kind]]
name = "ws"
count = {values = [16, 36]}
sram_mb = [1, 4]
"""


def _space(tmp_path: Path, text: str):  # noqa: ANN202
    path = tmp_path / "space.toml"
    path.write_text(text)
    return load_space(path)


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(XcompassError) as info:
        _space(tmp_path, text)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_free_fields_and_bounds(tmp_path):
    space = _space(tmp_path, GOOD)
    assert [n for n, _ in space.free()] == ["ws.count", "ws.sram_mb"]
    lo, hi = space.bounds()
    assert lo[0] == 0 and hi[0] == pytest.approx(2)  # a choice: the index
    assert (lo[1], hi[1]) == (1.0, 4.0)  # a linear range (under 8x)
    d = space.decode([1.2, 2.5])
    assert d.kinds == (KindDesign("ws", 36, 1024, 2.5, 1.0),)
    assert (d.channels, d.bw_gbs, d.link_gbs) == (4, 64.0, 128.0)


def test_no_free_field(tmp_path):
    text = GOOD.replace("{values = [16, 36]}", "36").replace("[1, 4]", "2")
    assert _error(tmp_path, text).startswith(
        f"space file '{tmp_path}/space.toml': no field varies; give at least one a range"
    )


def test_low_above_high(tmp_path):
    assert _error(tmp_path, GOOD.replace("[1, 4]", "[4, 1]")).endswith(
        "field 'kind 'ws'.sram_mb' range [4, 1]: the low end exceeds the high end"
    )


def test_unknown_fields_are_named(tmp_path):
    msg = _error(tmp_path, GOOD.replace("sram_mb =", "sram_mbs ="))
    assert msg.endswith(
        "field 'kind[0].sram_mbs' is not a field the space knows; did you mean 'sram_mb'? "
        "(valid: name, count, macs, sram_mb, freq_ghz)"
    )
    msg = _error(tmp_path, GOOD + "\n[network]\ntopology = 'switch'\n")
    assert "field 'network.topology' is not a field the space knows (valid: link_gbs)" in msg
    msg = _error(tmp_path, GOOD + "\n[hbm]\nstacks = 4\n")
    assert "field 'hbm' is not a field the space knows" in msg
    msg = _error(tmp_path, GOOD.replace('name = "ws"', 'name = "tesla"'))
    assert "field 'kind[0].name' names no chiplet kind of simba-36 (valid: ws)" in msg


def test_bad_values(tmp_path):
    msg = _error(tmp_path, GOOD.replace("{values = [16, 36]}", "[16.5, 36]"))
    assert msg.endswith("field 'kind 'ws'.count' takes whole numbers, got 16.5")
    msg = _error(tmp_path, GOOD.replace("[1, 4]", "[0, 4]"))
    assert msg.endswith("field 'kind 'ws'.sram_mb' must be positive and at most 1e+09, got 0")
    msg = _error(tmp_path, GOOD.replace("{values = [16, 36]}", "{values = []}"))
    assert "as a table is {values = [a, b, ...]}" in msg


def test_a_constraint_no_design_meets(tmp_path):
    msg = _error(tmp_path, GOOD + "\n[constraints]\narea_mm2 = 100\n")
    assert "field 'constraints.area_mm2' = 100: no design in the space meets it" in msg
    # the smallest: 16 dies of ((1024 x 463.2e-6 + 0.80866) x 2.2 + 8.192) x 1.1025 = 12.1435
    # mm^2 and the 42.18 mm^2 I/O die, found before any search
    assert "(the least any needs is 236.5 mm^2: 16x ws (1024 MACs, 1 MB, 1 GHz);" in msg
    assert "'constraints.cost_usd' = 10: no design" in _error(
        tmp_path, GOOD + "[constraints]\ncost_usd = 10\n"
    )
    _space(tmp_path, GOOD + "\n[constraints]\narea_mm2 = 300\n")  # the 16-die corner meets it


def test_derived_fields_refuse_a_range(tmp_path):
    text = GOOD + "[dram]\nbw_gbs = [32, 64]\n[constraints]\ndram_gbs = 256\n"
    assert "field 'dram.bw_gbs' is derived from constraints.dram_gbs" in _error(tmp_path, text)
    text = GOOD.replace("sram_mb = [1, 4]", "macs = [512, 2048]") + (
        "[constraints]\ntotal_macs = 36864\n"
    )
    assert "field 'kind 'ws'.macs' is derived from constraints.total_macs" in _error(tmp_path, text)


def test_base_target_errors_are_named(tmp_path):
    msg = _error(tmp_path, GOOD.replace("simba-36", "simba-37"))
    assert "field 'space.base' unknown target 'simba-37'; did you mean 'simba-36'?" in msg
    bad = tmp_path / "bad.toml"
    bad.write_text("[meta]\nname = 'x'\n")
    msg = _error(tmp_path, GOOD.replace('"simba-36"', '"bad.toml"'))
    assert "field 'space.base' target file" in msg and "field 'dram' must be at least one" in msg


@pytest.mark.parametrize("name", ["simba-36", "compass-het-36"])
def test_seed_designs_give_back_their_presets(name):
    """A preset as a design point of a space over it, turned back into a target, is the
    preset (every field the space derives: peak, tiles, static power, channels, attach)."""
    space = load_space(INPUTS / ("granularity.toml" if name == "simba-36" else "het.toml"))
    design = Design.from_target(preset(name))
    assert space.encode(design) is not None
    got, want = space.target(design, name), preset(name)
    assert got.kinds == want.kinds
    assert got.drams == want.drams
    assert got.network == want.network
    assert got.domains == want.domains


def test_a_generated_target_round_trips_through_toml():
    space = load_space(INPUTS / "granularity.toml")
    design = Design((KindDesign("ws", 16, 2304, 3.0, 1.0),), 2, 128.0, 64.0)
    data = space.target_data(design, "g16")
    assert tomllib.loads(dumps_toml(data)) == data
    t = parse_target(tomllib.loads(dumps_toml(data)), "t")
    assert t.network.dims == (4, 4)
    assert [(d.attach, d.bw_gbs, d.capacity_gb) for d in t.drams] == [
        ((0, 2), 128.0, 32.0),
        ((3, 2), 128.0, 32.0),
    ]
    assert t.kinds[0].peak_tflops == pytest.approx(4.608)
    # 2.25 x simba's MACs: 2 of its cores (units), same 32 x 32 tiles; 3 MB over 2 cores
    assert (t.kinds[0].units, t.kinds[0].tile_m, t.kinds[0].tile_n) == (2, 32, 32)
    assert t.kinds[0].static_w == pytest.approx(0.035 * 2.25)
    assert t.kinds[0].sram_pj_per_bit == pytest.approx(0.45 * 1.5 / 2)
    assert t.kinds[0].dram_channel == (0, 0, 1, 1) * 4


def test_controllers_on_the_edges():
    assert controllers(4, (6, 6)) == [(0, 1), (0, 4), (5, 1), (5, 4)]
    assert controllers(3, (4, 4)) == [(0, 1), (0, 3), (3, 2)]
    assert nearest([(0, 1), (0, 4), (5, 1), (5, 4)], 6, (6, 6)) == [0, 0, 0, 2, 2, 2]
