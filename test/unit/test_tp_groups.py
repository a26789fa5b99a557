"""TP groups are contiguous: the all-reduce is costed as a ring over one-hop links (NCCL's ring
at one link's bus bandwidth per step, `xcompass.hardware.comm`), so only chiplets that form a path
of
one-hop links are a group. On compass-het-36, chiplets 4-7 (by id: two mesh rows, 5 to 6 hops
from 5 to 6) are no longer a group; 4, 5, 10, 11 (a 2 x 2 block) is."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from xcompass.engine.mapping import make_groups, mesh_hops
from xcompass.errors import XcompassError
from xcompass.hardware.targetfile import preset

TPS = (1, 2, 4, 8, 16)


def _ring_hops(target, chips: tuple[int, ...]) -> int:  # noqa: ANN001
    """The fewest hops of the longest step over every order of a ring through `chips`, the
    ring closing back along the path (so a path's ring has one-hop steps)."""
    if len(chips) > 8:  # 16! orders: the path check of make_groups covers these
        return 1
    best = None
    for order in itertools.permutations(chips):
        worst = max(
            (mesh_hops(target, a, b) for a, b in zip(order, order[1:], strict=False)), default=0
        )
        best = worst if best is None else min(best, worst)
    return best or 0


@pytest.mark.parametrize("name", ["compass-het-36", "simba-36"])
def test_every_mesh_group_is_a_path_of_one_hop_links(name):
    target = preset(name)
    groups = make_groups(target, TPS)
    for g in range(len(groups.tp)):
        chips = groups.chips(g)
        assert _ring_hops(target, chips) <= 1, chips
        kinds = {int(target.kind_of()[c]) for c in chips}
        assert len(kinds) == 1, chips


def test_chiplets_4_to_7_of_compass_het_36_are_no_group_but_a_block_is():
    target = preset("compass-het-36")
    groups = make_groups(target, TPS)
    assert mesh_hops(target, 5, 6) == 6
    with pytest.raises(XcompassError, match="not a placement group"):
        groups.find((4, 5, 6, 7))
    g = groups.find((4, 5, 10, 11))
    assert groups.tp[g] == 4 and groups.find((11, 10, 5, 4)) == g  # a set of chiplets


def test_as_many_groups_as_runs_of_ids_and_the_same_where_those_were_contiguous():
    target = preset("compass-het-36")
    groups = make_groups(target, TPS)
    assert Counter(groups.tp.tolist()) == {1: 36, 2: 18, 4: 8, 8: 4, 16: 2}
    assert [groups.chips(g) for g in range(36)] == [(c,) for c in range(36)]  # g < C: chiplet g
    pairs = [groups.chips(g) for g in range(len(groups.tp)) if groups.tp[g] == 2]
    assert pairs == [(c, c + 1) for c in range(0, 36, 2)]  # 2 divides the 6 columns


def test_a_switch_keeps_runs_of_ids():
    groups = make_groups(preset("dgx-h100x8"), (1, 2, 4, 8))
    fours = [groups.chips(g) for g in range(len(groups.tp)) if groups.tp[g] == 4]
    assert fours == [(0, 1, 2, 3), (4, 5, 6, 7)]
