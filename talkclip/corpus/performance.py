"""Performances: how one speaker says one sentence with one emotion at one level.

A performance combines, frame by frame:

- the EMFACS prototype of the emotion (``facs.emotion_prototype``) scaled by the level and by the
  speaker's own per-AU gains, smile/frown asymmetry and habitual resting expression;
- an onset ramp (the display builds up over the first few hundred ms) and a slight offset decay;
- slow natural variation of every AU (an Ornstein-Uhlenbeck process, i.e. AR(1) noise with a
  time constant of about a second);
- emphasis: brows flash up and the head nods on loud / long stressed vowels, by how much is a
  speaker habit;
- speech articulation (``coarticulation.viseme_track``) with the speaker's articulation strength;
  closures for P/B/M and F/V override the emotion's open jaw;
- blinks (a Poisson process, fast close / slower open, on the lid-closure components);
- gaze wander, pupil size, skin flush, the speaker's residual upper-face shape;
- head pose: OU head motion, emotion-typical posture (sad head down, contempt head tilt, ...).

The speaker's idiosyncrasies (``SpeakerStyle``) are stable across clips, so a speaking style --
emotion x level x speaker -- is recognisable from the coefficient sequence alone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from scipy.signal import lfilter

from talkclip.corpus.coarticulation import closure_amount, viseme_track
from talkclip.corpus.facs import (
    ALL_AU_NAMES,
    AU_INDEX,
    AU_MAX_INTENSITY,
    LEVEL_SCALE,
    N_ALL_AUS,
    annotated_aus,
    au_to_expression,
    check_emotion_level,
    emotion_prototype,
)
from talkclip.expression import COMPONENT_INDEX, EXPRESSION_DIM
from talkclip.phonemes import PhoneInterval

VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"})
_SMILE_FROWN_AUS = ("AU12", "AU14", "AU15", "AU20")
_BROW_AUS = ("AU1", "AU2", "AU4")
_UPPER_MODES = tuple(f"upper_mode_{k}" for k in range(1, 7))

# Emotion-typical head posture and gaze at the strong level (radians / face units / coefficients):
# yaw, pitch (> 0 head down), roll, tz (> 0 towards the camera), gaze_up, pupil, flush.
_EMOTION_POSTURE: dict[str, dict[str, float]] = {
    "angry": {"pitch": 0.06, "tz": 0.12, "pupil": -0.3, "flush": 0.4},
    "contempt": {"yaw": 0.06, "pitch": -0.05, "roll": 0.07, "gaze_right": 0.15},
    "disgusted": {"yaw": -0.05, "pitch": -0.03, "tz": -0.08, "gaze_up": -0.1, "flush": 0.15},
    "fear": {"pitch": 0.03, "tz": -0.15, "pupil": 0.7, "flush": -0.5},
    "happy": {"pitch": -0.02, "roll": 0.03, "flush": 0.15},
    "neutral": {},
    "sad": {"pitch": 0.13, "roll": -0.04, "gaze_up": -0.4, "flush": -0.15},
    "surprised": {"pitch": -0.06, "tz": -0.06, "pupil": 0.4, "gaze_up": 0.1},
}
# How much more / less the head moves and the eyes blink per emotion.
_EMOTION_MOTION = {"angry": 0.8, "contempt": 0.8, "disgusted": 1.0, "fear": 1.2, "happy": 1.35, "neutral": 1.0, "sad": 0.6,
                   "surprised": 1.1}
_EMOTION_BLINK = {"angry": 0.7, "contempt": 1.0, "disgusted": 1.1, "fear": 1.4, "happy": 1.0, "neutral": 1.0, "sad": 1.2,
                  "surprised": 0.5}


@dataclass(frozen=True)
class SpeakerStyle:
    """A speaker's stable idiosyncrasies (everything in here is the same in all of their clips)."""

    au_gain: tuple[float, ...]            # per AU (ALL_AU_NAMES order): how strongly this person moves it
    expressivity: float                   # overall gain on emotional displays
    smile_side_bias: float                # -0.35..0.35: > 0 smiles/frowns stronger on the subject's left
    brow_side_bias: float                 # asymmetry of brow movements
    contempt_side: str                    # "l" or "r": the side of their one-sided lip corner
    rest_au: tuple[float, ...]            # habitual resting AU intensities (a slight frown, a half smile)
    rest_upper_modes: tuple[float, ...]   # personal residual upper-face shape (upper_mode_1..6)
    articulation: float                   # 0.75..1.3: hypo- to hyper-articulation
    blink_rate: float                     # blinks per second
    blink_duration: float                 # seconds
    brow_emphasis: float                  # 0..1: brow flashes on stressed / loud moments
    nod_emphasis: float                   # 0..1: head nods on stressed / loud moments
    head_motion: float                    # radians: amplitude of head movement
    head_tilt: float                      # radians: habitual roll
    variation: float                      # relative amplitude of slow AU variation
    variation_tau: float                  # seconds: time constant of that variation
    onset: float                          # seconds: how fast a display builds up
    gaze_wander: float                    # amplitude of gaze movements

    def __post_init__(self) -> None:
        if len(self.au_gain) != N_ALL_AUS or len(self.rest_au) != N_ALL_AUS:
            raise ValueError(f"SpeakerStyle: au_gain and rest_au need {N_ALL_AUS} values ({', '.join(ALL_AU_NAMES)})")
        if len(self.rest_upper_modes) != len(_UPPER_MODES):
            raise ValueError(f"SpeakerStyle.rest_upper_modes: expected {len(_UPPER_MODES)} values, got {len(self.rest_upper_modes)}")
        if self.contempt_side not in ("l", "r"):
            raise ValueError(f"SpeakerStyle.contempt_side: expected 'l' or 'r', got {self.contempt_side!r}")
        for name in ("expressivity", "articulation", "blink_rate", "blink_duration", "head_motion", "variation_tau", "onset"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SpeakerStyle.{name}: must be > 0, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "speaker style") -> SpeakerStyle:
        names = {f.name for f in fields(cls)}
        missing, unknown = sorted(names - set(data)), sorted(set(data) - names)
        if missing or unknown:
            raise ValueError(f"{where}: missing keys {missing}, unknown keys {unknown}")
        kwargs = {k: tuple(float(x) for x in v) if isinstance(v, (list, tuple)) else v for k, v in data.items()}
        return cls(**kwargs)


def sample_speaker_style(rng: np.random.Generator) -> SpeakerStyle:
    """Draw a random speaker's idiosyncrasies."""
    au_gain = np.exp(rng.normal(0.0, 0.22, N_ALL_AUS))
    rest = np.zeros(N_ALL_AUS)
    # Most people have one or two habitual resting actions, weakly.
    for au in rng.choice(["AU12", "AU4", "AU15", "AU1", "AU17", "AU2", "AU7", "AU14"], size=rng.integers(1, 3), replace=False):
        rest[AU_INDEX[au]] = rng.uniform(0.3, 1.0)
    return SpeakerStyle(
        au_gain=tuple(float(g) for g in au_gain),
        expressivity=float(rng.uniform(0.8, 1.2)),
        smile_side_bias=float(rng.uniform(-0.3, 0.3)),
        brow_side_bias=float(rng.uniform(-0.2, 0.2)),
        contempt_side=str(rng.choice(["l", "r"])),
        rest_au=tuple(float(r) for r in rest),
        rest_upper_modes=tuple(float(m) for m in rng.normal(0.0, 0.5, len(_UPPER_MODES))),
        articulation=float(rng.uniform(0.75, 1.3)),
        blink_rate=float(rng.uniform(0.15, 0.5)),
        blink_duration=float(rng.uniform(0.18, 0.3)),
        brow_emphasis=float(rng.uniform(0.0, 1.0)),
        nod_emphasis=float(rng.uniform(0.0, 1.0)),
        head_motion=float(rng.uniform(0.015, 0.06)),
        head_tilt=float(rng.uniform(-0.06, 0.06)),
        variation=float(rng.uniform(0.05, 0.15)),
        variation_tau=float(rng.uniform(0.5, 1.2)),
        onset=float(rng.uniform(0.2, 0.6)),
        gaze_wander=float(rng.uniform(0.1, 0.4)),
    )


@dataclass(frozen=True)
class Performance:
    expression: np.ndarray  # (T, 64) float32
    au: np.ndarray          # (T, 12) float32, DISFA AUs 0..5 (expressive performance, without speech and blinks)
    pose: np.ndarray        # (T, 6) float32 [yaw, pitch, roll (radians), tx, ty, tz (face units)]


def ornstein_uhlenbeck(rng: np.random.Generator, n_frames: int, n_dims: int, fps: float, tau: float) -> np.ndarray:
    """(T, D) stationary OU noise with unit standard deviation and time constant ``tau`` seconds."""
    a = float(np.exp(-1.0 / (fps * tau)))
    white = rng.normal(0.0, 1.0, (n_frames, n_dims)) * np.sqrt(1.0 - a * a)
    # Start in the stationary distribution so that clips do not all begin at zero.
    init = rng.normal(0.0, 1.0, n_dims)
    out, _ = lfilter([1.0], [1.0, -a], white, axis=0, zi=(a * init)[None, :])
    return out


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _emphasis_from_phones(phones: list[PhoneInterval], times: np.ndarray) -> np.ndarray:
    """Stress proxy without audio: long vowels are stressed; a bump per vowel, weighted by its length."""
    out = np.zeros_like(times)
    for ph in phones:
        if ph.phone not in VOWELS:
            continue
        dur = ph.end - ph.start
        weight = float(np.clip((dur - 0.06) / 0.12, 0.0, 1.0))
        if weight <= 0:
            continue
        centre, width = 0.5 * (ph.start + ph.end), max(0.5 * dur, 0.06)
        out = np.maximum(out, weight * np.exp(-0.5 * ((times - centre) / width) ** 2))
    return out


def _emphasis_from_envelope(envelope: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    env = np.asarray(envelope, dtype=np.float64)
    if env.ndim != 1 or len(env) != n_frames:
        raise ValueError(f"perform: audio_envelope must be (n_frames,) = ({n_frames},) per-frame loudness, got {env.shape}")
    if not np.all(np.isfinite(env)):
        raise ValueError("perform: audio_envelope contains NaN or infinite values")
    if env.max() <= 0:
        return np.zeros(n_frames)
    env = env / env.max()
    # Emphasis: loudness above the clip's typical speech level, smoothed over ~100 ms.
    speech = env[env > 0.1]
    base = float(np.median(speech)) if len(speech) else 0.0
    peaks = np.clip((env - base) / max(1.0 - base, 1e-6), 0.0, 1.0)
    k = max(1, round(0.1 * fps))
    return np.convolve(peaks, np.ones(k) / k, mode="same")


def _blink_track(rng: np.random.Generator, times: np.ndarray, rate: float, duration: float) -> np.ndarray:
    """Lid closure 0..1 over time: Poisson blink onsets; fast close (30%), brief hold, slower open."""
    out = np.zeros_like(times)
    if len(times) == 0:
        return out
    t_end = times[-1] + 1e-9
    t = float(rng.exponential(1.0 / rate)) * rng.uniform(0.3, 1.0)
    while t < t_end:
        close, hold, reopen = 0.3 * duration, 0.15 * duration, 0.55 * duration
        rel = times - t
        shape = np.where(rel < 0, 0.0,
                         np.where(rel < close, rel / close,
                                  np.where(rel < close + hold, 1.0, 1.0 - (rel - close - hold) / reopen)))
        out = np.maximum(out, np.clip(shape, 0.0, 1.0))
        t += duration + float(rng.exponential(1.0 / rate))
    return out


def perform(phones: list[PhoneInterval], n_frames: int, fps: float, emotion: str, level: int, style: SpeakerStyle,
            rng: np.random.Generator, audio_envelope: np.ndarray | None = None) -> Performance:
    """Generate expression, AU intensities and head pose for one clip (see the module docstring).

    ``audio_envelope`` (optional): per-frame loudness (n_frames,), used for emphasis (brow flashes,
    nods); without it, long vowels are taken as the stressed moments.
    """
    check_emotion_level(emotion, level)
    if n_frames < 1:
        raise ValueError(f"perform: n_frames must be >= 1, got {n_frames}")
    if not fps > 0:
        raise ValueError(f"perform: fps must be > 0, got {fps}")
    T = n_frames
    times = np.arange(T, dtype=np.float64) / fps
    gain = np.asarray(style.au_gain) * style.expressivity

    # --- emotion display: prototype x level x speaker ---------------------------------------
    proto_l, proto_r = emotion_prototype(emotion, level)
    if emotion == "contempt" and style.contempt_side == "l":
        proto_l, proto_r = proto_r, proto_l
    side_l, side_r = np.ones(N_ALL_AUS), np.ones(N_ALL_AUS)
    for au in _SMILE_FROWN_AUS:
        side_l[AU_INDEX[au]], side_r[AU_INDEX[au]] = 1 + style.smile_side_bias, 1 - style.smile_side_bias
    for au in _BROW_AUS:
        side_l[AU_INDEX[au]], side_r[AU_INDEX[au]] = 1 + style.brow_side_bias, 1 - style.brow_side_bias
    display_l, display_r = proto_l * gain * side_l, proto_r * gain * side_r

    # Onset ramp from a partial display, per-AU lags, and a slight decay at the end of the clip.
    start_frac = rng.uniform(0.45, 0.8)
    lags = rng.uniform(0.0, 0.15, N_ALL_AUS)
    ramp = start_frac + (1 - start_frac) * _smoothstep((times[:, None] - lags[None, :]) / style.onset)
    tail = 1.0 - 0.12 * _smoothstep((times - (times[-1] - 0.4)) / 0.4)
    envelope = ramp * tail[:, None]
    # Slow natural variation: shared per AU, plus a smaller independent part per side.
    shared = ornstein_uhlenbeck(rng, T, N_ALL_AUS, fps, style.variation_tau)
    own_l = ornstein_uhlenbeck(rng, T, N_ALL_AUS, fps, style.variation_tau)
    own_r = ornstein_uhlenbeck(rng, T, N_ALL_AUS, fps, style.variation_tau)
    mod_l = np.clip(1.0 + style.variation * (shared + 0.4 * own_l), 0.0, None)
    mod_r = np.clip(1.0 + style.variation * (shared + 0.4 * own_r), 0.0, None)
    au_l = display_l[None] * envelope * mod_l
    au_r = display_r[None] * envelope * mod_r

    # Habitual resting expression (weakened while an emotion is displayed strongly).
    rest = np.asarray(style.rest_au) * (1.0 - 0.5 * LEVEL_SCALE[level] * (emotion != "neutral"))
    au_l += rest[None] * side_l * (1 + 0.2 * shared)
    au_r += rest[None] * side_r * (1 + 0.2 * shared)

    # Emphasis: brow flashes (AU1 + AU2) on stressed / loud moments.
    emphasis = (_emphasis_from_envelope(audio_envelope, T, fps) if audio_envelope is not None
                else _emphasis_from_phones(phones, times))
    flash = 2.5 * style.brow_emphasis * emphasis
    for au in ("AU1", "AU2"):
        au_l[:, AU_INDEX[au]] += flash
        au_r[:, AU_INDEX[au]] += flash
    au_l = np.clip(au_l, 0.0, AU_MAX_INTENSITY)
    au_r = np.clip(au_r, 0.0, AU_MAX_INTENSITY)
    expression = au_to_expression(au_l, au_r).astype(np.float64)

    # --- speech -------------------------------------------------------------------------------
    visemes = viseme_track(phones, T, fps, style.articulation).astype(np.float64)
    closure = closure_amount(visemes)
    for name in ("jaw_open", "lips_part"):
        k = COMPONENT_INDEX[name]
        emo = expression[:, k] * (1.0 - closure)  # closures for P/B/M, F/V override an open jaw
        expression[:, k] = emo + visemes[:, k] - emo * visemes[:, k]  # soft union, saturates at 1
    k = COMPONENT_INDEX["upper_lip_raise"]
    expression[:, k] *= 1.0 - 0.5 * closure
    for name in ("lip_round", "lip_press", "lower_lip_tuck", "lip_stretch_l", "lip_stretch_r"):
        k = COMPONENT_INDEX[name]
        expression[:, k] += visemes[:, k]

    # --- eyes, skin, residual shape -------------------------------------------------------------
    posture = _EMOTION_POSTURE[emotion]
    scale = LEVEL_SCALE[level] if emotion != "neutral" else 0.0
    blinks = _blink_track(rng, times, style.blink_rate * _EMOTION_BLINK[emotion], style.blink_duration)
    for name in ("lid_close_l", "lid_close_r"):
        k = COMPONENT_INDEX[name]
        expression[:, k] = np.maximum(expression[:, k], blinks)
    gaze = ornstein_uhlenbeck(rng, T, 2, fps, 0.7) * style.gaze_wander * 0.5
    expression[:, COMPONENT_INDEX["gaze_right"]] += gaze[:, 0] + scale * posture.get("gaze_right", 0.0) * (
        1.0 if style.contempt_side == "r" else -1.0)
    expression[:, COMPONENT_INDEX["gaze_up"]] += gaze[:, 1] + scale * posture.get("gaze_up", 0.0)
    small = ornstein_uhlenbeck(rng, T, 2 + len(_UPPER_MODES), fps, 1.5)
    expression[:, COMPONENT_INDEX["pupil_dilate"]] += scale * posture.get("pupil", 0.0) + 0.1 * small[:, 0]
    expression[:, COMPONENT_INDEX["face_flush"]] += scale * posture.get("flush", 0.0) + 0.05 * small[:, 1]
    for j, name in enumerate(_UPPER_MODES):
        expression[:, COMPONENT_INDEX[name]] += style.rest_upper_modes[j] + 0.12 * small[:, 2 + j]

    # --- head pose ----------------------------------------------------------------------------
    motion = style.head_motion * _EMOTION_MOTION[emotion]
    head = ornstein_uhlenbeck(rng, T, 6, fps, 0.9)
    # The emotional posture builds up with the display's onset.
    posture_ramp = scale * (start_frac + (1 - start_frac) * _smoothstep(times / style.onset))
    side = 1.0 if style.contempt_side == "r" else -1.0  # one-sided displays turn to the speaker's side
    pose = np.zeros((T, 6))
    pose[:, 0] = motion * head[:, 0] + posture_ramp * posture.get("yaw", 0.0) * side
    pose[:, 1] = 0.7 * motion * head[:, 1] + posture_ramp * posture.get("pitch", 0.0) + 0.05 * style.nod_emphasis * emphasis
    pose[:, 2] = 0.5 * motion * head[:, 2] + style.head_tilt + posture_ramp * posture.get("roll", 0.0) * side
    pose[:, 3] = 0.8 * motion * head[:, 3]
    pose[:, 4] = 0.5 * motion * head[:, 4]
    pose[:, 5] = 0.8 * motion * head[:, 5] + posture_ramp * posture.get("tz", 0.0)

    expression = np.clip(expression, -1.5, 1.5)
    if expression.shape != (T, EXPRESSION_DIM):
        raise AssertionError("perform: unexpected expression shape")
    return Performance(
        expression=expression.astype(np.float32),
        au=annotated_aus(au_l, au_r).astype(np.float32),
        pose=pose.astype(np.float32),
    )
