"""Serving workloads: requests (prefill / decode / verify) grouped into micro-batches.

A request group is `count` identical requests; each has `context` tokens of history (KV cache)
and processes `new_tokens` tokens this step. Micro-batches are what the mapping schedules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from xcompass.errors import XcompassError


class RequestKind(StrEnum):
    PREFILL = "prefill"
    DECODE = "decode"
    VERIFY = "verify"


@dataclass(frozen=True)
class Request:
    """`count` identical requests of one kind.

    prefill: `new_tokens` prompt tokens, no history. decode: one new token over `context`
    tokens of history. verify (speculative decoding): `new_tokens` draft tokens checked over
    `context` tokens of history.
    """

    name: str
    kind: RequestKind
    context: int
    new_tokens: int
    count: int = 1

    def __post_init__(self) -> None:
        if self.new_tokens <= 0 or self.count <= 0 or self.context < 0:
            raise XcompassError(f"request '{self.name}': lengths and counts must be positive")
        if self.kind is RequestKind.PREFILL and self.context:
            raise XcompassError(f"request '{self.name}': a prefill request has no history")
        if self.kind is RequestKind.DECODE and self.new_tokens != 1:
            raise XcompassError(f"request '{self.name}': a decode request has one new token")
        if self.kind is not RequestKind.PREFILL and self.context <= 0:
            raise XcompassError(f"request '{self.name}': {self.kind} needs a positive history")

    @property
    def tokens(self) -> int:
        """Tokens processed this step by the whole group."""
        return self.new_tokens * self.count

    def spec(self) -> str:
        """This group in the workload SPEC grammar."""
        times = f"x{self.count}" if self.count > 1 else ""
        if self.kind is RequestKind.PREFILL:
            return f"prefill:{self.new_tokens}{times}"
        if self.kind is RequestKind.DECODE:
            return f"decode:{self.context}{times}"
        return f"verify:{self.context}+{self.new_tokens}{times}"


@dataclass(frozen=True)
class MicroBatch:
    name: str
    requests: tuple[str, ...]


@dataclass(frozen=True)
class Workload:
    requests: tuple[Request, ...]
    microbatches: tuple[MicroBatch, ...]
    name: str = "serve"

    def request(self, name: str) -> Request:
        for req in self.requests:
            if req.name == name:
                return req
        raise KeyError(name)

    def microbatch_requests(self, mb: MicroBatch) -> list[Request]:
        return [self.request(n) for n in mb.requests]

    @property
    def tokens(self) -> int:
        return sum(r.tokens for r in self.requests)


DEFAULT_SPEC = "prefill:1024x2,decode:1024x32,verify:1024+4x4"
"""A mixed serving step: two prompts prefill while 32 requests decode and 4 verify drafts."""

_ITEM = re.compile(r"^(?P<kind>[a-z]+):(?P<a>\d+)(?:\+(?P<b>\d+))?(?:x(?P<count>\d+))?$")
_FORMS = "prefill:LEN[xCOUNT], decode:CTX[xCOUNT] or verify:CTX+DRAFT[xCOUNT]"


def parse_spec(spec: str) -> list[Request]:
    """Parse `prefill:512x2,decode:1024x64,verify:1024+4` into request groups r0, r1, ..."""
    items = [s.strip() for s in spec.split(",")]
    if not spec.strip() or any(not s for s in items):
        raise XcompassError(f"workload SPEC '{spec}': empty item (expected {_FORMS})")
    requests = []
    for pos, item in enumerate(items, start=1):
        where = f"workload SPEC '{spec}', item {pos} '{item}'"
        m = _ITEM.match(item)
        if not m:
            raise XcompassError(f"{where}: malformed (expected {_FORMS})")
        kind, a, b = m["kind"], int(m["a"]), m["b"]
        count = int(m["count"]) if m["count"] is not None else 1
        if kind not in RequestKind.__members__.values():
            raise XcompassError(
                f"{where}: unknown kind '{kind}' (expected prefill, decode, verify)"
            )
        if (b is not None) != (kind == RequestKind.VERIFY):
            form = {"prefill": "prefill:LEN", "decode": "decode:CTX", "verify": "verify:CTX+DRAFT"}
            raise XcompassError(f"{where}: {kind} is written {form[kind]}[xCOUNT]")
        if a <= 0 or count <= 0 or (b is not None and int(b) <= 0):
            raise XcompassError(f"{where}: lengths and counts must be positive")
        name = f"r{pos - 1}"
        if kind == RequestKind.PREFILL:
            requests.append(Request(name, RequestKind.PREFILL, 0, a, count))
        elif kind == RequestKind.DECODE:
            requests.append(Request(name, RequestKind.DECODE, a, 1, count))
        else:
            requests.append(Request(name, RequestKind.VERIFY, a, int(b), count))
    return requests


def one_microbatch_per_group(requests: list[Request]) -> Workload:
    mbs = tuple(MicroBatch(f"mb{i}", (r.name,)) for i, r in enumerate(requests))
    return Workload(tuple(requests), mbs)


def split_microbatches(requests: list[Request], n: int) -> Workload:
    """Deal single requests into `n` micro-batches with balanced token counts.

    Longest-first greedy (LPT) on tokens processed, ties broken by history length, then the
    identical requests that land in one micro-batch are merged back into one group. Deterministic.
    """
    singles = [(r, i) for r in requests for i in range(r.count)]
    if n <= 0:
        raise XcompassError(f"--microbatches {n}: must be positive")
    if n > len(singles):
        raise XcompassError(
            f"--microbatches {n}: more than the {len(singles)} requests in the workload"
        )
    singles.sort(key=lambda ri: (-ri[0].new_tokens, -ri[0].context))
    load = [0] * n
    members: list[list[Request]] = [[] for _ in range(n)]
    for req, _ in singles:
        mb = min(range(n), key=lambda j: (load[j], len(members[j]), j))
        load[mb] += req.new_tokens
        members[mb].append(req)
    out_requests: list[Request] = []
    out_mbs: list[MicroBatch] = []
    for j, reqs in enumerate(members):
        groups: dict[tuple[RequestKind, int, int], int] = {}
        for r in reqs:
            key = (r.kind, r.context, r.new_tokens)
            groups[key] = groups.get(key, 0) + 1
        names = []
        for (kind, ctx, new), count in groups.items():
            name = f"r{len(out_requests)}"
            out_requests.append(Request(name, kind, ctx, new, count))
            names.append(name)
        out_mbs.append(MicroBatch(f"mb{j}", tuple(names)))
    return Workload(tuple(out_requests), tuple(out_mbs))


def build_workload(requests: list[Request], microbatches: int | None) -> Workload:
    if microbatches is None:
        return one_microbatch_per_group(requests)
    return split_microbatches(requests, microbatches)
