"""The real-data path end to end, as a new user would take it, on the real samples of ../shared/samples.

MEAD: the DreamTalk samples are real MEAD (speaker W009, 8 emotions: Deep3DFaceRecon fits at 25 fps and
silent 256 px crops). The test lays them out as an original MEAD download, in a temporary folder
(the samples are never copied into the repository): videos re-encoded at MEAD's 30 fps, and speech as
MEAD's 48 kHz AAC ``.m4a`` files, cut from the English speech sample to each clip's duration. That
speech is not what W009 says in those videos: the test checks the mechanics of the real path (formats,
rates, spaces, the AU estimate from the real faces, training, generation, evaluation), not lip sync or
the quality of a model trained on 8 clips for a few steps. No transcript exists for the speech, so
the aligner falls back to phone recognition, and the phoneme-reliability warning must say so.

StyleTalk: its samples (30 fps fits, per-frame phoneme files, wav, videos of 5 people) go through the
same steps with ``talkclip preprocess --styletalk``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from talkclip import cli
from talkclip.formats.media import read_audio, read_video, write_video
from talkclip.preprocess.dataset import read_clip, read_manifest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _write_m4a(path: Path, audio_16k: np.ndarray, rate: int = 48000) -> None:
    """MEAD's audio format: AAC in an .m4a container at 48 kHz, mono."""
    import av
    from scipy.signal import resample_poly

    samples = resample_poly(audio_16k.astype(np.float32), rate // 1000, 16).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="ipod") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None].astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def build_mead_folder(samples: Path, root: Path) -> Path:
    """An original-MEAD-like tree for W009: 30 fps videos, 48 kHz .m4a speech; fits stay in the samples."""
    speech = read_audio(samples / "audio" / "acknowledgement_english.m4a", 16000)
    offset = 0
    for video in sorted((samples / "style_clip" / "video").glob("W009_front_*.mp4")):
        _, _, emotion, level, index = video.stem.split("_")
        frames, fps = read_video(video)
        seconds = len(frames) / fps
        at_30 = np.floor(np.arange(int(np.floor(seconds * 30))) * fps / 30).astype(int)
        group = Path(emotion) / f"level_{level[-1]}"
        write_video(root / "W009" / "video" / "front" / group / f"{index}.mp4", frames[at_30], 30.0)
        n = int(seconds * 16000)
        if offset + n > len(speech):
            offset = 0
        _write_m4a(root / "W009" / "audio" / group / f"{index}.m4a", speech[offset: offset + n])
        offset += n
    return root


def tiny_params(tmp: Path) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["preprocess"]["workers"] = 1
    params["annotate"]["descriptions_per_clip"] = 3
    params["model"].update(d_model=32, n_heads=2, n_layers=1, d_ff=64, phoneme_embed_dim=16, dynamic_kernels=2,
                           dynamic_attention_hidden=8, decoder_head_hidden=16, tem_disc_channels=8,
                           sync_disc_hidden=16, style_max_frames=64)
    params["train"].update(device="cpu", batch_size=2, stage1_steps=2, stage2_steps=2, lambda_sync=0.0,
                           checkpoint_every=100, log_every=1)
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def _run(args: list[str]) -> None:
    code = cli.main(args)
    assert code == 0, f"talkclip {' '.join(args)} exited with {code}"


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_real_mead_from_raw_videos_to_evaluation(dreamtalk_samples, tmp_path, capsys):
    mead = build_mead_folder(dreamtalk_samples, tmp_path / "MEAD")
    params = tiny_params(tmp_path)
    fits = dreamtalk_samples / "style_clip" / "3DMM"

    # 1. preprocess: 25 fps fits of 30 fps videos (inferred from the durations), BFM space recorded.
    _run(["preprocess", "--params", str(params), "--corpus", str(mead), "--coeffs", str(fits),
          "--out", str(tmp_path / "processed"), "--metrics", str(tmp_path / "preprocess.json"), "--quiet"])
    metrics = _json(tmp_path / "preprocess.json")
    assert metrics["clips"] == 8 and metrics["expression_space"] == "bfm"
    assert metrics["coeffs_fps"] == {"25 (inferred)": 8}
    assert metrics["alignment_methods"] == {"phone_recognition": 8}  # no transcripts for this speech
    assert metrics["phonemes_unreliable"] == 8 and metrics["phoneme_warning_kinds"] == {"no usable transcript": 8}
    manifest = read_manifest(tmp_path / "processed" / "manifest.csv")
    assert set(manifest["expression_space"]) == {"bfm"} and set(manifest["split"]) == {"train"}
    clip = read_clip(tmp_path / "processed" / manifest["path"].iloc[0])
    assert clip.expression_space == "bfm"
    happy = manifest.set_index("clip_id").loc["W009_front_happy_level3_001"]
    assert happy["frames"] == 108  # 4.32 s at 25 fps: the fit's timeline, not 30 fps frame counts

    # 2. annotate without OpenFace: AUs estimated from dlib landmarks of the real faces.
    _run(["annotate", "--params", str(params), "--processed", str(tmp_path / "processed"), "--au-source",
          "landmarks", "--au-frame-step", "3", "--out", str(tmp_path / "annotated"),
          "--metrics", str(tmp_path / "annotate.json"), "--quiet"])
    metrics = _json(tmp_path / "annotate.json")
    assert metrics["au_source"] == "landmarks" and "approximate" in metrics["au_source_note"]
    assert metrics["expression_space"] == "bfm" and metrics["au_reference"] == {"speaker_neutral": 8}
    annotated = pd.read_csv(tmp_path / "annotated" / "manifest.csv", keep_default_na=False)
    assert set(annotated["au_source"]) == {"landmarks"} and set(annotated["expression_space"]) == {"bfm"}
    levels = pd.read_csv(tmp_path / "annotated" / "au_levels.csv").set_index("clip_id")
    assert levels.loc["W009_front_happy_level3_001", "AU12_mean"] > levels.loc["W009_front_neutral_level1_001", "AU12_mean"]
    descriptions = pd.read_csv(tmp_path / "annotated" / "descriptions.csv")
    assert descriptions["text"].str.contains("speaks with").any()

    # 3. a tiny training: the checkpoint records the space.
    _run(["train", "--params", str(params), "--processed", str(tmp_path / "processed"), "--annotated",
          str(tmp_path / "annotated"), "--sync", "", "--out", str(tmp_path / "model"),
          "--metrics", str(tmp_path / "train.json"), "--quiet"])
    checkpoint = tmp_path / "model" / "checkpoints" / "final.pt"
    from talkclip.training.checkpoint import load_checkpoint

    assert load_checkpoint(checkpoint)["config"]["data"]["expression_space"] == "bfm"
    assert "no test split" in _json(tmp_path / "train.json")["style_probes"]

    # 4. generation from text, with the real speech of one clip; the output records the space.
    audio = mead / "W009" / "audio" / "happy" / "level_3" / "001.m4a"
    # The CLI turns warnings into one line on stderr (docs/DESIGN.md, "Bad input").
    capsys.readouterr()
    _run(["generate", "--params", str(params), "--checkpoint", str(checkpoint), "--text",
          "A woman is delighted and speaks with lip corners strongly raised.", "--audio", str(audio),
          "--out", str(tmp_path / "generated")])
    err = capsys.readouterr().err
    assert "talkclip generate: warning:" in err and "no usable transcript" in err, err
    generation = _json(tmp_path / "generated" / "generation.json")
    assert generation["expression_space"] == "bfm" and generation["phoneme_reliability"]["reliable"] is False
    coefficients = np.load(tmp_path / "generated" / "coefficients.npy")
    assert coefficients.shape == (generation["frames"], 64) and np.isfinite(coefficients).all()
    # A real style clip is in the model's space and is accepted; an embedded-space one is refused.
    _run(["generate", "--params", str(params), "--checkpoint", str(checkpoint), "--style-clip",
          str(fits / "W009_front_sad_level3_001.mat"), "--audio", str(audio), "--out", str(tmp_path / "by_clip")])
    err = capsys.readouterr().err
    assert "talkclip generate: warning:" in err and "no usable transcript" in err, err
    assert _json(tmp_path / "by_clip" / "generation.json")["style_clip"].startswith("style clip")
    capsys.readouterr()
    code = cli.main(["generate", "--params", str(params), "--checkpoint", str(checkpoint), "--style-clip",
                     str(fits / "W009_front_sad_level3_001.mat"), "--style-space", "embedded", "--audio", str(audio),
                     "--out", str(tmp_path / "refused")])
    assert code == 2 and "'embedded' space" in capsys.readouterr().err

    # 5. evaluate the generated coefficients against the clip's own fit and real face.
    evaluate_generation(tmp_path, fits, dreamtalk_samples)


def evaluate_generation(tmp_path: Path, fits: Path, samples: Path) -> None:
    from talkclip.metrics.space_map import expression_landmark_scores

    generated = np.load(tmp_path / "generated" / "coefficients.npy")
    clip = read_clip(tmp_path / "processed" / "clips" / "W009_front_happy_level3_001.npz")
    video = samples / "style_clip" / "video" / "W009_front_happy_level3_001.mp4"
    scores = expression_landmark_scores(generated, clip.expression, "bfm", reference_video=video)
    assert scores["space"] == "bfm" and np.isfinite([scores["f_lmd"], scores["m_lmd"]]).all()
    same = expression_landmark_scores(clip.expression, clip.expression, "bfm", reference_video=video)
    assert same["f_lmd"] == pytest.approx(0.0, abs=1e-9) and scores["m_lmd"] > 0


def test_styletalk_samples_from_preprocess_to_evaluation(styletalk_samples, tmp_path):
    """Three StyleTalk clips of two people (30 fps fits, per-frame phoneme files, wav, videos), laid out
    as a StyleTalk folder of links, trained on as a tiny real dataset."""
    source = styletalk_samples / "source_video"
    folder = tmp_path / "styletalk"
    for name in ("feifeili_clip3", "feifeili_clip1", "KristiNoem"):
        for sub, suffix in (("3DMM", ".mat"), ("wav", ".wav"), ("video", ".mp4"), ("phoneme", "_seq.json")):
            (folder / sub).mkdir(parents=True, exist_ok=True)
            (folder / sub / f"{name}{suffix}").symlink_to(source / sub / f"{name}{suffix}")
    params = tiny_params(tmp_path)
    _run(["preprocess", "--params", str(params), "--styletalk", str(folder), "--styletalk-split", "train",
          "--out", str(tmp_path / "processed"), "--metrics", str(tmp_path / "preprocess.json"), "--quiet"])
    metrics = _json(tmp_path / "preprocess.json")
    assert metrics["expression_space"] == "bfm" and metrics["coeffs_fps"] == {"30 (video)": 3}
    assert metrics["alignment_methods"] == {"phoneme_json": 3} and metrics["phonemes_unreliable"] == 0
    _run(["annotate", "--params", str(params), "--processed", str(tmp_path / "processed"), "--au-source",
          "landmarks", "--au-frame-step", "5", "--out", str(tmp_path / "annotated"),
          "--metrics", str(tmp_path / "annotate.json"), "--quiet"])
    metrics = _json(tmp_path / "annotate.json")
    # StyleTalk folders carry no emotion, so their clips are labelled neutral (plan_styletalk): each
    # speaker's own clips are its neutral reference, and the metrics say which reference was used.
    assert metrics["au_source"] == "landmarks" and metrics["au_reference"] == {"speaker_neutral": 3}
    _run(["train", "--params", str(params), "--processed", str(tmp_path / "processed"), "--annotated",
          str(tmp_path / "annotated"), "--sync", "", "--out", str(tmp_path / "model"), "--quiet"])
    checkpoint = tmp_path / "model" / "checkpoints" / "final.pt"
    _run(["generate", "--params", str(params), "--checkpoint", str(checkpoint), "--text", "A person looks calm.",
          "--phonemes", str(source / "phoneme" / "feifeili_clip3_seq.json"), "--out", str(tmp_path / "generated")])
    generation = _json(tmp_path / "generated" / "generation.json")
    assert generation["expression_space"] == "bfm" and generation["phonemes"] == "phoneme_json"
    generated = np.load(tmp_path / "generated" / "coefficients.npy")
    reference = read_clip(tmp_path / "processed" / "clips" / "feifeili_clip3.npz")
    from talkclip.metrics.space_map import expression_landmark_scores

    scores = expression_landmark_scores(generated, reference.expression, "bfm",
                                        reference_video=source / "video" / "feifeili_clip3.mp4")
    assert scores["frames"] == min(len(generated), reference.frames) and scores["m_lmd"] > 0
