"""What a serving loop's host adds to an iteration, beyond the kernels the engine times.

Measured on an H100 (docs/serving-measurements.md, benchmarks/data/h100_serving_*.csv): an
eager PyTorch step issues every kernel from Python, ~12 ms per Llama-3-8B step whatever the
batch, and the GPU drains the launch queue as it fills. So an eager iteration takes
max(device time, host issue time) + the fixed part (input packing, the final sync): the host
queue model at the iteration's scale. A decode step replayed from a CUDA graph costs only
`replay_us` of host; a graph-everything server has no host term. The issue time jitters from
step to step, multiplicatively (lognormal: measured p90 ~1.4x, p99 ~1.8x the median for the
eager decode steps, sigma = 0.26 fits both). Even when the GPU is the bottleneck an eager step
takes longer than its CUDA graph: each launched kernel costs the device `gap_us` more (measured:
1.4-2.1 ms over 775-808 kernels for the loop's mixed and prompt steps, eager against graph
replay of the same composition; benchmarks/data/h100_serving_kernels.csv).

Execution modes: `graph` (every step replayed: device time only), `eager` (every step
issued from the host), `graph-decode` (what vLLM-style servers run: decode-only steps from
CUDA graphs, steps with a prompt eager).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xcompass.errors import XcompassError

EXECUTIONS = ("graph", "eager", "graph-decode")


@dataclass(frozen=True)
class HostModel:
    """Host time of one iteration: `launch_us` per launched kernel (the lowered layer's
    kernels x layers + the model's head and tail), `fixed_us` per step (scheduling, inputs,
    sync), `replay_us` per CUDA-graph replay, lognormal `jitter` (sigma) on the issue time;
    `gap_us` per kernel of an eager step on the device beyond its graph replay."""

    launch_us: float = 0.0
    fixed_us: float = 0.0
    replay_us: float = 0.0
    jitter: float = 0.0
    gap_us: float = 0.0

    def __post_init__(self) -> None:
        for name in ("launch_us", "fixed_us", "replay_us", "jitter", "gap_us"):
            value = getattr(self, name)
            if not np.isfinite(value) or not 0 <= value <= 1e6:
                raise XcompassError(f"--{name.replace('_', '-')} {value:g}: must be 0 to 1e6")


def host_time(
    execution: str, model: HostModel, kernels: int, has_prompt: bool, device_s: float, draw: float
) -> float:
    """The iteration's wall time from the engine's device time (`draw`: a standard normal
    sample for the jitter)."""
    if execution == "graph" or (execution == "graph-decode" and not has_prompt):
        replay = model.replay_us if execution == "graph-decode" else 0.0
        return device_s + replay * 1e-6
    issue = kernels * model.launch_us * 1e-6
    if model.jitter:
        issue *= float(np.exp(model.jitter * draw))
    device = device_s + kernels * model.gap_us * 1e-6
    return max(device, issue) + model.fixed_us * 1e-6


def check_execution(execution: str) -> None:
    if execution not in EXECUTIONS:
        raise XcompassError(f"--execution '{execution}': valid: {', '.join(EXECUTIONS)}")
