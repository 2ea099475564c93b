"""Phoneme alignment with pocketsphinx: audio + transcript -> timed CMU phones (the training labels).

This is the field's phoneme extraction (StyleTalk, DreamTalk): forced alignment of the transcript when
there is one, phone recognition when there is none, then one phone id per video frame
(:func:`talkclip.phonemes.intervals_to_frame_ids`).

Forced alignment is pocketsphinx's two passes: a word-level pass through the transcript (with the
dictionary's alternative pronunciations and optional silences between words), then a sub-word pass
(``set_alignment``) that yields phone boundaries in 10 ms frames. What matters on top of the bare API,
measured against espeak-ng's own phone timing (40 synthesized clips, 12 voices, all MEAD emotions):

* digital silence (exact zeros) breaks the word pass ("Failed to set up sub-word alignment" on 6 of 10
  clips); dithering fixes it (``AlignerConfig.dither``, seeded per call);
* pocketsphinx's default beams still lose the path on ~8% of clips; beams of 1e-100 lose none;
* reported frame indices are window starts; shifting every boundary by +7.8 ms (window centre) raises
  frame agreement by ~7 points (``AlignerConfig.boundary_offset_s``);
* scoring 16 Gaussians per codebook instead of 4 (``topn``): +0.5 points;
* the feature extractor's noise estimate carries over between utterances: it is reset per clip, so a
  clip's labels do not depend on the clips aligned before it.

Result on 90 held-out clips (sentences not used for tuning, random voices / emotions / levels):
frame agreement mean 0.841 (worst clip 0.672) at 25 fps, 0.838 (worst 0.702) at 30 fps; word boundary
error 16.0 ms; no fallback needed; ~0.05 s of CPU per second of audio. Phone recognition (no
transcript) reaches ~0.48.

Failures are never silent: each method that fails is recorded, the next one of ``AlignerConfig.fallbacks``
is tried, and when all fail :class:`AlignmentError` names every reason. The method that produced a result
is in ``AlignmentResult.method``. Audio without speech (digital silence, or no method finds a speech
phone) raises :class:`NoSpeechError`, a kind of AlignmentError.

Long audio, in bounded memory: pocketsphinx keeps the search history of a whole utterance, so phone
recognition decodes windows of at most ``RECOGNITION_WINDOW_S`` seconds as separate utterances (each
window ends at the quietest 10 ms of its last ``WINDOW_CUT_SEARCH_S`` seconds, so a cut falls in a
pause rather than inside a phone; windows of digital silence are SIL without decoding), and
:meth:`PhonemeAligner.recognize_stream` takes the audio as a stream of chunks, so memory does not
grow with the length of the file. Forced alignment needs the whole transcript in one utterance; its
memory grows faster than linearly (measured: 64 MB for 30 s of speech, 440 MB for 120 s), so audio
longer than ``FORCED_MAX_S`` is not force-aligned: that method fails with the reason and the configured
fallbacks are tried. Clips of the embedded corpus and of MEAD are far shorter than one window, and are
decoded exactly as before.
"""
from __future__ import annotations

import difflib
import itertools
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from ..config.alignment import AlignerConfig
from ..phonemes import PHONE_TO_ID, PhoneInterval, WordInterval, normalize_phone

SAMPLE_RATE = 16000
FRAME_RATE = 100  # pocketsphinx frames per second (its acoustic model's 10 ms hop)
MIN_AUDIO_S = 0.1
# Audio whose peak stays below -60 dBFS (33 of 32768 steps) holds no audible speech: digital silence.
SILENCE_PEAK = 10 ** (-60 / 20)
RECOGNITION_WINDOW_S = 30.0  # phone recognition: the longest stretch decoded as one utterance
WINDOW_CUT_SEARCH_S = 3.0  # a window ends at the quietest 10 ms of its last 3 s
FORCED_MAX_S = 60.0  # forced alignment: the longest audio aligned (one utterance; memory grows fast)


class AlignmentError(ValueError):
    """No alignment method produced a result; the message names each method and why it failed."""


class NoSpeechError(AlignmentError):
    """The audio contains no speech: digital silence, or no method found a single speech phone."""


class UnknownWordError(ValueError):
    """Transcript words that pocketsphinx's pronunciation dictionary does not contain."""

    def __init__(self, words: Sequence[str]):
        self.words = list(words)
        super().__init__(
            f"transcript word(s) not in pocketsphinx's CMU dictionary: {', '.join(repr(w) for w in self.words)} "
            f"(spell numbers and symbols out as words)"
        )


@dataclass
class AlignmentResult:
    phones: list[PhoneInterval]  # cover [0, audio duration): speech phones, SIL / NSN elsewhere
    words: list[WordInterval]  # transcript words in order; empty for phone recognition
    method: str  # "forced", "forced_wide" or "phone_recognition"
    fallback_reasons: list[str] = field(default_factory=list)  # why the methods tried before ``method`` failed


def normalize_transcript(transcript: str) -> list[str]:
    """Dictionary spelling of a transcript: lower case, no punctuation except word-internal apostrophes."""
    words = []
    for token in transcript.lower().replace("\u2019", "'").split():
        # Hyphenated compounds are separate dictionary words ("well-known" -> "well known").
        for part in token.split("-"):
            part = re.sub(r"[^a-z0-9']", "", part).strip("'")
            if part:
                words.append(part)
    return words


def _model_paths() -> tuple[str, str, str]:
    import pocketsphinx

    model = pocketsphinx.get_model_path()
    return (os.path.join(model, "en-us", "en-us"), os.path.join(model, "en-us", "cmudict-en-us.dict"),
            os.path.join(model, "en-us", "en-us-phone.lm.bin"))


class PhonemeAligner:
    """Forced alignment / phone recognition with pocketsphinx's bundled US-English model.

    Decoders are created on first use and kept; the object can be pickled to worker processes (each builds
    its own decoders). Calls on one instance are serialised by a lock.
    """

    def __init__(self, config: AlignerConfig | None = None):
        self.config = config or AlignerConfig()
        self._decoders: dict[str, object] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {"config": self.config}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["config"])

    # --- decoders ---------------------------------------------------------------------------------------
    def _decoder(self, method: str):
        if method not in self._decoders:
            import pocketsphinx

            hmm, dictionary, phone_lm = _model_paths()
            cfg = self.config
            # Dither is added in _to_pcm: pocketsphinx's own dither draws from a generator that carries
            # over between utterances, which would make a clip's labels depend on the clips before it.
            options = {"hmm": hmm, "dict": dictionary, "samprate": SAMPLE_RATE, "loglevel": "FATAL",
                           "dither": False, "topn": cfg.topn}
            if method == "phone_recognition":
                options.update(lm=None, bestpath=False)
                if cfg.phone_lm:
                    options.update(allphone=phone_lm, lw=cfg.phone_lm_weight)
                    decoder = pocketsphinx.Decoder(**options)
                else:
                    decoder = pocketsphinx.Decoder(**options)
                    decoder.add_allphone_file("allphone_uniform", None)
                    decoder.activate_search("allphone_uniform")
                self._decoders[method] = decoder
                return decoder
            else:
                wide = method == "forced_wide"
                options.update(lm=None, bestpath=False, silprob=cfg.silence_prob,
                               beam=cfg.wide_beam if wide else cfg.beam,
                               wbeam=cfg.wide_wbeam if wide else cfg.wbeam,
                               pbeam=cfg.wide_pbeam if wide else cfg.pbeam)
            self._decoders[method] = pocketsphinx.Decoder(**options)
        return self._decoders[method]

    def missing_words(self, words: Sequence[str]) -> list[str]:
        """Words (already normalised) that the pronunciation dictionary lacks."""
        decoder = self._decoder("forced")
        return [w for w in dict.fromkeys(words) if decoder.lookup_word(w) is None]

    # --- alignment --------------------------------------------------------------------------------------
    def align(self, audio: np.ndarray, sample_rate: int, transcript: str | None) -> AlignmentResult:
        """Timed phones (and words) of ``audio`` (16 kHz mono float in [-1, 1]).

        Raises UnknownWordError for transcript words missing from the dictionary, ValueError for bad audio,
        NoSpeechError for audio without speech, AlignmentError when every configured method fails.
        """
        duration = _check_audio(audio, sample_rate)
        _check_speech(audio, duration)
        words = self._transcript_words(transcript)
        methods = ["phone_recognition"] if transcript is None else ["forced", *self.config.fallbacks]
        with self._lock:
            pcm = self._to_pcm(audio) if transcript is not None and duration <= FORCED_MAX_S else b""
            reasons: list[str] = []
            for method in methods:
                try:
                    if method == "phone_recognition":
                        seconds = (audio[i : i + SAMPLE_RATE] for i in range(0, len(audio), SAMPLE_RATE))
                        phones = self._recognize_windows(seconds, duration, progress=True)
                        result_words: list[WordInterval] = []
                    elif duration > FORCED_MAX_S:
                        raise ValueError(_too_long_to_force())
                    else:
                        phones, result_words = self._force_align(method, pcm, words)
                    return self._result(method, phones, result_words, words, duration, reasons)
                except (RuntimeError, ValueError) as exc:
                    reasons.append(f"{method}: {exc}")
        raise _failure(duration, transcript, reasons)

    def align_stream(self, chunks: Iterable[np.ndarray], transcript: str | None = None, *,
                     total_s: float | None = None, progress: bool = True) -> tuple[AlignmentResult, float]:
        """:meth:`align` for 16 kHz audio given as a stream of mono float chunks (``formats.media.iter_audio``),
        in memory bounded whatever the length; returns the result and the audio's duration in seconds.

        Up to FORCED_MAX_S of audio with a transcript is aligned whole, as by :meth:`align`. Longer audio
        is not force-aligned (the reason is recorded) and goes to phone recognition, window by window,
        if it is among the configured fallbacks. ``total_s`` (the stated duration) only sizes the progress bar.
        """
        chunks = iter(chunks)
        reasons: list[str] = []
        if transcript is not None:
            self._transcript_words(transcript)  # a bad transcript is an error even when it goes unused
            head, n_head = [], 0
            for chunk in chunks:
                head.append(np.asarray(chunk))
                n_head += len(head[-1])
                if n_head > FORCED_MAX_S * SAMPLE_RATE:
                    break
            else:  # short enough to align whole
                audio = np.concatenate(head) if head else np.zeros(0, np.float32)
                return self.align(audio, SAMPLE_RATE, transcript), len(audio) / SAMPLE_RATE
            reasons = [f"{method}: {_too_long_to_force()}" for method in ["forced", *self.config.fallbacks]
                       if method != "phone_recognition"]
            if "phone_recognition" not in self.config.fallbacks:
                raise _failure(n_head / SAMPLE_RATE, transcript, reasons)
            chunks = itertools.chain(head, chunks)
        with self._lock:
            seen = {"samples": 0, "peak": 0.0}  # counted as the windows pass: known at the end of the stream
            phones = self._recognize_windows(_counting(chunks, seen), total_s, progress)
            duration = seen["samples"] / SAMPLE_RATE
            if duration < MIN_AUDIO_S:
                raise ValueError(f"align: audio is {duration:.3f} s long, need at least {MIN_AUDIO_S} s")
            _check_speech(np.array([seen["peak"]]), duration)
            try:
                return self._result("phone_recognition", phones, [], [], duration, reasons), duration
            except (RuntimeError, ValueError) as exc:
                raise _failure(duration, transcript, [*reasons, f"phone_recognition: {exc}"]) from None

    def _transcript_words(self, transcript: str | None) -> list[str]:
        """The transcript's dictionary words ([] for None); UnknownWordError for words the dictionary lacks."""
        if transcript is None:
            return []
        words = normalize_transcript(transcript)
        if not words:
            raise ValueError(f"align: transcript {transcript!r} has no words; pass None for phone recognition")
        with self._lock:
            missing = self.missing_words(words)
        if missing:
            raise UnknownWordError(missing)
        return words

    def _result(self, method: str, phones: list[PhoneInterval], words: list[WordInterval], expected: list[str],
                duration: float, reasons: list[str]) -> AlignmentResult:
        phones = self._finish(phones, duration)
        words = [WordInterval(w.word, *self._shift_span(w.start, w.end, duration)) for w in words]
        _check_result(phones, words, expected if method != "phone_recognition" else [])
        return AlignmentResult(phones=phones, words=words, method=method, fallback_reasons=list(reasons))

    def _to_pcm(self, audio: np.ndarray) -> bytes:
        """16-bit PCM bytes, with +-1 LSB triangular dither (seeded per call) when configured."""
        samples = np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0) * 32767.0
        if self.config.dither:
            # Digital silence (exact zeros) gives degenerate log-spectra that break the word pass.
            rng = np.random.default_rng(0)
            samples = samples + rng.uniform(-0.5, 0.5, samples.shape) + rng.uniform(-0.5, 0.5, samples.shape)
        return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()

    def _force_align(self, method: str, pcm: bytes, words: list[str]) -> tuple[list[PhoneInterval], list[WordInterval]]:
        decoder = self._decoder(method)
        # Fresh feature extraction: its noise estimate (remove_noise) otherwise carries over from the previous
        # utterance, and the same clip would get different labels depending on what was aligned before.
        decoder.reinit_feat()
        decoder.set_align_text(" ".join(words))
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        if decoder.hyp() is None:
            # The word pass found no path through the transcript (beam pruning or audio unlike speech).
            raise RuntimeError("word-level pass reached no end of the transcript")
        decoder.set_alignment()  # raises RuntimeError("Failed to set up sub-word alignment")
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        alignment = decoder.get_alignment()
        if alignment is None:
            raise RuntimeError("sub-word pass returned no alignment")
        # Use the flat iterators: iterating a word entry's phones crashes pocketsphinx 5.1.1.
        phones = [PhoneInterval(normalize_phone(p.name), p.start / FRAME_RATE, (p.start + p.duration) / FRAME_RATE)
                  for p in alignment.phones()]
        timed_words = []
        for w in alignment.words():
            name = re.sub(r"\(\d+\)$", "", w.name)  # alternative pronunciations: "the(2)"
            if name.startswith(("<", "[", "+")):
                continue  # <s>, </s>, <sil>, [NOISE] fillers
            timed_words.append(WordInterval(name, w.start / FRAME_RATE, (w.start + w.duration) / FRAME_RATE))
        return phones, timed_words

    def _recognize_windows(self, chunks: Iterable[np.ndarray], total_s: float | None, progress: bool
                           ) -> list[PhoneInterval]:
        """Phone recognition window by window (see the module doc); phones in seconds from the start."""
        phones: list[PhoneInterval] = []
        short = total_s is not None and total_s <= RECOGNITION_WINDOW_S  # one window: no bar
        bar = tqdm(total=round(total_s) if total_s else None, unit="s", desc="phone recognition", leave=False,
                   disable=not progress or short)
        for start, window in _windows(chunks):
            offset = start / SAMPLE_RATE
            if np.abs(window).max() < SILENCE_PEAK:
                phones.append(PhoneInterval("SIL", offset, offset + len(window) / SAMPLE_RATE))
            else:
                phones += [PhoneInterval(p.phone, p.start + offset, p.end + offset)
                           for p in self._recognize_phones(self._to_pcm(window))]
            bar.update(round(len(window) / SAMPLE_RATE))
        bar.close()
        return phones

    def _recognize_phones(self, pcm: bytes) -> list[PhoneInterval]:
        decoder = self._decoder("phone_recognition")
        decoder.reinit_feat()  # see _force_align
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        phones = []
        for seg in decoder.seg():
            phones.append(PhoneInterval(normalize_phone(seg.word), seg.start_frame / FRAME_RATE,
                                        (seg.end_frame + 1) / FRAME_RATE))
        if not phones:
            raise RuntimeError("phone recognition returned no segments")
        return phones

    def _shift_span(self, start: float, end: float, duration: float) -> tuple[float, float]:
        offset = self.config.boundary_offset_s
        new_start = 0.0 if start <= 0.0 else min(max(start + offset, 0.0), duration)
        return new_start, min(max(end + offset, new_start), duration)

    def _finish(self, phones: list[PhoneInterval], duration: float) -> list[PhoneInterval]:
        """Apply the boundary offset, clip to the audio, merge silences, fill the edges with SIL."""
        out: list[PhoneInterval] = []
        cursor = 0.0
        for p in sorted(phones, key=lambda p: p.start):
            start, end = self._shift_span(p.start, p.end, duration)
            start = max(start, cursor)
            if end <= start:
                continue
            if start > cursor:
                out.append(PhoneInterval("SIL", cursor, start))
            if out and out[-1].phone == p.phone == "SIL":
                out[-1] = PhoneInterval("SIL", out[-1].start, end)
            else:
                out.append(PhoneInterval(p.phone, start, end))
            cursor = end
        if cursor < duration:
            if out and out[-1].phone == "SIL":
                out[-1] = PhoneInterval("SIL", out[-1].start, duration)
            else:
                out.append(PhoneInterval("SIL", cursor, duration))
        return out


def _check_audio(audio: np.ndarray, sample_rate: int) -> float:
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"align: audio must be {SAMPLE_RATE} Hz (pocketsphinx's en-us model), got {sample_rate} Hz")
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"align: expected mono audio of shape (N,), got shape {audio.shape}")
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"align: expected float audio in [-1, 1], got dtype {audio.dtype}")
    if not np.all(np.isfinite(audio)):
        raise ValueError("align: audio contains NaN or infinite samples")
    duration = len(audio) / sample_rate
    if duration < MIN_AUDIO_S:
        raise ValueError(f"align: audio is {duration:.3f} s long, need at least {MIN_AUDIO_S} s")
    return duration


def _check_result(phones: list[PhoneInterval], words: list[WordInterval], expected_words: list[str]) -> None:
    """Refuse results that cannot be right (rather than return them as labels)."""
    if not any(p.phone not in ("SIL", "NSN") for p in phones):
        raise RuntimeError("result has no speech phones")
    if expected_words and [w.word for w in words] != expected_words:
        raise RuntimeError(f"aligned words {[w.word for w in words]} differ from the transcript {expected_words}")


def _check_speech(audio: np.ndarray, duration: float) -> None:
    peak = float(np.abs(audio).max())
    if peak < SILENCE_PEAK:
        level = f"{20 * np.log10(peak):.0f} dBFS" if peak > 0 else "exact zeros"
        raise NoSpeechError(f"the audio contains no speech: {duration:.2f} s of digital silence (peak level {level})")


def _too_long_to_force() -> str:
    return (f"the audio is longer than the {FORCED_MAX_S:g} s that forced alignment handles in bounded memory; "
            "split the audio and its transcript into utterances")


def _failure(duration: float, transcript: str | None, reasons: list[str]) -> AlignmentError:
    if reasons and all(r.endswith("result has no speech phones") for r in reasons):
        return NoSpeechError(f"the audio contains no speech: no method found a speech phone in {duration:.2f} s "
                             f"of audio ({'; '.join(reasons)})")
    return AlignmentError(f"no alignment for {duration:.2f} s of audio (transcript {transcript!r}): " + "; ".join(reasons))


def _counting(chunks: Iterable[np.ndarray], seen: dict) -> Iterator[np.ndarray]:
    """The chunks, checked; ``seen`` accumulates their sample count and peak level."""
    for chunk in chunks:
        chunk = np.asarray(chunk)
        if chunk.ndim != 1 or not np.issubdtype(chunk.dtype, np.floating):
            raise ValueError(f"align: expected mono float audio chunks of shape (n,), got {chunk.dtype} {chunk.shape}")
        if not np.all(np.isfinite(chunk)):
            raise ValueError("align: audio contains NaN or infinite samples")
        seen["samples"] += len(chunk)
        if len(chunk):
            seen["peak"] = max(seen["peak"], float(np.abs(chunk).max()))
        yield chunk


def _windows(chunks: Iterable[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    """(first sample, samples) of consecutive recognition windows of the concatenated chunks.

    A window is at most RECOGNITION_WINDOW_S long; one that is cut (more audio follows) ends at the
    quietest 10 ms frame of its last WINDOW_CUT_SEARCH_S. Only the current window is held in memory.
    """
    size, search, hop = int(RECOGNITION_WINDOW_S * SAMPLE_RATE), int(WINDOW_CUT_SEARCH_S * SAMPLE_RATE), SAMPLE_RATE // 100
    pending: list[np.ndarray] = []
    n_pending = start = 0
    for chunk in chunks:
        pending.append(chunk)
        n_pending += len(chunk)
        while n_pending > size:
            buffer = np.concatenate(pending)
            frames = buffer[size - search:size].reshape(-1, hop)
            cut = size - search + int(np.argmin(np.square(frames, dtype=np.float64).sum(axis=1))) * hop + hop // 2
            yield start, buffer[:cut]
            start += cut
            pending, n_pending = [buffer[cut:]], len(buffer) - cut
    if n_pending:
        yield start, np.concatenate(pending)

# --- metrics --------------------------------------------------------------------------------------------
def frame_agreement(pred_ids: np.ndarray | Sequence[int], ref_ids: np.ndarray | Sequence[int]) -> float:
    """Fraction of frames whose predicted phone id equals the reference id (same length required)."""
    pred, ref = np.asarray(pred_ids), np.asarray(ref_ids)
    if pred.shape != ref.shape or pred.ndim != 1:
        raise ValueError(f"frame_agreement: expected two 1-D id arrays of equal length, got {pred.shape} and {ref.shape}")
    if pred.size == 0:
        raise ValueError("frame_agreement: empty id arrays")
    for name, ids in (("pred_ids", pred), ("ref_ids", ref)):
        if ids.min() < 0 or ids.max() >= len(PHONE_TO_ID):
            raise ValueError(f"frame_agreement: {name} has ids outside 0..{len(PHONE_TO_ID) - 1}")
    return float(np.mean(pred == ref))


def _word_key(word: str) -> str:
    return re.sub(r"[^a-z0-9']", "", word.lower())


def word_boundary_error_ms(pred_words: Sequence[WordInterval], ref_words: Sequence[WordInterval]) -> float:
    """Mean absolute error (ms) of word start and end times over the words both sequences share.

    Words are matched in order by their spelling (case and punctuation ignored), so a missing or extra word
    on one side does not shift the rest. Raises ValueError when no word matches.
    """
    pred_keys = [_word_key(w.word) for w in pred_words]
    ref_keys = [_word_key(w.word) for w in ref_words]
    matcher = difflib.SequenceMatcher(None, pred_keys, ref_keys, autojunk=False)
    errors: list[float] = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            p, r = pred_words[block.a + k], ref_words[block.b + k]
            errors += [abs(p.start - r.start), abs(p.end - r.end)]
    if not errors:
        raise ValueError(
            f"word_boundary_error_ms: no word in common between prediction ({len(pred_words)} words) "
            f"and reference ({len(ref_words)} words)"
        )
    return 1000.0 * float(np.mean(errors))


# --- reliability of the phoneme labels --------------------------------------------------------------
# What the recogniser cannot tell about itself, measured (16 kHz, 25 fps labels; the embedded corpus's
# synthesizer timing as truth, 8 held-out clips; white noise added at a given SNR):
#   frame agreement, forced alignment:   clean 0.73-0.84 | 10 dB SNR 0.59-0.79 | 0 dB SNR 0.50-0.64
#   frame agreement, phone recognition:  clean 0.42-0.54 | 10 dB SNR 0.29-0.39 | 0 dB SNR 0.17-0.25
# The 95th - 10th percentile range of 10 ms frame energies separates them: clean real speech (the
# StyleTalk and DreamTalk samples) 37-56 dB, synthetic speech 60-86 dB, 10 dB SNR 16-17 dB, 0 dB SNR
# 7-8 dB. Nothing measured separates languages: German speech (DreamTalk's German1.wav) had the same
# speech share (0.81) and energy range (56 dB) as English, so phone recognition of any language or
# of singing is flagged as unverifiable rather than detected.
MIN_ENERGY_RANGE_DB = 20.0
ENERGY_FRAME_S = 0.010


@dataclass(frozen=True)
class PhonemeReliability:
    """Signals that say whether an alignment's phoneme labels can be trusted, and the warnings they raise."""

    method: str
    energy_range_db: float  # 95th - 10th percentile of 10 ms frame energies: low means noisy (see above)
    speech_share: float  # share of the audio the labels put in speech phones (not SIL / NSN)
    warnings: tuple[str, ...]

    @property
    def reliable(self) -> bool:
        return not self.warnings

    def to_dict(self) -> dict:
        return {"method": self.method, "energy_range_db": round(self.energy_range_db, 1),
                "speech_share": round(self.speech_share, 3), "reliable": self.reliable, "warnings": list(self.warnings)}


def energy_range_db(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """95th minus 10th percentile of the 10 ms frame energies in dB (speech peaks over the noise floor)."""
    hop = round(ENERGY_FRAME_S * sample_rate)
    samples = np.asarray(audio, dtype=np.float64)
    n = len(samples) // hop
    if n < 2:
        raise ValueError(f"energy_range_db: audio of {len(samples)} samples is shorter than two 10 ms frames")
    power = (samples[: n * hop].reshape(n, hop) ** 2).mean(axis=1)
    decibels = 10.0 * np.log10(power + 1e-10)
    low, high = np.percentile(decibels, [10, 95])
    return float(high - low)


def assess_phonemes(audio: np.ndarray, sample_rate: int, result: AlignmentResult) -> PhonemeReliability:
    """How far ``result`` (an alignment of ``audio``) can be trusted; warnings name what is wrong."""
    duration = len(audio) / sample_rate
    speech = sum(p.end - p.start for p in result.phones if p.phone not in ("SIL", "NSN"))
    level = energy_range_db(audio, sample_rate)
    warnings: list[str] = []
    if level < MIN_ENERGY_RANGE_DB:
        warnings.append(
            f"noisy audio: speech rises only {level:.0f} dB above the noise floor (clean speech: > 35 dB); "
            f"at 10 dB SNR or worse the aligner loses much of its phone agreement and labels noise in pauses as speech"
        )
    if result.method == "phone_recognition":
        warnings.append(
            "no usable transcript: phones come from pocketsphinx's US-English phone recogniser (about 0.48 frame "
            "agreement on clean English; non-English speech or singing is labelled with English phones and cannot "
            "be detected); give the transcript for forced alignment"
        )
    return PhonemeReliability(result.method, level, speech / duration if duration > 0 else 0.0, tuple(warnings))
