"""Performances: emotion, level and speaker are recognisable from the coefficients alone."""
import numpy as np
import pytest

from talkclip.corpus.facs import EMOTIONS
from talkclip.corpus.performance import SpeakerStyle, perform, sample_speaker_style
from talkclip.expression import COMPONENT_INDEX as C
from talkclip.phonemes import PhoneInterval

FPS = 25.0
SENTENCES = [
    [("DH", 0.05), ("AH", 0.08), ("K", 0.07), ("AE", 0.15), ("T", 0.06), ("S", 0.1), ("AE", 0.14), ("T", 0.06)],
    [("M", 0.07), ("AY", 0.2), ("F", 0.09), ("R", 0.06), ("EH", 0.12), ("N", 0.06), ("D", 0.05), ("W", 0.07), ("UW", 0.2)],
    [("SH", 0.1), ("IY", 0.15), ("S", 0.09), ("OW", 0.2), ("L", 0.06), ("D", 0.05), ("B", 0.07), ("AA", 0.18), ("K", 0.07)],
]


def _phones(k: int):
    out, t = [PhoneInterval("SIL", 0.0, 0.25)], 0.25
    for p, d in SENTENCES[k % len(SENTENCES)] * 2:
        out.append(PhoneInterval(p, t, t + d))
        t += d
    out.append(PhoneInterval("SIL", t, t + 0.3))
    return out, int((t + 0.3) * FPS)


def _clip(style, emotion, level, k, seed):
    phones, n = _phones(k)
    return perform(phones, n, FPS, emotion, level, style, np.random.default_rng(seed))


@pytest.fixture(scope="module")
def styles():
    rng = np.random.default_rng(42)
    return [sample_speaker_style(rng) for _ in range(6)]


def test_outputs(styles):
    phones, n = _phones(0)
    perf = perform(phones, n, FPS, "happy", 3, styles[0], np.random.default_rng(0), audio_envelope=np.linspace(0, 1, n))
    assert perf.expression.shape == (n, 64) and perf.expression.dtype == np.float32
    assert perf.au.shape == (n, 12) and perf.pose.shape == (n, 6)
    assert perf.au.min() >= 0 and perf.au.max() <= 5
    again = perform(phones, n, FPS, "happy", 3, styles[0], np.random.default_rng(0), audio_envelope=np.linspace(0, 1, n))
    np.testing.assert_array_equal(perf.expression, again.expression)
    with pytest.raises(ValueError, match="audio_envelope"):
        perform(phones, n, FPS, "happy", 3, styles[0], np.random.default_rng(0), audio_envelope=np.ones(n + 1))
    with pytest.raises(ValueError, match="unknown emotion"):
        perform(phones, n, FPS, "joy", 3, styles[0], np.random.default_rng(0))


def test_style_round_trip(styles):
    assert SpeakerStyle.from_dict(styles[0].to_dict()) == styles[0]
    with pytest.raises(ValueError, match="missing"):
        SpeakerStyle.from_dict({"articulation": 1.0})


def test_speech_and_blinks_present(styles):
    perf = _clip(styles[1], "neutral", 1, 1, 3)
    assert perf.expression[:, C["lip_press"]].max() > 0.6  # bilabials close the lips
    assert perf.expression[:, C["jaw_open"]].max() > 0.3
    # A 40 s clip: full blinks on both eyes, at roughly the speaker's rate.
    perf = perform([PhoneInterval("SIL", 0.0, 40.0)], 1000, FPS, "neutral", 1, styles[1], np.random.default_rng(1))
    closed = perf.expression[:, C["lid_close_l"]] > 0.95
    n_blinks = int((np.diff(closed.astype(int)) == 1).sum())
    assert 0.3 * 40 * styles[1].blink_rate <= n_blinks <= 3 * 40 * styles[1].blink_rate + 1
    np.testing.assert_array_equal(perf.expression[:, C["lid_close_l"]], perf.expression[:, C["lid_close_r"]])


def test_nearest_centroid_separates_emotions(styles):
    """Per-clip mean expression; centroids from 4 speakers classify 2 unseen speakers' clips."""
    def features(style, emotion, k, seed):
        return _clip(style, emotion, 1 if emotion == "neutral" else 3, k, seed).expression.mean(0)

    train = {e: np.mean([features(s, e, k, 10 * i + k) for i, s in enumerate(styles[:4]) for k in range(2)], 0) for e in EMOTIONS}
    names, centroids = list(train), np.stack(list(train.values()))
    correct = total = 0
    for i, s in enumerate(styles[4:]):
        for e in EMOTIONS:
            f = features(s, e, 2, 100 + i)
            pred = names[int(np.argmin(np.linalg.norm(centroids - f, axis=1)))]
            correct += pred == e
            total += 1
    assert correct / total >= 0.9, f"{correct}/{total}"


def test_levels_and_speakers_recognisable(styles):
    # Intensity grows with level (distance of the mean expression from the speaker's neutral).
    for emotion in ("happy", "sad", "angry"):
        neutral = _clip(styles[0], "neutral", 1, 0, 1).expression.mean(0)
        dist = [np.linalg.norm(_clip(styles[0], emotion, lvl, 0, 1).expression.mean(0) - neutral) for lvl in (1, 2, 3)]
        assert dist[0] < dist[1] < dist[2], (emotion, dist)
    # Speaker: centroid of two sentences per speaker identifies a third sentence (same emotion).
    centroids = np.stack([np.mean([_clip(s, "happy", 2, k, k).expression.mean(0) for k in range(2)], 0) for s in styles])
    hits = sum(int(np.argmin(np.linalg.norm(centroids - _clip(s, "happy", 2, 2, 50).expression.mean(0), axis=1))) == i
               for i, s in enumerate(styles))
    assert hits >= 5
