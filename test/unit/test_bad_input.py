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

from xcompass import fileio
from xcompass.errors import XcompassError
from xcompass.model import models, trace, workload
from xcompass.model.models import from_hf_config, load_config_file
from xcompass.model.trace import read_trace, sample_step
from xcompass.model.workload import (
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

    from xcompass.hardware.targetfile import parse_target

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


# --- hostile input to the newer entry points (issue 15): one test per class -------------------

TINY = ["--layers", "1", "--microbatches", "2", "--population", "4", "--generations", "2",
        "--quiet", "--no-pictures", "--no-baselines"]  # fmt: skip


class _Hang(BaseException):
    pass


def _cli(capsys, *argv: str, opt: bool = False, seconds: float = 60) -> tuple[int, str, str]:
    """Run `xcompass ARGV` (or `xcompass-opt`) in-process under a watchdog: a blocking open of
    a FIFO fails the test instead of hanging it."""
    import signal

    from xcompass.tools.cli import main as cli_main
    from xcompass.tools.opt import main as opt_main

    def fire(*_):  # noqa: ANN002
        raise _Hang(f"{argv} took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        (opt_main if opt else cli_main)(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    out, err = capsys.readouterr()
    return code, out, err


def _refused(code: int, err: str, pattern: str) -> str:
    import re

    lines = err.strip().splitlines()
    assert code not in (0, 70) and len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny explore run's report.json and checkpoint (what class 1 edits)."""
    import subprocess
    import sys
    from pathlib import Path

    folder = tmp_path_factory.mktemp("saved")
    xcompass = str(Path(sys.executable).with_name("xcompass"))
    done = subprocess.run(
        [xcompass, "explore", *TINY, "--out", str(folder / "out"), "--checkpoint",
         str(folder / "ck.npz")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads((folder / "out" / "report.json").read_text()), (
        folder / "ck.npz"
    ).read_bytes()


def _edit(report: dict, path: str, value: object) -> dict:
    report = json.loads(json.dumps(report))
    node = report
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if value is KeyError:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return report


REPORT_EDITS = [
    ("per_task.0.start_s", "abc", r"field per_task\[0\]\.start_s: expected a number, got 'abc'"),
    ("per_task.0.chiplets", [999], r"field per_task\[0\]\.chiplets: chiplet 999; the report has"),
    ("per_task.0.layers", KeyError, r"field per_task\[0\]\.layers: missing"),
    ("per_task.0.end_s", -1.0, r"field per_task\[0\]\.end_s: expected a number from 0"),
    ("per_chiplet.0.kind", 5, r"field per_chiplet\[0\]\.kind: expected text, got 5"),
    ("latency_s", 1e400, r"field latency_s: expected a number from 0"),
    ("layout.dims", [1, 1], r"field layout\.dims: a 1x1 mesh cannot hold 36 chiplets"),
    ("activity.dram_streams.0.2", 99, r"field activity\.dram_streams\[0\]: DRAM channel 99"),
    ("activity.nodes.0.0", 7, r"field activity\.nodes\[0\]: micro-batch 7"),
    ("search.searched", "zz", r"field search\.searched: names no method"),
    ("search.methods", "x", r"field search\.methods: expected an object"),
    ("convergence.methods.ga", [[1]], r"field convergence\.methods\.ga\[0\]: expected a list of 2"),
    ("explore.tokens_per_batch", "many", r"field explore\.tokens_per_batch: expected a number"),
    ("report_version", 2, r"report_version 2; this xcompass reads version 1"),
    ("tokens", 2.5, r"field tokens: expected an integer, got 2\.5"),
    ("per_kernel", 7, r"field per_kernel: expected a list, got 7"),  # found by the fuzzer
    (
        "per_kernel.0.kernels.0.kind",
        {},
        r"field per_kernel\[0\]\.kernels\[0\]\.kind: expected text",
    ),
]


@pytest.mark.parametrize("path, value, message", REPORT_EDITS, ids=[e[0] for e in REPORT_EDITS])
def test_class1_an_edited_report_is_refused_naming_the_field(saved, path, value, message, tmp_path,
                                                             capsys):  # fmt: skip
    """`xcompass report` on an edited report: one line naming the field (never a KeyError in
    a table or picture), and nothing drawn."""
    report, _ = saved
    if path == "activity.dram_streams.0.2" and not report["activity"]["dram_streams"]:
        pytest.skip("no DRAM stream in this run")
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps(_edit(report, path, value)))
    code, out, err = _cli(capsys, "report", str(bad), "--out", str(tmp_path / "pics"))
    _refused(code, err, message)
    assert not out and not (tmp_path / "pics").exists()


def test_class1_nan_in_a_report_names_its_field(saved, tmp_path, capsys):
    report, _ = saved
    text = json.dumps(report).replace('"energy_j": ', '"energy_j": NaN, "x": ', 1)
    (tmp_path / "r.json").write_text(text)
    code, _, err = _cli(capsys, "report", str(tmp_path / "r.json"))
    _refused(code, err, r"field .*energy_j: expected a number from 0 to .*, got nan")


def test_class1_group_and_tile_reports_of_map_cost_are_read_and_drawn(tmp_path, capsys):
    """Issue 14 item 4: map-cost's report at granularity group or tile (units, and the layers
    they belong to) is read, printed and drawn."""
    mlir = tmp_path / "in.mlir"
    code, _, err = _cli(capsys, "import", "--model", "llama3-8b", "--layers", "2", "-o", str(mlir))
    assert code == 0, err
    for granularity in ("group", "tile"):
        report = tmp_path / f"{granularity}.json"
        code, _, err = _cli(
            capsys, str(mlir), "-p",
            f"set-target{{target=compass-het-36}},llm-partition{{strategy=hybrid "
            f"granularity={granularity}}},map-cost{{report={report}}}", "-o", os.devnull,
            opt=True,
        )  # fmt: skip
        assert code == 0, err
        saved_report = json.loads(report.read_text())
        assert saved_report["granularity"] == granularity and "units" in saved_report
        assert all(t["layers"][0] < t["layers"][1] <= 2 for t in saved_report["per_task"])
        out = tmp_path / f"pics-{granularity}"
        code, printed, err = _cli(capsys, "report", str(report), "--out", str(out))
        assert code == 0, err
        assert "llama3_8b on compass-het-36" in printed
        assert (out / "gantt.png").stat().st_size > 1000 and (out / "trace.json").exists()


CHECKPOINT_EDITS = [
    ("header", "ga.generation", "x", r"field ga\.generation: expected an integer, got 'x'"),
    ("header", "settings.population", -3, r"field settings\.population: expected an integer"),
    ("header", "ga.rng_state.bit_generator", "MT19937", r"field ga\.rng_state\.bit_generator"),
    ("header", "results", [], r"field results: expected an object"),
    (
        "array",
        "ga.best.place",
        "shape",
        r"field ga\.best: arrays (whose shapes disagree|of another)",
    ),
    ("array", "pool.latency", "nan", r"field pool\.latency: NaN"),
    ("array", "ga.population.bits", "dtype", r"field ga\.population\.bits: an array of"),
    ("bytes", "truncate", None, r"not an xcompass checkpoint \(not an \.npz archive\)"),
    ("bytes", "bomb", None, r"member header\.npy inflates to"),
]


def _edit_checkpoint(blob: bytes, where: str, what: str, value: object) -> bytes:
    import io
    import zipfile

    import numpy as np

    if where == "bytes":
        if what == "truncate":
            return blob[: len(blob) // 2]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("header.npy", b"\0" * 2**29)
        return buffer.getvalue()
    with np.load(io.BytesIO(blob)) as archive:
        arrays = {k: archive[k] for k in archive.files}
    if where == "header":
        header = json.loads(str(arrays["header"]))
        arrays["header"] = np.array(json.dumps(_edit(header, what, value)))
    else:
        a = arrays[what]
        arrays[what] = {"shape": a[:, :, :0] if a.ndim == 3 else a[:0], "nan": a * np.nan,
                        "dtype": a.astype(np.float32)}[value]  # fmt: skip
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("where, what, value, message", CHECKPOINT_EDITS,
                         ids=[f"{e[0]}:{e[1]}" for e in CHECKPOINT_EDITS])  # fmt: skip
def test_class1_an_edited_checkpoint_is_refused_naming_the_field(
    saved, where, what, value, message, tmp_path, capsys
):
    """`--resume` of an edited checkpoint: one line naming the field, before any work."""
    _, blob = saved
    ckpt = tmp_path / "ck.npz"
    ckpt.write_bytes(_edit_checkpoint(blob, where, what, value))
    code, out, err = _cli(capsys, "explore", "--resume", str(ckpt), "--out", str(tmp_path / "o"))
    _refused(code, err, message)
    assert not out and not (tmp_path / "o").exists()


def test_class1_a_checkpoint_whose_genomes_do_not_fit_the_problem_is_refused(saved, tmp_path):
    """The fingerprint is only a hash in the header: genomes are checked against the problem."""
    import io

    import numpy as np

    from xcompass.explore import checkpoint as ckpt

    _, blob = saved
    with np.load(io.BytesIO(blob)) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["ga.best.place"] = np.full_like(arrays["ga.best.place"], 10**6)
    (tmp_path / "c.npz").write_bytes(b"")
    np.savez_compressed(tmp_path / "c.npz", **arrays)
    loaded = ckpt.load(str(tmp_path / "c.npz"))

    class Problem:  # the three figures check_problem reads
        microbatches, units = arrays["ga.best.place"].shape[1:]
        train = [None] * arrays["ga.best.latency"].shape[0]

        class groups:  # noqa: N801
            tp = np.ones(100)

    with pytest.raises(XcompassError, match=r"field ga\.best\.place: group 1000000; this problem"):
        ckpt.check_problem(loaded, Problem, "--resume", "c.npz")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["explore", "--budget", str(10**10)], r"Invalid value for '--budget'.*0<=x<=1000000000"),
        (["explore", "--layers", "5000"], r"Invalid value for '--layers'.*1<=x<=1024"),
        (["explore", "--granularity", "tile", "--tile-width", str(2**40)], r"'--tile-width'"),
        (["explore", "--lowering", "llm-pad-tiles{tiles=99999999999}"],
         r"option 'tiles'=99999999999 is out of range \(at most 2,147,483,647\)"),
    ],
)  # fmt: skip
def test_class2_numbers_have_upper_limits_checked_before_work(argv, message, tmp_path, capsys):
    code, out, err = _cli(capsys, *argv, "--out", str(tmp_path / "o"))
    _refused(code, err, message)
    assert not (tmp_path / "o").exists()


def test_class2_pass_options_have_upper_limits(tmp_path, capsys):
    for spec in ("map-autotune{budget=1099511627776}",
                 "llm-partition{strategy=tensor tp=2199023255552}",
                 "llm-fuse{theta=1e300}"):  # fmt: skip
        code, _, err = _cli(capsys, "in.mlir", "-p", spec, opt=True)
        _refused(code, err, r"out of range|expects")


@pytest.mark.parametrize("lowering", ["llm-fuse{", "builtin.module(", "llm-fuse}", '"', "{}"])
def test_class3_a_malformed_pipeline_is_one_line_before_work(lowering, tmp_path, capsys):
    code, _, err = _cli(capsys, "explore", "--lowering", lowering, "--out", str(tmp_path / "o"))
    _refused(code, err, r"^xcompass: error: --lowering ")
    assert not (tmp_path / "o").exists()


def test_class4_a_failed_side_file_leaves_the_output_untouched(tmp_path, capsys):
    """`map-cost{report=DIR/}` with `-o out.mlir`: refused, out.mlir as it was."""
    mlir, out = tmp_path / "in.mlir", tmp_path / "out.mlir"
    code, _, err = _cli(capsys, "import", "--model", "llama3-8b", "--layers", "1", "--target",
                        "h100", "-o", str(mlir))  # fmt: skip
    assert code == 0, err
    out.write_text("the user's output")
    for report in (f"{tmp_path}/nodir/", f"{tmp_path}/", str(tmp_path / "missing" / "r.json")):
        code, _, err = _cli(capsys, str(mlir), "-p",
                            f"llm-partition{{strategy=single}},map-cost{{report={report}}}", "-o",
                            str(out), opt=True)  # fmt: skip
        _refused(code, err, r"map-cost: cannot write report")
        assert out.read_text() == "the user's output"


def test_class4_a_fifo_side_file_nobody_reads_leaves_the_output_untouched(tmp_path, capsys):
    """Found by the fuzzer: `map-cost{report=FIFO}` with `-o out.mlir` replaced out.mlir and
    then failed on the FIFO; a FIFO is now opened when staged, before anything is renamed."""
    mlir, out, fifo = tmp_path / "in.mlir", tmp_path / "out.mlir", tmp_path / "r.fifo"
    code, _, err = _cli(capsys, "import", "--model", "llama3-8b", "--layers", "1", "--target",
                        "h100", "-o", str(mlir))  # fmt: skip
    assert code == 0, err
    out.write_text("the user's output")
    os.mkfifo(fifo)
    code, _, err = _cli(capsys, str(mlir), "-p",
                        f"llm-partition{{strategy=single}},map-cost{{report={fifo}}}", "-o",
                        str(out), opt=True, seconds=30)  # fmt: skip
    _refused(code, err, r"a FIFO no process reads")
    assert out.read_text() == "the user's output"


def test_class4_write_all_changes_nothing_when_one_file_fails(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    with pytest.raises(OSError):
        fileio.write_all([(str(a), "new a"), (str(tmp_path / "missing" / "b.txt"), "new b")])
    assert a.read_text() == "old a" and not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # no temporary left


@pytest.mark.parametrize(
    "flag, name",
    [("--trace", "report.json"), ("--model", "mapping.mlir"), ("--target", "trace.json"),
     ("--trace", "gantt.svg")],
)  # fmt: skip
def test_class4_explore_refuses_an_input_under_an_outputs_name(flag, name, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text("the user's input")
    code, _, err = _cli(capsys, "explore", *TINY, flag, str(out / name), "--out", str(out))
    _refused(code, err, rf"{flag} .*: is {name} in --out .*refusing to overwrite")
    assert (out / name).read_text() == "the user's input"
    assert sorted(p.name for p in out.iterdir()) == [name]


def test_class4_report_refuses_to_redraw_over_itself(saved, tmp_path, capsys):
    report, _ = saved
    out = tmp_path / "out"
    out.mkdir()
    (out / "trace.json").write_text(json.dumps(report))
    code, _, err = _cli(capsys, "report", str(out / "trace.json"), "--out", str(out))
    _refused(code, err, r"REPORT .*trace\.json: is trace\.json in --out")
    assert json.loads((out / "trace.json").read_text()) == report
    (out / "report.json").write_text(json.dumps(report))  # its own name: not rewritten
    code, _, err = _cli(capsys, "report", str(out / "report.json"), "--out", str(out))
    assert code == 0, err
    assert json.loads((out / "report.json").read_text()) == report


@pytest.mark.parametrize(
    "argv, message",
    [
        (["import", "--model", "{fifo}"], r"model config \(not a regular file: a FIFO\)"),
        (["import", "--model", "llama3-8b", "--target", "{fifo}"], r"not a regular file: a FIFO"),
        (["import", "--model", "llama3-8b", "--target", "/dev/null"],
         r"target file '/dev/null': unreadable \(not a regular file: a character device\)"),
        (["import", "--model", "llama3-8b", "--trace", "/dev/zero"],
         r"/dev/zero: cannot read trace \(not a regular file: a character device\)"),
        (["import", "--model", "llama3-8b", "--trace", "{fifo}"], r"not a regular file: a FIFO"),
        (["import", "--model", "llama3-8b", "--layers", "1", "-o", "{fifo}"],
         r"-o .*: cannot write \(a FIFO no process reads\)"),
        (["explore", "--trace", "{fifo}"], r"--trace .*: cannot read the file \(not a regular"),
        (["explore", "--resume", "{fifo}"], r"--resume .*: cannot read \(not a regular file"),
        (["explore", "--resume", "/dev/zero"], r"--resume /dev/zero: cannot read \(not a regular"),
        (["report", "{fifo}"], r"cannot read \(not a regular file: a FIFO\)"),
        (["report", "/dev/zero"], r"/dev/zero: cannot read \(not a regular file: a character"),
        (["explore", "--out", "{dir}"], r"--out .*: report\.json there is not a regular file"),
    ],
)  # fmt: skip
def test_class5_special_files_are_refused_at_once(argv, message, tmp_path, capsys):
    """A FIFO with no writer (or reader) never blocks; /dev/null and /dev/zero are named as
    what they are; --out holding a FIFO under an output's name is refused before work."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    folder = tmp_path / "dir"
    folder.mkdir()
    os.mkfifo(folder / "report.json")
    argv = [a.replace("{fifo}", str(fifo)).replace("{dir}", str(folder)) for a in argv]
    if argv[0] == "explore" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "o")]
    code, _, err = _cli(capsys, *argv, seconds=30)
    _refused(code, err, message)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and not (tmp_path / "o").exists()


def test_class5_reads_are_bounded(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as handle:
        handle.truncate(2**20 + 1)
    with pytest.raises(fileio.TooLarge):
        fileio.read_regular(big, 2**20)
    assert fileio.read_regular(big, 2**21)[:4] == b"\0\0\0\0"


@pytest.mark.parametrize("flag", ["--checkpoint", "--resume", "--lowering", "--scheduler",
                                  "--model", "--target", "--out", "--workload"])  # fmt: skip
def test_class6_an_empty_value_is_an_error(flag, tmp_path, capsys):
    code, _, err = _cli(capsys, "explore", flag, "", "--out", str(tmp_path / "o"))
    if flag == "--out":
        code, _, err = _cli(capsys, "explore", flag, "")
    _refused(code, err, rf"{flag}: empty value; give a value or leave the option out")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["explore", "--population", "4", "--population", "6"], r"--population: given twice"),
        (["explore", "--baselines", "--no-baselines"], r"--no-baselines: given twice"),
        (["explore", "--requests", "4", "--sample", "4"], r"--sample: given twice \(also as"),
        (["explore", "--lowering", "llm-fuse{theta=1 theta=2}"], r"option 'theta' given twice"),
        (["explore", "--lowering", "llm-fuse{allow-chain=true allow_chain=false}"],
         r"option 'allow-chain' given twice"),
    ],
)  # fmt: skip
def test_class6_a_repeated_value_is_an_error(argv, message, tmp_path, capsys):
    code, _, err = _cli(capsys, *argv, "--out", str(tmp_path / "o"))
    _refused(code, err, message)


def test_class7_messages_are_one_line_and_name_the_option(tmp_path, capsys):
    code, _, err = _cli(capsys, "import", "--model", "a\nb.json")
    _refused(code, err, r"a\\nb\.json")
    code, _, err = _cli(capsys, "explore", "--workload", "decode:8x2", "--microbatches", "65",
                        "--out", str(tmp_path / "o"))  # fmt: skip
    _refused(code, err, r"--microbatches 65: more than the 2 requests")
    code, _, err = _cli(capsys, "explore", "--scheduler", "foo:bar")
    _refused(code, err, r"--scheduler foo:bar: not a scheduler address \(port 'bar' is not")
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, _, err = _cli(capsys, "explore", "--checkpoint", f"{afile}/c.npz", "--out",
                        str(tmp_path / "o"))  # fmt: skip
    _refused(code, err, rf"--checkpoint {afile}/c\.npz: cannot write")
    assert not (tmp_path / "o").exists()


def test_class7_report_errors_hold_no_python_text(saved, tmp_path, capsys):
    report, _ = saved
    for edit in (["x"], {"model": "m"}, _edit(report, "per_task", "abc")):
        (tmp_path / "r.json").write_text(json.dumps(edit))
        code, _, err = _cli(capsys, "report", str(tmp_path / "r.json"))
        line = _refused(code, err, r"r\.json: ")
        assert "string indices" not in line and "KeyError" not in line and "TypeError" not in line


def test_class7_shrink_says_its_verdict_on_stderr(tmp_path, capsys):
    mlir = tmp_path / "in.mlir"
    mlir.write_text("builtin.module {}\n")
    code, out, err = _cli(capsys, str(mlir), "--shrink", opt=True)
    assert code == 1 and not out
    _refused(code, err, r"--shrink: the pipeline ran without the failure shrinking looks for")


def test_class8_the_fuzzer_covers_every_entry_point_and_counts_exit_70():
    """The long fuzzer generates cases for every entry point and every pass option, and an
    exit status of 70 counts as an internal error."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_inputs.py"
    spec = importlib.util.spec_from_file_location("fuzz_inputs", path)
    fuzz = importlib.util.module_from_spec(spec)
    import sys

    sys.modules["fuzz_inputs"] = fuzz  # its dataclasses look their module up
    spec.loader.exec_module(fuzz)
    assert set(fuzz.KINDS) >= {"import", "xcompass-opt", "explore", "checkpoint", "report",
                               "serve"}  # fmt: skip
    import dataclasses

    from xcompass.tools.universe import XCOMPASS_UNIVERSE

    for name, factory in XCOMPASS_UNIVERSE.all_passes.items():
        cls = factory()
        options = {f.name.replace("_", "-") for f in dataclasses.fields(cls)
                   if f.init and f.name != "name"}  # fmt: skip
        covered = set(fuzz.PASS_OPTIONS.get(name, {}))
        if name == "llm-partition":
            covered |= {"tp", "pp", "dp"}  # generated by the partition branch
        if name == "map-cost":
            covered |= {"report"}
        assert options <= covered, (name, options - covered)
    result = fuzz.Result(0, 70, "explore", internal=True)
    assert "internal errors" in fuzz.summarize([result]) and result.internal
