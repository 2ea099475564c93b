"""MLflow tracking hook: flattened params, metrics, artifacts and tables in a SQLite store, nesting,
crashed / interrupted / killed stages end FAILED (never RUNNING), and the disabled mode logs nothing."""
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from talkclip import tracking
from talkclip.config.model import ModelConfig
from talkclip.config.train import TrainConfig
from talkclip.tracking import flatten_params, resolve_tracking_uri, tracked_run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _tracking_env(monkeypatch):
    monkeypatch.setenv("TALKCLIP_MLFLOW", "1")
    for name in ("TALKCLIP_MLFLOW_URI", "TALKCLIP_MLFLOW_PARENT_RUN_ID", "TALKCLIP_MLFLOW_EXPERIMENT",
                 "TALKCLIP_MLFLOW_ARTIFACTS", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite store for the module (creating its tables takes seconds)."""
    root = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{root / 'mlruns.db'}", root


def _client(uri):
    from mlflow import MlflowClient

    return MlflowClient(uri)


def _runs(uri, experiment):
    client = _client(uri)
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id]) if found else []


def test_flatten_params_expands_configs_and_nesting():
    flat = flatten_params({"train": TrainConfig(), "model": {"beta": 0.6, "sizes": [1, 2]}, "empty": {}, "x": None})
    assert flat["train.lambda_rec"] == "88.0" and flat["train.p_schedule"] == "linear"
    assert flat["model.beta"] == "0.6" and flat["model.sizes"] == "[1, 2]"
    assert flat["empty"] == "{}" and flat["x"] == "None"
    assert len([k for k in flat if k.startswith("train.")]) == len(TrainConfig.__dataclass_fields__)
    assert len(flatten_params({"a": "x" * 10000})["a"]) == 6000  # MLflow's value limit


def test_uris_are_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri("sqlite:///sub/m.db") == f"sqlite:///{tmp_path / 'sub' / 'm.db'}"
    assert resolve_tracking_uri("runs.db") == f"sqlite:///{tmp_path / 'runs.db'}"
    assert resolve_tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path / 'mlruns.db'}"  # no DVC repository: the folder
    monkeypatch.setenv("TALKCLIP_MLFLOW_URI", "sqlite:///env.db")
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path / 'env.db'}"
    assert tracking.artifact_root(resolve_tracking_uri(None)) == tmp_path / "mlartifacts"
    with pytest.raises(tracking.TrackingError, match="in-memory"):
        resolve_tracking_uri("sqlite:///:memory:")


def test_default_store_is_the_dvc_repository_of_the_working_folder_not_the_package(tmp_path, monkeypatch):
    """Runs made on a user's own data go with that data; MLflow's MLFLOW_TRACKING_URI is honoured."""
    project = tmp_path / "my_project"
    (project / ".dvc").mkdir(parents=True)
    (project / "data" / "raw").mkdir(parents=True)
    monkeypatch.chdir(project / "data" / "raw")
    assert tracking.repo_root() == project
    assert resolve_tracking_uri(None) == f"sqlite:///{project / 'mlruns.db'}"
    assert REPO not in Path(resolve_tracking_uri(None)[len("sqlite:///"):]).parents
    monkeypatch.chdir(tmp_path)  # outside any DVC repository: the working folder
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///from_mlflow.db")
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path / 'from_mlflow.db'}"
    monkeypatch.setenv("TALKCLIP_MLFLOW_URI", "sqlite:///ours.db")  # the project's own variable wins
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path / 'ours.db'}"
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.delenv("TALKCLIP_MLFLOW_URI")
    assert resolve_tracking_uri(None) == f"sqlite:///{REPO / 'mlruns.db'}"  # the pipeline, run from the repository


def test_disabled_mode_logs_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TALKCLIP_MLFLOW", "0")
    uri = f"sqlite:///{tmp_path / 'off.db'}"
    with tracked_run("train", {"train": TrainConfig()}, uri) as run:
        assert not run.enabled and run.run_id is None
        run.on_log("stage1", 1, {"loss": 1.0})
        run.log_table(pd.DataFrame({"a": [1]}), "t")
    assert not (tmp_path / "off.db").exists() and not (tmp_path / "mlartifacts").exists()


def test_run_logs_params_metrics_artifacts_and_tables(store, tmp_path):
    uri, root = store
    checkpoint = tmp_path / "final.pt"
    checkpoint.write_bytes(b"weights")
    table = pd.DataFrame({"method": ["TalkCLIP", "w/o VG"], "style_acc": [0.9, 0.7]})
    with tracked_run("train", {"model": ModelConfig(), "train": TrainConfig()}, uri, experiment="exp-log") as run:
        run.on_log("stage1", 100, {"loss_rec": 0.5, "note": "skipped", "flag": True})
        run.on_log("stage1", 200, {"loss_rec": 0.25})
        run.log_metrics(200, {"val_rec": 0.3})
        run.log_artifact(checkpoint, "checkpoints")
        run.log_table(table, "table2")
    (logged,) = _runs(uri, "exp-log")
    assert logged.info.status == "FINISHED" and logged.info.run_name == "train"
    assert logged.data.params["model.beta"] == "0.6" and logged.data.params["train.lambda_rec"] == "88.0"
    assert logged.data.metrics == {"stage1/loss_rec": 0.25, "val_rec": 0.3}  # strings and bools are not metrics
    history = _client(uri).get_metric_history(logged.info.run_id, "stage1/loss_rec")
    assert [(m.step, m.value) for m in history] == [(100, 0.5), (200, 0.25)]
    # Artifacts live under <db folder>/mlartifacts/<experiment>, an absolute location.
    artifact_dir = Path(logged.info.artifact_uri.removeprefix("file://"))
    assert artifact_dir.is_relative_to(root / "mlartifacts" / "exp-log")
    assert (artifact_dir / "checkpoints" / "final.pt").read_bytes() == b"weights"
    assert pd.read_csv(artifact_dir / "tables" / "table2.csv").equals(table)
    assert (artifact_dir / "tables" / "table2.json").is_file()
    with tracked_run("bad", {}, uri, experiment="exp-log") as run, pytest.raises(FileNotFoundError, match="missing.pt"):
        run.log_artifact(tmp_path / "missing.pt")


@pytest.mark.parametrize("exception", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_crashed_stage_ends_failed(store, exception):
    uri, _ = store
    experiment = f"exp-crash-{type(exception).__name__}"
    with pytest.raises(type(exception)), tracked_run("train", {"a": 1}, uri, experiment=experiment):
        raise exception
    (run,) = _runs(uri, experiment)
    assert run.info.status == "FAILED"
    assert run.data.tags["talkclip.error"].startswith(type(exception).__name__)


def test_sigterm_ends_the_run_failed(store):
    uri, _ = store
    script = textwrap.dedent(f"""
        import os, signal
        from talkclip.tracking import tracked_run
        with tracked_run("stage", {{}}, {uri!r}, experiment="exp-sigterm"):
            os.kill(os.getpid(), signal.SIGTERM)
    """)
    env = {**os.environ, "TALKCLIP_MLFLOW": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr[-2000:]
    (run,) = _runs(uri, "exp-sigterm")
    assert run.info.status == "FAILED" and run.data.tags["talkclip.error"] == f"SystemExit({128 + signal.SIGTERM})"


def test_orphaned_running_run_is_marked_failed(store):
    uri, _ = store
    client = _client(uri)
    experiment_id = tracking.get_or_create_experiment(client, "exp-orphan", uri)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs: the "SIGKILLed stage"
    orphan = client.create_run(experiment_id, tags={tracking.TAG_HOST: socket.gethostname(),
                                                     tracking.TAG_PID: str(dead.pid)})
    with tracked_run("next", {}, uri, experiment="exp-orphan"):
        pass
    statuses = {r.info.run_id: r.info.status for r in _runs(uri, "exp-orphan")}
    assert statuses[orphan.info.run_id] == "FAILED" and sorted(statuses.values()) == ["FAILED", "FINISHED"]


def test_nested_runs(store, monkeypatch):
    uri, _ = store
    # In-process nesting: the inner nested run's parent is the enclosing tracked_run.
    with (
        tracked_run("ablations", {}, uri, experiment="exp-nest") as outer,
        tracked_run("ablation", {"train": {"ablation": "no_vg"}}, uri, experiment="exp-nest", nested=True,
                    run_name="no_vg") as inner,
    ):
        pass
    runs = {r.info.run_id: r for r in _runs(uri, "exp-nest")}
    assert runs[inner.run_id].data.tags["mlflow.parentRunId"] == outer.run_id
    assert "mlflow.parentRunId" not in runs[outer.run_id].data.tags

    # Across processes (DVC stages): the parent id comes from the environment.
    monkeypatch.setenv("TALKCLIP_MLFLOW_PARENT_RUN_ID", outer.run_id)
    with tracked_run("ablation", {}, uri, experiment="exp-nest", nested=True, run_name="no_clip") as child:
        pass
    assert _client(uri).get_run(child.run_id).data.tags["mlflow.parentRunId"] == outer.run_id
    monkeypatch.setenv("TALKCLIP_MLFLOW_PARENT_RUN_ID", "0123456789abcdef")
    with (
        pytest.raises(tracking.TrackingError, match="0123456789abcdef"),
        tracked_run("ablation", {}, uri, experiment="exp-nest", nested=True),
    ):
        pass
    monkeypatch.delenv("TALKCLIP_MLFLOW_PARENT_RUN_ID")

    # A named container run is created once (FINISHED) and reused by every stage that names it.
    ids = []
    for variant in ("full", "simanno"):
        with tracked_run("ablation", {}, uri, experiment="exp-nest", nested=True, parent_name="table2",
                         run_name=variant) as run:
            ids.append(_client(uri).get_run(run.run_id).data.tags["mlflow.parentRunId"])
    assert ids[0] == ids[1]
    container = _client(uri).get_run(ids[0])
    assert container.info.status == "FINISHED" and container.info.run_name == "table2"
    assert all(r.info.status != "RUNNING" for r in _runs(uri, "exp-nest"))


def test_ablation_stages_share_one_parent_per_base_configuration():
    import dataclasses

    from talkclip.cli import _ablation_nesting

    model, train = ModelConfig(), TrainConfig()
    # Every variant nests under the parent of the full-model configuration it is derived from.
    simanno = _ablation_nesting(model, train)
    assert simanno == _ablation_nesting(model, train) and simanno["nested"]
    assert simanno["parent_name"].startswith("ablations-")
    # Another learning rate or model size is another set of ablations: another parent.
    assert _ablation_nesting(model, dataclasses.replace(train, lr=2e-3)) != simanno
    assert _ablation_nesting(dataclasses.replace(model, beta=0.4), train) != simanno


def test_runs_carry_the_commit_the_dvc_experiment_and_their_dataset(store, tmp_path, monkeypatch):
    uri, _ = store
    repo = tmp_path / "repo"
    (repo / ".dvc").mkdir(parents=True)
    for args in (["init", "-q"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
    manifest = repo / "manifest.csv"
    manifest.write_text("clip_id,split,frames\na,train,50\nb,test,60\n")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("DVC_EXP_NAME", "lofty-fern")
    monkeypatch.setenv("DVC_STAGE", "train")
    with tracked_run("train", {}, uri, experiment="exp-provenance") as run:
        run.log_dataset(manifest, "processed")
    found = _client(uri).get_run(run.run_id)
    assert found.data.tags["mlflow.source.git.commit"] == commit
    assert found.data.tags["dvc.experiment"] == "lofty-fern" and found.data.tags["dvc.stage"] == "train"
    inputs = found.inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["processed"] and str(manifest) in inputs[0].dataset.source
    manifest.write_text("clip_id,split,frames\na,train,51\n")  # uncommitted changes are said so
    assert tracking.provenance_tags(repo)["mlflow.source.git.commit"] == commit  # manifest untracked: clean
