"""talkclip generate --image: a photo + speech + a style -> an mp4 (talkclip.animate), bad input first.

The photo is scikit-image's ``astronaut`` (NASA, public domain, in the wheel); the speech is espeak-ng
(through the corpus's synthesizer); the checkpoint is a tiny, randomly initialised TalkCLIP saved in
the training checkpoint format (its output is not meaningful speech motion, only the mechanics are).
"""
from __future__ import annotations

import json

import av
import numpy as np
import pytest
import scipy.io.wavfile
import torch
from PIL import Image
from test_training_toy import HashBackbone, tiny_model_config

from talkclip import animate
from talkclip.animate import SilentAudioError, animate_portrait, record_path, style_expressions
from talkclip.config.loader import to_dict
from talkclip.formats.mat3dmm import Coeffs3DMM, write_mat
from talkclip.formats.media import MediaError, probe_video, read_video, write_wav
from talkclip.inference import decode_coefficients, generate_coefficients, load_model, style_code
from talkclip.model.talkclip_model import TalkCLIP
from talkclip.portrait.detect import NoFaceError
from talkclip.portrait.image import UnsupportedImageError
from talkclip.training.checkpoint import save_checkpoint

SR = 16000


def _save_tiny_checkpoint(path, expression_space: str = "embedded"):
    torch.manual_seed(0)
    cfg = tiny_model_config()
    data = {"text_dim": 16, "expression_space": expression_space}
    save_checkpoint(path, modules={"talkclip": TalkCLIP(cfg, text_dim=16)}, progress={},
                    config={"model": to_dict(cfg), "data": data})
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A photo, a speech file, a tiny checkpoint (embedded space) and one that says BFM."""
    import skimage.data

    from talkclip.corpus.speech import Voice, synthesize

    root = tmp_path_factory.mktemp("animate")
    Image.fromarray(skimage.data.astronaut()).save(root / "astronaut.png")
    utterance = synthesize("The sheriff rode into town on a black horse.", Voice("en-us+f2", 160, 55, 50, 100))
    write_wav(root / "speech.wav", utterance.audio, utterance.sample_rate)
    return {
        "root": root, "image": root / "astronaut.png", "audio": root / "speech.wav", "speech": utterance.audio,
        "checkpoint": _save_tiny_checkpoint(root / "tiny.pt"),
        "bfm_checkpoint": _save_tiny_checkpoint(root / "bfm.pt", expression_space="bfm"),
    }


@pytest.fixture(scope="module")
def model(files):
    return load_model(files["checkpoint"])[0]


# --- bad input: refused before any model work, nothing written ------------------------------------


def test_bad_photo_is_refused_before_the_model(files, tmp_path):
    noise = tmp_path / "wall.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (240, 240, 3), dtype=np.uint8)).save(noise)
    out = tmp_path / "out.mp4"
    # The checkpoint does not even exist: the photo is checked first.
    with pytest.raises(NoFaceError, match=r"wall\.png: no face found"):
        animate_portrait(noise, files["audio"], out, checkpoint=tmp_path / "none.pt", text="A man.", progress=False)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "face.gif")
    with pytest.raises(UnsupportedImageError, match="format GIF"):
        animate_portrait(tmp_path / "face.gif", files["audio"], out, checkpoint=tmp_path / "none.pt", text="A man.",
                         progress=False)
    assert not out.exists() and not record_path(out).exists()


def test_bad_audio_is_refused(files, tmp_path):
    out = tmp_path / "out.mp4"
    common = {"checkpoint": tmp_path / "none.pt", "text": "A man.", "progress": False}
    write_wav(tmp_path / "silence.wav", np.zeros(SR, np.float32), SR)
    with pytest.raises(SilentAudioError, match=r"silence\.wav is silent \(digital silence\)"):
        animate_portrait(files["image"], tmp_path / "silence.wav", out, **common)
    write_wav(tmp_path / "hiss.wav", np.random.default_rng(0).normal(0, 1e-4, SR).astype(np.float32), SR)
    with pytest.raises(SilentAudioError, match="peak -"):
        animate_portrait(files["image"], tmp_path / "hiss.wav", out, **common)
    scipy.io.wavfile.write(tmp_path / "empty.wav", SR, np.zeros(0, np.int16))
    with pytest.raises(MediaError, match="no audio samples"):
        animate_portrait(files["image"], tmp_path / "empty.wav", out, **common)
    (tmp_path / "speech.xyz").write_text("not audio")
    with pytest.raises(MediaError, match=r"speech\.xyz.*file type: \.xyz; expected wav"):
        animate_portrait(files["image"], tmp_path / "speech.xyz", out, **common)
    assert not out.exists()


def test_bad_arguments_and_spaces(files, tmp_path):
    common = {"progress": False}
    cases = [
        ({"out": tmp_path / "out.avi", "text": "A man."}, "expected a .mp4"),
        ({"text": None}, "exactly one style"),
        ({"text": "  "}, "style text is empty"),
        ({"text": "A man.", "intensity": 5.0}, r"intensity must be in 0..3"),
        ({"text": "A man.", "renderer": "pirenderer"}, "needs its weights"),
        ({"style_clip": files["root"] / "x.npz", "text_to": "A sad man."}, "needs a start description"),
    ]
    for kwargs, message in cases:
        kwargs = {"out": tmp_path / "out.mp4", "checkpoint": files["checkpoint"], **kwargs}
        with pytest.raises(ValueError, match=message):
            animate_portrait(files["image"], files["audio"], **kwargs, **common)
    with pytest.raises(ValueError, match="'bfm' expression coefficients; the landmark-warp renderer.*--convert-space"):
        animate_portrait(files["image"], files["audio"], tmp_path / "o.mp4", checkpoint=files["bfm_checkpoint"],
                         text="A man.", **common)
    with pytest.raises(ValueError, match=r"PIRenderer was\s+trained on BFM"):
        animate_portrait(files["image"], files["audio"], tmp_path / "o.mp4", checkpoint=files["checkpoint"],
                         text="A man.", renderer="pirenderer", renderer_checkpoint=tmp_path / "r.pt",
                         pose_from=tmp_path / "p.mat", **common)
    n = 20
    write_mat(tmp_path / "real_fit.mat", Coeffs3DMM(
        identity=np.full((n, 80), 0.2, np.float32), expression=np.zeros((n, 64), np.float32),
        texture=np.zeros((n, 80), np.float32), angles=np.zeros((n, 3), np.float32),
        lighting=np.zeros((n, 27), np.float32), translation=np.zeros((n, 3), np.float32),
        transform_params=np.ones((n, 5), np.float32)))
    with pytest.raises(ValueError, match=r"expression spaces differ: style clip .*real_fit\.mat.* 'bfm' space"):
        animate_portrait(files["image"], files["audio"], tmp_path / "o.mp4", checkpoint=files["checkpoint"],
                         style_clip=tmp_path / "real_fit.mat", **common)
    assert not (tmp_path / "o.mp4").exists()


# --- styles -------------------------------------------------------------------------------------


def test_style_interpolation_and_intensity(model):
    backbone = HashBackbone()
    phonemes = np.random.default_rng(0).integers(0, 41, 60)
    a = generate_coefficients(model, phonemes, text="A happy man.", backbone=backbone)
    b = generate_coefficients(model, phonemes, text="An angry woman shouting.", backbone=backbone)
    neutral = generate_coefficients(model, phonemes, text=animate.NEUTRAL_TEXT, backbone=backbone)
    kwargs = {"style_clip": None, "backbone": backbone}
    plain = style_expressions(model, phonemes, text="A happy man.", text_to=None, intensity=1.0, **kwargs)
    np.testing.assert_allclose(plain, a, atol=1e-5)
    moving = style_expressions(model, phonemes, text="A happy man.", text_to="An angry woman shouting.",
                               intensity=1.0, **kwargs)
    np.testing.assert_allclose(moving[0], a[0], atol=1e-5)
    np.testing.assert_allclose(moving[-1], b[-1], atol=1e-5)
    assert not np.allclose(moving[30], a[30]) and not np.allclose(moving[30], b[30])
    np.testing.assert_allclose(style_expressions(model, phonemes, text="A happy man.", text_to=None, intensity=0.0,
                                                 **kwargs), neutral, atol=1e-5)
    double = style_expressions(model, phonemes, text="A happy man.", text_to=None, intensity=2.0, **kwargs)
    np.testing.assert_allclose(double, neutral + 2 * (a - neutral), atol=1e-4)
    # One code per frame, all equal, is the same as one code for the clip.
    code = style_code(model, text="A happy man.", backbone=backbone)
    np.testing.assert_allclose(decode_coefficients(model, phonemes, code.expand(60, -1).contiguous()), a, atol=1e-5)


# --- end to end ----------------------------------------------------------------------------------


def _check_video(path, n_frames_expected, size):
    info = probe_video(path)
    assert (info.width, info.height, info.fps) == (size, size, 25.0)
    assert abs(info.n_frames - n_frames_expected) <= 0
    with av.open(str(path)) as container:
        tags = dict(container.metadata)
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        audio_seconds = float(audio.duration * audio.time_base)
    assert abs(audio_seconds - info.duration) < 0.08  # the speech is muxed, in sync, as long as the video
    assert tags["comment"].startswith("synthetic") and "Synthetic" in tags["title"]


@pytest.mark.slow
def test_animate_portrait_end_to_end(files, tmp_path):
    out = tmp_path / "clip.mp4"
    result = animate_portrait(files["image"], files["audio"], out, checkpoint=files["checkpoint"],
                              text="A woman looks ecstatic.", text_to="A woman is furious.", intensity=1.5,
                              backbone=HashBackbone(), visible_mark=True, progress=False)
    n_frames = int(len(files["speech"]) / SR * 25)
    assert result.n_frames == n_frames and result.video == out
    _check_video(out, n_frames, 256)
    record = json.loads(record_path(out).read_text())
    assert record["synthetic"] is True and record["expression_space"] == "embedded"
    assert record["renderer"]["name"] == "landmark-warp" and "not a neural renderer" in record["renderer"]["kind"]
    assert record["style"] == {"text": "A woman looks ecstatic.", "text_to": "A woman is furious.", "style_clip": None,
                               "style_conversion": None,
                               "intensity": 1.5, "neutral_reference": animate.NEUTRAL_TEXT}
    assert record["checkpoint"] == str(files["checkpoint"]) and record["frames"] == n_frames
    frames, _ = read_video(out)
    # Background (top-left corner) stays; the mouth moves; the visible mark sits bottom-right.
    assert np.abs(frames[:, :40, :40].astype(int) - frames[0, :40, :40]).max() < 12
    assert frames[:, 150:200, 100:160].std(axis=0).mean() > 1.0
    assert frames[:, -12:-4, -60:-10].mean() < frames[:, -40:-30, -60:-10].mean() + 60


@pytest.mark.slow
def test_cli_generate_image(files, tmp_path, capsys):
    from talkclip.cli import main

    clip = tmp_path / "style.npz"
    np.savez(clip, expression=np.random.default_rng(0).normal(0, 0.2, (40, 64)).astype(np.float32),
             expression_space="embedded")
    code = main(["generate", "--image", str(files["image"]), "--audio", str(files["audio"]), "--style-clip", str(clip),
                 "--checkpoint", str(files["checkpoint"]), "--image-size", "128", "-o", str(tmp_path / "videos")])
    assert code == 0, capsys.readouterr().err
    video = tmp_path / "videos" / "astronaut.mp4"
    _check_video(video, int(len(files["speech"]) / SR * 25), 128)
    assert str(clip) in json.loads(record_path(video).read_text())["style"]["style_clip"]
    assert "astronaut.mp4" in capsys.readouterr().out
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(noise)
    code = main(["generate", "--image", str(noise), "--audio", str(files["audio"]), "--text", "A man.",
                 "--checkpoint", str(files["checkpoint"]), "-o", str(tmp_path / "x.mp4")])
    err = capsys.readouterr().err
    assert code == 2 and "no face found" in err and "Traceback" not in err
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.slow
def test_real_samples(files, styletalk_samples, tmp_path):
    """DreamTalk's uncropped photo and StyleTalk's speech (the shared samples; skipped without them)."""
    photo = styletalk_samples.parents[1] / "dreamtalk" / "src_img" / "uncropped" / "uncut_src_img.jpg"
    speech = styletalk_samples / "source_video" / "wav" / "feifeili_clip3.wav"
    out = tmp_path / "real.mp4"
    result = animate_portrait(photo, speech, out, checkpoint=files["checkpoint"], text="A woman is sad.",
                              backbone=HashBackbone(), progress=False)
    _check_video(out, result.n_frames, 256)


@pytest.mark.slow
def test_pirenderer_path_for_a_bfm_model(files, tmp_path, monkeypatch):
    """A BFM-space checkpoint through StyleTalk's PIRenderer (deterministic weights; 64 px to stay fast)."""
    from pirenderer_reference import KEYS_FILE, deterministic_state_dict

    shapes = [(k, v) for k, v in json.loads(KEYS_FILE.read_text())["state_dict"]]
    torch.save({"net_G_ema": deterministic_state_dict(shapes)}, tmp_path / "renderer_checkpoint.pt")
    n = 30
    write_mat(tmp_path / "pose.mat", Coeffs3DMM(
        identity=np.full((n, 80), 0.2, np.float32), expression=np.zeros((n, 64), np.float32),
        texture=np.zeros((n, 80), np.float32), angles=np.zeros((n, 3), np.float32),
        lighting=np.zeros((n, 27), np.float32), translation=np.zeros((n, 3), np.float32),
        transform_params=np.tile(np.float32([256, 256, 1, 128, 128]), (n, 1))))
    write_wav(tmp_path / "short.wav", files["speech"][: SR], SR)
    monkeypatch.setattr(animate, "PIRENDERER_SIZE", 64)
    out = tmp_path / "pirenderer.mp4"
    result = animate_portrait(files["image"], tmp_path / "short.wav", out, checkpoint=files["bfm_checkpoint"],
                              text="A calm man.", renderer="pirenderer",
                              renderer_checkpoint=tmp_path / "renderer_checkpoint.pt", pose_from=tmp_path / "pose.mat",
                              backbone=HashBackbone(), progress=False)
    _check_video(out, result.n_frames, 64)
    record = json.loads(record_path(out).read_text())
    assert record["renderer"]["name"] == "pirenderer" and record["expression_space"] == "bfm"


@pytest.mark.slow
def test_bfm_model_through_the_warp_with_the_landmark_map(files, tmp_path):
    out = tmp_path / "converted.mp4"
    result = animate_portrait(files["image"], files["audio"], out, checkpoint=files["bfm_checkpoint"], text="A man.",
                              convert_space=True, size=128, backbone=HashBackbone(), progress=False)
    _check_video(out, result.n_frames, 128)
    record = json.loads(record_path(out).read_text())
    conversion = record["renderer"]["space_conversion"]
    assert record["expression_space"] == "bfm" and conversion["from"] == "bfm" and conversion["to"] == "embedded"
    assert 0.0 <= conversion["unexplained_landmark_motion"] <= 1.0
