"""Decoder-only LLM hyper-parameters: shipped presets and Hugging Face `config.json` import.

The core describes a model as plain numbers so the cost model and the search can use it
without any IR; the importer turns a `ModelConfig` into `llm` dialect ops.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from xcompass.errors import XcompassError

ACTIVATIONS = ("silu", "gelu", "relu")
NORMS = ("rms", "layer")
DTYPE_BYTES = {"bf16": 2, "f16": 2, "f32": 4, "i8": 1}


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
        for key in ("hidden", "layers", "heads", "kv_heads", "head_dim", "ffn", "vocab"):
            if getattr(self, key) <= 0:
                raise XcompassError(f"{where}: {key} must be positive, got {getattr(self, key)}")
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
    if name not in PRESETS:
        raise XcompassError(
            f"unknown model '{name}' (valid: {', '.join(preset_names())}, or a config.json path)"
        )
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


def _need(cfg: dict[str, Any], where: str, *keys: str) -> Any:
    """The first of `keys` present in the config, or a diagnostic naming them."""
    for key in keys:
        if cfg.get(key) is not None:
            return cfg[key]
    alts = " or ".join(f"'{k}'" for k in keys)
    raise XcompassError(f"{where}: missing required key {alts}")


def _int(value: Any, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise XcompassError(f"{where}: key '{key}' must be an integer, got {value!r}")
    return value


def from_hf_config(cfg: dict[str, Any], name: str, where: str) -> ModelConfig:
    """Map Llama / Mistral / Mixtral / Qwen2 / OPT / GPT-2/3-style keys onto a ModelConfig."""
    if not isinstance(cfg, dict):
        raise XcompassError(f"{where}: expected a JSON object at the top level")
    model_type = str(cfg.get("model_type", "")).lower()
    gpt_style = model_type in ("gpt2", "gpt3", "gptj", "gpt_neo") or "n_embd" in cfg
    opt_style = model_type == "opt" or "ffn_dim" in cfg

    hidden = _int(_need(cfg, where, "hidden_size", "n_embd", "d_model"), where, "hidden_size")
    layers = _int(_need(cfg, where, "num_hidden_layers", "n_layer"), where, "num_hidden_layers")
    heads = _int(_need(cfg, where, "num_attention_heads", "n_head"), where, "num_attention_heads")
    kv_heads = _int(cfg.get("num_key_value_heads") or heads, where, "num_key_value_heads")
    vocab = _int(_need(cfg, where, "vocab_size"), where, "vocab_size")
    if heads <= 0:
        raise XcompassError(f"{where}: num_attention_heads must be positive, got {heads}")
    head_dim = _int(cfg.get("head_dim") or hidden // heads, where, "head_dim")

    if gpt_style:
        ffn = cfg.get("n_inner") or 4 * hidden
        act, gated, norm = cfg.get("activation_function", "gelu_new"), False, "layer"
        eps = cfg.get("layer_norm_epsilon", 1e-5)
        max_pos = cfg.get("n_positions") or cfg.get("max_position_embeddings") or 2048
    elif opt_style:
        ffn = _need(cfg, where, "ffn_dim")
        act, gated, norm = cfg.get("activation_function", "relu"), False, "layer"
        eps = cfg.get("layer_norm_eps", 1e-5)
        max_pos = cfg.get("max_position_embeddings", 2048)
    else:
        ffn = _need(cfg, where, "intermediate_size")
        act, gated, norm = cfg.get("hidden_act", "silu"), True, "rms"
        eps = cfg.get("rms_norm_eps", 1e-6)
        max_pos = cfg.get("max_position_embeddings", 4096)
    ffn = _int(ffn, where, "intermediate_size")
    if act not in _ACT_ALIASES:
        raise XcompassError(
            f"{where}: unsupported activation '{act}' (supported: {', '.join(_ACT_ALIASES)})"
        )
    window = cfg.get("sliding_window") or 0
    if model_type == "qwen2" and not cfg.get("use_sliding_window", False):
        window = 0
    experts = _int(cfg.get("num_local_experts") or cfg.get("num_experts") or 1, where, "experts")
    top_k = _int(cfg.get("num_experts_per_tok") or 1, where, "num_experts_per_tok")
    if hidden != heads * head_dim:
        raise XcompassError(
            f"{where}: hidden_size {hidden} != num_attention_heads {heads} x head_dim {head_dim}"
        )
    return ModelConfig(
        name=name,
        hidden=hidden,
        layers=layers,
        heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        ffn=ffn,
        vocab=vocab,
        mlp=_ACT_ALIASES[act],
        gated=gated,
        norm=norm,
        norm_eps=float(eps),
        max_pos=int(max_pos),
        rope=not (gpt_style or opt_style),
        bias=bool(cfg.get("enable_bias", True)) if opt_style else gpt_style,
        window=_int(window, where, "sliding_window"),
        experts=experts,
        top_k=top_k,
    )


def load_config_file(path: str | Path) -> ModelConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise XcompassError(f"{path}: cannot read model config ({exc.strerror})") from None
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise XcompassError(
            f"{path}:{exc.lineno}:{exc.colno}: malformed JSON ({exc.msg})"
        ) from None
    name = path.parent.name if path.name == "config.json" and path.parent.name else path.stem
    return from_hf_config(cfg, name or "model", str(path))


def resolve_model(spec: str) -> ModelConfig:
    """A preset name, or a path to a Hugging Face config.json."""
    if spec in PRESETS:
        return preset(spec)
    if spec.endswith(".json") or Path(spec).is_file():
        return load_config_file(spec)
    return preset(spec)  # raises with the list of valid names
