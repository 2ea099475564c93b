"""ModelConfig: paper defaults and strict validation naming the key."""
import pytest

from talkclip.config.loader import ConfigError, build, to_dict
from talkclip.config.model import ModelConfig


def test_defaults_are_the_papers():
    cfg = ModelConfig()
    assert (cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.d_ff, cfg.dropout) == (256, 8, 3, 1024, 0.1)
    assert (cfg.n_phonemes, cfg.phoneme_embed_dim, cfg.window, cfg.window_size) == (41, 128, 5, 11)
    assert (cfg.style_max_frames, cfg.dynamic_kernels, cfg.dynamic_temperature) == (256, 8, 30.0)
    assert cfg.beta == 0.6 and cfg.use_adapter and cfg.text_backbone == "minilm"


def test_round_trip_through_loader():
    cfg = ModelConfig(d_model=64, n_heads=4, text_backbone="random")
    assert build(ModelConfig, to_dict(cfg), "model") == cfg


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"d_model": 250}, "model.d_model"),  # not a multiple of 8 heads
        ({"n_heads": 0}, "model.n_heads"),
        ({"dropout": 1.0}, "model.dropout"),
        ({"n_phonemes": 40}, "model.n_phonemes"),
        ({"window": -1}, "model.window"),
        ({"expression_dim": 70}, "model.expression_dim"),
        ({"dynamic_temperature": 0.0}, "model.dynamic_temperature"),
        ({"text_backbone": "bert"}, "model.text_backbone"),
        ({"text_backbone": "clip"}, "model.clip_path"),
        ({"beta": 1.5}, "model.beta"),
        ({"adapter_hidden": -1}, "model.adapter_hidden"),
        ({"text_max_tokens": 2}, "model.text_max_tokens"),
        ({"style_max_frames": 0}, "model.style_max_frames"),
    ],
)
def test_bad_values_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        ModelConfig(**overrides)


def test_loader_rejects_unknown_and_mistyped_keys():
    with pytest.raises(ConfigError, match="model.d_modle"):
        build(ModelConfig, {"d_modle": 256}, "model")
    mistyped = to_dict(ModelConfig()) | {"use_adapter": "yes"}
    with pytest.raises(ConfigError, match="model.use_adapter"):
        build(ModelConfig, mistyped, "model")
