"""The TA-MEAD annotation stage: processed dataset -> descriptions for every clip.

AU intensities per frame come from the processed clip (the embedded corpus carries the exact
ground-truth AUs of its face model) or, for real data, from OpenFace 2 CSV files
(``{clip_id}.csv``), the field's usual off-the-shelf AU detector output. The paper used a
DISFA-trained detector (Ma et al. 2022), which is not available offline.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from talkclip.atomic import atomic_dir, atomic_path
from talkclip.config.annotate import AnnotateConfig
from talkclip.preprocess.dataset import read_clip, read_manifest

from .table import annotate


class AUSourceError(ValueError):
    """No AU intensities can be found for a clip."""


def make_au_source(processed_dir: Path, openface_dir: Path | None):
    def from_processed(row: dict) -> np.ndarray:
        clip = read_clip(processed_dir / row["path"], row["clip_id"])
        if "au" not in clip.extras:
            raise AUSourceError(
                f"{row['clip_id']}: the processed clip has no AU intensities; pass --openface DIR with "
                f"OpenFace 2 CSVs named {{clip_id}}.csv for real data"
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

    return from_openface if openface_dir is not None else from_processed


def run_annotation(
    processed_dir: str | Path, out_dir: str | Path, cfg: AnnotateConfig, openface_dir: str | Path | None = None
) -> dict:
    processed_dir = Path(processed_dir)
    manifest = read_manifest(processed_dir / "manifest.csv")
    source = make_au_source(processed_dir, Path(openface_dir) if openface_dir else None)
    descriptions, au_table = annotate(manifest, source, cfg)
    counts = descriptions.groupby("clip_id").size()
    manifest = manifest.assign(n_descriptions=manifest["clip_id"].map(counts).fillna(0).astype(int))
    with atomic_dir(out_dir, replaces="descriptions.csv", what="annotation folder") as tmp:
        for name, frame in (("descriptions.csv", descriptions), ("au_levels.csv", au_table), ("manifest.csv", manifest)):
            with atomic_path(tmp / name) as path:
                frame.to_csv(path, index=False)
    full = descriptions[descriptions["mode"] == "full"]["text"]
    return {
        "clips": len(manifest),
        "descriptions": len(descriptions),
        "distinct_descriptions": int(descriptions["text"].nunique()),
        "full_with_au_phrase": round(float(full.str.contains(" speaks with ").mean()), 4),
        "mean_active_aus": round(float((au_table.filter(like="_level") > 0).sum(axis=1).mean()), 3),
    }
