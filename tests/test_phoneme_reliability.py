"""Warnings when the phoneme labels cannot be trusted: noisy speech, phone recognition (any language)."""
import numpy as np
import pytest

from talkclip.formats.media import read_audio
from talkclip.phonemes import PhoneInterval
from talkclip.preprocess.alignment import (
    MIN_ENERGY_RANGE_DB,
    AlignmentResult,
    PhonemeAligner,
    assess_phonemes,
    energy_range_db,
)

SR = 16000


def _bursts(seconds=2.0, seed=0):
    """Syllable-like tone bursts separated by near-silence (a stand-in for clean speech)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    envelope = (np.sin(2 * np.pi * 3 * t) > 0.2).astype(np.float64)
    return (0.3 * envelope * np.sin(2 * np.pi * 220 * t) + rng.normal(0, 1e-4, t.size)).astype(np.float32)


def _add_noise(audio, snr_db, seed=1):
    power = float(np.mean(audio.astype(np.float64) ** 2))
    noise = np.random.default_rng(seed).normal(0, np.sqrt(power / 10 ** (snr_db / 10)), audio.shape)
    return (audio + noise).astype(np.float32)


def test_energy_range_separates_clean_from_noisy():
    clean = _bursts()
    assert energy_range_db(clean) > 35
    assert energy_range_db(_add_noise(clean, 0)) < MIN_ENERGY_RANGE_DB
    with pytest.raises(ValueError, match="shorter than two"):
        energy_range_db(np.zeros(100, np.float32))


def test_forced_alignment_of_clean_audio_raises_no_warning():
    audio = _bursts()
    result = AlignmentResult([PhoneInterval("SIL", 0, 0.5), PhoneInterval("AA", 0.5, 2.0)], [], "forced")
    report = assess_phonemes(audio, SR, result)
    assert report.reliable and report.warnings == () and report.speech_share == pytest.approx(0.75)
    noisy = assess_phonemes(_add_noise(audio, 0), SR, result)
    assert not noisy.reliable and noisy.warnings[0].startswith("noisy audio")
    assert noisy.to_dict()["reliable"] is False


@pytest.fixture(scope="module")
def aligner():
    return PhonemeAligner()


def test_real_speech_without_transcript_warns_and_noise_adds_a_warning(styletalk_samples, aligner):
    audio = read_audio(styletalk_samples / "source_video" / "wav" / "Obama_clip1.wav", SR)[: 4 * SR]
    result = aligner.align(audio, SR, None)
    report = assess_phonemes(audio, SR, result)
    assert result.method == "phone_recognition" and report.energy_range_db > 30
    assert [w.split(":")[0] for w in report.warnings] == ["no usable transcript"]
    noisy_audio = _add_noise(audio, 0)
    noisy = assess_phonemes(noisy_audio, SR, aligner.align(noisy_audio, SR, None))
    assert [w.split(":")[0] for w in noisy.warnings] == ["noisy audio", "no usable transcript"]


def test_german_speech_is_flagged_through_phone_recognition(dreamtalk_samples, aligner):
    """The documented language limit: German gets English phones; the only warning is that phone
    recognition (which any untranscribed speech goes through) cannot be checked."""
    audio = read_audio(dreamtalk_samples / "audio" / "German1.wav", SR)
    report = assess_phonemes(audio, SR, aligner.align(audio, SR, None))
    assert not report.reliable and "non-English speech" in report.warnings[0]
    assert report.energy_range_db > MIN_ENERGY_RANGE_DB  # clean: the noise check does not fire
