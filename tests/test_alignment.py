"""pocketsphinx phoneme alignment against espeak-ng's exact phone timing, fallbacks, errors, metrics."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from talkclip.config.alignment import AlignerConfig
from talkclip.config.loader import ConfigError, build, to_dict
from talkclip.corpus.sentences import load_sentences
from talkclip.corpus.speech import emotion_voice, speaker_voice, synthesize
from talkclip.phonemes import SIL_ID, WordInterval, intervals_to_frame_ids
from talkclip.preprocess.alignment import (
    AlignmentError,
    PhonemeAligner,
    UnknownWordError,
    frame_agreement,
    normalize_transcript,
    word_boundary_error_ms,
)


@pytest.fixture(scope="module")
def aligner() -> PhonemeAligner:
    return PhonemeAligner(AlignerConfig())


@pytest.fixture(scope="module")
def clips():
    """Six sentences, three men and three women, different emotions and levels."""
    sentences = load_sentences()
    setups = [(0, "M", "neutral", 1), (1, "W", "happy", 3), (2, "M", "sad", 3),
              (3, "W", "angry", 2), (4, "M", "surprised", 2), (5, "W", "fear", 3)]
    out = []
    for k, (index, gender, emotion, level) in enumerate(setups):
        voice = emotion_voice(speaker_voice(index, gender, np.random.default_rng(100 + k)), emotion, level)
        out.append(synthesize(sentences[7 + 19 * k], voice))
    return out


def _agreement(result_phones, utt, fps: int) -> float:
    n = int(utt.duration * fps)
    return frame_agreement(intervals_to_frame_ids(result_phones, n, fps), intervals_to_frame_ids(utt.phones, n, fps))


def test_forced_alignment_agrees_with_synthesizer_timing(aligner, clips):
    scores = {25: [], 30: []}
    word_errors = []
    for utt in clips:
        result = aligner.align(utt.audio, utt.sample_rate, utt.text)
        assert result.method == "forced"
        assert [w.word for w in result.words] == normalize_transcript(utt.text)
        assert result.phones[0].start == 0.0 and result.phones[-1].end == pytest.approx(utt.duration)
        for fps, values in scores.items():
            values.append(_agreement(result.phones, utt, fps))
        word_errors.append(word_boundary_error_ms(result.words, utt.words))
    for fps, values in scores.items():
        assert np.mean(values) >= 0.75, f"{fps} fps: mean frame agreement {np.mean(values):.3f} < 0.75 ({values})"
        assert min(values) >= 0.6, f"{fps} fps: worst clip {min(values):.3f}"
    assert np.mean(word_errors) < 40.0, f"word boundary error {np.mean(word_errors):.1f} ms"


def test_boundary_offset_is_applied(clips):
    utt = clips[0]
    shifted = PhonemeAligner(AlignerConfig()).align(utt.audio, 16000, utt.text)
    raw = PhonemeAligner(AlignerConfig(boundary_offset_s=0.0)).align(utt.audio, 16000, utt.text)
    inner = [(a.start, b.start) for a, b in zip(shifted.phones[1:], raw.phones[1:])]
    assert all(s - r == pytest.approx(0.0078, abs=1e-6) for s, r in inner)


def test_phone_recognition_without_transcript(aligner, clips):
    utt = clips[1]
    result = aligner.align(utt.audio, utt.sample_rate, None)
    assert result.method == "phone_recognition" and result.words == []
    assert result.phones[0].start == 0.0 and result.phones[-1].end == pytest.approx(utt.duration)
    ids = intervals_to_frame_ids(result.phones, int(utt.duration * 25), 25)
    assert (ids != SIL_ID).mean() > 0.5  # mostly speech
    assert _agreement(result.phones, utt, 25) > 0.25  # far above chance (1/41), below forced alignment


def test_fallback_to_wider_beams_then_error(clips):
    utt = clips[0]
    narrow = {"beam": 1e-5, "wbeam": 1e-5, "pbeam": 1e-5}  # prunes the only path of the word pass
    result = PhonemeAligner(AlignerConfig(**narrow, fallbacks=("forced_wide",))).align(utt.audio, 16000, utt.text)
    assert result.method == "forced_wide"
    assert _agreement(result.phones, utt, 25) >= 0.7
    with pytest.raises(AlignmentError, match="forced: word-level pass"):
        PhonemeAligner(AlignerConfig(**narrow, fallbacks=())).align(utt.audio, 16000, utt.text)


def test_noise_is_refused_not_labelled(aligner):
    noise = np.random.default_rng(0).standard_normal(32000).astype(np.float32) * 0.1
    with pytest.raises(AlignmentError) as info:
        aligner.align(noise, 16000, "the old fisherman mended his nets")
    message = str(info.value)
    assert "forced:" in message and "forced_wide:" in message and "phone_recognition:" in message


def test_unknown_words_are_named(aligner, clips):
    with pytest.raises(UnknownWordError, match="zzyzxq.*blorftian"):
        aligner.align(clips[0].audio, 16000, "The zzyzxq met a Blorftian.")


def test_bad_audio_is_rejected(aligner, clips):
    utt = clips[0]
    with pytest.raises(ValueError, match="16000"):
        aligner.align(utt.audio, 22050, utt.text)
    with pytest.raises(ValueError, match="mono"):
        aligner.align(np.stack([utt.audio, utt.audio]), 16000, utt.text)
    with pytest.raises(ValueError, match="NaN"):
        aligner.align(np.full(16000, np.nan, np.float32), 16000, utt.text)
    with pytest.raises(ValueError, match="no words"):
        aligner.align(utt.audio, 16000, " ... ")


def test_aligner_pickles_for_worker_processes(aligner, clips):
    utt = clips[2]
    first = aligner.align(utt.audio, 16000, utt.text)
    clone = pickle.loads(pickle.dumps(aligner))
    assert clone.align(utt.audio, 16000, utt.text).phones == first.phones  # reproducible (seeded dither)


def test_normalize_transcript():
    assert normalize_transcript("She whispered the secret into her friend's ear!") == \
        ["she", "whispered", "the", "secret", "into", "her", "friend's", "ear"]
    assert normalize_transcript("A well-known  fact.") == ["a", "well", "known", "fact"]


def test_frame_agreement():
    assert frame_agreement([1, 2, 3, 4], [1, 2, 0, 4]) == 0.75
    with pytest.raises(ValueError, match="equal length"):
        frame_agreement([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="outside"):
        frame_agreement([1, 99], [1, 2])


def test_word_boundary_error():
    ref = [WordInterval("The", 0.20, 0.30), WordInterval("cat", 0.30, 0.60), WordInterval("sat", 0.60, 0.90)]
    pred = [WordInterval("the", 0.21, 0.31), WordInterval("cat", 0.31, 0.61), WordInterval("sat.", 0.61, 0.91)]
    assert word_boundary_error_ms(pred, ref) == pytest.approx(10.0)
    # A missing word is skipped, not paired with the wrong one.
    assert word_boundary_error_ms([pred[0], pred[2]], ref) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="no word in common"):
        word_boundary_error_ms([WordInterval("dog", 0, 1)], ref)


def test_config_validation_and_round_trip():
    config = AlignerConfig()
    assert build(AlignerConfig, to_dict(config)) == config
    with pytest.raises(ConfigError, match="fallbacks"):
        AlignerConfig(fallbacks=("guess",))
    with pytest.raises(ConfigError, match="wide_beam"):
        AlignerConfig(beam=1e-100, wide_beam=1e-50)
    with pytest.raises(ConfigError, match="beam"):
        AlignerConfig(beam=2.0)
    with pytest.raises(ConfigError, match="boundary_offset_s"):
        AlignerConfig(boundary_offset_s=0.5)
