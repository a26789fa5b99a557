"""Hostile input to the readers (SPEC, config.json, traces), the file writer and the drivers:
each is refused with one XcompassError line naming the value and its limit, never another
exception; sizes are bounded before anything is allocated."""

from __future__ import annotations

import errno
import json
import os
import random
import stat

import pytest

from xcompass import fileio, models, trace, workload
from xcompass.errors import XcompassError
from xcompass.models import from_hf_config, load_config_file
from xcompass.trace import read_trace, sample_step
from xcompass.workload import (
    MAX_MICROBATCHES,
    MAX_REQUESTS,
    MAX_TOKENS,
    Request,
    RequestKind,
    build_workload,
    parse_spec,
    split_microbatches,
)

LLAMA = {
    "model_type": "llama",
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_attention_heads": 32,
    "num_hidden_layers": 16,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "rms_norm_eps": 1e-05,
    "hidden_act": "silu",
    "max_position_embeddings": 131072,
    "head_dim": 64,
}


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and len(text) < 400, text
    return text


# --- workload SPEC --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (f"decode:{2**63}", "number too large"),
        ("prefill:" + "9" * 5000, "number too large"),
        (f"prefill:{MAX_TOKENS + 1}", f"{MAX_TOKENS + 1:,} tokens per request"),
        (f"verify:{MAX_TOKENS}+1", "tokens per request"),
        (f"decode:8x{MAX_REQUESTS + 1}", "the workload reaches"),
        (f"decode:8x{MAX_REQUESTS},prefill:8", "the workload reaches"),
        ("decode:\u0663", "malformed"),  # an Arabic-Indic digit: int() would take it
        ("decode:1_000", "malformed"),
    ],
)
def test_spec_numbers_are_bounded(spec, message):
    with pytest.raises(XcompassError) as err:
        parse_spec(spec)
    assert message in one_line(err)


def test_spec_in_messages_is_cut_short():
    spec = ",".join(["decode:8"] * 1000) + ",bad"
    with pytest.raises(XcompassError) as err:
        parse_spec(spec)
    assert "..." in one_line(err)


def test_one_microbatch_per_item_is_bounded():
    requests = parse_spec(",".join(["decode:8"] * (MAX_MICROBATCHES + 1)))
    with pytest.raises(XcompassError, match="micro-batches; at most 1,024"):
        build_workload(requests, None)
    assert len(build_workload(requests, 8).microbatches) == 8


@pytest.mark.parametrize("n", [0, -1, MAX_MICROBATCHES + 1, True, 2.0])
def test_split_count_is_bounded(n):
    with pytest.raises(XcompassError):
        split_microbatches(parse_spec("decode:8x2000"), n)


def _split_reference(requests: list[Request], n: int) -> list[list[tuple]]:
    """The original O(requests x n) greedy, to check the heap version against."""
    singles = [(r, i) for r in requests for i in range(r.count)]
    singles.sort(key=lambda ri: (-ri[0].new_tokens, -ri[0].context))
    load = [0] * n
    members: list[list[Request]] = [[] for _ in range(n)]
    for req, _ in singles:
        mb = min(range(n), key=lambda j: (load[j], len(members[j]), j))
        load[mb] += req.new_tokens
        members[mb].append(req)
    out = []
    for reqs in members:
        groups: dict[tuple, int] = {}
        for r in reqs:
            key = (r.kind, r.context, r.new_tokens)
            groups[key] = groups.get(key, 0) + 1
        out.append(sorted((k[0].value, k[1], k[2], c) for k, c in groups.items()))
    return out


def test_heap_split_matches_the_reference_greedy():
    rng = random.Random(7)
    kinds = ["prefill:{a}", "decode:{a}", "verify:{a}+{b}"]
    for _ in range(60):
        items = [
            rng.choice(kinds).format(a=rng.randint(1, 64), b=rng.randint(1, 4))
            + f"x{rng.randint(1, 6)}"
            for _ in range(rng.randint(1, 6))
        ]
        requests = parse_spec(",".join(items))
        n = rng.randint(1, sum(r.count for r in requests))
        wl = split_microbatches(requests, n)
        got = [
            sorted(
                (r.kind.value, r.context, r.new_tokens, r.count) for r in wl.microbatch_requests(mb)
            )
            for mb in wl.microbatches
        ]
        assert got == _split_reference(requests, n)


def test_big_workloads_split_fast():
    requests = parse_spec(f"decode:128x{MAX_REQUESTS // 2},prefill:64x1000")
    wl = split_microbatches(requests, MAX_MICROBATCHES)
    assert sum(r.count for r in wl.requests) == MAX_REQUESTS // 2 + 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, MAX_TOKENS + 1), "exceed the limit"),
        ((0, 8, MAX_REQUESTS + 1), "count"),
        ((0, 8.0), "must be an integer"),
        ((0, True), "must be an integer"),
    ],
)
def test_request_limits(args, message):
    with pytest.raises(XcompassError, match=message):
        Request("r", RequestKind.PREFILL, *args)


# --- traces ---------------------------------------------------------------------------------

HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"t,{2**63},5", "expected integer"),
        ("t,1_000,5", "expected integer"),
        ("t,\u0663,5", "expected integer"),
        ("t,1e3,5", "expected integer"),
        ("t," + "9" * 5000 + ",5", "expected integer"),
        (f"t,{MAX_TOKENS},1", "exceeds the limit of 16,777,216 tokens per request"),
        ("t,5", "expected integer"),
    ],
)
def test_trace_values_are_checked(tmp_path, row, message):
    path = tmp_path / "t.csv"
    path.write_text(HEADER + row + "\n")
    with pytest.raises(XcompassError) as err:
        read_trace(path)
    assert message in one_line(err)


def test_trace_row_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(trace, "MAX_TRACE_ROWS", 3)
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "t,10,2\n" * 4)
    with pytest.raises(XcompassError, match="more than 3 requests in one trace"):
        read_trace(path)


def test_trace_file_problems(tmp_path):
    with pytest.raises(XcompassError, match="cannot read trace"):
        read_trace(tmp_path)  # a folder
    with pytest.raises(XcompassError, match=r"cannot read trace \(File name too long\)"):
        read_trace(tmp_path / ("x" * 5000))
    with pytest.raises(XcompassError) as err:
        read_trace(str(tmp_path / ("x" * 5000)))
    assert "..." in one_line(err)  # a long name is cut short in the message


@pytest.mark.parametrize(
    ("k", "seed", "message"),
    [
        (0, 0, "--sample 0"),
        (trace.MAX_SAMPLE + 1, 0, "at most 65,536"),
        (10**10, 0, "--sample"),
        (4, -1, "--seed -1"),
        (4, 2**32, "--seed"),
        (4, 2**63, "--seed"),
    ],
)
def test_sample_and_seed_ranges(tmp_path, k, seed, message):
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "t,10,2\n")
    with pytest.raises(XcompassError, match=message):
        sample_step(read_trace(path), k, seed)


# --- model configs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("hidden_size", float("nan"), "must be an integer"),
        ("hidden_size", "2048", "must be an integer"),
        ("hidden_size", [2048], "must be an integer"),
        ("hidden_size", {"n": 1}, "must be an integer"),
        ("hidden_size", True, "must be an integer"),
        ("hidden_size", 2**63, "must be between 1 and 1,048,576"),
        ("num_hidden_layers", 1025, "must be between 1 and 1,024"),
        ("num_hidden_layers", -3, "must be between 1"),
        ("vocab_size", 2**64, "must be between 1 and 16,777,216"),
        ("num_key_value_heads", "8", "must be an integer"),
        ("num_key_value_heads", -8, "must be between 1"),
        ("head_dim", 1.5, "must be an integer"),
        ("rms_norm_eps", float("inf"), "must be a number in (0, 1)"),
        ("rms_norm_eps", "tiny", "must be a number"),
        ("rms_norm_eps", 2**80, "out of range"),
        ("rms_norm_eps", -1e-5, "must be a number in (0, 1)"),
        ("hidden_act", ["silu"], "must be a string"),
        ("hidden_act", None, None),  # null: the default (silu)
        ("model_type", 5, "must be a string"),
        ("max_position_embeddings", 2**40, "must be between 1"),
        ("sliding_window", "4096", "must be an integer"),
        ("use_sliding_window", "yes", "must be true or false"),
        ("num_local_experts", 10**6, "must be between 1 and 4,096"),
        ("num_experts_per_tok", 3, "exceeds the 1 experts"),
    ],
)
def test_config_values_of_the_wrong_kind(key, value, message):
    cfg = dict(LLAMA, **{key: value})
    if key == "use_sliding_window":
        cfg["model_type"] = "qwen2"
    if message is None:
        assert from_hf_config(cfg, "m", "cfg.json").mlp == "silu"
        return
    with pytest.raises(XcompassError) as err:
        from_hf_config(cfg, "m", "cfg.json")
    text = one_line(err)
    assert message in text and text.startswith("cfg.json: ")


def test_moe_top_k_zero_is_refused_but_means_dense_without_experts():
    moe = dict(LLAMA, num_local_experts=8, num_experts_per_tok=0)
    with pytest.raises(XcompassError) as err:
        from_hf_config(moe, "m", "cfg.json")
    assert "'num_experts_per_tok' must be between 1 and 4,096, got 0" in one_line(err)
    assert from_hf_config(dict(LLAMA, num_experts_per_tok=0), "m", "cfg.json").top_k == 1


@pytest.mark.parametrize(
    ("where", "key", "value", "message"),
    [
        ("meta", "turbo_mode", 1, "field 'meta.turbo_mode' is not a meta field"),
        ("dram", "turbo_mode", 1, "field 'dram[0].turbo_mode' is not a dram field"),
        ("dram", "attach", [[0, "x"]], "field 'dram[0].attach' must list 1 (column, row) pairs"),
        ("dram", "attach", [[0, 1, 2]], "field 'dram[0].attach' must list 1 (column, row) pairs"),
        ("dram", "attach", [7], "field 'dram[0].attach' must list 1 (column, row) pairs"),
    ],
)
def test_target_tables_refuse_unknown_or_malformed_fields(where, key, value, message):
    import tomllib
    from pathlib import Path

    from xcompass.targets import parse_target

    data = tomllib.loads((Path(__file__).parents[1] / "inputs" / "my-target.toml").read_text())
    table = data[where][0] if isinstance(data[where], list) else data[where]
    table[key] = value
    if key == "attach":
        table["count"] = 1
    with pytest.raises(XcompassError) as err:
        parse_target(data, "t.toml")
    assert message in one_line(err)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"hidden_size": NaN}', "NaN is not a number JSON allows"),
        ('{"hidden_size": Infinity}', "Infinity is not a number JSON allows"),
        ('{"hidden_size": -Infinity}', "-Infinity is not a number JSON allows"),
        ('{"hidden_size": ' + "9" * 5000 + "}", "out of range"),
        ("[" * 100000 + "]" * 100000, "nested too deeply"),
        ("[1, 2]", "expected a JSON object at the top level"),
        ("null", "expected a JSON object at the top level"),
        ('"config"', "expected a JSON object at the top level"),
    ],
)
def test_config_files(tmp_path, text, message):
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(XcompassError) as err:
        load_config_file(path)
    assert message in one_line(err)


def test_config_bytes_and_names(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(XcompassError, match=r"not UTF-8 text \(byte 0xff at offset 7\)"):
        load_config_file(path)
    with pytest.raises(XcompassError, match="File name too long"):
        models.resolve_model(str(tmp_path / ("x" * 5000)) + ".json")
    with pytest.raises(XcompassError, match="unknown model"):
        models.resolve_model("x" * 5000)  # not a file: a (too long) preset name
    with pytest.raises(XcompassError, match="cannot read model config"):
        models.resolve_model("a\0b.json")
    monkeypatch.setattr(models, "MAX_JSON_BYTES", 10)
    path.write_text(json.dumps(LLAMA))
    with pytest.raises(XcompassError, match="not a model config"):
        load_config_file(path)


def test_model_config_limits_hold_for_presets_and_ir():
    for name in models.preset_names():
        models.preset(name)  # every preset is within the limits
    with pytest.raises(XcompassError, match="layers must be between 1 and 1,024"):
        models.ModelConfig("m", 64, 2000, 1, 1, 64, 64, 64)
    with pytest.raises(XcompassError, match="norm_eps"):
        models.ModelConfig("m", 64, 2, 1, 1, 64, 64, 64, norm_eps=float("nan"))


# --- writing files --------------------------------------------------------------------------


def test_errors_name_the_destination_not_a_temporary(tmp_path):
    with pytest.raises(IsADirectoryError) as err:
        fileio.write_atomically(str(tmp_path), "x")
    assert err.value.filename == str(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        fileio.write_atomically(str(tmp_path / "no" / "f"), "x")
    assert err.value.filename == str(tmp_path / "no" / "f")
    with pytest.raises(OSError) as err:
        fileio.write_atomically(str(tmp_path / ("x" * 300)), "x")
    assert err.value.errno == errno.ENAMETOOLONG
    assert list(tmp_path.iterdir()) == []


def test_a_link_is_written_through(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    fileio.write_atomically(str(link), "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_a_fifo_is_written_in_place_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        fileio.write_atomically(str(fifo), "through the pipe")
        assert os.read(reader, 100) == b"through the pipe"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_deferred_writes_wait_for_success(tmp_path):
    report = tmp_path / "r.json"
    report.write_text("old")
    with fileio.deferred_writes() as queue:
        fileio.write_side_file(str(report), "new")
        fileio.write_side_file(str(tmp_path / "s.json"), "side")
        assert report.read_text() == "old" and not (tmp_path / "s.json").exists()
    fileio.flush(queue)
    assert report.read_text() == "new" and (tmp_path / "s.json").read_text() == "side"

    with pytest.raises(RuntimeError), fileio.deferred_writes() as queue:  # a later failure
        fileio.write_side_file(str(report), "lost")
        raise RuntimeError
    assert report.read_text() == "new"
    fileio.write_atomically(str(report), "now")  # outside the block: written at once
    assert report.read_text() == "now"


def test_deferred_writes_refuse_protected_files(tmp_path):
    source = tmp_path / "in.mlir"
    source.write_text("module {}")
    with fileio.deferred_writes({str(source): "the input IR file"}):
        with pytest.raises(XcompassError, match="it is the input IR file"):
            fileio.write_side_file(str(tmp_path / "." / "in.mlir"), "x")
        with pytest.raises(IsADirectoryError):
            fileio.write_side_file(str(tmp_path), "x")
    assert source.read_text() == "module {}"


# --- the limits are what the README says ------------------------------------------------------


def test_documented_limits():
    assert (workload.MAX_TOKENS, workload.MAX_REQUESTS, workload.MAX_MICROBATCHES) == (
        2**24,
        2**20,
        1024,
    )
    assert (models.MAX_LAYERS, models.MAX_DIM, models.MAX_VOCAB, models.MAX_EXPERTS) == (
        1024,
        2**20,
        2**24,
        4096,
    )
    assert (trace.MAX_SAMPLE, trace.MAX_TRACE_ROWS, workload.MAX_SEED) == (
        2**16,
        2**24,
        2**32 - 1,
    )
