"""cuBLAS's kernel picks over an M sweep, and decode attention with every K/V off L2 (issue 18,
items 1-3; run on the lent H100 or H200, not in CI). Self-contained: torch only, never xcompass.

Why: four GEMM rows of benchmarks/data/h100_outliers.csv run 25-55% slower than the model where
cuBLAS picks an odd kernel (tile shape, no split-K), and the H200 ran 28672x8192 at M = 128 40%
off; the kernel name encodes the pick (`nvjet_sm90_tst_<A>x<B>_64x<stages>_<cluster>_..._splitK`:
A columns of the weight's N side x B rows of the activations' M side per CTA), so a sweep of M
in steps of 16 shows where the picks change and what each costs. The decode cases of
h100_attention.csv kept the smallest cases' K/V partly in L2 (16 calls of 2 MB); here every
case's graph holds enough calls that one replay touches >= 512 MiB of distinct K/V.

Sections (`--only flush,gemm,attn`), all bf16 on random data, results in $OUT:

kernel_picks.csv  one GEMM x[M,K] @ w[K,N] (w row-major, as benchmarks/gpu/measure_outliers.py
  and shared/data/measure_gpu.py time it): eager call between two CUDA events, 512 MiB written
  (L2 flush) before every timed rep, median of 30 reps, the lower median of 2 passes.
  kind        gemm
  name        gemm_<N>x<K>
  m, n, k     rows, output columns, reduction depth
  median_us, p10_us, p90_us   event-timed latency (includes the event-timing overhead that
              benchmarks/calibrate.py's EVENT_US removes)
  kernel_us   sum of the CUDA kernels' own durations of one profiled call (torch.profiler, L2
              flushed before it)
  kernels     the kernels of that call, '|'-joined, names cut to 90 characters
  device      torch's device name

attn_decode.csv  decode attention of B requests, one query each over ctx + 1 keys, H query heads
  over 8 KV heads of 128, exactly as benchmarks/gpu/measure_lowering.py's `attention` section
  builds it: `staged` = F.scaled_dot_product_attention(enable_gqa=True) on [B,H,1,128] x
  [B,8,ctx+1,128]; `unfused` = bmm(softmax(bmm(q[B*8,H/8,128], K^T)), V) (GQA by reshaping the
  query heads, no K/V copies).
  variant     staged | unfused
  heads       H (32 or 64; 8 KV heads)
  batch, ctx  B, ctx
  calls       calls captured back to back in one CUDA graph, each on its own q/K/V, so that one
              replay reads >= 512 MiB of distinct K/V (all of it off L2 when a call starts)
  median_us, p10_us, p90_us   replay time / calls (CUDA events around each replay; 512 MiB
              written before each of 12 replays, after 2 warm ones): the call inside a graph
  single_us   measure_lowering.py's method: a graph of ONE call, L2 flushed, event-timed, median
              of 20 (what benchmarks/data/h100_lowering.csv holds: it adds the replay's launch
              and the events' overhead to the call)
  kernels     `name:us` of each kernel of one eager call after an L2 flush (torch.profiler),
              '|'-joined, names cut to 60 characters
  device      torch's device name

flush_methods.csv  one op (gemm_<N>x<K> at M = 1, 64, 256; add_4096 at M = 1, 64, 2048) timed
  after each way of emptying L2, to see what the calibration CSVs' write flush itself costs the
  op that follows it (dirty lines written back while it streams):
  name, m, n, k   the op
  method      write (512 MiB written before each rep, as kernel_picks.csv) | read (512 MiB
              summed: L2 left clean) | rotate (no flush, 16 weight copies used in turn) |
              graph16 / graph32 (16 or 32 calls on distinct operands in one CUDA graph, replay /
              calls, after a write flush)
  median_us   median of 30 event-timed reps (graph: per call)
  device

overhead.csv  the timing methods' own cost: `graph1` a graph of one 1-element add timed like
  single_us; `event1` the same add eagerly between two events. Columns: method, median_us,
  device.

Usage (device): OUT=<dir> python3 benchmarks/gpu/measure_kernel_picks.py [--only gemm,attn]
  [--shapes 4096x14336,...] [--ms 16:1024:16]
"""

# ruff: noqa  (device script, kept in the style of the other measure scripts)
# fmt: off
import argparse, csv, math, os, statistics, time
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


def _bench(fn, reps, warm, flush=True):
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


def bench(fn, reps=30, warm=10, passes=2):
    return min((_bench(fn, reps, warm) for _ in range(passes)), key=lambda r: r[0])


def graphed(fns):
    s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for fn in fns:
            fn()
    torch.cuda.current_stream().wait_stream(s); torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for fn in fns:
            fn()
    return g


def profiled(fn, cut=90, with_us=False):
    """(sum of kernel us, '|'-joined kernel names[:us]) of one eager call after an L2 flush."""
    try:
        FLUSH.zero_(); torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as p:
            fn(); torch.cuda.synchronize()
        evs = [e for e in p.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        evs = [e for e in evs if "memset" not in e.name.lower() and "memcpy" not in e.name.lower()]
        dur = lambda e: e.device_time if hasattr(e, "device_time") else e.cuda_time  # noqa: E731
        names = [e.name.replace("void ", "")[:cut].replace(",", ";").replace("|", "/")
                 + (f":{dur(e):.1f}" if with_us else "") for e in evs]
        return sum(dur(e) for e in evs), "|".join(names)
    except Exception as ex:  # profiler trouble must not lose the sweep
        return "", f"profiler failed: {ex}"[:90].replace(",", ";")


def write(name, fields, rows):
    with open(os.path.join(OUT, name), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=fields); wr.writeheader()
        for r in rows:
            wr.writerow({k: r.get(k, "") for k in fields})


# ------------------------------------------------------------------ GEMM picks
GFIELDS = ["kind", "name", "m", "n", "k", "median_us", "p10_us", "p90_us", "kernel_us", "kernels", "device"]


def gemm_sweep(shapes, ms):
    rows = []
    with torch.no_grad():
        for n, k in shapes:
            w = torch.randn(k, n, device=dev, dtype=BF)
            for m in ms:
                xa = torch.randn(m, k, device=dev, dtype=BF)
                fn = lambda: xa @ w  # noqa: E731
                med, lo, hi = bench(fn)
                kus, names = profiled(fn)
                rows.append(dict(kind="gemm", name=f"gemm_{n}x{k}", m=m, n=n, k=k, median_us=med, p10_us=lo,
                                 p90_us=hi, kernel_us=kus, kernels=names, device=DEVNAME))
                del xa
            del w
            torch.cuda.empty_cache()
            log("gemm", n, k, "done")
            write("kernel_picks.csv", GFIELDS, rows)
    return rows


# ------------------------------------------------------------------ decode attention
AFIELDS = ["variant", "heads", "batch", "ctx", "calls", "median_us", "p10_us", "p90_us", "single_us",
           "kernels", "device"]
KV, D = 8, 128
DISTINCT = 512 * 2**20


def attn_fns(variant, heads, b, ctx, calls):
    g = heads // KV
    fns = []
    for _ in range(calls):
        q = torch.randn(b, heads, 1, D, device=dev, dtype=BF)
        kc = torch.randn(b, KV, ctx + 1, D, device=dev, dtype=BF)
        vc = torch.randn(b, KV, ctx + 1, D, device=dev, dtype=BF)
        if variant == "staged":
            fns.append(lambda q=q, kc=kc, vc=vc: F.scaled_dot_product_attention(q, kc, vc, enable_gqa=True))
        else:
            qg, kt, vv = q.view(b * KV, g, D), kc.view(b * KV, ctx + 1, D).transpose(1, 2), vc.view(b * KV, ctx + 1, D)
            fns.append(lambda qg=qg, kt=kt, vv=vv: torch.bmm(torch.softmax(torch.bmm(qg, kt), dim=-1), vv))
    return fns


def replay_time(fns, reps=12):
    g = graphed(fns)
    for _ in range(2):
        g.replay()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        FLUSH.zero_()
        a = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
        a.record(); g.replay(); e.record(); e.synchronize()
        ts.append(a.elapsed_time(e) * 1000.0 / len(fns))
    del g
    ts.sort()
    return statistics.median(ts), ts[len(ts) // 10], ts[(len(ts) * 9) // 10]


def attn_sweep(batches, ctxs, heads_list):
    rows = []
    with torch.no_grad():
        for heads in heads_list:
            for b in batches:
                for ctx in ctxs:
                    per = b * KV * (ctx + 1) * D * 2 * 2
                    calls = max(2, min(512, math.ceil(DISTINCT / per)))
                    for variant in ("staged", "unfused"):
                        try:
                            fns = attn_fns(variant, heads, b, ctx, calls)
                            med, lo, hi = replay_time(fns)
                            single = _bench(graphed(fns[:1]).replay, 20, 3)[0]
                            _, kern = profiled(fns[0], cut=60, with_us=True)
                        except Exception as ex:  # a case that fails is logged, the rest go on
                            log(f"# {variant} {heads} {b}x{ctx}: {type(ex).__name__}: {ex}"[:200])
                            fns = None
                            torch.cuda.empty_cache()
                            continue
                        del fns
                        torch.cuda.empty_cache()
                        rows.append(dict(variant=variant, heads=heads, batch=b, ctx=ctx, calls=calls,
                                         median_us=med, p10_us=lo, p90_us=hi, single_us=single,
                                         kernels=kern, device=DEVNAME))
                log("attn", heads, b, "done")
                write("attn_decode.csv", AFIELDS, rows)
    return rows


def overhead():
    x = torch.zeros(1, device=dev)
    fn = lambda: x.add_(1.0)  # noqa: E731
    g = graphed([fn])
    rows = [dict(method="graph1", median_us=_bench(g.replay, 50, 5)[0], device=DEVNAME),
            dict(method="event1", median_us=_bench(fn, 50, 5)[0], device=DEVNAME)]
    write("overhead.csv", ["method", "median_us", "device"], rows)
    log("overhead", rows)


# ------------------------------------------------------------------ the flush's own cost
MFIELDS = ["name", "m", "n", "k", "method", "median_us", "device"]


def _timed(fn, pre, reps=30, warm=5):
    for _ in range(warm):
        pre(); fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        pre()
        s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); torch.cuda.synchronize()
        ts.append(s.elapsed_time(e) * 1000.0)
    return statistics.median(ts)


def flush_methods():
    """One op timed after each way of emptying L2: `write` (512 MiB written: the calibration
    CSVs' flush, which leaves L2 full of dirty lines), `read` (512 MiB summed: clean lines),
    `rotate` (no flush; 16 weight copies, > 50 MB apart, used in turn), `graph16` (16 calls on
    distinct weights back to back in one CUDA graph, replay / 16, after a write flush)."""
    rows = []
    pres = {"write": lambda: FLUSH.zero_(), "read": lambda: FLUSH.sum()}
    with torch.no_grad():
        for n, k in ((4096, 14336), (28672, 4096), (4096, 4096), (6144, 4096)):
            ws = [torch.randn(k, n, device=dev, dtype=BF) for _ in range(16)]
            for m in (1, 64, 256):
                xa = torch.randn(m, k, device=dev, dtype=BF)
                for meth, pre in pres.items():
                    rows.append(dict(name=f"gemm_{n}x{k}", m=m, n=n, k=k, method=meth,
                                     median_us=_timed(lambda: xa @ ws[0], pre), device=DEVNAME))
                it = iter(range(10**9))
                rows.append(dict(name=f"gemm_{n}x{k}", m=m, n=n, k=k, method="rotate",
                                 median_us=_timed(lambda: xa @ ws[next(it) % 16], lambda: None), device=DEVNAME))
                g = graphed([lambda w=w: xa @ w for w in ws])
                rows.append(dict(name=f"gemm_{n}x{k}", m=m, n=n, k=k, method="graph16",
                                 median_us=_timed(g.replay, pres["write"]) / 16, device=DEVNAME))
                del g
            del ws
            torch.cuda.empty_cache()
        for m in (1, 64, 2048):
            a = [torch.randn(m, 4096, device=dev, dtype=BF) for _ in range(32)]
            b = [torch.randn(m, 4096, device=dev, dtype=BF) for _ in range(32)]
            for meth, pre in pres.items():
                rows.append(dict(name="add_4096", m=m, n=4096, method=meth,
                                 median_us=_timed(lambda: a[0] + b[0], pre), device=DEVNAME))
            g = graphed([lambda x=x, y=y: x + y for x, y in zip(a, b)])
            rows.append(dict(name="add_4096", m=m, n=4096, method="graph32",
                             median_us=_timed(g.replay, pres["write"]) / 32, device=DEVNAME))
            del g
    write("flush_methods.csv", MFIELDS, rows)
    for r in rows:
        log(r["name"], r["m"], r["method"], f"{r['median_us']:.1f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="flush,gemm,attn")
    ap.add_argument("--shapes", default="4096x14336,14336x4096,28672x4096,6144x4096,4096x4096,28672x8192")
    ap.add_argument("--ms", default="16:1024:16")
    ap.add_argument("--batches", default="1,2,4,8,16,32,64")
    ap.add_argument("--ctxs", default="128,256,512,1024,2048,4096,8192")
    ap.add_argument("--heads", default="32,64")
    args = ap.parse_args()
    props = torch.cuda.get_device_properties(0)
    log(f"torch {torch.__version__} on {DEVNAME}: {props.multi_processor_count} SMs, "
        f"L2 {getattr(props, 'L2_cache_size', 0) / 2**20:.0f} MB")
    only = set(args.only.split(","))
    overhead()
    if "flush" in only:
        flush_methods()
    if "gemm" in only:
        lo, hi, step = (int(v) for v in args.ms.split(":"))
        shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
        gemm_sweep(shapes, list(range(lo, hi + 1, step)))
    if "attn" in only:
        ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
        attn_sweep(ints(args.batches), ints(args.ctxs), ints(args.heads))
    log("done")


if __name__ == "__main__":
    main()
