"""Expression spaces: every file says (or lets the reader infer) which space it holds, and mixing fails."""
import json

import numpy as np
import pytest
from test_training_toy import HashBackbone, build_toy_dataset, tiny_model_config

from talkclip.config.train import TrainConfig
from talkclip.expression import ExpressionSpaceError, require_same_space
from talkclip.formats.mat3dmm import Coeffs3DMM, declared_expression_space, write_mat
from talkclip.inference import generate_coefficients, load_model
from talkclip.preprocess.dataset import dataset_expression_space, read_manifest, write_manifest
from talkclip.preprocess.spaces import coeffs_file_space, read_style_clip
from talkclip.preprocess.stage import ClipTask, check_one_space
from talkclip.training.checkpoint import checkpoint_expression_space, load_checkpoint, save_checkpoint
from talkclip.training.trainer import train


def _coeffs(n=10):
    rng = np.random.default_rng(0)
    return Coeffs3DMM.from_expression_pose(rng.normal(0, 0.3, (n, 64)), np.zeros((n, 3)), np.zeros((n, 3)))


def test_mat_space_rule(tmp_path):
    write_mat(tmp_path / "declared.mat", _coeffs(), expression_space="embedded")
    write_mat(tmp_path / "fit.mat", _coeffs())
    assert declared_expression_space(tmp_path / "declared.mat") == "embedded"
    assert declared_expression_space(tmp_path / "fit.mat") is None
    assert coeffs_file_space(tmp_path / "declared.mat")[0] == "embedded"
    space, why = coeffs_file_space(tmp_path / "fit.mat")
    assert space == "bfm" and "Deep3DFaceRecon" in why
    # An older embedded corpus: no key, but the ground-truth sidecar beside the .mat.
    corpus = tmp_path / "mead" / "M001" / "3DMM" / "front" / "happy" / "level_1"
    corpus.mkdir(parents=True)
    write_mat(corpus / "001.mat", _coeffs())
    sidecar = tmp_path / "mead" / "M001" / "groundtruth" / "front" / "happy" / "level_1" / "001.npz"
    sidecar.parent.mkdir(parents=True)
    np.savez(sidecar, expression=np.zeros((10, 64), np.float32))
    assert coeffs_file_space(corpus / "001.mat")[0] == "embedded"
    with pytest.raises(ExpressionSpaceError, match="unknown expression space 'flame'"):
        write_mat(tmp_path / "bad.mat", _coeffs(), expression_space="flame")


def test_real_fits_are_bfm_and_style_clips_know_their_space(dreamtalk_samples, tmp_path):
    samples = dreamtalk_samples / "style_clip" / "3DMM"
    clip = read_style_clip(samples / "W009_front_happy_level3_001.mat")
    assert clip.space == "bfm" and clip.expression.shape == (108, 64)
    assert read_style_clip(samples / "W009_front_happy_level3_001.mat", space="embedded").space == "embedded"
    np.savez(tmp_path / "sidecar.npz", expression=np.zeros((5, 64), np.float32), identity="{}")
    assert read_style_clip(tmp_path / "sidecar.npz").space == "embedded"


def test_mixed_spaces_are_refused_naming_both():
    def task(clip_id, space):
        return ClipTask(clip_id, "W009", "W", "happy", 3, "train", audio=None, coeffs=None,
                        expression_space=space, space_reason=f"because of {clip_id}")

    assert check_one_space([task("a", "bfm"), task("b", "bfm")]) == "bfm"
    with pytest.raises(ExpressionSpaceError, match=r"'bfm'.*because of a.*'embedded'.*because of b"):
        check_one_space([task("a", "bfm"), task("b", "embedded")])
    with pytest.raises(ExpressionSpaceError, match=r"real\.mat is in the 'bfm' space.*ck\.pt is in the 'embedded'"):
        require_same_space("embedded", "ck.pt", "bfm", "real.mat")


def test_manifest_records_the_space_and_legacy_manifests_are_embedded(tmp_path):
    processed, _ = build_toy_dataset(tmp_path)
    assert dataset_expression_space(processed) == "embedded"
    manifest = read_manifest(processed / "manifest.csv")
    rows = manifest.to_dict("records")
    rows[0]["expression_space"] = "bfm"
    with pytest.raises(ExpressionSpaceError, match="different expression spaces"):
        write_manifest(tmp_path / "mixed.csv", rows)
    with pytest.raises(ValueError, match="has no expression_space"):
        write_manifest(tmp_path / "none.csv", [{k: v for k, v in rows[1].items() if k != "expression_space"}])
    # Written before the space was recorded: read as 'embedded', with a warning that says so.
    manifest.drop(columns="expression_space").to_csv(processed / "manifest.csv", index=False)
    with pytest.warns(UserWarning, match="records no expression space.*assuming 'embedded'"):
        assert dataset_expression_space(processed) == "embedded"


@pytest.fixture(scope="module")
def toy_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    processed, annotated = build_toy_dataset(root)
    cfg = TrainConfig(device="cpu", batch_size=2, clip_frames=32, stage1_steps=1, stage2_steps=1, lambda_sync=0.0)
    return train(tiny_model_config(), cfg, processed, annotated, root / "run", None, backbone=HashBackbone()).checkpoint


def test_checkpoints_record_the_space_and_refuse_other_style_clips(toy_checkpoint, tmp_path):
    assert load_checkpoint(toy_checkpoint)["config"]["data"]["expression_space"] == "embedded"
    model, _ = load_model(toy_checkpoint)
    assert model.expression_space == "embedded"
    phonemes = np.zeros(12, np.int64)
    style = np.zeros((20, 64), np.float32)
    assert generate_coefficients(model, phonemes, style_clip=style, style_space="embedded").shape == (12, 64)
    with pytest.raises(ExpressionSpaceError, match=r"real\.mat is in the 'bfm' space.*final\.pt is in the 'embedded'"):
        generate_coefficients(model, phonemes, style_clip=style, style_space="bfm", style_source="real.mat")
    # A checkpoint from before the space was recorded: 'embedded', with a warning.
    payload = load_checkpoint(toy_checkpoint)
    del payload["config"]["data"]["expression_space"]
    with pytest.warns(UserWarning, match="records no expression space"):
        assert checkpoint_expression_space(payload, "old.pt") == "embedded"


def test_cli_generate_refuses_a_real_style_clip_for_an_embedded_model(toy_checkpoint, tmp_path, capsys, monkeypatch):
    from talkclip import cli

    write_mat(tmp_path / "real.mat", _coeffs(30))  # undeclared: a Deep3DFaceRecon fit, BFM
    seq = tmp_path / "seq.json"
    seq.write_text(json.dumps([31] * 30))
    code = cli.main(["generate", "--checkpoint", str(toy_checkpoint), "--style-clip", str(tmp_path / "real.mat"),
                     "--phonemes", str(seq), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "'bfm' space" in err and "'embedded' space" in err and "real.mat" in err
    assert "Traceback" not in err and not (tmp_path / "out" / "coefficients.npy").exists()
    # Declared embedded, it runs, and the output records its space.
    code = cli.main(["generate", "--checkpoint", str(toy_checkpoint), "--style-clip", str(tmp_path / "real.mat"),
                     "--style-space", "embedded", "--phonemes", str(seq), "--out", str(tmp_path / "out")])
    assert code == 0
    meta = json.loads((tmp_path / "out" / "generation.json").read_text())
    assert meta["expression_space"] == "embedded" and "real.mat" in meta["style_clip"]


def test_training_refuses_a_d_sync_of_another_space(tmp_path):
    from talkclip.model.discriminators import SyncDiscriminator
    from talkclip.training.sync_pretrain import load_sync_discriminator

    model_cfg = tiny_model_config()
    disc = SyncDiscriminator(model_cfg)
    config = {"model": {k: getattr(model_cfg, k) for k in model_cfg.__dataclass_fields__}, "data": {"expression_space": "bfm"}}
    save_checkpoint(tmp_path / "sync.pt", modules={"sync_discriminator": disc}, progress={}, config=config)
    assert load_sync_discriminator(tmp_path / "sync.pt", model_cfg, expression_space="bfm") is not None
    with pytest.raises(ExpressionSpaceError, match="D_sync checkpoint.*'bfm'.*training data.*'embedded'"):
        load_sync_discriminator(tmp_path / "sync.pt", model_cfg, expression_space="embedded")


def test_coeffs_frame_rate_rule():
    from talkclip.preprocess.timing import LengthMismatchError, coeffs_frame_rate

    # A 25 fps fit of a 30 fps MEAD video (both ~3.8 s): inferred, not refused.
    assert coeffs_frame_rate(95, 112, 30.0, 0, 0.2, "clip") == (25.0, "inferred")
    # Same rate, the fitter dropped two frames: the video's rate.
    assert coeffs_frame_rate(110, 112, 30.0, 0, 0.2, "clip") == (30.0, "video")
    assert coeffs_frame_rate(95, 112, 30.0, 25, 0.2, "clip") == (25.0, "configured")
    with pytest.raises(LengthMismatchError, match=r"95 frames.*112 frames at 30 fps.*at 30 fps they last 3\.167 s "
                       r"\(0\.567 s apart\).*assumed preprocess\.coeffs_fps = 30"):
        coeffs_frame_rate(95, 112, 30.0, 30, 0.2, "clip")
    with pytest.raises(LengthMismatchError, match=r"at 30 fps.*at 25 fps.*tried the video's rate, then 25, 30"):
        coeffs_frame_rate(60, 112, 30.0, 0, 0.2, "clip")
