"""Visemes and dominance-function coarticulation."""
import numpy as np
import pytest

from talkclip.corpus.coarticulation import viseme_track
from talkclip.expression import COMPONENT_INDEX as C
from talkclip.expression import LOWER_FACE_INDICES, UPPER_FACE_INDICES
from talkclip.phonemes import PhoneInterval

FPS = 100.0  # fine time grid for checking shapes


def _phones(spec, start=0.2):
    out, t = [PhoneInterval("SIL", 0.0, start)], start
    for phone, dur in spec:
        out.append(PhoneInterval(phone, t, t + dur))
        t += dur
    out.append(PhoneInterval("SIL", t, t + 0.4))
    return out, int((t + 0.4) * FPS)


def _at(track, t, name):
    return track[round(t * FPS), C[name]]


def test_shape_and_only_lower_face():
    phones, n = _phones([("HH", 0.06), ("AH", 0.1), ("L", 0.06), ("OW", 0.2)])
    track = viseme_track(phones, n, FPS)
    assert track.shape == (n, 64) and track.dtype == np.float32
    assert np.abs(track[:, list(UPPER_FACE_INDICES)]).max() == 0
    assert np.abs(track[:, list(LOWER_FACE_INDICES)]).max() > 0.3


def test_bilabial_closure_and_open_vowel():
    phones, n = _phones([("AA", 0.15), ("M", 0.08), ("AA", 0.15)])
    track = viseme_track(phones, n, FPS)
    m_centre = 0.2 + 0.15 + 0.04
    assert _at(track, m_centre, "lip_press") > 0.7
    assert _at(track, m_centre, "jaw_open") < 0.2
    assert _at(track, 0.2 + 0.07, "jaw_open") > 0.5
    assert _at(track, 0.2 + 0.07, "lip_press") < 0.3


def test_labiodental_and_spread_vs_round():
    phones, n = _phones([("IY", 0.15), ("F", 0.08), ("UW", 0.15)])
    track = viseme_track(phones, n, FPS)
    assert _at(track, 0.2 + 0.15 + 0.04, "lower_lip_tuck") > 0.7
    iy, uw = 0.2 + 0.07, 0.2 + 0.23 + 0.08
    assert _at(track, iy, "lip_stretch_l") > _at(track, uw, "lip_stretch_l") + 0.3
    assert _at(track, uw, "lip_round") > 0.7 > _at(track, iy, "lip_round")


def test_anticipatory_rounding():
    """The /s/ of "stew" is rounded, the /s/ of "steep" is not (Cohen & Massaro's motivating case)."""
    stew, n1 = _phones([("S", 0.1), ("T", 0.06), ("UW", 0.2)])
    steep, n2 = _phones([("S", 0.1), ("T", 0.06), ("IY", 0.2)])
    s_time = 0.2 + 0.07
    assert _at(viseme_track(stew, n1, FPS), s_time, "lip_round") > _at(viseme_track(steep, n2, FPS), s_time, "lip_round") + 0.2


def test_silence_rests_and_articulation_scales_openings_only():
    phones, n = _phones([("AA", 0.15), ("P", 0.08), ("AA", 0.15)], start=0.8)
    full = viseme_track(phones, n, FPS, articulation=1.0)
    weak = viseme_track(phones, n, FPS, articulation=0.5)
    assert np.abs(full[: int(0.3 * FPS)]).max() < 0.02  # long leading silence: rest
    vowel = int((0.8 + 0.07) * FPS)
    assert weak[vowel, C["jaw_open"]] == pytest.approx(0.5 * full[vowel, C["jaw_open"]], rel=1e-4)
    closure = int((0.8 + 0.15 + 0.04) * FPS)
    assert weak[closure, C["lip_press"]] == pytest.approx(full[closure, C["lip_press"]])


def test_diphthong_moves_and_errors():
    phones, n = _phones([("AY", 0.3)])
    track = viseme_track(phones, n, FPS)
    early, late = 0.2 + 0.06, 0.2 + 0.26
    assert _at(track, early, "jaw_open") > _at(track, late, "jaw_open") + 0.2
    assert _at(track, late, "lip_stretch_r") > _at(track, early, "lip_stretch_r")
    assert viseme_track([], 10, 25.0).shape == (10, 64)
    with pytest.raises(ValueError, match="fps"):
        viseme_track(phones, n, 0.0)
    with pytest.raises(ValueError, match="PhoneInterval"):
        viseme_track([("AA", 0.0, 0.1)], 5, 25.0)  # type: ignore[list-item]
