import pytest

from xcompass.errors import XcompassError
from xcompass.model.workload import (
    DEFAULT_SPEC,
    Request,
    RequestKind,
    build_workload,
    parse_spec,
    split_microbatches,
)


def test_spec_kinds_and_counts():
    reqs = parse_spec("prefill:512x2,decode:1024x64,verify:2048+4x8,decode:16")
    assert reqs == [
        Request("r0", RequestKind.PREFILL, 0, 512, 2),
        Request("r1", RequestKind.DECODE, 1024, 1, 64),
        Request("r2", RequestKind.VERIFY, 2048, 4, 8),
        Request("r3", RequestKind.DECODE, 16, 1, 1),
    ]
    assert [r.tokens for r in reqs] == [1024, 64, 32, 1]
    assert (
        ",".join(r.spec() for r in reqs) == "prefill:512x2,decode:1024x64,verify:2048+4x8,decode:16"
    )


def test_default_spec_parses_to_mixed_kinds():
    kinds = {r.kind for r in parse_spec(DEFAULT_SPEC)}
    assert kinds == set(RequestKind) - {RequestKind.CHUNK}  # chunks come from serving


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty item"),
        ("prefill:512,", "empty item"),
        ("prefill", "malformed"),
        ("prefill:12k", "malformed"),
        ("chat:5", "unknown kind 'chat'"),
        ("prefill:5+2", "prefill is written prefill:LEN[xCOUNT]"),
        ("verify:1024x2", "verify is written verify:CTX+DRAFT[xCOUNT]"),
        ("decode:0", "lengths and counts must be positive"),
        ("decode:8x0", "lengths and counts must be positive"),
        ("verify:8+0", "lengths and counts must be positive"),
    ],
)
def test_spec_errors_name_the_item(spec, message):
    with pytest.raises(XcompassError) as err:
        parse_spec(spec)
    assert message in str(err.value)
    assert f"workload SPEC '{spec}'" in str(err.value)
    assert "\n" not in str(err.value)


def test_one_microbatch_per_group_by_default():
    wl = build_workload(parse_spec("prefill:512x2,decode:1024x64"), None)
    assert [mb.requests for mb in wl.microbatches] == [("r0",), ("r1",)]


def test_split_balances_tokens_and_merges_identical_requests():
    wl = split_microbatches(parse_spec("prefill:512x3,decode:1024x64"), 3)
    loads = [sum(r.tokens for r in wl.microbatch_requests(mb)) for mb in wl.microbatches]
    assert loads == [512 + 22, 512 + 21, 512 + 21]
    assert wl.tokens == 3 * 512 + 64
    # each micro-batch holds one prefill and one merged decode group
    for mb in wl.microbatches:
        kinds = [r.kind for r in wl.microbatch_requests(mb)]
        assert kinds == [RequestKind.PREFILL, RequestKind.DECODE]


def test_split_rejects_more_microbatches_than_requests():
    with pytest.raises(XcompassError, match="more than the 2 requests"):
        split_microbatches(parse_spec("decode:8x2"), 3)
    with pytest.raises(XcompassError, match="must be positive"):
        split_microbatches(parse_spec("decode:8x2"), 0)


def test_request_invariants():
    with pytest.raises(XcompassError, match="one new token"):
        Request("r", RequestKind.DECODE, 10, 2)
    with pytest.raises(XcompassError, match="no history"):
        Request("r", RequestKind.PREFILL, 10, 2)
