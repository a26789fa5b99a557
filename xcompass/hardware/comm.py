"""Communication cost between chiplets / GPUs: point-to-point activation transfers and the
all-reduces of tensor parallelism, per execution mode.

`graph` (the default) is how serving stacks run decode: CUDA graphs, collectives back to back
with no host synchronisation between them (fitted to the 16-ops-per-graph rows of
`h200x2_communication_graph.csv`). `eager` synchronises the host before each collective
(barrier + launch; fitted to that file's ops_per_graph = 0 rows). Bandwidth is a property of
the links and is shared by both modes; only the fixed latencies differ.

All-reduce follows NCCL's own cost model (src/graph/tuning.cc, `ncclTopoTuneModel`): a ring
all-reduce over n members takes 2(n-1) steps, each member sends and receives 2(n-1)/n of the
bytes, and its latency is a base plus a per-step latency times the step count; NCCL times each
protocol that way and runs the fastest. Two protocols are modelled: a small-message one (NCCL
LL: lowest latency, half the bus bandwidth, since each 8-byte store carries 4 bytes of data
and a flag) and a bulk one (NCCL Simple: full bus bandwidth, a few microseconds more latency).
The per-step latencies and the growth of the bus bandwidth with group size are fitted on 4-GPU
sweeps (benchmarks/calibrate_comm.py); 8 GPUs are a prediction from them.
The schedule calls only these functions, so the whole communication model lives here.
"""

from __future__ import annotations

import numpy as np

from xcompass.errors import XcompassError
from xcompass.hardware.targets import Network

MODES = ("graph", "eager")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise XcompassError(f"unknown execution mode '{mode}' (valid: {', '.join(MODES)})")
    return mode


def p2p_latency_us(net: Network, mode: str) -> float:
    """Fixed latency of one point-to-point transfer in `mode` (us)."""
    return net.latency_us if check_mode(mode) == "graph" else net.eager_latency_us


def transfer_params(net: Network, mode: str) -> tuple[float, float, float]:
    """(fixed latency in s, bytes per s, seconds per hop) of one point-to-point transfer:
    time = latency + bytes / bandwidth + hops x per-hop."""
    return p2p_latency_us(net, mode) * 1e-6, net.link_gbs * 1e9, net.hop_ns * 1e-9


def p2p_time(net: Network, mode: str, nbytes: np.ndarray, hops: np.ndarray = 0) -> np.ndarray:
    """Seconds of one uncontended point-to-point transfer of `nbytes` over `hops` hops."""
    latency, bandwidth, hop = transfer_params(net, mode)
    return latency + np.asarray(nbytes, dtype=float) / bandwidth + np.asarray(hops) * hop


def allreduce_latency_us(net: Network, mode: str, tp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed latency (us) of the (small-message, bulk) protocol of an all-reduce over `tp`
    members: the 2-member latency of `mode` plus 2(tp-2) extra ring steps."""
    check_mode(mode)
    base = net.allreduce_latency_us if mode == "graph" else net.eager_allreduce_latency_us
    extra_steps = 2.0 * np.maximum(np.asarray(tp, dtype=float) - 2.0, 0.0)
    small = base + extra_steps * net.allreduce_step_us
    bulk = base + net.allreduce_bulk_extra_us + extra_steps * net.allreduce_bulk_step_us
    return small, bulk


def bus_gbs(net: Network, tp: np.ndarray) -> np.ndarray:
    """Ring bus bandwidth (GB/s) with `tp` members: allreduce_gbs at 2, tending to
    allreduce_peak_gbs as the group grows (fitted on 2- and 4-GPU sweeps)."""
    two = net.allreduce_gbs or net.link_gbs
    peak = max(net.allreduce_peak_gbs, two)
    return peak - (peak - two) * 2.0 / np.maximum(np.asarray(tp, dtype=float), 2.0)


def allreduce_time(net: Network, mode: str, tp: np.ndarray, nbytes: np.ndarray) -> np.ndarray:
    """Seconds of one ring all-reduce of `nbytes` over `tp` members (0 where tp == 1): the
    faster protocol of latency(tp) + 2(tp-1)/tp x bytes / bus bandwidth."""
    tp = np.asarray(tp, dtype=float)
    nbytes = np.asarray(nbytes, dtype=float)
    bulk_bw = bus_gbs(net, tp) * 1e9
    small_bw = bulk_bw * (net.allreduce_small_fraction or 1.0)
    small_lat, bulk_lat = allreduce_latency_us(net, mode, tp)
    moved = 2.0 * (tp - 1.0) / np.maximum(tp, 1.0) * nbytes
    t = np.minimum(small_lat * 1e-6 + moved / small_bw, bulk_lat * 1e-6 + moved / bulk_bw)
    return np.where(tp > 1, t, 0.0)


def allreduce_bits(tp: np.ndarray, nbytes: np.ndarray) -> np.ndarray:
    """Bits all members send over links in one ring all-reduce (energy): 2(tp-1) x bytes x 8."""
    tp = np.asarray(tp, dtype=float)
    return np.where(tp > 1, 2 * (tp - 1) * np.asarray(nbytes) * 8.0, 0.0)
