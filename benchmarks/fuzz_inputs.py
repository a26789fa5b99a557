"""Fuzz every entry point with generated bad input (not part of CI; takes ~1 hour on 2 cores).

Each case runs one installed command (`xcompass import`, `xcompass models|targets`,
`xcompass-opt`) in a fresh temporary folder that holds the case's input files and some files
the "user" already had (an output file, a report, an unrelated file). A case is generated from
its index alone, so `--case N` replays it. Afterwards the script counts:

- tracebacks: stderr contains "Traceback"; internal errors: the drivers' last-resort line
  "internal error" (a bug that was caught, not a diagnostic);
- hangs: the command ran past the timeout (10 s);
- overwritten user files: a file that existed before the run changed although the run failed,
  or changed without being the run's output (`-o`) or a report the run was asked to write;
  stray files: files a failed run left behind;
- accepted-but-should-be-refused: the run succeeded although the case holds an input the
  documented limits refuse (an option out of range, NaN, a size above a limit, ...), or it
  wrote NaN / Infinity into a report or the IR;
- multi-line diagnostics: a failed run whose stderr is not one line (reported, not a goal).

Usage: python benchmarks/fuzz_inputs.py [--cases 10000] [--jobs 2] [--seed 0] [--case N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
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
TIMEOUT_S = 10.0
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


def _pipeline(rng: random.Random, case: Case, input_name: str = "in.mlir") -> str:
    passes = []
    for _ in range(rng.randint(0, 4)):
        r = rng.random()
        if r < 0.25:
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
        elif r < 0.65:
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
        elif r < 0.9:
            report = _pick(
                rng, ["report.json", "r2.json", "in.mlir", "out.mlir", "adir", "missing/r.json", ""]
            )
            if report in ("report.json", "r2.json") or (report == "in.mlir" != input_name):
                case.outputs.add(report)
            elif report:
                case.should_fail = case.should_fail or f"report={report}"
                if report == "adir":
                    case.dirs.append("adir")
            passes.append(f"map-cost{{report={report}}}" if report else "map-cost")
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


def misc_case(rng: random.Random, case: Case) -> None:
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
    if r < 0.4:
        import_case(rng, case, case_seeds())
    elif r < 0.95:
        opt_case(rng, case, case_seeds())
    else:
        misc_case(rng, case)
    return case


# --- running a case -------------------------------------------------------------------------


@dataclass
class Result:
    index: int
    rc: int | None
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
            try:
                out[str(path.relative_to(root))] = path.read_bytes()
            except OSError:
                out[str(path.relative_to(root))] = b"<unreadable>"
    return out


def run_case(index: int, seed: int) -> Result:
    case = make_case(index, seed)
    with tempfile.TemporaryDirectory(prefix="xcfuzz-") as tmp:
        root = Path(tmp)
        for rel, data in case.files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        for rel in case.dirs:
            (root / rel).mkdir(exist_ok=True)
        before = _snapshot(root)
        start = time.perf_counter()
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
            rc, out, err = proc.returncode, proc.stdout, proc.stderr
            hang = False
        except subprocess.TimeoutExpired as exc:
            rc, out, err, hang = None, exc.stdout or b"", exc.stderr or b"", True
        except (ValueError, OSError):  # a NUL byte or an argument too long for exec
            return Result(index, 0)
        seconds = time.perf_counter() - start
        after = _snapshot(root)
        res = Result(index, rc, hang=hang, seconds=seconds)
        text = err.decode(errors="replace")
        res.stderr = text[-2000:]
        res.traceback = "Traceback" in text
        res.internal = "internal error" in text
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
        if ok and not diagnostics_mode:
            produced = out + b"".join(after.get(rel, b"") for rel in case.outputs)
            if re.search(rb"\b(nan|NaN|inf|Infinity)\b", produced) and not re.search(
                rb"\b(nan|NaN|inf|Infinity)\b", b"".join(case.files.values()) + (case.stdin or b"")
            ):
                res.accepted_bad = res.accepted_bad or "NaN/Infinity in the output"
        lines = [line for line in text.splitlines() if line.strip()]
        res.multiline = not ok and not hang and len(lines) > 1
        return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--case", type=int, default=None, help="replay one case and print it")
    ap.add_argument("--show", type=int, default=5, help="examples printed per finding")
    args = ap.parse_args()
    cache = Path(tempfile.gettempdir()) / "xcompass-fuzz-seeds"
    _SEEDS.update(
        configs=_seed_configs(),
        targets=_seed_targets(),
        trace=_seed_trace(),
        mlir=_seed_mlir(cache),
    )
    if args.case is not None:
        case = make_case(args.case, args.seed)
        print("argv:", [a[:200] for a in case.argv])
        print("files:", {k: v[:300] for k, v in case.files.items()})
        print("should fail:", case.should_fail or "-")
        res = run_case(args.case, args.seed)
        print(res)
        return
    start = time.perf_counter()
    with ProcessPoolExecutor(
        max_workers=args.jobs, initializer=_SEEDS.update, initargs=(dict(_SEEDS),)
    ) as pool:
        results = []
        for res in pool.map(run_case, range(args.cases), [args.seed] * args.cases, chunksize=8):
            results.append(res)
            if len(results) % 500 == 0:
                rate = len(results) / (time.perf_counter() - start)
                print(f"{len(results)} cases, {rate:.1f}/s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start
    counts = Counter()
    examples: dict[str, list[str]] = {}
    for r in results:
        for key, hit, note in (
            ("tracebacks", r.traceback, r.stderr.strip().splitlines()[-1:] if r.stderr else ""),
            ("internal errors", r.internal, r.stderr.strip()[:300]),
            ("hangs", r.hang, f"{r.seconds:.1f}s"),
            ("overwritten user files", bool(r.overwritten), ",".join(r.overwritten)),
            ("stray files after a failure", bool(r.stray), ",".join(r.stray)[:200]),
            ("accepted but should be refused", bool(r.accepted_bad), r.accepted_bad),
            ("multi-line diagnostics", r.multiline, r.stderr.strip()[:300]),
        ):
            if hit:
                counts[key] += 1
                examples.setdefault(key, []).append(f"case {r.index}: {note}")
    failed = sum(1 for r in results if r.rc not in (0, None))
    print(
        f"{args.cases} cases in {elapsed:.0f} s ({args.jobs} jobs), {failed} refused, "
        f"{sum(1 for r in results if r.rc == 0)} accepted"
    )
    for key in (
        "tracebacks",
        "internal errors",
        "hangs",
        "overwritten user files",
        "stray files after a failure",
        "accepted but should be refused",
        "multi-line diagnostics",
    ):
        print(f"{key:>32}: {counts[key]}")
        for line in examples.get(key, [])[: args.show]:
            print(f"{'':>34}{line}")
    slowest = sorted(results, key=lambda r: -r.seconds)[:3]
    print("slowest:", ", ".join(f"case {r.index} {r.seconds:.1f}s" for r in slowest))


if __name__ == "__main__":
    main()
