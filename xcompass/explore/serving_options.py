"""The options of a serving objective (`--objective goodput|capacity`) and their checks,
import-light: `xcompass explore` refuses a bad combination in one line before any work.
`xcompass.explore.serving_objective` serves with them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xcompass.errors import XcompassError, shown
from xcompass.search.objectives import SERVING_OBJECTIVES
from xcompass.serving.arrivals import parse_window  # noqa: F401 (explore reads it here)

if TYPE_CHECKING:
    from xcompass.serving.metrics import SLO
    from xcompass.serving.policies import PolicyOptions

DEFAULT_QPS = 4.0
"""Arrival rate of the embedded arrivals (Poisson, lengths from the embedded Azure
distribution) when no --trace is given: `xcompass serve`'s default."""
DEFAULT_WINDOW = (0.0, 60.0)
"""Training window (seconds from the first arrival) unless --window says; the test window is
then the window of the same length right after it unless --test-window says."""
MAX_SLO_S = 86400.0
"""Largest SLO, as `xcompass serve` takes it."""
MAX_RATE_SCALE = 1e6
"""Largest --rate-scale (`serving.arrivals.MAX_RATE_SCALE`)."""

FLAGS = ("policy", "slo_ttft", "slo_tbt", "window", "test_window", "rate_scale")
"""The explore options that only a serving objective reads (as click names them)."""


def is_serving(objective: str) -> bool:
    return objective in SERVING_OBJECTIVES


def check_combination(
    objective: str,
    given: Mapping[str, Any],
    *,
    layers: int | None = None,
    granularity: str = "layer",
    train_samples: int = 0,
    test_samples: int = 0,
) -> None:
    """One line for a serving option without a serving objective (`given`: the option as the
    caller names it -> its value, None when not given), and for what a serving
    objective cannot take: a partial model (serving needs the whole model's mapping), a
    mapping below a layer, sampled training / test batches (the windows are its data)."""
    if not is_serving(objective):
        for name, value in given.items():
            if value is not None:
                raise XcompassError(
                    f"{name}: needs --objective goodput or capacity (it serves a trace "
                    f"window; --objective {objective} prices one step)"
                )
        return
    if layers is not None:
        raise XcompassError(
            f"--layers {layers}: --objective {objective} serves the whole model; leave --layers out"
        )
    if granularity != "layer":
        raise XcompassError(
            f"--granularity {granularity}: --objective {objective} serves layer mappings; "
            "use --granularity layer"
        )
    for flag, value in (("--train-samples", train_samples), ("--test-samples", test_samples)):
        if value:
            raise XcompassError(
                f"{flag} {value}: --objective {objective} scores on --window and reports on "
                "--test-window of the arrivals, not on sampled batches"
            )


@dataclass(frozen=True)
class ServingOptions:
    """What a serving objective serves, named as `xcompass serve` names it: the policy, the
    SLOs, the arrivals (a trace's timestamps, or the embedded arrivals at DEFAULT_QPS), the
    training and test windows (seconds from the first arrival, before --rate-scale compresses
    time) and the rate scale."""

    policy: str = "sarathi"
    slo_ttft_s: float = 2.0
    slo_tbt_s: float = 0.2
    trace: str | None = None
    window: tuple[float, float] | None = None
    test_window: tuple[float, float] | None = None
    rate_scale: float = 1.0
    seed: int = 0  # the embedded arrivals' seed

    def windows(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """(training, test) windows: the test window defaults to the same length right after
        the training window. They may not overlap: the test window is traffic never scored."""
        train = self.window or DEFAULT_WINDOW
        test = self.test_window or (train[1], 2 * train[1] - train[0])
        for flag, (start, end) in (("--window", train), ("--test-window", test)):
            if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
                raise XcompassError(f"{flag} {start:g}:{end:g}: need 0 <= START < END (seconds)")
        if test[0] < train[1] and train[0] < test[1]:
            raise XcompassError(
                f"--test-window {test[0]:g}:{test[1]:g}: overlaps --window {train[0]:g}:"
                f"{train[1]:g}; the test window must be traffic the search never scored"
            )
        return train, test

    def check(self) -> None:
        """Every option's range, before any work (one line naming the option)."""
        from xcompass.serving.policies import POLICIES

        if self.policy not in POLICIES:
            raise XcompassError(f"--policy '{shown(self.policy, 40)}': unknown (valid: "
                                f"{', '.join(POLICIES)})")  # fmt: skip
        for flag, value, upper in (("--slo-ttft", self.slo_ttft_s, MAX_SLO_S),
                                   ("--slo-tbt", self.slo_tbt_s, MAX_SLO_S),
                                   ("--rate-scale", self.rate_scale, MAX_RATE_SCALE)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise XcompassError(f"{flag} {value!r}: must be a number")
            if not (math.isfinite(value) and 0 < value <= upper):
                raise XcompassError(f"{flag} {value:g}: must be positive and at most {upper:g}")
        self.windows()

    def policy_options(self) -> PolicyOptions:
        from xcompass.serving.policies import PolicyOptions

        return PolicyOptions(self.policy)

    def slo(self) -> SLO:
        from xcompass.serving.metrics import SLO

        self.check()
        return SLO(self.slo_ttft_s, self.slo_tbt_s)

    def as_dict(self) -> dict[str, Any]:
        train, test = self.windows()
        return {
            "policy": self.policy,
            "slo_ttft_s": self.slo_ttft_s,
            "slo_tbt_s": self.slo_tbt_s,
            "trace": self.trace,
            "window": list(train),
            "test_window": list(test),
            "rate_scale": self.rate_scale,
        }


SERVING_POPULATION, SERVING_GENERATIONS = 16, 8
"""`xcompass explore`'s search size for a serving objective unless --population and
--generations say (128 evaluations: each serves a window, ~0.1-2 s on one core, where a static
step costs microseconds; the 100 x 60 of a static objective would take hours)."""
