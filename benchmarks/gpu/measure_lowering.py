"""Measure issue 7's three H100 lowering comparisons (run on the lent H100, not in CI).

1. attention: unfused (QK^T GEMM, softmax, PV GEMM, scores through HBM) vs staged (PyTorch's
   scaled_dot_product_attention: one flash kernel), GQA 32/8 heads of 128; prefill T = 128 ...
   8192 (batch 1, causal) and decode batch 1-64 x history 512-8192.
2. padding: a bf16 GEMM [M, K] x [K, N] for N x K = 14336 x 4096 and 4096 x 4096, M = 1 ...
   4097; virtual (cuBLAS on the M real rows) vs physical (copy the rows into a persistent
   buffer padded to a multiple of T = 64 or 128 rows, GEMM on the padded rows, copy the real
   rows out).
3. eltwise: one RoPE-free Llama-3-8B layer as PyTorch runs it (fused QKV and gate+up GEMMs,
   separate element-wise kernels) vs torch.compile's element-wise fusion of the same layer
   (Inductor: GEMMs stay cuBLAS, residual add + RMSNorm and SiLU * up become single kernels).

Everything runs inside CUDA graphs (as serving stacks run it); L2 is flushed before every timed
rep; the figure is the median of `REPS` reps. Rows go to stdout and $OUT/lowering_h100.csv as
they are measured: section,variant,a,b,c,median_us,device (a, b, c: the case's sizes).
Usage: OUT=<dir> python3 benchmarks/gpu/measure_lowering.py [attention] [padding] [eltwise]
"""

import math
import os
import statistics
import sys
import traceback

import torch
import torch.nn.functional as F

dev, dt = "cuda", torch.bfloat16
REPS = 20
flush = torch.empty(256 * 2**20, dtype=torch.int8, device=dev)
out_path = os.path.join(os.environ.get("OUT", "."), "lowering_h100.csv")
NAME = torch.cuda.get_device_name()
HEADER = "section,variant,a,b,c,median_us,device"


def timed(fn, reps=REPS, warm=3):
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


def emit(section, variant, a, b, c, fn):
    try:
        us = timed(graphed(fn))
    except Exception as exc:  # noqa: BLE001 (a case that fails is reported, the rest go on)
        print(f"# {section},{variant},{a},{b},{c}: {type(exc).__name__}: {exc}", flush=True)
        return
    line = f"{section},{variant},{a},{b},{c},{us:.2f},{NAME}"
    print(line, flush=True)
    with open(out_path, "a") as f:
        f.write(line + "\n")


def attention():
    H, KV, D = 32, 8, 128
    G = H // KV
    for T in (128, 256, 512, 1024, 2048, 4096, 8192):
        q = torch.randn(1, H, T, D, device=dev, dtype=dt)
        k = torch.randn(1, KV, T, D, device=dev, dtype=dt)
        v = torch.randn(1, KV, T, D, device=dev, dtype=dt)
        qg, kt, vv = q.view(KV, G * T, D), k.view(KV, T, D).transpose(1, 2), v.view(KV, T, D)

        def staged(q=q, k=k, v=v):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

        def unfused(qg=qg, kt=kt, vv=vv):
            return torch.bmm(torch.softmax(torch.bmm(qg, kt), dim=-1), vv)

        emit("attention", "staged", "prefill", T, 0, staged)
        emit("attention", "unfused", "prefill", T, 0, unfused)
        del q, k, v, qg, kt, vv
        torch.cuda.empty_cache()
    for B in (1, 8, 32, 64):
        for ctx in (512, 2048, 8192):
            q = torch.randn(B, H, 1, D, device=dev, dtype=dt)
            kc = torch.randn(B, KV, ctx + 1, D, device=dev, dtype=dt)
            vc = torch.randn(B, KV, ctx + 1, D, device=dev, dtype=dt)
            qg = q.view(B * KV, G, D)
            kt = kc.view(B * KV, ctx + 1, D).transpose(1, 2)
            vv = vc.view(B * KV, ctx + 1, D)

            def staged(q=q, kc=kc, vc=vc):
                return F.scaled_dot_product_attention(q, kc, vc, enable_gqa=True)

            def unfused(qg=qg, kt=kt, vv=vv):
                return torch.bmm(torch.softmax(torch.bmm(qg, kt), dim=-1), vv)

            emit("attention", "staged", "decode", B, ctx, staged)
            emit("attention", "unfused", "decode", B, ctx, unfused)
            del q, kc, vc, qg, kt, vv
            torch.cuda.empty_cache()


MS = (1, 16, 33, 64, 65, 100, 128, 129, 255, 256, 257, 500, 512, 513, 1000, 1024, 1025,
      2047, 2048, 2049, 3000, 4095, 4096, 4097)  # fmt: skip


def padding():
    for n, k in ((14336, 4096), (4096, 4096)):
        w = torch.randn(k, n, device=dev, dtype=dt) * 0.02
        for m in MS:
            x = torch.randn(m, k, device=dev, dtype=dt)
            emit("padding", "virtual", m, n, k, lambda x=x, w=w: x @ w)
            for tile in (64, 128):
                rows = math.ceil(m / tile) * tile
                buf = torch.zeros(rows, k, device=dev, dtype=dt)
                out = torch.empty(m, n, device=dev, dtype=dt)

                def physical(x=x, w=w, buf=buf, out=out, m=m):
                    buf[:m].copy_(x)
                    out.copy_((buf @ w)[:m])
                    return out

                emit("padding", f"physical{tile}", m, n, k, physical)


class Layer(torch.nn.Module):
    """measure_layer.py's RoPE-free Llama layer."""

    def __init__(self, h=4096, hq=32, hkv=8, ffn=14336):
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
        if kc is not None:  # append to a preallocated KV cache, as measure_layer.py does
            kc[:, :, ctx : ctx + t] = k
            vc[:, :, ctx : ctx + t] = v
            k, v = kc, vc
        o = F.scaled_dot_product_attention(q, k, v, is_causal=kc is None, enable_gqa=True)
        x = x + o.transpose(1, 2).reshape(b, t, h) @ self.wo
        g, u = (F.rms_norm(x, (h,), self.g2, 1e-5) @ self.wgu).chunk(2, dim=-1)
        return x + (F.silu(g) * u) @ self.wd


def eltwise():
    layer = Layer().to(dev, dt)
    compiled = torch.compile(layer, dynamic=False, fullgraph=True)
    cases = [("prefill", 1, 2048, 0), ("decode", 8, 1, 2048), ("decode", 64, 1, 2048)]
    with torch.no_grad():
        for phase, b, t, ctx in cases:
            x = torch.randn(b, t, 4096, device=dev, dtype=dt)
            kc = torch.randn(b, 8, ctx + 1, 128, device=dev, dtype=dt) if ctx else None
            vc = torch.randn(b, 8, ctx + 1, 128, device=dev, dtype=dt) if ctx else None
            eager = lambda x=x, kc=kc, vc=vc, c=ctx: layer(x, kc, vc, c)  # noqa: E731
            fused = lambda x=x, kc=kc, vc=vc, c=ctx: compiled(x, kc, vc, c)  # noqa: E731
            fused()  # compile outside the graph capture
            emit("eltwise", "pytorch", phase, b, ctx or t, eager)
            emit("eltwise", "compiled", phase, b, ctx or t, fused)


if __name__ == "__main__":
    sections = sys.argv[1:] or ["attention", "padding", "eltwise"]
    if not os.path.exists(out_path):
        with open(out_path, "w") as f:
            f.write(HEADER + "\n")
    print(HEADER, flush=True)
    for name in sections:
        try:
            {"attention": attention, "padding": padding, "eltwise": eltwise}[name]()
        except Exception:  # noqa: BLE001
            traceback.print_exc()
