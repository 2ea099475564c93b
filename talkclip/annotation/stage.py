"""The TA-MEAD annotation stage: processed dataset -> descriptions for every clip.

AU intensities per frame come from one of three sources (``au_source``):

- ``processed``: the processed clip's ``au`` array (the embedded corpus carries the exact
  ground-truth AUs of its face model);
- ``openface``: OpenFace 2 CSV files (``{clip_id}.csv``), the field's usual off-the-shelf AU
  detector output and the recommended source for real data;
- ``landmarks``: an offline *approximation* for real videos without OpenFace: dlib landmarks of
  the clip's video -> :mod:`talkclip.metrics.au_estimate` (calibrated on the embedded corpus),
  relative to the speaker's neutral clips when the dataset has any.

``auto`` picks ``openface`` when a folder is given, else ``processed`` when the clips carry AUs,
else stops with an error naming the two ways out. The paper used a DISFA-trained detector
(Ma et al. 2022), which is not available offline. The source of every clip's AUs is recorded in
the annotated manifest (``au_source``, ``au_reference``), in ``au_levels.csv`` and in the metrics.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from talkclip.atomic import atomic_dir, atomic_path
from talkclip.config.annotate import AnnotateConfig
from talkclip.preprocess.dataset import manifest_expression_space, read_clip, read_manifest

from .table import annotate

AU_SOURCES = ("auto", "processed", "openface", "landmarks")
SOURCE_NOTES = {
    "processed": "AU intensities stored with the processed clips (embedded corpus: exact ground truth)",
    "openface": "OpenFace 2 AU intensities (AUxx_r) from {clip_id}.csv",
}


class AUSourceError(ValueError):
    """No AU intensities can be found for a clip."""


class LandmarkAUSource:
    """Approximate AUs of each clip's video from dlib landmarks (``au_source = "landmarks"``).

    The reference of a speaker is the median geometry of its neutral clips in ``manifest`` (their
    videos are measured once, on first need); a speaker without neutral clips gets the
    ``population`` model. Every ``frame_step``-th video frame is measured (clip means are what the
    annotation uses; 2 halves the detector's time and changes them little).
    """

    def __init__(self, manifest: pd.DataFrame, frame_step: int = 2, estimator_path: str | None = None,
                 progress: bool = True) -> None:
        from talkclip.metrics.au_estimate import load_estimator

        self.manifest = manifest
        self.frame_step = frame_step
        self.estimator = load_estimator(estimator_path)
        self.progress = progress
        self._features: dict[str, np.ndarray] = {}
        self._references: dict[str, np.ndarray | None] = {}
        self.references_used: dict[str, str] = {}  # clip id -> speaker_neutral | population

    def features(self, row: dict) -> np.ndarray:
        from talkclip.metrics.au_estimate import landmark_features, video_landmarks

        clip_id = str(row["clip_id"])
        if clip_id not in self._features:
            video = str(row.get("video") or "")
            if not video:
                raise AUSourceError(f"{clip_id}: the manifest names no video, so no landmarks can be measured "
                                    "(au_source 'landmarks' needs the clip's video)")
            if not Path(video).is_file():
                raise AUSourceError(f"{clip_id}: video {video} not found")
            self._features[clip_id] = landmark_features(video_landmarks(video, self.frame_step))
        return self._features[clip_id]

    def reference(self, speaker: str) -> np.ndarray | None:
        from talkclip.metrics.au_estimate import neutral_reference

        if speaker not in self._references:
            neutral = self.manifest[(self.manifest["speaker"] == speaker) & (self.manifest["emotion"] == "neutral")]
            rows = neutral.to_dict("records")
            self._references[speaker] = neutral_reference(self.features(r) for r in rows) if rows else None
        return self._references[speaker]

    def __call__(self, row: dict) -> np.ndarray:
        reference = self.reference(str(row["speaker"]))
        self.references_used[str(row["clip_id"])] = "population" if reference is None else "speaker_neutral"
        return self.estimator.estimate(self.features(row), reference)


def make_au_source(
    processed_dir: Path, openface_dir: Path | None, au_source: str = "auto", manifest: pd.DataFrame | None = None,
    frame_step: int = 2, progress: bool = True,
) -> tuple[Callable[[dict], np.ndarray], str]:
    """(per-row AU function, the source's name) for ``au_source`` (see the module docstring)."""
    if au_source not in AU_SOURCES:
        raise ValueError(f"unknown AU source {au_source!r}; expected one of {', '.join(AU_SOURCES)}")
    if au_source == "auto":
        au_source = "openface" if openface_dir is not None else "processed"
    if au_source == "openface" and openface_dir is None:
        raise ValueError("AU source 'openface' needs a folder of OpenFace CSVs (--openface DIR)")
    if au_source != "openface" and openface_dir is not None:
        raise ValueError(f"--openface DIR was given but the AU source is {au_source!r}")

    def from_processed(row: dict) -> np.ndarray:
        clip = read_clip(processed_dir / row["path"], row["clip_id"])
        if "au" not in clip.extras:
            raise AUSourceError(
                f"{row['clip_id']}: the processed clip has no AU intensities; for real data pass --openface DIR "
                f"with OpenFace 2 CSVs named {{clip_id}}.csv (recommended) or --au-source landmarks (an offline "
                f"approximation from dlib landmarks of the videos)"
            )
        return clip.extras["au"]

    def from_openface(row: dict) -> np.ndarray:
        from talkclip.formats.openface import read_openface_csv

        path = openface_dir / f"{row['clip_id']}.csv"
        if not path.is_file():
            raise AUSourceError(f"{row['clip_id']}: OpenFace CSV {path} not found")
        aus = read_openface_csv(path)
        if not aus.valid.any():
            raise AUSourceError(f"{row['clip_id']}: OpenFace tracked no frame successfully in {path}")
        # Only successfully tracked frames count towards the clip's mean intensity.
        return aus.intensities[aus.valid]

    if au_source == "landmarks":
        if manifest is None:
            manifest = read_manifest(processed_dir / "manifest.csv")
        return LandmarkAUSource(manifest, frame_step=frame_step, progress=progress), "landmarks"
    return (from_openface if au_source == "openface" else from_processed), au_source


def run_annotation(
    processed_dir: str | Path, out_dir: str | Path, cfg: AnnotateConfig, openface_dir: str | Path | None = None,
    au_source: str = "auto", frame_step: int = 2, progress: bool = True,
) -> dict:
    processed_dir = Path(processed_dir)
    manifest = read_manifest(processed_dir / "manifest.csv")
    space = manifest_expression_space(manifest, f"processed dataset {processed_dir / 'manifest.csv'}")
    source, source_name = make_au_source(processed_dir, Path(openface_dir) if openface_dir else None, au_source,
                                         manifest, frame_step, progress)
    landmark_source = source if isinstance(source, LandmarkAUSource) else None
    per_row, bar = source, None
    if landmark_source is not None:  # it measures videos, which takes a while: show progress per clip
        bar = tqdm(total=len(manifest), desc="annotate: AUs from landmarks", unit="clip", disable=not progress)

        def per_row(row):
            intensities = landmark_source(row)
            bar.update()
            return intensities

    try:
        descriptions, au_table = annotate(manifest, per_row, cfg)
    finally:
        if bar is not None:
            bar.close()
    if landmark_source is not None:
        from talkclip.metrics.au_estimate import APPROXIMATION_NOTE

        note, references = APPROXIMATION_NOTE, manifest["clip_id"].map(landmark_source.references_used).fillna("")
    else:
        note, references = SOURCE_NOTES[source_name], ""
    counts = descriptions.groupby("clip_id").size()
    manifest = manifest.assign(n_descriptions=manifest["clip_id"].map(counts).fillna(0).astype(int),
                               au_source=source_name, au_reference=references)
    au_table.insert(1, "au_source", source_name)
    with atomic_dir(out_dir, replaces="descriptions.csv", what="annotation folder") as tmp:
        for name, frame in (("descriptions.csv", descriptions), ("au_levels.csv", au_table), ("manifest.csv", manifest)):
            with atomic_path(tmp / name) as path:
                frame.to_csv(path, index=False)
    full = descriptions[descriptions["mode"] == "full"]["text"]
    metrics = {
        "clips": len(manifest),
        "descriptions": len(descriptions),
        "distinct_descriptions": int(descriptions["text"].nunique()),
        "full_with_au_phrase": round(float(full.str.contains(" speaks with ").mean()), 4),
        "mean_active_aus": round(float((au_table.filter(like="_level") > 0).sum(axis=1).mean()), 3),
        "au_source": source_name,
        "au_source_note": note,
        "expression_space": space,
    }
    if source_name == "landmarks":
        metrics["au_reference"] = {k: int(v) for k, v in manifest["au_reference"].value_counts().items()}
    return metrics
