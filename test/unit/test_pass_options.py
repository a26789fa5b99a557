"""Choice options are `Literal[...]` fields: xDSL checks them when it parses a pipeline, and
`check_choices` holds a pass built in Python to the same values with the same wording."""

import pytest
from xcompass.passes.autotune import AutotunePass
from xcompass.passes.errors import PassFailure, check_choices, choice_message
from xcompass.passes.map_cost import MapCostPass
from xcompass.passes.map_serve import MapServePass
from xcompass.passes.partition import PartitionPass
from xcompass.passes.stage_attention import StageAttentionPass
from xcompass.tools.opt_options import UsageError, check_option_types
from xcompass.tools.universe import XCOMPASS_UNIVERSE


@pytest.mark.parametrize(
    ("p", "message"),
    [
        (MapCostPass(mode="fast"),
         "map-cost: option 'mode' expects one of graph, eager; got 'fast'"),
        (PartitionPass(strategy="zigzag"), "llm-partition: option 'strategy' expects one of "
         "single, pipeline, tensor, data, hybrid, pbd; got 'zigzag'"),
        (StageAttentionPass(mode="flash"), "llm-stage-attention: option 'mode' expects one of "
         "auto, unfused, decode2, resident3, split4; got 'flash'"),
        (MapServePass(policy="fifo"), "map-serve: option 'policy' expects one of static, vllm, "
         "orca, sarathi, xy-serve, pbd, disagg; got 'fifo'"),
        # "" (the module mapping's granularity) is a value, never listed
        (AutotunePass(granularity="block"), "map-autotune: option 'granularity' expects one of "
         "layer, group, tile; got 'block'"),
    ],
)  # fmt: skip
def test_python_built_pass_is_checked(p: object, message: str) -> None:
    with pytest.raises(PassFailure) as info:
        p.check_options()
    assert str(info.value) == message


def test_defaults_are_valid() -> None:
    for factory in XCOMPASS_UNIVERSE.all_passes.values():
        check_choices(factory()())


def test_driver_says_the_same() -> None:
    """The pipeline check (xcompass-opt, explore --lowering) words it as check_choices does."""
    with pytest.raises(UsageError) as info:
        check_option_types("map-cost{mode=fast}", XCOMPASS_UNIVERSE.all_passes)
    assert str(info.value) == choice_message("map-cost", "mode", "fast", ("graph", "eager"))


def test_serving_objective_keeps_its_hint() -> None:
    with pytest.raises(PassFailure, match="use xcompass explore --objective goodput"):
        AutotunePass(objective="goodput").check_options()
