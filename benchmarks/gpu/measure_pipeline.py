"""Measure a pipeline-parallel (GPipe, forward only) Llama-3-8B-shaped model on a multi-GPU host.

Run on the lent H200s, not in CI. World size P = pipeline degree (1, 2, 4, ...). The model is
L decoder layers shaped like Llama-3-8B (hidden 4096, 32 query / 8 KV heads, ffn 14336, bf16),
each the RoPE-free layer of measure_tp_layer.py at tp = 1: RMSNorm, fused QKV GEMM, SDPA (flash,
GQA), O GEMM + residual, RMSNorm, fused gate+up GEMM, SiLU * up, down GEMM + residual. The L
layers are split evenly into P contiguous stages, one a rank. M micro-batches flow through in
order: rank r takes micro-batch m (rank 0 from its inputs, rank r > 0 by an NCCL `recv` from
r - 1), runs its layers on it and `isend`s the activation [tokens, 4096] bf16 to r + 1 (the sends
are waited for at the end of the schedule, so a stage works on m + 1 while m is on the wire).
Prefill: batch 1 a micro-batch, causal. Decode: `batch` requests a micro-batch, 2048 tokens of
history in a preallocated KV cache per micro-batch and layer (kv_len = 2049 with the new token,
written in place).
Each case is timed eager and inside a CUDA graph (each rank captures its whole schedule, the
send/recv included). Before every timed rep the L2 is flushed (cold weights) and a one-element
all-reduce lines the ranks' streams up on the device, so every rank's start event fires at the
same moment; the figure is the median over REPS reps of the slowest rank's time, i.e. from the
common start to the last rank's end (the lower of two passes' medians, as measure_tp_layer.py),
after >= WARM_S of warm-up.
Checks, printed as rel_err: the last rank's outputs of a 2-micro-batch prefill and decode schedule
against all L layers run on one GPU (unsplit), and each timed graph's outputs against eager's.

Usage (on the device; P = 1, 2, 4, 8; L must divide by P):
  OUT=<dir> torchrun --nproc-per-node=P benchmarks/gpu/measure_pipeline.py
  writes <dir>/pipeline_<P>.csv:
  model,pp,layers,microbatches,phase,batch,q_len,kv_len,graph_us,eager_us,device
CPU logic check (no GPU; gloo, fp32, tiny shapes, no graphs):
  PIPELINE_CPU_CHECK=1 torchrun --nproc-per-node=2 benchmarks/gpu/measure_pipeline.py
"""

import csv
import os
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

CPU = os.environ.get("PIPELINE_CPU_CHECK") == "1" or not torch.cuda.is_available()
dist.init_process_group("gloo" if CPU else "nccl")
rank, pp = dist.get_rank(), dist.get_world_size()
if CPU:
    dev, dt = torch.device("cpu"), torch.float32
    DEVNAME = "cpu"
else:
    local = int(os.environ.get("LOCAL_RANK", rank))
    torch.cuda.set_device(local)
    dev, dt = torch.device("cuda", local), torch.bfloat16
    DEVNAME = torch.cuda.get_device_name(dev)
OUT = os.environ.get("OUT", "out")

MODEL, H, HQ, HKV, FFN = "llama3-8b", 4096, 32, 8, 14336
LAYERS, MICRO = (4, 8), (1, 4)
PREFILL, DECODE_B, CTX, REPS, WARM, WARM_S = (512, 2048), (8, 64), 2048, 20, 3, 0.2
if CPU:  # same head counts, head_dim 16, short sequences
    MODEL, H, HQ, HKV, FFN = "tiny-8b", 512, 32, 8, 1792
    PREFILL, DECODE_B, CTX, REPS, WARM, WARM_S = (16, 64), (2, 4), 64, 3, 1, 0.0
D = H // HQ

FLUSH = None if CPU else torch.empty(256 * 2**20, dtype=torch.int8, device=dev)  # > the 50-60 MB L2
SYNC = torch.zeros(1, device=dev, dtype=torch.float32)


def _gen(seed):
    return torch.Generator(device=dev).manual_seed(seed)


def layer_weights(i):
    """Decoder layer i's weights (global index), identical on every rank (seeded by i)."""
    g = _gen(1234 + i)
    rnd = lambda *s: torch.randn(*s, generator=g, device=dev, dtype=dt) * 0.02  # noqa: E731
    ones = torch.ones(H, device=dev, dtype=dt)
    wqkv, wo = rnd(H, (HQ + 2 * HKV) * D), rnd(HQ * D, H)
    wgu, wd = rnd(H, 2 * FFN), rnd(FFN, H)
    return wqkv, wo, wgu, wd, ones, ones.clone()


def layer(w, x, kv=None):
    """One RoPE-free Llama layer; kv = (k cache, v cache) of CTX + t slots, written in place."""
    wqkv, wo, wgu, wd, g1, g2 = w
    b, t, h = x.shape
    q, k, v = (F.rms_norm(x, (h,), g1, 1e-5) @ wqkv).split([HQ * D, HKV * D, HKV * D], dim=-1)
    q = q.view(b, t, HQ, D).transpose(1, 2)
    k = k.view(b, t, HKV, D).transpose(1, 2)
    v = v.view(b, t, HKV, D).transpose(1, 2)
    if kv is not None:
        kc, vc = kv
        kc[:, :, CTX : CTX + t] = k
        vc[:, :, CTX : CTX + t] = v
        k, v = kc, vc
    o = F.scaled_dot_product_attention(q, k, v, is_causal=kv is None, enable_gqa=True)
    x = x + o.transpose(1, 2).reshape(b, t, HQ * D) @ wo
    gt, up = (F.rms_norm(x, (h,), g2, 1e-5) @ wgu).chunk(2, dim=-1)
    return x + (F.silu(gt) * up) @ wd


def stage_layers(n_layers, p, r):
    """The global indices of stage r's layers: n_layers split evenly into p contiguous stages."""
    assert n_layers % p == 0, "layers must divide by the pipeline degree"
    per = n_layers // p
    return list(range(r * per, (r + 1) * per))


def kv_caches(m, idx, b):
    """Micro-batch m's KV caches for the layers idx (seeded by m and the global layer index)."""
    out = []
    for i in idx:
        g = _gen(7919 * (m + 1) + i)
        shape = (b, HKV, CTX + 1, D)
        out.append(
            (
                torch.randn(*shape, generator=g, device=dev, dtype=dt),
                torch.randn(*shape, generator=g, device=dev, dtype=dt),
            )
        )
    return out


def inputs(m_count, b, t):
    return [
        torch.randn(b, t, H, generator=_gen(99 + m), device=dev, dtype=dt) for m in range(m_count)
    ]


def schedule(ws, xs, bufs, kvs):
    """This rank's part of a GPipe forward of len(bufs) micro-batches, in order.

    Rank 0 reads xs; rank r > 0 receives micro-batch m from r - 1 into bufs[m]; every rank but
    the last sends its output to r + 1 (isend, waited for at the end). Returns the outputs."""
    sends, outs = [], []
    for m in range(len(bufs)):
        if rank > 0:
            dist.recv(bufs[m], src=rank - 1)
            x = bufs[m]
        else:
            x = xs[m]
        for j, w in enumerate(ws):
            x = layer(w, x, None if kvs is None else kvs[m][j])
        if rank < pp - 1:
            sends.append(dist.isend(x, dst=rank + 1))
        outs.append(x)
    for s in sends:
        s.wait()
    return outs


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
    """(median, p10, p90) of the slowest rank, the lower median of `passes` passes of REPS reps,
    after >= WARM_S seconds of warm-up (the same count on every rank)."""
    t0 = time.perf_counter()
    for _ in range(WARM):
        fn()
    if not CPU:
        torch.cuda.synchronize()
    per = (time.perf_counter() - t0) / WARM
    more = int(slowest(max(0.0, WARM_S / per - WARM)))
    for _ in range(more):
        fn()
    if not CPU:
        torch.cuda.synchronize()
    dist.barrier()
    return min(_pass(fn) for _ in range(passes))


def graphed(fn):
    """Capture fn (warmed on a side stream first); returns (graph, its static outputs)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        outs = fn()
    torch.cuda.synchronize()
    return g, outs


def rel_err(got, want):
    """max |got - want| / max |want| over the micro-batches (last rank; 0 elsewhere), slowest."""
    e = 0.0
    if rank == pp - 1:
        for a, b in zip(got, want, strict=True):
            e = max(e, ((a.float() - b.float()).abs().max() / b.float().abs().max()).item())
    return slowest(e)


def check(n_layers):
    """A 2-micro-batch pipeline (prefill, then decode) against the unsplit L layers."""
    idx = stage_layers(n_layers, pp, rank)
    ws = [layer_weights(i) for i in idx]
    errs = []
    for phase, b, t in (("prefill", 1, PREFILL[0]), ("decode", DECODE_B[0], 1)):
        xs = inputs(2, b, t)
        bufs = [torch.empty(b, t, H, device=dev, dtype=dt) for _ in range(2)]
        kvs = None if phase == "prefill" else [kv_caches(m, idx, b) for m in range(2)]
        got = schedule(ws, xs, bufs, kvs)
        want = []
        if rank == pp - 1:
            full = [layer_weights(i) for i in range(n_layers)]
            for m, x in enumerate(xs):
                kv = None if kvs is None else kv_caches(m, range(n_layers), b)
                for i, w in enumerate(full):
                    x = layer(w, x, None if kv is None else kv[i])
                want.append(x)
            del full
        errs.append(rel_err(got, want))
    return errs


FIELDS = [
    "model",
    "pp",
    "layers",
    "microbatches",
    "phase",
    "batch",
    "q_len",
    "kv_len",
    "graph_us",
    "eager_us",
    "device",
]
rows = []
graphs_ok = not CPU
if rank == 0:
    nccl = "" if CPU else ".".join(map(str, torch.cuda.nccl.version()))
    print(f"# {DEVNAME} x{pp}, torch {torch.__version__}, NCCL {nccl}", flush=True)
with torch.no_grad():
    for n_layers in LAYERS:
        e1, e2 = check(n_layers)
        if rank == 0:
            print(
                f"{MODEL} pp={pp} L={n_layers}: rel_err prefill {e1:.2e} decode {e2:.2e}",
                flush=True,
            )
        idx = stage_layers(n_layers, pp, rank)
        ws = [layer_weights(i) for i in idx]
        cases = [("prefill", 1, t, t) for t in PREFILL] + [
            ("decode", b, 1, CTX + 1) for b in DECODE_B
        ]
        for mb in MICRO:
            for phase, b, ql, kvl in cases:
                xs = inputs(mb, b, ql) if rank == 0 else None
                bufs = [torch.empty(b, ql, H, device=dev, dtype=dt) for _ in range(mb)]
                kvs = None if phase == "prefill" else [kv_caches(m, idx, b) for m in range(mb)]
                fn = lambda ws=ws, xs=xs, bufs=bufs, kvs=kvs: schedule(ws, xs, bufs, kvs)  # noqa: E731
                eager, e10, e90 = timed(fn)
                graph = g10 = g90 = gerr = float("nan")
                if graphs_ok:
                    want = [o.clone() for o in fn()]
                    g = outs = None
                    try:
                        g, outs = graphed(fn)
                        ok = 1.0
                    except Exception as exc:  # noqa: BLE001 - say so, measure eager only
                        print(f"rank {rank}: CUDA graph capture failed: {exc!r}", flush=True)
                        ok = 0.0
                    if -slowest(-ok) < 1.0:  # any rank failed: no graphs from here on
                        graphs_ok = False
                        g = outs = None
                    else:
                        for buf in bufs:  # replay must refill them through the recvs
                            buf.zero_()
                        graph, g10, g90 = timed(g.replay)
                        gerr = rel_err(outs, want)
                    del g, outs, want
                r = dict(
                    model=MODEL,
                    pp=pp,
                    layers=n_layers,
                    microbatches=mb,
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
                    spread = (
                        f"# p10-p90 graph {g10:.0f}-{g90:.0f} eager {e10:.0f}-{e90:.0f}"
                        f" graph-vs-eager rel_err {gerr:.1e}"
                    )
                    print(",".join(str(r[f]) for f in FIELDS), spread, flush=True)
                fn = xs = bufs = kvs = None
                if not CPU:
                    torch.cuda.empty_cache()
        del ws

if rank == 0:
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, f"pipeline_{pp}.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    print("wrote", len(rows), "rows, pp", pp, DEVNAME, flush=True)
dist.destroy_process_group()
