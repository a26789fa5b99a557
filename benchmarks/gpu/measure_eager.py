"""Measure eager chains of Llama-3-8B-shaped decoder layers against CUDA graphs, and the host's
time to issue them (run on a lent GPU, not in CI; needs only torch).

Ground truth for the engine's eager host queue (xcompass/engine/hostqueue.py): the host issues every
kernel one after another, the device drains them, a kernel waits for its launch only when the
queue runs dry. A chain is L distinct layers (own weights, own KV cache), each the RoPE-free
layer of measure_layer.py: RMSNorm, fused QKV GEMM, SDPA (flash, GQA), O GEMM + residual,
RMSNorm, fused gate+up GEMM, SiLU * up, down GEMM + residual; bf16. Prefill: batch 1, causal.
Decode: `batch` requests with `ctx` tokens of history in a preallocated KV cache (written in
place at position ctx).

Every timed rep starts cold: L2 flushed (a 256 MB memset), then `torch.cuda.synchronize()`, so
the device is idle and the host's queue empty when the start event is recorded; the figure is
the median over REPS reps of the events' elapsed time.

CSV columns (stdout, and $OUT/h100_eager_chains.csv when OUT is set):
  model       llama3-8b (shapes: hidden 4096, 32 query / 8 KV heads of 128, ffn 14336)
  phase       prefill | decode
  batch       requests (prefill: 1)
  q_len       new tokens per request (prefill: the prompt; decode: 1)
  ctx         decode: tokens of history in the KV cache (prefill: 0)
  layers      L, layers in the chain
  kernels     CUDA kernels one eager run of the chain launches (torch.profiler, once)
  graph_us    the chain replayed from one CUDA graph, cold start, median
  eager_us    the chain run eagerly from Python, cold start, median
  host_us     host wall time to issue the eager chain while the device is held busy by a
              long `torch.cuda._sleep` kernel before it (the queue never drains: pure issue
              time), median; host_us / kernels is the host's time per launch
  device      torch.cuda.get_device_name()
Usage: OUT=<dir> python3 benchmarks/gpu/measure_eager.py
"""

import csv
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

dev, dt = "cuda", torch.bfloat16
H, HQ, HKV, FFN, D = 4096, 32, 8, 14336, 128
LAYERS = (1, 2, 4, 8)
PREFILL = (512, 2048)
DECODE = ((1, 2048), (8, 2048), (32, 2048), (64, 2048))  # (batch, ctx)
REPS, WARM = 20, 3
flush = torch.empty(256 * 2**20, dtype=torch.int8, device=dev)  # > the 50 MB L2


class Layer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        init = lambda *s: torch.nn.Parameter(torch.randn(*s) * 0.02)  # noqa: E731
        self.wqkv, self.wo = init(H, (HQ + 2 * HKV) * D), init(HQ * D, H)
        self.wgu, self.wd = init(H, 2 * FFN), init(FFN, H)
        self.g1, self.g2 = torch.nn.Parameter(torch.ones(H)), torch.nn.Parameter(torch.ones(H))

    def forward(self, x, kc=None, vc=None, ctx=0):  # noqa: ANN001, ANN201
        b, t, h = x.shape
        q, k, v = (F.rms_norm(x, (h,), self.g1, 1e-5) @ self.wqkv).split(
            [HQ * D, HKV * D, HKV * D], dim=-1
        )
        q = q.view(b, t, HQ, D).transpose(1, 2)
        k = k.view(b, t, HKV, D).transpose(1, 2)
        v = v.view(b, t, HKV, D).transpose(1, 2)
        if kc is not None:
            kc[:, :, ctx : ctx + t] = k
            vc[:, :, ctx : ctx + t] = v
            k, v = kc, vc
        o = F.scaled_dot_product_attention(q, k, v, is_causal=kc is None, enable_gqa=True)
        x = x + o.transpose(1, 2).reshape(b, t, h) @ self.wo
        g, u = (F.rms_norm(x, (h,), self.g2, 1e-5) @ self.wgu).chunk(2, dim=-1)
        return x + (F.silu(g) * u) @ self.wd


def cold(fn) -> float:  # noqa: ANN001
    """Median us of fn from an idle device and an empty queue, L2 flushed."""
    for _ in range(WARM):
        fn()
    times = []
    for _ in range(REPS):
        flush.zero_()
        torch.cuda.synchronize()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) * 1e3)
    return statistics.median(times)


def host_time(fn, busy_cycles: int) -> float:  # noqa: ANN001
    """Median us the host takes to issue fn while a sleep kernel keeps the device busy."""
    times = []
    for _ in range(REPS):
        torch.cuda.synchronize()
        torch.cuda._sleep(busy_cycles)
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e6)
        torch.cuda.synchronize()
    return statistics.median(times)


def graphed(fn):  # noqa: ANN001, ANN201
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


def kernels(fn) -> int:  # noqa: ANN001
    """CUDA kernels (and memsets/copies) one call launches."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    try:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            fn()
            torch.cuda.synchronize()
    except Exception as exc:  # noqa: BLE001 (no CUPTI: the column says -1)
        print(f"# profiler: {exc}", file=sys.stderr)
        return -1
    return sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)


def main() -> None:
    name = torch.cuda.get_device_name()
    cols = "model,phase,batch,q_len,ctx,layers,kernels,graph_us,eager_us,host_us,device"
    rows = []
    print(cols)
    t_start = time.time()
    with torch.no_grad():
        layers = [Layer().to(dev, dt) for _ in range(max(LAYERS))]
        cases = [("prefill", 1, t, 0) for t in PREFILL] + [("decode", b, 1, c) for b, c in DECODE]
        for phase, batch, q_len, ctx in cases:
            x = torch.randn(batch, q_len, H, device=dev, dtype=dt)
            caches = [
                (
                    torch.randn(batch, HKV, ctx + 1, D, device=dev, dtype=dt),
                    torch.randn(batch, HKV, ctx + 1, D, device=dev, dtype=dt),
                )
                if phase == "decode"
                else (None, None)
                for _ in range(max(LAYERS))
            ]
            for n in LAYERS:

                def chain(x=x, n=n, caches=caches, ctx=ctx):  # noqa: ANN001, ANN202
                    y = x
                    for lyr, (kc, vc) in zip(layers[:n], caches[:n], strict=False):
                        y = lyr(y, kc, vc, ctx)
                    return y

                k = kernels(chain)
                graph = cold(graphed(chain))
                eager = cold(chain)
                host = host_time(chain, int(2e9 * (n * 1e-3 + 5e-3)))  # ~2 GHz: >> issue time
                row = ["llama3-8b", phase, batch, q_len, ctx, n, k, f"{graph:.2f}",
                       f"{eager:.2f}", f"{host:.2f}", name]  # fmt: skip
                rows.append(row)
                print(",".join(map(str, row)))
                sys.stdout.flush()
    print(f"# took {time.time() - t_start:.0f} s", file=sys.stderr)
    out = os.environ.get("OUT")
    if out:
        with open(os.path.join(out, "h100_eager_chains.csv"), "w", newline="") as f:
            head = f"torch {torch.__version__}, bf16, cold start, median of {REPS}"
            f.write(f"# Measured by benchmarks/gpu/measure_eager.py on {name} ({head})\n")
            w = csv.writer(f)
            w.writerow(cols.split(","))
            w.writerows(rows)


if __name__ == "__main__":
    main()
