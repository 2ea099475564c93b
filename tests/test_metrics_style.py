"""Style classifier, style accuracy and out-of-domain text, on tiny synthetic expression data."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from talkclip.metrics.style import (
    StyleClassifier,
    annotation_vocabulary,
    fit_style_classifier,
    load_ood_table,
    ood_accuracy,
    ood_vocabulary_violations,
    style_accuracy,
)

EMOTIONS = ("angry", "happy", "sad")
SIGNATURES = {e: np.random.default_rng(i).normal(0, 1.0, 64) for i, e in enumerate(EMOTIONS)}


def _sequence(emotion: str, level: int, rng: np.random.Generator, frames: int = 40) -> np.ndarray:
    return (0.4 * level * SIGNATURES[emotion] + 0.3 * rng.standard_normal((frames, 64))).astype(np.float32)


def _dataset(n: int, seed: int):
    rng = np.random.default_rng(seed)
    emotions = [EMOTIONS[i % 3] for i in range(n)]
    levels = [1 + (i // 3) % 3 for i in range(n)]
    return [_sequence(e, lv, rng) for e, lv in zip(emotions, levels)], emotions, levels


def test_classifier_accuracy_and_confusion(tmp_path):
    classifier = fit_style_classifier(*_dataset(90, seed=0))
    sequences, emotions, levels = _dataset(30, seed=1)
    report = style_accuracy(classifier, sequences, emotions, levels)
    assert report.accuracy > 0.9 and report.level_accuracy > 0.6
    assert report.confusion.to_numpy().sum() == 30 and np.trace(report.confusion.to_numpy()) >= 27
    # A generator that ignores the style (always "happy") scores 1/3, all in the happy column.
    happy_only = [_sequence("happy", 2, np.random.default_rng(i)) for i in range(30)]
    wrong = style_accuracy(classifier, happy_only, emotions)
    assert wrong.accuracy == pytest.approx(1 / 3) and wrong.per_emotion["happy"] == 1.0
    assert wrong.confusion["happy"].sum() == 30
    classifier.save(tmp_path / "style.pkl")
    loaded = StyleClassifier.load(tmp_path / "style.pkl")
    assert list(loaded.predict_emotion(sequences)) == list(classifier.predict_emotion(sequences))


def test_ood_table_avoids_annotation_vocabulary():
    table = load_ood_table()
    assert len(table) >= 30 and set(table["emotion"]) == {
        "angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised"}
    vocabulary = annotation_vocabulary()
    assert {"furious", "brows", "lifted", "extremely"} <= vocabulary
    assert ood_vocabulary_violations(table, vocabulary) == []
    bad = pd.DataFrame({"text": ["a woman is furious", "a man speaks with a grin", "someone smiling"],
                        "emotion": ["angry", "happy", "happy"]})
    found = {word for _, word in ood_vocabulary_violations(bad, vocabulary | {"smile"})}
    assert {"furious", "speaks with", "smiling"} <= found


def test_ood_accuracy_uses_generate_fn(tmp_path):
    classifier = fit_style_classifier(*_dataset(90, seed=0))
    table = pd.DataFrame({"text": ["won the lottery", "a funeral", "cut off in traffic", "a parade"],
                          "emotion": ["happy", "sad", "angry", "happy"]})
    keyword = {"lottery": "happy", "funeral": "sad", "traffic": "angry", "parade": "sad"}  # last one is "wrong"
    phonemes = np.zeros(30, np.int64)
    calls = []

    def generate(text: str, ids: np.ndarray) -> np.ndarray:
        calls.append(len(ids))
        emotion = next(e for k, e in keyword.items() if k in text)
        return _sequence(emotion, 3, np.random.default_rng(len(text)), frames=len(ids))

    result = ood_accuracy(generate, classifier, table, phonemes)
    assert calls == [30] * 4
    assert result.accuracy == pytest.approx(0.75)
    assert result.per_emotion == {"angry": 1.0, "happy": 0.5, "sad": 1.0}
    assert list(result.report.predictions["text"]) == list(table["text"])

    path = tmp_path / "bad.tsv"
    path.write_text("text\temotion\na party\tjoyous\n")
    with pytest.raises(ValueError, match="joyous"):
        load_ood_table(path)
