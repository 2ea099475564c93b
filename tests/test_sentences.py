"""The corpus sentence list: size, length, and every word in pocketsphinx's CMU dictionary."""
from __future__ import annotations

import os
import re

import pocketsphinx

from talkclip.corpus.sentences import load_sentences
from talkclip.preprocess.alignment import normalize_transcript


def _cmu_words() -> set[str]:
    path = os.path.join(pocketsphinx.get_model_path(), "en-us", "cmudict-en-us.dict")
    with open(path, encoding="utf-8") as f:
        return {re.sub(r"\(\d+\)$", "", line.split(maxsplit=1)[0]) for line in f if line.strip()}


def test_enough_distinct_sentences_of_5_to_12_words():
    sentences = load_sentences()
    assert len(sentences) >= 120
    assert len(set(sentences)) == len(sentences), "duplicate sentences"
    for s in sentences:
        n = len(normalize_transcript(s))
        assert 5 <= n <= 12, f"{s!r} has {n} words"


def test_every_word_is_in_the_pocketsphinx_dictionary():
    dictionary = _cmu_words()
    missing = {w for s in load_sentences() for w in normalize_transcript(s) if w not in dictionary}
    assert not missing, f"words missing from cmudict-en-us.dict: {sorted(missing)}"


def test_sentences_are_phonetically_varied():
    # Every CMU phone except the rare ZH / OY appears; the list is meant to exercise all mouth shapes.
    path = os.path.join(pocketsphinx.get_model_path(), "en-us", "cmudict-en-us.dict")
    pron: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            word, *phones = line.split()
            pron.setdefault(word, [p.rstrip("012") for p in phones])
    seen = {p for s in load_sentences() for w in normalize_transcript(s) for p in pron[w]}
    expected = {"AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH",
                "IY", "JH", "K", "L", "M", "N", "NG", "OW", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W",
                "Y", "Z"}
    assert expected <= seen, f"phones never used: {sorted(expected - seen)}"
