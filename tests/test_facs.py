"""FACS AUs, EMFACS prototypes and the AU -> expression map."""
import numpy as np
import pytest

from talkclip.corpus import facs
from talkclip.corpus.facs import AU_NAMES, EMOTIONS, au_to_expression, emotion_prototype
from talkclip.expression import COMPONENT_INDEX as C


def _expr(emotion: str, level: int = 3) -> np.ndarray:
    left, right = emotion_prototype(emotion, level)
    return au_to_expression(left[None], right[None])[0]


def test_names():
    assert AU_NAMES == ("AU1", "AU2", "AU4", "AU5", "AU6", "AU9", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26")
    assert EMOTIONS == ("angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised")
    assert all(au in facs.AU_FULL_NAMES for au in facs.ALL_AU_NAMES)
    assert facs.AU_FULL_NAMES["AU12"] == "Lip Corner Puller"


def test_prototypes_have_their_signature_components():
    happy, sad, surprised = _expr("happy"), _expr("sad"), _expr("surprised")
    angry, disgusted, fear, contempt = _expr("angry"), _expr("disgusted"), _expr("fear"), _expr("contempt")
    assert happy[C["lip_corner_pull_l"]] > 0.5 and happy[C["cheek_raise_r"]] > 0.5
    assert sad[C["brow_inner_raise_l"]] > 0.5 and sad[C["lip_corner_depress_r"]] > 0.5
    assert surprised[C["brow_outer_raise_l"]] > 0.5 and surprised[C["upper_lid_raise_r"]] > 0.5
    assert surprised[C["jaw_open"]] > 0.4
    assert angry[C["brow_draw_together_l"]] > 0.5 and angry[C["lid_tighten_r"]] > 0.5 and angry[C["lip_press"]] > 0.5
    assert disgusted[C["nose_wrinkle_l"]] > 0.5 and disgusted[C["upper_lip_raise"]] > 0.5
    assert fear[C["brow_inner_raise_l"]] > 0.5 and fear[C["brow_draw_together_l"]] > 0.3
    assert fear[C["upper_lid_raise_l"]] > 0.5 and fear[C["lip_stretch_r"]] > 0.5
    # Contempt is one-sided (EMFACS R12A + R14A).
    assert contempt[C["lip_corner_pull_r"]] > 0.5 and contempt[C["lip_corner_pull_l"]] == 0
    np.testing.assert_array_equal(_expr("neutral"), np.zeros(64, np.float32))


def test_prototypes_differ_and_levels_scale():
    vectors = {e: _expr(e) for e in EMOTIONS}
    for i, a in enumerate(EMOTIONS):
        for b in EMOTIONS[i + 1:]:
            assert np.linalg.norm(vectors[a] - vectors[b]) > 0.5, (a, b)
    for emotion in EMOTIONS:
        if emotion == "neutral":
            continue
        norms = [np.linalg.norm(_expr(emotion, lvl)) for lvl in (1, 2, 3)]
        assert norms[0] < norms[1] < norms[2], emotion
    with pytest.raises(ValueError, match="unknown emotion"):
        emotion_prototype("joy", 1)
    with pytest.raises(ValueError, match="level"):
        emotion_prototype("happy", 4)


def test_au_to_expression_is_linear_and_sided():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 5, (4, 12)), rng.uniform(0, 5, (4, 12))
    np.testing.assert_allclose(au_to_expression(a + b), au_to_expression(a) + au_to_expression(b), atol=1e-5)
    assert au_to_expression(a).shape == (4, 64)
    one_side = np.zeros((1, 12))
    one_side[0, AU_NAMES.index("AU12")] = 5.0
    left_only = au_to_expression(one_side, np.zeros((1, 12)))[0]
    assert left_only[C["lip_corner_pull_l"]] == pytest.approx(1.0) and left_only[C["lip_corner_pull_r"]] == 0
    both = au_to_expression(one_side)[0]
    assert both[C["lip_corner_pull_r"]] == pytest.approx(1.0)
    # AU26 is bilateral: half from each side.
    jaw = np.zeros((1, 12))
    jaw[0, AU_NAMES.index("AU26")] = 5.0
    assert au_to_expression(jaw, np.zeros((1, 12)))[0, C["jaw_open"]] == pytest.approx(0.5 * au_to_expression(jaw)[0, C["jaw_open"]])
    with pytest.raises(ValueError, match=r"\(T, 12\)"):
        au_to_expression(np.zeros((3, 11)))
