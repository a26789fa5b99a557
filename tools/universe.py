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


def _fuse() -> type[ModulePass]:
    from xcompass.passes.fuse import FusePass

    return FusePass


def _stage_attention() -> type[ModulePass]:
    from xcompass.passes.stage_attention import StageAttentionPass

    return StageAttentionPass


def _pad_tiles() -> type[ModulePass]:
    from xcompass.passes.pad_tiles import PadTilesPass

    return PadTilesPass


def _autotune() -> type[ModulePass]:
    from xcompass.passes.autotune import AutotunePass

    return AutotunePass


def _map_serve() -> type[ModulePass]:
    from xcompass.passes.map_serve import MapServePass

    return MapServePass


DIALECTS: dict[str, Callable[[], Dialect]] = {"llm": _llm, "map": _map, "xhw": _hw}
PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "set-target": _set_target,
    "llm-fuse": _fuse,
    "llm-stage-attention": _stage_attention,
    "llm-pad-tiles": _pad_tiles,
    "llm-partition": _partition,
    "map-cost": _map_cost,
    "map-autotune": _autotune,
    "map-serve": _map_serve,
}

XCOMPASS_UNIVERSE = Universe(all_dialects=DIALECTS, all_passes=PASSES)
