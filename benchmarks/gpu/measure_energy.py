"""Copy of the project's reference script `shared/data/measure_energy.py` (run on the device: `OUT=<dir> python3 benchmarks/gpu/measure_energy.py`).

Ground truth for energy: joules per kernel and per layer on a real GPU, from the board's energy counter.

Runs on the device machine (python3 with torch, nvidia-ml-py). Writes $OUT/energy_<gpu>.csv:
kind,name,m,n,k,batch,q_len,kv_len,tokens,reps,seconds,us_per_rep,joules_per_rep,avg_w,idle_w,device
Each case replays one CUDA graph back to back for ~1.2 s; energy = NVML total-energy delta / reps
(the whole board: idle power included; idle_w, measured before, lets a reader subtract it).
"""

# ruff: noqa  (kept as the reference script is, not restyled)
# fmt: off
import csv, os, time
import torch
import torch.nn.functional as F
import pynvml

OUT = os.environ.get("OUT", "out")
os.makedirs(OUT, exist_ok=True)
dev = torch.device("cuda")
DEVNAME = torch.cuda.get_device_name(0)
BF = torch.bfloat16
pynvml.nvmlInit()
H = pynvml.nvmlDeviceGetHandleByIndex(0)
energy_mj = lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(H)


def idle_watts(sec=3.0):
    torch.cuda.synchronize(); time.sleep(1.0)
    e0, t0 = energy_mj(), time.time(); time.sleep(sec); e1, t1 = energy_mj(), time.time()
    return (e1 - e0) / 1000.0 / (t1 - t0)


def graph(fn, n):
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


FIELDS = ["kind", "name", "m", "n", "k", "batch", "q_len", "kv_len", "tokens", "reps", "seconds", "us_per_rep",
          "joules_per_rep", "avg_w", "idle_w", "device"]
rows = []
IDLE = None


def add(fn, target_s=1.2, **kw):
    # time one rep, then build a graph of n reps (n so one replay ~50 ms) and replay it for ~target_s
    g1 = graph(fn, 1)
    for _ in range(3): g1.replay()
    torch.cuda.synchronize()
    s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(10): g1.replay()
    e.record(); torch.cuda.synchronize()
    one = s.elapsed_time(e) / 10 / 1000.0
    del g1
    n = max(1, min(2000, int(0.05 / max(one, 1e-6))))
    g = graph(fn, n)
    for _ in range(3): g.replay()   # warm the clocks
    torch.cuda.synchronize()
    replays = max(2, int(target_s / (n * one)))
    e0, t0 = energy_mj(), time.time()
    for _ in range(replays): g.replay()
    torch.cuda.synchronize()
    e1, t1 = energy_mj(), time.time()
    reps = replays * n
    j = (e1 - e0) / 1000.0
    r = {f: "" for f in FIELDS}; r.update(kw)
    r.update(reps=reps, seconds=t1 - t0, us_per_rep=(t1 - t0) / reps * 1e6, joules_per_rep=j / reps,
             avg_w=j / (t1 - t0), idle_w=IDLE, device=DEVNAME)
    rows.append(r); del g
    print(r["kind"], r["name"], r["m"], r["n"], r["k"], r["batch"], r["q_len"], r["kv_len"],
          f"{r['us_per_rep']:.1f}us {r['joules_per_rep']*1e3:.3f}mJ {r['avg_w']:.0f}W", flush=True)


with torch.no_grad():
    IDLE = idle_watts()
    print(f"idle {IDLE:.1f} W", flush=True)
    # GEMMs (compute- and memory-bound), a copy, element-wise
    for (N, K) in ((4096, 4096), (14336, 4096), (28672, 8192)):
        w = torch.randn(K, N, device=dev, dtype=BF)
        for m in (1, 32, 256, 1024, 4096):
            x = torch.randn(m, K, device=dev, dtype=BF)
            add(lambda: x @ w, kind="gemm", name=f"gemm_{N}x{K}", m=m, n=N, k=K)
        del w, x
    x = torch.empty(512 * 1024 * 1024, dtype=BF, device=dev); y = torch.empty_like(x)
    add(lambda: y.copy_(x), kind="copy", name="d2d_copy_1GiB", tokens=2 * x.numel() * 2)
    del x, y
    for m in (1, 512, 8192):
        x = torch.randn(m, 4096, device=dev, dtype=BF); g = torch.ones(4096, device=dev, dtype=BF)
        add(lambda: F.rms_norm(x, (4096,), g, 1e-5), kind="eltwise", name="rmsnorm_4096", m=m, n=4096)
        add(lambda: x + x, kind="eltwise", name="add_4096", m=m, n=4096)
    # attention
    Hq, Hkv, D = 32, 8, 128
    for T in (512, 2048, 8192):
        q = torch.randn(1, Hq, T, D, device=dev, dtype=BF); k = torch.randn(1, Hkv, T, D, device=dev, dtype=BF); v = torch.randn_like(k)
        add(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True), kind="attention",
            name="prefill_causal", batch=1, q_len=T, kv_len=T, tokens=T)
    for B, KV in ((1, 2048), (32, 2048), (64, 8192)):
        q = torch.randn(B, Hq, 1, D, device=dev, dtype=BF); k = torch.randn(B, Hkv, KV, D, device=dev, dtype=BF); v = torch.randn_like(k)
        add(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True), kind="attention", name="decode",
            batch=B, q_len=1, kv_len=KV, tokens=B)
    del q, k, v
    # whole Llama layers (RoPE-free, fused QKV and gate+up), as the layer measurements elsewhere
    class Layer(torch.nn.Module):
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
    for mname, h, hq, hkv, inter in (("llama3-8b", 4096, 32, 8, 14336), ("llama2-70b", 8192, 64, 8, 28672)):
        layer = Layer(h, hq, hkv, inter).to(dev, BF)
        for T in (512, 2048):
            x = torch.randn(1, T, h, device=dev, dtype=BF)
            add(lambda: layer(x, None, None, 0), kind="layer", name=f"{mname}_prefill", batch=1, q_len=T, kv_len=T, tokens=T)
        for B, ctx in ((1, 2048), (32, 2048), (64, 512)):
            x = torch.randn(B, 1, h, device=dev, dtype=BF)
            kc = torch.randn(B, hkv, ctx + 1, h // hq, device=dev, dtype=BF); vc = torch.randn_like(kc)
            add(lambda: layer(x, kc, vc, ctx), kind="layer", name=f"{mname}_decode", batch=B, q_len=1, kv_len=ctx + 1, tokens=B)
        del layer

name = "h100" if "H100" in DEVNAME else ("h200" if "H200" in DEVNAME else "gpu")
with open(os.path.join(OUT, f"energy_{name}.csv"), "w", newline="") as f:
    wr = csv.DictWriter(f, fieldnames=FIELDS); wr.writeheader(); wr.writerows(rows)
print("wrote", len(rows), "rows; idle", f"{IDLE:.1f} W")
