"""Hardware targets: chiplets (or clusters, or GPUs), their DRAM channels and the network, as
the engine reads them. `targetfile` reads and validates the TOML files they come from (the
shipped presets in `xcompass/data/targets/` and users' own files, with the same schema)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class OnChipLevel:
    """An on-chip memory level that fused kernels and attention tiles can target (read by
    llm-fuse and llm-stage-attention). `shared`: one per chiplet shared by all its units (an
    L2, MT-3000's GSM); otherwise one per unit (shared memory of an SM, a DSP core's AM, an
    Ascend core's L1)."""

    name: str
    bytes: int
    shared: bool = False


@dataclass(frozen=True)
class ChipletKind:
    """One kind of compute die; `count` instances of it are placed in the package."""

    kind: str
    count: int
    peak_tflops: float
    compute_efficiency: float
    attention_efficiency: float
    units: int
    tile_m: int
    tile_n: int
    sram_mb: float
    dram_gbs: float
    dram_efficiency: float
    kernel_floor_us: float
    eltwise_floor_us: float
    attention_floor_us: float
    pj_per_mac: float
    sram_pj_per_bit: float
    static_w: float  # drawn for the whole run by a chiplet that runs any task
    idle_w: float  # drawn for the whole run by a chiplet with no task (power-gated)
    memory_gb: float  # private capacity; 0 when a [[memory]] domain holds the chiplet
    dram_channel: tuple[int, ...]
    attention_dram_efficiency: float = 0.0  # 0: same as dram_efficiency
    eltwise_dram_efficiency: float = 0.0
    launch_us: float = 0.0  # eager: the host's time to issue one kernel (xcompass.engine.hostqueue)
    collective_launch_us: float = 0.0  # eager: its time to issue one collective (an all-reduce)
    # op-level calibration (xcompass/cost/opcost.py; 0 = mechanism off)
    reduction_ns_per_element: float = 0.0  # norm: one row's critical path per element of width
    attention_tile_overhead: float = 0.0  # fixed block steps per attention query tile
    attention_mixed_unpacked: float = 0.0  # 1: varlen attention loses GQA with a long query in
    # the call (FlashAttention-2 folds query heads only when all queries are 1 token; opcost)
    # attention variants (xcompass/cost/opcost.py; benchmarks/data/h100_attention.csv; 0 = off)
    attention_varlen: float = 0.0  # calls run as the varlen kernel: 1 ragged ones, 2 every one
    attention_varlen_efficiency: float = 0.0  # its fraction of peak, a unit full of its CTAs
    attention_varlen_ctas: float = 0.0  # its CTAs resident per unit (0: 1)
    attention_varlen_lone: float = 0.0  # a lone CTA's rate, fraction of a full unit's (0: 1)
    attention_varlen_rows: float = 0.0  # query rows every tile computes (0: 128)
    attention_varlen_keys: float = 0.0  # keys per block step (0: 128)
    attention_varlen_tile_overhead: float = 0.0  # block steps per CTA (Q load, O store)
    attention_varlen_floor_us: float = 0.0  # the kernel's floor (0: attention_floor_us)
    attention_varlen_split: float = 0.0  # 1: decode-only GQA calls fold heads, split keys
    attention_varlen_split_us: float = 0.0  # the split's combine kernel, per split
    attention_varlen_fold_us: float = 0.0  # the fold's two copies (more than one request)
    attention_varlen_throttle: float = 0.0  # 1: in a step of >= ridge tokens, throttled_clock
    attention_softmax_efficiency: float = 0.0  # unfused softmax streaming (0: eltwise's)
    attention_softmax_wide_row: float = 0.0  # rows wider than this stream slower (0: off)
    attention_softmax_per_doubling: float = 0.0  # slowdown per doubling of width beyond it
    attention_bmm_thin_us: float = 0.0  # unfused QK^T/PV of < mma_m rows: latency per tile
    attention_bmm_thin_gbs: float = 0.0  # and its operand's streaming per unit (0: off)
    attention_bmm_thin_tbs: float = 0.0  # thin QK^T: the kernel's whole streaming (0: no cap)
    attention_bmm_thin_pv_us: float = 0.0  # the PV's own thin kernel: latency, ...
    attention_bmm_thin_pv_gbs: float = 0.0  # ... one tile's streaming (0: the QK^T figures)
    attention_bmm_thin_pv_tbs: float = 0.0  # ... and the kernel's whole streaming
    attention_scores_cached: float = 0.0  # 1: unfused scores that fit the shared level stay
    attention_reduce_us: float = 0.0  # dense decode of < 2 x units tiles: split + reduction
    attention_gqa_pack: float = 0.0  # 1: a decode tile holds a KV head's query heads as rows
    dram_saturation_units: float = 0.0  # units whose loads in flight saturate DRAM
    throttle_after_us: float = 0.0  # compute sustained this long runs at throttled_clock
    throttled_clock: float = 0.0  # fraction of the boost clock under the power cap (0: never)
    gemm_overlap: float = 0.0  # p of a GEMM's (compute^p + memory^p)^(1/p) (0: max, full overlap)
    norm_reread_width: float = 0.0  # a norm's re-read of its input misses on chip, width/this
    grouped_overlap: float = 0.0  # p of MoE's grouped expert GEMMs (0: max, full overlap)
    moe_route_kernels: float = 0.0  # small routing kernels of a MoE layer, an eltwise floor each
    moe_combine_tensors: float = 0.0  # hidden-wide rows the gather + combine move per routed row
    # lowering (llm-fuse, llm-stage-attention, llm-pad-tiles); defaults keep older files valid
    levels: tuple[OnChipLevel, ...] = ()  # innermost first; (): one shared level of sram_mb
    mma_m: int = 0  # rows of the matrix unit's native tile; pad tiles are multiples (0: tile_m)
    tile_set: tuple[int, ...] = ()  # GEMM row tiles the kernels offer (): (tile_m,)
    split_k: bool = True  # GEMM k steps dealt to units (cuBLAS); False: whole tiles per unit
    gemm_tile_overhead: float = 0.0  # k steps of fill/drain per output tile (split_k False)

    @property
    def flops(self) -> float:
        return self.peak_tflops * 1e12 * self.compute_efficiency

    @property
    def bandwidth(self) -> float:
        """Sustained DRAM bytes/s one chiplet streams in GEMMs (weights, activations)."""
        return self.dram_gbs * 1e9 * self.dram_efficiency

    @property
    def attention_bandwidth(self) -> float:
        """KV-cache streaming in attention kernels (long contiguous reads reach more)."""
        return self.dram_gbs * 1e9 * (self.attention_dram_efficiency or self.dram_efficiency)

    @property
    def eltwise_bandwidth(self) -> float:
        return self.dram_gbs * 1e9 * (self.eltwise_dram_efficiency or self.dram_efficiency)

    @property
    def ridge(self) -> float:
        """FLOPs per byte of the slowest memory level (DRAM) at which an op turns
        compute-bound: peak FLOP/s over DRAM bytes/s."""
        return self.peak_tflops * 1e12 / (self.dram_gbs * 1e9)

    @property
    def onchip(self) -> tuple[OnChipLevel, ...]:
        """The on-chip levels, innermost first; a file without `levels` has one shared level
        `sram` of `sram_mb`."""
        return self.levels or (OnChipLevel("sram", int(self.sram_mb * 2**20), shared=True),)

    def level(self, name: str) -> OnChipLevel | None:
        return next((lv for lv in self.onchip if lv.name == name), None)

    @property
    def hw_tile_m(self) -> int:
        """Rows of the matrix unit's native tile (Ascend's 16x16 cube fractal, H100's wgmma
        m64): every GEMM row tile is a multiple of it."""
        return self.mma_m or self.tile_m

    @property
    def gemm_tiles(self) -> tuple[int, ...]:
        """GEMM row tiles the target's kernels offer (llm-pad-tiles' default tile set)."""
        return self.tile_set or (self.tile_m,)


@dataclass(frozen=True)
class DramChannel:
    bw_gbs: float
    pj_per_bit: float
    capacity_gb: float
    attach: tuple[int, int] | None = None


@dataclass(frozen=True)
class MemoryDomain:
    """DRAM capacity shared by a set of chiplets: weights placed in it are stored once."""

    name: str
    capacity_gb: float
    chiplets: tuple[int, ...]


@dataclass(frozen=True)
class Network:
    """The links between chiplets / GPUs and the collectives over them (see
    xcompass/hardware/comm.py).

    Point-to-point: latency (per execution mode) + bytes / link_gbs + hops x hop_ns.
    All-reduce over n members, NCCL's ring (2(n-1) steps; each member moves f = 2(n-1)/n of
    the bytes) at bus bandwidth B(n) = peak - (peak - allreduce_gbs) x 2/n: the faster of
      small = A + 2(n-2) x allreduce_step_us + f x bytes / (allreduce_small_fraction x B(n))
      bulk  = A + allreduce_bulk_extra_us + 2(n-2) x allreduce_bulk_step_us + f x bytes / B(n)
    (NCCL's LL and Simple protocols), A = allreduce_latency_us (graph mode) or
    eager_allreduce_latency_us (eager), the 2-member latency. The reader's defaults make it one
    protocol, one latency in both modes and a bandwidth independent of n."""

    topology: str  # "mesh" (XY routing over links) or "switch" (one egress + one ingress port)
    link_gbs: float
    pj_per_bit_hop: float
    latency_us: float = 0.0  # point-to-point fixed latency, graph mode (CUDA graphs)
    hop_ns: float = 0.0
    dims: tuple[int, int] = (0, 0)
    allreduce_gbs: float = 0.0  # all-reduce bus bandwidth with 2 members; 0: link_gbs
    eager_latency_us: float = 0.0  # point-to-point fixed latency, eager mode (host sync)
    allreduce_latency_us: float = 0.0  # 2-member all-reduce latency, graph mode
    eager_allreduce_latency_us: float = 0.0  # the same in eager mode
    allreduce_step_us: float = 0.0  # latency per extra ring step, small-message protocol
    allreduce_small_fraction: float = 1.0  # small-message protocol's share of the bus bandwidth
    allreduce_bulk_extra_us: float = 0.0  # bulk protocol's extra latency (2 members)
    allreduce_bulk_step_us: float = 0.0  # latency per extra ring step, bulk protocol
    allreduce_peak_gbs: float = 0.0  # bus bandwidth approached by large groups; 0: allreduce_gbs


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    sources: tuple[str, ...]
    kinds: tuple[ChipletKind, ...]
    drams: tuple[DramChannel, ...]
    network: Network
    path: str = ""
    domains: tuple[MemoryDomain, ...] = ()
    arrays: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    @property
    def chiplets(self) -> int:
        return sum(k.count for k in self.kinds)

    def kind_of(self) -> np.ndarray:
        """Kind index of every chiplet, in chiplet order."""
        return np.repeat(np.arange(len(self.kinds)), [k.count for k in self.kinds])

    def channel_of(self) -> np.ndarray:
        return np.concatenate([np.asarray(k.dram_channel, dtype=np.int64) for k in self.kinds])

    def memory_domains(self) -> tuple[MemoryDomain, ...]:
        """The [[memory]] domains, or one private domain per chiplet (its `memory_gb`)."""
        if self.domains:
            return self.domains
        kinds = self.kind_of()
        return tuple(
            MemoryDomain(f"chiplet{c}", self.kinds[k].memory_gb, (c,)) for c, k in enumerate(kinds)
        )

    def domain_of(self) -> np.ndarray:
        """Memory-domain index of every chiplet."""
        out = np.zeros(self.chiplets, dtype=np.int64)
        for d, dom in enumerate(self.memory_domains()):
            out[list(dom.chiplets)] = d
        return out

    def summary(self) -> str:
        kinds = " + ".join(f"{k.count}x {k.kind} ({k.peak_tflops:g} TF)" for k in self.kinds)
        net = self.network
        topo = f"{net.dims[0]}x{net.dims[1]} mesh" if net.topology == "mesh" else "switch"
        dram = sum(d.bw_gbs for d in self.drams)
        return f"{kinds}; {topo} {net.link_gbs:g} GB/s links; DRAM {dram:g} GB/s"
