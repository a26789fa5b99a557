"""Measure one Megatron tensor-parallel Llama-style decoder layer on a multi-GPU host.

Run on the lent H200s, not in CI. One layer per rank, world size = TP degree: RMSNorm, fused QKV
GEMM (column-sharded: this rank's query and KV heads), RoPE-free SDPA (flash, GQA), O GEMM
(row-sharded) + NCCL all-reduce + residual, RMSNorm, fused gate+up GEMM (column-sharded),
SiLU * up, down GEMM (row-sharded) + NCCL all-reduce + residual; bf16. Two all-reduces of
[batch * q_len, hidden] bf16 per layer (none at tp = 1). Prefill: batch 1, causal. Decode:
`batch` requests of 2048 tokens of history in a preallocated KV cache (kv_len = 2049 with the
new token, written in place).
Each case is timed inside a CUDA graph (as serving stacks run decode) and eager. Before every
timed rep the L2 is flushed (cold weights) and a one-element all-reduce lines the ranks' streams
up on the device, so every rank's start event fires at the same moment; the figure is the median
over 30 reps of the slowest rank's time (the lower of two passes' medians, as the reference
calibration does), after >= 0.3 s of warm-up.
Each model's sharded output is checked once against the unsharded layer (printed as rel_err).

Usage (on the device; TP = 1, 2, 4, 8):
  OUT=<dir> torchrun --nproc-per-node=TP benchmarks/gpu/measure_tp_layer.py
  writes <dir>/tp_layers_<TP>.csv: model,tp,phase,batch,q_len,kv_len,graph_us,eager_us,device
CPU logic check (no GPU; gloo, fp32, tiny shapes, no graphs):
  TP_LAYER_CPU_CHECK=1 torchrun --nproc-per-node=2 benchmarks/gpu/measure_tp_layer.py
"""

import csv
import os
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

CPU = os.environ.get("TP_LAYER_CPU_CHECK") == "1" or not torch.cuda.is_available()
dist.init_process_group("gloo" if CPU else "nccl")
rank, tp = dist.get_rank(), dist.get_world_size()
if CPU:
    dev, dt = torch.device("cpu"), torch.float32
    DEVNAME = "cpu"
else:
    local = int(os.environ.get("LOCAL_RANK", rank))
    torch.cuda.set_device(local)
    dev, dt = torch.device("cuda", local), torch.bfloat16
    DEVNAME = torch.cuda.get_device_name(dev)
OUT = os.environ.get("OUT", "out")

# (name, hidden, query heads, kv heads, ffn)
MODELS = [("llama3-8b", 4096, 32, 8, 14336), ("llama2-70b", 8192, 64, 8, 28672)]
PREFILL, DECODE_B, CTX, REPS, WARM, WARM_S = (512, 2048), (1, 8, 32, 64), 2048, 30, 5, 0.3
if CPU:  # same head counts (so the same sharding), head_dim 16, short sequences
    MODELS = [("tiny-8b", 512, 32, 8, 1792), ("tiny-70b", 1024, 64, 8, 3584)]
    PREFILL, DECODE_B, CTX, REPS, WARM, WARM_S = (16, 64), (1, 8), 64, 3, 1, 0.0

FLUSH = None if CPU else torch.empty(256 * 2**20, dtype=torch.int8, device=dev)  # > the 50-60 MB L2
SYNC = torch.zeros(1, device=dev, dtype=torch.float32)


def full_weights(h, hq, hkv, ffn):
    """The unsharded layer's weights, identical on every rank (seeded)."""
    g = torch.Generator(device=dev).manual_seed(1234)
    d = h // hq
    rnd = lambda *s: torch.randn(*s, generator=g, device=dev, dtype=dt) * 0.02  # noqa: E731
    ones = torch.ones(h, device=dev, dtype=dt)
    return (
        rnd(h, (hq + 2 * hkv) * d),
        rnd(hq * d, h),
        rnd(h, 2 * ffn),
        rnd(ffn, h),
        ones,
        ones.clone(),
    )


class TPLayer:
    """This rank's shard of the layer (tp = 1, rank = 0: the whole layer)."""

    def __init__(self, full, h, hq, hkv, ffn, tp, rank):
        assert hq % tp == 0 and hkv % tp == 0 and ffn % tp == 0, (
            "heads, kv heads and ffn must divide by tp"
        )
        wqkv, wo, wgu, wd, self.g1, self.g2 = full
        d = self.d = h // hq
        self.tp, self.hq, self.hkv, self.f = tp, hq // tp, hkv // tp, ffn // tp
        q0, k0, f0 = rank * self.hq * d, rank * self.hkv * d, rank * self.f
        # column shards: this rank's query heads, KV heads, gate and up columns
        self.wqkv = torch.cat(
            [
                wqkv[:, q0 : q0 + self.hq * d],
                wqkv[:, hq * d + k0 : hq * d + k0 + self.hkv * d],
                wqkv[:, (hq + hkv) * d + k0 : (hq + hkv) * d + k0 + self.hkv * d],
            ],
            1,
        ).contiguous()
        self.wgu = torch.cat(
            [wgu[:, f0 : f0 + self.f], wgu[:, ffn + f0 : ffn + f0 + self.f]], 1
        ).contiguous()
        # row shards: the rows that multiply this rank's heads / ffn slice
        self.wo = wo[q0 : q0 + self.hq * d].contiguous()
        self.wd = wd[f0 : f0 + self.f].contiguous()

    def __call__(self, x, kc=None, vc=None, ctx=0):
        b, t, h = x.shape
        hq, hkv, d = self.hq, self.hkv, self.d
        q, k, v = (F.rms_norm(x, (h,), self.g1, 1e-5) @ self.wqkv).split(
            [hq * d, hkv * d, hkv * d], dim=-1
        )
        q = q.view(b, t, hq, d).transpose(1, 2)
        k = k.view(b, t, hkv, d).transpose(1, 2)
        v = v.view(b, t, hkv, d).transpose(1, 2)
        if kc is not None:  # preallocated KV cache of ctx + t slots, new entries written in place
            kc[:, :, ctx : ctx + t] = k
            vc[:, :, ctx : ctx + t] = v
            k, v = kc, vc
        o = F.scaled_dot_product_attention(q, k, v, is_causal=kc is None, enable_gqa=(hq != hkv))
        a = o.transpose(1, 2).reshape(b, t, hq * d) @ self.wo
        if self.tp > 1:
            dist.all_reduce(a)
        x = x + a
        gt, up = (F.rms_norm(x, (h,), self.g2, 1e-5) @ self.wgu).chunk(2, dim=-1)
        m = (F.silu(gt) * up) @ self.wd
        if self.tp > 1:
            dist.all_reduce(m)
        return x + m


def slowest(t):
    x = torch.tensor([t], device=dev, dtype=torch.float64)
    dist.all_reduce(x, op=dist.ReduceOp.MAX)
    return x.item()


def _pass(fn):
    ts = []
    for _ in range(REPS):
        if CPU:
            dist.barrier()
            t0 = time.perf_counter()
            fn()
            t = (time.perf_counter() - t0) * 1e6
        else:
            FLUSH.zero_()
            dist.all_reduce(SYNC)  # device-side alignment of the ranks' start
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            torch.cuda.synchronize()
            t = a.elapsed_time(b) * 1e3
        ts.append(slowest(t))
    ts.sort()
    return ts[len(ts) // 2], ts[len(ts) // 10], ts[(len(ts) * 9) // 10]


def timed(fn, passes=2):
    """(median, p10, p90) of the slowest rank, the lower median of `passes` passes of REPS reps.

    Warm-up runs for at least WARM_S seconds (the same count on every rank), so host-side
    first-use costs (page faults as the VM's memory grows, lazy kernel loading) stay out of the
    eager figures."""
    t0 = time.perf_counter()
    for _ in range(WARM):
        fn()
    if not CPU:
        torch.cuda.synchronize()
    per = (time.perf_counter() - t0) / WARM
    more = int(slowest(max(0.0, WARM_S / per - WARM)))  # the same count on every rank
    for _ in range(more):
        fn()
    if not CPU:
        torch.cuda.synchronize()
    dist.barrier()
    return min(_pass(fn) for _ in range(passes))


def graphed(fn):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    torch.cuda.synchronize()
    return g


def check(ref, layer, x, kv=None):
    """Max |sharded - unsharded| over max |unsharded| (slowest rank)."""
    if kv is None:
        want, got = ref(x), layer(x)
    else:
        kc, vc, ctx = kv
        sl = slice(rank * layer.hkv, (rank + 1) * layer.hkv)
        want = ref(x, kc.clone(), vc.clone(), ctx)
        got = layer(x, kc[:, sl].contiguous(), vc[:, sl].contiguous(), ctx)
    err = ((got.float() - want.float()).abs().max() / want.float().abs().max()).item()
    return slowest(err)


FIELDS = ["model", "tp", "phase", "batch", "q_len", "kv_len", "graph_us", "eager_us", "device"]
rows = []
with torch.no_grad():
    for mname, h, hq, hkv, ffn in MODELS:
        full = full_weights(h, hq, hkv, ffn)
        layer = TPLayer(full, h, hq, hkv, ffn, tp, rank)
        gen = torch.Generator(device=dev).manual_seed(99)
        rnd = lambda *s, gen=gen: torch.randn(*s, generator=gen, device=dev, dtype=dt)  # noqa: E731
        # correctness against the unsharded layer: one prefill and one decode case
        ref = TPLayer(full, h, hq, hkv, ffn, 1, 0)
        e1 = check(ref, layer, rnd(1, PREFILL[0], h))
        kc, vc = rnd(8, hkv, CTX + 1, h // hq), rnd(8, hkv, CTX + 1, h // hq)
        e2 = check(ref, layer, rnd(8, 1, h), (kc, vc, CTX))
        if rank == 0:
            print(f"{mname} tp={tp}: rel_err prefill {e1:.2e} decode {e2:.2e}", flush=True)
        del ref, full, kc, vc
        cases = [("prefill", 1, t, t) for t in PREFILL] + [
            ("decode", b, 1, CTX + 1) for b in DECODE_B
        ]
        for phase, b, ql, kvl in cases:
            x = rnd(b, ql, h)
            if phase == "prefill":
                fn = lambda x=x, layer=layer: layer(x)  # noqa: E731
            else:
                kc = rnd(b, layer.hkv, kvl, layer.d)
                vc = rnd(b, layer.hkv, kvl, layer.d)
                fn = lambda x=x, kc=kc, vc=vc, layer=layer: layer(x, kc, vc, CTX)  # noqa: E731
            eager, e10, e90 = timed(fn)
            if CPU:
                graph = g10 = g90 = float("nan")
            else:
                g = graphed(fn)
                graph, g10, g90 = timed(g.replay)
                del g
            r = dict(
                model=mname,
                tp=tp,
                phase=phase,
                batch=b,
                q_len=ql,
                kv_len=kvl,
                graph_us=round(graph, 2),
                eager_us=round(eager, 2),
                device=DEVNAME,
            )
            rows.append(r)
            if rank == 0:
                spread = f"# p10-p90 graph {g10:.0f}-{g90:.0f} eager {e10:.0f}-{e90:.0f}"
                print(",".join(str(r[f]) for f in FIELDS), spread, flush=True)
            fn = x = kc = vc = None
            if not CPU:
                torch.cuda.empty_cache()
        del layer

if rank == 0:
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, f"tp_layers_{tp}.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    print("wrote", len(rows), "rows, tp", tp, DEVNAME, flush=True)
dist.destroy_process_group()
