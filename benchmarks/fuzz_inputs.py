"""Fuzz every entry point with generated bad input (not part of CI).

Each case runs one command (`xcompass import|explore|report|serve|models|targets`,
`xcompass-opt` with every pass and every pass option, `--resume` of edited checkpoints) in a
fresh temporary folder that holds the case's input files and some files the "user" already
had (an output file, a report, an unrelated file). A case is generated from its index alone,
so `--case N` replays it. By default a case runs in a process forked from a worker that has
already imported xcompass (`--exec` starts the installed command instead, as a user would:
slower, the same code). Afterwards the script counts, per entry point:

- tracebacks: stderr contains "Traceback"; internal errors: exit status 70 or the drivers'
  last-resort line "internal error" (a bug that was caught, not a diagnostic): a failure;
- hangs: the command ran past the timeout (60 s: a loaded 2-core machine can take 20 s
  for a tiny explore);
- damaged user files: a file that existed before the run changed although the run failed,
  or changed without being one of the run's outputs; stray files: files a failed run left;
- accepted-but-should-be-refused: the run succeeded although the case holds an input the
  documented limits refuse (an option out of range, an empty or repeated value, NaN, a size
  above a limit, ...), or it wrote NaN / Infinity into a report or the IR;
- multi-line diagnostics: a failed run whose stderr is not one line (reported, not a goal).

Usage: python benchmarks/fuzz_inputs.py [--cases 10000] [--jobs 2] [--seed 0] [--case N]
       [--only explore,report,...] [--exec]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TRACE = REPO.parent / "shared" / "data" / "traces" / "AzureLLMInferenceTrace_conv.csv"
TIMEOUT_S = 60.0
PRESET_MODELS = ("llama3-8b", "mixtral-8x7b", "opt-13b", "gpt3-7b", "qwen2.5-7b", "mistral-7b")
PRESET_LAYERS = {"llama3-8b": 32, "mixtral-8x7b": 32, "opt-13b": 40, "gpt3-7b": 32,
                 "qwen2.5-7b": 28, "mistral-7b": 32}  # fmt: skip
PRESET_TARGETS = ("h100", "hgx-h200x2", "dgx-h100x8", "simba-36", "compass-het-36", "mt3000")
STRATEGIES = ("single", "pipeline", "tensor", "data", "hybrid", "pbd")
TAKES = {"tp": ("tensor", "hybrid"), "pp": ("pipeline", "hybrid"), "dp": ("data", "hybrid")}

# values that must be refused wherever a size or count is expected
HOSTILE_INTS = [0, -1, -4, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**30]
HOSTILE_JSON = [
    float("nan"),
    float("inf"),
    -float("inf"),
    "abc",
    "",
    [],
    [1, 2],
    {},
    {"a": 1},
    True,
    1.5,
    -1,
    0,
    2**63,
    2**64,
    10**30,
]
HOSTILE_STR = ["", "x" * 5000, "a\x00b", "../../etc/passwd", "é", " ", "\n"]


# --- seeds: valid inputs that the mutators start from ----------------------------------------


def _seed_configs() -> list[dict]:
    out = []
    for path in sorted((REPO / "test" / "inputs" / "hf").glob("*/config.json")):
        out.append(json.loads(path.read_text()))
    return out


def _seed_targets() -> list[dict]:
    folder = REPO / "xcompass" / "data" / "targets"
    paths = sorted(folder.glob("*.toml")) + [REPO / "test" / "inputs" / "my-target.toml"]
    return [tomllib.loads(p.read_text()) for p in paths]


def _seed_trace() -> list[str]:
    if TRACE.is_file():
        return TRACE.read_text().splitlines()[:300]
    rng = random.Random(0)
    rows = [f"t{i},{rng.randint(10, 4000)},{rng.randint(1, 400)}" for i in range(300)]
    return ["TIMESTAMP,ContextTokens,GeneratedTokens", *rows]


def _seed_mlir(cache: Path) -> list[str]:
    """Valid modules made by the tools themselves (cached across runs of this script)."""
    cache.mkdir(parents=True, exist_ok=True)
    recipes = [
        ["--model", "llama3-8b", "--layers", "2", "--target", "dgx-h100x8"],
        ["--model", "llama3-8b", "--layers", "1", "--target", "h100", "--workload", "decode:64"],
        ["--model", "mixtral-8x7b", "--layers", "1", "--target", "simba-36"],
        ["--model", "opt-13b", "--layers", "2", "--target", "hgx-h200x2"],
        ["--model", "gpt3-7b", "--layers", "1", "--target", "compass-het-36"],
        ["--model", "llama3-8b", "--layers", "2", "--microbatches", "4"],
        ["--model", "qwen2.5-7b", "--layers", "1", "--generic", "--target", "mt3000"],
    ]
    texts = []
    for i, recipe in enumerate(recipes):
        path = cache / f"seed{i}.mlir"
        if not path.exists():
            subprocess.run([str(BIN / "xcompass"), "import", *recipe, "-o", str(path)], check=True)
        texts.append(path.read_text())
    mapped = cache / "seed-mapped.mlir"
    if not mapped.exists():
        subprocess.run(
            [
                str(BIN / "xcompass-opt"),
                str(cache / "seed0.mlir"),
                "-p",
                "set-target{target=dgx-h100x8 embed=true},"
                "llm-partition{strategy=hybrid tp=2 pp=2 dp=2}",
                "-o",
                str(mapped),
            ],
            check=True,
        )
    texts.append(mapped.read_text())
    return texts


TINY = ["--layers", "1", "--microbatches", "2", "--population", "4", "--generations", "2",
        "--quiet", "--no-pictures"]  # fmt: skip


def _seed_explore(cache: Path) -> dict[str, bytes]:
    """A checkpoint and saved reports (layer, group, tile, pareto; map-cost's), made by the
    tools themselves: what --resume and `xcompass report` are fuzzed with."""
    _seed_mlir(cache)  # map-cost's report is made from a mapped seed module
    out: dict[str, bytes] = {}
    runs = {
        "layer": [*TINY, "--checkpoint", str(cache / "ck.npz")],
        "group": [*TINY, "--granularity", "group", "--no-baselines"],
        "tile": [*TINY, "--granularity", "tile", "--no-baselines", "--target", "simba-36"],
        "pareto": [*TINY, "--objective", "pareto", "--no-baselines"],
    }
    for name, argv in runs.items():
        folder = cache / f"explore-{name}"
        if not (folder / "report.json").exists():
            if name == "layer" and (cache / "ck.npz").exists():
                (cache / "ck.npz").unlink()
            subprocess.run([str(BIN / "xcompass"), "explore", *argv, "--out", str(folder)],
                           check=True, capture_output=True)  # fmt: skip
        out[f"report-{name}"] = (folder / "report.json").read_bytes()
    out["checkpoint"] = (cache / "ck.npz").read_bytes()
    mapcost = cache / "mapcost.json"
    if not mapcost.exists():
        subprocess.run(
            [str(BIN / "xcompass-opt"), str(cache / "seed-mapped.mlir"), "-p",
             f"map-cost{{report={mapcost}}}", "-o", os.devnull],
            check=True, capture_output=True,
        )  # fmt: skip
    out["report-mapcost"] = mapcost.read_bytes()
    return out


# --- writers for generated files ------------------------------------------------------------


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v))


def to_toml(data: dict) -> str:
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"[{key}]")
            lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and all(isinstance(t, dict) for t in value):
            for table in value:
                lines.append(f"[[{key}]]")
                lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items()]
        else:
            lines.insert(0, f"{json.dumps(key)} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _json_dump(data: object) -> str:
    return json.dumps(data, allow_nan=True)


# --- a case ---------------------------------------------------------------------------------


@dataclass
class Case:
    index: int
    argv: list[str]
    files: dict[str, bytes]  # relative path -> content, written before the run
    stdin: bytes | None = None
    outputs: set[str] = field(default_factory=set)  # files the run may write on success
    should_fail: str = ""  # why the documented limits must refuse this case
    target_attr: str = ""  # a bad xcompass.target: to be refused when a pass reads it
    dirs: list[str] = field(default_factory=list)
    fifos: list[str] = field(default_factory=list)  # FIFOs made before the run (no writer)
    kind: str = ""  # the entry point, for the per-entry-point figures


USER_FILES = {"keep.txt": b"the user's notes\n", "out.mlir": b"// the user's old output\n"}


def _pick(rng: random.Random, seq):  # noqa: ANN001, ANN202
    return seq[rng.randrange(len(seq))]


def _mutate_json(rng: random.Random, cfg: dict, case: Case) -> str:
    """A config.json: a key set to a hostile value, a key deleted, or malformed text."""
    cfg = json.loads(json.dumps(cfg))
    read_keys = [
        k
        for k in (
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "vocab_size",
            "intermediate_size",
            "ffn_dim",
            "n_embd",
            "n_layer",
            "n_head",
            "rms_norm_eps",
            "layer_norm_eps",
            "hidden_act",
            "activation_function",
            "num_local_experts",
            "num_experts_per_tok",
            "max_position_embeddings",
        )
        if k in cfg
    ]
    kind = rng.random()
    if kind < 0.5 and read_keys:
        key = _pick(rng, read_keys)
        value = _pick(rng, HOSTILE_JSON)
        cfg[key] = value
        bad = not (isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**20)
        if key in ("rms_norm_eps", "layer_norm_eps"):
            bad = not (isinstance(value, float) and 0 < value < 1) or value != value
        if key in ("hidden_act", "activation_function"):
            bad = value not in ("silu", "gelu", "relu", "gelu_new")
        if bad:
            case.should_fail = f"config key {key} = {str(value)[:30]}"
        return _json_dump(cfg)
    if kind < 0.6 and read_keys:
        del cfg[_pick(rng, read_keys)]
        return _json_dump(cfg)
    if kind < 0.7:
        depth = rng.choice([50, 1000, 100000])
        case.should_fail = "deeply nested JSON" if depth > 900 else ""
        return "[" * depth + "]" * depth
    text = _json_dump(cfg)
    if kind < 0.8:
        cut = rng.randrange(len(text))
        case.should_fail = "truncated JSON"
        return text[:cut]
    if kind < 0.9:
        cfg["num_hidden_layers"] = rng.choice([1, 2, 1024, 1025, 5000])
        if cfg["num_hidden_layers"] > 1024:
            case.should_fail = "more than 1024 layers"
        return _json_dump(cfg)
    return json.dumps([cfg]) if rng.random() < 0.5 else json.dumps(None)


def _mutate_target(rng: random.Random, data: dict, case: Case) -> str:
    data = json.loads(json.dumps(data))
    kind = rng.random()
    tables = [(k, t) for k, v in data.items() if isinstance(v, dict) for t in [v]]
    tables += [(k, t) for k, v in data.items() if isinstance(v, list) for t in v]
    if kind < 0.6:
        name, table = _pick(rng, tables)
        numeric = [k for k, v in table.items() if isinstance(v, int | float)]
        key = _pick(rng, numeric) if numeric and rng.random() < 0.8 else _pick(rng, list(table))
        value = _pick(rng, [*HOSTILE_JSON, 100_000, 1e300, -1.0])
        was_text = isinstance(table.get(key), str)  # name, description, kind: any text goes
        table[key] = value
        if isinstance(value, float) and (value != value or abs(value) == float("inf")):
            case.should_fail = f"target {name}.{key} = {value}"
        if key == "count" and isinstance(value, int) and value > 256:
            case.should_fail = f"target {name}.count = {value}"
        free_text = was_text and isinstance(value, str) and key in ("name", "description", "kind")
        structured = isinstance(value, str | list | dict) and key not in ("attach", "dram_channel")
        if structured and not free_text:
            case.should_fail = f"target {name}.{key} = {str(value)[:20]}"
        if isinstance(value, int) and not isinstance(value, bool) and value >= 2**63:
            case.should_fail = f"target {name}.{key} = {value}"
    elif kind < 0.75:
        name, table = _pick(rng, tables)
        table["turbo_mode"] = 1
        case.should_fail = "unknown target field"
    elif kind < 0.85:
        name, table = _pick(rng, tables)
        if table:
            del table[_pick(rng, list(table))]
    else:
        text = to_toml(data)
        return text[: rng.randrange(len(text))] + _pick(rng, ["", "=", "[[", '"', "\x00"])
    return to_toml(data)


def _mutate_trace(rng: random.Random, lines: list[str], case: Case) -> bytes:
    lines = list(lines[: rng.randrange(2, len(lines))])
    kind = rng.random()
    if kind < 0.4:
        i = rng.randrange(1, len(lines))
        value = _pick(rng, ["-5", "0", "abc", "1e5", str(2**63), str(2**24), "9" * 5000, "", "٣"])
        parts = lines[i].split(",")
        parts[rng.choice([1, 2])] = value
        lines[i] = ",".join(parts)
        if value in ("-5", "abc", "1e5", str(2**63), "9" * 5000, "", "٣") or (
            value == "0" and parts[1] == "0"
        ):
            case.should_fail = f"trace value {value[:20]}"
        if value == str(2**24):
            case.should_fail = "trace request above 2^24 tokens"
    elif kind < 0.5:
        lines[0] = _pick(rng, ["", "a,b,c", "TIMESTAMP,ContextTokens"])
        case.should_fail = "bad trace header"
    elif kind < 0.6:
        return "\n".join(lines).encode() + b"\n\xff\xfe,1,2\n"
    elif kind < 0.7:
        lines = lines[:1]
        case.should_fail = "empty trace"
    return ("\n".join(lines) + "\n").encode()


def _spec(rng: random.Random, case: Case) -> str:
    good = ["prefill:512", "decode:1024x32", "verify:1024+4x4", "prefill:128x2", "decode:64"]
    bad = [
        "prefill:0",
        "decode:-1",
        "verify:1024",
        "chat:5",
        f"decode:{2**63}",
        f"prefill:{2**24 + 1}",
        f"decode:8x{2**21}",
        "decode:٣",
        "prefill:" + "9" * 5000,
        "",
        "prefill:512,",
        "decode:8x0",
    ]
    items = [_pick(rng, good) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.6:
        items.insert(rng.randrange(len(items) + 1), _pick(rng, bad))
        case.should_fail = "bad SPEC item"
    if rng.random() < 0.05:
        items = ["decode:8"] * rng.choice([1025, 12000])
        case.should_fail = "more than 1024 micro-batches"
    return ",".join(items)


def import_case(rng: random.Random, case: Case, seeds: dict) -> None:
    case.kind = "import"
    argv = [str(BIN / "xcompass"), "import"]
    r = rng.random()
    model_layers = 32
    if r < 0.4:
        name = _pick(rng, PRESET_MODELS)
        argv += ["--model", name]
        model_layers = PRESET_LAYERS[name]
    elif r < 0.85:
        text = _mutate_json(rng, _pick(rng, seeds["configs"]), case)
        try:
            n = json.loads(text).get("num_hidden_layers", json.loads(text).get("n_layer", 32))
            model_layers = n if isinstance(n, int) and not isinstance(n, bool) else 32
        except (ValueError, AttributeError, RecursionError):
            pass
        data = text.encode()
        if rng.random() < 0.05:
            data = b"\xff\xfe" + data
            case.should_fail = "non-UTF-8 config"
        case.files["cfg/config.json"] = data
        argv += ["--model", "cfg/config.json"]
    else:
        value = _pick(rng, ["nope", "x" * 300 + ".json", "cfg", "missing.json", "a\x01b"])
        argv += ["--model", value]
        case.should_fail = "bad --model"
        if value == "cfg":
            case.dirs.append("cfg")
    if rng.random() < 0.8:
        layers = _pick(rng, [1, 2, 1, 2, 4, 0, -1, 33, 2000, 2**63, "x"])
        argv += ["--layers", str(layers)]
        if not isinstance(layers, int) or layers < 1 or layers > model_layers:
            case.should_fail = case.should_fail or f"--layers {layers}"
    trace = rng.random() < 0.3
    if trace:
        case.files["trace.csv"] = _mutate_trace(rng, seeds["trace"], case)
        argv += ["--trace", "trace.csv"]
    if rng.random() < 0.3 and not trace:
        argv += ["--workload", _spec(rng, case)]
    for flag in ("--sample", "--seed"):
        if rng.random() < 0.3:
            value = _pick(rng, [1, 5, 32, 0, -1, 2**16 + 1, 10**10, 2**63, "x"])
            argv += [flag, str(value)]
            top = 2**16 if flag == "--sample" else 2**32 - 1
            low = 1 if flag == "--sample" else 0
            if not trace or not isinstance(value, int) or not low <= value <= top:
                case.should_fail = case.should_fail or f"{flag} {value}"
    if rng.random() < 0.3:
        value = _pick(rng, [1, 2, 3, 0, -2, 1025, 2**63, "x"])
        argv += ["--microbatches", str(value)]
        if not isinstance(value, int) or not 1 <= value <= 1024:
            case.should_fail = case.should_fail or f"--microbatches {value}"
    if rng.random() < 0.4:
        if rng.random() < 0.5:
            argv += ["--target", _pick(rng, PRESET_TARGETS)]
        else:
            text = _mutate_target(rng, _pick(rng, seeds["targets"]), case)
            case.files["t.toml"] = text.encode()
            argv += ["--target", "t.toml"]
    _output(rng, case, argv, inputs=["cfg/config.json", "trace.csv", "t.toml"])
    case.argv = argv


def _output(rng: random.Random, case: Case, argv: list[str], inputs: list[str]) -> None:
    r = rng.random()
    if r < 0.3:
        return
    if r < 0.7:
        argv += ["-o", "out.mlir"]
        case.outputs.add("out.mlir")
    elif r < 0.8:
        argv += ["-o", "adir"]
        case.dirs.append("adir")
        case.should_fail = case.should_fail or "-o a folder"
    elif r < 0.85:
        argv += ["-o", "missing/out.mlir"]
        case.should_fail = case.should_fail or "-o in a missing folder"
    elif r < 0.9:
        argv += ["-o", "y" * 300 + ".mlir"]
        case.should_fail = case.should_fail or "-o name too long"
    else:
        present = [p for p in inputs if p in case.files]
        if present:
            path = _pick(rng, present)
            argv += ["-o", path]
            case.outputs.add(path)
            if argv[1] == "import":
                case.should_fail = case.should_fail or "-o is an input file"
        else:
            argv += ["-o", "new.mlir"]
            case.outputs.add("new.mlir")


# --- xcompass-opt cases ---------------------------------------------------------------------

_MODEL_KEYS = r"(hidden|layers|heads|kv_heads|head_dim|ffn|vocab|experts|top_k|window)"


def _mutate_mlir(rng: random.Random, text: str, case: Case) -> bytes:
    kind = rng.random()
    if kind < 0.3:  # a number replaced by a hostile one
        numbers = list(re.finditer(r"(?<![\w.])\d+(?![\w.])", text))
        if numbers:
            m = _pick(rng, numbers)
            value = _pick(rng, HOSTILE_INTS)
            line_start = text.rfind("\n", 0, m.start()) + 1
            before = text[line_start : m.start()]
            if ("llm.model" in before and re.search(_MODEL_KEYS + r"\s+$", before)) or (
                "llm.request" in before
                and re.search(r"(prefill|decode|verify|x|\+)\s+$", before)
                and value != 2**31
            ):
                case.should_fail = f"IR size {value}"
            if value in (2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**30) and "tensor<" in before:
                case.should_fail = f"tensor size {value}"
            text = text[: m.start()] + str(value) + text[m.end() :]
        return text.encode()
    if kind < 0.4:  # an unterminated string literal (exponential in xDSL's lexer)
        pos = rng.randrange(len(text))
        junk = "".join(rng.choice("abcdefgh \\xyz") for _ in range(rng.randint(20, 200)))
        case.should_fail = "unterminated string"
        return (text[:pos] + '"' + junk + "\n" + text[pos:]).encode()
    if kind < 0.5:  # random bytes
        data = bytearray(text.encode())
        for _ in range(rng.randint(1, 20)):
            op = rng.random()
            pos = rng.randrange(len(data))
            if op < 0.4:
                data[pos] = rng.randrange(256)
            elif op < 0.7:
                del data[pos : pos + rng.randint(1, 40)]
            else:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 10)))
        return bytes(data)
    if kind < 0.6:  # nesting
        depth = rng.choice([100, 3000, 50000])
        attr = _pick(rng, ["[" * depth + "]" * depth, "{a = " * depth + "1" + "}" * depth])
        text = text.replace("builtin.module", f"builtin.module attributes {{deep = {attr}}}", 1)
        if depth > 1000:
            case.should_fail = "nesting"
        return text.encode()
    if kind < 0.7:  # floats
        floats = list(re.finditer(r"\d\.\d+e[-+]\d+", text))
        if floats:
            m = _pick(rng, floats)
            value = _pick(rng, ["1.0e999", "-1.0", "0.0", "0x7FF8000000000000", "nan", "-0.0"])
            text = text[: m.start()] + value + text[m.end() :]
        return text.encode()
    if kind < 0.8:  # lines dropped / duplicated / truncated
        lines = text.splitlines(keepends=True)
        i = rng.randrange(len(lines))
        if rng.random() < 0.5:
            del lines[i]
        else:
            lines.insert(i, lines[i])
        return "".join(lines).encode()
    if kind < 0.9:  # the target attribute
        value = _pick(
            rng,
            ['"tpu-v9"', '"t.toml"', '"' + "z" * 5000 + '.toml"', '""', '"a\\00b"', "5", "[1]"],
        )
        if value == '"t.toml"':
            case.files["t.toml"] = _mutate_target(
                rng, _pick(rng, case_seeds()["targets"]), case
            ).encode()
            case.target_attr = case.should_fail  # refused only when a pass reads the target
            case.should_fail = ""
        else:
            case.target_attr = "bad target attribute"
        if "xcompass.target" in text:
            text = re.sub(
                r'xcompass\.target = ("[^"]*"|#xhw\.target<.*?>)',
                "xcompass.target = " + value,
                text,
                count=1,
            )
        else:
            text = text.replace(
                "builtin.module", f"builtin.module attributes {{xcompass.target = {value}}}", 1
            )
        return text.encode()
    return (text[: rng.randrange(len(text))]).encode()


_SEEDS: dict = {}


def case_seeds() -> dict:
    return _SEEDS


def _option_value(rng: random.Random) -> object:
    return _pick(rng, [1, 2, 2, 4, 8, 3, 0, -1, -4, 16, 100, 2**63, "two", 2.5, "true"])


# every xcompass pass option: (values that stay cheap, values its documented range refuses)
BAD_INTS = [0, -1, 2**31, 2**63, 10**30, "x", "1.5", "true", ""]
PASS_OPTIONS: dict[str, dict[str, tuple[list, list]]] = {
    "llm-fuse": {
        "theta": ([0.5, 1, 2.0], [0, -1, "nan", "inf", "1e300", "x", ""]),
        "siblings": (["true", "false"], ["yes", 2, ""]),
        "eltwise": (["true", "false"], ["maybe", ""]),
        "prologue": (["true", "false"], ["1x"]),
        "epilogue": (["true", "false"], [3]),
        "allow-chain": (["true", "false"], [3, "no"]),
        "level": (["gsm", "l1"], ["zz", '""', "a\\nb"]),
    },
    "llm-stage-attention": {
        "mode": (["auto", "unfused", "decode2", "resident3", "split4"], ["bogus", 3, '""']),
        "level": (["gsm"], ["zz", 5]),
    },
    "llm-pad-tiles": {
        "tiles": (["128", "128,256"], ["0", "-16", "99999999999", "x", "128,x", ""]),
        "mode": (["virtual", "physical"], ["none", 1]),
    },
    "llm-partition": {
        "strategy": (["single", "pipeline", "tensor", "hybrid"], ["zigzag", 5, '""']),
        "granularity": (["layer", "group"], ["row", 1]),
        "tile-width": ([128], BAD_INTS),
        "tile-heads": ([1], BAD_INTS),
        "microbatches": ([1, 2], BAD_INTS),
    },
    "map-autotune": {
        "objective": (["edp", "latency", "energy", "throughput"], ["speed", 1]),
        "population": ([2, 4], [1, 10_001, *BAD_INTS]),
        "generations": ([1], [100_001, *BAD_INTS]),
        "budget": ([0, 8], [-1, 2**31, 2**63, 10**30, "x"]),
        "seed": ([0, 5], [-1, 2**32, 2**63, "x"]),
        "granularity": (["layer", "group"], ["row", 3]),
        "tile-width": ([128], BAD_INTS),
        "tile-heads": ([1], BAD_INTS),
        "train-samples": ([0, 1], [-1, 257, "x"]),
        "test-samples": ([0], [-1, 257, "x"]),
        "trace": (["trace.csv"], ["missing.csv", "adir", "/dev/zero"]),
        "spec": (["decode:64x2"], ["decode:0", "chat:1", "x"]),
        "sample": ([0, 4], [-1, 65537, 2**63, "x"]),
        "baselines": (["false"], ["maybe", 2]),
        "mode": (["graph", "eager"], ["lazy", 0]),
        "report": (["at.json"], ["adir", "nodir/", "missing/r.json", "in.mlir"]),
    },
    "map-cost": {"mode": (["graph", "eager"], ["lazy", "", 1])},
    "map-serve": {
        "policy": (["sarathi", "vllm", "static"], ["nope", 1]),
        "trace": (["trace.csv"], ["missing.csv", "/dev/zero", "adir"]),
        "qps": ([1.0, 2], [-1, "nan", "inf", 1e300, "x"]),
        "duration": ([0.5, 1], [-1, "inf", 1e300, "x"]),
        "rate-scale": ([1.0], [0, -1, "nan", "x"]),
        "requests": ([0, 4], [-1, 2**63, "x"]),
        "slo-ttft": ([2.0], [-1, "nan"]),
        "slo-tbt": ([0.2], [-1, "inf"]),
        "token-budget": ([0, 512], [-1, 2**63, "x"]),
        "max-running": ([64], [0, -1, 2**63]),
        "mode": (["graph", "eager"], ["lazy"]),
        "seed": ([0], [-1, 2**63, "x"]),
        "report": (["serve.json"], ["adir", "nodir/", "in.mlir"]),
    },
    "set-target": {
        "target": (list(PRESET_TARGETS), ["tpu-v9", "/dev/null", "adir", "missing.toml"]),
        "embed": (["true", "false"], ["yes", 2]),
    },
}


def _pipeline(rng: random.Random, case: Case, input_name: str = "in.mlir") -> str:
    passes = []
    for _ in range(rng.randint(0, 4)):
        r = rng.random()
        if r < 0.2:
            target = _pick(rng, [*PRESET_TARGETS, "tpu-v9", "t.toml", "missing.toml", "in.mlir"])
            if target == "t.toml":
                case.files["t.toml"] = _mutate_target(
                    rng, _pick(rng, case_seeds()["targets"]), case
                ).encode()
            elif target not in PRESET_TARGETS:
                case.should_fail = case.should_fail or f"set-target {target}"
            embed = _pick(rng, ["", " embed=true", " embed=false", " embed=yes"])
            if embed == " embed=yes":
                case.should_fail = case.should_fail or "embed=yes"
            passes.append(f"set-target{{target={target}{embed}}}")
        elif r < 0.45:
            strategy = _pick(rng, [*STRATEGIES, "zigzag"])
            if strategy == "zigzag":
                case.should_fail = case.should_fail or "unknown strategy"
            opts = [f"strategy={strategy}"]
            for key in ("tp", "pp", "dp", "microbatches"):
                if rng.random() < 0.3:
                    value = _option_value(rng)
                    opts.append(f"{key}={value}")
                    low = 2 if (key == "dp" and strategy == "data") else 1
                    if not isinstance(value, int) or value < low or value > 1024:
                        case.should_fail = case.should_fail or f"{key}={value}"
                    elif key in TAKES and strategy not in TAKES[key]:
                        case.should_fail = case.should_fail or f"{key} with {strategy}"
            passes.append("llm-partition{" + " ".join(opts) + "}")
        elif r < 0.6:
            report = _pick(
                rng, ["report.json", "r2.json", "in.mlir", "out.mlir", "adir", "missing/r.json", "",
                      "nodir/", "adir/", "fifo.json"]
            )  # fmt: skip
            if report == "fifo.json":
                case.fifos.append("fifo.json")
            if report == "adir/":
                case.dirs.append("adir")
            if report in ("report.json", "r2.json") or (report == "in.mlir" != input_name):
                case.outputs.add(report)
            elif report:
                case.should_fail = case.should_fail or f"report={report}"
                if report == "adir":
                    case.dirs.append("adir")
            passes.append(f"map-cost{{report={report}}}" if report else "map-cost")
        elif r < 0.9:
            name, options = _pick(rng, list(PASS_OPTIONS.items()))
            chosen = []
            for key in rng.sample(list(options), rng.randint(1, min(3, len(options)))):
                good, bad = options[key]
                value = _pick(rng, bad) if rng.random() < 0.5 else _pick(rng, good)
                chosen.append(f"{key}={value}")
                if value in bad:
                    case.should_fail = case.should_fail or f"{name}{{{key}={value}}}"
                if key == "report" and value in good:
                    case.outputs.add(str(value))
            if name == "map-serve":  # a second of arrivals unless the case is about them
                keys = {c.split("=")[0] for c in chosen}
                chosen += [o for o in ("qps=2", "duration=1") if o.split("=")[0] not in keys]
            if name == "map-autotune":  # small unless the case is about these options
                keys = {c.split("=")[0] for c in chosen}
                chosen += [
                    o for o in ("population=4", "generations=1") if o.split("=")[0] not in keys
                ]
            if rng.random() < 0.05 and chosen:
                chosen.append(chosen[0])
                case.should_fail = case.should_fail or f"{name}: option given twice"
            passes.append(f"{name}{{{' '.join(chosen)}}}")
        else:
            bad = _pick(
                rng,
                [
                    "no-such-pass",
                    "llm-partition{",
                    "map-cost{report}",
                    "{}",
                    "set-target{color=blue}",
                    "llm-partition{tp=1,2}",
                ],
            )
            case.should_fail = case.should_fail or f"bad pass spec {bad}"
            passes.append(bad)
    return ",".join(passes)


def opt_case(rng: random.Random, case: Case, seeds: dict) -> None:
    argv = [str(BIN / "xcompass-opt")]
    text = _pick(rng, seeds["mlir"])
    data = _mutate_mlir(rng, text, case) if rng.random() < 0.7 else text.encode()
    use_stdin = rng.random() < 0.2
    if use_stdin:
        case.stdin = data
    else:
        case.files["in.mlir"] = data
        argv.append("in.mlir")
    spec = _pipeline(rng, case, "-" if use_stdin else "in.mlir")
    case.kind = "xcompass-opt"
    if "trace.csv" in spec:
        case.files["trace.csv"] = ("\n".join(seeds["trace"][:50]) + "\n").encode()
    if re.search(r"=adir\b", spec):
        case.dirs.append("adir")
    reads = re.search(r"llm-partition|map-cost", spec)
    if case.target_attr and reads and "set-target" not in spec[: reads.start()]:
        case.should_fail = case.should_fail or case.target_attr
    if spec:
        if rng.random() < 0.2:
            argv.append(f"--pass-pipeline=builtin.module({spec})")
        else:
            argv += ["-p", spec]
    for flag in (
        "--split-input-file",
        "--print-op-generic",
        "--verify-diagnostics",
        "--allow-unregistered-dialect",
        "--no-implicit-module",
        "--print-debuginfo",
        "--parsing-diagnostics",
    ):
        if rng.random() < 0.05:
            argv.append(flag)
    if rng.random() < 0.1:
        target = _pick(rng, ["mlir", "x86-asm", "llvm", "mps", "riscv-asm", "irdl", "bogus"])
        argv += ["-t", target]
        if target != "mlir":
            case.should_fail = case.should_fail or f"-t {target}"
    if rng.random() < 0.03:
        argv.append(_pick(rng, ["--bogus", "-f", "-f=txt", "--frontend=mlir"]))
    _output(rng, case, argv, inputs=["in.mlir"])
    if case.should_fail == "report=out.mlir" and "out.mlir" not in argv:
        # out.mlir is then just a file the user named as the report: writing it is asked for
        case.should_fail = ""
        case.outputs.add("out.mlir")
    if "--parsing-diagnostics" in argv or "--verify-diagnostics" in argv:
        case.should_fail = ""  # xDSL's test modes: a diagnostic is the expected output, exit 0
    case.argv = argv


# --- explore, report, checkpoints, serve ----------------------------------------------------

# option -> (valid values that stay cheap, values its documented range refuses)
EXPLORE_NUMBERS = {
    "--layers": ([1, 2], [0, -1, 1025, 2**63, "x", "1.5"]),
    "--microbatches": ([1, 2, 3], [0, -2, 1025, 2**63, "x"]),
    "--population": ([2, 3, 6], [0, 1, -1, 10_001, 2**63, "x"]),
    "--generations": ([1, 2], [0, -1, 100_001, 2**63, "two"]),
    "--budget": ([0, 8], [-1, 10**9 + 1, 2**63, 10**30, "x"]),
    "--seed": ([0, 7, 2**32 - 1], [-1, 2**32, 2**63, "x"]),
    "--sample-seed": ([0, 3], [-1, 2**32, 2**64, "x"]),
    "--train-samples": ([0, 1], [-1, 257, 2**63, "x"]),
    "--test-samples": ([0, 1], [-1, 257, "x"]),
    "--tile-width": ([128, 256], [0, -1, 2**20 + 1, 2**63, "x"]),
    "--tile-heads": ([1, 2], [0, -1, 2**20 + 1, "x"]),
    "--checkpoint-every": ([1, 3], [0, -1, 100_001, "x"]),
    "--scheduler-timeout": ([0.5], [0, -1, 601, "nan", "inf", "x"]),
    "--workers": ([1], [0, -1, 257, 2**63, "x"]),
}
LOWERINGS_OK = [
    "default",
    "pytorch",
    "none",
    "llm-fuse,llm-stage-attention",
    "llm-fuse{allow-chain=true eltwise=false},llm-pad-tiles",
    "builtin.module(llm-fuse{theta=2.0})",
    "llm-stage-attention{mode=unfused}",
]
LOWERINGS_BAD = ["llm-fuse{", "llm-fuse{theta=1 theta=2}", "llm-fuse{theta=0}", "map-cost",
                 "llm-fuse{theta=1e300}", "llm-stage-attention{mode=bogus}", '"', "{}",
                 "llm-fuse{eltwise=maybe}", "llm-pad-tiles{tiles=0}", "nonsense", " ",
                 "llm-pad-tiles{tiles=99999999999}", "llm-fuse{level=zz}", "llm-fuse{colour=1}",
                 "builtin.module(", "llm-fuse}", "llm-fuse{theta=nan}", "a" * 3000]  # fmt: skip
OUTPUT_NAMES = ["mapping.mlir", "report.json", "trace.json", "gantt.png", "layout.svg",
                "best-so-far.json", "checkpoint.npz"]  # fmt: skip


def _set_option(argv: list[str], flag: str, value: object) -> None:
    """Replace `flag`'s value in argv (or append it): one occurrence, as a user writes it."""
    if flag in argv:
        i = argv.index(flag)
        argv[i + 1] = str(value)
    else:
        argv += [flag, str(value)]


def _special_file(rng: random.Random, case: Case, name: str) -> str:
    """A path where a file is expected that is not a regular file."""
    kind = rng.random()
    if kind < 0.4:
        case.fifos.append(name)
        return name
    if kind < 0.6:
        case.dirs.append(name)
        return name
    return _pick(rng, ["/dev/null", "/dev/zero", "/dev/urandom", "/proc/self/mem"])


def _mutate_json_tree(rng: random.Random, data: object, case: Case) -> bytes:
    """A saved report edited: one field somewhere set to a hostile value or deleted, a list
    emptied or grown, or the text cut, re-encoded or nested too deeply."""
    data = json.loads(json.dumps(data))
    kind = rng.random()
    if kind < 0.65:
        for _ in range(rng.randint(1, 3)):
            node, key = data, None
            parent = None
            for _depth in range(rng.randint(1, 5)):
                if isinstance(node, dict) and node:
                    parent, key = node, _pick(rng, list(node))
                elif isinstance(node, list) and node:
                    parent, key = node, rng.randrange(len(node))
                else:
                    break
                node = parent[key]
            if parent is None:
                continue
            r = rng.random()
            if r < 0.15 and isinstance(parent, dict):
                del parent[key]
            elif r < 0.25 and isinstance(parent[key], list):
                parent[key] = parent[key] * rng.choice([0, 50])
            else:
                parent[key] = _pick(rng, [*HOSTILE_JSON, -1e300, 1e300, "\n", None, [[]], 10**400])
        return _json_dump(data).encode()
    text = _json_dump(data)
    if kind < 0.75:
        return text[: rng.randrange(len(text))].encode()
    if kind < 0.8:
        return b"\xff\xfe" + text.encode()
    if kind < 0.85:
        depth = rng.choice([100, 5000, 100_000])
        return ('{"model": ' + "[" * depth + "]" * depth + "}").encode()
    if kind < 0.9:
        return json.dumps([data] if rng.random() < 0.5 else "report").encode()
    return text.encode()


def _mutate_checkpoint(rng: random.Random, blob: bytes, case: Case) -> bytes:
    """A checkpoint edited: bytes flipped or cut, the header's fields set to hostile values,
    an array replaced by one of another kind or shape, or a member that inflates to gigabytes."""
    import io
    import zipfile

    import numpy as np

    kind = rng.random()
    if kind < 0.15:
        data = bytearray(blob)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind < 0.25:
        return blob[: rng.randrange(len(blob))]
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    header = json.loads(str(arrays["header"]))
    if kind < 0.6:
        for _ in range(rng.randint(1, 2)):
            node, key, parent = header, None, None
            for _depth in range(rng.randint(1, 4)):
                if isinstance(node, dict) and node:
                    parent, key = node, _pick(rng, list(node))
                elif isinstance(node, list) and node:
                    parent, key = node, rng.randrange(len(node))
                else:
                    break
                node = parent[key]
            if parent is not None:
                if rng.random() < 0.2 and isinstance(parent, dict):
                    del parent[key]
                else:
                    parent[key] = _pick(rng, [*HOSTILE_JSON, None, -(2**70), "PCG64", [[1, 2]]])
        arrays["header"] = np.array(json.dumps(header, allow_nan=True))
    elif kind < 0.85:
        name = _pick(rng, [k for k in arrays if k != "header"])
        a = arrays[name]
        arrays[name] = _pick(
            rng,
            [
                a.astype(np.float64) * np.nan,
                a.reshape(-1),
                np.full_like(a, 10**6)
                if a.dtype.kind in "iu"
                else ~a
                if a.dtype.kind == "b"
                else -a - 1,
                np.zeros((2, 3, 4, 5)),
                np.array(["x"]),
                a[:0],
                np.concatenate([a, a]) if a.ndim else a,
            ],
        )
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("header.npy", b"\x93NUMPY" + b"\0" * (rng.choice([2**20, 2**29])))
        return buffer.getvalue()
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def explore_case(rng: random.Random, case: Case, seeds: dict) -> None:
    case.kind = "explore"
    argv = [str(BIN / "xcompass"), "explore", *TINY]
    reasons: dict[str, str] = {}  # flag -> why its (last) value must be refused
    inputs_in_out: dict[str, str] = {}  # flag -> the input it put in --out

    def reason_of(flag: str, make) -> object:  # noqa: ANN001 - a generator that sets should_fail
        before, case.should_fail = case.should_fail, ""
        value = make()
        if case.should_fail:
            reasons[flag] = case.should_fail
        else:
            reasons.pop(flag, None)
        case.should_fail = before
        return value

    if rng.random() < 0.5:
        argv.append("--no-baselines")
    if rng.random() < 0.1:
        argv.remove("--no-pictures")
    out = "out"
    extra = ["gantt.svg", "layout.png", "convergence.png", "convergence.svg", "pareto.png",
             "pareto.svg", "best-so-far.mlir"]  # fmt: skip
    case.outputs |= {f"{out}/{n}" for n in OUTPUT_NAMES + extra}
    for _ in range(rng.randint(1, 3)):
        r = rng.random()
        if r < 0.3:
            flag = _pick(rng, list(EXPLORE_NUMBERS))
            good, bad = EXPLORE_NUMBERS[flag]
            value = _pick(rng, bad) if rng.random() < 0.6 else _pick(rng, good)
            if flag in ("--tile-width", "--tile-heads") and rng.random() < 0.7:
                _set_option(argv, "--granularity", "tile")
            if flag == "--scheduler-timeout" and rng.random() < 0.7:
                _set_option(argv, "--scheduler", "tcp://127.0.0.1:9")
            if flag == "--checkpoint-every" and rng.random() < 0.7:
                _set_option(argv, "--checkpoint", "c.npz")
                case.outputs.add("c.npz")
                reasons.pop("--checkpoint", None)
            if flag == "--workers" and value == 1 and rng.random() < 0.5:
                value = 2
            _set_option(argv, flag, value)
            if value in bad:
                reasons[flag] = f"{flag} {value}"
            else:
                reasons.pop(flag, None)
        elif r < 0.4:
            _set_option(argv, "--workload", reason_of("--workload", lambda: _spec(rng, case)))
            if reasons.get("--workload") == "more than 1024 micro-batches":
                del reasons["--workload"]  # --microbatches deals them into fewer
        elif r < 0.5:
            case.files["trace.csv"] = reason_of(
                "--trace", lambda: _mutate_trace(rng, seeds["trace"], case)
            )
            _set_option(argv, "--trace", "trace.csv")
            if rng.random() < 0.5:
                _set_option(argv, "--requests", _pick(rng, [2, 8, 0, 65537, "x"]))
        elif r < 0.58:
            if rng.random() < 0.5:
                text = reason_of(
                    "--model", lambda: _mutate_json(rng, _pick(rng, seeds["configs"]), case)
                )
                case.files["cfg/config.json"] = text.encode()
                _set_option(argv, "--model", "cfg/config.json")
            else:
                name = _pick(rng, [*PRESET_MODELS, "LLAMA3-8B", "lama3-8b", "nope", "a\\nb"])
                _set_option(argv, "--model", name)
                reasons.pop("--model", None)
                if name in ("lama3-8b", "nope", "a\\nb"):
                    reasons["--model"] = f"--model {name}"
        elif r < 0.66:
            if rng.random() < 0.5:
                name = _pick(rng, [*PRESET_TARGETS, "H100", "tpu-v9"])
                _set_option(argv, "--target", name)
                reasons.pop("--target", None)
                if name == "tpu-v9":
                    reasons["--target"] = "--target tpu-v9"
            elif rng.random() < 0.7:
                case.files["t.toml"] = _mutate_target(
                    rng, _pick(rng, seeds["targets"]), case
                ).encode()
                _set_option(argv, "--target", "t.toml")
            else:
                _set_option(argv, "--target", _special_file(rng, case, "t.toml"))
                reasons["--target"] = "--target not a regular file"
        elif r < 0.72:
            if rng.random() < 0.5:
                _set_option(argv, "--lowering", _pick(rng, LOWERINGS_OK))
                reasons.pop("--lowering", None)
            else:
                _set_option(argv, "--lowering", _pick(rng, LOWERINGS_BAD))
                reasons["--lowering"] = "bad --lowering"
        elif r < 0.77:
            _set_option(argv, "--granularity", _pick(rng, ["layer", "group", "tile", "row"]))
            _set_option(
                argv,
                "--objective",
                _pick(rng, ["edp", "latency", "energy", "throughput", "pareto"]),
            )
            _set_option(argv, "--mode", _pick(rng, ["graph", "eager"]))
        elif r < 0.84:
            target = _pick(rng, ["c.npz", "keep.txt", "out/report.json", "adir", "missing/c.npz",
                                 "fifo.npz", "out/checkpoint.npz"])  # fmt: skip
            if target == "adir":
                case.dirs.append("adir")
            if target == "fifo.npz":
                case.fifos.append("fifo.npz")
            _set_option(argv, "--checkpoint", target)
            if target in ("c.npz", "out/checkpoint.npz"):
                case.outputs.add(target)
                reasons.pop("--checkpoint", None)
            else:
                reasons["--checkpoint"] = f"--checkpoint {target}"
        elif r < 0.9:
            where = _pick(rng, ["out", "keep.txt", "adir/sub", "missing/deeper/out", "out-fifo",
                                "out-special"])  # fmt: skip
            if where == "out-fifo":
                case.fifos.append("out-fifo")
                reasons["--out"] = "--out a FIFO"
            elif where == "out-special":
                case.dirs.append("out-special")
                name = _pick(rng, OUTPUT_NAMES)
                if rng.random() < 0.5:
                    case.fifos.append(f"out-special/{name}")
                else:
                    case.dirs.append(f"out-special/{name}")
                reasons["--out"] = f"--out holds a special {name}"
            elif where == "keep.txt":
                reasons["--out"] = "--out a file"
            else:
                reasons.pop("--out", None)
            if where == "adir/sub":
                case.dirs.append("adir")
                case.outputs |= {f"adir/sub/{n}" for n in OUTPUT_NAMES}
            _set_option(argv, "--out", where)
            out = where
        elif r < 0.95:  # an input inside --out under an output's name
            name = _pick(rng, OUTPUT_NAMES)
            case.dirs.append("out")
            flag = _pick(rng, ["--trace", "--model", "--target"])
            if flag == "--trace":
                case.files[f"out/{name}"] = _mutate_trace(rng, seeds["trace"], case)
            elif flag == "--model":
                case.files[f"out/{name}"] = json.dumps(_pick(rng, seeds["configs"])).encode()
            else:
                case.files[f"out/{name}"] = to_toml(_pick(rng, seeds["targets"])).encode()
            case.outputs.discard(f"out/{name}")
            inputs_in_out[flag] = f"out/{name}"
            _set_option(argv, flag, f"out/{name}")
            _set_option(argv, "--out", "out")
            out = "out"
            reasons[flag] = f"{flag} is out/{name}"  # until the flag names something else
        else:  # empty, repeated, scheduler
            pick = rng.random()
            if pick < 0.4:
                flag = _pick(rng, ["--checkpoint", "--resume", "--lowering", "--scheduler",
                                   "--model",
                                   "--target", "--workload", "--trace", "--out"])  # fmt: skip
                _set_option(argv, flag, _pick(rng, ["", " "]))
                reasons[flag] = f"{flag} empty"
            elif pick < 0.7:
                flag = _pick(
                    rng, ["--layers", "--population", "--seed", "--quiet", "--no-pictures"]
                )
                if flag in argv:
                    i = argv.index(flag)
                    argv += argv[
                        i : i + (1 if flag.startswith("--q") or flag == "--no-pictures" else 2)
                    ]
                    case.should_fail = case.should_fail or f"{flag} twice"
            else:
                address = _pick(rng, ["foo:bar", "tcp://h:99999", "nohost", "tcp://:80", "x://y:1",
                                      "tcp://127.0.0.1:9"])  # fmt: skip
                _set_option(argv, "--scheduler", address)
                _set_option(argv, "--scheduler-timeout", "0.5")
                case.should_fail = case.should_fail or f"--scheduler {address}"
    if "--granularity" in argv and argv[argv.index("--granularity") + 1] != "tile":
        for flag in ("--tile-width", "--tile-heads"):
            if flag in argv:
                reasons[flag] = f"{flag} without tile"
    for flag, path in inputs_in_out.items():  # no longer an input: an old output there
        if argv[argv.index(flag) + 1] != path or argv[argv.index("--out") + 1] != "out":
            case.outputs.add(path)
            if reasons.get(flag, "").endswith(f"is {path}"):
                del reasons[flag]
    case.should_fail = case.should_fail or next(iter(reasons.values()), "")
    case.argv = argv


def resume_case(rng: random.Random, case: Case, seeds: dict) -> None:
    """`--resume` of a checkpoint: intact (no flag retyped), edited, special, or contradicted."""
    case.kind = "checkpoint"
    blob = seeds["explore"]["checkpoint"]
    argv = [str(BIN / "xcompass"), "explore", "--resume", "ck.npz", "--out", "out", "--quiet",
            "--no-pictures"]  # fmt: skip
    case.outputs |= {f"out/{n}" for n in OUTPUT_NAMES}
    r = rng.random()
    if r < 0.6:
        case.files["ck.npz"] = _mutate_checkpoint(rng, blob, case)
    elif r < 0.7:
        argv[3] = _special_file(rng, case, "ck.npz")
        case.should_fail = "--resume not a regular file"
    elif r < 0.85:
        case.files["ck.npz"] = blob
        flag = _pick(rng, ["--layers", "--population", "--generations", "--seed", "--model"])
        value = _pick(
            rng,
            {
                "--layers": [1, 2],
                "--population": [4, 5],
                "--generations": [2, 3],
                "--seed": [0, 1],
                "--model": ["llama3-8b", "opt-13b"],
            }[flag],
        )
        argv += [flag, str(value)]
        saved = {"--layers": "1", "--population": "4", "--generations": "2", "--seed": "0",
                 "--model": "llama3-8b"}  # fmt: skip
        if str(value) != saved[flag]:
            case.should_fail = f"{flag} {value} contradicts the checkpoint"
    else:
        case.files["ck.npz"] = blob
        if rng.random() < 0.5:
            argv += ["--checkpoint", "ck.npz"]
            case.outputs.add("ck.npz")
        else:
            argv += ["--objective", "pareto"]
            case.should_fail = "pareto is not resumable"
    case.argv = argv


def report_case(rng: random.Random, case: Case, seeds: dict) -> None:
    case.kind = "report"
    names = [k for k in seeds["explore"] if k.startswith("report-")]
    data = json.loads(seeds["explore"][_pick(rng, names)])
    path = "saved.json"
    r = rng.random()
    if r < 0.75:
        case.files[path] = _mutate_json_tree(rng, data, case)
    elif r < 0.85:
        case.files[path] = json.dumps(data).encode()
    else:
        path = _special_file(rng, case, "saved.json")
        case.should_fail = "report: not a regular file"
    argv = [str(BIN / "xcompass"), "report", path]
    if rng.random() < 0.5:
        out = _pick(rng, ["rout", "rout", "keep.txt", "same"])
        if out == "same":  # the report sits in --out under an output's name
            name = _pick(rng, ["trace.json", "gantt.svg", "layout.png", "report.json"])
            case.dirs.append("rout")
            if path == "saved.json" and "saved.json" in case.files:
                case.files[f"rout/{name}"] = case.files.pop("saved.json")
                argv[2] = f"rout/{name}"
                if name != "report.json":
                    case.should_fail = case.should_fail or f"REPORT is rout/{name}"
            out = "rout"
        elif out == "keep.txt":
            case.should_fail = case.should_fail or "--out a file"
        argv += ["--out", out]
        case.outputs |= {f"rout/{n}" for n in ("trace.json", "gantt.png", "gantt.svg", "layout.png",
                                               "layout.svg", "convergence.png", "convergence.svg",
                                               "pareto.png", "pareto.svg")}  # fmt: skip
        if rng.random() < 0.7:
            argv.append("--no-pictures")
    if rng.random() < 0.05:
        argv += ["--out", "rout"] if "--out" in argv else ["--pictures", "--pictures"]
        case.should_fail = case.should_fail or "repeated option"
    case.argv = argv


def serve_case(rng: random.Random, case: Case, seeds: dict) -> None:
    case.kind = "serve"
    argv = [str(BIN / "xcompass"), "serve", "--duration", "1", "--qps", "2", "--out", "sout"]
    case.outputs |= {f"sout/{n}" for n in ("report.json", "requests.csv", "iterations.csv",
                                           "trace.json")}  # fmt: skip
    numbers = {"--qps": [0, -1, 1e12, "nan", "x"], "--duration": [0, -5, 1e12, "inf"],
               "--requests": [0, -1, 2**63], "--token-budget": [0, -1, 2**63],
               "--max-running": [0, -1, 2**40], "--max-context": [-1, 2**63],
               "--output-tokens": [0, -1, 2**40], "--rate-scale": [0, -1, "nan"],
               "--host-us": [-1, "nan", 1e30], "--slo-ttft": [-1, 0, "inf"]}  # fmt: skip
    for _ in range(rng.randint(1, 2)):
        r = rng.random()
        if r < 0.5:
            flag = _pick(rng, list(numbers))
            _set_option(argv, flag, _pick(rng, numbers[flag]))
        elif r < 0.65:
            _set_option(argv, "--policy", _pick(rng, ["static", "vllm", "orca", "sarathi",
                                                      "xy-serve",
                                                      "pbd", "disagg", "nope", ""]))  # fmt: skip
        elif r < 0.8:
            case.files["trace.csv"] = _mutate_trace(rng, seeds["trace"], case)
            _set_option(argv, "--trace", "trace.csv")
            _set_option(argv, "--window", _pick(rng, ["0:1", "5:1", "x", "0:inf", ":"]))
        elif r < 0.9:
            _set_option(argv, "--strategy", _pick(rng, ["hybrid tp=4 dp=2", "tensor tp=0", "zz",
                                                        "pipeline pp=99999999999"]))  # fmt: skip
        else:
            _set_option(argv, "--lengths", _pick(rng, ["prefill:128", "prefill:0", "decode:8", ""]))
    case.argv = argv


def misc_case(rng: random.Random, case: Case) -> None:
    case.kind = "misc"
    argv = [str(BIN / "xcompass")]
    argv += _pick(
        rng,
        [
            ["models"],
            ["targets"],
            ["models", "extra"],
            ["nope"],
            ["import"],
            ["import", "--model"],
            ["--version"],
            ["import", "--model", "llama3-8b", "--layers"],
        ],
    )
    case.argv = argv


def make_case(index: int, seed: int) -> Case:
    rng = random.Random(seed * 1_000_003 + index)
    case = Case(index, [], dict(USER_FILES))
    case.files["report.json"] = b'{"the user": "old report"}\n'
    r = rng.random()
    for share, make in ONLY_MIX:
        if r < share:
            if make is misc_case:
                misc_case(rng, case)
            else:
                make(rng, case, case_seeds())
            return case
        r -= share
    misc_case(rng, case)
    return case


MIX = [
    (0.15, import_case),
    (0.30, opt_case),
    (0.25, explore_case),
    (0.10, resume_case),
    (0.15, report_case),
    (0.03, serve_case),
    (0.02, misc_case),
]
ONLY_MIX = list(MIX)
KINDS = {
    "import": import_case,
    "xcompass-opt": opt_case,
    "explore": explore_case,
    "checkpoint": resume_case,
    "report": report_case,
    "serve": serve_case,
    "misc": misc_case,
}


# --- running a case -------------------------------------------------------------------------


@dataclass
class Result:
    index: int
    rc: int | None
    kind: str = ""
    traceback: bool = False
    internal: bool = False
    hang: bool = False
    overwritten: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)
    accepted_bad: str = ""
    multiline: bool = False
    stderr: str = ""
    seconds: float = 0.0


def _snapshot(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            try:
                if stat.S_ISREG(os.lstat(path).st_mode):
                    out[rel] = path.read_bytes()
                else:
                    out[rel] = b"<special>"
            except OSError:
                out[rel] = b"<unreadable>"
    return out


FORK = True  # run each case in a process forked from a worker that imported xcompass


def _warm() -> None:
    """Import every module of xcompass once per worker: a forked case then starts in
    milliseconds, and never imports a file changed since the run started (a case sees one
    consistent version of the code, even while the tree is being edited)."""
    import importlib
    import pkgutil

    import matplotlib

    matplotlib.use("Agg")
    import xcompass

    names = [info.name for info in pkgutil.walk_packages(xcompass.__path__, "xcompass.")]
    for sub in ("dialects", "passes", "tools"):  # installed as xcompass.<sub> (editable too)
        names += [f"xcompass.{sub}.{info.name}" for info in pkgutil.iter_modules([str(REPO / sub)])]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 - an optional extra (dask) may be missing
            continue


def _init_worker(seeds: dict, only: list, fork: bool) -> None:
    global FORK
    _SEEDS.update(seeds)
    ONLY_MIX[:] = only
    FORK = fork
    if fork:
        _warm()


def _run_forked(case: Case, root: Path) -> tuple[int | None, bytes, bytes, bool]:
    """Run `case.argv` as the installed command would, in a forked child: the same main(),
    the same exit status, stdin/stdout/stderr in files; killed (with its process group)
    after TIMEOUT_S."""
    io_dir = Path(tempfile.mkdtemp(prefix="xcfuzz-io-"))
    try:
        (io_dir / "in").write_bytes(case.stdin or b"")
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 1
            try:
                os.setpgid(0, 0)
                os.chdir(root)
                for fd, name, flags in ((0, "in", os.O_RDONLY),
                                        (1, "out", os.O_WRONLY | os.O_CREAT),
                                        (2, "err", os.O_WRONLY | os.O_CREAT)):  # fmt: skip
                    new = os.open(io_dir / name, flags, 0o600)
                    os.dup2(new, fd)
                    os.close(new)
                os.environ.pop("XCOMPASS_DEBUG", None)
                tool = Path(case.argv[0]).name
                if tool == "xcompass-opt":
                    from xcompass.tools.opt import main as entry
                else:
                    from xcompass.tools.cli import main as entry
                sys.argv = [tool, *case.argv[1:]]
                try:
                    entry(case.argv[1:])
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                except BaseException:  # noqa: BLE001 - the driver let it through: a traceback
                    import traceback

                    traceback.print_exc()
                    code = 99
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        deadline = time.monotonic() + TIMEOUT_S
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.01)
        else:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None, (io_dir / "out").read_bytes(), (io_dir / "err").read_bytes(), True
        rc = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(OSError):  # what the case started in its group goes too
            os.killpg(pid, signal.SIGKILL)
        return rc, (io_dir / "out").read_bytes(), (io_dir / "err").read_bytes(), False
    finally:
        shutil.rmtree(io_dir, ignore_errors=True)


def _run_exec(case: Case, root: Path) -> tuple[int | None, bytes, bytes, bool]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("XCOMPASS_DEBUG", None)
    try:
        proc = subprocess.run(
            case.argv,
            cwd=root,
            input=case.stdin if case.stdin is not None else b"",
            capture_output=True,
            timeout=TIMEOUT_S,
            env=env,
        )
        return proc.returncode, proc.stdout, proc.stderr, False
    except subprocess.TimeoutExpired as exc:
        return None, exc.stdout or b"", exc.stderr or b"", True


def run_case(index: int, seed: int) -> Result:
    try:
        case = make_case(index, seed)
    except Exception as exc:  # noqa: BLE001 - a bug of this script: counted, not fatal
        return Result(index, 0, "generator", accepted_bad=f"generator: {type(exc).__name__}: {exc}")
    with tempfile.TemporaryDirectory(prefix="xcfuzz-") as tmp:
        root = Path(tmp)
        try:  # a later mutation may name a path an earlier one made a folder: first wins
            for rel in case.dirs:
                (root / rel).mkdir(parents=True, exist_ok=True)
            for rel, data in case.files.items():
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.is_dir():
                    path.write_bytes(data)
            for rel in case.fifos:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                if not (root / rel).exists():
                    os.mkfifo(root / rel)
        except OSError as exc:
            return Result(index, 0, "generator", accepted_bad=f"generator: {exc}")
        before = _snapshot(root)
        start = time.perf_counter()
        if any("\0" in a for a in case.argv) or sum(len(a) for a in case.argv) > 100_000:
            return Result(index, 0, case.kind)  # exec would refuse the argument list
        try:
            rc, out, err, hang = (_run_forked if FORK else _run_exec)(case, root)
        except (ValueError, OSError):
            return Result(index, 0, case.kind)
        seconds = time.perf_counter() - start
        after = _snapshot(root)
        res = Result(index, rc, case.kind, hang=hang, seconds=seconds)
        text = err.decode(errors="replace")
        res.stderr = text[-2000:]
        res.traceback = "Traceback" in text
        res.internal = rc in (70, 99) or "internal error" in text
        ok = rc == 0
        for rel, data in before.items():
            if after.get(rel) != data and not (ok and rel in case.outputs):
                res.overwritten.append(rel)
        if not ok:
            res.stray = [rel for rel in after if rel not in before]
        if ok and case.should_fail:
            res.accepted_bad = case.should_fail
        diagnostics_mode = (
            "--verify-diagnostics" in case.argv or "--parsing-diagnostics" in case.argv
        )
        if ok and not diagnostics_mode and case.kind in ("import", "xcompass-opt"):
            produced = out + b"".join(after.get(rel, b"") for rel in case.outputs)
            if re.search(rb"\b(nan|NaN|inf|Infinity)\b", produced) and not re.search(
                rb"\b(nan|NaN|inf|Infinity)\b", b"".join(case.files.values()) + (case.stdin or b"")
            ):
                res.accepted_bad = res.accepted_bad or "NaN/Infinity in the output"
        lines = [line for line in text.splitlines() if line.strip()]
        res.multiline = not ok and not hang and len(lines) > 1
        return res


FINDINGS = (
    "tracebacks",
    "internal errors",
    "hangs",
    "overwritten user files",
    "stray files after a failure",
    "accepted but should be refused",
    "multi-line diagnostics",
)


def _findings(r: Result) -> list[tuple[str, bool, str]]:
    return [
        ("tracebacks", r.traceback, (r.stderr.strip().splitlines() or [""])[-1][:200]),
        ("internal errors", r.internal, r.stderr.strip()[:300]),
        ("hangs", r.hang, f"{r.seconds:.1f}s"),
        ("overwritten user files", bool(r.overwritten), ",".join(r.overwritten)),
        ("stray files after a failure", bool(r.stray), ",".join(r.stray)[:200]),
        ("accepted but should be refused", bool(r.accepted_bad), r.accepted_bad),
        ("multi-line diagnostics", r.multiline, r.stderr.strip()[:300]),
    ]


def summarize(results: list[Result], show: int = 5) -> str:
    """The figures: totals, then one row per entry point, then examples of every finding."""
    counts: Counter = Counter()
    per_kind: dict[str, Counter] = {}
    examples: dict[str, list[str]] = {}
    for r in results:
        k = per_kind.setdefault(r.kind or "?", Counter())
        k["cases"] += 1
        k["refused"] += r.rc not in (0, None)
        for key, hit, note in _findings(r):
            if hit:
                counts[key] += 1
                k[key] += 1
                examples.setdefault(key, []).append(f"case {r.index} ({r.kind}): {note}")
    lines = [f"{'entry point':<14}{'cases':>7}{'refused':>9}{'internal':>10}{'hangs':>7}"
             f"{'damaged':>9}{'traceback':>11}{'accepted-bad':>14}"]  # fmt: skip
    for kind in sorted(per_kind):
        k = per_kind[kind]
        lines.append(
            f"{kind:<14}{k['cases']:>7}{k['refused']:>9}{k['internal errors']:>10}{k['hangs']:>7}"
            f"{k['overwritten user files']:>9}{k['tracebacks']:>11}"
            f"{k['accepted but should be refused']:>14}"
        )
    for key in FINDINGS:
        lines.append(f"{key:>32}: {counts[key]}")
        lines += [f"{'':>34}{line}" for line in examples.get(key, [])[:show]]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--case", type=int, default=None, help="replay one case and print it")
    ap.add_argument("--show", type=int, default=5, help="examples printed per finding")
    ap.add_argument("--only", default="", help=f"entry points, comma-separated: {', '.join(KINDS)}")
    ap.add_argument("--exec", action="store_true", help="start the installed command per case")
    ap.add_argument("--log", default="", help="also write every case's result here (JSON lines)")
    args = ap.parse_args()
    cache = Path(tempfile.gettempdir()) / "xcompass-fuzz-seeds"
    _SEEDS.update(
        configs=_seed_configs(),
        targets=_seed_targets(),
        trace=_seed_trace(),
        mlir=_seed_mlir(cache),
    )
    # made afresh by this run's code (a cached checkpoint of older code is, rightly, refused
    # as another problem: no resume would ever succeed)
    _SEEDS["explore"] = _seed_explore(Path(tempfile.mkdtemp(prefix="xcfuzz-seeds-")))
    if args.only:
        kinds = [k.strip() for k in args.only.split(",")]
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            ap.error(f"--only {','.join(unknown)}: valid: {', '.join(KINDS)}")
        ONLY_MIX[:] = [(1 / len(kinds), KINDS[k]) for k in kinds]
    fork = not args.exec
    if args.case is not None:
        _init_worker(dict(_SEEDS), list(ONLY_MIX), fork)
        case = make_case(args.case, args.seed)
        print("argv:", [a[:200] for a in case.argv])
        print("files:", {k: v[:300] for k, v in case.files.items()})
        print("fifos:", case.fifos, "dirs:", case.dirs)
        print("should fail:", case.should_fail or "-")
        res = run_case(args.case, args.seed)
        print(res)
        return
    start = time.perf_counter()
    log = open(args.log, "w") if args.log else None  # noqa: SIM115
    with ProcessPoolExecutor(
        max_workers=args.jobs,
        initializer=_init_worker,
        initargs=(dict(_SEEDS), list(ONLY_MIX), fork),
    ) as pool:
        results = []
        for res in pool.map(run_case, range(args.cases), [args.seed] * args.cases, chunksize=4):
            results.append(res)
            if log is not None:
                log.write(json.dumps(res.__dict__) + "\n")
                log.flush()
            if len(results) % 250 == 0:
                rate = len(results) / (time.perf_counter() - start)
                bad = sum(r.internal or r.hang or bool(r.overwritten) for r in results)
                print(f"{len(results)} cases, {rate:.1f}/s, {bad} failures", file=sys.stderr,
                      flush=True)  # fmt: skip
    elapsed = time.perf_counter() - start
    failed = sum(1 for r in results if r.rc not in (0, None))
    print(
        f"{args.cases} cases in {elapsed:.0f} s ({args.jobs} jobs, "
        f"{'exec' if args.exec else 'fork'}), {failed} refused, "
        f"{sum(1 for r in results if r.rc == 0)} accepted"
    )
    print(summarize(results, args.show))
    slowest = sorted(results, key=lambda r: -r.seconds)[:3]
    print("slowest:", ", ".join(f"case {r.index} {r.seconds:.1f}s" for r in slowest))


if __name__ == "__main__":
    main()
