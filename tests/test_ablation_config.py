"""Ablation files (ablations/*.yaml): the paper's four variants as data, and every bad file named."""
from pathlib import Path

import pytest

from talkclip.config.ablation import load_ablation, load_ablations
from talkclip.config.loader import ConfigError
from talkclip.config.model import ModelConfig
from talkclip.config.train import TrainConfig
from talkclip.training.trainer import shares_stage1

ROOT = Path(__file__).resolve().parents[1]


def test_the_papers_ablations_in_table2_order():
    model, train = ModelConfig(), TrainConfig()
    ablations = load_ablations(ROOT / "ablations", model, train)
    assert [a.label for a in ablations] == ["SimAnno", "w/o Adapter", "w/o VG", "w/o CLIP"]
    configs = {a.name: a.apply(model, train) for a in ablations}
    assert configs["simanno"][1].descriptions == "simanno"
    assert configs["no_adapter"][0].use_adapter is False
    assert configs["no_vg"][1].video_guided is False
    assert configs["no_clip"][0].text_backbone == "random"
    # Which of them the pipeline starts from the full model's stage 1.
    assert {name: shares_stage1(model, train, *cfg) for name, cfg in configs.items()} == {
        "simanno": True, "no_adapter": True, "no_vg": False, "no_clip": True}


@pytest.mark.parametrize("text, message", [
    ("label: X\noverrides:\n  train:\n    lambda_syn: 0.0\n", "train.lambda_syn overrides a key"),
    ("label: X\noverrides:\n  train:\n    lambda_sync: fast\n", "train.lambda_sync"),
    ("label: X\noverrides:\n  corpus:\n    seed: 3\n", "only the model and train sections"),
    ("overrides:\n  train:\n    lambda_sync: 0.0\n", "missing key(s) label"),
    ("label: X\nweight: 3\noverrides:\n  train:\n    lambda_sync: 0.0\n", "unknown key(s) weight"),
    ("label: ''\noverrides:\n  train:\n    lambda_sync: 0.0\n", "label: expected a non-empty string"),
    ("- a\n- b\n", "expected a mapping"),
])
def test_bad_ablation_files_name_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="broken.yaml") as info:
        load_ablations(tmp_path, ModelConfig(), TrainConfig())
    assert message in str(info.value)


def test_names_and_labels(tmp_path):
    body = "label: Same\noverrides:\n  model:\n    beta: 1.0\n"
    (tmp_path / "beta_one.yaml").write_text(body)
    (tmp_path / "beta_two.yaml").write_text(body)
    with pytest.raises(ConfigError, match="already used"):
        load_ablations(tmp_path, ModelConfig(), TrainConfig())
    (tmp_path / "Bad-Name.yaml").write_text(body)
    with pytest.raises(ConfigError, match="Bad-Name.yaml"):
        load_ablation(tmp_path / "Bad-Name.yaml")
    (tmp_path / "full.yaml").write_text(body)
    with pytest.raises(ConfigError, match="full"):
        load_ablation(tmp_path / "full.yaml")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_ablations(tmp_path / "nowhere", ModelConfig(), TrainConfig())


def test_code_digest_follows_the_code_a_variant_runs(tmp_path):
    """A variant is reused only while the library code behind its results is unchanged: an edit to the
    model changes the digest, an edit to code the variants never run (the portrait renderer) does not."""
    import shutil

    import talkclip
    from talkclip.ablations import code_digest

    package = tmp_path / "talkclip"
    shutil.copytree(Path(talkclip.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    before = code_digest(package)
    assert before == code_digest(package) == code_digest()
    renderer = next((package / "portrait").glob("*.py"))
    renderer.write_text(renderer.read_text() + "\n# unrelated edit\n")
    assert code_digest(package) == before
    model = package / "model" / "talkclip_model.py"
    model.write_text(model.read_text() + "\n# an edit to the model\n")
    assert code_digest(package) != before


def test_code_paths_cover_the_ablations_stage_code_deps():
    """CODE_PATHS and the ablations stage's library deps in dvc.yaml name the same code: a dep DVC reruns
    the stage for, but that the reuse check ignores, would let a variant trained by old code be reused."""
    import yaml

    from talkclip.ablations import CODE_PATHS

    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["ablations"]
    library = {dep.removeprefix("talkclip/") for dep in stage["deps"] if dep.startswith("talkclip/")}
    covered = {dep for dep in library if any(dep == p or dep.startswith(p + "/") for p in CODE_PATHS)}
    assert library and covered == library, sorted(library - covered)
    # Every code path is a real file or folder of the package (a renamed module would hash nothing).
    package = ROOT / "talkclip"
    assert all((package / p).exists() for p in CODE_PATHS), [p for p in CODE_PATHS if not (package / p).exists()]
