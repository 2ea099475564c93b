"""AU precision/recall/F1: the AUs a TA-MEAD description asks for against an AU source we control."""
from __future__ import annotations

import math

import numpy as np
import pytest

from talkclip.annotation.vocabulary import default_vocabulary
from talkclip.formats.openface import DISFA_AUS
from talkclip.metrics.au_accuracy import active_aus, au_scores, precision_recall_f1, requested_aus


class FixedSource:
    """An AU source that returns given clip-mean intensities for every frame."""

    def __init__(self, means: dict[str, dict[str, float]]):
        self.means = means

    def intensities(self, name: str) -> np.ndarray:
        row = np.array([self.means[name].get(au, 0.0) for au in DISFA_AUS])
        return np.tile(row, (5, 1))


def test_requested_aus_from_every_phrase_of_the_vocabulary():
    vocabulary = default_vocabulary()
    for au, entry in vocabulary.aus.items():
        for phrase in entry.phrases:
            text = f"A woman talks happily, {phrase.render(vocabulary.adverbs[2][0])}."
            assert au in requested_aus(text, vocabulary), text
    assert requested_aus("A male speaker appears vexed.") == set()


def test_precision_recall_f1_hand_computed():
    assert precision_recall_f1({"AU4", "AU5"}, {"AU4", "AU12", "AU25"}) == pytest.approx(
        {"au_precision": 1 / 3, "au_recall": 1 / 2, "au_f1": 0.4})
    assert math.isnan(precision_recall_f1(set(), {"AU4"})["au_recall"])
    assert active_aus(np.array([[2.0] + [0.0] * 11, [0.0] * 12])) == {"AU1"}  # mean 1.0 >= threshold


def test_au_scores_per_video_with_errors_as_rows():
    descriptions = {"a": "A woman speaks with brows slightly drawn together, upper lids slightly raised.",
                    "b": "A man is happy."}
    source = FixedSource({"a": {"AU4": 2.0, "AU12": 3.0}, "b": {"AU12": 2.0}})
    table = au_scores(["a", "b", "c"], descriptions, source).set_index("name")
    assert table.loc["a", "au_precision"] == pytest.approx(0.5) and table.loc["a", "au_recall"] == pytest.approx(0.5)
    assert table.loc["a", "au_asked"] == "AU4 AU5" and table.loc["a", "au_active"] == "AU12 AU4"
    assert math.isnan(table.loc["b", "au_recall"])
    assert "no description" in table.loc["c", "au_error"]
