"""The sentences the embedded corpus speaks (``talkclip/data/sentences.txt``).

Written for this project in the style of the TIMIT/Harvard lists (short, everyday, phonetically varied
sentences, 5-12 words), so that every clip covers many mouth shapes. Every word is in pocketsphinx's
bundled CMU dictionary, so the forced aligner can align every clip (``tests/test_sentences.py`` checks).
"""
from __future__ import annotations

from importlib import resources

SENTENCES_RESOURCE = "data/sentences.txt"


def load_sentences() -> list[str]:
    """All sentences, in file order (one per non-empty line)."""
    text = resources.files("talkclip").joinpath(SENTENCES_RESOURCE).read_text(encoding="utf-8")
    sentences = [line.strip() for line in text.splitlines() if line.strip()]
    if not sentences:
        raise ValueError(f"talkclip/{SENTENCES_RESOURCE} holds no sentences")
    return sentences
