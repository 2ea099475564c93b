"""Expression -> landmark maps of both spaces, the conversion between them, landmark scores, the BFM fit."""
import json

import numpy as np
import pytest
from test_training_toy import HashBackbone, build_toy_dataset, tiny_model_config

from talkclip.expression import COMPONENT_INDEX, EXPRESSION_DIM
from talkclip.metrics.au_estimate import normalize_landmarks
from talkclip.metrics.space_map import (
    PairedClip,
    SpaceLandmarkMap,
    conversion_residual,
    convert_expression,
    embedded_map,
    expression_landmark_scores,
    fit_bfm_map,
    space_map,
)


def _frontal_landmarks(expression, seed=3):
    from talkclip.corpus.face_model import FaceModel, project
    from talkclip.corpus.identity import sample_identity

    model = FaceModel.build(sample_identity(np.random.default_rng(seed), "W"))
    points = model.points(np.asarray(expression, np.float32))[:, :68]
    return project(points, np.zeros((len(points), 6), np.float32), 256)


def test_embedded_map_matches_the_face_model():
    mapping = embedded_map()
    jaw = np.zeros((1, EXPRESSION_DIM), np.float32)
    jaw[0, COMPONENT_INDEX["jaw_open"]] = 1.0
    moved = mapping.displacement(jaw)[0]
    assert moved[8, 1] < -0.2 and abs(moved[36, 1]) < 1e-6  # the chin drops; the eye corners stay
    for name in ("face_flush", "pupil_dilate"):
        one = np.zeros((1, EXPRESSION_DIM), np.float32)
        one[0, COMPONENT_INDEX[name]] = 1.0
        assert np.abs(mapping.displacement(one)).max() < 1e-9
    # A small expression on an identity the map did not average over: the map predicts its landmarks.
    rng = np.random.default_rng(0)
    expression = np.clip(rng.normal(0, 0.15, (20, EXPRESSION_DIM)), 0, None).astype(np.float32)
    expression[:, [COMPONENT_INDEX["lid_close_l"], COMPONENT_INDEX["lid_close_r"]]] = 0  # contacts are not linear
    measured = normalize_landmarks(_frontal_landmarks(expression)) - normalize_landmarks(_frontal_landmarks(0 * expression))
    predicted = mapping.displacement(expression)
    r = np.corrcoef(measured.ravel(), predicted.ravel())[0, 1]
    assert r > 0.9, r


def test_landmark_scores():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 0.2, (30, EXPRESSION_DIM)).astype(np.float32)
    assert expression_landmark_scores(a, a, "embedded")["f_lmd"] == 0.0
    b = a.copy()
    b[:, COMPONENT_INDEX["jaw_open"]] += 0.5
    scores = expression_landmark_scores(b, a, "embedded")
    assert scores["m_lmd"] > scores["f_lmd"] > 0 and scores["units"] == "inter-ocular distance"
    face = _frontal_landmarks(np.zeros((30, EXPRESSION_DIM)))
    in_pixels = expression_landmark_scores(b, a, "embedded", reference_landmarks=face)
    iod = np.linalg.norm((face[0, 42] + face[0, 45]) / 2 - (face[0, 36] + face[0, 39]) / 2)
    assert in_pixels["m_lmd"] == pytest.approx(scores["m_lmd"] * iod, rel=1e-6)


def test_fit_recovers_a_known_map_and_validates_on_held_out_people():
    rng = np.random.default_rng(2)
    truth = rng.normal(0, 0.05, (136, EXPRESSION_DIM))
    face = _frontal_landmarks(np.zeros((1, EXPRESSION_DIM)))[0]
    iod = np.linalg.norm((face[42] + face[45]) / 2 - (face[36] + face[39]) / 2)
    clips = []
    for person in ("A", "B", "C"):
        for k in range(2):
            expression = rng.normal(0, 0.4, (120, EXPRESSION_DIM))
            motion = (expression @ truth.T).reshape(-1, 68, 2) * np.array([1, -1]) * iod
            motion[:, [36, 39, 42, 45]] = 0  # the eye corners define the frame: keep them still
            landmarks = face + motion + rng.normal(0, 0.05, motion.shape)
            clips.append(PairedClip(f"{person}{k}", person, expression, np.zeros((120, 3)), landmarks))
    mapping = fit_bfm_map(clips)
    assert mapping.space == "bfm" and mapping.validation["heldout"]["all"]["r2"] > 0.9
    assert mapping.validation["heldout"]["all"]["error"] < 0.3 * mapping.validation["heldout"]["all"]["error_without_map"]


def test_shipped_bfm_map_and_conversion_of_a_real_style_clip(dreamtalk_samples):
    from talkclip.preprocess.spaces import read_style_clip

    mapping = space_map("bfm")
    assert mapping.validation["heldout"]["mouth"]["r2"] > 0.2 and len(mapping.provenance["people"]) >= 2
    happy = read_style_clip(dreamtalk_samples / "style_clip" / "3DMM" / "W009_front_happy_level3_001.mat")
    neutral = read_style_clip(dreamtalk_samples / "style_clip" / "3DMM" / "W009_front_neutral_level1_001.mat")
    converted = {c: convert_expression(s.expression, "bfm", "embedded") for c, s in (("happy", happy), ("neutral", neutral))}
    pull = [COMPONENT_INDEX["lip_corner_pull_l"], COMPONENT_INDEX["lip_corner_pull_r"]]
    assert converted["happy"][:, pull].mean() > converted["neutral"][:, pull].mean()
    assert conversion_residual(happy.expression, "bfm", "embedded") < 0.5


def test_generate_converts_a_real_style_clip_for_a_corpus_model(dreamtalk_samples, tmp_path):
    from talkclip.config.train import TrainConfig
    from talkclip.generate import generate
    from talkclip.preprocess.spaces import read_style_clip
    from talkclip.training.trainer import train

    processed, annotated = build_toy_dataset(tmp_path)
    cfg = TrainConfig(device="cpu", batch_size=2, clip_frames=32, stage1_steps=1, stage2_steps=1, lambda_sync=0.0)
    checkpoint = train(tiny_model_config(), cfg, processed, annotated, tmp_path / "run", None,
                       backbone=HashBackbone()).checkpoint
    seq = tmp_path / "seq.json"
    seq.write_text(json.dumps([31] * 40))
    clip = read_style_clip(dreamtalk_samples / "style_clip" / "3DMM" / "W009_front_happy_level3_001.mat")
    result = generate(checkpoint, tmp_path / "out", style_clip=clip, phoneme_seq=seq, convert_style=True)
    meta = json.loads((tmp_path / "out" / "generation.json").read_text())
    assert result.expression_space == "embedded" and meta["style_conversion"]["from"] == "bfm"
    assert "converted to 'embedded'" in meta["style_clip"]


def test_map_files_round_trip(tmp_path):
    mapping = SpaceLandmarkMap("bfm", np.random.default_rng(0).normal(0, 0.01, (136, 64)), {"source": "test"})
    mapping.save(tmp_path / "m.json")
    loaded = space_map("bfm", str(tmp_path / "m.json"))
    np.testing.assert_allclose(loaded.coef, mapping.coef, atol=1e-6)
    with pytest.raises(ValueError, match="not 'embedded'"):
        space_map("embedded", str(tmp_path / "m.json"))
