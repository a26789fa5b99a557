import numpy as np
import pytest

from xcompass.errors import XcompassError
from xcompass.model.trace import read_trace, sample_step
from xcompass.model.workload import RequestKind


def test_reads_the_azure_traces(shared_data):
    code = read_trace(shared_data / "traces" / "AzureLLMInferenceTrace_code.csv")
    conv = read_trace(shared_data / "traces" / "AzureLLMInferenceTrace_conv.csv")
    assert len(code) == 8819 and len(conv) == 19366
    # the published medians of the two traces (shared/data/README.md)
    assert np.median(code.context) == 1469 and np.median(code.generated) == 13
    assert np.median(conv.context) == 1020 and np.median(conv.generated) == 129


def test_sampling_is_reproducible_and_seed_dependent(shared_data):
    trace = read_trace(shared_data / "traces" / "AzureLLMInferenceTrace_conv.csv")
    a = sample_step(trace, 64, seed=3)
    b = sample_step(trace, 64, seed=3)
    c = sample_step(trace, 64, seed=4)
    assert a == b
    assert a != c
    assert len(a) == 64 and len({r.name for r in a}) == 64


def test_samples_respect_each_request_lifetime(shared_data):
    trace = read_trace(shared_data / "traces" / "AzureLLMInferenceTrace_conv.csv")
    contexts = set(trace.context.tolist())
    max_total = int((trace.context + trace.generated).max())
    reqs = sample_step(trace, 500, seed=0)
    kinds = {r.kind for r in reqs}
    assert kinds == {RequestKind.PREFILL, RequestKind.DECODE}
    for r in reqs:
        if r.kind is RequestKind.PREFILL:
            assert r.new_tokens in contexts
        else:
            assert r.new_tokens == 1 and 0 < r.context < max_total
    # conv requests generate ~211 tokens on average: most in-flight requests are decoding
    share_decode = sum(r.kind is RequestKind.DECODE for r in reqs) / len(reqs)
    assert share_decode > 0.9


def test_bad_rows_and_headers_are_named(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\nx,10,2\nx,-1,2\n")
    with pytest.raises(XcompassError, match=r"t.csv:3: token counts must be positive"):
        read_trace(bad)
    bad.write_text("")
    with pytest.raises(XcompassError, match="empty trace"):
        read_trace(bad)
    bad.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n")
    with pytest.raises(XcompassError, match="no requests"):
        read_trace(bad)
    bad.write_bytes(b"TIMESTAMP,ContextTokens,GeneratedTokens\n\xff\xfe,1\n")
    with pytest.raises(XcompassError, match="unreadable CSV"):
        read_trace(bad)


def test_sample_size_must_be_positive(tmp_path):
    good = tmp_path / "t.csv"
    good.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\nx,10,2\n")
    with pytest.raises(XcompassError, match="--sample 0"):
        sample_step(read_trace(good), 0, 1)
