"""Attention variants on a CUDA GPU (issue 18 item 2, issue 16's fidelity gap; run on the lent
H100, not in CI). Self-contained: torch only, never xcompass.

Every case is timed the way a serving stack or a CUDA-graph layer runs it: `calls` calls of the
case captured back to back in one CUDA graph, each call on its own K/V (a different region of
one large buffer, or its own copy), so the working set of one replay exceeds the 50 MB L2 for
all but the smallest cases, as in a model where every layer reads its own KV after the
weights' GEMMs have flushed L2. `median_us` = median over `REPS` replays / calls. Then one call
runs eagerly under torch.profiler after an L2 flush, for the kernels' names and durations.

Sections (column `section`):
- `varlen`: `torch.ops.aten._flash_attention_forward` (FlashAttention-2 varlen) exactly as
  benchmarks/gpu/measure_serving.py calls it: one call over every request of the step, each
  request's K/V in its own region (cum_seq_k = region start, seqused_k = its length), GQA
  native, causal (bottom-right aligned). Decode-only steps (every query one token: FA2 folds a
  KV head's query heads into the query length and may split the keys, `n_splits` below),
  prefill chunks over history, and mixed steps (decodes + chunks, in the loop's order).
- `varlen_mha`: the same queries over as many KV heads as query heads (each query head its own
  K/V): what a call costs with no GQA sharing at all.
- `varlen_folded`: a decode-only step with each request's query heads of one KV head folded
  into query rows by hand (q rows = heads / kv_heads per request, kv_heads heads): FA2's
  standard kernel, no split (a GQA-packing decode form).
- `varlen_split2`: a mixed step as two calls, the decodes alone (FA2's own fold + split) and the
  chunk(s) alone.
- `sdpa`: F.scaled_dot_product_attention(enable_gqa=True) on padded batches (B, H, T, D), as
  benchmarks/gpu/measure_gpu.py / measure_lowering.py time the `staged` variant: prefill causal,
  decode one query over ctx + 1 keys; `sdpa_flash` / `sdpa_cudnn` / `sdpa_efficient`: the same
  with the backend forced (which kernel the default picks is in `kernels`).
- `unfused`: QK^T (bmm), softmax, PV (bmm) through HBM with GQA by reshaping the query heads
  (no K/V copies), as measure_lowering.py's `unfused`: prefill rows see all T keys (no mask);
  decode one query over ctx + 1 keys.
- `copy`: a 1 GiB device-to-device copy (bytes read + written): the streaming ceiling.

Columns: section, heads, kv_heads, head_dim, shape, max_q, max_k, tokens, kv_tokens, n_splits,
calls, median_us, p10_us, p90_us, kernels, device.
- shape: the step's request groups, `;`-separated: `dNxC` = N decodes over C tokens of history
  (C + 1 keys), `cQhH` = a chunk of Q new tokens after H of history (H + Q keys); sdpa/unfused
  prefill `cTh0` (T x T), decode `dBxC`.
- tokens: query tokens; kv_tokens: keys read by the step (sum over requests of history + new).
- n_splits: FA2's split-KV count for a decode-only varlen call (its `num_splits_heuristic` with
  2 x SMs, 128-key blocks), 1 where no split runs, empty for other sections.
- kernels: `name:us` of each GPU kernel of one profiled eager call, `|`-separated (names cut).

Usage (device): OUT=<dir> python3 benchmarks/gpu/measure_attention.py [--budget-s 300]
  [--quick] [--only varlen,sdpa,...]  -> $OUT/h100_attention.csv (+ log on stdout)
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
import time
import traceback

import torch
import torch.nn.functional as F

DEV, DT = "cuda", torch.bfloat16
D = 128
REPS = 12
TARGET_BYTES = 256 * 2**20  # distinct K/V bytes one replay should touch (L2: 50 MB)
KV_TOKENS = 1 << 21  # tokens in the shared K/V buffer (8 KV heads: 4 GiB each for K and V)
FIELDS = ["section", "heads", "kv_heads", "head_dim", "shape", "max_q", "max_k", "tokens",
          "kv_tokens", "n_splits", "calls", "median_us", "p10_us", "p90_us", "kernels",
          "device"]  # fmt: skip


def log(*a):
    print(*a, flush=True)


# ------------------------------------------------------------------ FA2's split-KV heuristic
def num_splits(batch_nheads_mblocks: int, num_sms: int, num_n_blocks: int, max_splits=128):
    """FlashAttention-2's num_splits_heuristic (flash_api.cpp), for the record."""
    if batch_nheads_mblocks >= 0.8 * num_sms:
        return 1
    max_splits = min(max_splits, num_sms, num_n_blocks)
    eff = []
    best = 0.0
    cd = lambda a, b: (a + b - 1) // b  # noqa: E731
    for s in range(1, max_splits + 1):
        if s > 1 and cd(num_n_blocks, s) == cd(num_n_blocks, s - 1):
            eff.append(0.0)
            continue
        waves = batch_nheads_mblocks * s / num_sms
        e = waves / math.ceil(waves)
        best = max(best, e)
        eff.append(e)
    for s in range(1, max_splits + 1):
        if (s == 1 or cd(num_n_blocks, s) != cd(num_n_blocks, s - 1)) and eff[s - 1] >= 0.85 * best:
            return s
    return 1


# ------------------------------------------------------------------ timing
class Timer:
    def __init__(self, sms: int):
        self.sms = sms
        self.flush = torch.empty(256 * 2**20, dtype=torch.int8, device=DEV)

    def graph(self, fns):
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for fn in fns:  # warm up (allocator, handles) outside the capture
                fn()
        torch.cuda.current_stream().wait_stream(s)
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for fn in fns:
                fn()
        return g

    def time(self, fns) -> tuple[float, float, float]:
        """(median, p10, p90) microseconds per call of a graph of the calls `fns`."""
        g = self.graph(fns)
        for _ in range(2):
            g.replay()
        torch.cuda.synchronize()
        ts = []
        for _ in range(REPS):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            g.replay()
            b.record()
            b.synchronize()
            ts.append(a.elapsed_time(b) * 1e3 / len(fns))
        del g
        ts.sort()
        q = lambda p: ts[min(len(ts) - 1, int(p * len(ts)))]  # noqa: E731
        return statistics.median(ts), q(0.1), q(0.9)

    def kernels(self, fn) -> str:
        """`name:us|...` of one eager call after an L2 flush (profiler; '?' if it fails)."""
        try:
            from torch.profiler import ProfilerActivity, profile

            for acts in ([ProfilerActivity.CUDA], [ProfilerActivity.CPU, ProfilerActivity.CUDA]):
                self.flush.zero_()
                torch.cuda.synchronize()
                with profile(activities=acts) as prof:
                    self.flush.zero_()
                    fn()
                    torch.cuda.synchronize()
                out = []
                for e in prof.key_averages():
                    us = getattr(e, "self_device_time_total", None)
                    if us is None:
                        us = getattr(e, "self_cuda_time_total", 0.0)
                    key = e.key
                    skip = ("FillFunctor", "Memset", "aten::", "cuda", "Activity Buffer")
                    if not us or any(x in key for x in skip):
                        continue  # the flush, CPU ops, runtime calls: not the case's kernels
                    name = key.replace("void ", "").replace(",", " ").replace("|", "/")
                    name = " ".join(name.split())[:110]
                    out.append(f"{name}:{us / max(e.count, 1):.1f}")
                if out:
                    return "|".join(out)
            return "?"
        except Exception as exc:  # noqa: BLE001
            return f"? {type(exc).__name__}"[:60]


# ------------------------------------------------------------------ the cases
def parse_shape(shape: str) -> list[tuple[str, int, int, int]]:
    """[('d', count, ctx, 1) | ('c', 1, hist, q)] from `d64x2048;c512h0`."""
    out = []
    for part in shape.split(";"):
        if part.startswith("d"):
            n, c = part[1:].split("x")
            out.append(("d", int(n), int(c), 1))
        else:
            q, h = part[1:].split("h")
            out.append(("c", 1, int(h), int(q)))
    return out


def requests(shape: str) -> list[tuple[int, int]]:
    """(new tokens, history) of each request, in the loop's order (decodes, then chunks)."""
    reqs = []
    for kind, n, h, q in parse_shape(shape):
        reqs += [(q, h)] * n if kind == "d" else [(q, h)]
    return reqs


class Varlen:
    def __init__(self, timer: Timer, heads_kv: int):
        self.t = timer
        self.fa = torch.ops.aten._flash_attention_forward.default
        self.k = torch.empty(KV_TOKENS, heads_kv, D, device=DEV, dtype=DT)
        self.v = torch.empty_like(self.k)
        self.k.normal_()
        self.v.normal_()
        self.hkv = heads_kv
        self.cap = KV_TOKENS

    def build(self, reqs, heads, fold=False):
        """The call's functions, one per K/V region; returns (fns, calls, max_q, max_k)."""
        i32 = dict(dtype=torch.int32, device=DEV)
        hkv = self.hkv
        g = heads // hkv
        used = [q + h for q, h in reqs]
        foot = sum(-(-u // 256) * 256 for u in used)  # regions 256-token aligned
        calls = max(2, min(32, math.ceil(TARGET_BYTES / (foot * hkv * D * 2 * 2))))
        calls = min(calls, self.cap // foot)
        if fold:  # each request's g query heads of a KV head become g query rows
            q_rows = [g] * len(reqs)
            qh = hkv
        else:
            q_rows = [q for q, _ in reqs]
            qh = heads
        cu_q = [0]
        for r in q_rows:
            cu_q.append(cu_q[-1] + r)
        T = cu_q[-1]
        max_q, max_k = max(q_rows), max(used)
        causal = not fold
        tq = torch.tensor(cu_q, **i32)
        tu = torch.tensor(used, **i32)
        q = torch.randn(T, qh, D, device=DEV, dtype=DT)
        fns = []
        for c in range(calls):
            starts, pos = [], c * foot
            for u in used:
                starts.append(pos)
                pos += -(-u // 256) * 256
            tk = torch.tensor(starts + [self.cap], **i32)

            def fn(tk=tk):
                return self.fa(q, self.k, self.v, tq, tk, max_q, max_k, 0.0, causal, False,
                               seqused_k=tu)[0]  # fmt: skip

            fns.append(fn)
        return fns, calls, max_q, max_k


def splits_for(reqs, heads, hkv, sms):
    if max(q for q, _ in reqs) != 1 or heads == hkv:
        return 1
    max_k = max(q + h for q, h in reqs)
    return num_splits(len(reqs) * hkv * 1, sms * 2, -(-max_k // 128))


def run_varlen(timer, vl, mha, heads, shapes, section, writer):
    for shape in shapes:
        reqs = requests(shape)
        try:
            if section == "varlen_mha":
                fns, calls, mq, mk = mha.build(reqs, heads)
            elif section == "varlen_folded":
                fns, calls, mq, mk = vl.build(reqs, heads, fold=True)
            elif section == "varlen_split2":
                dec = [r for r in reqs if r[0] == 1]
                pre = [r for r in reqs if r[0] > 1]
                f1, c1, _, _ = vl.build(dec, heads)
                f2, c2, _, _ = vl.build(pre, heads)
                calls = min(c1, c2)
                pairs = zip(f1[:calls], f2[:calls], strict=True)
                fns = [lambda a=a, b=b: (a(), b()) for a, b in pairs]
                mq = max(q for q, _ in reqs)
                mk = max(q + h for q, h in reqs)
            else:
                fns, calls, mq, mk = vl.build(reqs, heads)
            med, p10, p90 = timer.time(fns)
            kern = timer.kernels(fns[0])
            del fns
        except Exception as exc:  # noqa: BLE001
            log(f"# {section} {heads} {shape}: {type(exc).__name__}: {exc}"[:300])
            torch.cuda.empty_cache()
            continue
        hkv = heads if section == "varlen_mha" else vl.hkv
        native = section in ("varlen", "varlen_mha")
        splits = splits_for(reqs, heads, hkv, timer.sms) if native else ""
        writer(section, heads, hkv, shape, mq, mk, sum(q for q, _ in reqs),
               sum(q + h for q, h in reqs), splits, calls, med, p10, p90, kern)  # fmt: skip


def sdpa_fns(heads, hkv, shape, backend=None, unfused=False):
    """Padded-batch SDPA or the unfused three kernels for `cTh0` (prefill) / `dBxC` (decode)."""
    ((kind, n, h, q),) = parse_shape(shape)
    b, tq, tk = (1, q, q) if kind == "c" else (n, 1, h + 1)
    g = heads // hkv
    per = b * hkv * tk * D * 2 * 2
    calls = max(2, min(16, math.ceil(TARGET_BYTES / per)))
    if unfused and kind == "c":  # scores (hkv, g*T, T) bf16 twice: keep a replay within memory
        calls = 2
    fns = []
    for _ in range(calls):
        qq = torch.randn(b, heads, tq, D, device=DEV, dtype=DT)
        kk = torch.randn(b, hkv, tk, D, device=DEV, dtype=DT)
        vv = torch.randn(b, hkv, tk, D, device=DEV, dtype=DT)
        if unfused:
            qg = qq.view(b * hkv, g * tq, D)
            kt = kk.view(b * hkv, tk, D).transpose(1, 2)
            vg = vv.view(b * hkv, tk, D)

            def fn(qg=qg, kt=kt, vg=vg):
                return torch.bmm(torch.softmax(torch.bmm(qg, kt), dim=-1), vg)
        elif backend is None:

            def fn(qq=qq, kk=kk, vv=vv):
                return F.scaled_dot_product_attention(qq, kk, vv, is_causal=kind == "c",
                                                      enable_gqa=True)  # fmt: skip
        else:
            from torch.nn.attention import sdpa_kernel

            def fn(qq=qq, kk=kk, vv=vv, be=backend):
                with sdpa_kernel([be_of(be)]):
                    return F.scaled_dot_product_attention(qq, kk, vv, is_causal=kind == "c",
                                                          enable_gqa=True)  # fmt: skip

        fns.append(fn)
    return fns, calls, tq, tk, b * tq, b * tk


def be_of(name):
    from torch.nn.attention import SDPBackend

    return {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION}[name]  # fmt: skip


def run_dense(timer, heads, hkv, shapes, section, writer):
    backend = {"sdpa": None, "unfused": None}.get(section, section.replace("sdpa_", ""))
    for shape in shapes:
        try:
            fns, calls, mq, mk, tokens, kvt = sdpa_fns(
                heads, hkv, shape, backend, unfused=section == "unfused"
            )
            med, p10, p90 = timer.time(fns)
            kern = timer.kernels(fns[0])
            del fns
        except Exception as exc:  # noqa: BLE001
            log(f"# {section} {heads} {shape}: {type(exc).__name__}: {exc}"[:300])
            torch.cuda.empty_cache()
            continue
        torch.cuda.empty_cache()
        writer(section, heads, hkv, shape, mq, mk, tokens, kvt, "", calls, med, p10, p90, kern)


# ------------------------------------------------------------------ the sweep
def sweep(quick: bool):
    ns = (1, 2, 4, 8, 16, 32, 64)
    ctxs = (128, 512, 1024, 2048, 4096)
    if quick:
        ns, ctxs = (1, 16, 64), (512, 2048)
    decode = [f"d{n}x{c}" for n in ns for c in ctxs]
    ragged = [
        ";".join(f"d1x{c}" for c in (128 + (i * 997) % 3968 for i in range(n)))
        for n in ((8, 64) if quick else (4, 16, 48, 64))
    ]
    chunks = (128, 256, 512, 1024, 2048, 4096)
    hists = (0, 512, 2048, 4096)
    if quick:
        chunks, hists = (512, 2048), (0, 2048)
    prefill = [f"c{q}h{h}" for q in chunks for h in hists]
    prefill += [";".join(["c512h0"] * 4), ";".join(["c256h0"] * 8), ";".join(["c128h1024"] * 8)]
    mixed = [f"d{n}x{c};c{q}h0" for n in (1, 4, 16, 64) for c in (512, 2048, 4096)
             for q in (128, 512, 2048)]  # fmt: skip
    mixed += [f"d64x{c};c512h2048" for c in (512, 2048)] + ["d16x1024;c496h1024"]
    mixed += [f"d64x2048;c{q}h0" for q in (2, 16)] + ["d32x1024;c256h0;c256h1024"]
    if quick:
        mixed = ["d64x2048;c512h0", "d16x512;c512h0", "d64x2048;c2h0"]
    dec64 = [f"d{n}x{c}" for n in (1, 4, 16, 64) for c in (512, 2048, 4096)]
    pre64 = [f"c{q}h{h}" for q in (128, 512, 2048) for h in (0, 2048)]
    mix64 = [f"d{n}x{c};c512h0" for n in (4, 64) for c in (512, 2048)]
    mha = [f"d{n}x{c}" for n in (1, 16, 64) for c in (512, 2048)]
    mha += ["d64x2048;c512h0", "d64x512;c512h0", "c512h0", "c2048h0"]
    folded = [f"d{n}x{c}" for n in (1, 8, 32, 64) for c in (512, 2048, 4096)]
    split2 = ["d64x512;c512h0", "d64x2048;c512h0", "d16x1024;c496h1024", "d64x4096;c2048h0"]
    dense_pre = [f"c{t}h0" for t in (128, 256, 512, 1024, 2048, 4096, 8192)]
    dense_dec = [f"d{b}x{c}" for b in (1, 8, 32, 64) for c in (512, 2048, 8192)]
    if quick:
        dense_pre, dense_dec = ["c512h0", "c2048h0"], ["d8x2048", "d64x2048"]
    forced = ["c512h0", "c2048h0", "c8192h0", "d8x2048", "d64x2048"]
    return [
        ("varlen", 32, decode + ragged + prefill + mixed),
        ("varlen", 64, dec64 + pre64 + mix64),
        ("varlen_mha", 32, mha),
        ("varlen_folded", 32, folded),
        ("varlen_split2", 32, split2),
        ("sdpa", 32, dense_pre + dense_dec),
        ("sdpa", 64, dense_pre[:5] + [f"d{b}x{c}" for b in (8, 64) for c in (512, 2048)]),
        ("unfused", 32, [s for s in dense_pre if s != "c128h0" and s != "c256h0"] + dense_dec),
        ("unfused", 64, ["c512h0", "c2048h0", "d8x2048", "d64x2048"]),
        ("sdpa_flash", 32, forced),
        ("sdpa_cudnn", 32, forced),
        ("sdpa_efficient", 32, forced[:2] + forced[3:]),
    ]


def copy_ceiling(timer):
    """A 1 GiB device-to-device copy, twice per replay (bytes read + written / time)."""
    src = torch.empty(2**30, dtype=torch.int8, device=DEV)
    dst = torch.empty_like(src)
    return timer.time([lambda: dst.copy_(src)] * 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget-s", type=float, default=300.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    out_dir = os.environ.get("OUT", ".")
    path = os.path.join(out_dir, "h100_attention.csv")
    props = torch.cuda.get_device_properties(0)
    name = torch.cuda.get_device_name()
    sms = props.multi_processor_count
    log(f"torch {torch.__version__} on {name}: {sms} SMs, "
        f"L2 {getattr(props, 'L2_cache_size', 0) / 2**20:.0f} MB")  # fmt: skip
    try:
        import torch.nn.attention as na

        if hasattr(na, "current_flash_attention_impl"):
            log(f"flash impl: {na.current_flash_attention_impl()}")
    except Exception as exc:  # noqa: BLE001
        log(f"flash impl: {exc!r}")
    fh = open(path, "w", newline="")  # noqa: SIM115 (rows are flushed as they come)
    fh.write(f"# Measured by benchmarks/gpu/measure_attention.py on {name} ({sms} SMs), "
             f"torch {torch.__version__}, bf16, CUDA graphs of `calls` calls on distinct K/V, "
             f"median of {REPS} replays per call, {time.strftime('%Y-%m-%d')}\n")  # fmt: skip
    w = csv.writer(fh)
    w.writerow(FIELDS)

    def writer(section, heads, hkv, shape, mq, mk, tokens, kvt, splits, calls, med, p10, p90, kern):
        row = [section, heads, hkv, D, shape, mq, mk, tokens, kvt, splits, calls,
               f"{med:.2f}", f"{p10:.2f}", f"{p90:.2f}", kern, name]  # fmt: skip
        w.writerow(row)
        fh.flush()
        short = shape if len(shape) < 40 else shape[:37] + "..."
        log(f"{section:<14}{heads:>3}/{hkv:<3}{short:<40}{med:>10.1f} us  x{calls}  "
            f"splits={splits}  {kern[:90]}")  # fmt: skip

    timer = Timer(sms)
    start = time.time()
    med, p10, p90 = copy_ceiling(timer)
    gbs = f"GB/s:{2 * 2**30 / med / 1e3:.0f}"
    writer("copy", 0, 0, "1GiB", 0, 0, 0, 0, "", 2, med, p10, p90, gbs)
    only = set(filter(None, args.only.split(",")))
    vl = Varlen(timer, 8)
    mha = None
    for section, heads, shapes in sweep(args.quick):
        if only and section not in only:
            continue
        if time.time() - start > args.budget_s:
            log(f"# budget reached: skipped {section} {heads}")
            continue
        try:
            if section.startswith("varlen"):
                if section == "varlen_mha" and mha is None:
                    mha = Varlen.__new__(Varlen)
                    mha.t, mha.fa, mha.hkv = timer, vl.fa, 32
                    mha.k = vl.k.view(-1, 32, D)  # the same bytes seen as 32 KV heads
                    mha.v = vl.v.view(-1, 32, D)
                    mha.cap = mha.k.shape[0]
                run_varlen(timer, vl, mha, heads, shapes, section, writer)
            else:
                run_dense(timer, heads, 8, shapes, section, writer)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
        torch.cuda.empty_cache()
        log(f"# {section} {heads}: done at {time.time() - start:.0f} s")
    fh.close()
    log(f"wrote {path} in {time.time() - start:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
