"""One GPU's share of a tensor-parallel Llama-3-8B decode layer, without the collectives.

Run on the device: `OUT=<dir> python3 benchmarks/gpu/measure_tp_shard.py`. Needs only torch. bf16,
random data, L2 flushed (512 MiB written) before every timed rep, median of 30, the lower median
of 2 passes. What a TP shard computes is the layer's GEMMs split by columns (QKV, gate+up) and by
rows (O, down), attention over its heads: with no multi-GPU host lent, this isolates the compute
part of a TP4 decode layer from its all-reduces. Writes $OUT/tp_shard.csv:

  kind        gemm | layer
  name        gemm_<N>x<K> (activations [M,K] x weight [K,N]); layer: llama3-8b_tp<T>_decode (the
              RoPE-free layer of measure_energy.py with 1/T of every GEMM and of the heads: RMSNorm,
              QKV [4096, 6144/T], SDPA over 32/T query and 8/T KV heads of 128 with a KV cache,
              O [4096/T, 4096] + residual, RMSNorm, gate+up [4096, 28672/T], SiLU * up, down
              [14336/T, 4096] + residual; no all-reduce)
  tp          the tensor-parallel degree T the shard belongs to
  m           GEMM rows (tokens); layer: requests
  n, k        GEMM shape
  ctx         layer: history per request
  mode        eager (event-timed op) | cudagraph (layer: one graph replay)
  median_us, p10_us, p90_us
  kernels     the GEMM's cuBLAS kernel ('|'-joined names, cut to 90 characters)
  device
"""

# ruff: noqa  (device script, kept in the style of the reference scripts)
# fmt: off
import csv, os
import torch
import torch.nn.functional as F

OUT = os.environ.get("OUT", "out")
os.makedirs(OUT, exist_ok=True)
dev = torch.device("cuda")
DEVNAME = torch.cuda.get_device_name(0)
BF = torch.bfloat16
torch.manual_seed(0)
FLUSH = torch.empty(512 * 1024 * 1024 // 4, dtype=torch.int32, device=dev)


def _bench(fn, reps, warm):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        FLUSH.zero_()
        s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record()
        torch.cuda.synchronize()
        ts.append(s.elapsed_time(e) * 1000.0)
    ts.sort()
    return ts[len(ts) // 2], ts[len(ts) // 10], ts[(len(ts) * 9) // 10]


def bench(fn, reps=30, warm=10):
    return min((_bench(fn, reps, warm) for _ in range(2)), key=lambda r: r[0])


def kernel_names(fn):
    try:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as p:
            fn(); torch.cuda.synchronize()
        evs = [e for e in p.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        return "|".join(e.name[:90].replace(",", ";") for e in evs)
    except Exception as ex:
        return f"profiler failed: {ex}"[:90].replace(",", ";")


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


FIELDS = ["kind", "name", "tp", "m", "n", "k", "ctx", "mode", "median_us", "p10_us", "p90_us", "kernels", "device"]
rows = []
H, HQ, HKV, D, FFN = 4096, 32, 8, 128, 14336


class Shard(torch.nn.Module):
    def __init__(s, tp):
        super().__init__()
        s.hq, s.hkv = HQ // tp, HKV // tp
        s.wqkv = torch.nn.Parameter(torch.randn(H, (s.hq + 2 * s.hkv) * D) * 0.02)
        s.wo = torch.nn.Parameter(torch.randn(s.hq * D, H) * 0.02)
        s.wgu = torch.nn.Parameter(torch.randn(H, 2 * FFN // tp) * 0.02)
        s.wd = torch.nn.Parameter(torch.randn(FFN // tp, H) * 0.02)
        s.g1 = torch.nn.Parameter(torch.ones(H)); s.g2 = torch.nn.Parameter(torch.ones(H))

    def forward(s, x, kc, vc, ctx):
        b, t, h = x.shape
        y = F.rms_norm(x, (h,), s.g1, 1e-5)
        q, k, v = (y @ s.wqkv).split([s.hq * D, s.hkv * D, s.hkv * D], dim=-1)
        q = q.view(b, t, s.hq, D).transpose(1, 2)
        k = k.view(b, t, s.hkv, D).transpose(1, 2); v = v.view(b, t, s.hkv, D).transpose(1, 2)
        kc[:, :, ctx:ctx + t] = k; vc[:, :, ctx:ctx + t] = v
        o = F.scaled_dot_product_attention(q, kc, vc, enable_gqa=s.hq != s.hkv)
        x = x + o.transpose(1, 2).reshape(b, t, s.hq * D) @ s.wo
        y = F.rms_norm(x, (h,), s.g2, 1e-5)
        gt, up = (y @ s.wgu).chunk(2, dim=-1)
        return x + (F.silu(gt) * up) @ s.wd


with torch.no_grad():
    for tp in (1, 2, 4):
        for n, k in ((6144 // tp, H), (H, 4096 // tp), (2 * FFN // tp, H), (H, FFN // tp)):
            w = torch.randn(k, n, device=dev, dtype=BF)
            for m in (1, 8, 32, 64, 128):
                xa = torch.randn(m, k, device=dev, dtype=BF)
                med, lo, hi = bench(lambda: xa @ w)
                rows.append(dict(kind="gemm", name=f"gemm_{n}x{k}", tp=tp, m=m, n=n, k=k, mode="eager", median_us=med,
                                 p10_us=lo, p90_us=hi, kernels=kernel_names(lambda: xa @ w), device=DEVNAME))
            del w, xa
        layer = Shard(tp).to(dev, BF)
        for B, ctx in ((1, 2048), (8, 2048), (32, 2048), (64, 512), (64, 2048)):
            x = torch.randn(B, 1, H, device=dev, dtype=BF)
            kc = torch.randn(B, HKV // tp, ctx + 1, D, device=dev, dtype=BF); vc = torch.randn_like(kc)
            g = graphed(lambda: layer(x, kc, vc, ctx))
            med, lo, hi = bench(g.replay)
            rows.append(dict(kind="layer", name=f"llama3-8b_tp{tp}_decode", tp=tp, m=B, ctx=ctx, mode="cudagraph",
                             median_us=med, p10_us=lo, p90_us=hi, device=DEVNAME))
            print(tp, B, ctx, f"{med:.1f} us", flush=True)
            del g, kc, vc
        del layer

with open(os.path.join(OUT, "tp_shard.csv"), "w", newline="") as f:
    wr = csv.DictWriter(f, fieldnames=FIELDS); wr.writeheader()
    for r in rows:
        wr.writerow({k: r.get(k, "") for k in FIELDS})
print("rows", len(rows), DEVNAME)
