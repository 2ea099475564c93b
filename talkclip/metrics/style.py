"""Style metrics: an automated stand-in for the paper's user study on speaking style.

A classifier of emotion (and of intensity level) is trained on *ground-truth* expression sequences of
the processed dataset and then applied to *generated* sequences: the share of generated clips it
assigns to the intended emotion is the style accuracy (text-driven or video-driven generation), with a
per-emotion confusion matrix. Features are per-clip statistics of the 64-d expression: the mean and the
standard deviation over time of every coefficient (upper face: the emotion display; lower face: how the
emotion shapes articulation), standardised, fed to a multinomial logistic regression (scikit-learn).

Out-of-domain (OOD) text: `ood_accuracy` generates a sequence for each description of a TSV
(``text<TAB>emotion``; default `DEFAULT_OOD_PATH`, 40 descriptions whose words are not in the
annotation vocabulary, e.g. "a woman who just won the lottery") and reports the classifier's accuracy
per intended emotion. `ood_vocabulary_violations` checks a table against the annotation vocabulary
(emotion labels, AU body parts / actions, intensity adverbs, the "speaks with" template).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from talkclip.atomic import atomic_path
from talkclip.expression import EXPRESSION_DIM, check_expression

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DEFAULT_OOD_PATH = DATA_DIR / "ood_descriptions.tsv"
MEAD_EMOTIONS = ("angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised")
# Function words shared by any English sentence; everything else of the annotation files is vocabulary.
STOPWORDS = frozenset(["a", "an", "the", "of", "up", "down", "with", "off", "out", "to", "by", "and", "in", "on", "at"])
TEMPLATE_PHRASES = ("speaks with",)  # the paper's description template "[SUB] [EMOTION] and speaks with [AU]"
PREFIX_LENGTH = 4  # words sharing their first 4 letters count as the same word (smile/smiling, drop/dropped)


class StyleMetricError(ValueError):
    """Bad input to a style metric (shapes, labels, tables)."""


# ----------------------------------------------------------------------------------------------------
# Features and classifier


def sequence_features(expression: np.ndarray) -> np.ndarray:
    """(T, 64) expression -> (128,) per-coefficient mean and standard deviation over time."""
    expression = check_expression(np.asarray(expression, dtype=np.float64), "style sequence_features")
    if len(expression) == 0:
        raise StyleMetricError("style sequence_features: empty sequence (0 frames)")
    return np.concatenate([expression.mean(axis=0), expression.std(axis=0)])


def _feature_matrix(sequences: Sequence[np.ndarray]) -> np.ndarray:
    if len(sequences) == 0:
        raise StyleMetricError("no sequences given")
    return np.stack([sequence_features(s) for s in sequences])


@dataclass
class StyleClassifier:
    """Emotion classifier (and optional level classifier) over `sequence_features`."""

    emotion_model: Pipeline
    level_model: Pipeline | None
    emotions: tuple[str, ...]
    training_clips: int = 0
    notes: dict = field(default_factory=dict)

    def predict_emotion(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        return self.emotion_model.predict(_feature_matrix(sequences))

    def predict_level(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        if self.level_model is None:
            raise StyleMetricError("this StyleClassifier was trained without levels")
        return self.level_model.predict(_feature_matrix(sequences)).astype(int)

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            pickle.dump(self, handle)

    @staticmethod
    def load(path: str | Path) -> StyleClassifier:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"style classifier not found: {path}")
        with open(path, "rb") as handle:
            loaded = pickle.load(handle)
        if not isinstance(loaded, StyleClassifier):
            raise StyleMetricError(f"{path}: not a StyleClassifier (got {type(loaded).__name__})")
        return loaded


def _logistic(seed: int, c: float) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))


def fit_style_classifier(
    sequences: Sequence[np.ndarray],
    emotions: Sequence[str],
    levels: Sequence[int] | None = None,
    seed: int = 0,
    c: float = 1.0,
) -> StyleClassifier:
    """Train on ground-truth sequences with their emotion labels (and levels 1..3)."""
    features = _feature_matrix(sequences)
    emotions = np.asarray(emotions, dtype=str)
    if len(emotions) != len(features):
        raise StyleMetricError(f"{len(features)} sequences but {len(emotions)} emotion labels")
    if len(set(emotions)) < 2:
        raise StyleMetricError(f"need at least 2 emotions to train a classifier, got {sorted(set(emotions))}")
    emotion_model = _logistic(seed, c).fit(features, emotions)
    level_model = None
    if levels is not None:
        levels = np.asarray(levels, dtype=int)
        if len(levels) != len(features):
            raise StyleMetricError(f"{len(features)} sequences but {len(levels)} levels")
        if len(set(levels)) >= 2:
            level_model = _logistic(seed, c).fit(features, levels)
    return StyleClassifier(emotion_model, level_model, tuple(sorted(set(emotions))), training_clips=len(features))


def load_dataset_sequences(
    processed_root: str | Path, splits: Sequence[str] = ("train",)
) -> tuple[list[np.ndarray], list[str], list[int], list[str]]:
    """Ground-truth (sequences, emotions, levels, clip_ids) of a processed dataset's ``splits``."""
    from talkclip.preprocess.dataset import iter_clips, read_manifest

    root = Path(processed_root)
    manifest = read_manifest(root / "manifest.csv")
    manifest = manifest[manifest["split"].isin(list(splits))]
    if manifest.empty:
        raise StyleMetricError(f"{root / 'manifest.csv'}: no clips in splits {list(splits)}")
    sequences, emotions, levels, clip_ids = [], [], [], []
    for row, clip in iter_clips(root, manifest):
        sequences.append(clip.expression)
        emotions.append(str(row["emotion"]))
        levels.append(int(row["level"]))
        clip_ids.append(str(row["clip_id"]))
    return sequences, emotions, levels, clip_ids


def train_style_classifier(processed_root: str | Path, splits: Sequence[str] = ("train",), seed: int = 0) -> StyleClassifier:
    """`fit_style_classifier` on the ground truth of a processed dataset (default: the training split)."""
    sequences, emotions, levels, _ = load_dataset_sequences(processed_root, splits)
    classifier = fit_style_classifier(sequences, emotions, levels, seed=seed)
    classifier.notes = {"processed_root": str(processed_root), "splits": list(splits)}
    return classifier


# ----------------------------------------------------------------------------------------------------
# Accuracy


@dataclass
class StyleReport:
    accuracy: float
    per_emotion: dict[str, float]  # recall of each intended emotion
    confusion: pd.DataFrame  # rows: intended emotion, columns: predicted emotion, counts
    level_accuracy: float | None
    predictions: pd.DataFrame  # one row per sequence: intended/predicted emotion (and level)

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "per_emotion": self.per_emotion,
            "level_accuracy": self.level_accuracy,
            "confusion": {k: {c: int(v) for c, v in row.items()} for k, row in self.confusion.iterrows()},
        }


def style_accuracy(
    classifier: StyleClassifier,
    sequences: Sequence[np.ndarray],
    emotions: Sequence[str],
    levels: Sequence[int] | None = None,
) -> StyleReport:
    """Classify generated sequences and compare with the intended emotions (and levels)."""
    intended = np.asarray(emotions, dtype=str)
    if len(intended) != len(sequences):
        raise StyleMetricError(f"{len(sequences)} sequences but {len(intended)} intended emotions")
    predicted = classifier.predict_emotion(sequences)
    labels = sorted(set(classifier.emotions) | set(intended))
    confusion = pd.crosstab(
        pd.Categorical(intended, categories=labels), pd.Categorical(predicted, categories=labels),
        rownames=["intended"], colnames=["predicted"], dropna=False,
    )
    per_emotion = {e: float(np.mean(predicted[intended == e] == e)) for e in sorted(set(intended))}
    predictions = pd.DataFrame({"intended": intended, "predicted": predicted})
    level_accuracy = None
    if levels is not None and classifier.level_model is not None:
        predicted_levels = classifier.predict_level(sequences)
        predictions["intended_level"] = np.asarray(levels, dtype=int)
        predictions["predicted_level"] = predicted_levels
        level_accuracy = float(np.mean(predicted_levels == np.asarray(levels, dtype=int)))
    return StyleReport(
        accuracy=float(np.mean(predicted == intended)), per_emotion=per_emotion, confusion=confusion,
        level_accuracy=level_accuracy, predictions=predictions,
    )


# ----------------------------------------------------------------------------------------------------
# Out-of-domain text


def load_ood_table(path: str | Path = DEFAULT_OOD_PATH) -> pd.DataFrame:
    """A ``text<TAB>emotion`` TSV (header row) -> DataFrame; emotions must be MEAD's 8."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"OOD description table not found: {path}")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if list(table.columns[:2]) != ["text", "emotion"]:
        raise StyleMetricError(f"{path}: expected header 'text<TAB>emotion', got {list(table.columns)}")
    bad = sorted(set(table["emotion"]) - set(MEAD_EMOTIONS))
    if bad:
        raise StyleMetricError(f"{path}: unknown emotion(s) {bad}; expected one of {list(MEAD_EMOTIONS)}")
    empty = table.index[table["text"].str.strip() == ""].tolist()
    if empty:
        raise StyleMetricError(f"{path}: empty description text in data row(s) {[i + 1 for i in empty]}")
    return table[["text", "emotion"]].reset_index(drop=True)


def _words(text: str) -> list[str]:
    return [w.removesuffix("'s") for w in re.findall(r"[a-z][a-z'-]*", text.lower())]


def annotation_vocabulary(data_dir: str | Path = DATA_DIR) -> set[str]:
    """Content words of the annotation tables: emotion labels, AU body parts and actions, adverbs."""
    data_dir = Path(data_dir)
    labels = pd.read_csv(data_dir / "emotion_labels.tsv", sep="\t", dtype=str, keep_default_na=False)
    aus = pd.read_csv(data_dir / "au_lookup.tsv", sep="\t", dtype=str, keep_default_na=False)
    adverbs = pd.read_csv(data_dir / "au_intensity.tsv", sep="\t", dtype=str, keep_default_na=False)
    texts = [*labels["label"], *labels["emotion"], *aus["body_part"], *aus["action"], *adverbs["adverb"]]
    return {w for text in texts for w in _words(text) if w not in STOPWORDS}


def ood_vocabulary_violations(table: pd.DataFrame, vocabulary: set[str]) -> list[tuple[str, str]]:
    """(text, offending word or phrase) for every description that uses annotation vocabulary.

    A word matches when it equals a vocabulary word or shares its first `PREFIX_LENGTH` letters with one
    (so inflections such as "smiling"/"smile" or "dropping"/"dropped" are caught too).
    """
    prefixes = {w[:PREFIX_LENGTH] for w in vocabulary if len(w) >= PREFIX_LENGTH}
    violations = []
    for text in table["text"]:
        for phrase in TEMPLATE_PHRASES:
            if phrase in text.lower():
                violations.append((text, phrase))
        for word in _words(text):
            if word in STOPWORDS:
                continue
            if word in vocabulary or (len(word) >= PREFIX_LENGTH and word[:PREFIX_LENGTH] in prefixes):
                violations.append((text, word))
    return violations


@dataclass
class OODResult:
    accuracy: float
    per_emotion: dict[str, float]
    report: StyleReport


def ood_accuracy(
    generate_fn: Callable[[str], np.ndarray],
    classifier: StyleClassifier,
    ood_table: pd.DataFrame,
    phonemes: np.ndarray | None = None,
) -> OODResult:
    """Generate one sequence per OOD description and score the intended emotions.

    ``generate_fn(text)`` returns a (T, 64) expression sequence; if ``phonemes`` is given it is called
    as ``generate_fn(text, phonemes)`` (e.g. ``lambda t, p: generate_coefficients(model, p, text=t)``),
    so the same speech content is used for every description.
    """
    if ood_table.empty:
        raise StyleMetricError("OOD table has no descriptions")
    sequences = []
    for text in ood_table["text"]:
        sequence = generate_fn(text) if phonemes is None else generate_fn(text, phonemes)
        sequence = np.asarray(sequence)
        if sequence.ndim != 2 or sequence.shape[1] != EXPRESSION_DIM:
            raise StyleMetricError(f"generate_fn({text!r}) returned shape {sequence.shape}, expected (T, 64)")
        sequences.append(sequence)
    report = style_accuracy(classifier, sequences, list(ood_table["emotion"]))
    report.predictions.insert(0, "text", list(ood_table["text"]))
    return OODResult(accuracy=report.accuracy, per_emotion=report.per_emotion, report=report)
