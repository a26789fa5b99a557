"""What an iteration's end does: tokens emitted (first token, gaps), prompts advanced,
requests finished or handed to a decode replica, and the decode group's members that emitted
their last token. A mixin of `Simulation`, like `compose`; the event loop stays there."""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Callable

from xcompass.serving.compose import ReplicaRun
from xcompass.serving.policies import PolicyOptions


class Accounting:
    """The accounting half of `Simulation` (a mixin: every attribute is the simulation's, and
    it calls `Composer`'s `_history`, `_capacity_for` and `_leave_group`)."""

    policy: PolicyOptions
    reps: list[ReplicaRun]
    prompt: list[int]
    output: list[int]
    need: list[int]
    done: list[int]
    gen: list[int]
    kv: list[int]
    rep: list[int]
    buffered: list[int]
    first: list[float]
    finish: list[float]
    last: list[float]
    gaps: array
    gap_req: array
    buffer_used: int
    wakes: list[float]
    handoff: list[tuple[float, int, int]]
    transfer_s: Callable[[int], float]
    _direct: list[tuple[float, int, int]]
    _prefill_of: dict[int, int]

    def _emit(self, rid: int, now: float, count: int) -> bool:
        """`count` tokens of `rid` at `now`; True when the request is done."""
        left = self.output[rid] - self.gen[rid]
        count = min(count, left)
        if self.gen[rid] == 0:
            self.first[rid] = now
            count -= 1
            self.gen[rid] = 1
        elif count > 0:
            gap = now - self.last[rid]
            self.gaps.append(gap)
            self.gap_req.append(rid)
            self.gen[rid] += 1
            count -= 1
        for _ in range(count):  # a verify step's further tokens arrive together
            self.gaps.append(0.0)
            self.gap_req.append(rid)
            self.gen[rid] += 1
        self.last[rid] = now
        return self.gen[rid] >= self.output[rid]

    def _finish(self, rep: ReplicaRun, rid: int, now: float) -> None:
        self.finish[rid] = now
        rep.kv_used -= self.kv[rid]
        self.kv[rid] = 0

    def _apply(self, rep: ReplicaRun, now: float) -> None:
        items = rep.items
        gen, out, last = self.gen, self.output, self.last
        group = rep.group
        finished: set[int] = set()
        if group is not None:  # its members each emitted a token; some emitted their last
            j = len(group.ends) - 1
            rep.outstanding -= len(group)
            for rid in group.finishing.pop(j, ()):
                self._leave_group(rep, rid, j)
                finished.add(rid)
        # the decodes the policies list first: one token each after the first, in bulk
        d = 0
        while d < len(items) and items[d][3] == "d":
            d += 1
        if d:
            rids = [item[0] for item in items[:d]]
            self.gaps.extend([now - last[rid] for rid in rids])
            self.gap_req.extend(rids)
            for rid in rids:
                last[rid] = now
                g = gen[rid] = gen[rid] + 1
                if g >= out[rid]:
                    finished.add(rid)
            rep.outstanding -= d
        handed: set[int] = set()
        for rid, q, _, kind in items[d:]:
            if kind == "d":  # a decode listed after other work (no policy does today)
                if self._emit(rid, now, 1):
                    finished.add(rid)
                rep.outstanding -= 1
                continue
            if kind in "pc":
                self.done[rid] += q
                rep.outstanding -= q
                if self.done[rid] < self.need[rid]:
                    continue
                emitted = 1
            else:
                emitted = rep.emits.pop(rid, 1)
            before = gen[rid]
            if self._emit(rid, now, emitted):
                finished.add(rid)
            rep.outstanding -= gen[rid] - before
            if group is not None and kind in "pc":  # past its prompt: decodes with the group
                rep.prefilling.remove(rid)
                if rid not in finished:
                    group.join(rid, j + 1, self._history(rid), gen[rid], out[rid], now)
            if rep.spec.role == "prefill" and rid not in finished:
                handed.add(rid)
        if not finished and not handed:
            return
        keep: list[int] = []
        for rid in rep.running:
            if rid in finished:
                self._finish(rep, rid, now)
                if rep.spec.role == "prefill":
                    self._release_prefill_only(rid)
            elif rid in handed:
                self._hand_off(rep, rid, now)
            else:
                keep.append(rid)
        rep.running = keep

    def _release_prefill_only(self, rid: int) -> None:
        """A request done at its prefill (one output token) frees what it held for decode."""
        held = self.buffered[rid]
        if held < 0:
            self.reps[-1 - held].kv_used -= self._capacity_for(rid)
        elif held > 0 and self.policy.name == "disagg":
            self.reps[self.rep[rid]].kv_used -= held
        elif held > 0:
            self.buffer_used -= held
        self.buffered[rid] = 0

    def _hand_off(self, rep: ReplicaRun, rid: int, now: float) -> None:
        ready = now + self.transfer_s(self.prompt[rid])
        rep.outstanding -= self.output[rid] - self.gen[rid]
        held = self.buffered[rid]
        if held < 0:  # no buffer: straight to the decoder that reserved room
            target = self.reps[-1 - held]
            self.buffered[rid] = 0
            self.rep[rid] = target.spec.index
            target.outstanding += self.output[rid]
            heapq.heappush(self.wakes, ready)
            self._direct.append((ready, rid, target.spec.index))
            return
        self._prefill_of[rid] = rep.spec.index
        heapq.heappush(self.handoff, (ready, rid, -1))
        heapq.heappush(self.wakes, ready)
