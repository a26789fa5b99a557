"""How each policy composes a replica's next iteration (see `policies` for the systems they
follow): which requests decode, verify or prefill (and how many prompt tokens), admission when
their KV fits, and vLLM's preemption. A mixin of `Simulation`, whose state (per-request arrays,
the replicas, the policy's knobs) it reads and updates; the event loop and the accounting of an
iteration's outcome stay in `simulator`."""

from __future__ import annotations

import heapq
import math
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from xcompass.serving.cost_cache import Features
from xcompass.serving.decodegroup import DecodeGroup
from xcompass.serving.policies import DISAGGREGATED, PolicyOptions, blocks
from xcompass.serving.replicas import Item, Replica

CostFn = Callable[[list[list[Item]]], tuple[float, float]]
FeatureCostFn = Callable[[Features], tuple[float, float]]
GROUPED = ("orca", "sarathi")
"""Policies whose decoding requests all emit a token every iteration (`decodegroup`)."""


@dataclass
class ReplicaRun:
    """A replica's queue and running requests while serving."""

    spec: Replica
    cost: CostFn
    waiting: deque = field(default_factory=deque)
    running: list[int] = field(default_factory=list)
    kv_used: int = 0
    busy: bool = False
    items: list[Item] = field(default_factory=list)
    emits: dict[int, int] = field(default_factory=dict)  # verify: tokens a step emits
    start: float = 0.0
    outstanding: int = 0  # tokens still to process for requests routed here (router)
    busy_s: float = 0.0
    energy_j: float = 0.0
    group: DecodeGroup | None = None  # its decoding requests, advanced together (decodegroup)
    feature_cost: FeatureCostFn | None = None  # the cost of a step from its features
    prefilling: list[int] = field(default_factory=list)  # with a group: running, not decoding

    @property
    def kv_free(self) -> int:
        return self.spec.kv_tokens - self.kv_used


class Composer:
    """The composition half of `Simulation` (a mixin: every attribute is the simulation's)."""

    policy: PolicyOptions
    reps: list[ReplicaRun]
    decoders: list[ReplicaRun]  # disaggregated policies: the decode pool
    rng: np.random.Generator  # xy-serve: accepted draft tokens
    prompt: list[int]
    output: list[int]
    need: list[int]  # prompt tokens to prefill (grows on recompute)
    done: list[int]
    gen: list[int]
    kv: list[int]
    rep: list[int]
    preempt: list[int]
    buffered: list[int]
    last: list[float]
    gaps: array
    gap_req: array
    admitted: list[float]
    handoff: list[tuple[float, int, int]]
    buffer_used: int
    _prefill_of: dict[int, int]

    def _capacity_for(self, rid: int) -> int:
        """KV tokens a request needs on the replica that decodes it."""
        extra = self.policy.draft if self.policy.name == "xy-serve" else 0
        return blocks(self.prompt[rid] + self.output[rid] + extra)

    # --- composition ----------------------------------------------------------------------

    def _admit(self, rep: ReplicaRun, rid: int, now: float, kv: int) -> None:
        rep.running.append(rid)
        rep.kv_used += kv
        self.kv[rid] += kv
        if math.isnan(self.admitted[rid]):
            self.admitted[rid] = now

    def _history(self, rid: int) -> int:
        return self.prompt[rid] + self.gen[rid] - 1

    def _compose(self, rep: ReplicaRun, now: float) -> list[Item]:
        name = self.policy.name
        if name in DISAGGREGATED:
            if rep.spec.role == "prefill":
                return self._compose_prefill_pool(rep, now)
            return self._compose_decode_pool(rep, now)
        if name == "static":
            return self._compose_static(rep, now)
        if name == "vllm":
            return self._compose_vllm(rep, now)
        return self._compose_mixed(rep, now, chunked=name != "orca")

    def _decode_item(self, rep: ReplicaRun, rid: int) -> Item:
        if self.policy.name != "xy-serve":
            return (rid, 1, self._history(rid), "d")
        k, a = self.policy.draft, self.policy.acceptance
        accepted = 0
        while accepted < k and self.rng.random() < a:
            accepted += 1
        rep.emits[rid] = accepted + 1
        return (rid, k + 1, self._history(rid), "v")

    def _compose_mixed(self, rep: ReplicaRun, now: float, chunked: bool) -> list[Item]:
        """Orca (whole prompts) and Sarathi / XY-Serve (chunked): decodes first, then the
        prompts in progress, then new prompts FCFS while the budget, `max_running` and the
        KV room allow."""
        p = self.policy
        budget = p.budget
        items: list[Item] = []
        prefilling = []
        done, need, prompt, gen = self.done, self.need, self.prompt, self.gen
        verify = p.name == "xy-serve"
        running = rep.running
        group = rep.group
        if group is not None and len(group) > budget:
            self._dissolve(rep)  # the budget cuts the decodes: one by one from here on
            group = None
        if group is not None:  # the decodes are the group's; budget for what they leave
            budget -= len(group)
            prefilling = rep.prefilling
        elif verify:
            for rid in running:
                if done[rid] >= need[rid]:
                    if budget <= 0:
                        continue
                    item = self._decode_item(rep, rid)
                    items.append(item)
                    budget -= item[1]
                else:
                    prefilling.append(rid)
        else:  # one token each, in order, while the budget lasts
            ready = [rid for rid in running if done[rid] >= need[rid]]
            if len(ready) < len(running):
                prefilling = [rid for rid in running if done[rid] < need[rid]]
            if budget > 0:
                items = [(rid, 1, prompt[rid] + gen[rid] - 1, "d") for rid in ready[:budget]]
                budget -= len(items)
        for rid in prefilling:
            if budget <= 0:
                break
            budget -= self._chunk(items, rid, budget, chunked)
        while rep.waiting and budget > 0 and len(rep.running) < p.max_running:
            rid = rep.waiting[0]
            if not chunked and self.need[rid] > budget and (items or group):
                break  # Orca: a whole prompt waits for a batch it fits in
            kv = self._capacity_for(rid)
            if kv > rep.kv_free:
                break
            rep.waiting.popleft()
            self._admit(rep, rid, now, kv)
            if group is not None:
                prefilling.append(rid)
            budget -= self._chunk(items, rid, budget, chunked)
        return items

    def _dissolve(self, rep: ReplicaRun) -> None:
        """Every member of the replica's group back to one-by-one decoding."""
        group = rep.group
        assert group is not None
        j = len(group.ends) - 1  # the last iteration they decoded in
        for rid in list(group.offset):
            self._leave_group(rep, rid, j)
        rep.group = None

    def _leave_group(self, rep: ReplicaRun, rid: int, j: int) -> None:
        assert rep.group is not None
        self.gen[rid], self.last[rid], gaps = rep.group.leave(rid, j)
        self.gaps.frombytes(gaps.tobytes())
        self.gap_req.extend([rid] * len(gaps))

    def _chunk(self, items: list[Item], rid: int, budget: int, chunked: bool) -> int:
        left = self.need[rid] - self.done[rid]
        q = min(left, budget) if chunked else left
        if chunked and q < left and self.policy.name == "xy-serve":
            tile = self.policy.tile
            if tile and q >= tile:
                q -= q % tile
        if q <= 0:
            return 0
        items.append((rid, q, self.done[rid], "c" if self.done[rid] else "p"))
        return q

    def _compose_static(self, rep: ReplicaRun, now: float) -> list[Item]:
        if not rep.running:
            while rep.waiting and len(rep.running) < self.policy.max_running:
                rid = rep.waiting[0]
                kv = self._capacity_for(rid)
                if kv > rep.kv_free:
                    break
                rep.waiting.popleft()
                self._admit(rep, rid, now, kv)
            return [(rid, self.need[rid], 0, "p") for rid in rep.running]
        return [(rid, 1, self._history(rid), "d") for rid in rep.running]

    def _whole_prompts(self, rep: ReplicaRun, take: Callable[[int], bool]) -> list[Item]:
        """Waiting prompts FCFS, whole, while the token budget and `max_running` allow and
        `take(request)` finds the request room (and takes it); the first that does not fit
        waits, and so does everyone behind it."""
        items: list[Item] = []
        budget = self.policy.budget
        while rep.waiting and len(rep.running) < self.policy.max_running:
            rid = rep.waiting[0]
            q = self.need[rid]
            if (items and q > budget) or not take(rid):
                break
            rep.waiting.popleft()
            items.append((rid, q, 0, "p"))
            budget -= q
        return items

    def _compose_vllm(self, rep: ReplicaRun, now: float) -> list[Item]:
        """Prompts first (whole, blocks for the prompt); else every decode, allocating a block
        when a request's last one is full and preempting the latest admitted when none is
        left (recompute: it re-queues at the front and re-prefills prompt + output so far)."""

        def take(rid: int) -> bool:
            kv = blocks(self.need[rid])
            if kv > rep.kv_free:
                return False
            self._admit(rep, rid, now, kv)
            return True

        items = self._whole_prompts(rep, take)
        if items:
            return items
        i = 0
        while i < len(rep.running):
            rid = rep.running[i]
            grow = blocks(self._history(rid) + 1) - self.kv[rid]
            while grow > rep.kv_free and len(rep.running) > i + 1:
                self._preempt(rep, rep.running[-1])
            if grow > rep.kv_free:  # the latest itself (never the only one: it fits alone)
                self._preempt(rep, rid)
                continue
            rep.kv_used += grow
            self.kv[rid] += grow
            items.append((rid, 1, self._history(rid), "d"))
            i += 1
        return items

    def _preempt(self, rep: ReplicaRun, rid: int) -> None:
        rep.running.remove(rid)
        rep.kv_used -= self.kv[rid]
        self.kv[rid] = 0
        self.need[rid] = self.prompt[rid] + self.gen[rid]
        self.done[rid] = 0
        self.preempt[rid] += 1
        rep.waiting.appendleft(rid)

    def _compose_prefill_pool(self, rep: ReplicaRun, now: float) -> list[Item]:
        """pbd / disagg prefill replica: whole prompts FCFS while the budget allows and the
        prompt's KV has somewhere to wait (the buffer, the replica's own memory, or with no
        buffer a decode replica's room reserved now)."""
        p = self.policy

        def take(rid: int) -> bool:
            held = blocks(self.need[rid])
            if p.name == "disagg":
                if held > rep.kv_free:
                    return False
                rep.kv_used += held
                self.buffered[rid] = held
            elif p.buffer_tokens:
                if self.buffer_used + held > p.buffer_tokens:
                    return False  # back-pressure: the buffer is full
                self.buffer_used += held
                self.buffered[rid] = held
            else:
                target = self._decoder_with_room(self._capacity_for(rid))
                if target is None:
                    return False
                target.kv_used += self._capacity_for(rid)
                self.buffered[rid] = -1 - target.spec.index  # reserved on that decoder
            rep.running.append(rid)
            if math.isnan(self.admitted[rid]):
                self.admitted[rid] = now
            return True

        return self._whole_prompts(rep, take)

    def _decoder_with_room(self, kv: int) -> ReplicaRun | None:
        best = None
        for d in self.decoders:
            room = d.kv_free >= kv and len(d.running) + len(d.waiting) < self.policy.max_running
            if room and (best is None or d.kv_free > best.kv_free):
                best = d
        return best

    def _compose_decode_pool(self, rep: ReplicaRun, now: float) -> list[Item]:
        p = self.policy
        while rep.waiting and len(rep.running) < p.max_running:  # direct hand-offs
            rid = rep.waiting.popleft()
            rep.running.append(rid)
            self.kv[rid] = self._capacity_for(rid)
        while self.handoff and self.handoff[0][0] <= now and len(rep.running) < p.max_running:
            ready, rid, _ = self.handoff[0]
            kv = self._capacity_for(rid)
            if kv > rep.kv_free:
                break
            heapq.heappop(self.handoff)
            self._release_held(rid)
            rep.outstanding += self.output[rid]
            self.rep[rid] = rep.spec.index
            self._admit(rep, rid, now, kv)
        return [(rid, 1, self._history(rid), "d") for rid in rep.running]

    def _release_held(self, rid: int) -> None:
        held = self.buffered[rid]
        if held > 0:
            if self.policy.name == "disagg":
                self.reps[self._prefill_of[rid]].kv_used -= held
            else:
                self.buffer_used -= held
        self.buffered[rid] = 0
