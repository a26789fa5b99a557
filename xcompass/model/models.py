"""Decoder-only LLM hyper-parameters: shipped presets and Hugging Face `config.json` import.

The core describes a model as plain numbers so the cost model and the search can use it
without any IR; the importer turns a `ModelConfig` into `llm` dialect ops.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from xcompass import fileio
from xcompass.errors import XcompassError, did_you_mean, shown
from xcompass.model.workload import MAX_TOKENS

ACTIVATIONS = ("silu", "gelu", "relu")
NORMS = ("rms", "layer")
DTYPE_BYTES = {"bf16": 2, "f16": 2, "f32": 4, "i8": 1}

# Sane limits (documented in the README): every model size is checked against them wherever it
# is read (presets, config.json, `llm.model` in IR), before anything is allocated.
MAX_LAYERS = 1024
MAX_DIM = 2**20  # hidden, heads, kv_heads, head_dim, ffn (1,048,576)
MAX_VOCAB = 2**24  # 16,777,216
MAX_EXPERTS = 4096
MAX_POSITIONS = 2**31 - 1  # max_position_embeddings (metadata only)
MAX_JSON_BYTES = 16 * 2**20  # a config.json larger than 16 MiB is not a model config
LIMITS: dict[str, tuple[int, int]] = {
    "hidden": (1, MAX_DIM),
    "layers": (1, MAX_LAYERS),
    "heads": (1, MAX_DIM),
    "kv_heads": (1, MAX_DIM),
    "head_dim": (1, MAX_DIM),
    "ffn": (1, MAX_DIM),
    "vocab": (1, MAX_VOCAB),
    "max_pos": (1, MAX_POSITIONS),
    "window": (0, MAX_TOKENS),
    "experts": (1, MAX_EXPERTS),
    "top_k": (1, MAX_EXPERTS),
}
"""Valid range of each integer field of ModelConfig (window 0: no sliding window)."""


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of a decoder-only transformer (dense or mixture-of-experts)."""

    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    mlp: str = "silu"
    gated: bool = True
    norm: str = "rms"
    norm_eps: float = 1e-5
    max_pos: int = 4096
    rope: bool = True
    bias: bool = False
    window: int = 0
    experts: int = 1
    top_k: int = 1
    dtype: str = "bf16"
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        where = f"model '{self.name}'"
        for key, (lo, hi) in LIMITS.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise XcompassError(f"{where}: {key} must be an integer, got {_short(value)}")
            if value <= 0 and lo > 0:
                raise XcompassError(f"{where}: {key} must be positive, got {value}")
            if not lo <= value <= hi:
                raise XcompassError(
                    f"{where}: {key} must be between {lo} and {hi:,}, got {value:,}"
                )
        if not isinstance(self.norm_eps, float) or not 0 < self.norm_eps < 1:
            raise XcompassError(
                f"{where}: norm_eps must be a number in (0, 1), got {self.norm_eps!r}"
            )
        if self.heads % self.kv_heads:
            raise XcompassError(
                f"{where}: heads ({self.heads}) not divisible by kv_heads ({self.kv_heads})"
            )
        if self.mlp not in ACTIVATIONS:
            raise XcompassError(f"{where}: unknown activation '{self.mlp}'")
        if self.norm not in NORMS:
            raise XcompassError(f"{where}: unknown norm '{self.norm}'")
        if self.dtype not in DTYPE_BYTES:
            raise XcompassError(f"{where}: unknown dtype '{self.dtype}'")
        if not 1 <= self.top_k <= self.experts:
            raise XcompassError(f"{where}: top_k {self.top_k} not in [1, experts={self.experts}]")

    @property
    def symbol(self) -> str:
        """The name as an MLIR symbol (`llama3-8b` -> `llama3_8b`)."""
        return re.sub(r"[^A-Za-z0-9_]", "_", self.name)

    @property
    def q_features(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_features(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    def layer_weights(self) -> int:
        """Parameters of one decoder layer (attention + MLP/experts + norms)."""
        attn = (
            self.hidden * (self.q_features + 2 * self.kv_features) + self.q_features * self.hidden
        )
        mlp_mats = 3 if self.gated else 2
        mlp = self.experts * mlp_mats * self.hidden * self.ffn
        router = self.hidden * self.experts if self.experts > 1 else 0
        return attn + mlp + router + 2 * self.hidden

    def total_weights(self) -> int:
        return self.layers * self.layer_weights() + 2 * self.vocab * self.hidden


def _load_presets() -> dict[str, dict[str, Any]]:
    text = resources.files("xcompass").joinpath("data/models.json").read_text()
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


PRESETS: dict[str, dict[str, Any]] = _load_presets()


def preset_names() -> list[str]:
    return sorted(PRESETS)


def preset(name: str) -> ModelConfig:
    """A preset by name (case-insensitive: Llama3-8B is llama3-8b)."""
    if name not in PRESETS:
        folded = {n.lower(): n for n in PRESETS}
        if name.lower() not in folded:
            raise XcompassError(
                f"unknown model '{shown(name, 60)}'{did_you_mean(name, PRESETS)} "
                f"(valid: {', '.join(preset_names())}, or a config.json path)"
            )
        name = folded[name.lower()]
    return ModelConfig(name=name, head_dim=128, **PRESETS[name])


# --- Hugging Face config.json -------------------------------------------------------------

_ACT_ALIASES = {
    "silu": "silu",
    "swish": "silu",
    "swiglu": "silu",
    "gelu": "gelu",
    "gelu_new": "gelu",
    "gelu_fast": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "relu": "relu",
}


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _int(value: Any, where: str, key: str, field_name: str | None = None) -> int:
    """An integer config value within the limit of the ModelConfig field it becomes."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise XcompassError(f"{where}: key '{key}' must be an integer, got {_short(value)}")
    if field_name is not None:
        lo, hi = LIMITS[field_name]
        if not lo <= value <= hi:
            raise XcompassError(
                f"{where}: key '{key}' must be between {lo} and {hi:,}, got {_short(value)}"
            )
    return value


def _number(value: Any, where: str, key: str) -> float:
    """A finite number (JSON's NaN / Infinity are refused when parsed)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise XcompassError(f"{where}: key '{key}' must be a number, got {_short(value)}")
    if isinstance(value, int) and abs(value) > 2**53:
        raise XcompassError(f"{where}: key '{key}' is out of range, got {_short(value)}")
    out = float(value)
    if not math.isfinite(out) or not 0 < out < 1:
        raise XcompassError(f"{where}: key '{key}' must be a number in (0, 1), got {_short(value)}")
    return out


def _str(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise XcompassError(f"{where}: key '{key}' must be a string, got {_short(value)}")
    return value


def _bool(value: Any, where: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise XcompassError(f"{where}: key '{key}' must be true or false, got {_short(value)}")
    return value


def _opt_int(
    cfg: dict[str, Any], where: str, key: str, field_name: str, zero_is_unset: bool = False
) -> int | None:
    """An optional integer key: None when absent or null (and 0 when that means unset)."""
    value = cfg.get(key)
    if value is None:
        return None
    value = _int(value, where, key)
    if zero_is_unset and value == 0:
        return None
    return _int(value, where, key, field_name)


def _first_int(cfg: dict[str, Any], where: str, field_name: str, *keys: str) -> int:
    """The first of `keys` present (not null), within the field's limits; else a diagnostic."""
    for key in keys:
        if cfg.get(key) is not None:
            return _int(cfg[key], where, key, field_name)
    alts = " or ".join(f"'{k}'" for k in keys)
    raise XcompassError(f"{where}: missing required key {alts}")


def from_hf_config(cfg: dict[str, Any], name: str, where: str) -> ModelConfig:
    """Map Llama / Mistral / Mixtral / Qwen2 / OPT / GPT-2/3-style keys onto a ModelConfig.

    Every value used is checked for its kind (integer, number, string, boolean) and range."""
    if not isinstance(cfg, dict):
        raise XcompassError(f"{where}: expected a JSON object at the top level")
    model_type = cfg.get("model_type")
    model_type = "" if model_type is None else _str(model_type, where, "model_type").lower()
    gpt_style = model_type in ("gpt2", "gpt3", "gptj", "gpt_neo") or "n_embd" in cfg
    opt_style = model_type == "opt" or "ffn_dim" in cfg

    hidden = _first_int(cfg, where, "hidden", "hidden_size", "n_embd", "d_model")
    layers = _first_int(cfg, where, "layers", "num_hidden_layers", "n_layer")
    heads = _first_int(cfg, where, "heads", "num_attention_heads", "n_head")
    kv_heads = _opt_int(cfg, where, "num_key_value_heads", "kv_heads", zero_is_unset=True)
    vocab = _first_int(cfg, where, "vocab", "vocab_size")
    head_dim = _opt_int(cfg, where, "head_dim", "head_dim", zero_is_unset=True) or hidden // heads

    if gpt_style:
        ffn = _opt_int(cfg, where, "n_inner", "ffn", zero_is_unset=True) or 4 * hidden
        act_key, act_default, gated, norm = "activation_function", "gelu_new", False, "layer"
        eps_key, eps_default = "layer_norm_epsilon", 1e-5
        max_pos = (
            _opt_int(cfg, where, "n_positions", "max_pos", zero_is_unset=True)
            or _opt_int(cfg, where, "max_position_embeddings", "max_pos", zero_is_unset=True)
            or 2048
        )
    elif opt_style:
        ffn = _first_int(cfg, where, "ffn", "ffn_dim")
        act_key, act_default, gated, norm = "activation_function", "relu", False, "layer"
        eps_key, eps_default = "layer_norm_eps", 1e-5
        max_pos = _opt_int(cfg, where, "max_position_embeddings", "max_pos") or 2048
    else:
        ffn = _first_int(cfg, where, "ffn", "intermediate_size")
        act_key, act_default, gated, norm = "hidden_act", "silu", True, "rms"
        eps_key, eps_default = "rms_norm_eps", 1e-6
        max_pos = _opt_int(cfg, where, "max_position_embeddings", "max_pos") or 4096
    act = cfg.get(act_key)
    act = act_default if act is None else _str(act, where, act_key)
    if act not in _ACT_ALIASES:
        raise XcompassError(
            f"{where}: unsupported activation '{shown(act, 40)}' "
            f"(supported: {', '.join(_ACT_ALIASES)})"
        )
    eps = cfg.get(eps_key)
    eps = eps_default if eps is None else _number(eps, where, eps_key)
    window = _opt_int(cfg, where, "sliding_window", "window") or 0
    use_window = cfg.get("use_sliding_window")
    use_window = False if use_window is None else _bool(use_window, where, "use_sliding_window")
    if model_type == "qwen2" and not use_window:
        window = 0
    experts = (
        _opt_int(cfg, where, "num_local_experts", "experts", zero_is_unset=True)
        or _opt_int(cfg, where, "num_experts", "experts", zero_is_unset=True)
        or 1
    )
    # 0 means "no MoE" in dense configs; with experts, each token must pick at least one
    top_k = _opt_int(cfg, where, "num_experts_per_tok", "top_k", zero_is_unset=experts == 1) or 1
    enable_bias = cfg.get("enable_bias")
    enable_bias = True if enable_bias is None else _bool(enable_bias, where, "enable_bias")
    if hidden != heads * head_dim:
        raise XcompassError(
            f"{where}: hidden_size {hidden} != num_attention_heads {heads} x head_dim {head_dim}"
        )
    if top_k > experts:
        raise XcompassError(f"{where}: num_experts_per_tok {top_k} exceeds the {experts} experts")
    return ModelConfig(
        name=name,
        hidden=hidden,
        layers=layers,
        heads=heads,
        kv_heads=kv_heads or heads,
        head_dim=head_dim,
        ffn=_int(ffn, where, "intermediate_size", "ffn"),
        vocab=vocab,
        mlp=_ACT_ALIASES[act],
        gated=gated,
        norm=norm,
        norm_eps=float(eps),
        max_pos=max_pos,
        rope=not (gpt_style or opt_style),
        bias=enable_bias if opt_style else gpt_style,
        window=window,
        experts=experts,
        top_k=top_k,
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:
        raise ValueError(f"integer {text[:20]}... is out of range")
    return int(text)


def load_config_file(path: str | Path) -> ModelConfig:
    """Read a Hugging Face config.json: UTF-8 JSON, at most MAX_JSON_BYTES, no NaN / Infinity."""
    raw_path = Path(path)
    path = shown(path)  # as diagnostics name it
    try:  # a regular file only: a FIFO would block, /dev/zero never ends
        raw = fileio.read_regular(raw_path, MAX_JSON_BYTES)
    except fileio.TooLarge:
        raise XcompassError(
            f"{path}: larger than {MAX_JSON_BYTES // 2**20} MiB, not a model config"
        ) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise XcompassError(f"{path}: cannot read model config ({reason})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XcompassError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    try:
        cfg = json.loads(text, parse_constant=_no_constant, parse_int=_json_int)
    except json.JSONDecodeError as exc:
        raise XcompassError(
            f"{path}:{exc.lineno}:{exc.colno}: malformed JSON ({exc.msg})"
        ) from None
    except RecursionError:
        raise XcompassError(f"{path}: malformed JSON (nested too deeply)") from None
    except ValueError as exc:
        raise XcompassError(f"{path}: malformed JSON ({exc})") from None
    folder = raw_path.parent.name
    name = folder if raw_path.name == "config.json" and folder else raw_path.stem
    return from_hf_config(cfg, shown(name, 60) or "model", path)


def resolve_model(spec: str) -> ModelConfig:
    """A preset name, or a path to a Hugging Face config.json."""
    if spec in PRESETS:
        return preset(spec)
    try:
        exists = Path(spec).exists()  # a FIFO or a device too: refused as not a regular file
    except (OSError, ValueError):  # a name too long for the OS, a NUL byte
        exists = False
    if spec.endswith(".json") or exists:
        return load_config_file(spec)
    return preset(spec)  # raises with the list of valid names
