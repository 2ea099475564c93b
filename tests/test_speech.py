"""espeak-ng synthesis through the C API: audio, exact phone timing, determinism, voices, emotions."""
from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from talkclip.corpus import speech
from talkclip.corpus.espeak_phones import ESPEAK_TO_CMU, UnknownEspeakPhonemeError, espeak_to_cmu
from talkclip.corpus.sentences import load_sentences
from talkclip.corpus.speech import (
    EMOTION_PROSODY,
    LEAD_SILENCE_S,
    MEAD_EMOTIONS,
    TRAIL_SILENCE_S,
    Voice,
    emotion_voice,
    speaker_voice,
    synthesize,
)
from talkclip.phonemes import PHONE_TO_ID

VOICE = Voice("en-us+m3", rate=170, pitch=45, pitch_range=50, volume=100)


def _speech_phones(utt):
    return [p for p in utt.phones if p.phone != "SIL"]


def test_utterance_audio_and_phone_cover():
    text = "The old fisherman mended his nets beside the quiet harbor."
    utt = synthesize(text, VOICE)
    assert utt.sample_rate == 16000 and utt.audio.dtype == np.float32 and utt.audio.ndim == 1
    assert 0.05 < np.abs(utt.audio).max() <= 1.0
    assert utt.text == text
    # Contiguous phones from 0 to the end of the audio, all in the vocabulary.
    assert utt.phones[0].start == 0.0
    assert utt.phones[-1].end == pytest.approx(utt.duration, abs=1e-9)
    for a, b in zip(utt.phones, utt.phones[1:]):
        assert a.end == pytest.approx(b.start, abs=1e-9)
        assert a.phone in PHONE_TO_ID
    # Short silence at both edges, speech in between.
    speech_phones = _speech_phones(utt)
    assert speech_phones[0].start == pytest.approx(LEAD_SILENCE_S, abs=1e-3)
    assert utt.duration - speech_phones[-1].end == pytest.approx(TRAIL_SILENCE_S, abs=1e-3)
    lead = utt.audio[: int(0.1 * utt.sample_rate)]
    assert np.abs(lead).max() < 1e-3, "audio before the first phone should be silent"
    # Words in text order, inside the speech, each covering whole phones.
    assert [w.word for w in utt.words] == text.rstrip(".").split()
    assert all(a.end <= b.start + 1e-9 for a, b in zip(utt.words, utt.words[1:]))
    # "the" before a vowel: espeak [D I2 ;] = CMU DH IY.
    assert "".join(p.phone for p in speech_phones[:2]) == "DHIY"


def test_phone_sequence_matches_cmu_pronunciations():
    utt = synthesize("The walls of the nursery.", VOICE)
    seq = [p.phone for p in _speech_phones(utt)]
    # dark [l] before a consonant is kept as L; "nursery" is N ER S ER IY (no extra R after ER).
    assert seq == ["DH", "AH", "W", "AO", "L", "Z", "AH", "V", "DH", "AH", "N", "ER", "S", "ER", "IY"]


def test_stop_closure_belongs_to_the_stop():
    utt = synthesize("A happy puppy.", VOICE)
    p = next(p for p in _speech_phones(utt) if p.phone == "P")
    sr = utt.sample_rate
    closure = utt.audio[int((p.start + 0.005) * sr): int((p.start + 0.02) * sr)]
    before = utt.audio[int((p.start - 0.02) * sr): int(p.start * sr)]
    assert np.abs(closure).mean() < 0.1 * np.abs(before).mean(), "P should start at its closure silence"


def test_merged_dictionary_entries_still_give_every_word():
    # espeak speaks "on the" / "of a" as one dictionary entry with a single word event.
    text = "She sat on the edge of a chair in the sun."
    utt = synthesize(text, VOICE)
    assert [w.word for w in utt.words] == text.rstrip(".").split()
    for w in utt.words:
        inside = [p for p in _speech_phones(utt) if w.start - 1e-9 <= p.start and p.end <= w.end + 1e-9]
        assert inside, f"word {w.word!r} has no phones"


def test_deterministic_regardless_of_history():
    text = "Please put the heavy boxes near the garage door."
    first = synthesize(text, VOICE)
    synthesize("Something else entirely, spoken by another voice.", Voice("en-us+f2", 140, 70, 70, 150))
    second = synthesize(text, VOICE)
    np.testing.assert_array_equal(first.audio, second.audio)
    assert first.phones == second.phones and first.words == second.words


def _worker(args):
    text, voice = args
    utt = synthesize(text, voice)
    return utt.audio, utt.phones


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_works_in_worker_processes(method):
    jobs = [(s, VOICE) for s in load_sentences()[:3]]
    expected = [_worker(job) for job in jobs]
    with multiprocessing.get_context(method).Pool(2) as pool:
        results = pool.map(_worker, jobs)
    for (audio, phones), (ref_audio, ref_phones) in zip(results, expected):
        np.testing.assert_array_equal(audio, ref_audio)
        assert phones == ref_phones


def test_every_sentence_maps_to_cmu_phones():
    # Every espeak phoneme of the whole sentence list has a CMU mapping (an unknown one would raise).
    for text in load_sentences():
        utt = synthesize(text, VOICE)
        assert len(utt.words) == len(text.split())


def test_unknown_mnemonic_is_named():
    with pytest.raises(UnknownEspeakPhonemeError, match="Q~"):
        espeak_to_cmu("Q~")
    assert espeak_to_cmu("'3:").phones == ("ER",)
    assert espeak_to_cmu(",aI@").phones == ("AY", "ER")
    assert all(p in PHONE_TO_ID for m in ESPEAK_TO_CMU.values() for p in m.phones)


def test_voice_validation():
    with pytest.raises(ValueError, match="rate"):
        Voice("en-us", rate=20, pitch=50, pitch_range=50, volume=100)
    with pytest.raises(ValueError, match="name"):
        Voice("fr", rate=170, pitch=50, pitch_range=50, volume=100)
    with pytest.raises(ValueError, match="nosuchvariant"):
        Voice("en-us+nosuchvariant", 170, 50, 50, 100)
    with pytest.raises(speech.SpeechSynthesisError, match="no voice"):
        synthesize("hello there", Voice("en-zz", 170, 50, 50, 100))


def test_speaker_voices():
    a = speaker_voice(0, "M", np.random.default_rng(1))
    assert a == speaker_voice(0, "male", np.random.default_rng(1))
    assert a.name.startswith("en-us+m")
    f = speaker_voice(1, "W", np.random.default_rng(1))
    assert f.name.startswith("en-us+f") and f.pitch > a.pitch - 100
    names = {speaker_voice(i, "F", np.random.default_rng(i)).name for i in range(5)}
    assert len(names) == 5
    with pytest.raises(ValueError, match="gender"):
        speaker_voice(0, "x", np.random.default_rng(0))


def test_emotion_prosody_table():
    base = Voice("en-us+m1", rate=170, pitch=45, pitch_range=50, volume=100)
    assert set(EMOTION_PROSODY) == set(MEAD_EMOTIONS)
    assert emotion_voice(base, "neutral", 1) == base
    sad, angry, happy = (emotion_voice(base, e, 3) for e in ("sad", "angry", "happy"))
    assert sad.rate < base.rate and sad.pitch < base.pitch and sad.pitch_range < base.pitch_range
    assert sad.volume < base.volume
    assert angry.volume > base.volume and angry.rate > base.rate
    assert happy.pitch > base.pitch and happy.pitch_range > base.pitch_range
    # Intensity grows with the level.
    rates = [emotion_voice(base, "sad", level).rate for level in (1, 2, 3)]
    assert rates[0] > rates[1] > rates[2]
    with pytest.raises(ValueError, match="emotion"):
        emotion_voice(base, "bored", 2)
    with pytest.raises(ValueError, match="level"):
        emotion_voice(base, "sad", 4)
    # A sad utterance is longer than an angry one.
    text = "The train pulled out of the station right on time."
    assert synthesize(text, sad).duration > synthesize(text, angry).duration
