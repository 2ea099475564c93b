"""The two-stage trainer: losses fall, exact kill-and-resume, variants, shared stage 1, config checks."""
import dataclasses

import pytest
import torch
from test_training_toy import HashBackbone, tiny_model_config, toy_training_data

from talkclip.config.train import TrainConfig
from talkclip.model.talkclip_model import TalkCLIP
from talkclip.training.checkpoint import CheckpointError, CheckpointMismatchError, load_checkpoint
from talkclip.training.trainer import shares_stage1, text_noise, train

MODEL = tiny_model_config()
SHORT = TrainConfig(seed=3, device="cpu", batch_size=4, lr=1e-3, disc_lr=1e-3, clip_frames=32, stage1_steps=5,
                    stage2_steps=7, checkpoint_every=3, log_every=2)


class Interrupt(RuntimeError):
    pass


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return toy_training_data(tmp_path_factory.mktemp("trainer"), MODEL)


def _train(data, out_dir, cfg=SHORT, **kw):
    processed, annotated, sync = data
    return train(MODEL, cfg, processed, annotated, out_dir, sync, backbone=HashBackbone(), **kw)


def _states(path):
    checkpoint = load_checkpoint(path)
    return checkpoint["modules"], checkpoint["optimizers"]


def _assert_identical(path_a, path_b):
    (mods_a, opts_a), (mods_b, opts_b) = _states(path_a), _states(path_b)
    assert mods_a.keys() == mods_b.keys()
    n = 0
    for name in mods_a:
        assert mods_a[name].keys() == mods_b[name].keys()
        for key in mods_a[name]:
            assert torch.equal(mods_a[name][key], mods_b[name][key]), f"{name}.{key}"
            n += 1
    for name in opts_a:
        for param_id, state in opts_a[name]["state"].items():
            for key, value in state.items():
                assert torch.equal(value, opts_b[name]["state"][param_id][key]), f"{name}[{param_id}].{key}"
    assert n > 20


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """One uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    logs = []
    result = _train(data, out, on_log=lambda stage, step, metrics: logs.append((stage, step, metrics)))
    return result, logs


def test_uninterrupted_run_layout_and_logs(reference):
    result, logs = reference
    assert result.completed and result.steps == {"stage1": 5, "stage2": 7} and result.global_step == 12
    assert result.checkpoint.name == "final.pt" and result.checkpoint.is_file()
    assert (result.out_dir / "checkpoints" / "stage1.pt").is_file()
    # Logged every 2 steps of a stage and at each stage end.
    assert [(s, n) for s, n, _ in logs] == [("stage1", 2), ("stage1", 4), ("stage1", 5), ("stage2", 7),
                                            ("stage2", 9), ("stage2", 11), ("stage2", 12)]
    stage1, stage2 = logs[0][2], logs[-1][2]
    assert {"loss_rec", "loss_sync", "loss_tem", "loss_d_tem", "loss_total"} <= stage1.keys()
    assert "loss_cos" not in stage1 and "p" not in stage1  # stage 1 is V2SS pretraining alone: no text side
    assert {"loss_cos", "p", "text_code_fraction"} <= stage2.keys()
    assert 0.0 < stage2["p"] <= 0.5
    assert result.windows_per_second > 0 and result.n_train_clips == 24


@pytest.mark.parametrize("interrupt_at", [4, 9])
def test_killed_run_resumes_to_identical_weights(data, reference, tmp_path, interrupt_at):
    """Killed inside stage 1 (after global step 4, last checkpoint at 3) or stage 2 (after step 9, checkpoint at 8)."""
    def hook(stage, step, metrics):
        if step >= interrupt_at:
            raise Interrupt(step)

    with pytest.raises(Interrupt):
        _train(data, tmp_path, on_log=hook)
    assert not (tmp_path / "checkpoints" / "final.pt").exists()
    resumed = _train(data, tmp_path)
    assert resumed.completed and resumed.resumed_from is not None
    assert resumed.resumed_from["global_step"] < interrupt_at
    _assert_identical(reference[0].checkpoint, resumed.checkpoint)
    # The loss history is the uninterrupted one too (throughput aside).
    strip = lambda h: [{k: v for k, v in e.items() if k != "windows_per_s"} for e in h]
    assert strip(resumed.history) == strip(reference[0].history)


def test_max_steps_stop_and_resume_with_other_logging(data, reference, tmp_path):
    stopped = _train(data, tmp_path, max_steps=6)
    assert not stopped.completed and stopped.global_step == 6 and stopped.steps == {"stage1": 5, "stage2": 1}
    assert stopped.checkpoint.name == "last.pt"
    # log_every / checkpoint_every / device may change on resume.
    resumed = _train(data, tmp_path, cfg=dataclasses.replace(SHORT, log_every=5, checkpoint_every=100))
    assert resumed.resumed_from["global_step"] == 6
    _assert_identical(reference[0].checkpoint, resumed.checkpoint)
    # A finished run resumes to "nothing to do".
    again = _train(data, tmp_path)
    assert again.completed and again.global_step == 12


def test_resume_with_a_different_config_lists_the_keys(data, tmp_path):
    _train(data, tmp_path, max_steps=2)
    changed = dataclasses.replace(SHORT, lr=5e-4, lambda_rec=10.0)
    with pytest.raises(CheckpointMismatchError) as info:
        _train(data, tmp_path, cfg=changed)
    assert {m.split(":")[0] for m in info.value.mismatches} == {"train.lr", "train.lambda_rec"}
    # resume=False starts over instead.
    fresh = _train(data, tmp_path, cfg=changed, resume=False, max_steps=1)
    assert fresh.resumed_from is None and fresh.global_step == 1


def test_another_seed_gives_other_weights(data, reference, tmp_path):
    other = _train(data, tmp_path / "seed4", cfg=dataclasses.replace(SHORT, seed=4, stage2_steps=1, stage1_steps=1))
    a = _states(reference[0].checkpoint)[0]["talkclip"]
    b = _states(other.checkpoint)[0]["talkclip"]
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_variants(data, tmp_path):
    tiny = dataclasses.replace(SHORT, stage1_steps=2, stage2_steps=3, log_every=1)
    no_vg = _train(data, tmp_path / "no_vg", cfg=dataclasses.replace(tiny, video_guided=False))
    assert no_vg.steps == {"stage1": 0, "stage2": 5}  # the budget of both stages, all on the text path
    assert all(e["stage"] == "stage2" and e["p"] == 1.0 and e["text_code_fraction"] == 1.0 and "loss_cos" not in e
               for e in no_vg.history)

    processed, annotated, sync = data
    no_adapter = train(dataclasses.replace(MODEL, use_adapter=False), tiny, processed, annotated,
                       tmp_path / "no_adapter", sync, backbone=HashBackbone())
    stored = load_checkpoint(no_adapter.checkpoint)
    assert stored["config"]["model"]["use_adapter"] is False
    assert not any(k.startswith("text_style_encoder.") for k in stored["modules"]["talkclip"])

    simanno = _train(data, tmp_path / "simanno", cfg=dataclasses.replace(tiny, descriptions="simanno"))
    cached = torch.load(simanno.embedding_cache, weights_only=True)
    assert sorted(cached["texts"]) == ["angry", "happy", "neutral"]

    with pytest.raises(ValueError, match="random"):
        # A real "minilm" backbone handed to a w/o-CLIP run is refused.
        fake = HashBackbone()
        fake.name = "minilm"
        train(dataclasses.replace(MODEL, text_backbone="random"), tiny, processed, annotated, tmp_path / "nc", sync,
              backbone=fake)


def test_which_variants_share_stage1():
    assert shares_stage1(MODEL, SHORT, MODEL, dataclasses.replace(SHORT, descriptions="simanno", p_final=0.9))
    assert shares_stage1(MODEL, SHORT, dataclasses.replace(MODEL, text_backbone="random", use_adapter=False), SHORT)
    assert not shares_stage1(MODEL, SHORT, MODEL, dataclasses.replace(SHORT, video_guided=False))
    assert not shares_stage1(MODEL, SHORT, MODEL, dataclasses.replace(SHORT, lambda_sync=0.0))
    assert not shares_stage1(MODEL, SHORT, dataclasses.replace(MODEL, d_ff=16), SHORT)


def test_text_noise_is_a_function_of_seed_and_step_and_sliced_like_the_batch():
    whole = text_noise(3, 7, 8, 5)
    assert whole.shape == (8, 5) and torch.equal(whole, text_noise(3, 7, 8, 5))
    assert not torch.equal(whole, text_noise(3, 8, 8, 5)) and not torch.equal(whole, text_noise(4, 7, 8, 5))
    # Two data-parallel workers of 4 rows each add exactly the single process's noise to their rows.
    assert torch.equal(torch.cat([text_noise(3, 7, 4, 5, world_size=2, rank=r) for r in (0, 1)]), whole)
    assert abs(float(whole.std()) - 1.0) < 0.5


def test_text_noise_acts_in_stage2_only_and_resumes_exactly(data, reference, tmp_path):
    noisy = dataclasses.replace(SHORT, text_noise=0.1)
    uninterrupted = _train(data, tmp_path / "whole", cfg=noisy)
    # Stage 1 never sees text: its checkpoint is the noiseless run's, bit for bit.
    _assert_identical(reference[0].out_dir / "checkpoints" / "stage1.pt",
                      uninterrupted.out_dir / "checkpoints" / "stage1.pt")
    adapter = lambda path: {k: v for k, v in _states(path)[0]["talkclip"].items() if k.startswith("text_style_encoder.")}
    assert any(not torch.equal(a, b) for a, b in zip(adapter(reference[0].checkpoint).values(),
                                                     adapter(uninterrupted.checkpoint).values()))

    def hook(stage, step, metrics):
        if step >= 9:
            raise Interrupt(step)

    with pytest.raises(Interrupt):
        _train(data, tmp_path / "killed", cfg=noisy, on_log=hook)
    resumed = _train(data, tmp_path / "killed", cfg=noisy)
    _assert_identical(uninterrupted.checkpoint, resumed.checkpoint)


def test_sync_checkpoint_required_when_lambda_sync_positive(data, tmp_path):
    processed, annotated, _ = data
    with pytest.raises(ValueError, match="D_sync"):
        train(MODEL, SHORT, processed, annotated, tmp_path, None, backbone=HashBackbone())
    result = train(MODEL, dataclasses.replace(SHORT, lambda_sync=0.0, stage1_steps=1, stage2_steps=1), processed,
                   annotated, tmp_path, None, backbone=HashBackbone())
    assert "loss_sync" not in result.history[-1]


@pytest.mark.parametrize("cos_gradient, video_encoder_moves", [("text", False), ("both", True)])
def test_cos_gradient_reaches_the_video_encoder_only_when_asked(data, tmp_path, cos_gradient, video_encoder_moves):
    """Stage 2 with only L_cos and the video code always fed (p = 0): E_v changes only with "both"."""
    cfg = dataclasses.replace(SHORT, stage1_steps=0, stage2_steps=1, p_final=0.0, lambda_rec=0.0, lambda_sync=0.0,
                              lambda_tem=0.0, cos_gradient=cos_gradient)
    result = _train(data, tmp_path, cfg=cfg, resume=False)
    after = _states(result.checkpoint)[0]["talkclip"]
    torch.manual_seed(cfg.seed)  # the trainer initialises the network right after seeding
    before = TalkCLIP(MODEL, 16).state_dict()
    video = [k for k in after if k.startswith("video_style_encoder.")]
    adapter = [k for k in after if k.startswith("text_style_encoder.")]
    assert any(not torch.equal(after[k], before[k]) for k in adapter)
    assert any(not torch.equal(after[k], before[k]) for k in video) == video_encoder_moves


def test_stage1_only_then_resume_matches_the_full_run(data, reference, tmp_path):
    first = _train(data, tmp_path, stop_after_stage="stage1")
    assert not first.completed and first.steps == {"stage1": 5, "stage2": 0}
    assert first.checkpoint.name == "stage1.pt" and first.checkpoint.is_file()
    resumed = _train(data, tmp_path)
    assert resumed.completed
    _assert_identical(reference[0].checkpoint, resumed.checkpoint)
    with pytest.raises(ValueError, match="stop_after_stage"):
        _train(data, tmp_path / "bad", stop_after_stage="stage3")


def test_stage2_from_another_runs_stage1_checkpoint(data, reference, tmp_path):
    """The pipeline's split: V2SS stage (stage 1 alone) in one folder, T2SS stage started from its stage1.pt."""
    v2ss = _train(data, tmp_path / "v2ss", stop_after_stage="stage1")
    stage1 = v2ss.out_dir / "checkpoints" / "stage1.pt"
    t2ss = _train(data, tmp_path / "t2ss", init_from=stage1)
    assert t2ss.completed and t2ss.resumed_from["from"] == str(stage1)
    full_run, _ = reference
    _assert_identical(t2ss.checkpoint, full_run.checkpoint)  # the same weights as one uninterrupted run
    assert [e["stage"] for e in t2ss.history] == [e["stage"] for e in full_run.history]

    # Stage-2-only settings may differ from the checkpoint's run; anything stage 1 depends on may not.
    other_p = _train(data, tmp_path / "other_p", cfg=dataclasses.replace(SHORT, p_final=0.9), init_from=stage1)
    assert other_p.completed
    with pytest.raises(CheckpointMismatchError, match="train.lr"):
        _train(data, tmp_path / "other_lr", cfg=dataclasses.replace(SHORT, lr=5e-4), init_from=stage1)
    with pytest.raises(CheckpointError, match="end of stage 1"):  # a checkpoint of another stage-1 length
        _train(data, tmp_path / "longer", cfg=dataclasses.replace(SHORT, stage1_steps=6), init_from=stage1)
    with pytest.raises(ValueError, match="no stage 1"):
        _train(data, tmp_path / "no_vg", cfg=dataclasses.replace(SHORT, video_guided=False), init_from=stage1)


@pytest.mark.parametrize("variant_model, variant_train", [(MODEL, {"descriptions": "simanno"}),
                                                          (dataclasses.replace(MODEL, use_adapter=False), {})],
                         ids=["simanno", "no_adapter"])
def test_variants_share_the_full_models_stage1(data, tmp_path, variant_model, variant_train):
    """A variant that differs only on the text side, started from the full model's stage-1 checkpoint,
    ends with the weights of its own uninterrupted two-stage run (the pipeline trains stage 1 once)."""
    tiny = dataclasses.replace(SHORT, stage1_steps=3, stage2_steps=3)
    full_stage1 = _train(data, tmp_path / "full", cfg=tiny, stop_after_stage="stage1").checkpoint
    variant = dataclasses.replace(tiny, **variant_train)
    processed, annotated, sync = data
    own = train(variant_model, variant, processed, annotated, tmp_path / "own", sync, backbone=HashBackbone())
    shared = train(variant_model, variant, processed, annotated, tmp_path / "shared", sync, backbone=HashBackbone(),
                   init_from=full_stage1)
    assert shared.resumed_from["from"] == str(full_stage1)
    _assert_identical(own.checkpoint, shared.checkpoint)
    # The stage-1 weights themselves do not depend on the text side.
    own_stage1 = load_checkpoint(own.out_dir / "checkpoints" / "stage1.pt")["modules"]["talkclip"]
    full = load_checkpoint(full_stage1)["modules"]["talkclip"]
    shared_keys = [k for k in own_stage1 if not k.startswith("text_style_encoder.")]
    assert shared_keys and all(torch.equal(own_stage1[k], full[k]) for k in shared_keys)
