"""The 64-d expression layout: StyleTalk's split, named components, every component visible."""
import numpy as np
import pytest

from talkclip.corpus.identity import sample_identity
from talkclip.corpus.renderer import FaceRenderer
from talkclip.expression import (
    EXPRESSION_COMPONENTS,
    EXPRESSION_DIM,
    LOWER_FACE_COMPONENTS,
    LOWER_FACE_INDICES,
    UPPER_FACE_COMPONENTS,
    UPPER_FACE_INDICES,
    check_expression,
    component_index,
    merge_lower_upper,
    split_lower_upper,
)


def test_split_is_styletalks():
    assert EXPRESSION_DIM == 64
    assert LOWER_FACE_INDICES == (0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 13, 14)
    assert len(UPPER_FACE_INDICES) == 51
    assert sorted(LOWER_FACE_INDICES + UPPER_FACE_INDICES) == list(range(64))


def test_components_named_by_region():
    assert len(EXPRESSION_COMPONENTS) == 64 and len(set(EXPRESSION_COMPONENTS)) == 64
    mouth_words = ("jaw", "lip", "chin")
    for name in LOWER_FACE_COMPONENTS:
        assert any(w in name for w in mouth_words), name
    for name in UPPER_FACE_COMPONENTS:
        assert not any(w in name for w in mouth_words), name
    for name in ("jaw_open", "lip_round", "lip_press", "lower_lip_tuck", "lip_corner_pull_l", "brow_inner_raise_l",
                 "lid_close_r"):
        assert name in EXPRESSION_COMPONENTS
    assert component_index("jaw_open") in LOWER_FACE_INDICES
    assert component_index("lid_close_r") in UPPER_FACE_INDICES
    with pytest.raises(ValueError, match="unknown expression component"):
        component_index("smile")


def test_split_merge_round_trip_and_validation():
    x = np.random.default_rng(0).normal(size=(5, 64)).astype(np.float32)
    lower, upper = split_lower_upper(x)
    assert lower.shape == (5, 13) and upper.shape == (5, 51)
    np.testing.assert_array_equal(merge_lower_upper(lower, upper), x)
    with pytest.raises(ValueError, match=r"\(T, 64\)"):
        check_expression(np.zeros((5, 63)))
    with pytest.raises(ValueError, match="NaN"):
        check_expression(np.full((2, 64), np.nan))


def test_every_component_is_visible():
    """Each component at 1.0 moves landmarks (> 0.3 px) or changes the rendered image."""
    renderer = FaceRenderer(sample_identity(np.random.default_rng(3), "W"), image_size=128)
    expr = np.zeros((EXPRESSION_DIM + 1, EXPRESSION_DIM), np.float32)
    expr[1:] = np.eye(EXPRESSION_DIM, dtype=np.float32)
    frames, landmarks = renderer.render(expr, np.zeros((len(expr), 6), np.float32))
    base_frame, base_lm = frames[0].astype(float), landmarks[0]
    invisible = []
    for k, name in enumerate(EXPRESSION_COMPONENTS):
        moved = np.abs(landmarks[k + 1] - base_lm).max()
        changed_pixels = (np.abs(frames[k + 1].astype(float) - base_frame).max(-1) > 8).sum()
        if moved < 0.3 and changed_pixels < 5:
            invisible.append((name, float(moved), int(changed_pixels)))
    assert not invisible, invisible
