"""Ray Tune sweeps over TalkCLIP's hand-set choices: p schedule (shape, final p), beta, loss weights.

Every trial trains a full TalkCLIP (talkclip.training.trainer.train) with its sampled overrides,
scores a fixed set of windows of the validation speakers (split ``val``; talkclip.training.validation;
never the test split the tables report) every ``train.log_every`` steps and
reports it to Tune, so that ASHA stops unpromising trials early (its time unit is the training
step). Each trial is an MLflow run (MLflowLoggerCallback) nested under one "sweep" run that also
holds the results table and the best config.

Where it runs
-------------
Local by default: Ray is started inside this process with one CPU slot per core
(``ray.init(num_cpus=os.cpu_count(), include_dashboard=False)``: 2-9 s of start-up depending on
machine load, 0.8 GB resident for Ray's own processes; each trial process adds ~0.5-1 GB with
torch) and shut down at the end. ``ray stop`` is never
called: it kills every Ray process on the host, including other users' clusters.

To use a running cluster, pass ``address`` (``talkclip sweep --address 127.0.0.1:6379``)::

    ray start --head --node-ip-address 127.0.0.1 --port 6379 --num-cpus 8 --include-dashboard false
    # Ray 2.60 enables token authentication by default (RAY_AUTH_MODE=token; "disabled" opts out):
    # the token is ~/.ray/auth_token on the head; a driver or worker on another host needs the
    # same token, in its own ~/.ray/auth_token or in RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH.
    # Ray's servers listen on all interfaces whatever the node address: keep the token on, or
    # firewall the ports, on shared machines.
    ray start --address <head ip>:6379        # on each worker machine (same Python env and repo)
    ...
    ray stop                                  # only on machines you own, when done

Workers must reach the data folders and the MLflow SQLite file at the same absolute paths (a
shared filesystem), since trials read ``processed_dir`` and the callback writes the tracking DB.

Crashes and resumption
----------------------
A trial that raises is marked ERROR (its MLflow run FAILED) and the sweep goes on
(``sweep.max_failures`` retries first). The experiment folder is
``<storage_path>/<name>-<hash of the sweep's inputs>``: running the same sweep again with
``sweep.resume: true`` restores it (``Tuner.restore``): finished trials are kept, unfinished ones
continue from their own last training checkpoint (``<out_dir>/trials/<trial id>``); errored trials
stay errored. A changed search space or base config hashes to a new folder, so an old experiment
is never resumed with different inputs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from talkclip import tracking
from talkclip.atomic import write_text
from talkclip.config.loader import ConfigError, to_dict
from talkclip.config.model import ModelConfig
from talkclip.config.sweep import SweepConfig
from talkclip.config.train import SyncPretrainConfig, TrainConfig
from talkclip.preprocess.dataset import read_manifest

RESULTS_FILE = "sweep_results.csv"
BEST_CONFIG_FILE = "best_config.yaml"
DEFAULT_EXPERIMENT = "talkclip-sweep"
TAG_SWEEP = "talkclip.sweep"  # tag of every trial run: the Tune experiment folder name
# Sweepable keys (as in params.yaml) -> the SweepConfig field holding their range/choices.
SEARCH_KEYS = {
    "train.p_schedule": "p_schedule",
    "train.p_final": "p_final",
    "model.beta": "beta",
    "train.lambda_rec": "lambda_rec",
    "train.lambda_cos": "lambda_cos",
    "train.lambda_sync": "lambda_sync",
    "train.lambda_tem": "lambda_tem",
}
LOG_UNIFORM = {"lambda_rec", "lambda_cos", "lambda_sync", "lambda_tem"}


class SweepError(RuntimeError):
    """The sweep produced no usable trial, or was interrupted before every trial ended."""


# ---------------------------------------------------------------------------------------- search space
def search_space(sweep_cfg: SweepConfig) -> dict[str, Any]:
    """The Tune param space, keyed like params.yaml (``train.p_final``); fixed ranges stay constants."""
    from ray import tune

    space: dict[str, Any] = {}
    for key, field_name in SEARCH_KEYS.items():
        value = getattr(sweep_cfg, field_name)
        if field_name == "p_schedule":
            space[key] = value[0] if len(value) == 1 else tune.choice(list(value))
            continue
        low, high = value
        if low == high:
            space[key] = float(low)
        elif field_name in LOG_UNIFORM:
            space[key] = tune.loguniform(low, high)
        else:
            space[key] = tune.uniform(low, high)
    return space


def apply_overrides(
    model_cfg: ModelConfig, train_cfg: TrainConfig, overrides: Mapping[str, Any]
) -> tuple[ModelConfig, TrainConfig]:
    """Apply ``{"train.p_final": 0.4, "model.beta": 0.5}`` with dataclasses.replace (configs re-validate)."""
    per_section: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        target = {"model": model_cfg, "train": train_cfg}.get(section)
        if target is None or name not in {f.name for f in dataclasses.fields(target)}:
            raise ConfigError(f"sweep override {key!r}: expected model.<field> or train.<field> of the configs")
        per_section[section][name] = value
    return (dataclasses.replace(model_cfg, **per_section["model"]),
            dataclasses.replace(train_cfg, **per_section["train"]))


def best_config_yaml(overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"train.p_final": 0.4}`` -> ``{"train": {"p_final": 0.4}}`` (params.yaml layout)."""
    nested: dict[str, dict[str, Any]] = {}
    for key, value in sorted(overrides.items()):
        section, _, name = key.partition(".")
        nested.setdefault(section, {})[name] = value.item() if hasattr(value, "item") else value
    return nested


# ---------------------------------------------------------------------------------------- the trial
@dataclass(frozen=True)
class TrialSetup:
    """Everything a trial needs besides its sampled overrides (shipped to Ray workers)."""

    model_cfg: ModelConfig
    train_cfg: TrainConfig
    processed_dir: str
    annotated_dir: str
    sync_checkpoint: str | None
    trials_dir: str
    cache_dir: str
    eval_windows: int
    eval_seed: int
    cpus_per_trial: int
    # model config -> text backbone; None loads the configured one (MiniLM/CLIP, offline).
    backbone_factory: Callable[[ModelConfig], Any] | None = None


def run_trial(config: dict[str, Any], setup: TrialSetup) -> None:
    """Tune function trainable: train with ``config``'s overrides, report held-out metrics each log."""
    import torch
    from ray import tune

    from talkclip.training.trainer import train
    from talkclip.training.validation import ValidationSet

    torch.set_num_threads(setup.cpus_per_trial)
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars of parallel trials would interleave
    model_cfg, train_cfg = apply_overrides(setup.model_cfg, setup.train_cfg, config)
    if setup.backbone_factory is not None:
        backbone = setup.backbone_factory(model_cfg)
    else:
        from talkclip.model.text_backbone import load_text_backbone

        backbone = load_text_backbone(model_cfg)
    validation = ValidationSet.build(
        setup.processed_dir, setup.annotated_dir, model_cfg, train_cfg, backbone, setup.cache_dir,
        n_windows=setup.eval_windows, seed=setup.eval_seed,
    )
    latest: dict[str, float] = {}

    def on_eval(stage: str, step: int, model) -> None:
        latest.clear()
        latest.update(validation.evaluate(model))

    def on_log(stage: str, step: int, metrics: dict[str, float]) -> None:
        report = {"global_step": step, "stage_index": 1 if stage == "stage1" else 2}
        report.update({f"train_{k}": v for k, v in metrics.items()})
        report.update(latest)
        tune.report(report)

    # The trial's own folder, stable across Tuner.restore: train() resumes from its last.pt.
    out_dir = Path(setup.trials_dir) / tune.get_context().get_trial_id()
    train(model_cfg, train_cfg, setup.processed_dir, setup.annotated_dir, out_dir, setup.sync_checkpoint,
          on_log=on_log, resume=True, backbone=backbone, cache_dir=setup.cache_dir, on_eval=on_eval)


# ---------------------------------------------------------------------------------------- results
def _trial_name(trial) -> str:
    return f"trial_{trial.trial_id}"


def saved_trial_status(experiment_dir: str | Path) -> dict[str, str]:
    """Trial name -> status in Tune's saved experiment state (TERMINATED / ERROR; PENDING / RUNNING /
    PAUSED for trials an interruption left unfinished, which the in-memory ResultGrid reports as
    TERMINATED once their actors are stopped)."""
    from ray.tune import ExperimentAnalysis

    return {_trial_name(t): str(t.status) for t in ExperimentAnalysis(str(experiment_dir)).trials}


def results_table(
    result_grid, sweep_cfg: SweepConfig, total_steps: int, run_ids: Mapping[str, str], status_of: Mapping[str, str]
) -> pd.DataFrame:
    """One row per trial: id, status, error, sampled overrides, last and best metric, steps trained."""
    rows = []
    for result in result_grid:
        name = Path(result.path).name
        status = status_of.get(name) or ("ERROR" if result.error is not None else "TERMINATED")
        metrics = result.metrics or {}
        history = result.metrics_dataframe
        metric_values = (history[sweep_cfg.metric].dropna() if history is not None and sweep_cfg.metric in history
                         else pd.Series(dtype=float))
        steps = int(metrics.get("global_step", 0) or 0)
        row = {
            "trial": name,
            "status": status,
            "error": _error_text(result.error),
            "steps": steps,
            "stopped_early": status == "TERMINATED" and steps < total_steps,
            "mlflow_run_id": run_ids.get(name, ""),
        }
        row.update({key: (result.config or {}).get(key) for key in SEARCH_KEYS})
        row[sweep_cfg.metric] = float(metrics[sweep_cfg.metric]) if sweep_cfg.metric in metrics else math.nan
        best = metric_values.min() if sweep_cfg.mode == "min" else metric_values.max()
        row[f"best_{sweep_cfg.metric}"] = float(best) if len(metric_values) else math.nan
        for key in ("val_rec", "val_l1", "val_rec_video", "val_emotion_acc"):
            if key != sweep_cfg.metric:
                row[key] = float(metrics[key]) if key in metrics else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.sort_values(sweep_cfg.metric, ascending=sweep_cfg.mode == "min", na_position="last")
    return table.reset_index(drop=True)


def _error_text(error: BaseException | None) -> str:
    """The trial's own exception (Ray wraps it in a RayTaskError whose first line is the actor)."""
    if error is None:
        return ""
    cause = getattr(error, "cause", None) or error
    text = re.sub(r"\x1b\[[0-9;]*m", "", f"{type(cause).__name__}: {cause}")  # no terminal colours
    return text.strip().splitlines()[-1][:300] if text.strip() else type(cause).__name__


def _best_row(table: pd.DataFrame, sweep_cfg: SweepConfig) -> pd.Series:
    """The finished trial with the best final metric (trials stopped early compete with their last value)."""
    usable = table[(table["status"] == "TERMINATED") & table[sweep_cfg.metric].notna()]
    usable = usable[usable[sweep_cfg.metric].map(math.isfinite)]
    if usable.empty:
        errors = "; ".join(f"{r.trial}: {r.error}" for r in table.itertuples() if r.error) or "no metric reported"
        raise SweepError(f"no trial of the sweep reported a finite {sweep_cfg.metric} ({errors})")
    ordered = usable.sort_values(sweep_cfg.metric, ascending=sweep_cfg.mode == "min")
    return ordered.iloc[0]


def _fingerprint(sweep_cfg: SweepConfig, setup: TrialSetup) -> str:
    """Hash of what determines the trials' results (not how many run at once or where they are stored)."""
    sweep_part = {k: v for k, v in to_dict(sweep_cfg).items()
                  if k not in ("resume", "storage_path", "max_concurrent_trials", "cpus_per_trial", "max_failures")}
    payload = {"sweep": sweep_part, "model": to_dict(setup.model_cfg), "train": to_dict(setup.train_cfg),
               "data": [setup.processed_dir, setup.annotated_dir, setup.sync_checkpoint]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _mlflow_trial_runs(tracking_uri: str, experiment_id: str, experiment_name: str) -> dict[str, str]:
    """trial name -> MLflow run id of the Tune experiment's trials (the callback tags them ``trial_name``).

    Found by the ``talkclip.sweep`` tag rather than the parent run: trials of a resumed sweep keep
    the callback (and parent run) of the invocation that started them.
    """
    client, _ = tracking.mlflow_client(tracking_uri)
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{TAG_SWEEP}` = '{experiment_name}'",
                              order_by=["attributes.start_time ASC"])
    return {run.data.tags.get("trial_name", ""): run.info.run_id for run in runs}  # latest run of a name wins


def _fail_unfinished_trial_runs(tracking_uri: str, experiment_id: str, experiment_name: str) -> int:
    """End FAILED the trial runs the callback left RUNNING (it does not end them when the sweep is
    interrupted); a resumed trial logs into a new run. Returns how many were closed."""
    client, _ = tracking.mlflow_client(tracking_uri)
    runs = client.search_runs(
        [experiment_id], filter_string=f"attributes.status = 'RUNNING' and tags.`{TAG_SWEEP}` = '{experiment_name}'"
    )
    for run in runs:
        client.set_tag(run.info.run_id, tracking.TAG_ERROR, "sweep interrupted before the trial ended")
        client.set_terminated(run.info.run_id, status="FAILED")
    return len(runs)


# ---------------------------------------------------------------------------------------- the sweep
def run_sweep(
    sweep_cfg: SweepConfig,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    sync_cfg: SyncPretrainConfig | None,
    processed_dir: str | Path,
    annotated_dir: str | Path,
    sync_checkpoint: str | Path | None,
    out_dir: str | Path,
    address: str | None = None,
    tracking_uri: str | None = None,
    *,
    experiment: str = DEFAULT_EXPERIMENT,
    num_cpus: int | None = None,
    backbone_factory: Callable[[ModelConfig], Any] | None = None,
    verbose: int = 1,
) -> pd.DataFrame:
    """Run (or resume) the sweep; write ``out_dir/sweep_results.csv`` and ``out_dir/best_config.yaml``.

    sync_cfg: the D_sync pretraining config (logged with the sweep; its clip_frames must equal
    train.clip_frames because the frozen D_sync scores L-frame windows).
    address: an existing Ray cluster ("host:port" or "auto"); None starts Ray in this process.
    tracking_uri: MLflow backend (default: see ``talkclip.tracking.resolve_tracking_uri``);
    with ``TALKCLIP_MLFLOW=0`` nothing is logged to MLflow.
    num_cpus: CPUs of the in-process Ray (default os.cpu_count()).
    backbone_factory: model config -> text backbone, for tests (must be importable by the workers).
    Returns the results table (one row per trial, best first). Raises SweepError when no trial
    reported the metric (the table is written first).
    """
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    if train_cfg.workers > 1:
        # A trial is one process with sweep.cpus_per_trial threads (as train.threads is the trial's): the
        # data-parallel keys say where a training runs, not what it computes (training/distributed.py).
        print(f"sweep: trials train in one process each (train.workers {train_cfg.workers}, train.use_gpu and "
              "train.address apply to `talkclip train`)", file=sys.stderr)
        train_cfg = dataclasses.replace(train_cfg, workers=1, use_gpu=False, address="")
    if sync_cfg is not None and train_cfg.lambda_sync > 0 and sync_cfg.clip_frames != train_cfg.clip_frames:
        raise ConfigError(
            f"sync.clip_frames ({sync_cfg.clip_frames}) must equal train.clip_frames ({train_cfg.clip_frames})"
        )
    processed_dir, annotated_dir, out_dir = (Path(p).resolve() for p in (processed_dir, annotated_dir, out_dir))
    if not (processed_dir / "manifest.csv").is_file():
        raise FileNotFoundError(f"{processed_dir / 'manifest.csv'}: processed dataset not found (run preprocess)")
    if not (read_manifest(processed_dir / "manifest.csv")["split"] == "val").any():
        raise ConfigError(
            f"{processed_dir / 'manifest.csv'}: no 'val' clips; sweeps select on validation speakers, never on "
            "the test split (set corpus.n_val_speakers >= 1 for the embedded corpus, preprocess.val_speakers "
            "for real MEAD folders, and rerun preprocessing)"
        )
    if not (annotated_dir / "descriptions.csv").is_file():
        raise FileNotFoundError(f"{annotated_dir / 'descriptions.csv'}: descriptions not found (run annotate)")
    if sync_checkpoint is not None and not Path(sync_checkpoint).is_file():
        raise FileNotFoundError(f"{sync_checkpoint}: D_sync checkpoint not found (run sync pretraining)")
    storage = Path(sweep_cfg.storage_path)
    storage = (storage if storage.is_absolute() else tracking.repo_root() / storage).resolve()
    # Ray chdirs trials into their own folders: every path a trial sees is absolute.
    setup = TrialSetup(
        model_cfg=model_cfg, train_cfg=train_cfg, processed_dir=str(processed_dir), annotated_dir=str(annotated_dir),
        sync_checkpoint=str(Path(sync_checkpoint).resolve()) if sync_checkpoint is not None else None,
        trials_dir=str(out_dir / "trials"), cache_dir=str(out_dir / "embedding_cache"),
        eval_windows=sweep_cfg.eval_windows, eval_seed=sweep_cfg.eval_seed, cpus_per_trial=sweep_cfg.cpus_per_trial,
        backbone_factory=backbone_factory,
    )
    experiment_name = f"{sweep_cfg.name}-{_fingerprint(sweep_cfg, setup)}"
    experiment_dir = storage / experiment_name
    from talkclip.training.trainer import stage_lengths

    total_steps = sum(stage_lengths(train_cfg).values())
    max_t = sweep_cfg.max_t or total_steps

    track = tracking.tracking_enabled()
    uri = tracking.resolve_tracking_uri(tracking_uri) if track else None
    params = {"sweep": sweep_cfg, "model": model_cfg, "train": train_cfg, "sync": sync_cfg or {},
              "data": {"processed": str(processed_dir), "annotated": str(annotated_dir),
                       "sync_checkpoint": setup.sync_checkpoint}}
    started_ray = False
    with tracking.tracked_run("sweep", params, uri, experiment, run_name=experiment_name,
                              nested=bool(os.environ.get(tracking.ENV_PARENT_RUN_ID))) as sweep_run:
        try:
            if not ray.is_initialized():
                if address:
                    ray.init(address=address, log_to_driver=verbose > 0)
                else:
                    ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=verbose > 0)
                started_ray = True
            callbacks = []
            if track:
                from ray.air.integrations.mlflow import MLflowLoggerCallback

                # Created first, with an absolute artifact location (the callback would create it
                # relative to the driver's working folder).
                client, _ = tracking.mlflow_client(uri)
                tracking.get_or_create_experiment(client, experiment, uri)
                callbacks.append(MLflowLoggerCallback(
                    tracking_uri=uri, experiment_name=experiment,
                    tags={tracking.TAG_PARENT: sweep_run.run_id, tracking.TAG_STAGE: "sweep_trial",
                          TAG_SWEEP: experiment_name},
                ))
            trainable = tune.with_resources(tune.with_parameters(run_trial, setup=setup),
                                            {"cpu": sweep_cfg.cpus_per_trial})
            if sweep_cfg.resume and tune.Tuner.can_restore(str(experiment_dir)):
                tuner = tune.Tuner.restore(str(experiment_dir), trainable, resume_unfinished=True,
                                           resume_errored=False, restart_errored=False)
            else:
                if experiment_dir.exists():  # resume: false (or an unrestorable leftover): start over
                    shutil.rmtree(experiment_dir)
                tuner = tune.Tuner(
                    trainable,
                    param_space=search_space(sweep_cfg),
                    tune_config=tune.TuneConfig(
                        metric=sweep_cfg.metric, mode=sweep_cfg.mode, num_samples=sweep_cfg.num_samples,
                        scheduler=ASHAScheduler(time_attr="global_step", max_t=max_t,
                                                grace_period=min(sweep_cfg.grace_period, max_t),
                                                reduction_factor=sweep_cfg.reduction_factor),
                        # The generator's own max_concurrent (Tune ignores TuneConfig's for generators).
                        search_alg=BasicVariantGenerator(random_state=sweep_cfg.seed,
                                                         max_concurrent=sweep_cfg.max_concurrent_trials),
                        trial_name_creator=_trial_name, trial_dirname_creator=_trial_name,
                    ),
                    run_config=tune.RunConfig(
                        name=experiment_name, storage_path=str(storage), callbacks=callbacks,
                        failure_config=tune.FailureConfig(max_failures=sweep_cfg.max_failures, fail_fast=False),
                        verbose=verbose,
                    ),
                )
            result_grid = tuner.fit()
        finally:
            if started_ray:
                ray.shutdown()
            if track:
                _fail_unfinished_trial_runs(uri, sweep_run.experiment_id, experiment_name)

        run_ids = _mlflow_trial_runs(uri, sweep_run.experiment_id, experiment_name) if track else {}
        table = results_table(result_grid, sweep_cfg, total_steps, run_ids, saved_trial_status(experiment_dir))
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text(out_dir / RESULTS_FILE, table.to_csv(index=False))
        sweep_run.log_table(table, "sweep_results")
        sweep_run.log_metrics(0, {"trials": len(table), "trials_errored": int((table["status"] == "ERROR").sum()),
                                  "trials_stopped_early": int(table["stopped_early"].sum())})
        unfinished = table[~table["status"].isin(["TERMINATED", "ERROR"])]
        if not unfinished.empty:  # Ctrl+C: Tune saved its state and returned early
            raise SweepError(
                f"sweep interrupted with {len(unfinished)} unfinished trial(s) {list(unfinished['trial'])}; "
                f"run it again with sweep.resume true to continue {experiment_dir} (partial table: {out_dir / RESULTS_FILE})"
            )
        best = _best_row(table, sweep_cfg)
        overrides = {key: best[key] for key in SEARCH_KEYS}
        header = (f"# Best of {len(table)} trials of Ray Tune experiment {experiment_dir}\n"
                  f"# by {sweep_cfg.metric} ({sweep_cfg.mode}) = {best[sweep_cfg.metric]:.6g}, trial {best['trial']}"
                  f" ({best['steps']} steps). Merge into params.yaml or apply with dvc exp run -S.\n")
        write_text(out_dir / BEST_CONFIG_FILE, header + yaml.safe_dump(best_config_yaml(overrides), sort_keys=True))
        sweep_run.log_artifact(out_dir / BEST_CONFIG_FILE)
        sweep_run.log_metrics(0, {f"best_{sweep_cfg.metric}": float(best[sweep_cfg.metric])})
    return table
