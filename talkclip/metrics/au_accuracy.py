"""AU precision / recall / F1 of text-driven videos (as InstructAvatar reports them).

For each generated video: the AUs its description asked for (`requested_aus`: the TA-MEAD AU phrases
of `talkclip.annotation.vocabulary`, "<body part> <adverb> <action>", found in the text) against the
AUs active in the video (`active_aus`: an AU is active when its mean intensity over the frames is at
least ``threshold``, 1.0 on OpenFace's 0..5 scale by default, over the frames the source tracked).
Precision = |asked and active| / |active|, recall = |asked and active| / |asked|, F1 their harmonic
mean; over the 12 DISFA AUs. A video whose description asks for no AU gets no recall (NaN), one with
no active AU no precision (NaN).

AU sources (`AUSource`: ``intensities(name) -> (T, 12)`` in DISFA order, NaN for untracked frames):
`OpenFaceFolder` reads OpenFace 2 CSVs ``{dir}/{name}.csv`` (`talkclip.formats.openface`); any object
with that method works, e.g. the offline landmark-based AU estimate of the real-data work.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from talkclip.annotation.vocabulary import Vocabulary, default_vocabulary
from talkclip.formats.openface import DISFA_AUS, read_openface_csv

DEFAULT_THRESHOLD = 1.0


class AUSource(Protocol):
    def intensities(self, name: str) -> np.ndarray: ...


class OpenFaceFolder:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"OpenFace folder {self.folder} does not exist or is not a folder")

    def intensities(self, name: str) -> np.ndarray:
        return read_openface_csv(self.folder / f"{name}.csv").intensities


def _phrase_patterns(vocabulary: Vocabulary) -> dict[str, re.Pattern]:
    adverbs = sorted({a for options in vocabulary.adverbs.values() for a in options}, key=len, reverse=True)
    adverb = "(?:" + "|".join(re.escape(a) for a in adverbs) + ")"
    patterns = {}
    for au, entry in vocabulary.aus.items():
        alternatives = [rf"\b{re.escape(p.body_part)}\s+{adverb}\s+{re.escape(p.action)}\b" for p in entry.phrases]
        patterns[au] = re.compile("|".join(alternatives), re.IGNORECASE)
    return patterns


def requested_aus(text: str, vocabulary: Vocabulary | None = None) -> set[str]:
    """The DISFA AUs whose TA-MEAD phrase appears in a description."""
    patterns = _phrase_patterns(vocabulary or default_vocabulary())
    return {au for au, pattern in patterns.items() if pattern.search(text)}


def active_aus(intensities: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> set[str]:
    values = np.asarray(intensities, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(DISFA_AUS):
        raise ValueError(f"AU intensities must be (T, {len(DISFA_AUS)}) in DISFA order, got shape {values.shape}")
    tracked = values[np.all(np.isfinite(values), axis=1)]
    if len(tracked) == 0:
        raise ValueError("no tracked frame in the AU intensities")
    return {au for au, mean in zip(DISFA_AUS, tracked.mean(axis=0)) if mean >= threshold}


def precision_recall_f1(asked: set[str], active: set[str]) -> dict[str, float]:
    hits = len(asked & active)
    precision = hits / len(active) if active else math.nan
    recall = hits / len(asked) if asked else math.nan
    f1 = (2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0) \
        if not (math.isnan(precision) or math.isnan(recall)) else math.nan
    return {"au_precision": precision, "au_recall": recall, "au_f1": f1}


def au_scores(names: list[str], descriptions: Mapping[str, str], source: AUSource,
              threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """One row per video: asked / active AUs and precision, recall, F1 (errors as rows, not raised)."""
    vocabulary = default_vocabulary()
    rows: list[dict[str, Any]] = []
    for name in names:
        row: dict[str, Any] = {"name": name}
        if name not in descriptions:
            rows.append({**row, "au_error": f"no description for {name}"})
            continue
        try:
            asked = requested_aus(descriptions[name], vocabulary)
            active = active_aus(source.intensities(name), threshold)
        except (ValueError, OSError) as exc:
            rows.append({**row, "au_error": f"{type(exc).__name__}: {exc}"})
            continue
        rows.append({**row, "au_asked": " ".join(sorted(asked)), "au_active": " ".join(sorted(active)),
                     **precision_recall_f1(asked, active), "au_error": ""})
    return pd.DataFrame(rows)


def read_descriptions(path: str | Path) -> dict[str, str]:
    """clip_id -> text from a descriptions.csv (``clip_id,text``; the first row per clip, mode 'full')."""
    table = pd.read_csv(path)
    missing = {"clip_id", "text"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: descriptions need columns clip_id and text; missing {sorted(missing)}")
    if "mode" in table:
        table = table[table["mode"] == "full"]
    return dict(table.drop_duplicates("clip_id")[["clip_id", "text"]].itertuples(index=False, name=None))


def add_au_scores(results: dict, descriptions_csv: Path, openface_dir: Path | None, single_out: Path | None,
                  method_outs: Mapping[str, Path] | None) -> None:
    """Add AU columns to every method's per-video table and means to its summary (the CLI's --descriptions)."""
    import json

    from talkclip.atomic import atomic_path, write_text

    if openface_dir is None:
        raise ValueError("--descriptions needs an AU source: --openface DIR with {name}.csv per generated video")
    descriptions = read_descriptions(descriptions_csv)
    for method, (per_video, summary) in results.items():
        folder = openface_dir / method if (openface_dir / method).is_dir() else openface_dir
        scores = au_scores(per_video["name"].tolist(), descriptions, OpenFaceFolder(folder))
        merged = per_video.merge(scores, on="name", how="left")
        for column in ("au_precision", "au_recall", "au_f1"):
            if column in merged and merged[column].notna().any():
                summary["metrics"][column] = float(merged[column].mean())
        summary["au_threshold"] = DEFAULT_THRESHOLD
        out = single_out if single_out is not None else (method_outs or {}).get(method)
        if out is not None:
            with atomic_path(out / "per_video.csv") as tmp:
                merged.to_csv(tmp, index=False)
            write_text(out / "summary.json", json.dumps(summary, indent=2, sort_keys=True, default=float) + "\n")
        results[method] = (merged, summary)
