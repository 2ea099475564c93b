"""Data-parallel training on Ray Train (talkclip/training/distributed.py) with 2 CPU (gloo) workers on toy data:
one step on the batch split across the workers computes the single-process gradients, a 2-worker run stops,
resumes to the weights of an uninterrupted 2-worker run and logs from rank 0, bad input is refused.

The Ray tests share one local Ray (2 CPUs) started by a fixture; each TorchTrainer.fit still starts its own
worker processes, 20-60 s on the 2-core test machine depending on its load: most of these tests' time.
"""
import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from test_training_toy import HashBackbone, tiny_model_config, toy_training_data

from talkclip.config.loader import ConfigError
from talkclip.config.train import TrainConfig
from talkclip.training.checkpoint import CheckpointMismatchError, load_checkpoint
from talkclip.training.trainer import BATCH_STREAM, COIN_STREAM, train

TESTS_DIR = Path(__file__).resolve().parent
# No dropout: with dropout each worker draws its own masks (distributed.py), so only then is the
# 2-worker step the single-process step.
MODEL = tiny_model_config(dropout=0.0)
CFG = TrainConfig(seed=3, device="cpu", batch_size=4, lr=1e-3, disc_lr=1e-3, clip_frames=32, stage1_steps=3,
                  stage2_steps=3, checkpoint_every=2, log_every=2, workers=2)
# Gradients of the 2-worker step vs the single-process step differ by float32 rounding (sums in another
# order: the all-reduce, slices of 2 windows instead of one batch of 4). Measured on this CPU (3 steps):
# max |difference| 2.2e-5 = 2.4e-6 x the step's largest gradient (~10); relative to each tensor's own
# largest gradient <= 4.8e-6. Checked as allclose(rtol 1e-4, atol 1e-5 x the step's largest gradient).
GRAD_RTOL, GRAD_ATOL_OF_MAX = 1e-4, 1e-5


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return toy_training_data(tmp_path_factory.mktemp("ddp"), MODEL)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module; Ray workers import the test helpers from tests/ (PYTHONPATH)."""
    import ray

    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), previous]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous


def _trainer(data, out, cfg=CFG, data_parallel=None):
    from talkclip.training.trainer import _Trainer

    processed, annotated, sync = data
    return _Trainer(MODEL, cfg, Path(processed), Path(annotated), Path(out), Path(sync), HashBackbone(), None,
                    data_parallel)


def _steps_and_gradients(trainer, steps):
    """Train ``steps`` [(stage, step)] one after the other; per step its metrics and every gradient."""
    records = []
    for stage, step in steps:
        batch = trainer.sampler.batch(BATCH_STREAM[stage], step)
        part = trainer.data_parallel.part(batch) if trainer.data_parallel is not None else batch
        metrics = trainer.train_step(stage, step, part)
        grads = {f"{prefix}.{name}": p.grad.detach().numpy().copy()
                 for prefix, module in (("talkclip", trainer.model), ("d_tem", trainer.d_tem))
                 for name, p in module.named_parameters() if p.grad is not None}
        records.append((metrics, grads))
    return records


def _reference_worker(config):
    """Ray Train worker of the `two_workers` job: the gradient steps on this rank's slices, then the
    uninterrupted 2-worker run, as distributed.train_on_ray's workers run it (rank 0 returns both)."""
    import ray.train

    from talkclip.training.distributed import DataParallel
    from talkclip.training.trainer import train_in_process

    torch.set_num_threads(1)
    context = ray.train.get_context()
    parallel = DataParallel(context.get_world_rank(), context.get_world_size(), torch.device("cpu"))
    trainer = _trainer(config["data"], config["out"] / "steps", config["steps_cfg"], parallel)
    records = _steps_and_gradients(trainer, config["steps"])
    processed, annotated, sync = config["data"]
    result = train_in_process(MODEL, CFG, processed, annotated, config["out"] / "run", sync, backbone=HashBackbone(),
                              data_parallel=parallel)
    return (records, result) if parallel.rank == 0 else None


def _coin(step, cfg=CFG):
    return np.random.default_rng([cfg.seed, COIN_STREAM, step]).random()


# The gradient test's steps: stage 1 (video code, no text side), stage 2 decoded from s_v, and from s_t
# (s_v then only the L_cos teacher: the video encoder gets no gradient). p = 0.5 on every stage-2 step;
# with train.text_noise, so that each worker's slice of the noise is checked to be the single process's.
STEPS_CFG = dataclasses.replace(CFG, p_start=0.5, p_final=0.5, stage2_steps=8, text_noise=0.05)
GRADIENT_STEPS = [("stage1", 0), ("stage2", next(s for s in range(8) if _coin(s, STEPS_CFG) >= 0.5)),
                  ("stage2", next(s for s in range(8) if _coin(s, STEPS_CFG) < 0.5))]


@pytest.fixture(scope="module")
def two_workers(data, local_ray, tmp_path_factory):
    """One Ray Train job of 2 gloo workers (each fit starts its workers anew, the tests' main cost): the
    gradients of GRADIENT_STEPS, and an uninterrupted 2-worker run of CFG (its TrainResult)."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    out = tmp_path_factory.mktemp("two_workers")
    trainer = TorchTrainer(
        _reference_worker,
        train_loop_config={"data": data, "out": out, "steps_cfg": STEPS_CFG, "steps": GRADIENT_STEPS},
        torch_config=TorchConfig(backend="gloo"), scaling_config=ScalingConfig(num_workers=2),
        run_config=RunConfig(name="reference", storage_path=str(out / "ray")),
    )
    return trainer.fit().return_value


def test_batch_size_must_divide_among_workers(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"train\.batch_size: expected a multiple of train\.workers \(3\)"):
        TrainConfig(batch_size=16, workers=3)
    TrainConfig(batch_size=16, workers=4)  # fine
    from talkclip.cli import main

    root = TESTS_DIR.parent
    code = main(["train", "--params", str(root / "params.yaml"), "--workers", "3", "--out", str(tmp_path / "out")])
    assert code == 2
    error = capsys.readouterr().err
    assert "train.batch_size" in error and "train.workers (3)" in error


def test_a_workers_exception_reaches_the_caller_as_raised():
    """Bad input met in a worker (a checkpoint of another configuration) reads as in one process: the
    lowest rank's own exception, unpickled with its arguments, not Ray's wrapper."""
    import pickle

    from ray.train import WorkerGroupError

    from talkclip.training.distributed import _worker_error

    mismatch = pickle.loads(pickle.dumps(CheckpointMismatchError("out/last.pt", ["train.lr: checkpoint 0.001"])))
    assert mismatch.mismatches == ["train.lr: checkpoint 0.001"] and "train.lr" in str(mismatch)
    wrapper = WorkerGroupError("two workers failed", {1: RuntimeError("rank 1"), 0: mismatch})
    assert _worker_error(wrapper) is mismatch
    assert _worker_error(WorkerGroupError("?", {})).__class__ is WorkerGroupError


def test_one_worker_trains_in_this_process(data, tmp_path, monkeypatch):
    """train.workers 0 and 1 never reach Ray (today's path, bitwise: tests/test_training_trainer.py)."""
    from talkclip.training import distributed

    def refuse(*args, **kwargs):
        raise AssertionError("Ray path taken")

    monkeypatch.setattr(distributed, "train_on_ray", refuse)
    processed, annotated, sync = data
    for workers in (0, 1):
        cfg = dataclasses.replace(CFG, workers=workers, stage1_steps=1, stage2_steps=1)
        result = train(MODEL, cfg, processed, annotated, tmp_path / str(workers), sync, backbone=HashBackbone())
        assert result.completed


@pytest.mark.slow
def test_one_step_on_two_workers_has_the_single_process_gradients(data, tmp_path, two_workers):
    single = _steps_and_gradients(_trainer(data, tmp_path, dataclasses.replace(STEPS_CFG, workers=1)), GRADIENT_STEPS)
    parallel, _ = two_workers
    for (stage, step), (m1, g1), (m2, g2) in zip(GRADIENT_STEPS, single, parallel):
        where = f"{stage} step {step}"
        assert g1.keys() == g2.keys(), where  # the same parameters got gradients (the text side only in stage 2)
        assert any(k.startswith("d_tem.") for k in g1) and any(".text_style_encoder." in f".{k}" for k in g1) == (
            stage == "stage2"), where
        # Absolute slack from the step's largest gradient: some gradients are zero up to rounding (a bias
        # before a softmax), where a relative bound alone means nothing.
        atol = GRAD_ATOL_OF_MAX * max(float(np.abs(g).max()) for g in g1.values())
        for name in g1:
            np.testing.assert_allclose(g2[name], g1[name], rtol=GRAD_RTOL, atol=atol, err_msg=f"{where}: {name}")
        assert m1.keys() == m2.keys()
        for key in m1:  # the logged losses are the whole batch's
            assert m2[key] == pytest.approx(m1[key], rel=1e-5, abs=1e-6), f"{where}: {key}"
    assert parallel[2][0]["text_code_fraction"] == 1.0 and parallel[1][0]["text_code_fraction"] == 0.0


def _identical(path_a, path_b) -> None:
    a, b = load_checkpoint(path_a), load_checkpoint(path_b)
    for kind in ("modules", "optimizers"):
        assert a[kind].keys() == b[kind].keys()
    for name, state in a["modules"].items():
        for key, value in state.items():
            assert torch.equal(value, b["modules"][name][key]), f"{name}.{key}"
    for name, state in a["optimizers"].items():
        for param_id, values in state["state"].items():
            for key, value in values.items():
                assert torch.equal(value, b["optimizers"][name]["state"][param_id][key]), f"{name}[{param_id}].{key}"


@pytest.mark.slow
def test_two_workers_stop_resume_and_log_from_rank_zero(data, tmp_path, two_workers, monkeypatch):
    """The CLI's path (run_training): stage 1 alone, then resumed into stage 2, logged to MLflow by rank 0;
    the same weights as an uninterrupted 2-worker run, losses as one process's, loadable for inference."""
    import mlflow

    from talkclip.inference import load_model
    from talkclip.tracking import tracked_run
    from talkclip.training.stage import run_training

    monkeypatch.setenv("TALKCLIP_MLFLOW", "1")
    monkeypatch.delenv("TALKCLIP_MLFLOW_PARENT_RUN_ID", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    processed, annotated, sync = data
    cfg = dataclasses.replace(CFG, eval_every=2)  # learning curves, measured on rank 0
    out = tmp_path / "two"

    with tracked_run("train_full_v2ss", {"train": cfg}, tracking_uri=uri) as run:
        first, _ = run_training(MODEL, cfg, processed, annotated, sync, out, run, HashBackbone(), stop_after="stage1")
        first_run = run.run_id
    assert first.checkpoint == out / "checkpoints" / "stage1.pt" and first.checkpoint.is_file()
    assert not first.completed and first.steps == {"stage1": 3, "stage2": 0}
    with tracked_run("train_full", {"train": cfg}, tracking_uri=uri) as run:
        resumed, metrics = run_training(MODEL, cfg, processed, annotated, sync, out, run, HashBackbone())
        second_run = run.run_id
    assert resumed.completed and resumed.resumed_from["global_step"] == 3
    assert metrics["completed"] and metrics["windows_per_second"] > 0
    assert not (out / "checkpoints" / "final.pt.tmp").exists() and (out / "ray_train").is_dir()
    curves = (out / "curves.csv").read_text().splitlines()
    assert curves[0].startswith("stage,step") and len(curves) == 1 + 3  # global steps 2, 3 (stage 1 end), 6

    client = mlflow.MlflowClient(uri)
    history = client.get_metric_history(first_run, "stage1/loss_total")
    assert [m.step for m in history] == [2, 3]  # logged by rank 0, once per interval
    assert [m.step for m in client.get_metric_history(second_run, "stage2/loss_total")] == [5, 6]
    assert "stage2/val_video_style_accuracy" in client.get_run(second_run).data.metrics

    # Exact resume: bitwise the uninterrupted 2-worker run (2 workers: a + b sums in one order only).
    _, uninterrupted = two_workers
    assert uninterrupted.completed
    _identical(uninterrupted.checkpoint, resumed.checkpoint)
    # The same losses as one process, up to float rounding.
    one = train(MODEL, dataclasses.replace(cfg, workers=1), processed, annotated, tmp_path / "one", sync,
                backbone=HashBackbone())
    for a, b in zip(one.history, resumed.history):
        assert (a["stage"], a["step"]) == (b["stage"], b["step"])
        assert b["loss_total"] == pytest.approx(a["loss_total"], rel=1e-5)
    model, _ = load_model(resumed.checkpoint)  # a 2-worker checkpoint serves single-process inference
    assert sum(p.numel() for p in model.parameters()) > 0

