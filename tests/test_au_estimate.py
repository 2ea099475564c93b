"""The landmark AU estimator: geometry, calibration, the shipped model, and its behaviour on real faces."""
import numpy as np
import pytest

from talkclip.au_calibration import CalibrationClip, calibrate, validation_markdown
from talkclip.metrics.au_estimate import (
    AU_NAMES,
    FEATURE_NAMES,
    AUEstimateError,
    LandmarkAUEstimator,
    downscale_frames,
    estimate_aus,
    estimate_aus_from_frames,
    landmark_features,
    load_estimator,
    normalize_landmarks,
)


def _face(rng, n=5):
    """Rough iBUG-like landmarks: a base shape with small per-frame jitter (pixels)."""
    from talkclip.corpus.face_model import FaceModel, project
    from talkclip.corpus.identity import sample_identity

    model = FaceModel.build(sample_identity(np.random.default_rng(0), "W"))
    expression = np.zeros((n, 64), np.float32)
    points = model.points(expression)[:, :68]
    return project(points, np.zeros((n, 6), np.float32), 256) + rng.normal(0, 0.2, (n, 68, 2))


def test_features_ignore_position_size_and_roll():
    rng = np.random.default_rng(0)
    landmarks = _face(rng)
    angle = np.radians(12.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = (landmarks - 128) @ rotation.T * 1.7 + np.array([40.0, -25.0])
    np.testing.assert_allclose(landmark_features(moved), landmark_features(landmarks), atol=1e-9)
    frame = normalize_landmarks(landmarks)
    eyes = (frame[:, 36] + frame[:, 39]) / 2, (frame[:, 42] + frame[:, 45]) / 2
    np.testing.assert_allclose(eyes[0], [[-0.5, 0.0]] * 5, atol=1e-9)
    np.testing.assert_allclose(eyes[1], [[0.5, 0.0]] * 5, atol=1e-9)
    assert (frame[:, 8, 1] < -1).all()  # the chin is below the eyes: y points up
    with pytest.raises(AUEstimateError, match=r"\(T > 0, 68, 2\)"):
        landmark_features(np.zeros((3, 67, 2)))
    with pytest.raises(AUEstimateError, match="NaN"):
        landmark_features(np.full((1, 68, 2), np.nan))


def _synthetic_clips(rng):
    """Clips whose AUs are a known linear function of the features (plus noise): the fit must find it."""
    weights = rng.normal(0, 1, (len(FEATURE_NAMES), 12))
    clips = []
    for s, (speaker, split) in enumerate([("M001", "train"), ("W002", "train"), ("M003", "val"), ("W004", "test")]):
        offset = rng.normal(0, 0.3, len(FEATURE_NAMES))  # identity: cancelled by the neutral reference
        for emotion in ("neutral", "happy", "sad"):
            delta = rng.normal(0, 0.1, (40, len(FEATURE_NAMES))) * (0.2 if emotion == "neutral" else 1.0)
            au = np.clip(2.0 + delta @ weights * 3 + rng.normal(0, 0.05, (40, 12)), 0, 5)
            features = offset + delta
            clips.append(CalibrationClip(f"{speaker}_{emotion}", speaker, emotion, split,
                                         {"dlib": features, "exact": features}, au))
    return clips


def test_calibration_recovers_a_known_relation_and_round_trips(tmp_path):
    estimator = calibrate(_synthetic_clips(np.random.default_rng(1)))
    result = estimator.validation["dlib_landmarks/speaker_neutral"]
    assert result["speakers"] == ["W004"] and result["clips"] == 3
    assert result["mean"]["r_frames"] > 0.9, result["mean"]
    assert set(result["per_au"]) == set(AU_NAMES)
    assert "| r_frames |" in validation_markdown(estimator)
    estimator.save(tmp_path / "model.json")
    loaded = LandmarkAUEstimator.load(tmp_path / "model.json")
    features = np.random.default_rng(2).normal(0, 0.1, (7, len(FEATURE_NAMES)))
    np.testing.assert_allclose(loaded.estimate(features, features[0]), estimator.estimate(features, features[0]))
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(AUEstimateError, match="expected format"):
        LandmarkAUEstimator.load(tmp_path / "bad.json")


def test_shipped_model_loads_with_its_validation():
    estimator = load_estimator()
    assert set(estimator.models) == {"speaker_neutral", "population"}
    validation = estimator.validation["dlib_landmarks/speaker_neutral"]
    assert validation["clips"] > 0 and set(validation["per_au"]) == set(AU_NAMES)
    assert estimator.provenance["heldout_speakers"] and not (
        set(estimator.provenance["heldout_speakers"]) & set(estimator.provenance["fit_speakers"]))


def test_rendered_smile_reads_as_au12():
    """The whole frames -> dlib -> AU path on the embedded renderer's face (an identity the
    calibration never saw): the happy display of the EMFACS prototype (6 + 12, lips apart), held
    still, raises AU12 and AU6 over the same face at rest."""
    from talkclip.corpus.facs import au_to_expression, emotion_prototype
    from talkclip.corpus.identity import sample_identity
    from talkclip.corpus.renderer import FaceRenderer

    renderer = FaceRenderer(sample_identity(np.random.default_rng(5), "M"), image_size=256)
    pose = np.zeros((6, 6), np.float32)
    neutral, _ = renderer.render(np.zeros((6, 64), np.float32), pose)
    left, right = emotion_prototype("happy", 3)
    smile, _ = renderer.render(np.repeat(au_to_expression(left[None], right[None]), 6, axis=0), pose)
    estimated = estimate_aus_from_frames(smile, neutral_frames=neutral).mean(axis=0)
    baseline = estimate_aus_from_frames(neutral, neutral_frames=neutral).mean(axis=0)
    for au, margin in (("AU12", 1.0), ("AU6", 0.5)):
        k = AU_NAMES.index(au)
        assert estimated[k] > baseline[k] + margin, (au, estimated.round(2), baseline.round(2))


def test_downscaling_keeps_small_frames_and_shrinks_large_ones():
    small = np.zeros((2, 256, 256, 3), np.uint8)
    assert downscale_frames(small) is small
    large = np.full((1, 1080, 1920, 3), 200, np.uint8)
    shrunk = downscale_frames(large)
    assert max(shrunk.shape[1:3]) <= 640 and shrunk.dtype == np.uint8 and (shrunk == 200).all()


@pytest.mark.slow
def test_real_mead_emotions_read_plausibly(dreamtalk_samples):
    """Real MEAD speaker W009 (25 fps crops), relative to her neutral clip: the AUs of each emotion's
    EMFACS prototype that docs/DESIGN.md reports as found are above the neutral clip's."""
    from talkclip.metrics.au_estimate import video_landmarks

    videos = dreamtalk_samples / "style_clip" / "video"
    landmarks = {p.stem.split("_")[2]: video_landmarks(p, frame_step=2) for p in sorted(videos.glob("W009_*.mp4"))}
    neutral = landmarks["neutral"]
    mean = {emotion: estimate_aus(lm, neutral).mean(axis=0) for emotion, lm in landmarks.items()}

    def above_neutral(emotion, au, margin):
        k = AU_NAMES.index(au)
        return mean[emotion][k] > mean["neutral"][k] + margin

    assert above_neutral("happy", "AU12", 1.0) and above_neutral("happy", "AU6", 0.5)
    assert above_neutral("sad", "AU1", 1.0) and above_neutral("sad", "AU15", 0.5)
    assert above_neutral("surprised", "AU2", 0.4) and above_neutral("surprised", "AU5", 0.4)
    assert above_neutral("angry", "AU4", 1.0)
    assert above_neutral("fear", "AU1", 1.0) and above_neutral("fear", "AU5", 1.0)


def test_annotation_names_the_ways_to_get_aus_for_real_data(tmp_path):
    from test_training_toy import build_toy_dataset

    from talkclip.annotation.stage import run_annotation
    from talkclip.config.annotate import AnnotateConfig

    processed, _ = build_toy_dataset(tmp_path)  # clips without AUs and without videos, like bare real data
    with pytest.raises(ValueError, match=r"--openface DIR.*--au-source landmarks"):
        run_annotation(processed, tmp_path / "a", AnnotateConfig(), progress=False)
    with pytest.raises(ValueError, match="names no video"):
        run_annotation(processed, tmp_path / "a", AnnotateConfig(), au_source="landmarks", progress=False)
    with pytest.raises(ValueError, match="needs a folder of OpenFace CSVs"):
        run_annotation(processed, tmp_path / "a", AnnotateConfig(), au_source="openface", progress=False)
    assert not (tmp_path / "a").exists()
