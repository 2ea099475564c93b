"""Ray Tune sweep end to end on a tiny model and toy data: trials run, are logged to MLflow, a crashing
trial does not stop the sweep, results and best config are written, a rerun resumes (restores)."""
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_training_toy import tiny_model_config, toy_training_data

from talkclip.config.loader import ConfigError
from talkclip.config.sweep import SweepConfig
from talkclip.config.train import SyncPretrainConfig, TrainConfig
from talkclip.sweep import SEARCH_KEYS, apply_overrides, best_config_yaml, search_space

TESTS_DIR = Path(__file__).resolve().parent
MODEL = tiny_model_config()
TRAIN = TrainConfig(seed=1, device="cpu", batch_size=4, lr=1e-3, disc_lr=1e-3, clip_frames=32, stage1_steps=4,
                    stage2_steps=6, checkpoint_every=5, log_every=2)


class CrashOnce:
    """Text-backbone factory whose first call (in whichever trial comes first) raises: a deliberately
    crashing trial. The marker file is the only state shared between Ray worker processes."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __call__(self, model_cfg):
        from test_training_toy import HashBackbone

        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL)  # exactly one caller wins
        except FileExistsError:
            return HashBackbone()
        os.close(fd)
        raise RuntimeError("deliberate trial crash (test)")


def test_search_space_and_overrides():
    cfg = SweepConfig(p_schedule=["cosine"], beta=(0.5, 0.5), lambda_sync=(0.0, 0.0))
    space = search_space(cfg)
    assert set(space) == set(SEARCH_KEYS)
    assert space["train.p_schedule"] == "cosine" and space["model.beta"] == 0.5 and space["train.lambda_sync"] == 0.0
    assert type(space["train.lambda_rec"]).__name__ == "Float"  # sampled (log-uniform)
    model, train = apply_overrides(MODEL, TRAIN, {"train.p_final": 0.4, "model.beta": 0.7})
    assert (train.p_final, model.beta, train.lambda_rec) == (0.4, 0.7, TRAIN.lambda_rec)
    with pytest.raises(ConfigError, match="train.p_final"):
        apply_overrides(MODEL, TRAIN, {"train.p_final": 1.5})
    with pytest.raises(ConfigError, match="train.nope"):
        apply_overrides(MODEL, TRAIN, {"train.nope": 1})
    assert best_config_yaml({"train.p_final": 0.4, "model.beta": 0.7}) == {"model": {"beta": 0.7},
                                                                         "train": {"p_final": 0.4}}


def test_sweep_config_is_strict():
    from talkclip.config.loader import build, to_dict

    data = to_dict(SweepConfig())
    assert build(SweepConfig, data, "sweep") == SweepConfig()
    with pytest.raises(ConfigError, match="sweep.lambda_cos"):
        SweepConfig(lambda_cos=(0.0, 1.0))  # log-uniform from 0
    with pytest.raises(ConfigError, match="sweep.mode"):
        SweepConfig(metric="val_emotion_acc", mode="min")
    with pytest.raises(ConfigError, match="sweep.p_schedule"):
        SweepConfig(p_schedule=["linear", "sigmoid"])
    with pytest.raises(ConfigError, match="sweep.p_final"):
        SweepConfig(p_final=(0.2, 1.2))
    with pytest.raises(ConfigError, match="unknown key"):
        build(SweepConfig, {**data, "num_trials": 3}, "sweep")


@pytest.mark.slow
def test_sweep_refuses_a_dataset_without_validation_speakers(tmp_path):
    from test_training_toy import build_toy_dataset

    from talkclip.config.loader import ConfigError
    from talkclip.sweep import run_sweep

    processed, annotated = build_toy_dataset(tmp_path, val_speakers=())
    with pytest.raises(ConfigError, match="no 'val' clips.*never on the test split"):
        run_sweep(SweepConfig(), MODEL, TRAIN, None, processed, annotated, None, tmp_path / "sweep")


def test_two_trial_sweep_with_a_crash_completes_logs_and_resumes(tmp_path, monkeypatch):
    import mlflow

    from talkclip.sweep import BEST_CONFIG_FILE, RESULTS_FILE, run_sweep

    # Ray workers import the test helpers (the backbone factory) from tests/.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("TALKCLIP_MLFLOW", "1")
    monkeypatch.delenv("TALKCLIP_MLFLOW_PARENT_RUN_ID", raising=False)
    processed, annotated, sync = toy_training_data(tmp_path / "data", MODEL, clip_frames=32)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    sweep_cfg = SweepConfig(num_samples=2, max_concurrent_trials=2, cpus_per_trial=1, grace_period=4,
                            reduction_factor=2.0, eval_windows=8, storage_path=str(tmp_path / "ray_results"))
    sync_cfg = SyncPretrainConfig(clip_frames=32)
    out = tmp_path / "sweep"
    kwargs = {"tracking_uri": uri, "num_cpus": 2, "backbone_factory": CrashOnce(tmp_path / "crashed"), "verbose": 0}
    table = run_sweep(sweep_cfg, MODEL, TRAIN, sync_cfg, processed, annotated, sync, out, **kwargs)

    assert len(table) == 2
    assert (table["status"] == "ERROR").sum() == 1
    assert "deliberate trial crash" in table.loc[table["status"] == "ERROR", "error"].item()
    finished = table[table["status"] == "TERMINATED"]
    assert len(finished) == 1 and finished["val_rec"].notna().all() and (finished["steps"] >= 4).all()
    assert set(SEARCH_KEYS) <= set(table.columns)
    # Sampled values respect the ranges.
    assert table["train.p_final"].between(*sweep_cfg.p_final).all()
    assert table["train.lambda_rec"].between(*sweep_cfg.lambda_rec).all()

    on_disk = pd.read_csv(out / RESULTS_FILE)
    assert list(on_disk["trial"]) == list(table["trial"])
    best = yaml.safe_load((out / BEST_CONFIG_FILE).read_text())
    best_row = finished.sort_values("val_rec").iloc[0]
    assert best["train"]["p_final"] == pytest.approx(best_row["train.p_final"])
    assert best["model"]["beta"] == pytest.approx(best_row["model.beta"])
    assert set(best) == {"train", "model"}

    # MLflow: a FINISHED sweep run holding the table, two trial runs nested under it, the crash FAILED.
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("talkclip-sweep")
    runs = client.search_runs([experiment.experiment_id])
    sweep_runs = [r for r in runs if r.data.tags.get("talkclip.stage") == "sweep"]
    trial_runs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == sweep_runs[0].info.run_id]
    assert len(sweep_runs) == 1 and sweep_runs[0].info.status == "FINISHED"
    assert sorted(r.info.status for r in trial_runs) == ["FAILED", "FINISHED"]
    assert set(table["mlflow_run_id"]) == {r.info.run_id for r in trial_runs}
    done = next(r for r in trial_runs if r.info.status == "FINISHED")
    assert "val_rec" in done.data.metrics and "train.p_final" in done.data.params
    assert len(client.get_metric_history(done.info.run_id, "val_rec")) >= 2  # reported periodically
    artifacts = {a.path for a in client.list_artifacts(sweep_runs[0].info.run_id)}
    assert {"tables", BEST_CONFIG_FILE} <= artifacts

    # Running the same sweep again restores the finished experiment instead of training anew.
    again = run_sweep(sweep_cfg, MODEL, TRAIN, sync_cfg, processed, annotated, sync, out, **kwargs)
    assert sorted(again["trial"]) == sorted(table["trial"])
    assert set(again["mlflow_run_id"]) == set(table["mlflow_run_id"])  # the same trial runs, not new ones
    assert not list((out / "trials").glob("*/checkpoints/*.tmp*"))
