import json

import pytest

from xcompass.errors import XcompassError
from xcompass.model.models import (
    from_hf_config,
    load_config_file,
    preset,
    preset_names,
    resolve_model,
)


def test_every_preset_is_consistent():
    for name in preset_names():
        m = preset(name)
        assert m.hidden == m.heads * m.head_dim, name
        assert m.heads % m.kv_heads == 0, name


def test_parameter_counts_match_published_sizes():
    # Llama-3-8B has 8.03 B parameters, Llama-3-70B 70.6 B, Mixtral-8x7B 46.7 B.
    assert round(preset("llama3-8b").total_weights() / 1e9, 2) == 8.03
    assert round(preset("llama3-70b").total_weights() / 1e9, 1) == 70.6
    assert round(preset("mixtral-8x7b").total_weights() / 1e9, 1) == 46.7


def test_qwen2_sliding_window_only_when_enabled():
    cfg = {
        "model_type": "qwen2",
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "num_hidden_layers": 28,
        "vocab_size": 152064,
        "sliding_window": 131072,
        "use_sliding_window": False,
    }
    assert from_hf_config(cfg, "q", "c.json").window == 0


def test_gpt2_defaults_inner_size_to_4x():
    cfg = {"model_type": "gpt2", "n_embd": 768, "n_head": 12, "n_layer": 12, "vocab_size": 50257}
    m = from_hf_config(cfg, "gpt2", "c.json")
    assert (m.ffn, m.mlp, m.norm, m.rope, m.bias) == (3072, "gelu", "layer", False, True)


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ([1, 2], "expected a JSON object"),
        ({"hidden_size": 64}, "missing required key 'num_hidden_layers' or 'n_layer'"),
        (
            {
                "hidden_size": "big",
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "vocab_size": 8,
                "intermediate_size": 8,
            },
            "key 'hidden_size' must be an integer",
        ),
        (
            {
                "hidden_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "vocab_size": 8,
                "intermediate_size": 8,
                "hidden_act": "tanh",
            },
            "unsupported activation 'tanh'",
        ),
        (
            {
                "hidden_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 3,
                "vocab_size": 8,
                "intermediate_size": 8,
            },
            r"heads \(4\) not divisible by kv_heads \(3\)",
        ),
        (
            {
                "hidden_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "head_dim": 32,
                "vocab_size": 8,
                "intermediate_size": 8,
            },
            "hidden_size 64 != num_attention_heads 4 x head_dim 32",
        ),
    ],
)
def test_bad_configs(cfg, message):
    with pytest.raises(XcompassError, match=message):
        from_hf_config(cfg, "m", "c.json")


def test_config_file_name_comes_from_its_folder(tmp_path):
    folder = tmp_path / "tiny-llama"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps(
            {
                "hidden_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "vocab_size": 8,
                "intermediate_size": 128,
            }
        )
    )
    m = load_config_file(folder / "config.json")
    assert (m.name, m.symbol, m.head_dim, m.kv_heads) == ("tiny-llama", "tiny_llama", 16, 4)


def test_unknown_name_lists_presets():
    with pytest.raises(XcompassError, match="unknown model 'gpt5'.*llama3-8b"):
        resolve_model("gpt5")
