"""Serving ground truth on a CUDA GPU: a continuous-batching loop with real kernels (run on the
lent H100, not in CI). Self-contained: needs torch (2.11) only, never xcompass.

Model: Llama-3-8B shapes (hidden 4096, 32 layers, 32 query heads, 8 KV heads of 128, SiLU-gated
FFN 14336, RMSNorm, RoPE theta 500000, vocab 128256), random bf16 weights. The LM head (final norm,
vocab GEMM, greedy argmax) runs only on the rows that emit a token (every decode row, and the last
row of a prefill chunk that completes its prompt).

KV cache: preallocated on the GPU, one contiguous slab of `--max-context` tokens per running slot
(`--max-running` slots plus one dummy slot that CUDA-graph padding rows write to), all slabs in one
flat tensor per layer: K and V of shape (layers, (R + 1) * C, 8, 128). Admission is still decided
on a token count (`--kv-tokens`, default R * C: then only R binds), as the scheduler below says.

Attention: `torch.ops.aten._flash_attention_forward` (FlashAttention-2 varlen, the kernel behind
SDPA's flash backend and `torch.nn.attention.varlen.varlen_attn`) with `cum_seq_k` holding each
request's slab start and `seqused_k` its used length, so every iteration's decodes and prefill
chunks attend in ONE call straight from the slabs (no gather), GQA native (32 query heads over 8
KV heads), causal aligned bottom-right (a chunk of c tokens after h of history sees h + its own
prefix). Where the op lacks `seqused_k` the script gathers each request's KV into a packed copy.

Scheduler (Sarathi-Serve style; the xcompass simulator implements the same): token budget B
(`--budget`, 512), at most R running (`--max-running`, 64). At an iteration's start time t (wall
clock since the replay began) requests with arrival <= t join the waiting queue (FCFS by arrival).
Composition: (1) every running request past its prefill contributes 1 decode token; (2) running
requests still in prefill, in admission order, get chunks min(remaining prompt, budget left); (3)
while budget left > 0, running < R and the waiting head's prompt + output fits the free KV tokens:
admit it with a chunk min(prompt, budget left). A request whose prefill completes in an iteration
emits its first token at that iteration's end (TTFT = end - arrival); each decode emits one token
at the end; a request leaves after `output` tokens (the prefill's token is the first). Nothing
running or waiting: sleep to the next arrival. No preemption (KV reserved at admission).

Workload: `--trace CSV` (TIMESTAMP,ContextTokens,GeneratedTokens), rows start..start+K-1 (`--start
N --requests K`), arrival = (timestamp - the slice's first timestamp) / F (`--rate-scale F`); rows
with prompt + output > C (`--max-context`) are skipped and counted (never replayed).

Modes (`--modes`): `eager` (plain PyTorch every iteration) and `graph-decode` (decode-only
iterations replay a CUDA graph captured per batch-size bucket 1,2,4,8,16,24,...,R with padding
rows; mixed and prefill iterations eager: what vLLM does).

Outputs (into --out):
- h100_serving_iterations.csv: mode,iter,start_s,end_s,wall_ms,gpu_ms,host_ms,n_decode,decode_ctx,
  n_prefill,prefill_chunks,tokens. start_s: the iteration's start (arrivals checked, then composed);
  end_s: after the GPU finished and the sampled tokens reached the host (every token of the
  iteration is stamped end_s); wall_ms = end - start; gpu_ms: CUDA events recorded before the input
  upload and after the argmax (GPU time of the iteration INCLUDING gaps where the GPU waited for
  launches); host_ms: from start_s until Python had enqueued the whole iteration (composition, input
  packing, upload, every launch or the graph replay), i.e. before the blocking synchronize. A
  launch-bound iteration shows host_ms ~ gpu_ms ~ wall_ms. Between one end_s and the next start_s
  the loop does its bookkeeping (token lists, retiring requests). decode_ctx: KV length of each
  decode request before its token (';'); prefill_chunks: 'chunk:history' pairs (';').
- h100_serving_requests.csv: mode,req,arrival_s,prompt,output,admitted_s,first_token_s,finish_s,
  token_times_s (';' times of every token after the first).
- h100_serving_kernels.csv (`--investigate`): one row per fixed composition (decode-only 16/32/64
  requests at ctx 512/2048; mixed 64 decodes at ctx 512 or 2048 + one 512-token chunk (history 0);
  prefill-only 512 and 2048; plus any `--extra-comp`). Columns:
  comp, n_decode, decode_ctx, n_prefill, chunk, chunk_history, tokens;
  eager_wall_p50/p90/p99_ms (whole step: packing + upload + launches + sync + token readback, over
  `--reps` steps); eager_host_ms (p50, time until the last launch returned); eager_pack_ms (p50,
  building and uploading the inputs); eager_gpu_ms (p50, CUDA events around the step);
  graph_ms (p50 replay of a CUDA graph captured for this exact composition, events; empty if not
  capturable); graph_wall_ms (p50 replay + sync + readback, host clock);
  kernel_sum_ms (sum of GPU kernel and memcpy durations of one step from torch.profiler),
  n_kernels, gemm_ms, attn_ms, other_ms (that sum split by kernel name: flash* -> attn,
  gemm/cutlass/nvjet/sm90/xmma -> gemm, the rest -> other); launch_us_per_kernel
  (eager_host_ms - eager_pack_ms over n_kernels);
  attention, one layer's call, p50 of CUDA events: attn_gqa_ms (the loop's call: slabs +
  seqused_k, 32 q heads over 8 KV heads), attn_gqa_packed_ms (same, KV packed contiguously, no
  seqused_k), attn_mha_ms (no-GQA equivalent: the same queries over 32 KV heads, packed: 4x the KV
  bytes), attn_split_ms (decodes and the chunk in two separate calls, decodes with GQA folded into
  the query length by hand: each request's 4 query heads per KV head become 4 query rows, as
  FlashAttention's `seqlenq_ngroups_swapped` does), attn_kv_mb (KV bytes one layer's GQA call must
  read), attn_floor_ms (attn_kv_mb at 3.0 TB/s).
- log.txt-like progress on stdout; `--self-test` checks the scheduler on CPU (no torch needed);
  `--dry-run MS_FIXED,US_PER_TOKEN` replays the scheduler with a fake cost (no GPU) to pick a rate.

Usage (device): python3 benchmarks/gpu/measure_serving.py --trace .devdata/conv.csv --start 0
  --requests 400 --rate-scale 1.0 --max-context 4096 --modes eager,graph-decode --investigate
  --out $OUT
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import statistics
import sys
import time
from collections import deque
from dataclasses import dataclass, field

HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, FFN, VOCAB = 4096, 32, 32, 8, 128, 14336, 128256
ROPE_THETA, EPS = 500000.0, 1e-5


# ---------------------------------------------------------------- workload and scheduler (pure)
@dataclass
class Request:
    idx: int
    arrival: float
    prompt: int
    output: int
    admitted: float | None = None
    prefilled: int = 0
    generated: int = 0
    first_token: float | None = None
    finish: float | None = None
    token_times: list = field(default_factory=list)
    slot: int = -1
    last_token: int = 0


def _stamp(s: str) -> float:
    s = s.strip()
    whole, _, frac = s.partition(".")
    t = datetime.datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").replace(tzinfo=datetime.UTC)
    return t.timestamp() + (float("0." + frac) if frac else 0.0)


def load_trace(path, start, count, rate_scale, max_context):
    """Rows start..start+count-1; arrival relative to the slice's first row, divided by rate_scale.
    Returns (requests kept, number skipped because prompt + output > max_context)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    rows = rows[start : start + count]
    if not rows:
        raise SystemExit(f"no rows in {path} from {start}")
    t0 = _stamp(rows[0]["TIMESTAMP"])
    reqs, skipped = [], 0
    for i, r in enumerate(rows):
        p, o = int(r["ContextTokens"]), int(r["GeneratedTokens"])
        if p + o > max_context:
            skipped += 1
            continue
        reqs.append(Request(start + i, (_stamp(r["TIMESTAMP"]) - t0) / rate_scale, p, max(o, 1)))
    return reqs, skipped


class Scheduler:
    """Sarathi-style chunked prefill under a token budget, decodes first (see the docstring)."""

    def __init__(self, reqs, budget=512, max_running=64, kv_tokens=None, max_context=4096):
        self.pending = deque(sorted(reqs, key=lambda r: (r.arrival, r.idx)))
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.budget, self.max_running = budget, max_running
        self.kv_tokens = kv_tokens if kv_tokens is not None else max_running * max_context
        self.kv_used = 0
        self.free_slots = list(range(max_running))
        self.done: list[Request] = []

    def finished(self):
        return not (self.pending or self.waiting or self.running)

    def idle(self):
        return not (self.waiting or self.running)

    def next_arrival(self):
        return self.pending[0].arrival if self.pending else None

    def arrive(self, t):
        while self.pending and self.pending[0].arrival <= t:
            self.waiting.append(self.pending.popleft())

    def compose(self, t):
        """Items (request, n_tokens, history, is_decode) for the iteration starting at t."""
        items, left = [], self.budget
        for r in self.running:
            if r.prefilled == r.prompt:
                items.append((r, 1, r.prompt + r.generated - 1, True))
                left -= 1
        left = max(left, 0)
        for r in self.running:
            if r.prefilled < r.prompt and left > 0:
                c = min(r.prompt - r.prefilled, left)
                items.append((r, c, r.prefilled, False))
                left -= c
        while (
            left > 0
            and len(self.running) < self.max_running
            and self.waiting
            and self.waiting[0].prompt + self.waiting[0].output <= self.kv_tokens - self.kv_used
        ):
            r = self.waiting.popleft()
            r.admitted, r.slot = t, self.free_slots.pop(0)
            self.kv_used += r.prompt + r.output
            self.running.append(r)
            c = min(r.prompt, left)
            items.append((r, c, 0, False))
            left -= c
        return items

    def complete(self, items, t_end, tokens=None):
        """Apply an iteration that ended at t_end; tokens: sampled ids of the emitting rows."""
        k = 0
        for r, c, _h, dec in items:
            if dec:
                r.generated += 1
                r.token_times.append(t_end)
            else:
                r.prefilled += c
                if r.prefilled < r.prompt:
                    continue
                r.generated, r.first_token = 1, t_end
            if tokens is not None:
                r.last_token = tokens[k]
            k += 1
            if r.generated >= r.output:
                r.finish = t_end
        for r in [r for r in self.running if r.finish is not None]:
            self.running.remove(r)
            self.kv_used -= r.prompt + r.output
            self.free_slots.append(r.slot)
            self.free_slots.sort()
            self.done.append(r)


def emits(item):
    r, c, h, dec = item
    return dec or h + c == r.prompt


# ---------------------------------------------------------------- the replay loop
COMPOSE_MS: dict = {}  # per mode: host ms from the iteration start to a composed batch


def replay(sched, step, mode, log=print, clock=time.perf_counter, sleep=time.sleep):
    """Run the scheduler against step(items) -> (tokens, gpu_ms, host_done_abs); returns the
    iteration rows. step gets the iteration's absolute start clock for host_ms."""
    rows, t0, it, last_log = [], clock(), 0, 0.0
    while not sched.finished():
        now = clock()
        t = now - t0
        sched.arrive(t)
        if sched.idle():
            sleep(max(0.0, sched.next_arrival() - (clock() - t0)))
            continue
        items = sched.compose(t)
        COMPOSE_MS.setdefault(mode, []).append((clock() - now) * 1e3)
        if not items:  # the head can't be admitted and nothing runs: impossible (KV checked)
            raise RuntimeError("empty iteration with work waiting")
        tokens, gpu_ms, host_abs = step(items)
        t_end = clock() - t0
        sched.complete(items, t_end, tokens)
        dec = [h for _r, _c, h, d in items if d]
        pre = [(c, h) for _r, c, h, d in items if not d]
        rows.append(
            {
                "mode": mode,
                "iter": it,
                "start_s": f"{t:.6f}",
                "end_s": f"{t_end:.6f}",
                "wall_ms": f"{(t_end - t) * 1e3:.4f}",
                "gpu_ms": f"{gpu_ms:.4f}",
                "host_ms": f"{(host_abs - now) * 1e3:.4f}",
                "n_decode": len(dec),
                "decode_ctx": ";".join(map(str, dec)),
                "n_prefill": len(pre),
                "prefill_chunks": ";".join(f"{c}:{h}" for c, h in pre),
                "tokens": len(dec) + sum(c for c, _ in pre),
            }
        )
        it += 1
        if t_end - last_log > 5.0:
            last_log = t_end
            log(
                f"[{mode}] t={t_end:7.2f}s it={it} running={len(sched.running)} "
                f"waiting={len(sched.waiting)} pending={len(sched.pending)} done={len(sched.done)}"
            )
    return rows


def request_rows(mode, reqs):
    return [
        {
            "mode": mode,
            "req": r.idx,
            "arrival_s": f"{r.arrival:.6f}",
            "prompt": r.prompt,
            "output": r.output,
            "admitted_s": f"{r.admitted:.6f}",
            "first_token_s": f"{r.first_token:.6f}",
            "finish_s": f"{r.finish:.6f}",
            "token_times_s": ";".join(f"{x:.6f}" for x in r.token_times),
        }
        for r in sorted(reqs, key=lambda r: r.idx)
    ]


ITER_COLS = (
    "mode,iter,start_s,end_s,wall_ms,gpu_ms,host_ms,n_decode,decode_ctx,n_prefill,prefill_chunks,"
    "tokens"
)
REQ_COLS = "mode,req,arrival_s,prompt,output,admitted_s,first_token_s,finish_s,token_times_s"


def write_csv(path, cols, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols.split(","))
        w.writeheader()
        w.writerows(rows)


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summarize(mode, iters, reqs, log=print):
    w = [float(r["wall_ms"]) for r in iters]
    g = [float(r["gpu_ms"]) for r in iters]
    h = [float(r["host_ms"]) for r in iters]
    ttft = [(r.first_token - r.arrival) * 1e3 for r in reqs]
    tbt = []
    for r in reqs:
        ts = [r.first_token, *r.token_times]
        tbt += [(b - a) * 1e3 for a, b in zip(ts, ts[1:], strict=False)]
    dur = max(r.finish for r in reqs)
    ntok = sum(r.output for r in reqs)
    log(f"== {mode}: {len(iters)} iterations, {len(reqs)} requests, {dur:.1f} s, {ntok} tokens")
    cm = COMPOSE_MS.get(mode, [])
    if cm:
        log(f"   compose ms p50 {pct(cm, 50):.4f} p99 {pct(cm, 99):.4f} (arrivals + composition)")
    for name, xs in (("wall", w), ("gpu", g), ("host", h), ("ttft", ttft), ("tbt", tbt)):
        log(
            f"   {name:5s} ms p50 {pct(xs, 50):8.2f} p90 {pct(xs, 90):8.2f} "
            f"p99 {pct(xs, 99):8.2f} mean {statistics.fmean(xs) if xs else 0:8.2f}"
        )


# ---------------------------------------------------------------- CPU checks
def self_test():
    """Hand-worked composition: B=8, R=2, KV 40 tokens."""
    reqs = [Request(0, 0.0, 10, 2), Request(1, 0.0, 3, 3), Request(2, 0.5, 4, 1)]
    s = Scheduler(reqs, budget=8, max_running=2, kv_tokens=40)
    s.arrive(0.0)
    it = s.compose(0.0)
    assert [(r.idx, c, h, d) for r, c, h, d in it] == [(0, 8, 0, False)], it
    s.complete(it, 1.0, [7])
    assert s.running[0].generated == 0
    s.arrive(1.0)
    it = s.compose(1.0)  # req 0 rest (2), req 1 admitted with 3, req 2 waits (R=2)
    assert [(r.idx, c, h, d) for r, c, h, d in it] == [(0, 2, 8, False), (1, 3, 0, False)], it
    s.complete(it, 2.0, [5, 6])
    assert reqs[0].first_token == 2.0 and reqs[1].first_token == 2.0
    it = s.compose(2.0)  # two decodes, no room for req 2
    assert [(r.idx, c, h, d) for r, c, h, d in it] == [(0, 1, 10, True), (1, 1, 3, True)], it
    s.complete(it, 3.0, [1, 2])
    assert reqs[0].finish == 3.0 and len(s.running) == 1 and s.kv_used == 6
    it = s.compose(3.0)
    assert [(r.idx, c, h, d) for r, c, h, d in it] == [(1, 1, 4, True), (2, 4, 0, False)], it
    s.complete(it, 4.0, [3, 4])
    assert reqs[1].finish == 4.0 and reqs[2].finish == 4.0 and s.finished()
    assert reqs[1].token_times == [3.0, 4.0]
    # KV capacity binds: need 13 + 13 > 20
    reqs = [Request(0, 0.0, 10, 3), Request(1, 0.0, 10, 3)]
    s = Scheduler(reqs, budget=64, max_running=4, kv_tokens=20)
    s.arrive(0.0)
    it = s.compose(0.0)
    assert [(r.idx, c) for r, c, _h, _d in it] == [(0, 10)]
    print("self-test ok")


def dry_run(args, reqs):
    fixed_ms, per_tok_us = (float(x) for x in args.dry_run.split(","))
    clock = [0.0]
    sched = Scheduler(reqs, args.budget, args.max_running, args.kv_tokens, args.max_context)

    def step(items):
        n = sum(c for _r, c, _h, _d in items)
        clock[0] += (fixed_ms + per_tok_us * n / 1e3) / 1e3
        return None, 0.0, clock[0]

    def sleep(dt):
        clock[0] += dt

    rows = replay(sched, step, "dry", log=lambda *_: None, clock=lambda: clock[0], sleep=sleep)
    summarize("dry", rows, sched.done)
    print(f"   max running {max(int(r['n_decode']) + int(r['n_prefill']) for r in rows)}")


# ---------------------------------------------------------------- GPU part
def gpu_main(args, reqs, skipped):
    import torch
    import torch.nn.functional as F

    dev, dt = "cuda", torch.bfloat16
    torch.manual_seed(0)
    log = print
    log(f"torch {torch.__version__} on {torch.cuda.get_device_name()}")
    fa = torch.ops.aten._flash_attention_forward.default
    fa_args = [a.name for a in fa._schema.arguments]
    has_seqused = "seqused_k" in fa_args
    log(f"_flash_attention_forward args: {fa_args}")
    try:
        import inspect

        from torch.nn.attention import varlen as _varlen

        log(f"varlen_attn{inspect.signature(_varlen.varlen_attn)}")
    except Exception as e:  # noqa: BLE001
        log(f"torch.nn.attention.varlen: {e!r}")
    try:
        import torch.nn.attention as _na

        if hasattr(_na, "list_flash_attention_impls"):
            log(f"flash impls: {_na.list_flash_attention_impls()}")
    except Exception as e:  # noqa: BLE001
        log(f"flash impls: {e!r}")

    L, R, C = args.layers, args.max_running, args.max_context
    slots = R + 1  # the last one is the dummy slot for graph padding
    H, D, HKV = HEADS, HEAD_DIM, KV_HEADS

    def w(*s, scale=0.02):
        return (torch.randn(*s, device=dev, dtype=dt) * scale).contiguous()

    embed = w(VOCAB, HIDDEN)
    lm_head = w(HIDDEN, VOCAB)
    g_final = torch.ones(HIDDEN, device=dev, dtype=dt)
    layers = [
        dict(
            wqkv=w(HIDDEN, (H + 2 * HKV) * D),
            wo=w(H * D, HIDDEN),
            wgu=w(HIDDEN, 2 * FFN),
            wd=w(FFN, HIDDEN),
            g1=torch.ones(HIDDEN, device=dev, dtype=dt),
            g2=torch.ones(HIDDEN, device=dev, dtype=dt),
        )
        for _ in range(L)
    ]
    kc = torch.empty(L, slots * C, HKV, D, device=dev, dtype=dt)
    vc = torch.empty(L, slots * C, HKV, D, device=dev, dtype=dt)
    for t in (kc, vc):
        for i in range(L):
            t[i].normal_()
    inv = 1.0 / (ROPE_THETA ** (torch.arange(0, D, 2, device=dev, dtype=torch.float32) / D))
    ang = torch.outer(torch.arange(C + 1, device=dev, dtype=torch.float32), inv)
    cos_t = torch.cat([ang.cos(), ang.cos()], -1).to(dt)
    sin_t = torch.cat([ang.sin(), ang.sin()], -1).to(dt)
    nparam = sum(x.numel() for d in layers for x in d.values()) + 2 * VOCAB * HIDDEN
    gib = 2**30
    log(
        f"weights {nparam / 1e9:.2f} G params, KV {2 * kc.numel() * 2 / gib:.1f} GiB, "
        f"allocated {torch.cuda.memory_allocated() / gib:.1f} GiB"
    )

    def attn(q, layer, cu_q, cu_k, seqused, max_q, max_k, causal=True):
        k_l, v_l = kc[layer], vc[layer]
        if has_seqused:
            return fa(q, k_l, v_l, cu_q, cu_k, max_q, max_k, 0.0, causal, False, seqused_k=seqused)[
                0
            ]
        raise RuntimeError("no seqused_k in _flash_attention_forward")

    def rope(x, cos, sin):
        x1, x2 = x[..., : D // 2], x[..., D // 2 :]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    def forward(ids, pos, slot_map, cu_q, cu_k, seqused, max_q, max_k, emit, n_layers=L):
        x = F.embedding(ids, embed)
        cos, sin = cos_t[pos].unsqueeze(1), sin_t[pos].unsqueeze(1)
        for li in range(n_layers):
            p = layers[li]
            qkv = F.rms_norm(x, (HIDDEN,), p["g1"], EPS) @ p["wqkv"]
            q, k, v = qkv.split([H * D, HKV * D, HKV * D], dim=-1)
            q = rope(q.view(-1, H, D), cos, sin)
            k = rope(k.view(-1, HKV, D), cos, sin)
            kc[li].index_copy_(0, slot_map, k)
            vc[li].index_copy_(0, slot_map, v.view(-1, HKV, D))
            o = attn(q, li, cu_q, cu_k, seqused, max_q, max_k)
            x = x + o.reshape(-1, H * D) @ p["wo"]
            g, u = (F.rms_norm(x, (HIDDEN,), p["g2"], EPS) @ p["wgu"]).chunk(2, dim=-1)
            x = x + (F.silu(g) * u) @ p["wd"]
        y = x if emit is None else x.index_select(0, emit)
        return (F.rms_norm(y, (HIDDEN,), g_final, EPS) @ lm_head).argmax(-1)

    def pack(items):
        """Host side of one iteration: flat int32 list -> one pinned upload -> views."""
        ids, pos, sm, cu_q, cu_k, used, em = [], [], [], [0], [], [], []
        max_q = max_k = 0
        for r, c, h, _dec in items:
            base = r.slot * C
            if _dec:
                ids.append(r.last_token)
            else:
                ids.extend((r.idx * 1000003 + j * 7919) % VOCAB for j in range(h, h + c))
            pos.extend(range(h, h + c))
            sm.extend(range(base + h, base + h + c))
            cu_q.append(cu_q[-1] + c)
            cu_k.append(base)
            used.append(h + c)
            max_q, max_k = max(max_q, c), max(max_k, h + c)
            if emits((r, c, h, _dec)):
                em.append(cu_q[-1] - 1)
        cu_k.append(slots * C)
        n, b = len(ids), len(items)
        flat = ids + pos + sm + cu_q + cu_k + used + em
        buf = torch.tensor(flat, dtype=torch.int32).pin_memory()
        g = buf.to(dev, non_blocking=True)
        o = 0
        out = []
        for ln in (n, n, n, b + 1, b + 1, b, len(em)):
            out.append(g[o : o + ln])
            o += ln
        ids_g, pos_g, sm_g, cuq_g, cuk_g, used_g, em_g = out
        return ids_g, pos_g.long(), sm_g.long(), cuq_g, cuk_g, used_g, max_q, max_k, em_g.long()

    def run_eager(items):
        ev0, ev1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        ev0.record()
        a = pack(items)
        t_pack = time.perf_counter()
        tok = forward(*a)
        ev1.record()
        t_host = time.perf_counter()
        ev1.synchronize()
        return tok.tolist(), ev0.elapsed_time(ev1), t_host, t_pack

    # ---- CUDA graphs for decode-only iterations, one per bucket
    graphs = {}

    def buckets():
        b = [1, 2, 4, 8] + list(range(16, R + 1, 8))
        return sorted({x for x in b if x <= R} | {R})

    pool = [None]

    def capture(bs):
        st = dict(
            ids=torch.zeros(bs, dtype=torch.int32, device=dev),
            pos=torch.zeros(bs, dtype=torch.long, device=dev),
            sm=torch.full((bs,), R * C, dtype=torch.long, device=dev),
            cuq=torch.arange(bs + 1, dtype=torch.int32, device=dev),
            cuk=torch.full((bs + 1,), R * C, dtype=torch.int32, device=dev),
            used=torch.ones(bs, dtype=torch.int32, device=dev),
        )
        host = torch.empty(4 * bs + 1, dtype=torch.int32).pin_memory()

        def body():
            return forward(
                st["ids"], st["pos"], st["sm"], st["cuq"], st["cuk"], st["used"], 1, C, None
            )

        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):
                body()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        if pool[0] is None:
            pool[0] = torch.cuda.graph_pool_handle()
        with torch.cuda.graph(g, pool=pool[0]):
            out = body()
        graphs[bs] = (g, st, out, host)

    def run_graph(items):
        n = len(items)
        bs = next(b for b in sorted(graphs) if b >= n)
        g, st, out, host = graphs[bs]
        ev0, ev1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        ids, pos, sm, cuk, used = [], [], [], [], []
        for r, _c, h, _d in items:
            ids.append(r.last_token)
            pos.append(h)
            sm.append(r.slot * C + h)
            cuk.append(r.slot * C)
            used.append(h + 1)
        pad = bs - n
        ids += [0] * pad
        pos += [0] * pad
        sm += [R * C] * pad
        cuk += [R * C] * (pad + 1)
        used += [1] * pad
        t = torch.tensor(ids + pos + sm + cuk + used, dtype=torch.int32)
        ev0.record()
        gpu = t.pin_memory().to(dev, non_blocking=True)
        st["ids"].copy_(gpu[:bs])
        st["pos"].copy_(gpu[bs : 2 * bs])
        st["sm"].copy_(gpu[2 * bs : 3 * bs])
        st["cuk"].copy_(gpu[3 * bs : 4 * bs + 1])
        st["used"].copy_(gpu[4 * bs + 1 :])
        g.replay()
        ev1.record()
        t_host = time.perf_counter()
        ev1.synchronize()
        return out[:n].tolist(), ev0.elapsed_time(ev1), t_host

    def step_for(mode):
        def step(items):
            if mode == "graph-decode" and all(d for _r, _c, _h, d in items):
                return run_graph(items)
            tok, gms, th, _tp = run_eager(items)
            return tok, gms, th

        return step

    # ---- warm-up: every GEMM shape the loop can meet (cuBLAS heuristics are cached per shape)
    class _R:
        def __init__(self, idx, slot, prompt):
            self.idx, self.slot, self.prompt, self.last_token = idx, slot, prompt, 1

    t0 = time.perf_counter()
    with torch.inference_mode():
        for tkn in range(1, args.budget + 1):
            d = min(tkn % R, tkn - 1)  # decodes; the chunk completes: d + 1 rows emit
            items = [(_R(0, 0, tkn - d), tkn - d, 0, False)]
            items += [(_R(j, j, 10), 1, 9, True) for j in range(1, d + 1)]
            forward(*pack(items), n_layers=1)
        torch.cuda.synchronize()
        log(f"warm-up over {args.budget} token counts: {time.perf_counter() - t0:.1f} s")

        if args.check:
            check_attention(torch, attn, kc, vc, C, log)

        all_iters, all_reqs = [], []
        for mode in args.modes.split(","):
            if not reqs:
                break
            if mode == "graph-decode":
                t0 = time.perf_counter()
                for bs in sorted(buckets(), reverse=True):
                    capture(bs)
                torch.cuda.synchronize()
                dt_s = time.perf_counter() - t0
                log(f"captured {len(graphs)} decode graphs {sorted(graphs)} in {dt_s:.1f} s")
            rq = [Request(r.idx, r.arrival, r.prompt, r.output) for r in reqs]
            sched = Scheduler(rq, args.budget, R, args.kv_tokens, C)
            torch.cuda.synchronize()
            iters = replay(sched, step_for(mode), mode, log=log)
            summarize(mode, iters, sched.done, log=log)
            all_iters += iters
            all_reqs += request_rows(mode, sched.done)
            write_csv(os.path.join(args.out, "h100_serving_iterations.csv"), ITER_COLS, all_iters)
            write_csv(os.path.join(args.out, "h100_serving_requests.csv"), REQ_COLS, all_reqs)
        log(f"skipped {skipped} requests over --max-context {C}")
        if args.investigate:
            rows = investigate(args, torch, forward, pack, attn, kc, vc, C, R, log, _R)
            cols = list(rows[0].keys())
            write_csv(os.path.join(args.out, "h100_serving_kernels.csv"), ",".join(cols), rows)
            try_fa3(torch, attn, kc, vc, C, R, log, _R)


def check_attention(torch, attn, kc, vc, C, log):
    """The slab + seqused_k varlen call against per-request SDPA in float32: a mixed batch and a
    decode-only one (where FlashAttention may fold GQA groups into the query length)."""
    import torch.nn.functional as F

    mixed = [(1, 700, 3), (1, 33, 0), (200, 100, 5), (64, 0, 7)]  # (q tokens, history, slot)
    decode = [(1, 700, 3), (1, 33, 0), (1, 1500, 5), (1, 0, 7)]
    i32 = dict(dtype=torch.int32, device="cuda")
    for label, spec in (("mixed", mixed), ("decode-only", decode)):
        qs, cu_q, cu_k, used = [], [0], [], []
        for c, h, s in spec:
            qs.append(torch.randn(c, HEADS, HEAD_DIM, device="cuda", dtype=torch.bfloat16))
            cu_q.append(cu_q[-1] + c)
            cu_k.append(s * C)
            used.append(h + c)
        cu_k.append(kc.shape[1])
        out = attn(
            torch.cat(qs),
            0,
            torch.tensor(cu_q, **i32),
            torch.tensor(cu_k, **i32),
            torch.tensor(used, **i32),
            max(c for c, _, _ in spec),
            max(h + c for c, h, _ in spec),
        )
        err = 0.0
        for a, ((c, h, s), qq) in enumerate(zip(spec, qs, strict=True)):
            k = kc[0, s * C : s * C + h + c].float().transpose(0, 1).repeat_interleave(4, 0)
            v = vc[0, s * C : s * C + h + c].float().transpose(0, 1).repeat_interleave(4, 0)
            mask = torch.ones(c, h + c, dtype=torch.bool, device="cuda").tril(h)
            ref = F.scaled_dot_product_attention(qq.float().transpose(0, 1), k, v, attn_mask=mask)
            got = out[cu_q[a] : cu_q[a + 1]].float()
            err = max(err, ((got - ref.transpose(0, 1)).norm() / ref.norm()).item())
        log(f"attention check {label} (slabs + seqused_k, GQA, causal bottom-right) err {err:.2e}")
        if not err < 2e-2:
            raise SystemExit("attention check failed")


def investigate(args, torch, forward, pack, attn, kc, vc, C, R, log, _R):
    from torch.profiler import ProfilerActivity, profile

    comps = []
    for n in (16, 32, 64):
        for ctx in (512, 2048):
            comps.append((f"decode{n}@{ctx}", n, ctx, 0, 0))
    for ctx in (512, 2048):
        comps.append((f"mixed64@{ctx}+512", 64, ctx, 512, 0))
    comps.append(("mixed64@1024+512h1536", 64, 1024, 512, 1536))
    comps.append(("mixed16@1024+496", 16, 1024, 496, 0))
    comps.append(("prefill512", 0, 0, 512, 0))
    comps.append(("prefill512h2048", 0, 0, 512, 2048))
    comps.append(("prefill2048", 0, 0, 2048, 0))
    comps.append(("decode1@512", 1, 512, 0, 0))
    comps.append(("decode64@4000", 64, 4000, 0, 0))
    for spec in args.extra_comp:
        name, n, ctx, ch, hist = spec.split(",")
        comps.append((name, int(n), int(ctx), int(ch), int(hist)))
    rows = []
    reps = args.reps
    for name, n, ctx, chunk, hist in comps:
        items = [(_R(j, j, 10), 1, ctx, True) for j in range(min(n, R))]
        if chunk:  # the spare (dummy) slab R holds the chunk's request
            items.append((_R(999, R, hist + chunk), chunk, hist, False))
        tokens = sum(c for _r, c, _h, _d in items)
        wall, host, packt, gpu = [], [], [], []
        for i in range(reps + 3):
            t0 = time.perf_counter()
            ev0, ev1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            ev0.record()
            a = pack(items)
            t1 = time.perf_counter()
            tok = forward(*a)
            ev1.record()
            t2 = time.perf_counter()
            ev1.synchronize()
            tok.tolist()
            t3 = time.perf_counter()
            if i >= 3:
                wall.append((t3 - t0) * 1e3)
                host.append((t2 - t0) * 1e3)
                packt.append((t1 - t0) * 1e3)
                gpu.append(ev0.elapsed_time(ev1))
        # profiler: one step
        a = pack(items)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            tok = forward(*a)
            torch.cuda.synchronize()
        ksum = gemm = att = other = 0.0
        nk = 0
        by_name: dict = {}
        for e in prof.events():
            if str(e.device_type).endswith("CUDA"):
                d = e.time_range.elapsed_us() / 1e3
                nm = e.name.lower()
                k = by_name.setdefault(e.name[:90], [0, 0.0])
                k[0] += 1
                k[1] += d
                ksum += d
                nk += 1
                if "flash" in nm:
                    att += d
                elif any(s in nm for s in ("gemm", "cutlass", "nvjet", "sm90", "xmma", "cublas")):
                    gemm += d
                else:
                    other += d
        for kname, (cnt, tot) in sorted(by_name.items(), key=lambda kv: -kv[1][1])[:8]:
            log(f"    {name}: {cnt:4d} x {tot / cnt * 1e3:8.1f} us = {tot:7.3f} ms  {kname}")
        # graph for this exact composition
        graph_ms = graph_wall = ""
        try:
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                forward(*a)
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                out = forward(*a)
            gt, gw = [], []
            for i in range(reps + 3):
                ev0, ev1 = (
                    torch.cuda.Event(enable_timing=True),
                    torch.cuda.Event(enable_timing=True),
                )
                t0 = time.perf_counter()
                ev0.record()
                g.replay()
                ev1.record()
                ev1.synchronize()
                out.tolist()
                t1 = time.perf_counter()
                if i >= 3:
                    gt.append(ev0.elapsed_time(ev1))
                    gw.append((t1 - t0) * 1e3)
            graph_ms, graph_wall = f"{pct(gt, 50):.4f}", f"{pct(gw, 50):.4f}"
            del g, out
        except Exception as e:  # noqa: BLE001
            log(f"  {name}: graph capture failed: {e!r}")
        at = attention_variants(torch, attn, kc, vc, C, R, items, reps)
        row = {
            "comp": name,
            "n_decode": n,
            "decode_ctx": ctx,
            "n_prefill": 1 if chunk else 0,
            "chunk": chunk,
            "chunk_history": hist,
            "tokens": tokens,
            "eager_wall_p50_ms": f"{pct(wall, 50):.4f}",
            "eager_wall_p90_ms": f"{pct(wall, 90):.4f}",
            "eager_wall_p99_ms": f"{pct(wall, 99):.4f}",
            "eager_host_ms": f"{pct(host, 50):.4f}",
            "eager_pack_ms": f"{pct(packt, 50):.4f}",
            "eager_gpu_ms": f"{pct(gpu, 50):.4f}",
            "graph_ms": graph_ms,
            "graph_wall_ms": graph_wall,
            "kernel_sum_ms": f"{ksum:.4f}",
            "n_kernels": nk,
            "gemm_ms": f"{gemm:.4f}",
            "attn_ms": f"{att:.4f}",
            "other_ms": f"{other:.4f}",
            "launch_us_per_kernel": f"{(pct(host, 50) - pct(packt, 50)) * 1e3 / max(nk, 1):.3f}",
            **at,
        }
        rows.append(row)
        log(
            f"  {name:18s} wall {row['eager_wall_p50_ms']:>9} (p99 {row['eager_wall_p99_ms']:>9}) "
            f"host {row['eager_host_ms']:>8} gpu {row['eager_gpu_ms']:>8} graph {graph_ms:>8} "
            f"ksum {ksum:8.3f} ({nk} k: gemm {gemm:.2f} attn {att:.2f} other {other:.2f}) "
            f"attn/layer gqa {at['attn_gqa_ms']} packed {at['attn_gqa_packed_ms']} "
            f"mha {at['attn_mha_ms']} split {at['attn_split_ms']} floor {at['attn_floor_ms']}"
        )
    return rows


def attention_variants(torch, attn, kc, vc, C, R, items, reps):
    fa = torch.ops.aten._flash_attention_forward.default
    dev = "cuda"
    i32 = dict(dtype=torch.int32, device=dev)
    specs = [(r.slot, c, h, d) for r, c, h, d in items]
    T = sum(c for _s, c, _h, _d in specs)
    q = torch.randn(T, HEADS, HEAD_DIM, device=dev, dtype=torch.bfloat16)
    cu_q, cu_k, used, cu_p = [0], [], [], [0]
    for s, c, h, _d in specs:
        cu_q.append(cu_q[-1] + c)
        cu_k.append(s * C)
        used.append(h + c)
        cu_p.append(cu_p[-1] + h + c)
    cu_k.append(kc.shape[1])
    max_q = max(c for _s, c, _h, _d in specs)
    max_k = max(used)
    tq, tk, tu, tp = (torch.tensor(x, **i32) for x in (cu_q, cu_k, used, cu_p))
    kv_tokens = cu_p[-1]
    kp = torch.randn(kv_tokens, KV_HEADS, HEAD_DIM, device=dev, dtype=torch.bfloat16)
    vp = torch.randn_like(kp)
    km = kp.repeat_interleave(HEADS // KV_HEADS, 1).contiguous()
    vm = vp.repeat_interleave(HEADS // KV_HEADS, 1).contiguous()

    def timeit(fn):
        ts = []
        for i in range(min(reps, 30) + 3):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            if i >= 3:
                ts.append(a.elapsed_time(b))
        return f"{pct(ts, 50):.4f}"

    out = {}
    out["attn_gqa_ms"] = timeit(lambda: attn(q, 0, tq, tk, tu, max_q, max_k))
    out["attn_gqa_packed_ms"] = timeit(
        lambda: fa(q, kp, vp, tq, tp, max_q, max_k, 0.0, True, False)
    )
    out["attn_mha_ms"] = timeit(lambda: fa(q, km, vm, tq, tp, max_q, max_k, 0.0, True, False))
    # split: decodes with the 4 query heads of a KV head folded into the query length
    dec = [i for i, sp in enumerate(specs) if sp[3]]
    pre = [i for i, sp in enumerate(specs) if not sp[3]]
    g = HEADS // KV_HEADS
    calls = []
    if dec:
        nd = len(dec)
        qd = (
            q[:nd]
            .view(nd, KV_HEADS, g, HEAD_DIM)
            .transpose(1, 2)
            .reshape(nd * g, KV_HEADS, HEAD_DIM)
        )
        qd = qd.contiguous()
        cqd = torch.arange(0, nd * g + 1, g, **i32)
        ckd = torch.tensor([cu_k[i] for i in dec] + [kc.shape[1]], **i32)
        ud = torch.tensor([used[i] for i in dec], **i32)
        mk = max(used[i] for i in dec)
        calls.append(lambda: attn(qd, 0, cqd, ckd, ud, g, mk, causal=False))
    if pre:
        qp = q[cu_q[pre[0]] :].contiguous()
        cqp = torch.tensor([cu_q[i] - cu_q[pre[0]] for i in pre] + [T - cu_q[pre[0]]], **i32)
        ckp = torch.tensor([cu_k[i] for i in pre] + [kc.shape[1]], **i32)
        up = torch.tensor([used[i] for i in pre], **i32)
        mq = max(specs[i][1] for i in pre)
        mk2 = max(used[i] for i in pre)
        calls.append(lambda: attn(qp, 0, cqp, ckp, up, mq, mk2))
    out["attn_split_ms"] = timeit(lambda: [f() for f in calls])
    mb = kv_tokens * KV_HEADS * HEAD_DIM * 2 * 2 / 1e6
    out["attn_kv_mb"] = f"{mb:.2f}"
    out["attn_floor_ms"] = f"{mb / 3.0e3:.4f}"  # MB over 3.0 TB/s = 3.0e3 MB/ms
    return out


def try_fa3(torch, attn, kc, vc, C, R, log, _R):
    """Last (it changes the dispatcher for good): can torch 2.11 switch its flash kernels to FA3
    without extra packages? If so, time the loop's attention call for two compositions."""
    try:
        import torch.nn.attention as na

        na.activate_flash_attention_impl("FA3")
        log(f"FA3 activated: current {na.current_flash_attention_impl()}")
    except Exception as e:  # noqa: BLE001
        log(f"FA3 not available: {e!r}"[:300])
        return
    for name, n, ctx, chunk in (
        ("decode64@2048", 64, 2048, 0),
        ("mixed64@2048+512", 64, 2048, 512),
    ):
        items = [(_R(j, j, 10), 1, ctx, True) for j in range(n)]
        if chunk:
            items.append((_R(999, R, chunk), chunk, 0, False))
        try:
            at = attention_variants(torch, attn, kc, vc, C, R, items, 20)
            log(f"  FA3 {name}: {at}")
        except Exception as e:  # noqa: BLE001
            log(f"  FA3 {name} failed: {e!r}"[:300])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--rate-scale", type=float, default=1.0)
    ap.add_argument("--max-context", type=int, default=4096)
    ap.add_argument("--budget", type=int, default=512)
    ap.add_argument("--max-running", type=int, default=64)
    ap.add_argument("--kv-tokens", type=int, default=None, help="admission capacity (R*C)")
    ap.add_argument("--layers", type=int, default=LAYERS)
    ap.add_argument("--modes", default="eager,graph-decode")
    ap.add_argument("--investigate", action="store_true")
    ap.add_argument("--extra-comp", action="append", default=[], help="NAME,N,CTX,CHUNK,HIST")
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--out", default=".")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--dry-run", help="MS_FIXED,US_PER_TOKEN: fake cost, no GPU")
    args = ap.parse_args(argv)
    if args.self_test:
        self_test()
        return
    reqs, skipped = ([], 0)
    if args.trace:
        reqs, skipped = load_trace(
            args.trace, args.start, args.requests, args.rate_scale, args.max_context
        )
        span = max(r.arrival for r in reqs) if reqs else 0.0
        print(
            f"trace slice: rows {args.start}..{args.start + args.requests - 1}, {len(reqs)} kept, "
            f"{skipped} skipped (> {args.max_context}), arrivals over {span:.1f} s "
            f"(rate scale {args.rate_scale}), prompt {sum(r.prompt for r in reqs)} "
            f"output {sum(r.output for r in reqs)} tokens"
        )
    if args.dry_run:
        dry_run(args, reqs)
        return
    os.makedirs(args.out, exist_ok=True)
    gpu_main(args, reqs, skipped)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
