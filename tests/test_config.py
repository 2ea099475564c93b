from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from talkclip.config.corpus import CorpusConfig
from talkclip.config.loader import ConfigError, build, load_section, to_dict


@dataclass(frozen=True)
class Inner:
    rate: float
    names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outer:
    count: int
    mode: Literal["a", "b"]
    inner: Inner
    flag: bool = False


def test_build_converts_nested_sections_and_ints_to_floats():
    cfg = build(Outer, {"count": 3, "mode": "b", "inner": {"rate": 1, "names": ["x"]}, "flag": False})
    assert cfg == Outer(count=3, mode="b", inner=Inner(rate=1.0, names=["x"]))
    assert isinstance(cfg.inner.rate, float)
    assert to_dict(cfg) == {"count": 3, "mode": "b", "inner": {"rate": 1.0, "names": ["x"]}, "flag": False}


@pytest.mark.parametrize(
    "data, message",
    [
        ({"count": 3, "mode": "a", "inner": {"rate": 1.0, "names": []}, "flag": True, "colour": 1}, "unknown key(s) sec.colour"),
        ({"count": 3, "mode": "a", "inner": {"rate": 1.0, "names": []}}, "missing key sec.flag (expected bool)"),
        ({"mode": "a", "inner": {"rate": 1.0, "names": []}, "flag": True}, "missing key sec.count (expected int)"),
        ({"count": "3", "mode": "a", "inner": {"rate": 1.0, "names": []}, "flag": True}, "count: expected int, got '3'"),
        ({"count": 3.5, "mode": "a", "inner": {"rate": 1.0, "names": []}, "flag": True}, "count: expected int"),
        ({"count": True, "mode": "a", "inner": {"rate": 1.0, "names": []}, "flag": True}, "count: expected int"),
        ({"count": 3, "mode": "c", "inner": {"rate": 1.0, "names": []}, "flag": True}, "mode: expected one of 'a', 'b', got 'c'"),
        ({"count": 3, "mode": "a", "inner": {"rate": "fast", "names": []}, "flag": True}, "inner.rate: expected float"),
        ({"count": 3, "mode": "a", "inner": {"rate": 1.0, "names": "x"}, "flag": True}, "inner.names: expected a list"),
        ({"count": 3, "mode": "a", "inner": {"rate": 1.0, "names": []}, "flag": "yes"}, "flag: expected bool"),
    ],
)
def test_build_errors_name_the_key_and_expected_type(data, message):
    with pytest.raises(ConfigError) as err:
        build(Outer, data, "sec")
    assert message in str(err.value)
    assert "sec." in str(err.value)


def test_load_section_names_file_and_section(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("corpus:\n  n_speakers: 4\n  n_test_speaker: 1\n")
    with pytest.raises(ConfigError) as err:
        load_section(path, "corpus", CorpusConfig)
    assert str(path) in str(err.value) and "corpus.n_test_speaker" in str(err.value)
    with pytest.raises(ConfigError, match="missing section 'preprocess'"):
        load_section(path, "preprocess", CorpusConfig)
    with pytest.raises(ConfigError, match="not found"):
        load_section(tmp_path / "nope.yaml", "corpus", CorpusConfig)


def test_corpus_cross_field_validation():
    with pytest.raises(ConfigError, match="n_test_speakers"):
        CorpusConfig(n_speakers=2, n_test_speakers=2)
    with pytest.raises(ConfigError, match="mead_fps"):
        CorpusConfig(mead_fps=24)


def test_repository_params_file_is_valid():
    from talkclip.config.params import load_params

    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    assert params.corpus.n_speakers >= 1


def test_a_key_set_in_the_wrong_section_points_at_the_right_one(tmp_path):
    # `dvc exp run -S train.beta=0.4` writes train.beta; beta is a model setting.
    import yaml

    from talkclip.config.model import ModelConfig
    from talkclip.config.train import TrainConfig

    repo_params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    repo_params["train"]["beta"] = 0.4
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(repo_params))
    with pytest.raises(ConfigError) as err:
        load_section(path, "train", TrainConfig)
    assert "unknown key(s) train.beta" in str(err.value) and "did you mean model.beta?" in str(err.value)
    # the model section itself still loads; a plain typo names no other section
    assert load_section(path, "model", ModelConfig).beta == repo_params["model"]["beta"]
    repo_params["train"] = {**repo_params["train"], "lamda_rec": 1.0}
    del repo_params["train"]["beta"]
    path.write_text(yaml.safe_dump(repo_params))
    with pytest.raises(ConfigError) as err:
        load_section(path, "train", TrainConfig)
    assert "train.lamda_rec" in str(err.value) and "did you mean" not in str(err.value)
