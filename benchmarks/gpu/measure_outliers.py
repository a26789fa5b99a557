"""Issue 18 items 3-5 on a lent GPU: the outlier shapes, MoE kernels and layers, decode-layer energy.

Run on the device: `OUT=<dir> python3 benchmarks/gpu/measure_outliers.py`. Needs only torch (NVML is
reached through ctypes). bf16, random data. Three files under $OUT:

outliers.csv  (op latencies, the method of shared/data/measure_gpu.py: one eager op between two CUDA
  events, L2 flushed (512 MiB written) before every timed rep, median of 30 reps, the lower median
  of 2 passes)
  kind        gemm | eltwise
  name        gemm_<N>x<K> (activations [M,K] x weight [K,N]) | rmsnorm_<W> (F.rms_norm) | add_<W>
              (a + b, two tensors)
  m, n, k     rows, output columns (eltwise: width), reduction depth
  median_us, p10_us, p90_us   event-timed latency
  kernel_us   sum of the CUDA kernels' own durations of one profiled call (torch.profiler, L2
              flushed before it): the op without the event-timing overhead
  kernels     the kernels that call ran ('|'-joined, names cut to 90 characters): cuBLAS's tile
              shape and split-K show in them
  device      torch's device name

moe.csv  (Mixtral-8x7B: hidden 4096, 8 experts of ffn 14336, top-2, 32/8 heads of 128)
  kind        stage | ffn | layer
  name        stage: router (x @ Wr, [T,4096]x[4096,8]), topk (fp32 softmax, top-2, renormalise),
              permute (argsort of the T*2 expert ids, bincount + cumsum -> int32 group offsets,
              index_select of the token rows), gate_up (grouped GEMM [T*2,4096] x 8 x [4096,28672]),
              act (silu(g) * u over [T*2,14336]), down (grouped GEMM [T*2,14336] x 8 x
              [14336,4096]), unpermute (scale by the routing weight, index_add_ back to [T,4096]);
              ffn: moe_grouped (all the stages) | moe_loop (a loop over experts with a host sync
              for each expert's rows, as HF's Mixtral runs: nonzero, index, GEMMs, index_add_);
              layer: mixtral_prefill | mixtral_decode (RMSNorm, fused QKV, RoPE-free SDPA, O +
              residual, RMSNorm, the grouped MoE FFN + residual)
  impl        grouped_mm (torch._grouped_mm) | loop (per-expert GEMMs, when _grouped_mm fails)
  layout      rowmajor | colmajor: how the expert weights are stored ([E,K,N], or [E,N,K] viewed)
  tokens      T, tokens of the call (prefill: prompt length; decode: batch)
  batch, ctx  decode: requests and history per request (prefill: 1, 0)
  max_expert, min_expert   most and fewest routed rows an expert got
  mode        eager (event-timed, L2 flushed) | cudagraph (the same, one graph replay)
  median_us, p10_us, p90_us   latency
  kernel_us, kernels          as in outliers.csv (eager stage rows only)
  device

energy.csv  (measure_energy.py's method: one CUDA graph of n reps replayed back to back ~1 s; no
  L2 flush; energy = the board's NVML total-energy counter delta / reps, idle power included)
  kind        gemm | attention | copy | read | write | eltwise | layer
  name        gemm_<N>x<K>; decode (SDPA, 32/8 heads of 128, one query); d2d_copy_1GiB;
              sum_1GiB (x.sum(), reads only); fill_1GiB (x.fill_, writes only); rmsnorm_4096,
              silu_mul_14336; llama3-8b_decode / llama3-8b_prefill / llama2-70b_decode (the
              RoPE-free layer of measure_energy.py)
  m, n, k, batch, q_len, kv_len, tokens   shape (as measure_energy.py; tokens of copy/read/write:
              bytes moved)
  reps, seconds, us_per_rep, joules_per_rep, avg_w, idle_w, device   as measure_energy.py
"""

# ruff: noqa  (device script, kept in the style of the reference scripts)
# fmt: off
import csv, ctypes, os, time
import torch
import torch.nn.functional as F

OUT = os.environ.get("OUT", "out")
os.makedirs(OUT, exist_ok=True)
dev = torch.device("cuda")
DEVNAME = torch.cuda.get_device_name(0)
BF = torch.bfloat16
torch.manual_seed(0)
FLUSH = torch.empty(512 * 1024 * 1024 // 4, dtype=torch.int32, device=dev)
T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:6.1f}s]", *a, flush=True)


def _bench(fn, reps, warm, flush):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        if flush:
            FLUSH.zero_()
        s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record()
        torch.cuda.synchronize()
        ts.append(s.elapsed_time(e) * 1000.0)
    ts.sort()
    return ts[len(ts) // 2], ts[len(ts) // 10], ts[(len(ts) * 9) // 10]


def bench(fn, reps=30, warm=10, flush=True, passes=2):
    best = None
    for _ in range(passes):
        r = _bench(fn, reps, warm, flush)
        if best is None or r[0] < best[0]:
            best = r
    return best


def graphed(fn):
    s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s); torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g


def graph_bench(fn):
    try:
        g = graphed(fn)
        r = bench(g.replay)
        del g
        return r
    except Exception as ex:
        log("graph capture failed:", repr(ex)[:200])
        torch.cuda.synchronize()
        return None


def profiled(fn):
    """(sum of kernel durations in us, '|'-joined kernel names) of one call, L2 flushed."""
    try:
        FLUSH.zero_(); torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as p:
            fn(); torch.cuda.synchronize()
        evs = [e for e in p.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        evs = [e for e in evs if "memset" not in e.name.lower() and "memcpy" not in e.name.lower()]
        us = sum(e.device_time for e in evs) if evs and hasattr(evs[0], "device_time") else sum(e.cuda_time for e in evs)
        return us, "|".join(e.name[:90].replace(",", ";") for e in evs)
    except Exception as ex:  # profiler trouble must not lose the sweep
        return "", f"profiler failed: {ex}"[:90].replace(",", ";")


def write(name, fields, rows):
    with open(os.path.join(OUT, name), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=fields); wr.writeheader()
        for r in rows:
            wr.writerow({k: r.get(k, "") for k in fields})


# ============================ 1. outlier op sweeps ============================
OFIELDS = ["kind", "name", "m", "n", "k", "median_us", "p10_us", "p90_us", "kernel_us", "kernels", "device"]
orows = []


def op_row(kind, name, m, n, k, fn):
    med, lo, hi = bench(fn)
    kus, names = profiled(fn)
    orows.append(dict(kind=kind, name=name, m=m, n=n, k=k, median_us=med, p10_us=lo, p90_us=hi,
                      kernel_us=kus, kernels=names, device=DEVNAME))


FINE = [1, 16, 64, 96, 128, 144, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 512, 576, 640, 768,
        896, 1024, 1536, 2048, 3072, 4096, 8192]
AROUND128 = [32, 64, 96, 112, 120, 128, 136, 144, 160, 192, 224, 256, 320, 384, 512, 1024, 2048]
GEMMS = [((4096, 14336), FINE), ((14336, 4096), FINE), ((28672, 4096), FINE), ((6144, 4096), FINE),
         ((28672, 8192), AROUND128), ((8192, 28672), AROUND128), ((8, 4096), [1, 64, 512, 2048, 8192])]
with torch.no_grad():
    for (n, k), ms in GEMMS:
        w = torch.randn(k, n, device=dev, dtype=BF)
        for m in ms:
            xa = torch.randn(m, k, device=dev, dtype=BF)
            op_row("gemm", f"gemm_{n}x{k}", m, n, k, lambda: xa @ w)
        del w, xa
        log("gemm", n, k, "done")
    for width in (2048, 4096, 5120, 8192):
        g = torch.randn(width, device=dev, dtype=BF)
        for m in (1, 128, 1024, 2048, 4096, 6144, 8192, 12288, 16384, 32768):
            t = torch.randn(m, width, device=dev, dtype=BF)
            op_row("eltwise", f"rmsnorm_{width}", m, width, "", lambda: F.rms_norm(t, (width,), g, 1e-5))
            if width in (4096, 8192):
                u = torch.randn(m, width, device=dev, dtype=BF)
                op_row("eltwise", f"add_{width}", m, width, "", lambda: t + u)
                del u
            del t
        log("rmsnorm", width, "done")
write("outliers.csv", OFIELDS, orows)
log("outliers rows", len(orows))

# ============================ 2. MoE (Mixtral-8x7B) ============================
H, E, TOPK, FFN, HQ, HKV, D = 4096, 8, 2, 14336, 32, 8, 128
MFIELDS = ["kind", "name", "impl", "layout", "tokens", "batch", "ctx", "max_expert", "min_expert", "mode", "median_us",
           "p10_us", "p90_us", "kernel_us", "kernels", "device"]
mrows = []
wr_ = torch.randn(H, E, device=dev, dtype=BF) * 0.02
w13 = torch.randn(E, H, 2 * FFN, device=dev, dtype=BF) * 0.02
w2 = torch.randn(E, FFN, H, device=dev, dtype=BF) * 0.02
IMPL, LAYOUT = "grouped_mm", ""


def gmm(a, b, offs):
    return torch._grouped_mm(a, b, offs=offs)


def _check():
    _a = torch.randn(64, H, device=dev, dtype=BF)
    _o = torch.tensor([8 * (i + 1) for i in range(E)], device=dev, dtype=torch.int32)
    _r = gmm(_a, w13, _o)
    _ref = _a[:8] @ w13[0]
    assert (_r[:8] - _ref).abs().max().item() < 0.05 * _ref.abs().max().item() + 1e-2


try:
    try:
        _check()
    except Exception as ex:  # the kernel may want each expert's weight column-major
        log("row-major expert weights refused:", repr(ex)[:150], "-> column-major")
        w13 = w13.transpose(1, 2).contiguous().transpose(1, 2)
        w2 = w2.transpose(1, 2).contiguous().transpose(1, 2)
        torch.cuda.empty_cache()
        _check()
    LAYOUT = "colmajor" if w13.stride(1) == 1 else "rowmajor"
    log("grouped_mm ok, expert weights", LAYOUT)
except Exception as ex:
    log("torch._grouped_mm unusable:", repr(ex)[:200], "-> loop of per-expert GEMMs")
    IMPL = "loop"

    def gmm(a, b, offs):  # noqa: F811  (same math; a host sync to read the offsets)
        ends = offs.tolist(); out = []; start = 0
        for e, end in enumerate(ends):
            out.append(a[start:end] @ b[e]); start = end
        return torch.cat(out)


def route(x):
    logits = x @ wr_
    p = torch.softmax(logits.float(), dim=-1)
    topv, topi = p.topk(TOPK, dim=-1)
    return (topv / topv.sum(-1, keepdim=True)).to(BF), topi


def permute(x, topi):
    flat = topi.flatten()
    order = flat.argsort(stable=True)
    counts = torch.zeros(E, dtype=torch.int64, device=dev).index_add_(0, flat, torch.ones_like(flat))
    offs = counts.cumsum(0).to(torch.int32)  # no host sync (bincount reads the max back)
    return x.index_select(0, order // TOPK), order, offs


def unpermute(y, order, topv, T):
    y = y * topv.flatten().index_select(0, order).unsqueeze(1)
    return torch.zeros(T, H, device=dev, dtype=BF).index_add_(0, order // TOPK, y)


def moe_grouped(x):
    T = x.shape[0]
    topv, topi = route(x)
    xs, order, offs = permute(x, topi)
    gu = gmm(xs, w13, offs)
    h = F.silu(gu[:, :FFN]) * gu[:, FFN:]
    return unpermute(gmm(h, w2, offs), order, topv, T)


def moe_loop(x):
    T = x.shape[0]
    topv, topi = route(x)
    out = torch.zeros(T, H, device=dev, dtype=BF)
    for e in range(E):
        tok, slot = torch.nonzero(topi == e, as_tuple=True)
        if tok.numel() == 0:
            continue
        gu = x[tok] @ w13[e]
        h = F.silu(gu[:, :FFN]) * gu[:, FFN:]
        out.index_add_(0, tok, (h @ w2[e]) * topv[tok, slot].unsqueeze(1))
    return out


def mrow(**kw):
    r = dict(device=DEVNAME, impl=IMPL, layout=LAYOUT, batch=1, ctx=0); r.update(kw); mrows.append(r)


class MixtralLayer(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.wqkv = torch.nn.Parameter(torch.randn(H, (HQ + 2 * HKV) * D) * 0.02)
        s.wo = torch.nn.Parameter(torch.randn(HQ * D, H) * 0.02)
        s.g1 = torch.nn.Parameter(torch.ones(H)); s.g2 = torch.nn.Parameter(torch.ones(H))

    def forward(s, x, kc, vc, ctx):
        b, t, h = x.shape
        y = F.rms_norm(x, (h,), s.g1, 1e-5)
        q, k, v = (y @ s.wqkv).split([HQ * D, HKV * D, HKV * D], dim=-1)
        q = q.view(b, t, HQ, D).transpose(1, 2)
        k = k.view(b, t, HKV, D).transpose(1, 2); v = v.view(b, t, HKV, D).transpose(1, 2)
        if kc is not None:
            kc[:, :, ctx:ctx + t] = k; vc[:, :, ctx:ctx + t] = v; k, v = kc, vc
        o = F.scaled_dot_product_attention(q, k, v, is_causal=kc is None, enable_gqa=True)
        x = x + o.transpose(1, 2).reshape(b, t, h) @ s.wo
        y = F.rms_norm(x, (h,), s.g2, 1e-5).view(b * t, h)
        return x + moe_grouped(y).view(b, t, h)


with torch.no_grad():
    for T in (1, 8, 32, 64, 128, 512, 1024, 2048, 4096, 8192):
        x = torch.randn(T, H, device=dev, dtype=BF)
        topv, topi = route(x)
        counts = torch.bincount(topi.flatten(), minlength=E)
        mx, mn = int(counts.max()), int(counts.min())
        xs, order, offs = permute(x, topi)
        gu = gmm(xs, w13, offs)
        h = F.silu(gu[:, :FFN]) * gu[:, FFN:]
        y = gmm(h, w2, offs)
        gt, up = gu[:, :FFN], gu[:, FFN:]
        stages = {
            "router": lambda: x @ wr_,
            "topk": lambda: route(x),
            "permute": lambda: permute(x, topi),
            "gate_up": lambda: gmm(xs, w13, offs),
            "act": lambda: F.silu(gt) * up,
            "down": lambda: gmm(h, w2, offs),
            "unpermute": lambda: unpermute(y, order, topv, T),
        }
        for name, fn in stages.items():
            med, lo, hi = bench(fn)
            kus, kn = profiled(fn)
            mrow(kind="stage", name=name, tokens=T, max_expert=mx, min_expert=mn, mode="eager",
                 median_us=med, p10_us=lo, p90_us=hi, kernel_us=kus, kernels=kn)
        med, lo, hi = bench(lambda: moe_grouped(x))
        kus, kn = profiled(lambda: moe_grouped(x))
        mrow(kind="ffn", name="moe_grouped", tokens=T, max_expert=mx, min_expert=mn, mode="eager",
             median_us=med, p10_us=lo, p90_us=hi, kernel_us=kus, kernels=kn)
        if IMPL == "grouped_mm":
            r = graph_bench(lambda: moe_grouped(x))
            if r:
                mrow(kind="ffn", name="moe_grouped", tokens=T, max_expert=mx, min_expert=mn, mode="cudagraph",
                     median_us=r[0], p10_us=r[1], p90_us=r[2])
        med, lo, hi = bench(lambda: moe_loop(x), reps=15, warm=3)
        mrow(kind="ffn", name="moe_loop", impl="loop", tokens=T, max_expert=mx, min_expert=mn, mode="eager",
             median_us=med, p10_us=lo, p90_us=hi)
        log("moe T", T, "done", mx, mn)
    layer = MixtralLayer().to(dev, BF)
    for T in (128, 512, 1024, 2048, 4096):
        x = torch.randn(1, T, H, device=dev, dtype=BF)
        _, topi = route(torch.randn(T, H, device=dev, dtype=BF))
        med, lo, hi = bench(lambda: layer(x, None, None, 0))
        mrow(kind="layer", name="mixtral_prefill", tokens=T, mode="eager", median_us=med, p10_us=lo, p90_us=hi)
        if IMPL == "grouped_mm":
            r = graph_bench(lambda: layer(x, None, None, 0))
            if r:
                mrow(kind="layer", name="mixtral_prefill", tokens=T, mode="cudagraph", median_us=r[0], p10_us=r[1], p90_us=r[2])
    for B, ctx in ((1, 2048), (8, 2048), (32, 2048), (64, 512), (64, 2048)):
        x = torch.randn(B, 1, H, device=dev, dtype=BF)
        kc = torch.randn(B, HKV, ctx + 1, D, device=dev, dtype=BF); vc = torch.randn_like(kc)
        med, lo, hi = bench(lambda: layer(x, kc, vc, ctx))
        mrow(kind="layer", name="mixtral_decode", tokens=B, batch=B, ctx=ctx, mode="eager", median_us=med, p10_us=lo, p90_us=hi)
        if IMPL == "grouped_mm":
            r = graph_bench(lambda: layer(x, kc, vc, ctx))
            if r:
                mrow(kind="layer", name="mixtral_decode", tokens=B, batch=B, ctx=ctx, mode="cudagraph", median_us=r[0], p10_us=r[1], p90_us=r[2])
        del kc, vc
    del layer, w13, w2
write("moe.csv", MFIELDS, mrows)
log("moe rows", len(mrows), "impl", IMPL)
torch.cuda.empty_cache()

# ============================ 3. energy (NVML through ctypes) ============================
EFIELDS = ["kind", "name", "m", "n", "k", "batch", "q_len", "kv_len", "tokens", "reps", "seconds", "us_per_rep",
           "joules_per_rep", "avg_w", "idle_w", "device"]
erows = []
try:
    nvml = ctypes.CDLL("libnvidia-ml.so.1")
    assert nvml.nvmlInit_v2() == 0
    handle = ctypes.c_void_p()
    assert nvml.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(handle)) == 0

    def energy_mj():
        v = ctypes.c_ulonglong()
        assert nvml.nvmlDeviceGetTotalEnergyConsumption(handle, ctypes.byref(v)) == 0
        return v.value
    energy_mj()
except Exception as ex:
    log("NVML unusable:", repr(ex)[:200]); energy_mj = None


def idle_watts(sec=3.0):
    torch.cuda.synchronize(); time.sleep(1.0)
    e0, t0 = energy_mj(), time.time(); time.sleep(sec); e1, t1 = energy_mj(), time.time()
    return (e1 - e0) / 1000.0 / (t1 - t0)


def graph_n(fn, n):
    s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s); torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(n):
            fn()
    return g


IDLE = None


def eadd(fn, target_s=1.0, **kw):
    g1 = graph_n(fn, 1)
    for _ in range(3): g1.replay()
    torch.cuda.synchronize()
    s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(10): g1.replay()
    e.record(); torch.cuda.synchronize()
    one = s.elapsed_time(e) / 10 / 1000.0
    del g1
    n = max(1, min(2000, int(0.05 / max(one, 1e-6))))
    g = graph_n(fn, n)
    for _ in range(3): g.replay()
    torch.cuda.synchronize()
    replays = max(2, int(target_s / (n * one)))
    e0, t0 = energy_mj(), time.time()
    for _ in range(replays): g.replay()
    torch.cuda.synchronize()
    e1, t1 = energy_mj(), time.time()
    reps = replays * n; j = (e1 - e0) / 1000.0
    r = dict(kw); r.update(reps=reps, seconds=t1 - t0, us_per_rep=(t1 - t0) / reps * 1e6, joules_per_rep=j / reps,
                           avg_w=j / (t1 - t0), idle_w=IDLE, device=DEVNAME)
    erows.append(r); del g
    log(kw.get("kind"), kw.get("name"), kw.get("m", ""), kw.get("batch", ""), kw.get("kv_len", ""),
        f"{r['us_per_rep']:.1f}us {r['joules_per_rep']*1e3:.3f}mJ {r['avg_w']:.0f}W")


class Layer(torch.nn.Module):  # measure_energy.py's RoPE-free Llama layer
    def __init__(s, h, hq, hkv, inter):
        super().__init__()
        s.hq, s.hkv, s.d = hq, hkv, h // hq
        s.wqkv = torch.nn.Parameter(torch.randn(h, (hq + 2 * hkv) * s.d) * 0.02)
        s.wo = torch.nn.Parameter(torch.randn(hq * s.d, h) * 0.02)
        s.wgu = torch.nn.Parameter(torch.randn(h, 2 * inter) * 0.02)
        s.wd = torch.nn.Parameter(torch.randn(inter, h) * 0.02)
        s.g1 = torch.nn.Parameter(torch.ones(h)); s.g2 = torch.nn.Parameter(torch.ones(h))

    def forward(s, x, kc, vc, ctx):
        b, t, h = x.shape
        y = F.rms_norm(x, (h,), s.g1, 1e-5)
        q, k, v = (y @ s.wqkv).split([s.hq * s.d, s.hkv * s.d, s.hkv * s.d], dim=-1)
        q = q.view(b, t, s.hq, s.d).transpose(1, 2)
        k = k.view(b, t, s.hkv, s.d).transpose(1, 2); v = v.view(b, t, s.hkv, s.d).transpose(1, 2)
        if kc is not None:
            kc[:, :, ctx:ctx + t] = k; vc[:, :, ctx:ctx + t] = v; k, v = kc, vc
        o = F.scaled_dot_product_attention(q, k, v, is_causal=kc is None, enable_gqa=(s.hq != s.hkv))
        x = x + o.transpose(1, 2).reshape(b, t, h) @ s.wo
        y = F.rms_norm(x, (h,), s.g2, 1e-5)
        gt, up = (y @ s.wgu).chunk(2, dim=-1)
        return x + (F.silu(gt) * up) @ s.wd


if energy_mj is not None:
    with torch.no_grad():
        IDLE = idle_watts()
        log(f"idle {IDLE:.1f} W")
        for (N, K) in ((6144, 4096), (4096, 4096), (28672, 4096), (4096, 14336), (28672, 8192)):
            w = torch.randn(K, N, device=dev, dtype=BF)
            for m in (1, 8, 32, 64, 128, 512, 4096):
                x = torch.randn(m, K, device=dev, dtype=BF)
                eadd(lambda: x @ w, kind="gemm", name=f"gemm_{N}x{K}", m=m, n=N, k=K)
            del w, x
        x = torch.empty(512 * 1024 * 1024, dtype=BF, device=dev).normal_(); y = torch.empty_like(x)
        eadd(lambda: y.copy_(x), kind="copy", name="d2d_copy_1GiB", tokens=2 * x.numel() * 2)
        eadd(lambda: x.sum(), kind="read", name="sum_1GiB", tokens=x.numel() * 2)
        eadd(lambda: y.fill_(1.0), kind="write", name="fill_1GiB", tokens=y.numel() * 2)
        del x, y
        for m in (512, 8192):
            x = torch.randn(m, 4096, device=dev, dtype=BF); g = torch.ones(4096, device=dev, dtype=BF)
            eadd(lambda: F.rms_norm(x, (4096,), g, 1e-5), kind="eltwise", name="rmsnorm_4096", m=m, n=4096)
            gt = torch.randn(m, 14336, device=dev, dtype=BF); up = torch.randn_like(gt)
            eadd(lambda: F.silu(gt) * up, kind="eltwise", name="silu_mul_14336", m=m, n=14336)
        del x, gt, up
        Hq, Hkv, Dh = 32, 8, 128
        for B, KV in ((1, 2048), (8, 2048), (32, 2048), (64, 512), (64, 2048), (128, 1024), (32, 8192)):
            q = torch.randn(B, Hq, 1, Dh, device=dev, dtype=BF); k = torch.randn(B, Hkv, KV, Dh, device=dev, dtype=BF); v = torch.randn_like(k)
            eadd(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True), kind="attention", name="decode",
                 batch=B, q_len=1, kv_len=KV, tokens=B)
        del q, k, v
        for mname, h, hq, hkv, inter, cases in (
            ("llama3-8b", 4096, 32, 8, 14336, ((1, 2048), (8, 2048), (16, 2048), (32, 2048), (64, 512), (64, 2048), (128, 1024))),
            ("llama2-70b", 8192, 64, 8, 28672, ((1, 2048), (32, 2048), (64, 512)))):
            layer = Layer(h, hq, hkv, inter).to(dev, BF)
            for B, ctx in cases:
                x = torch.randn(B, 1, h, device=dev, dtype=BF)
                kc = torch.randn(B, hkv, ctx + 1, h // hq, device=dev, dtype=BF); vc = torch.randn_like(kc)
                eadd(lambda: layer(x, kc, vc, ctx), kind="layer", name=f"{mname}_decode", batch=B, q_len=1,
                     kv_len=ctx + 1, tokens=B)
                del kc, vc
            if mname == "llama3-8b":
                for T in (512, 2048):
                    x = torch.randn(1, T, h, device=dev, dtype=BF)
                    eadd(lambda: layer(x, None, None, 0), kind="layer", name=f"{mname}_prefill", batch=1, q_len=T,
                         kv_len=T, tokens=T)
            del layer
    write("energy.csv", EFIELDS, erows)
log("done; outliers", len(orows), "moe", len(mrows), "energy", len(erows), DEVNAME)
