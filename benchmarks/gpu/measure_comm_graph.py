"""Copy of the project's reference script `shared/data/measure_comm_graph.py` (run on the device: `OUT=<dir> torchrun --nproc-per-node=N benchmarks/gpu/measure_comm_graph.py`).

NCCL collectives as a serving stack runs them: inside CUDA graphs, no host sync between ops.

Run: torchrun --nproc-per-node=N measure_comm_graph.py   (N = 2, 4 or 8)
Writes $OUT/comm_graph_N.csv: kind,name,world,bytes,ops_per_graph,median_us,p10_us,p90_us,device
- allreduce: bf16 all-reduce of `bytes`; p2p: rank 0 sends `bytes` to rank 1.
- ops_per_graph = 1: one collective per graph replay (graph launch included);
  ops_per_graph = 16: sixteen back-to-back collectives in one graph, time divided by 16 (per-op cost in steady state).
- eager rows (ops_per_graph = 0): barrier + sync before each op, as the older eager sweep measured.
"""

# ruff: noqa  (kept as the reference script is, not restyled)
# fmt: off
import csv, os
import torch, torch.distributed as dist

dist.init_process_group("nccl")
rank, world = dist.get_rank(), dist.get_world_size()
torch.cuda.set_device(rank)
dev = torch.device("cuda", rank)
OUT = os.environ.get("OUT", "out")
rows = []


def timed(fn, reps=30, warm=5):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize(); dist.barrier()
    ts = []
    for _ in range(reps):
        dist.barrier(); torch.cuda.synchronize()
        s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); torch.cuda.synchronize()
        t = torch.tensor([s.elapsed_time(e) * 1000.0], device=dev)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        ts.append(t.item())
    ts.sort()
    return ts[len(ts) // 2], ts[len(ts) // 10], ts[(len(ts) * 9) // 10]


def graph_of(fn, n):
    s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(s); torch.cuda.synchronize(); dist.barrier()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(n):
            fn()
    torch.cuda.synchronize(); dist.barrier()
    return g


def add(**kw):
    r = dict(kind="", name="", world=world, bytes="", ops_per_graph="", median_us="", p10_us="", p90_us="",
             device=torch.cuda.get_device_name(rank))
    r.update(kw); rows.append(r)


with torch.no_grad():
    for nbytes in [2**k for k in range(10, 31, 2)]:
        x = torch.randn(nbytes // 2, device=dev, dtype=torch.bfloat16)
        ar = lambda: dist.all_reduce(x)
        def p2p():
            if rank == 0: dist.send(x, 1)
            elif rank == 1: dist.recv(x, 0)
        for kind, name, fn in (("allreduce", "nccl_allreduce_bf16", ar), ("p2p", "nccl_send_0_to_1", p2p)):
            med, lo, hi = timed(fn)
            add(kind=kind, name=name, bytes=nbytes, ops_per_graph=0, median_us=med, p10_us=lo, p90_us=hi)
            for n in (1, 16):
                if nbytes >= 2**28 and n == 16:
                    n = 4
                g = graph_of(fn, n)
                med, lo, hi = timed(lambda: g.replay(), reps=20)
                add(kind=kind, name=name, bytes=nbytes, ops_per_graph=n, median_us=med / n, p10_us=lo / n, p90_us=hi / n)
                del g
        del x
        torch.cuda.empty_cache()

if rank == 0:
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, f"comm_graph_{world}.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys())); w.writeheader(); w.writerows(rows)
    for r in rows:
        print(r["kind"], r["bytes"], "ops/graph", r["ops_per_graph"], f'{r["median_us"]:.1f}us')
dist.destroy_process_group()
