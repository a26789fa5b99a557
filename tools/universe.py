"""Everything xcompass adds to xDSL, found by stock `xdsl-opt` through the `xdsl.universe`
entry point. Factories import lazily so listing passes stays cheap."""

from collections.abc import Callable

from xdsl.ir import Dialect
from xdsl.passes import ModulePass
from xdsl.universe import Universe


def _llm() -> Dialect:
    from xcompass.dialects.llm import LLM

    return LLM


def _set_target() -> type[ModulePass]:
    from xcompass.passes.set_target import SetTargetPass

    return SetTargetPass


def _hw() -> Dialect:
    from xcompass.dialects.hw import HW

    return HW


def _map() -> Dialect:
    from xcompass.dialects.map import MAP

    return MAP


def _partition() -> type[ModulePass]:
    from xcompass.passes.partition import PartitionPass

    return PartitionPass


def _map_cost() -> type[ModulePass]:
    from xcompass.passes.map_cost import MapCostPass

    return MapCostPass


DIALECTS: dict[str, Callable[[], Dialect]] = {"llm": _llm, "map": _map, "xhw": _hw}
PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "set-target": _set_target,
    "llm-partition": _partition,
    "map-cost": _map_cost,
}

XCOMPASS_UNIVERSE = Universe(all_dialects=DIALECTS, all_passes=PASSES)
