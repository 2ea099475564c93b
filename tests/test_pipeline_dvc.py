"""The real entry point: `dvc repro` of the whole pipeline in a fresh repository, CI profile shrunk further."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from talkclip.config.loader import build
from talkclip.config.params import Params
from talkclip.config.profiles import apply_profile, merge

ROOT = Path(__file__).resolve().parents[1]

# Smaller than profiles/ci.yaml: the test checks that the stages connect, not what they learn.
TINY = {
    # All 8 emotions (the contact sheet needs every column), one train and one test speaker.
    "corpus": {"n_speakers": 2, "hdtf_speakers": 1},
    "train": {"stage1_steps": 20, "stage2_steps": 20, "checkpoint_every": 10, "log_every": 10},
    "sync": {"steps": 10, "eval_windows": 32, "log_every": 5},
}


def run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_dvc_repro_runs_every_stage_and_then_nothing(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    for folder in ("pipelines", "talkclip", "evaluation"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    params = merge(apply_profile(ROOT / "params.yaml", ROOT / "profiles" / "ci.yaml"), TINY, "test")
    build(Params, params)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    env = dict(os.environ, DVC_NO_ANALYTICS="1", TALKCLIP_MLFLOW="0", PYTHONPATH=str(repo),
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    dvc = str(Path(sys.executable).parent / "dvc")
    run(["git", "init", "-q"], repo, env)
    run([dvc, "init", "-q"], repo, env)
    first = run([dvc, "repro"], repo, env)
    ablations = ("simanno", "no_adapter", "no_vg", "no_clip")
    for stage in ("corpus", "preprocess", "annotate", "sync_pretrain", "train", "evaluate", "report",
                  *(f"train_ablation@{a}" for a in ablations), *(f"evaluate_ablation@{a}" for a in ablations)):
        assert f"Running stage '{stage}'" in first.stdout, first.stdout[-2000:]
    preprocess = json.loads((repo / "metrics" / "preprocess.json").read_text())
    assert preprocess["clips"] == 2 * 22 + 1 and preprocess["frame_agreement_mean"] >= 0.75
    train = json.loads((repo / "metrics" / "train.json").read_text())
    assert train["completed"] and train["global_step"] == 40
    assert (repo / "models" / "train" / "checkpoints" / "final.pt").is_file()
    assert (repo / "data" / "corpus" / "contact_sheet.png").is_file()
    table1 = (repo / "reports" / "table1.md").read_text()
    assert "paper-reported (MEAD)" in table1 and "measured (embedded corpus" in table1
    table2 = (repo / "reports" / "table2.csv").read_text()
    assert all(name in table2 for name in ("SimAnno", "w/o Adapter", "w/o VG", "w/o CLIP", "Full"))

    again = run([dvc, "repro"], repo, env)
    assert "Running stage" not in again.stdout and "up to date" in again.stdout
