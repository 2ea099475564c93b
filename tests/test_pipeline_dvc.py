"""The real entry points: `dvc repro` of the whole pipeline in a fresh repository (CI profile shrunk
further), and the CI regression gate failing on a deliberately broken configuration."""
import csv
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
    "syncnet": {"steps": 4, "batch_size": 4, "eval_clips": 2, "log_every": 2},
}


def run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def fresh_repo(root: Path, overrides: dict) -> tuple[Path, dict, str]:
    """A new git + DVC repository holding the pipeline's code and the CI profile with ``overrides``;
    returns (folder, environment, dvc executable)."""
    repo = root / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    for folder in ("pipelines", "talkclip", "evaluation", "profiles"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    params = merge(apply_profile(ROOT / "params.yaml", ROOT / "profiles" / "ci.yaml"), overrides, "test")
    build(Params, params)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    env = dict(os.environ, DVC_NO_ANALYTICS="1", TALKCLIP_MLFLOW="0", PYTHONPATH=str(repo),
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    dvc = str(Path(sys.executable).parent / "dvc")
    run(["git", "init", "-q"], repo, env)
    run([dvc, "init", "-q"], repo, env)
    return repo, env, dvc


@pytest.mark.slow
def test_dvc_repro_runs_every_stage_and_then_nothing(tmp_path):
    repo, env, dvc = fresh_repo(tmp_path, TINY)
    first = run([dvc, "repro"], repo, env)
    ablations = ("simanno", "no_adapter", "no_vg", "no_clip")
    for stage in ("corpus", "preprocess", "annotate", "sync_pretrain", "syncnet", "train_v2ss", "train", "evaluate",
                  "report",
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
    assert "syncnet.pt" in table1  # the Sync_conf column names the weights that produced it
    syncnet = json.loads((repo / "metrics" / "syncnet.json").read_text())
    assert syncnet["steps"] == 4 and 0.0 <= syncnet["offset_accuracy"] <= 1.0
    table2 = (repo / "reports" / "table2.csv").read_text()
    assert all(name in table2 for name in ("SimAnno", "w/o Adapter", "w/o VG", "w/o CLIP", "Full"))

    again = run([dvc, "repro"], repo, env)
    assert "Running stage" not in again.stdout and "up to date" in again.stdout

    # What a change reruns: a stage-2-only setting (the p schedule) leaves the V2SS stage alone; beta
    # (used by L_cos from the first step) invalidates both training stages but not D_sync or the SyncNet.
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for key, value, stale, fresh in (
        ("train.p_final", 0.3, {"train"}, {"train_v2ss", "sync_pretrain", "syncnet", "preprocess"}),
        ("model.beta", 0.4, {"train_v2ss", "train"}, {"sync_pretrain", "syncnet", "preprocess", "corpus"}),
    ):
        section, name = key.split(".")
        changed = {**params, section: {**params[section], name: value}}
        (repo / "params.yaml").write_text(yaml.safe_dump(changed, sort_keys=False))
        status = run([dvc, "status"], repo, env).stdout
        out_of_date = {line[:-1] for line in status.splitlines() if line.endswith(":") and not line.startswith(("\t", " "))}
        assert stale <= out_of_date and not fresh & out_of_date, (key, status)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


# A regression a careless change could make: the reconstruction loss switched off. Nothing else of
# the CI profile changes, except a shorter evaluation-SyncNet training to keep the test affordable
# (so the Sync_conf gate is not asserted on, and the gate is told to compare with --any-profile).
BROKEN = {"train": {"lambda_rec": 0.0}, "syncnet": {"steps": 20, "eval_clips": 2}}


@pytest.mark.slow
def test_gate_fails_when_a_broken_config_pushes_metrics_past_their_thresholds(tmp_path):
    repo, env, dvc = fresh_repo(tmp_path, BROKEN)
    run([dvc, "repro", "evaluate"], repo, env)
    talkclip = str(Path(sys.executable).parent / "talkclip")
    gate = subprocess.run([talkclip, "gate", "--any-profile", "--out", "gates.csv"], cwd=repo, env=env, check=False,
                          capture_output=True, text=True)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "gates FAILED" in gate.stdout
    status = {row["gate"]: row["status"] for row in csv.DictReader((repo / "gates.csv").open())}
    # Without L_rec the generated expressions drift: the landmark gates catch it ...
    assert status["f_lmd_text"] == "FAIL" and status["m_lmd_text"] == "FAIL", gate.stdout
    # ... while what the broken key cannot touch still passes.
    assert status["alignment_frame_agreement"] == "pass", gate.stdout
