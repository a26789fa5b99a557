"""Communication cost between chiplets / GPUs: point-to-point activation transfers and the
all-reduces of tensor parallelism, per execution mode.

`graph` is how serving stacks run decode (CUDA graphs: no host sync between ops); `eager`
adds host synchronisation before each collective. The schedule calls only these functions, so
the whole communication model lives here.
"""

from __future__ import annotations

import numpy as np

from xcompass.errors import XcompassError
from xcompass.targets import Network

MODES = ("graph", "eager")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise XcompassError(f"unknown execution mode '{mode}' (valid: {', '.join(MODES)})")
    return mode


def transfer_params(net: Network, mode: str) -> tuple[float, float, float]:
    """(fixed latency in s, bytes per s, seconds per hop) of one point-to-point transfer:
    time = latency + bytes / bandwidth + hops x per-hop."""
    check_mode(mode)
    return net.latency_us * 1e-6, net.link_gbs * 1e9, net.hop_ns * 1e-9


def allreduce_time(net: Network, mode: str, tp: np.ndarray, nbytes: np.ndarray) -> np.ndarray:
    """Seconds of one ring all-reduce of `nbytes` over `tp` members (0 where tp == 1):
    latency + 2(tp-1)/tp x bytes / bus bandwidth."""
    check_mode(mode)
    tp = np.asarray(tp, dtype=float)
    bus = (net.allreduce_gbs or net.link_gbs) * 1e9
    t = net.latency_us * 1e-6 + 2 * (tp - 1) / np.maximum(tp, 1) * np.asarray(nbytes) / bus
    return np.where(tp > 1, t, 0.0)


def allreduce_bits(tp: np.ndarray, nbytes: np.ndarray) -> np.ndarray:
    """Bits all members send over links in one ring all-reduce (energy): 2(tp-1) x bytes x 8."""
    tp = np.asarray(tp, dtype=float)
    return np.where(tp > 1, 2 * (tp - 1) * np.asarray(nbytes) * 8.0, 0.0)
