"""Measure whole Llama-style decoder layers on a CUDA GPU (run on the lent H100, not in CI).

One layer: RMSNorm, fused QKV GEMM, RoPE-free SDPA (flash, GQA), O GEMM + residual, RMSNorm,
fused gate+up GEMM, SiLU * up, down GEMM + residual; bf16; L2 flushed before every timed rep
(cold weights, as in serving). Prefill: batch 1, causal. Decode: `bsz` requests of `ctx`
history in a preallocated KV cache. Eager and CUDA-graph timings. Prints CSV rows.
Usage: python3 benchmarks/gpu/measure_layer.py > layers.csv
"""

import statistics
import sys

import torch
import torch.nn.functional as F

dev = "cuda"
dt = torch.bfloat16
flush = torch.empty(256 * 2**20, dtype=torch.int8, device=dev)


def timed(fn, reps=30, warm=5):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        flush.zero_()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) * 1e3)
    return statistics.median(times)


def graphed(fn):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g.replay


class Layer(torch.nn.Module):
    def __init__(self, h, hq, hkv, ffn):
        super().__init__()
        self.h, self.hq, self.hkv, self.d = h, hq, hkv, h // hq
        init = lambda *s: torch.nn.Parameter(torch.randn(*s) * 0.02)  # noqa: E731
        self.wqkv, self.wo = init(h, (hq + 2 * hkv) * self.d), init(hq * self.d, h)
        self.wgu, self.wd = init(h, 2 * ffn), init(ffn, h)
        self.g1, self.g2 = torch.nn.Parameter(torch.ones(h)), torch.nn.Parameter(torch.ones(h))

    def forward(self, x, kc=None, vc=None, ctx=0):
        b, t, h = x.shape
        q, k, v = (F.rms_norm(x, (h,), self.g1, 1e-5) @ self.wqkv).split(
            [self.hq * self.d, self.hkv * self.d, self.hkv * self.d], dim=-1
        )
        q = q.view(b, t, self.hq, self.d).transpose(1, 2)
        k = k.view(b, t, self.hkv, self.d).transpose(1, 2)
        v = v.view(b, t, self.hkv, self.d).transpose(1, 2)
        if kc is not None:
            kc[:, :, ctx : ctx + t] = k
            vc[:, :, ctx : ctx + t] = v
            k, v = kc, vc
        o = F.scaled_dot_product_attention(q, k, v, is_causal=kc is None, enable_gqa=True)
        x = x + o.transpose(1, 2).reshape(b, t, h) @ self.wo
        g, u = (F.rms_norm(x, (h,), self.g2, 1e-5) @ self.wgu).chunk(2, dim=-1)
        return x + (F.silu(g) * u) @ self.wd


print("model,phase,batch,tokens,ctx,mode,median_us,device")
name = torch.cuda.get_device_name()
with torch.no_grad():
    layer = Layer(4096, 32, 8, 14336).to(dev, dt)
    for t in (512, 1024, 2048, 4096):
        x = torch.randn(1, t, 4096, device=dev, dtype=dt)
        fn = lambda x=x: layer(x)  # noqa: E731
        for mode, f in (("eager", fn), ("cudagraph", graphed(fn))):
            print(f"llama3-8b,prefill,1,{t},0,{mode},{timed(f):.2f},{name}")
    for bsz in (1, 8, 32, 64):
        for ctx in (512, 2048):
            x = torch.randn(bsz, 1, 4096, device=dev, dtype=dt)
            kc = torch.randn(bsz, 8, ctx + 1, 128, device=dev, dtype=dt)
            vc = torch.randn(bsz, 8, ctx + 1, 128, device=dev, dtype=dt)
            fn = lambda x=x, kc=kc, vc=vc, ctx=ctx: layer(x, kc, vc, ctx)  # noqa: E731
            for mode, f in (("eager", fn), ("cudagraph", graphed(fn))):
                print(f"llama3-8b,decode,{bsz},{bsz},{ctx},{mode},{timed(f):.2f},{name}")
    sys.stdout.flush()
