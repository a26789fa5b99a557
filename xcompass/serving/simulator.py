"""The serving simulator: requests arrive, queue, are admitted when their KV fits, prefill
(whole or in chunks), decode token by token and leave; each iteration of each replica is
composed by the policy and timed and energy-costed by the engine on the mapping.

Discrete events in time order (Vidur's structure): an arrival (routed to a replica), the end
of a replica's iteration (its outcome applied: tokens emitted at the end), a prompt's KV
becoming ready for a decode replica (disaggregated policies). After every event each idle
replica tries to start an iteration.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from xcompass.errors import XcompassError
from xcompass.serving.accounting import Accounting
from xcompass.serving.arrivals import RequestStream
from xcompass.serving.compose import GROUPED, Composer, CostFn, FeatureCostFn, ReplicaRun
from xcompass.serving.cost_cache import Features
from xcompass.serving.decodegroup import DecodeGroup
from xcompass.serving.policies import DISAGGREGATED, PolicyOptions, blocks
from xcompass.serving.replicas import Item, Replica

ROUTERS = ("round-robin", "least-tokens")
ITERATION_FIELDS = ("replica", "start", "end", "energy", "decodes", "prompt_tokens", "batch",
                    "kv_used", "waiting", "buffer")  # fmt: skip


@dataclass
class Outcome:
    """Everything a serving run measured (arrays per request and per iteration)."""

    arrival_s: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    admitted_s: np.ndarray  # NaN: never admitted
    first_token_s: np.ndarray
    finish_s: np.ndarray
    replica: np.ndarray
    gaps_s: np.ndarray  # every inter-token gap
    gap_request: np.ndarray  # the request of each gap
    gap_count: np.ndarray
    preemptions: np.ndarray  # per request
    rejected: dict[int, str]  # request -> why it was never served
    iterations: dict[str, np.ndarray]  # per iteration: replica, start, end, ...
    replicas: list[Replica]
    busy_s: np.ndarray  # per replica
    energy_j: np.ndarray  # per replica: iterations' energy
    sampled: list[tuple[int, list[list[Item]]]]  # (iteration, step) kept for the cache check


class Simulation(Composer, Accounting):
    """One serving run. `costs[r]` times replica r's iterations (see `replicas`)."""

    def __init__(
        self,
        stream: RequestStream,
        replicas: list[Replica],
        costs: list[CostFn],
        policy: PolicyOptions,
        *,
        router: str = "least-tokens",
        host: Callable[[bool, float], float] | None = None,
        transfer_s: Callable[[int], float] = lambda tokens: 0.0,
        max_context: int = 0,
        seed: int = 0,
        sample_every: int = 0,
        sample_cap: int = 0,
        microbatch_split: bool = True,
        feature_costs: list[FeatureCostFn] | None = None,
    ) -> None:
        if router not in ROUTERS:
            raise XcompassError(f"--router '{router}': unknown (valid: {', '.join(ROUTERS)})")
        self.policy = policy
        self.router = router
        self.host = host  # (step has a prompt, device seconds) -> wall seconds
        self.transfer_s = transfer_s
        self.rng = np.random.default_rng(seed)
        self.sample_every = sample_every
        self.sample_cap = sample_cap  # keep between cap and 2 x cap evenly spaced steps
        self.reps = [ReplicaRun(r, c) for r, c in zip(replicas, costs, strict=True)]
        if feature_costs is not None and policy.name in GROUPED:
            for rep, fc in zip(self.reps, feature_costs, strict=True):
                if rep.spec.microbatches == 1:  # several: the split needs every request
                    rep.group, rep.feature_cost = DecodeGroup(), fc
        self.stream = stream
        n = len(stream)
        self.arrival = stream.arrival_s.tolist()
        self.prompt = stream.prompt.tolist()
        self.output = stream.output.tolist()
        self.need = list(self.prompt)  # prompt tokens to prefill (grows on recompute)
        self.done = [0] * n
        self.gen = [0] * n
        self.kv = [0] * n
        self.rep = [-1] * n
        self.admitted = [math.nan] * n
        self.first = [math.nan] * n
        self.finish = [math.nan] * n
        self.last = [0.0] * n
        self.preempt = [0] * n
        self.buffered = [0] * n  # pbd: buffer tokens held; disagg: prefill-side KV held
        self.rejected: dict[int, str] = {}
        self.gaps = array("d")
        self.gap_req = array("l")
        self.max_context = max_context
        self.it: list[tuple] = []  # per iteration: ITERATION_FIELDS
        self.sampled: list[tuple[int, list[list[Item]]]] = []
        self.rr = 0
        self.split = microbatch_split
        self._setup_roles()
        self.handoff: list[tuple[float, int, int]] = []  # (ready time, request, decode replica)
        self.buffer_used = 0

    # --- set-up ---------------------------------------------------------------------------

    def _setup_roles(self) -> None:
        p = self.policy
        if p.name not in DISAGGREGATED:
            self.entry = self.reps
            return
        n = len(self.reps)
        if n < 2:
            raise XcompassError(
                f"--policy {p.name} needs at least 2 replicas (a prefill and a decode pool); "
                "the mapping has 1: serve a data-parallel mapping (e.g. --strategy 'hybrid "
                "tp=4 dp=2')"
            )
        k = p.prefill_replicas or max(1, n // 2)
        if k >= n:
            raise XcompassError(
                f"--prefill-replicas {k}: the mapping has {n} replicas; leave at least one "
                "for decode"
            )
        for i, r in enumerate(self.reps):
            r.spec.role = "prefill" if i < k else "decode"
        self.entry = self.reps[:k]
        self.decoders = self.reps[k:]

    def _reject_reason(self, rid: int) -> str | None:
        total = self.prompt[rid] + self.output[rid]
        if self.max_context and total > self.max_context:
            return f"prompt + output = {total} tokens exceed --max-context {self.max_context}"
        pool = self.decoders if self.policy.name in DISAGGREGATED else self.reps
        room = max(r.spec.kv_tokens for r in pool)
        if self._capacity_for(rid) > room:
            return f"its KV ({self._capacity_for(rid)} tokens) exceeds any replica's ({room})"
        buffer = self.policy.buffer_tokens if self.policy.name == "pbd" else 0
        if buffer and blocks(self.prompt[rid]) > buffer:
            return f"its prompt's KV exceeds --buffer-tokens {buffer}"
        if self.policy.name == "disagg":
            room = max(r.spec.kv_tokens for r in self.entry)
            if blocks(self.prompt[rid]) > room:
                return f"its prompt's KV exceeds the prefill replicas' ({room} tokens)"
        return None

    # --- routing --------------------------------------------------------------------------

    def _route(self, rid: int) -> None:
        why = self._reject_reason(rid)
        if why is not None:
            self.rejected[rid] = why
            return
        pool = self.entry
        if self.router == "round-robin" or len(pool) == 1:
            rep = pool[self.rr % len(pool)]
            self.rr += 1
        else:
            rep = min(pool, key=lambda r: r.outstanding)
        rep.waiting.append(rid)
        rep.outstanding += self.prompt[rid] + self.output[rid]
        self.rep[rid] = rep.spec.index

    # --- the event loop -------------------------------------------------------------------

    def _start(self, rep: ReplicaRun, now: float, index: int) -> bool:
        items = self._compose(rep, now)
        group = rep.group
        grouped = len(group) if group is not None else 0
        if not items and not grouped:
            return False
        rep.items = items
        sample = self.sample_every and index % self.sample_every == 0
        if group is not None:  # the decodes implicit: the step's features from the group
            j = len(group.ends)
            step = [group.items(j) + items] if sample else []
            if not items:  # decodes only
                total = group.total + grouped * j
                f = Features(grouped, total / grouped, group.longest(j), 0, 0, 0.0, 0, 0, 0.0)
            else:
                f = Features.of(items)
                if grouped:
                    total = group.total + grouped * j
                    f = f._replace(decodes=grouped, decode_ctx=total / grouped,
                                   decode_max=group.longest(j))  # fmt: skip
            latency, energy = rep.feature_cost(f)
        else:
            step = self._split(rep, items)
            latency, energy = rep.cost(step)
        if self.host is not None:  # prompts are listed last
            latency = self.host(bool(items) and items[-1][3] in "pc", latency)
        rep.busy, rep.start = True, now
        end = now + latency
        if group is not None:
            group.ends.append(end)
        rep.busy_s += latency
        rep.energy_j += energy
        heapq.heappush(self.ends, (end, rep.spec.index))
        k, tokens = len(items), 0  # policies list decodes and verifies first, prompts last
        while k and items[k - 1][3] in "pc":
            k -= 1
            tokens += items[k][1]
        self.it.append(
            (rep.spec.index, now, end, energy, k + grouped, tokens, len(items) + grouped,
             rep.kv_used, len(rep.waiting), self.buffer_used)
        )  # fmt: skip
        if sample:
            self.sampled.append((index, step))
            if self.sample_cap and len(self.sampled) >= 2 * self.sample_cap:
                self.sampled = self.sampled[::2]  # evenly spaced, stride doubled
                self.sample_every *= 2
        return True

    def _split(self, rep: ReplicaRun, items: list[Item]) -> list[list[Item]]:
        """The step's requests dealt to the replica's micro-batches, balanced on tokens."""
        B = rep.spec.microbatches
        if B == 1 or len(items) == 1 or not self.split:
            return [items]
        bins: list[list[Item]] = [[] for _ in range(min(B, len(items)))]
        load = [(0, j) for j in range(len(bins))]
        for item in sorted(items, key=lambda i: -i[1]):
            tokens, j = heapq.heappop(load)
            bins[j].append(item)
            heapq.heappush(load, (tokens + item[1], j))
        return bins

    def run(self, progress: Callable[[float], None] | None = None) -> Outcome:
        self.ends: list[tuple[float, int]] = []
        self.wakes: list[float] = []
        self._direct: list[tuple[float, int, int]] = []
        self._prefill_of: dict[int, int] = {}
        n = len(self.arrival)
        i = 0
        iterations = 0
        order = sorted(self.reps, key=lambda r: r.spec.role != "decode")  # decoders first
        while True:
            t = math.inf
            if self.ends:
                t = self.ends[0][0]
            if i < n and self.arrival[i] < t:
                t = self.arrival[i]
            if self.wakes and self.wakes[0] < t:
                t = self.wakes[0]
            if t == math.inf:
                break
            while self.ends and self.ends[0][0] <= t:
                _, r = heapq.heappop(self.ends)
                rep = self.reps[r]
                self._apply(rep, t)
                rep.busy = False
            while i < n and self.arrival[i] <= t:
                self._route(i)
                i += 1
            while self.wakes and self.wakes[0] <= t:
                heapq.heappop(self.wakes)
            if self._direct:
                self._deliver(t)
            for rep in order:
                if not rep.busy and self._start(rep, t, iterations):
                    iterations += 1
            if progress is not None and iterations % 2048 == 0:
                progress(t)
        for rep in self.reps:  # nothing is left in flight, but flush any group all the same
            if rep.group is not None:
                self._dissolve(rep)
        return self._outcome()

    def _deliver(self, now: float) -> None:
        keep = []
        for ready, rid, r in self._direct:
            if ready <= now:
                self.reps[r].waiting.append(rid)
            else:
                keep.append((ready, rid, r))
        self._direct = keep

    def _outcome(self) -> Outcome:
        gap_request = np.asarray(self.gap_req, dtype=np.int64)
        table = np.array(self.it, dtype=float).reshape(-1, len(ITERATION_FIELDS))
        it = {name: table[:, i].copy() for i, name in enumerate(ITERATION_FIELDS)}
        return Outcome(
            arrival_s=np.asarray(self.arrival),
            prompt=np.asarray(self.prompt),
            output=np.asarray(self.output),
            admitted_s=np.asarray(self.admitted),
            first_token_s=np.asarray(self.first),
            finish_s=np.asarray(self.finish),
            replica=np.asarray(self.rep),
            gaps_s=np.frombuffer(self.gaps, dtype=float).copy() if len(self.gaps) else np.zeros(0),
            gap_request=gap_request,
            gap_count=np.bincount(gap_request, minlength=len(self.arrival)),
            preemptions=np.asarray(self.preempt),
            rejected=dict(self.rejected),
            iterations=it,
            replicas=[r.spec for r in self.reps],
            busy_s=np.array([r.busy_s for r in self.reps]),
            energy_j=np.array([r.energy_j for r in self.reps]),
            sampled=self.sampled,
        )
