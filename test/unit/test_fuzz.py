"""Property-based fuzzing (hypothesis) of every reader and both drivers.

Property: any input either succeeds or fails with an XcompassError (a one-line diagnostic from
the drivers, exit status 1); never another exception type, never a hang, never a changed file
the user had. Bounded for CI: a fixed number of examples per property, no deadline, the whole
file well under a minute (XCOMPASS_FUZZ_EXAMPLES=N for more). `benchmarks/fuzz_inputs.py`
is the long, out-of-CI version over the installed commands.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import signal
import tempfile
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xcompass.errors import XcompassError
from xcompass.hardware import targetfile as targets
from xcompass.model.models import ModelConfig, from_hf_config, load_config_file
from xcompass.model.trace import read_trace, sample_step
from xcompass.model.workload import MAX_REQUESTS, MAX_TOKENS, parse_spec

EXAMPLES = int(os.environ.get("XCOMPASS_FUZZ_EXAMPLES", "300"))
"""Examples per property; CI uses the default, `XCOMPASS_FUZZ_EXAMPLES=5000` digs deeper
(with a random seed instead of CI's fixed one)."""
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize="XCOMPASS_FUZZ_EXAMPLES" not in os.environ,
    database=None,
)
SLOW_FUZZ = settings(FUZZ, max_examples=max(1, EXAMPLES * 2 // 3))
WATCHDOG_S = 10


class Hang(BaseException):
    """Raised by the watchdog: the call under test ran past WATCHDOG_S."""


@contextlib.contextmanager
def watchdog(seconds: float = WATCHDOG_S):
    def fire(*_):  # noqa: ANN002
        raise Hang(f"took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def refused_or_ok(fn, *args):  # noqa: ANN001, ANN002, ANN201
    """Call `fn`; an XcompassError is a clean refusal (one line), anything else fails."""
    with watchdog():
        try:
            return fn(*args)
        except XcompassError as exc:
            assert "\n" not in str(exc)
            return None


# --- value strategies -----------------------------------------------------------------------

INTEGERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2, 2**31, 2**63 - 1, 2**63, 2**64 - 1, 2**64]),
)
NUMBERS = st.one_of(INTEGERS, st.floats(allow_nan=True, allow_infinity=True))
SCALARS = st.one_of(NUMBERS, st.booleans(), st.none(), st.text(max_size=12))
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


# --- the workload SPEC ----------------------------------------------------------------------

SPEC_ITEM = st.builds(
    lambda kind, a, b, count: (
        f"{kind}:{a}"
        + (f"+{b}" if b is not None else "")
        + (f"x{count}" if count is not None else "")
    ),
    st.sampled_from(["prefill", "decode", "verify", "chat", ""]),
    st.one_of(st.integers(-2, 2**66), st.sampled_from(["", "abc", "\u0663", "1_0"])),
    st.none() | st.integers(-2, 2**66),
    st.none() | st.integers(-2, 2**66),
)


@FUZZ
@given(st.one_of(st.lists(SPEC_ITEM, max_size=6).map(",".join), st.text(max_size=80)))
def test_spec_parser(spec):
    requests = refused_or_ok(parse_spec, spec)
    if requests is not None:
        assert sum(r.count for r in requests) <= MAX_REQUESTS
        assert all(0 < r.context + r.new_tokens <= MAX_TOKENS for r in requests)


# --- Hugging Face config.json ---------------------------------------------------------------

BASE_CONFIGS = [
    json.loads(p.read_text())
    for p in sorted((Path(__file__).parents[1] / "inputs" / "hf").glob("*/config.json"))
]
CONFIG_KEYS = sorted({k for cfg in BASE_CONFIGS for k in cfg} | {"sliding_window", "n_inner"})


@FUZZ
@given(
    st.sampled_from(BASE_CONFIGS),
    st.dictionaries(st.sampled_from(CONFIG_KEYS), JSON_VALUES, max_size=4),
    st.lists(st.sampled_from(CONFIG_KEYS), max_size=2),
)
def test_hf_config_reader(base, changes, dropped):
    cfg = {k: v for k, v in {**base, **changes}.items() if k not in dropped}
    model = refused_or_ok(from_hf_config, cfg, "m", "config.json")
    if model is not None:
        assert isinstance(model, ModelConfig)
        assert math.isfinite(model.norm_eps) and model.layers <= 1024


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=200),
        st.sampled_from(BASE_CONFIGS).map(json.dumps).map(str.encode),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
    )
)
def test_config_file_reader(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_bytes(data)
        refused_or_ok(load_config_file, path)
        assert path.read_bytes() == data


# --- traces ---------------------------------------------------------------------------------

TRACE_CELL = st.one_of(
    st.integers(-5, 2**64).map(str),
    st.sampled_from(["", "abc", "1e3", "\u0663", " 7 ", "+3", "1_0", '"5"']),
)
TRACE_ROW = st.lists(TRACE_CELL, min_size=1, max_size=4).map(lambda r: "t," + ",".join(r))


@FUZZ
@given(
    st.sampled_from(["TIMESTAMP,ContextTokens,GeneratedTokens", "a,b", "", "ContextTokens"]),
    st.lists(TRACE_ROW, max_size=6),
    st.binary(max_size=8),
    st.integers(-3, 2**17),
    st.integers(-3, 2**65),
)
def test_trace_reader(header, rows, tail, k, seed):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        path.write_bytes(("\n".join([header, *rows]) + "\n").encode() + tail)
        parsed = refused_or_ok(read_trace, path)
        if parsed is not None:
            refused_or_ok(sample_step, parsed, k, seed)


# --- targets (xcompass/hardware/targets.py)
# ----------------------------------------------------------

PRESETS = [
    tomllib.loads(resources.files("xcompass").joinpath(f"data/targets/{n}.toml").read_text())
    for n in targets.PRESET_NAMES
]


def _tables(data: dict) -> list[dict]:
    out = [v for v in data.values() if isinstance(v, dict)]
    return out + [t for v in data.values() if isinstance(v, list) for t in v if isinstance(t, dict)]


@st.composite
def mutated_target(draw):  # noqa: ANN001, ANN201
    data = json.loads(json.dumps(draw(st.sampled_from(PRESETS))))
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.sampled_from(_tables(data)))
        key = draw(st.sampled_from(sorted(table) + ["unknown_field"]))
        if draw(st.booleans()) and key in table:
            del table[key]
        else:
            table[key] = draw(JSON_VALUES)
    return data


def _finite(value) -> bool:  # noqa: ANN001
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, tuple | list):
        return all(_finite(v) for v in value)
    return True


@FUZZ
@given(mutated_target())
def test_target_reader(data):
    target = refused_or_ok(targets.parse_target, data, "fuzz")
    if target is not None:
        assert target.chiplets <= targets.MAX_CHIPLETS
        for kind in target.kinds:
            assert all(_finite(v) for v in vars(kind).values())
        assert all(_finite(v) for v in vars(target.network).values())


@FUZZ
@given(st.one_of(st.binary(max_size=300), mutated_target().map(lambda d: _toml(d).encode())))
def test_target_file_reader(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.toml"
        path.write_bytes(data)
        refused_or_ok(targets.load_target_file, path)
        assert path.read_bytes() == data


def _toml_value(v) -> str:  # noqa: ANN001
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return (
            "nan" if v != v else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
        )
    if isinstance(v, int | str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict):
        inner = (f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items() if x is not None)
        return "{" + ", ".join(inner) + "}"
    return '""'


def _toml(data: dict) -> str:
    lines = []
    for key, value in data.items():
        tables = value if isinstance(value, list) else [value]
        for table in tables:
            if not isinstance(table, dict):
                continue
            lines.append(f"[[{key}]]" if isinstance(value, list) else f"[{key}]")
            lines += [
                f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items() if v is not None
            ]
    return "\n".join(lines) + "\n"


# --- the drivers, in process ----------------------------------------------------------------


def run_tool(main, argv: list[str], cwd: Path) -> tuple[int, str]:  # noqa: ANN001
    """Run a driver's `main` in process; returns (exit status, stderr)."""
    err, out = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), watchdog():
            try:
                main(argv)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(old)
    return code, err.getvalue()


def check_run(code: int, stderr: str) -> None:
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert code in (0, 1, 2), (code, stderr)  # 2: a usage error (click)
    if code:
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1, stderr


def _seed_modules() -> list[str]:
    from xcompass.tools.importer import build_module
    from xdsl.printer import Printer

    from xcompass.model.models import preset
    from xcompass.model.workload import build_workload

    texts = []
    for name, target, spec in (
        ("llama3-8b", "dgx-h100x8", "prefill:64,decode:128x4"),
        ("mixtral-8x7b", "simba-36", "decode:256x2"),
        ("opt-13b", "hgx-h200x2", "verify:128+4x2"),
    ):
        module = build_module(preset(name), build_workload(parse_spec(spec), None), 2, target)
        text = io.StringIO()
        Printer(stream=text).print_op(module)
        texts.append(text.getvalue() + "\n")
    return texts


SEED_MODULES = _seed_modules()
USER_FILES = {"keep.txt": b"notes\n", "report.json": b"old report\n", "out.mlir": b"old\n"}


@st.composite
def mutated_module(draw) -> bytes:  # noqa: ANN001
    data = bytearray(draw(st.sampled_from(SEED_MODULES)).encode())
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "number", "quote", "byte"]))
        if kind == "insert":
            data[pos:pos] = draw(st.text('{}[]<>()"\\,:=%@#x0123456789 \n', max_size=12)).encode()
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 60))]
        elif kind == "number":
            digits = [i for i in range(pos, min(pos + 200, len(data))) if chr(data[i]).isdigit()]
            if digits:
                i = digits[0]
                j = i
                while j < len(data) and chr(data[j]).isdigit():
                    j += 1
                data[i:j] = str(draw(INTEGERS)).encode()
        elif kind == "quote":
            data[pos:pos] = b'"' + draw(st.text("abcxyz\\", min_size=20, max_size=60)).encode()
        else:
            data[pos:pos] = bytes([draw(st.integers(0x80, 0xFF))])
    return bytes(data)


STRATEGY_NAMES = ["single", "pipeline", "tensor", "data", "hybrid", "pbd"]
OPTION = st.one_of(st.integers(-3, 20), st.sampled_from([2**63, "two", 2.5, "true"]))


@st.composite
def pipeline(draw) -> str:  # noqa: ANN001
    passes = []
    for _ in range(draw(st.integers(0, 3))):
        which = draw(st.sampled_from(["set-target", "llm-partition", "map-cost", "junk"]))
        if which == "set-target":
            target = draw(st.sampled_from([*targets.PRESET_NAMES, "nope", "keep.txt", "x.toml"]))
            passes.append(f"set-target{{target={target}}}")
        elif which == "llm-partition":
            strategy = draw(st.sampled_from([*STRATEGY_NAMES, "zz"]))
            opts = [f"strategy={strategy}"]
            for key in draw(
                st.lists(
                    st.sampled_from(["tp", "pp", "dp", "microbatches"]), max_size=2, unique=True
                )
            ):
                opts.append(f"{key}={draw(OPTION)}")
            passes.append("llm-partition{" + " ".join(opts) + "}")
        elif which == "map-cost":
            report = draw(
                st.sampled_from(
                    ["r.json", "report.json", "in.mlir", "out.mlir", "nodir/r.json", "."]
                )
            )
            passes.append(f"map-cost{{report={report}}}")
        else:
            passes.append(
                draw(st.sampled_from(["nope", "llm-partition{", "{}", "map-cost{report}"]))
            )
    return ",".join(passes)


@SLOW_FUZZ
@given(
    mutated_module(),
    pipeline(),
    st.sampled_from([[], ["-o", "out.mlir"], ["-o", "in.mlir"], ["-o", "."], ["-t", "llvm"]]),
    st.sampled_from([[], ["--split-input-file"], ["--print-op-generic"]]),
)
def test_xcompass_opt(source, spec, output, flags):
    from xcompass.tools.opt import main

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, data in USER_FILES.items():
            (root / name).write_bytes(data)
        (root / "in.mlir").write_bytes(source)
        argv = ["in.mlir", *output, *flags] + (["-p", spec] if spec else [])
        code, stderr = run_tool(main, argv, root)
        check_run(code, stderr)
        written = set()
        if code == 0:  # what a successful run was asked to write
            written = ({"out.mlir", "in.mlir"} & set(output)) | set(
                re.findall(r"report=([^,}\s]+)", spec)
            )
        for name, data in [*USER_FILES.items(), ("in.mlir", source)]:
            if name not in written:
                assert (root / name).read_bytes() == data, (name, argv, stderr)


@SLOW_FUZZ
@given(
    st.one_of(st.sampled_from(["llama3-8b", "opt-13b", "nope"]), st.just("config.json")),
    st.dictionaries(st.sampled_from(CONFIG_KEYS), JSON_VALUES, max_size=2),
    st.lists(
        st.sampled_from(
            [
                ["--layers", "1"],
                ["--layers", "0"],
                ["--layers", str(2**63)],
                ["--workload", "decode:64x4"],
                ["--workload", f"prefill:{2**63}"],
                ["--microbatches", "2"],
                ["--microbatches", "5000"],
                ["--sample", "4"],
                ["--seed", "-1"],
                ["--trace", "keep.txt"],
                ["--target", "h100"],
                ["--target", "keep.txt"],
                ["-o", "out.mlir"],
                ["-o", "keep.txt"],
                ["-o", "."],
            ]
        ),
        max_size=4,
    ),
)
def test_xcompass_import(model, changes, options):
    from xcompass.tools.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, data in USER_FILES.items():
            (root / name).write_bytes(data)
        config = json.dumps({**BASE_CONFIGS[0], **changes}).encode()
        (root / "config.json").write_bytes(config)
        argv = ["import", "--model", model, *[a for opt in options for a in opt]]
        if "--layers" not in argv:
            argv += ["--layers", "1"]
        code, stderr = run_tool(main, argv, root)
        check_run(code, stderr)
        outputs = {argv[i + 1] for i, a in enumerate(argv) if a == "-o"} if code == 0 else set()
        for name, data in [*USER_FILES.items(), ("config.json", config)]:
            if name not in outputs:
                assert (root / name).read_bytes() == data, (name, argv, stderr)


@pytest.mark.parametrize("n", [30, 200, 2000])
def test_unterminated_string_is_linear(n):
    """xDSL's lexer took exponential time here (30 characters: over 20 s)."""
    from xcompass.tools.opt import main

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in.mlir").write_text('builtin.module attributes {x = "' + "ab" * n + "\n} {}\n")
        code, stderr = run_tool(main, ["in.mlir"], root)
        assert code == 1 and "End of file reached before closing string literal" in stderr


# --- the newer entry points: saved reports, checkpoints, explore, every pass option ---------


def _valid_report() -> dict:
    """A small report with every section a table or picture reads (two chiplets, a mesh)."""
    task = {"microbatch": "mb0", "layers": [0, 1], "chiplets": [0], "start_s": 0.0,
            "end_s": 1.0, "stall_s": 0.0, "transfer_in_s": 0.0, "energy_j": 1.0}  # fmt: skip
    method = {"score": 2.0, "latency_s": 1.0, "energy_j": 2.0, "edp_js": 2.0, "evaluations": 4}
    return {
        "report_version": 1,
        "model": "m",
        "target": "compass-het-36x",
        "latency_s": 1.0,
        "energy_j": 2.0,
        "edp_js": 2.0,
        "tokens": 10,
        "throughput_tok_s": 10.0,
        "critical_path_s": {"compute": 1.0},
        "per_chiplet": [{"chiplet": 0, "kind": "a", "busy_s": 1.0}, {"chiplet": 1, "kind": "b"}],
        "per_task": [
            task,
            {**task, "chiplets": [1], "layers": [1, 2], "start_s": 1.0, "end_s": 1.5},
        ],  # fmt: skip
        "search": {
            "objective": "edp",
            "searched": "ga",
            "population": 4,
            "generations": 1,
            "seed": 0,
            "methods": {"ga": method, "random": method},
            "lower_bound": {
                "latency_s": 0.5,
                "energy_j": 1.0,
                "edp_js": 0.5,
                "throughput_tok_s": 20.0,
            },
        },  # fmt: skip
        "layout": {
            "topology": "mesh",
            "dims": [2, 1],
            "chiplets": [{"kind": "a", "channel": 0}, {"kind": "b", "channel": 0}],
            "channels": [{"name": "ch0", "bw_gbs": 1.0}],
        },  # fmt: skip
        "activity": {
            "microbatches": ["mb0"],
            "nodes": [[0, 0, [0], 0.0, 1.0, 0.0]],
            "transfers": [[0, 1, [2], 1.0, 1.1]],
            "dram_streams": [[0, 0, 0, 0.0, 1.0, 0.5]],
        },  # fmt: skip
        "convergence": {
            "objective": "edp",
            "methods": {"ga": [[4, 2.0]]},
            "standard": 3.0,
            "lower_bound": 0.5,
        },  # fmt: skip
        "pareto": [],
        "per_kernel": [
            {
                "microbatch": "mb0",
                "layers": [0, 1],
                "chiplets": [0],
                "kernels": [{"name": "q", "kind": "gemm", "launches": 1, "time_s": 0.5}],
            }
        ],  # fmt: skip
    }


def _set_at(data: object, path: list[int], value: object, delete: bool) -> object:
    """`data` with the node that `path` (indices into each level's keys) reaches replaced."""
    node = data
    for step, index in enumerate(path):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = keys[index % len(keys)]
        last = step == len(path) - 1 or not isinstance(node[key], dict | list)
        if last:
            if delete and isinstance(node, dict):
                del node[key]
            else:
                node[key] = value
            break
        node = node[key]
    return data


@FUZZ
@given(
    st.lists(st.tuples(st.lists(st.integers(0, 30), min_size=1, max_size=5), JSON_VALUES,
                       st.booleans()), min_size=1, max_size=3),
)  # fmt: skip
def test_report_reader(edits):
    """A saved report, edited anywhere: read and printed and traced, or refused with one
    line; nothing else (the schema stands between the file and every table and picture)."""
    from xcompass.explore.reading import pictures_problem, read_report, summary_text
    from xcompass.viz.chipwork import chiplet_work, hand_offs, kind_times
    from xcompass.viz.perfetto import chrome_trace

    report = _valid_report()
    for path, value, delete in edits:
        report = _set_at(report, path, value, delete)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.json"
        path.write_text(json.dumps(report, allow_nan=True))
        checked = refused_or_ok(read_report, str(path))
    if checked is None:
        return
    summary_text(checked)
    if pictures_problem(checked) is None:
        json.dumps(chrome_trace(checked))
        chiplet_work(checked)
        hand_offs(checked)
        kind_times(checked)


def _checkpoint_bytes() -> bytes:
    import numpy as np

    from xcompass.explore import checkpoint as ckpt
    from xcompass.search.evaluation import Evaluation
    from xcompass.search.population import Scored, SeedPool

    n = 3
    scored = Scored(np.zeros((n, 1), bool), np.zeros((n, 2, 2), np.int64),
                    Evaluation(np.ones((1, n)), np.ones((1, n))), np.ones(n))  # fmt: skip
    state = ckpt.StudyState(pool=SeedPool(["a", "b", "c"], scored, 3, 0.1))
    settings = {"objective": "edp", "population": 4, "generations": 1, "budget": 0, "seed": 0,
                "baselines": "standard"}  # fmt: skip
    return ckpt.encode(state, {"fingerprint": "f", "problem": "p", "settings": settings})


@FUZZ
@given(
    st.lists(st.tuples(st.lists(st.integers(0, 30), min_size=1, max_size=4), JSON_VALUES,
                       st.booleans()), min_size=1, max_size=3),
    st.sampled_from(["header", "cut", "flip", "array"]),
    st.integers(0, 2**31),
)  # fmt: skip
def test_checkpoint_reader(edits, how, where):
    """A checkpoint, edited: loaded with a state that can be rebuilt, or refused in one line."""
    import io as io_lib

    import numpy as np

    from xcompass.explore import checkpoint as ckpt

    blob = _checkpoint_bytes()
    if how == "cut":
        blob = blob[: where % len(blob)]
    elif how == "flip":
        data = bytearray(blob)
        data[where % len(data)] ^= 0xFF
        blob = bytes(data)
    else:
        with np.load(io_lib.BytesIO(blob)) as archive:
            arrays = {k: archive[k] for k in archive.files}
        if how == "header":
            header = json.loads(str(arrays["header"]))
            for path, value, delete in edits:
                header = _set_at(header, path, value, delete)
            arrays["header"] = np.array(json.dumps(header, allow_nan=True))
        else:
            name = sorted(k for k in arrays if k != "header")[where % 5]
            try:
                arrays[name] = np.asarray(edits[0][1] if edits[0][1] is not None else 0)
            except (ValueError, TypeError, OverflowError):  # not an array: a list of strings then
                arrays[name] = np.asarray(["x", "y"])
        buffer = io_lib.BytesIO()
        np.savez(buffer, **arrays)
        blob = buffer.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.npz"
        path.write_bytes(blob)
        loaded = refused_or_ok(ckpt.load, str(path))
    if loaded is not None:
        state = loaded.state()
        assert state.pool is None or len(state.pool.scored) == state.pool.scored.place.shape[0]


PASS_NAMES = ["llm-fuse", "llm-stage-attention", "llm-pad-tiles", "llm-partition",
              "map-autotune", "map-cost", "map-serve", "set-target"]  # fmt: skip
OPTION_TEXT = st.one_of(
    st.text(alphabet='abcdefghij-_=,{}" \\0123456789.', max_size=40),
    st.builds(
        lambda name, pairs: name + "{" + " ".join(f"{k}={v}" for k, v in pairs) + "}",
        st.sampled_from(PASS_NAMES),
        st.lists(st.tuples(st.sampled_from(["theta", "tp", "report", "mode", "budget", "tiles",
                                            "allow-chain", "allow_chain", "qps", "level", "x"]),
                           st.one_of(NUMBERS.map(str), st.text(max_size=6))), max_size=4),
    ),
)  # fmt: skip


@FUZZ
@given(st.lists(OPTION_TEXT, min_size=1, max_size=3).map(",".join))
def test_pass_option_parsing(spec):
    """Any pipeline string: checked up front (a usage error naming the option) or accepted;
    never an xDSL exception escaping, for every pass and every option."""
    from xcompass.tools.opt import UsageError, check_option_spelling, check_option_types
    from xcompass.tools.universe import XCOMPASS_UNIVERSE

    with watchdog():
        try:
            check_option_spelling(spec)
            check_option_types(spec, XCOMPASS_UNIVERSE.all_passes)
        except UsageError as exc:
            assert "\n" not in str(exc)


@FUZZ
@given(st.one_of(st.sampled_from(["default", "pytorch", "none", "llm-fuse{", "map-cost"]),
                 OPTION_TEXT))  # fmt: skip
def test_lowering_option(spec):
    """`explore --lowering`: passes, or one XcompassError line (never ArgSpecParseError)."""
    from xcompass.tools.explore_ir import lowering_passes

    refused_or_ok(lowering_passes, spec)


EXPLORE_OPTIONS = [
    ["--budget", str(10**10)], ["--budget", "3"], ["--population", "1"], ["--seed", "-1"],
    ["--layers", "0"], ["--layers", "2"], ["--microbatches", "0"], ["--workload", "decode:8x2"],
    ["--workload", ""], ["--checkpoint", ""], ["--checkpoint", "keep.txt"], ["--resume", ""],
    ["--resume", "keep.txt"], ["--resume", "report.json"], ["--lowering", "llm-fuse{"],
    ["--lowering", "none"], ["--scheduler", "foo:bar"], ["--scheduler-timeout", "nan"],
    ["--granularity", "group"], ["--tile-width", "0"], ["--objective", "latency"],
    ["--out", "keep.txt"], ["--out", ""], ["--trace", "report.json"], ["--trace", "/dev/zero"],
    ["--target", "/dev/null"], ["--target", "H100"], ["--model", "LLAMA3-8B"], ["--seed", "1"],
    ["--mode", "eager"], ["--test-samples", "300"], ["--no-baselines"], ["--baselines"],
]  # fmt: skip


@settings(FUZZ, max_examples=max(1, EXAMPLES // 10))
@given(st.lists(st.sampled_from(EXPLORE_OPTIONS), max_size=4))
def test_xcompass_explore(options):
    """`xcompass explore` with hostile options (a tiny search when they pass): one line and
    exit 1 or 2, or success; never exit 70, never a changed user file."""
    from xcompass.tools.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, data in USER_FILES.items():
            (root / name).write_bytes(data)
        argv = ["explore", "--layers", "1", "--microbatches", "2", "--population", "2",
                "--generations", "1", "--quiet", "--no-pictures", "--out", "out"]  # fmt: skip
        for opt in options:
            if opt[0] in argv and len(opt) == 2:
                argv[argv.index(opt[0]) + 1] = opt[1]
            else:
                argv += opt
        code, stderr = run_tool(main, argv, root)
        check_run(code, stderr)
        for name, data in USER_FILES.items():
            assert (root / name).read_bytes() == data, (name, argv, stderr)
