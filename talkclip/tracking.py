"""MLflow tracking for every pipeline stage, as one context manager.

    with tracked_run("train", {"model": model_cfg, "train": train_cfg}) as run:
        result = train(..., on_log=run.on_log)
        run.log_artifact(result.checkpoint)
        run.log_table(table_1, "table1")

Where runs go:
- backend: ``tracking_uri`` argument, else ``$TALKCLIP_MLFLOW_URI``, else MLflow's own
  ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<root>/mlruns.db`` where ``<root>`` is the DVC repository
  that contains the working folder, or the working folder itself (:func:`repo_root`): runs made on a
  user's own data stay with that data, never beside the installed package.
  Relative SQLite paths are made absolute (against the current folder) because Ray workers and DVC
  stages do not share one working directory. MLflow 3 refuses a plain ``./mlruns`` file store.
- artifacts: ``$TALKCLIP_MLFLOW_ARTIFACTS``, else ``mlartifacts/`` next to the SQLite file
  (``<repo>/mlartifacts``), one sub-folder per experiment. Set when the experiment is created.
- experiment: one per pipeline (``talkclip`` for ``dvc repro``, ``talkclip-sweep`` for sweeps);
  ``$TALKCLIP_MLFLOW_EXPERIMENT`` overrides the default.
- nesting: ``nested=True`` puts the run under ``$TALKCLIP_MLFLOW_PARENT_RUN_ID`` (so the separate
  processes of DVC stages can nest under one parent), else under the innermost ``tracked_run`` of
  this process, else under a container run named ``parent_name`` (found or created, e.g.
  "ablations"), else it is a top-level run.

Run status: FINISHED on success; FAILED on any exception, KeyboardInterrupt and SIGTERM included
(the run is never left RUNNING by a Python-level exit). A SIGKILLed process cannot clean up: its
run is marked FAILED by the next ``tracked_run`` on the same host (``fail_orphaned_runs``).

``TALKCLIP_MLFLOW=0`` disables tracking: ``tracked_run`` yields a ``NullRun`` and MLflow is not
even imported (unit tests, CI speed).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import numbers
import os
import re
import signal
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ENV_ENABLED = "TALKCLIP_MLFLOW"
ENV_URI = "TALKCLIP_MLFLOW_URI"
ENV_MLFLOW_URI = "MLFLOW_TRACKING_URI"  # MLflow's own convention
ENV_ARTIFACTS = "TALKCLIP_MLFLOW_ARTIFACTS"
ENV_EXPERIMENT = "TALKCLIP_MLFLOW_EXPERIMENT"
ENV_PARENT_RUN_ID = "TALKCLIP_MLFLOW_PARENT_RUN_ID"
DEFAULT_EXPERIMENT = "talkclip"

# MLflow limits (mlflow.utils.validation): 100 params / 1000 metrics per batch, 6000-char values.
_MAX_PARAMS_PER_BATCH = 100
_MAX_METRICS_PER_BATCH = 1000
_MAX_PARAM_CHARS = 6000
# Characters MLflow accepts in param/metric keys; anything else becomes "_".
_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /:]")

TAG_STAGE = "talkclip.stage"
TAG_HOST = "talkclip.host"
TAG_PID = "talkclip.pid"
TAG_ERROR = "talkclip.error"
TAG_CONTAINER = "talkclip.container"
TAG_PARENT = "mlflow.parentRunId"


class TrackingError(ValueError):
    """A tracking URI, experiment or parent run is unusable."""


# ---------------------------------------------------------------------------------------- settings
def repo_root(start: str | Path | None = None) -> Path:
    """The DVC repository that contains ``start`` (default: the working folder), i.e. the nearest folder at
    or above it holding ``.dvc/``, else ``start`` itself. Never the installed package's folder."""
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".dvc").is_dir():
            return folder
    return here


def tracking_enabled() -> bool:
    """False when ``$TALKCLIP_MLFLOW`` is 0/false/no/off."""
    return os.environ.get(ENV_ENABLED, "1").strip().lower() not in ("0", "false", "no", "off")


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The tracking URI to use, with SQLite paths made absolute.

    ``sqlite:///mlruns.db`` (relative) -> ``sqlite:////abs/cwd/mlruns.db``; a bare path ending in
    ``.db`` is taken as a SQLite file; http(s)/databricks URIs pass through unchanged.
    """
    uri = uri or os.environ.get(ENV_URI) or os.environ.get(ENV_MLFLOW_URI) or f"sqlite:///{repo_root() / 'mlruns.db'}"
    if uri.startswith("sqlite:"):
        if not uri.startswith("sqlite:///"):
            raise TrackingError(f"tracking URI {uri!r}: expected sqlite:///<path to a .db file>")
        db = uri[len("sqlite:///"):]
        if db in ("", ":memory:"):
            raise TrackingError(f"tracking URI {uri!r}: an in-memory SQLite store cannot be shared; give a file")
        path = Path(db) if db.startswith("/") else Path.cwd() / db
        return f"sqlite:///{path.resolve()}"
    if "://" not in uri and uri.endswith(".db"):
        return f"sqlite:///{Path(uri).resolve()}"
    return uri


def artifact_root(tracking_uri: str) -> Path | None:
    """Where experiments created here store artifacts: ``$TALKCLIP_MLFLOW_ARTIFACTS`` or
    ``mlartifacts/`` beside the SQLite file; None for remote servers (they choose)."""
    if os.environ.get(ENV_ARTIFACTS):
        return Path(os.environ[ENV_ARTIFACTS]).resolve()
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri[len("sqlite:///"):]).parent / "mlartifacts"
    return None


def experiment_name(experiment: str | None = None) -> str:
    return experiment or os.environ.get(ENV_EXPERIMENT) or DEFAULT_EXPERIMENT


# ---------------------------------------------------------------------------------------- params
def _plain(value: Any) -> Any:
    """Dataclasses (typed configs) -> dicts; paths -> strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    return value


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"train": {"beta": 0.6}}`` -> ``{"train.beta": "0.6"}``; config dataclasses are expanded,
    lists become JSON, values are cut to MLflow's 6000 characters."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        value = _plain(value)
        if isinstance(value, Mapping):
            if value:
                flat.update(flatten_params(value, f"{name}."))
            else:
                flat[name] = "{}"
            continue
        if isinstance(value, (list, tuple)):
            text = json.dumps([_plain(v) for v in value], default=str)
        elif value is None:
            text = "None"
        else:
            text = str(value)
        flat[_BAD_KEY_CHARS.sub("_", name)] = text[:_MAX_PARAM_CHARS]
    return flat


def numeric_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The real-number entries of ``metrics`` (bools and strings are not metrics), keys sanitised."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            continue
        out[_BAD_KEY_CHARS.sub("_", f"{prefix}{key}")] = float(value)
    return out


# ---------------------------------------------------------------------------------------- runs
class NullRun:
    """What ``tracked_run`` yields when tracking is disabled: every call does nothing."""

    run_id: str | None = None
    experiment_id: str | None = None
    tracking_uri: str | None = None
    enabled = False

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, step: int, metrics: Mapping[str, Any]) -> None:
        pass

    def on_log(self, stage: str, step: int, metrics: Mapping[str, Any]) -> None:
        pass

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        pass

    def log_table(self, df, name: str) -> None:
        pass

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        pass

    def log_dataset(self, manifest: str | Path, name: str, context: str = "training") -> None:
        pass

    def handle(self) -> RunHandle:
        """What another process needs to log into this run (picklable; see RunHandle)."""
        return RunHandle(self.run_id, self.experiment_id, self.tracking_uri)


@dataclasses.dataclass(frozen=True)
class RunHandle:
    """An open run, as another process (the rank-0 worker of a Ray Train run) logs into it: ids and URI
    only, since an MlflowClient does not travel between processes. The run stays owned (and is ended)
    by the ``tracked_run`` that created it; a handle of a ``NullRun`` attaches to a ``NullRun``."""

    run_id: str | None
    experiment_id: str | None
    tracking_uri: str | None

    def attach(self) -> NullRun:
        if self.run_id is None:
            return NullRun()
        client, uri = mlflow_client(self.tracking_uri)
        return TrackedRun(client, self.run_id, self.experiment_id, uri)


class TrackedRun(NullRun):
    """One MLflow run, logged through an ``MlflowClient`` (no global "active run" state, so a
    stage, a Ray Tune callback and nested runs never step on each other)."""

    enabled = True

    def __init__(self, client, run_id: str, experiment_id: str, tracking_uri: str) -> None:
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.tracking_uri = tracking_uri

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in flatten_params(params).items()]
        for i in range(0, len(items), _MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + _MAX_PARAMS_PER_BATCH])

    def log_metrics(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Log the numeric entries of ``metrics`` at ``step`` (others are skipped)."""
        from mlflow.entities import Metric

        timestamp = int(time.time() * 1000)
        items = [Metric(k, v, timestamp, int(step)) for k, v in numeric_metrics(metrics).items()]
        for i in range(0, len(items), _MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=items[i : i + _MAX_METRICS_PER_BATCH])

    def on_log(self, stage: str, step: int, metrics: Mapping[str, Any]) -> None:
        """The trainer's ``on_log(stage, global_step, metrics)`` hook: keys become ``stage/key``."""
        self.log_metrics(step, {f"{stage}/{k}": v for k, v in metrics.items()})

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Upload a file, or a folder's contents, into the run's artifacts (under ``artifact_path``)."""
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        elif path.is_file():
            self.client.log_artifact(self.run_id, str(path), artifact_path)
        else:
            raise FileNotFoundError(f"log_artifact: {path} does not exist")

    def log_table(self, df, name: str) -> None:
        """A table as ``tables/<name>.json`` (MLflow's table artifact, shown by the UI) and ``tables/<name>.csv``."""
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
            raise ValueError(f"log_table: table name {name!r} must be a plain file name (letters, digits, _ . -)")
        self.client.log_table(self.run_id, df, f"tables/{name}.json")
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / f"{name}.csv"
            df.to_csv(csv, index=False)
            self.client.log_artifact(self.run_id, str(csv), "tables")

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, str(value))

    def log_dataset(self, manifest: str | Path, name: str, context: str = "training") -> None:
        """A processed dataset as the run's input (``mlflow.log_input``): its manifest as a pandas dataset
        with the manifest's path as source, so the UI shows which data (name, digest, clips) made the run."""
        import mlflow.data
        import pandas as pd
        from mlflow.entities import InputTag

        frame = pd.read_csv(manifest)
        with warnings.catch_warnings():  # MLflow's hints about ambiguous sources / integer columns: not ours
            warnings.simplefilter("ignore")
            dataset = mlflow.data.from_pandas(frame, source=str(Path(manifest).resolve()), name=name)
        self.client.log_inputs(self.run_id, datasets=[
            _dataset_input(dataset, [InputTag(key="mlflow.data.context", value=context)])])


def _dataset_input(dataset, tags):
    from mlflow.entities import DatasetInput

    return DatasetInput(dataset=dataset._to_mlflow_entity(), tags=tags)


def provenance_tags(root: str | Path | None = None) -> dict[str, str]:
    """Which code and experiment made a run, under MLflow's and DVC's own names: the git commit of the
    repository (``mlflow.source.git.commit``, shown by the UI, with ``-dirty`` when the working tree has
    uncommitted changes), and the DVC experiment and stage that ``dvc exp run`` / ``dvc repro`` set in
    ``$DVC_EXP_NAME`` / ``$DVC_STAGE``."""
    import subprocess

    tags: dict[str, str] = {}
    folder = repo_root(root)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10,
                                check=False)
        if commit.returncode == 0 and commit.stdout.strip():
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                                   capture_output=True, text=True, timeout=10, check=False)
            tags["mlflow.source.git.commit"] = commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass  # not a git checkout (an installed package used elsewhere): no commit to name
    for variable, tag in (("DVC_EXP_NAME", "dvc.experiment"), ("DVC_STAGE", "dvc.stage"),
                          ("DVC_EXP_BASELINE_REV", "dvc.baseline_rev")):
        if os.environ.get(variable):
            tags[tag] = os.environ[variable]
    return tags


# Innermost tracked_run of this process (per thread), for in-process nesting.
_active = threading.local()


def _active_stack() -> list[TrackedRun]:
    if not hasattr(_active, "stack"):
        _active.stack = []
    return _active.stack


def get_or_create_experiment(client, name: str, tracking_uri: str) -> str:
    """The id of experiment ``name``, created with an absolute artifact location when missing."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            raise TrackingError(
                f"MLflow experiment {name!r} is deleted in {tracking_uri}; restore it "
                f"(mlflow experiments restore --experiment-id {found.experiment_id}) or use another name"
            )
        return found.experiment_id
    root = artifact_root(tracking_uri)
    location = (root / name).as_uri() if root is not None else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:  # created concurrently by another stage/worker
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def mlflow_client(tracking_uri: str | None = None):
    """(client, resolved URI) for the given/default backend; creates the SQLite folder if needed."""
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri), uri


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_orphaned_runs(client, experiment_id: str) -> list[str]:
    """Mark FAILED the RUNNING runs that a process on this host started and that process is gone
    (killed with SIGKILL / out of memory, so it could not end its own run). Returns their ids."""
    host = socket.gethostname()
    filter_string = f"attributes.status = 'RUNNING' and tags.`{TAG_HOST}` = '{host}'"
    failed = []
    for run in client.search_runs([experiment_id], filter_string=filter_string, max_results=1000):
        pid = run.data.tags.get(TAG_PID, "")
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            client.set_tag(run.info.run_id, TAG_ERROR, f"process {pid} ended without closing the run")
            client.set_terminated(run.info.run_id, status="FAILED")
            failed.append(run.info.run_id)
    return failed


def parent_run_id(
    name: str, tracking_uri: str | None = None, experiment: str | None = None, params: Mapping[str, Any] | None = None
) -> str:
    """The id of the container run ``name`` of the experiment (created FINISHED when missing).

    A pipeline calls this once (or a stage does, by ``tracked_run(..., parent_name=name)``) and may
    export it as ``$TALKCLIP_MLFLOW_PARENT_RUN_ID`` so that its separate stage processes nest under it.
    """
    client, uri = mlflow_client(tracking_uri)
    experiment_id = get_or_create_experiment(client, experiment_name(experiment), uri)
    filter_string = f"tags.`{TAG_CONTAINER}` = '{name}'"
    existing = client.search_runs([experiment_id], filter_string=filter_string, max_results=1,
                                  order_by=["attributes.start_time DESC"])
    if existing:
        return existing[0].info.run_id
    run = client.create_run(experiment_id, run_name=name, tags={TAG_CONTAINER: name, TAG_STAGE: name})
    if params:
        TrackedRun(client, run.info.run_id, experiment_id, uri).log_params(params)
    # A container holds no work of its own: it is FINISHED at once, never left RUNNING.
    client.set_terminated(run.info.run_id, status="FINISHED")
    return run.info.run_id


@contextlib.contextmanager
def _sigterm_as_exception() -> Iterator[None]:
    """Turn SIGTERM (DVC/CI cancelling a stage) into SystemExit inside the block, so that the run
    is ended FAILED; only from the main thread and only when nobody else handles SIGTERM."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def tracked_run(
    stage: str,
    params: Mapping[str, Any] | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    nested: bool = False,
    run_name: str | None = None,
    *,
    parent_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Iterator[NullRun]:
    """An MLflow run for one pipeline stage; yields a ``TrackedRun`` (``NullRun`` when disabled).

    params: nested config mapping/dataclasses, logged flattened (``train.beta``).
    nested: make it a child run (see the module docstring for where the parent comes from).
    The run ends FINISHED, or FAILED (with tag ``talkclip.error``) if the block raises anything,
    KeyboardInterrupt and SIGTERM included; the exception propagates.
    """
    if not tracking_enabled():
        yield NullRun()
        return
    client, uri = mlflow_client(tracking_uri)
    name = experiment_name(experiment)
    experiment_id = get_or_create_experiment(client, name, uri)
    fail_orphaned_runs(client, experiment_id)

    run_tags = {TAG_STAGE: stage, TAG_HOST: socket.gethostname(), TAG_PID: str(os.getpid()), **provenance_tags()}
    if nested:
        stack = _active_stack()
        parent = os.environ.get(ENV_PARENT_RUN_ID) or (stack[-1].run_id if stack else None)
        if parent is None and parent_name is not None:
            parent = parent_run_id(parent_name, uri, name)
        if parent is None:
            warnings.warn(f"tracked_run({stage!r}, nested=True): no parent run (set ${ENV_PARENT_RUN_ID} "
                          f"or give parent_name); logging a top-level run", stacklevel=3)
        else:
            try:
                client.get_run(parent)
            except Exception as exc:
                raise TrackingError(f"parent run {parent!r} (${ENV_PARENT_RUN_ID}?) not found in {uri}: {exc}") from exc
            run_tags[TAG_PARENT] = parent
    run_tags.update({k: str(v) for k, v in (tags or {}).items()})
    mlflow_run = client.create_run(experiment_id, run_name=run_name or stage, tags=run_tags)
    run = TrackedRun(client, mlflow_run.info.run_id, experiment_id, uri)
    stack = _active_stack()
    stack.append(run)
    status, error = "FAILED", None
    try:
        with _sigterm_as_exception():
            if params:
                run.log_params(params)
            yield run
        status = "FINISHED"
    except SystemExit as exc:
        if exc.code in (None, 0):
            status = "FINISHED"
        else:
            error = f"SystemExit({exc.code})"
        raise
    except BaseException as exc:  # KeyboardInterrupt too: the run must not stay RUNNING
        error = f"{type(exc).__name__}: {exc}"[:5000]
        raise
    finally:
        stack.remove(run)
        try:
            if error is not None:
                client.set_tag(run.run_id, TAG_ERROR, error)
            client.set_terminated(run.run_id, status=status)
        except Exception as exc:  # noqa: BLE001 - never mask the stage's own exception with a tracking one
            warnings.warn(f"could not end MLflow run {run.run_id} as {status}: {exc}", stacklevel=2)

