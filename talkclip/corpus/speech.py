"""English speech with exact phone timing: espeak-ng through its C API (the ``espeakng-loader`` wheel).

espeak-ng is a formant synthesizer: it knows which phoneme it is generating at every sample. With
``espeakINITIALIZE_PHONEME_EVENTS`` its synchronous callback receives, next to each block of samples, one
event per phoneme (mnemonic + sample position) and one per word (text position + sample position). Those
events are the ground-truth phone timing of the embedded corpus.

Where an event sits relative to the sound (read from ``src/libespeak-ng/synthesize.c``, ``Generate``):

* a phoneme's *pre-pause* is generated before its event. For stops and affricates this pause is the
  closure, so espeak reports the stop at its release and counts the closure silence as part of the previous
  phone. CMU-trained aligners (and TIMIT-style labelling, where closure + release form the stop) put the
  closure inside the stop, and so does a talking head: the lips are closed for /p b m/ during the closure.
  The pause is digital silence, so :func:`synthesize` moves each stop's start back to where that silence
  begins (``_closure_start``), exactly, without any tuning constant.
* a dark [l] before a consonant ("walls", "old") is rendered inside the preceding vowel's ending; its
  event has no (or almost no) duration. The L gets the vowel's last ``DARK_L_SHARE`` (measured: the
  aligner's median share on such cases is 0.39).
* an [r] after an r-coloured phone (espeak [3 r], [o@ r-]) is folded into it, as CMU spells "nursery",
  and [I] + linking [j] ("the old") becomes IY, as CMU's "the" before a vowel.
* everything else is reported where its sound starts, except vowels after a liquid or nasal, whose event
  comes after the vowel's formant transition; that transition is a real part of both sounds and is left
  as espeak reports it.

Measured effect (40 clips, frame agreement with pocketsphinx at 25 fps): closures +2.7 points, the dark
[l] / [r] / linking-[j] rules +1.2 points.

espeak-ng holds global state and is not thread safe: every call goes through one lock, the library is
loaded afresh for each utterance (see ``_synthesize_native``), and each synthesis re-seeds espeak's noise
generator, so the same inputs always give the same samples, in any process (forked or spawned workers).
"""
from __future__ import annotations

import _ctypes
import ctypes
import math
import os
import re
import threading
from dataclasses import dataclass

import espeakng_loader
import numpy as np
from scipy.signal import resample_poly

from ..phonemes import PhoneInterval, WordInterval
from .espeak_phones import (
    CMU_VOWELS,
    DARK_L_MAX_S,
    DARK_L_SHARE,
    continues_previous,
    espeak_to_cmu,
    is_language_switch,
    is_pause,
    strip_stress,
)

# --- espeak-ng C API constants (src/include/espeak-ng/speak_lib.h) ---
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_END = 5
_EVENT_MSG_TERMINATED = 6
_EVENT_PHONEME = 7
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4

MEAD_EMOTIONS: tuple[str, ...] = ("angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised")

# Silence kept before the first and after the last phone of an utterance (seconds).
LEAD_SILENCE_S = 0.2
TRAIL_SILENCE_S = 0.2
# A stop's closure (digital silence before its release) is searched at most this far back (seconds).
MAX_CLOSURE_S = 0.15
# The phone before a stop keeps at least this much of its span when the closure moves into the stop.
MIN_PREVIOUS_PHONE_S = 0.01
_STOPS = frozenset({"P", "B", "T", "D", "K", "G", "CH", "JH"})


class SpeechSynthesisError(RuntimeError):
    """espeak-ng refused a voice or text, or produced no phone events."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT``."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class _RawEvent:
    kind: int  # _EVENT_WORD / _EVENT_PHONEME / _EVENT_END
    sample: int  # position in the native-rate output
    mnemonic: str = ""  # phoneme events
    text_position: int = 0  # word events: 1-based character index into the text
    length: int = 0  # word events: characters


class _Engine:
    """The process's one espeak-ng instance (synchronous output, phoneme events on)."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_Terminate.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        data_path = espeakng_loader.get_data_path().encode()
        self.sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            raise SpeechSynthesisError(f"espeak_Initialize failed (returned {self.sample_rate}) with data {data_path!r}")
        self.lib: ctypes.CDLL | None = lib
        self._chunks: list[np.ndarray] = []
        self._events: list[_RawEvent] = []
        # Keep a reference: ctypes frees the C trampoline when the Python object dies.
        self._callback = _SynthCallback(self._on_synth)
        lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav: ctypes.POINTER(ctypes.c_short), n_samples: int, events: ctypes.POINTER(_Event)) -> int:
        if n_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                mnemonic = bytes(ev.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
                self._events.append(_RawEvent(_EVENT_PHONEME, ev.sample, mnemonic=mnemonic))
            elif ev.type == _EVENT_WORD:
                self._events.append(_RawEvent(_EVENT_WORD, ev.sample, text_position=ev.text_position, length=ev.length))
            elif ev.type in (_EVENT_END, _EVENT_MSG_TERMINATED):
                self._events.append(_RawEvent(_EVENT_END, ev.sample))
            i += 1
        return 0  # continue synthesis

    def synthesize(self, text: str, voice: Voice) -> tuple[np.ndarray, list[_RawEvent]]:
        """Native-rate int16 samples and the events of one utterance."""
        if self.lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise SpeechSynthesisError(f"espeak-ng has no voice {voice.name!r} (expected e.g. 'en-us' or 'en-us+m3')")
        for param, value in ((_PARAM_RATE, voice.rate), (_PARAM_PITCH, voice.pitch),
                             (_PARAM_RANGE, voice.pitch_range), (_PARAM_VOLUME, voice.volume)):
            if self.lib.espeak_SetParameter(param, value, 0) != 0:
                raise SpeechSynthesisError(f"espeak_SetParameter({param}, {value}) failed for voice {voice}")
        self.lib.espeak_ng_SetRandSeed(1)  # espeak's breath/noise generator: same input, same samples
        self._chunks, self._events = [], []
        data = text.encode("utf-8") + b"\0"
        status = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise SpeechSynthesisError(f"espeak_Synth failed with status {status} for text {text!r}")
        self.lib.espeak_Synchronize()
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        events, self._chunks, self._events = self._events, [], []
        return samples, events

    def phoneme_count(self, word: str) -> int:
        """Number of phonemes espeak gives ``word`` spoken alone (the current voice's language)."""
        text = ctypes.c_char_p(word.encode("utf-8"))
        # phonememode: '+' (not used in English mnemonics) between phonemes, ASCII mnemonics.
        phonemes = self.lib.espeak_TextToPhonemes(ctypes.byref(text), _CHARS_UTF8, ord("+") << 8) or b""
        return sum(1 for name in phonemes.decode("utf-8", "replace").replace(" ", "+").split("+")
                   if name and not is_pause(name) and not continues_previous(name))

    def close(self) -> None:
        """Free espeak's data and unload the library, so the next load starts from its initial state."""
        if self.lib is not None:
            self.lib.espeak_Terminate()
            _ctypes.dlclose(self.lib._handle)
            self.lib = None


# One synthesis at a time in this process (espeak-ng's state is global).
_LOCK = threading.Lock()


def _reset_after_fork() -> None:
    # A child forked while another thread held the lock would otherwise wait forever.
    global _LOCK
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _synthesize_native(text: str, voice: Voice, words: list[str]) -> tuple[np.ndarray, list[_RawEvent], int, list[int]]:
    """One utterance from a freshly loaded espeak-ng: (int16 samples, events, native sample rate, phoneme
    count of each of ``words`` spoken alone).

    Why reload per utterance: espeak's wave generator keeps state in C statics that no API resets (the
    pitch-flutter index, the glottal phase, resonator memories), so a second utterance would depend on the
    first. Unloading the library (dlclose) and loading it again costs ~10 ms and restores every static,
    which makes the output a function of (text, voice) alone, in any process, after any history.
    """
    with _LOCK:
        engine = _Engine()
        try:
            samples, events = engine.synthesize(text, voice)
            counts = [engine.phoneme_count(w) for w in words]
            return samples, events, engine.sample_rate, counts
        finally:
            engine.close()


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice and its prosody settings (espeak's own units)."""

    name: str  # e.g. "en-us+m3": language + variant
    rate: int  # words per minute, 80..450 (espeak default 175)
    pitch: int  # base pitch 0..100 (default 50)
    pitch_range: int  # pitch range 0..100 (default 50); 0 is monotone
    volume: int  # amplitude 0..200 (default 100)

    def __post_init__(self) -> None:
        language, _, variant = self.name.partition("+")
        if not language.startswith("en"):
            raise ValueError(f"Voice.name: expected an English espeak-ng voice ('en-us', 'en-us+f2'), got {self.name!r}")
        # espeak silently ignores an unknown variant; refuse it instead.
        if variant and not os.path.isfile(os.path.join(espeakng_loader.get_data_path(), "voices", "!v", variant)):
            raise ValueError(f"Voice.name: espeak-ng has no voice variant {variant!r} (in {self.name!r}); "
                             f"expected e.g. m1..m7, f1..f5")
        for key, low, high in (("rate", 80, 450), ("pitch", 0, 100), ("pitch_range", 0, 100), ("volume", 0, 200)):
            value = getattr(self, key)
            if not isinstance(value, (int, np.integer)) or not low <= value <= high:
                raise ValueError(f"Voice.{key}: expected an integer in {low}..{high}, got {value!r}")


@dataclass
class Utterance:
    audio: np.ndarray  # (N,) float32 mono in [-1, 1]
    sample_rate: int
    phones: list[PhoneInterval]  # cover [0, duration): speech phones, SIL elsewhere
    words: list[WordInterval]
    text: str

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


def _closure_start(samples: np.ndarray, release: int, earliest: int) -> int:
    """Start of the run of digital silence that ends at ``release`` (no earlier than ``earliest``)."""
    start = release
    while start > earliest and samples[start - 1] == 0:
        start -= 1
    return start


_PUNCTUATION = " \t\n.,;:!?\"()[]{}"


def _text_words(text: str) -> list[tuple[int, int, str]]:
    """Whitespace-separated words of ``text`` without surrounding punctuation: (first char, end char, word)."""
    return [(m.start(), m.end(), m.group().strip(_PUNCTUATION))
            for m in re.finditer(r"\S+", text) if m.group().strip(_PUNCTUATION)]


@dataclass
class _Segment:
    phone: str
    start: int  # native samples
    end: int
    word: int  # index into the text's words, -1 for pauses


def _word_of_marks(events: list[_RawEvent], text_words: list[tuple[int, int, str]],
                   word_phoneme_counts: list[int]) -> list[tuple[str, int, int]]:
    """Phoneme marks (mnemonic, sample, word index) with the text word each one belongs to.

    espeak sends one word event per *dictionary entry*, and its English dictionary speaks some word pairs
    as one entry ("on the", "of a", "in the"), which then get a single word event. The phonemes of such a
    group are handed to its words in order, as many to each as the word has when spoken alone.
    """
    def word_at(char_index: int) -> int:
        for i, (first, end, _) in enumerate(text_words):
            if first <= char_index < end:
                return i
        return -1

    # Group marks under the word event that precedes them.
    groups: list[tuple[int, list[tuple[str, int]]]] = []
    for ev in events:
        if ev.kind == _EVENT_WORD:
            groups.append((word_at(ev.text_position - 1), []))
        elif ev.kind == _EVENT_PHONEME and ev.mnemonic and not is_language_switch(ev.mnemonic):
            if not groups:
                groups.append((-1, []))
            groups[-1][1].append((ev.mnemonic, ev.sample))

    marks: list[tuple[str, int, int]] = []
    for g, (first_word, group_marks) in enumerate(groups):
        # Words of this group: from its own word up to the next group's word (exclusive).
        next_words = [w for w, _ in groups[g + 1:] if w > first_word]
        last_word = (next_words[0] - 1) if next_words else len(text_words) - 1
        members = list(range(first_word, last_word + 1)) if first_word >= 0 else []
        budget = [word_phoneme_counts[w] for w in members]
        member = 0
        for mnemonic, sample in group_marks:
            if is_pause(mnemonic):
                marks.append((mnemonic, sample, -1))
                continue
            if continues_previous(mnemonic):
                marks.append((mnemonic, sample, marks[-1][2] if marks else -1))
                continue
            while member < len(members) - 1 and budget[member] <= 0:
                member += 1
            if members:
                budget[member] -= 1
            marks.append((mnemonic, sample, members[member] if members else -1))
    return marks


def _segments_from_events(samples: np.ndarray, events: list[_RawEvent], sample_rate: int, text: str,
                          text_words: list[tuple[int, int, str]], word_phoneme_counts: list[int]) -> list[_Segment]:
    """CMU-labelled segments (native samples) from espeak's event stream."""
    end_sample = len(samples)
    marks = _word_of_marks(events, text_words, word_phoneme_counts)
    if not marks:
        raise SpeechSynthesisError(f"espeak-ng produced no phoneme events for {text!r}")

    segments: list[_Segment] = []
    for i, (mnemonic, start, word) in enumerate(marks):
        start = min(start, end_sample)
        end = min(marks[i + 1][1], end_sample) if i + 1 < len(marks) else end_sample
        cmu = espeak_to_cmu(mnemonic)
        if not cmu.phones:  # continues the previous phone (espeak's linking [j], lengthening)
            if segments:
                segments[-1].end = end
                # [I] + linking [j] ("the old" = D I2 ; oU l d) is the tense [i] of CMU's "the" = DH IY.
                if strip_stress(mnemonic) == ";" and segments[-1].phone == "IH":
                    segments[-1].phone = "IY"
            continue
        if len(cmu.phones) == 1:
            segments.append(_Segment(cmu.phones[0], start, end, word))
        else:
            split = start + round((end - start) * cmu.first_fraction)
            segments.append(_Segment(cmu.phones[0], start, split, word))
            segments.append(_Segment(cmu.phones[1], split, end, word))

    # An [r] right after an r-coloured phone is already in it: CMU writes "nursery" N ER S ER IY, "wore a"
    # W AO R AH, where espeak says [3 r i], [o@ r- a#]. Fold it into the phone before.
    merged: list[_Segment] = []
    for seg in segments:
        if merged and seg.phone == "R" and merged[-1].phone in ("R", "ER") and merged[-1].end == seg.start:
            merged[-1].end = seg.end
        else:
            merged.append(seg)
    segments = merged

    # Stops: move the closure silence from the previous phone into the stop (see the module docstring).
    max_closure = int(MAX_CLOSURE_S * sample_rate)
    min_previous = int(MIN_PREVIOUS_PHONE_S * sample_rate)
    for i in range(1, len(segments)):
        seg, prev = segments[i], segments[i - 1]
        if seg.phone in _STOPS and prev.phone != "SIL":
            earliest = max(seg.start - max_closure, prev.start + min_previous)
            new_start = _closure_start(samples, seg.start, earliest)
            prev.end = seg.start = new_start

    # A dark [l] before a consonant ("walls", "old") is rendered by espeak as the ending of the vowel before
    # it: its own event has no duration ("walls") or only a few ms before the next closure ("old"). The L
    # then takes the vowel's last DARK_L_SHARE, as CMU-trained aligners place it.
    min_dark_l = int(DARK_L_MAX_S * sample_rate)
    for i in range(1, len(segments)):
        seg, prev = segments[i], segments[i - 1]
        if seg.phone == "L" and seg.end - seg.start < min_dark_l and prev.phone in CMU_VOWELS:
            split = prev.end - round((prev.end - prev.start) * DARK_L_SHARE)
            seg.start, seg.end, prev.end = split, max(seg.end, prev.end), split
    return [s for s in segments if s.end > s.start]


def synthesize(text: str, voice: Voice, sample_rate: int = 16000) -> Utterance:
    """Speak ``text`` with ``voice``; audio at ``sample_rate`` with its phones and words.

    The audio keeps LEAD_SILENCE_S before the first phone and TRAIL_SILENCE_S after the last one
    (espeak's own leading/trailing silence is cut or zero-padded to that), phone times shifted to match.
    Words are the whitespace-separated words of ``text`` without surrounding punctuation.
    """
    if not text.strip():
        raise ValueError("synthesize: text is empty")
    if sample_rate < 8000:
        raise ValueError(f"synthesize: sample_rate must be >= 8000 Hz, got {sample_rate}")
    text_words = _text_words(text)
    samples, events, native_rate, counts = _synthesize_native(text, voice, [w for _, _, w in text_words])
    segments = _segments_from_events(samples, events, native_rate, text, text_words, counts)

    speech = [s for s in segments if s.phone != "SIL"]
    if not speech:
        raise SpeechSynthesisError(f"espeak-ng produced only pauses for {text!r}")
    # Output time t corresponds to native time t + offset.
    offset = speech[0].start / native_rate - LEAD_SILENCE_S
    duration = speech[-1].end / native_rate + TRAIL_SILENCE_S - offset

    g = math.gcd(int(sample_rate), int(native_rate))
    audio = resample_poly(samples.astype(np.float32) / 32768.0, sample_rate // g, native_rate // g)
    n_out = round(duration * sample_rate)
    first = round(offset * sample_rate)
    out = np.zeros(n_out, dtype=np.float32)
    src_lo, src_hi = max(first, 0), min(first + n_out, len(audio))
    if src_hi > src_lo:
        out[src_lo - first: src_hi - first] = audio[src_lo:src_hi]
    np.clip(out, -1.0, 1.0, out=out)
    end_time = n_out / sample_rate

    def to_out(sample: int) -> float:
        return min(max(sample / native_rate - offset, 0.0), end_time)

    phones: list[PhoneInterval] = []
    cursor = 0.0
    for seg in speech:
        start, end = to_out(seg.start), to_out(seg.end)
        if end <= start:
            continue
        if start > cursor:  # a pause between phones
            phones.append(PhoneInterval("SIL", cursor, start))
        phones.append(PhoneInterval(seg.phone, start, end))
        cursor = end
    phones.append(PhoneInterval("SIL", cursor, end_time))

    words: list[WordInterval] = []
    for index, (_, _, word) in enumerate(text_words):
        spans = [s for s in speech if s.word == index]
        if spans:
            words.append(WordInterval(word, to_out(spans[0].start), to_out(spans[-1].end)))
    return Utterance(audio=out, sample_rate=sample_rate, phones=phones, words=words, text=text)


# --- voices per speaker ---------------------------------------------------------------------------------
_MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
_FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")


def _gender_key(gender: str) -> str:
    g = gender.strip().lower()
    if g in ("m", "male", "man"):
        return "male"
    if g in ("f", "w", "female", "woman"):
        return "female"
    raise ValueError(f"speaker_voice: gender must be 'male'/'M' or 'female'/'F'/'W', got {gender!r}")


def speaker_voice(index: int, gender: str, rng: np.random.Generator) -> Voice:
    """The neutral voice of speaker ``index``: an espeak variant of the gender, own base pitch and rate.

    Variants cycle with the index (m1..m7 / f1..f5) so neighbouring speakers sound different; pitch, range
    and rate are drawn from ``rng`` (the corpus seed makes them reproducible).
    """
    if index < 0:
        raise ValueError(f"speaker_voice: index must be >= 0, got {index}")
    if _gender_key(gender) == "male":
        variant = _MALE_VARIANTS[index % len(_MALE_VARIANTS)]
        pitch = int(rng.integers(30, 51))
    else:
        variant = _FEMALE_VARIANTS[index % len(_FEMALE_VARIANTS)]
        pitch = int(rng.integers(50, 71))
    return Voice(name=f"en-us+{variant}", rate=int(rng.integers(150, 186)), pitch=pitch,
                 pitch_range=int(rng.integers(40, 66)), volume=100)


# --- emotional prosody ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProsodyChange:
    """Change of a voice at intensity level 3; levels 1 and 2 take EMOTION_LEVEL_SCALE of it."""

    rate_factor: float  # multiplies words per minute
    pitch_shift: int  # added to base pitch (0..100 scale)
    range_shift: int  # added to pitch range (0..100 scale)
    volume_factor: float  # multiplies amplitude


# Vocal correlates of emotion (Scherer 2003, "Vocal communication of emotion"; Murray & Arnott 1993):
# anger/happiness/surprise/fear raise pitch and rate, anger and joy are louder, sadness is slower,
# lower, narrower and softer, disgust and contempt are slower and lower.
EMOTION_PROSODY: dict[str, ProsodyChange] = {
    "neutral": ProsodyChange(1.00, 0, 0, 1.00),
    "angry": ProsodyChange(1.15, 8, 20, 1.40),
    "contempt": ProsodyChange(0.92, -6, 8, 0.95),
    "disgusted": ProsodyChange(0.85, -8, -5, 1.00),
    "fear": ProsodyChange(1.12, 15, 10, 0.90),
    "happy": ProsodyChange(1.08, 12, 25, 1.15),
    "sad": ProsodyChange(0.80, -10, -25, 0.75),
    "surprised": ProsodyChange(1.05, 18, 30, 1.20),
}
EMOTION_LEVEL_SCALE: dict[int, float] = {1: 0.4, 2: 0.7, 3: 1.0}


def _clamp(value: float, low: int, high: int) -> int:
    return int(min(max(round(value), low), high))


def emotion_voice(base: Voice, emotion: str, level: int) -> Voice:
    """``base`` with the prosody of ``emotion`` at MEAD intensity ``level`` (1..3), see EMOTION_PROSODY."""
    if emotion not in EMOTION_PROSODY:
        raise ValueError(f"emotion_voice: unknown emotion {emotion!r}; expected one of {', '.join(MEAD_EMOTIONS)}")
    if level not in EMOTION_LEVEL_SCALE:
        raise ValueError(f"emotion_voice: level must be 1, 2 or 3, got {level!r}")
    change, scale = EMOTION_PROSODY[emotion], EMOTION_LEVEL_SCALE[level]
    return Voice(
        name=base.name,
        rate=_clamp(base.rate * (1.0 + (change.rate_factor - 1.0) * scale), 80, 450),
        pitch=_clamp(base.pitch + change.pitch_shift * scale, 0, 100),
        pitch_range=_clamp(base.pitch_range + change.range_shift * scale, 0, 100),
        volume=_clamp(base.volume * (1.0 + (change.volume_factor - 1.0) * scale), 0, 200),
    )

