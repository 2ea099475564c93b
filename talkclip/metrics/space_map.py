"""A measured bridge between expression spaces: each space's expression -> 68-landmark displacement.

The two expression spaces (:mod:`talkclip.expression`) cannot be mixed, but both move the same 68
face landmarks. A linear map per space, ``displacement = M @ expression`` in the face frame of
:func:`talkclip.metrics.au_estimate.normalize_landmarks` (inter-ocular units, x right, y up),
lets them meet in landmark space:

- ``embedded``: exact, from the embedded face model (``talkclip.corpus.face_model``): the mean of
  the corpus identities' linear bases, frontal, before the lid/lip contact constraints;
- ``bfm``: learnt from real paired data, Deep3DFaceRecon fits and dlib landmarks of the same videos
  (the DreamTalk MEAD samples and the StyleTalk samples): a ridge regression of each clip's landmark
  motion on its expression and head angles (the angles absorb pose; only the expression part is
  kept), shipped as ``talkclip/data/bfm_landmark_map.json`` with its held-out validation
  (``talkclip space-map-fit``).

Uses: :func:`convert_expression` turns a style clip of one space into the other (through the
landmarks; the parts of an expression that no landmark sees, e.g. the embedded face's flush, are
lost), and :func:`expression_landmark_scores` compares two expression sequences of one space as
F-LMD / M-LMD on a reference face (how far the landmarks would be apart), without a renderer.
These are approximations, labelled as such wherever they are used.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from talkclip.calibration_file import read_calibration, write_calibration
from talkclip.expression import BFM_SPACE, EMBEDDED_SPACE, EXPRESSION_DIM, check_expression, check_space
from talkclip.metrics.au_estimate import normalize_landmarks

N_POINTS = 68
FORMAT = "talkclip-space-landmark-map-v1"
BFM_MAP_FILE = "bfm_landmark_map.json"
MOUTH = slice(48, 68)


class SpaceMapError(ValueError):
    """A map file or its inputs are malformed."""


@dataclass(frozen=True)
class SpaceLandmarkMap:
    """``displacement (T, 68, 2) = (expression (T, 64) @ coef.T).reshape(T, 68, 2)`` in face-frame units."""

    space: str
    coef: np.ndarray  # (136, 64)
    provenance: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_space(self.space, "SpaceLandmarkMap")
        coef = np.asarray(self.coef, dtype=np.float64)
        if coef.shape != (2 * N_POINTS, EXPRESSION_DIM) or not np.isfinite(coef).all():
            raise SpaceMapError(f"SpaceLandmarkMap({self.space}): coef must be finite (136, 64), got {coef.shape}")
        object.__setattr__(self, "coef", coef)

    def displacement(self, expression: np.ndarray) -> np.ndarray:
        """(T, 64) expression of this space -> (T, 68, 2) landmark displacement (face frame, y up)."""
        e = check_expression(expression, f"{self.space} expression").astype(np.float64)
        return (e @ self.coef.T).reshape(len(e), N_POINTS, 2)

    def save(self, path: str | Path) -> None:
        write_calibration(path, FORMAT, {"space": self.space, "coef": np.round(self.coef, 6).tolist(),
                                         "provenance": self.provenance, "validation": self.validation})

    @classmethod
    def load(cls, path: str | Path) -> SpaceLandmarkMap:
        payload = read_calibration(path, FORMAT, "expression-to-landmark map", "talkclip space-map-fit", SpaceMapError)
        return cls(payload["space"], np.asarray(payload["coef"]), payload.get("provenance", {}),
                   payload.get("validation", {}))


@lru_cache(maxsize=1)
def embedded_map() -> SpaceLandmarkMap:
    """The exact map of the embedded face: each component's landmark displacement per unit, averaged
    over the identities of a default corpus (frontal, orthographic, before contact constraints)."""
    from talkclip.config.corpus import CorpusConfig
    from talkclip.corpus.face_model import FaceModel
    from talkclip.corpus.identity import sample_identity

    config = CorpusConfig()
    rng = np.random.default_rng(config.seed)
    bases = []
    for i in range(config.n_speakers):
        model = FaceModel.build(sample_identity(rng, "M" if i % 2 == 0 else "W"))
        neutral = model.neutral[:N_POINTS]
        eye_r, eye_l = (neutral[36] + neutral[39]) / 2, (neutral[42] + neutral[45]) / 2
        unit = np.linalg.norm((eye_l - eye_r)[:2])
        basis = model.basis[:, :N_POINTS, :2] / unit  # (64, 68, 2), x right, y up, inter-ocular units
        bases.append(basis.reshape(EXPRESSION_DIM, -1).T)
    return SpaceLandmarkMap(EMBEDDED_SPACE, np.mean(bases, axis=0),
                            provenance={"source": "talkclip.corpus.face_model basis, mean of the default corpus identities"})


@lru_cache(maxsize=4)
def space_map(space: str, path: str | None = None) -> SpaceLandmarkMap:
    """The map of ``space`` (``bfm``: the shipped fit, or ``path``)."""
    check_space(space, "space_map")
    if space == EMBEDDED_SPACE and path is None:
        return embedded_map()
    found = SpaceLandmarkMap.load(path or Path(str(resources.files("talkclip") / "data" / BFM_MAP_FILE)))
    if found.space != space:
        raise SpaceMapError(f"{path}: a map of the {found.space!r} space, not {space!r}")
    return found


def convert_expression(expression: np.ndarray, from_space: str, to_space: str, ridge: float = 1e-3) -> np.ndarray:
    """Expressions of ``from_space`` -> the ``to_space`` expressions that move the landmarks alike.

    Least squares through the two maps with a small ridge (components no landmark sees get ~0):
    ``argmin_x |M_to x - M_from e|^2 + ridge |x|^2`` per frame.
    """
    source, target = space_map(from_space), space_map(to_space)
    if from_space == to_space:
        return check_expression(expression).copy()
    wanted = source.displacement(expression).reshape(len(expression), -1)
    m = target.coef
    solution = np.linalg.solve(m.T @ m + ridge * np.eye(EXPRESSION_DIM), m.T @ wanted.T).T
    return solution.astype(np.float32)


def conversion_residual(expression: np.ndarray, from_space: str, to_space: str) -> float:
    """Share of the landmark motion of ``expression`` that :func:`convert_expression` cannot reproduce."""
    wanted = space_map(from_space).displacement(expression)
    got = space_map(to_space).displacement(convert_expression(expression, from_space, to_space))
    centred = wanted - wanted.mean(axis=0)
    return float(((got - wanted - (got - wanted).mean(axis=0)) ** 2).sum() / max((centred ** 2).sum(), 1e-12))


def _to_pixels(displacement: np.ndarray, reference_landmarks: np.ndarray) -> np.ndarray:
    """Face-frame displacements (T, 68, 2) -> pixel displacements on each reference frame's face."""
    ref = np.asarray(reference_landmarks, dtype=np.float64)
    eye_r, eye_l = (ref[:, 36] + ref[:, 39]) / 2, (ref[:, 42] + ref[:, 45]) / 2
    axis = eye_l - eye_r
    distance = np.linalg.norm(axis, axis=1)
    cos, sin = axis[:, 0] / distance, axis[:, 1] / distance
    dx, dy = displacement[..., 0], -displacement[..., 1]  # face frame y up -> image y down
    px = cos[:, None] * dx - sin[:, None] * dy
    py = sin[:, None] * dx + cos[:, None] * dy
    return np.stack([px, py], axis=-1) * distance[:, None, None]


def expression_landmark_scores(
    generated: np.ndarray, reference: np.ndarray, space: str, *, reference_landmarks: np.ndarray | None = None,
    reference_video: str | Path | None = None, crop_size: int = 256, fps: float = 25.0,
) -> dict:
    """F-LMD / M-LMD between two expression sequences of one space, through that space's landmark map.

    The generated landmarks are the reference face's landmarks moved by ``M (generated - reference)``;
    with ``reference_landmarks`` (T, 68, 2) distances are in their pixels, with ``reference_video``
    (dlib landmarks of its frames, brought from the video's rate to ``fps``, the rate of the expression
    sequences) in pixels of a ``crop_size`` crop of them (evaluation/PROTOCOL.md), otherwise in
    inter-ocular units. Sequences of unequal length are cut to the shorter. This measures what the
    expression difference would do to the landmarks on that face, not a rendered video.
    """
    from talkclip.metrics.landmarks import lmd_scores, scale_to_crop

    mapping = space_map(space)
    generated = check_expression(generated, "generated expression")
    reference = check_expression(reference, "reference expression")
    n = min(len(generated), len(reference))
    if n == 0:
        raise SpaceMapError("expression_landmark_scores: empty expression sequence")
    delta = mapping.displacement(generated[:n]) - mapping.displacement(reference[:n])
    result = {"space": space, "map": mapping.provenance.get("source", ""), "frames": n}
    if reference_landmarks is None and reference_video is None:
        # The LMDs centre each frame's points, so the distance is that of the centred displacement.
        return {**result, **lmd_scores(delta, np.zeros_like(delta)), "units": "inter-ocular distance"}
    frame_hw = None
    if reference_landmarks is None:
        from talkclip.formats.media import read_video
        from talkclip.metrics.landmarks import DlibLandmarks
        from talkclip.preprocess.timing import resample_frames

        frames, video_fps = read_video(reference_video)
        frame_hw = frames.shape[1:3]
        detected = DlibLandmarks().landmarks(frames)
        reference_landmarks = resample_frames(detected, video_fps, fps, int(np.floor(len(detected) * fps / video_fps)))
    ref = np.asarray(reference_landmarks, dtype=np.float64)
    m = min(n, len(ref))
    moved, ref = ref[:m] + _to_pixels(delta[:m], ref[:m]), ref[:m]
    if frame_hw is None:
        return {**result, **lmd_scores(moved, ref), "frames": m, "units": "pixels of the reference landmarks"}
    scores = lmd_scores(scale_to_crop(moved, frame_hw, crop_size), scale_to_crop(ref, frame_hw, crop_size))
    return {**result, **scores, "frames": m, "units": f"pixels of a {crop_size} px crop of the reference video"}


# --- learning the BFM map from paired real data ------------------------------------------------------
@dataclass
class PairedClip:
    """A Deep3DFaceRecon fit and the dlib landmarks of its video, on the fit's frames."""

    name: str
    group: str  # the person (held out together in the validation)
    expression: np.ndarray  # (T, 64)
    angles: np.ndarray  # (T, 3)
    landmarks: np.ndarray  # (T, 68, 2) pixels


def paired_clip(mat: Path, video: Path, group: str, coeffs_fps: float = 0.0, max_mismatch_s: float = 0.2) -> PairedClip:
    """Read a fit and measure its video, matching frames by time (the fit's rate inferred as in preprocessing)."""
    from talkclip.formats.mat3dmm import read_mat
    from talkclip.formats.media import probe_video
    from talkclip.metrics.au_estimate import video_landmarks
    from talkclip.preprocess.timing import coeffs_frame_rate

    coeffs = read_mat(mat)
    info = probe_video(video)
    rate, _ = coeffs_frame_rate(coeffs.n_frames, info.n_frames, info.fps, coeffs_fps, max_mismatch_s, f"{mat} vs {video}")
    landmarks = video_landmarks(video)
    index = np.round(np.arange(coeffs.n_frames) * info.fps / rate).astype(int)
    keep = index < len(landmarks)
    return PairedClip(mat.stem, group, coeffs.expression[keep], coeffs.angles[keep], landmarks[index[keep]])


def _design(clip: PairedClip) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip centred inputs [expression, angles] (T, 67) and landmark motion (T, 136)."""
    x = np.concatenate([clip.expression, clip.angles], axis=1).astype(np.float64)
    y = normalize_landmarks(clip.landmarks).reshape(len(x), -1)
    return x - x.mean(axis=0), y - y.mean(axis=0)


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """(outputs, inputs) coefficients of a ridge regression without intercept (inputs are centred)."""
    return np.linalg.solve(x.T @ x + alpha * np.eye(x.shape[1]), x.T @ y).T


def _motion_scores(pred: np.ndarray, true: np.ndarray) -> dict:
    out = {}
    for region, points in (("all", slice(None)), ("mouth", MOUTH), ("brows", slice(17, 27)), ("eyes", slice(36, 48))):
        p = pred.reshape(len(pred), N_POINTS, 2)[:, points]
        t = true.reshape(len(true), N_POINTS, 2)[:, points]
        out[region] = {
            "r2": round(float(1 - ((p - t) ** 2).sum() / max((t ** 2).sum(), 1e-12)), 3),
            "error": round(float(np.linalg.norm(p - t, axis=-1).mean()), 4),
            "error_without_map": round(float(np.linalg.norm(t, axis=-1).mean()), 4),
        }
    return out


def fit_bfm_map(clips: Sequence[PairedClip], alphas: Sequence[float] = (0.1, 1.0, 10.0, 100.0)) -> SpaceLandmarkMap:
    """The BFM map from paired clips; the ridge strength and the validation by leaving each person out.

    Validation (``validation["heldout"]``): landmark motion of each held-out person's clips predicted
    from their fits by a map fitted on the other people, against the motion dlib measured: R^2 and the
    mean point error (inter-ocular units) next to the error of predicting no motion at all.
    """
    groups = sorted({c.group for c in clips})
    if len(groups) < 2:
        raise SpaceMapError(f"fit_bfm_map: need clips of at least two people to validate, got {groups}")
    designs = [_design(c) for c in clips]
    best, best_error, heldout = None, np.inf, {}
    for alpha in alphas:
        preds, trues = [], []
        for group in groups:
            train = [d for d, c in zip(designs, clips) if c.group != group]
            coef = _ridge(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), alpha)
            for (x, y), c in zip(designs, clips):
                if c.group == group:
                    preds.append(x @ coef.T)
                    trues.append(y)
        error = float(sum(((p - t) ** 2).sum() for p, t in zip(preds, trues)))
        if error < best_error:
            best, best_error = alpha, error
            heldout = _motion_scores(np.concatenate(preds), np.concatenate(trues))
    coef = _ridge(np.concatenate([x for x, _ in designs]), np.concatenate([y for _, y in designs]), best)
    provenance = {"source": "ridge fit of dlib landmark motion on Deep3DFaceRecon expression + head angles",
                  "alpha": best, "clips": [c.name for c in clips], "people": groups,
                  "frames": int(sum(len(c.expression) for c in clips))}
    return SpaceLandmarkMap(BFM_SPACE, coef[:, :EXPRESSION_DIM], provenance,
                            {"heldout": heldout, "protocol": "leave one person out"})


def sample_pairs(samples: Path) -> list[tuple[Path, Path, str]]:
    """(fit, video, person) of every fit with a video in the shared samples (DreamTalk MEAD, StyleTalk)."""
    pairs = []
    dreamtalk = samples / "dreamtalk" / "style_clip"
    for mat in sorted((dreamtalk / "3DMM").glob("*.mat")):
        pairs.append((mat, dreamtalk / "video" / f"{mat.stem}.mp4", mat.stem.split("_")[0]))
    for folder in ("source_video", "style_clips"):
        base = samples / "styletalk" / "samples" / folder
        for mat in sorted((base / "3DMM").glob("*.mat")):
            video = base / "video" / f"{mat.stem}.mp4"
            if video.is_file():
                pairs.append((mat, video, mat.stem.split("_clip")[0].rstrip("_0123456789") or mat.stem))
    return [p for p in pairs if p[1].is_file()]
