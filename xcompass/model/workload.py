"""Serving workloads: requests (prefill / decode / verify) grouped into micro-batches.

A request group is `count` identical requests; each has `context` tokens of history (KV cache)
and processes `new_tokens` tokens this step. Micro-batches are what the mapping schedules.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from enum import StrEnum

from xcompass.errors import XcompassError, shown

# Sane limits (documented in the README), checked where a number is read, before any allocation.
MAX_TOKENS = 2**24
"""Tokens of one request: prompt, history (context) and history + draft (16,777,216)."""
MAX_REQUESTS = 2**20
"""Requests in one workload, counting each group's `count` (1,048,576)."""
MAX_MICROBATCHES = 1024
"""Micro-batches in one workload."""
MAX_SEED = 2**32 - 1
"""Largest trace-sampling seed."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(text: str, limit: int = 60) -> str:
    """A user string as a one-line diagnostic quotes it."""
    return shown(text, limit)


class RequestKind(StrEnum):
    PREFILL = "prefill"
    DECODE = "decode"
    VERIFY = "verify"
    CHUNK = "chunk"  # a prompt's later chunk (chunked prefill): new tokens over those done


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
        where = f"request '{self.name}'"
        for key in ("context", "new_tokens", "count"):
            if not _is_int(getattr(self, key)):
                raise XcompassError(
                    f"{where}: {key} must be an integer, got {getattr(self, key)!r}"
                )
        if self.new_tokens <= 0 or self.count <= 0 or self.context < 0:
            raise XcompassError(f"{where}: lengths and counts must be positive")
        if self.context + self.new_tokens > MAX_TOKENS:
            raise XcompassError(
                f"{where}: {self.context + self.new_tokens:,} tokens (history + new) exceed the "
                f"limit of {MAX_TOKENS:,} per request"
            )
        if self.count > MAX_REQUESTS:
            raise XcompassError(
                f"{where}: count {self.count:,} exceeds the limit of {MAX_REQUESTS:,} requests"
            )
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
        if self.kind is RequestKind.CHUNK:
            return f"chunk:{self.context}+{self.new_tokens}{times}"
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

_ITEM = re.compile(
    r"(?P<kind>[a-z]+):(?P<a>[0-9]+)(?:\+(?P<b>[0-9]+))?(?:x(?P<count>[0-9]+))?", re.ASCII
)
_FORMS = "prefill:LEN[xCOUNT], decode:CTX[xCOUNT] or verify:CTX+DRAFT[xCOUNT]"
_MAX_DIGITS = 12  # longer numbers are refused before int() converts them


def parse_spec(spec: str) -> list[Request]:
    """Parse `prefill:512x2,decode:1024x64,verify:1024+4` into request groups r0, r1, ...

    Lengths are at most MAX_TOKENS, a workload at most MAX_REQUESTS requests."""
    items = [s.strip() for s in spec.split(",")]
    spec_shown = _short(spec)
    if not spec.strip() or any(not s for s in items):
        raise XcompassError(f"workload SPEC '{spec_shown}': empty item (expected {_FORMS})")
    if len(items) > MAX_REQUESTS:
        raise XcompassError(
            f"workload SPEC '{spec_shown}': {len(items):,} items; at most {MAX_REQUESTS:,}"
        )
    requests = []
    total = 0
    for pos, item in enumerate(items, start=1):
        where = f"workload SPEC '{spec_shown}', item {pos} '{_short(item, 40)}'"
        m = _ITEM.fullmatch(item)
        if not m:
            raise XcompassError(f"{where}: malformed (expected {_FORMS})")
        if any(g is not None and len(g) > _MAX_DIGITS for g in (m["a"], m["b"], m["count"])):
            raise XcompassError(
                f"{where}: number too large (lengths <= {MAX_TOKENS:,} tokens, "
                f"counts <= {MAX_REQUESTS:,})"
            )
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
        if a + (int(b) if b is not None else 0) > MAX_TOKENS:
            raise XcompassError(
                f"{where}: {a + (int(b) if b is not None else 0):,} tokens per request; "
                f"at most {MAX_TOKENS:,}"
            )
        total += count
        if total > MAX_REQUESTS:
            raise XcompassError(
                f"{where}: the workload reaches {total:,} requests; at most {MAX_REQUESTS:,}"
            )
        name = f"r{pos - 1}"
        if kind == RequestKind.PREFILL:
            requests.append(Request(name, RequestKind.PREFILL, 0, a, count))
        elif kind == RequestKind.DECODE:
            requests.append(Request(name, RequestKind.DECODE, a, 1, count))
        else:
            requests.append(Request(name, RequestKind.VERIFY, a, int(b), count))
    return requests


def check_size(requests: list[Request] | tuple[Request, ...], microbatches: int) -> None:
    """Refuse a workload above the documented limits (MAX_REQUESTS, MAX_MICROBATCHES)."""
    total = sum(r.count for r in requests)
    if total > MAX_REQUESTS:
        raise XcompassError(f"the workload has {total:,} requests; at most {MAX_REQUESTS:,}")
    if microbatches > MAX_MICROBATCHES:
        raise XcompassError(
            f"the workload has {microbatches:,} micro-batches; at most {MAX_MICROBATCHES:,}"
        )


def one_microbatch_per_group(requests: list[Request]) -> Workload:
    check_size(requests, len(requests))
    mbs = tuple(MicroBatch(f"mb{i}", (r.name,)) for i, r in enumerate(requests))
    return Workload(tuple(requests), mbs)


def split_microbatches(requests: list[Request], n: int) -> Workload:
    """Deal single requests into `n` micro-batches with balanced token counts.

    Longest-first greedy (LPT) on tokens processed, ties broken by history length, then the
    identical requests that land in one micro-batch are merged back into one group. Deterministic.
    The caller names the option (`--microbatches N: ...`, `microbatches=N: ...`).
    """
    if not _is_int(n) or not 1 <= n <= MAX_MICROBATCHES:
        raise XcompassError(f"must be positive and at most {MAX_MICROBATCHES:,}")
    check_size(requests, 1)
    total = sum(r.count for r in requests)
    if n > total:
        raise XcompassError(f"more than the {total} requests in the workload")
    groups_sorted = sorted(requests, key=lambda r: (-r.new_tokens, -r.context))
    members: list[list[Request]] = [[] for _ in range(n)]
    heap = [(0, 0, j) for j in range(n)]  # (load, members, index): the least loaded first
    for req in groups_sorted:
        for _ in range(req.count):
            load, size, mb = heapq.heappop(heap)
            members[mb].append(req)
            heapq.heappush(heap, (load + req.new_tokens, size + 1, mb))
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
