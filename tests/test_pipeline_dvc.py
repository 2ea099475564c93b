"""The real entry points on one tiny pipeline: `dvc repro` of every stage in a fresh repository (CI
profile shrunk further), run once and then reused (the tests below run in file order on that repo):
nothing reruns the second time, a params change reruns exactly what depends on it, a new ablation file
trains only itself and gets its Table 2 row, a local DVC remote restores the outputs, and the CI gate
fails on a deliberately broken configuration."""
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
pytestmark = pytest.mark.slow

# Smaller than profiles/ci.yaml: the tests check that the stages connect, not what they learn. One
# training, one validation (learning curves) and one test speaker, four of the eight emotions: 10 clips
# per speaker instead of 22 cut the evaluate and ablations stages by a third (256 -> 193 s for the whole
# pipeline alone, benchmarks/RESULTS.md). All eight run in `.ci/pipeline-gate` and the default pipeline.
TINY = {
    "corpus": {"n_speakers": 3, "n_val_speakers": 1, "hdtf_speakers": 1,
               "emotions": ["angry", "happy", "neutral", "sad"]},
    "train": {"batch_size": 4, "stage1_steps": 20, "stage2_steps": 20, "checkpoint_every": 10, "log_every": 10,
              "eval_every": 10},
    "sync": {"steps": 10, "eval_windows": 32, "log_every": 5},
    "syncnet": {"steps": 4, "batch_size": 4, "width": 0.125, "eval_clips": 2, "log_every": 2},
}
STAGES = ("corpus", "preprocess", "annotate", "sync_pretrain", "syncnet", "train_v2ss", "train", "evaluate",
          "ablations", "report")


def run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def out_of_date(status: str) -> set[str]:
    return {line[:-1] for line in status.splitlines() if line.endswith(":") and not line.startswith(("\t", " "))}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A new git + DVC repository with the pipeline's code and the tiny profile, after one `dvc repro`:
    (folder, environment, dvc executable, the first run's stdout)."""
    repo = tmp_path_factory.mktemp("pipeline") / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    for folder in ("pipelines", "talkclip", "evaluation", "profiles", "ablations"):
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
    return repo, env, dvc, first.stdout


def test_dvc_repro_runs_every_stage(pipeline):
    repo, _, _, stdout = pipeline
    for stage in STAGES:
        assert f"Running stage '{stage}'" in stdout, stdout[-2000:]
    preprocess = json.loads((repo / "metrics" / "preprocess.json").read_text())
    # 3 speakers x (neutral at one level + 3 emotions at 3 levels) + the HDTF-format clip
    assert preprocess["clips"] == 3 * (1 + 3 * 3) + 1 and preprocess["frame_agreement_mean"] >= 0.75
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
    ablations = json.loads((repo / "metrics" / "ablations.json").read_text())
    assert set(ablations) == {"simanno", "no_adapter", "no_vg", "no_clip"}
    # The text-side variants started from the full model's stage 1; w/o VG trained on its own.
    shared = {name: json.loads((repo / "models" / "ablations" / name / "variant.json").read_text())["shared_stage1"]
              for name in ablations}
    assert shared == {"simanno": True, "no_adapter": True, "no_clip": True, "no_vg": False}
    curves = (repo / "models" / "v2ss" / "curves.csv").read_text()
    assert "video_style_accuracy" in curves and (repo / "reports" / "learning_curves.png").stat().st_size > 1000
    evaluation = json.loads((repo / "metrics" / "eval.json").read_text())
    assert {"ood_accuracy", "ood_accuracy_ood_descriptions_unseen", "style_accuracy_text",
            "style_accuracy_video"} <= set(evaluation)


def test_second_repro_does_nothing(pipeline):
    repo, env, dvc, _ = pipeline
    again = run([dvc, "repro"], repo, env)
    assert "Running stage" not in again.stdout and "up to date" in again.stdout


def test_a_params_change_reruns_what_depends_on_it(pipeline):
    """A stage-2-only setting (the p schedule) leaves the V2SS stage alone; the SSIM form (stage 1) reruns
    both training stages but not D_sync or the SyncNet; beta (text side only) also reruns both, as the
    V2SS stage cannot tell which model keys it reads."""
    repo, env, dvc, _ = pipeline
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for key, value, stale, fresh in (
        ("train.p_final", 0.3, {"train", "ablations"}, {"train_v2ss", "sync_pretrain", "syncnet", "preprocess"}),
        ("train.ssim_form", "range", {"train_v2ss", "train"}, {"sync_pretrain", "syncnet", "preprocess", "corpus"}),
        ("evaluate.image_size", 96, {"evaluate", "ablations"}, {"train", "train_v2ss", "syncnet"}),
    ):
        section, name = key.split(".")
        changed = {**params, section: {**params[section], name: value}}
        (repo / "params.yaml").write_text(yaml.safe_dump(changed, sort_keys=False))
        status = out_of_date(run([dvc, "status"], repo, env).stdout)
        assert stale <= status and not fresh & status, (key, status)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_a_new_ablation_file_trains_only_itself_and_joins_table2(pipeline):
    repo, env, dvc, _ = pipeline
    before = {name: (repo / "models" / "ablations" / name / "variant.json").stat().st_mtime
              for name in ("simanno", "no_adapter", "no_vg", "no_clip")}
    (repo / "ablations" / "no_sync.yaml").write_text(
        "label: w/o L_sync\norder: 5\ntests: Whether the lip-sync loss matters.\noverrides:\n  train:\n    lambda_sync: 0.0\n")
    status = out_of_date(run([dvc, "status"], repo, env).stdout)
    assert status == {"ablations"}, status
    done = run([dvc, "repro"], repo, env)
    assert "Running stage 'ablations'" in done.stdout and "Running stage 'train'" not in done.stdout
    after = {name: (repo / "models" / "ablations" / name / "variant.json").stat().st_mtime for name in before}
    assert after == before  # the four variants were kept, not retrained
    variant = json.loads((repo / "models" / "ablations" / "no_sync" / "variant.json").read_text())
    assert variant["shared_stage1"] is False  # lambda_sync shapes stage 1: its own
    assert "w/o L_sync" in (repo / "reports" / "table2.md").read_text()


def test_a_local_dvc_remote_restores_the_outputs(pipeline, tmp_path):
    """The README's recipe: push the corpus and models to a remote, pull them into a fresh checkout."""
    repo, env, dvc, _ = pipeline
    storage = tmp_path / "dvc-storage"
    run([dvc, "remote", "add", "-d", "--local", "labstore", str(storage)], repo, env)
    run([dvc, "push"], repo, env)
    checkpoint = repo / "models" / "train" / "checkpoints" / "final.pt"
    content = checkpoint.read_bytes()
    shutil.rmtree(repo / ".dvc" / "cache")
    shutil.rmtree(repo / "models" / "train")
    run([dvc, "pull", "train"], repo, env)
    assert checkpoint.read_bytes() == content
    assert not out_of_date(run([dvc, "status", "train"], repo, env).stdout)
    # The rest of the cache back from the remote: with outputs missing from the cache, the next test's
    # `dvc repro evaluate` would rerun every stage from the corpus instead of the two training stages.
    run([dvc, "pull"], repo, env)
    assert not out_of_date(run([dvc, "status"], repo, env).stdout)


def test_gate_fails_when_a_broken_config_pushes_metrics_past_their_thresholds(pipeline):
    """A regression a careless change could make: the reconstruction loss switched off. Only the
    training and evaluation stages rerun; the gate (told --any-profile: this is not the CI profile) must
    catch the drift in the landmark metrics while what the change cannot touch still passes."""
    repo, env, dvc, _ = pipeline
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["lambda_rec"] = 0.0
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    done = run([dvc, "repro", "evaluate"], repo, env)
    ran = {stage for stage in STAGES if f"Running stage '{stage}'" in done.stdout}
    assert ran == {"train_v2ss", "train", "evaluate"}, ran
    talkclip = str(Path(sys.executable).parent / "talkclip")
    gate = subprocess.run([talkclip, "gate", "--any-profile", "--out", "gates.csv"], cwd=repo, env=env, check=False,
                          capture_output=True, text=True)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "gates FAILED" in gate.stdout
    status = {row["gate"]: row["status"] for row in csv.DictReader((repo / "gates.csv").open())}
    assert status["f_lmd_text"] == "FAIL" and status["m_lmd_text"] == "FAIL", gate.stdout
    assert status["alignment_frame_agreement"] == "pass", gate.stdout
