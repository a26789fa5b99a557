"""Small-batch element-wise kernels and back-to-back weight-streaming GEMMs in CUDA graphs (run on
the lent H100, not in CI). Self-contained: needs torch only, never xcompass.

Why: the serving simulator over-predicts CUDA-graph decode steps of Llama-3-8B at small batch
(benchmarks/serve_fidelity.py). The loop (measure_serving.py) runs 22 tiny element-wise kernels per
layer; this script times each of them exactly as the loop issues them, in a CUDA graph of N
back-to-back calls, so the next fit has per-kernel figures at decode-sized M.

Method: for every (op, M) a CUDA graph of N calls (N = 32 and 64) is captured; call i reads its
own input buffers (`buffers=distinct`: nothing of call i-1 is reused) or all calls read one set
(`buffers=same`: inputs L2-hot after the first call, as in the loop where each kernel reads what
the previous one wrote). Before every timed replay 512 MiB are written (L2 flush); each replay is
timed with CUDA events; per-call latency = replay time / N (the graph launch is amortised over N).
Median of `REPLAYS` replays after 3 warm ones. bf16, random data, Llama-3-8B shapes.

Output $OUT/h100_small_eltwise.csv (the first line is a '#' comment naming device and torch), columns:
  kind        eltwise (one op of the loop) | rope (the loop's whole RoPE of one tensor, 5 ops) |
              gemm (one weight GEMM x[M,K] @ W[K,N], call i with its own weight) | gemm_layer (the
              layer's 4 GEMMs in order qkv, o, gate_up, down: one call = the 4 GEMMs, weights of
              layer i distinct, to see whether consecutive weight-streaming GEMMs overlap)
  name        rms_norm (F.rms_norm(x[M,4096], (4096,), w, 1e-5)); q_/k_ prefixed RoPE ops on the
              q view [M,32,128] / k view [M,8,128] of the fused QKV output (row stride 6144, as
              qkv.split(...).view(...) gives): mul_cos (x * cos[M,1,128]), neg (-x[..., 64:]),
              cat (torch.cat([-x2, x1], -1)), mul_sin (cat * sin), add (x*cos + cat*sin); q_rope /
              k_rope (the 5 together); residual_add (x[M,4096] + y[M,4096]); silu (F.silu of the
              gate half of gu[M,28672], a strided view); silu_mul (silu(g) * u, u the strided up
              half); k_index_copy (cache[S,8,128].index_copy_(0, slot_map, k[M,8,128] contiguous)),
              v_index_copy (the same from the strided v view of the QKV output); gemm_<K>x<N>;
              layer_gemms (median/p10/p90 per layer = replay / N, i.e. the 4 GEMMs together)
  m           rows (tokens of the step)
  n_calls     N, calls in the graph
  buffers     distinct | same (see Method)
  median_us, p10_us, p90_us   per-call latency over the replays (replay time / N)
  replays     timed replays
  kernels_per_call  CUDA kernels one call ran: from torch.profiler over one graph replay (kernels
              counted / N); empty where not profiled (profiled at M = 1, 64, 2048, N = 32,
              buffers = distinct)
  kernel_names      the distinct kernel names of that replay ('|'-joined, cut to 60 characters)
  device      torch's device name
"""

# ruff: noqa  (device script, kept in the style of the reference scripts)
# fmt: off
import csv, os, time
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
HIDDEN, HEADS, KV, D, FFN = 4096, 32, 8, 128, 14336
MS = [1, 2, 4, 8, 16, 32, 64, 128, 512, 2048]
NS = [32, 64]
REPLAYS = 15
PROFILE_M = (1, 64, 2048)
SLAB = 8192  # tokens of one cache slab (index_copy_ target)
BUDGET_S = float(os.environ.get("BUDGET_S", "200"))
FIELDS = ["kind", "name", "m", "n_calls", "buffers", "median_us", "p10_us", "p90_us", "replays",
          "kernels_per_call", "kernel_names", "device"]
ROWS = []


def log(*a):
    print(f"[{time.time() - T0:6.1f}s]", *a, flush=True)


def flush_csv():
    path = os.path.join(OUT, "h100_small_eltwise.csv")
    with open(path, "w", newline="") as f:
        f.write(f"# measure_small_eltwise.py on {DEVNAME}, torch {torch.__version__}, CUDA graphs of N calls, L2 flushed per replay\n")
        wr = csv.DictWriter(f, fieldnames=FIELDS); wr.writeheader()
        for r in ROWS:
            wr.writerow({k: r.get(k, "") for k in FIELDS})


def capture(calls):
    """One CUDA graph running every closure of `calls` once, in order."""
    s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for c in calls[:2]:
            c()
    torch.cuda.current_stream().wait_stream(s); torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for c in calls:
            c()
    torch.cuda.synchronize()
    return g


def time_graph(g, n):
    for _ in range(3):
        g.replay()
    torch.cuda.synchronize()
    ts = []
    for _ in range(REPLAYS):
        FLUSH.zero_()
        s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
        s.record(); g.replay(); e.record()
        torch.cuda.synchronize()
        ts.append(s.elapsed_time(e) * 1000.0 / n)
    ts.sort()
    return ts[len(ts) // 2], ts[len(ts) // 10], ts[(len(ts) * 9) // 10]


def profile_graph(g, n):
    try:
        FLUSH.zero_(); torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as p:
            g.replay(); torch.cuda.synchronize()
        evs = [e for e in p.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        evs = [e for e in evs if "memset" not in e.name.lower() and "memcpy" not in e.name.lower()]
        names = []
        for e in evs:
            nm = e.name[:60].replace(",", ";").replace("|", "/")
            if nm not in names:
                names.append(nm)
        return f"{len(evs) / n:g}", "|".join(names)
    except Exception as ex:
        return "", f"profiler failed: {ex}"[:80].replace(",", ";")


def record(kind, name, m, calls, n, buffers, prof):
    g = capture(calls)
    med, p10, p90 = time_graph(g, n)
    kpc, kn = profile_graph(g, n) if prof else ("", "")
    del g
    ROWS.append(dict(kind=kind, name=name, m=m, n_calls=n, buffers=buffers, median_us=f"{med:.3f}",
                     p10_us=f"{p10:.3f}", p90_us=f"{p90:.3f}", replays=REPLAYS,
                     kernels_per_call=kpc, kernel_names=kn, device=DEVNAME))
    return med


def rnd(*s):
    return torch.randn(*s, device=dev, dtype=BF)


def eltwise_sets(m, count):
    """`count` independent input sets for the loop's element-wise ops at M rows."""
    pos = torch.arange(m, device=dev) % 4096
    inv = 1.0 / (500000.0 ** (torch.arange(0, D, 2, device=dev, dtype=torch.float32) / D))
    ang = torch.outer(torch.arange(4097, device=dev, dtype=torch.float32), inv)
    cos_t = torch.cat([ang.cos(), ang.cos()], -1).to(BF)
    sin_t = torch.cat([ang.sin(), ang.sin()], -1).to(BF)
    sets = []
    for _ in range(count):
        qkv = rnd(m, (HEADS + 2 * KV) * D)
        q, k, v = qkv.split([HEADS * D, KV * D, KV * D], dim=-1)
        q, k = q.view(-1, HEADS, D), k.view(-1, KV, D)
        gu = rnd(m, 2 * FFN)
        g, u = gu.chunk(2, dim=-1)
        sets.append(dict(
            x=rnd(m, HIDDEN), y=rnd(m, HIDDEN), w=torch.ones(HIDDEN, device=dev, dtype=BF),
            q=q, k=k, v=v.view(-1, KV, D), kc=rnd(m, KV, D),
            cos=cos_t[pos].unsqueeze(1), sin=sin_t[pos].unsqueeze(1),
            qcat=torch.cat([-q[..., D // 2:], q[..., :D // 2]], -1),
            kcat=torch.cat([-k[..., D // 2:], k[..., :D // 2]], -1),
            qneg=rnd(m, HEADS, D // 2), kneg=rnd(m, KV, D // 2),
            qa=rnd(m, HEADS, D), qb=rnd(m, HEADS, D), ka=rnd(m, KV, D), kb=rnd(m, KV, D),
            g=g, u=u, sg=F.silu(g),
            cache=torch.empty(SLAB, KV, D, device=dev, dtype=BF),
            slot=(torch.randperm(SLAB, device=dev)[:m]).sort().values,
        ))
    return sets


def rope(x, cos, sin):
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


ELT = {
    "rms_norm": ("eltwise", lambda b: F.rms_norm(b["x"], (HIDDEN,), b["w"], 1e-5)),
    "q_mul_cos": ("eltwise", lambda b: b["q"] * b["cos"]),
    "q_neg": ("eltwise", lambda b: -b["q"][..., D // 2:]),
    "q_cat": ("eltwise", lambda b: torch.cat([b["qneg"], b["q"][..., : D // 2]], -1)),
    "q_mul_sin": ("eltwise", lambda b: b["qcat"] * b["sin"]),
    "q_add": ("eltwise", lambda b: b["qa"] + b["qb"]),
    "k_mul_cos": ("eltwise", lambda b: b["k"] * b["cos"]),
    "k_neg": ("eltwise", lambda b: -b["k"][..., D // 2:]),
    "k_cat": ("eltwise", lambda b: torch.cat([b["kneg"], b["k"][..., : D // 2]], -1)),
    "k_mul_sin": ("eltwise", lambda b: b["kcat"] * b["sin"]),
    "k_add": ("eltwise", lambda b: b["ka"] + b["kb"]),
    "q_rope": ("rope", lambda b: rope(b["q"], b["cos"], b["sin"])),
    "k_rope": ("rope", lambda b: rope(b["k"], b["cos"], b["sin"])),
    "residual_add": ("eltwise", lambda b: b["x"] + b["y"]),
    "silu": ("eltwise", lambda b: F.silu(b["g"])),
    "silu_mul": ("eltwise", lambda b: b["sg"] * b["u"]),
    "k_index_copy": ("eltwise", lambda b: b["cache"].index_copy_(0, b["slot"], b["kc"])),
    "v_index_copy": ("eltwise", lambda b: b["cache"].index_copy_(0, b["slot"], b["v"])),
}
# q_cat / k_cat: cat's first input is neg's output [M,H,64] (contiguous), its second the strided
# first half of the q / k view, as in the loop.

GEMMS = [("qkv", HIDDEN, (HEADS + 2 * KV) * D), ("o", HEADS * D, HIDDEN), ("gate_up", HIDDEN, 2 * FFN),
         ("down", FFN, HIDDEN)]


def main():
    log(DEVNAME, torch.__version__)
    nmax = max(NS)
    for m in MS:
        if time.time() - T0 > BUDGET_S * 0.55:
            log("time guard: skipping eltwise at M >=", m); break
        sets = eltwise_sets(m, nmax)
        for name, (kind, fn) in ELT.items():
            for n in NS:
                for buffers in ("distinct", "same"):
                    bs = sets[:n] if buffers == "distinct" else [sets[0]] * n
                    prof = m in PROFILE_M and n == 32 and buffers == "distinct"
                    try:
                        med = record(kind, name, m, [lambda b=b: fn(b) for b in bs], n, buffers, prof)
                    except Exception as ex:
                        log("failed", name, m, n, buffers, repr(ex)[:200]); torch.cuda.synchronize(); continue
                    if n == 32 and buffers == "distinct":
                        log(f"M={m:5d} {name:14s} {med:8.3f} us/call")
        del sets; torch.cuda.empty_cache(); flush_csv()
    # GEMMs: 64 layers of distinct weights (~26 GiB)
    ws = [{nm: rnd(k, n) * 0.02 for nm, k, n in GEMMS} for _ in range(nmax)]
    for m in MS:
        if time.time() - T0 > BUDGET_S:
            log("time guard: skipping gemms at M >=", m); break
        xs = [dict(x=rnd(m, HIDDEN), h=rnd(m, FFN)) for _ in range(nmax)]
        def one(nm, i):
            a = xs[i]["h"] if nm == "down" else xs[i]["x"]
            return a @ ws[i][nm]
        for n in NS:
            prof = m in PROFILE_M and n == 32
            tot = 0.0
            for nm, k, nn in GEMMS:
                tot += record("gemm", f"gemm_{k}x{nn}", m, [lambda i=i, nm=nm: one(nm, i) for i in range(n)], n, "distinct", prof)
            calls = [lambda i=i, nm=nm: one(nm, i) for i in range(n) for nm, _k, _n in GEMMS]
            lay = record("gemm_layer", "layer_gemms", m, calls, n, "distinct", False)
            log(f"M={m:5d} N={n} gemms alone sum {tot:8.2f} us, in sequence {lay:8.2f} us/layer")
        del xs; torch.cuda.empty_cache(); flush_csv()
    flush_csv()
    log("done", len(ROWS), "rows")


if __name__ == "__main__":
    main()
