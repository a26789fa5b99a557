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


DIALECTS: dict[str, Callable[[], Dialect]] = {"llm": _llm}
PASSES: dict[str, Callable[[], type[ModulePass]]] = {"set-target": _set_target}

XCOMPASS_UNIVERSE = Universe(all_dialects=DIALECTS, all_passes=PASSES)
