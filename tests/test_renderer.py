"""Identity, face model and renderer: exact landmarks, determinism, visible identities and actions."""
import time

import numpy as np
import pytest

from talkclip.corpus.contact_sheet import contact_sheet, write_png
from talkclip.corpus.face_model import PIXELS_PER_UNIT, FaceModel, landmarks_3d, project
from talkclip.corpus.identity import Identity, sample_identity
from talkclip.corpus.renderer import MARKER_RGB, EmbeddedRenderer, FaceRenderer, Renderer, render_reference_frame
from talkclip.expression import COMPONENT_INDEX as C

SIZE = 128


@pytest.fixture(scope="module")
def identity() -> Identity:
    return sample_identity(np.random.default_rng(5), "M")


@pytest.fixture(scope="module")
def renderer(identity) -> FaceRenderer:
    return FaceRenderer(identity, SIZE)


def _expr(**components: float) -> np.ndarray:
    e = np.zeros((1, 64), np.float32)
    for name, value in components.items():
        e[0, C[name]] = value
    return e


POSES = np.array([[0, 0, 0, 0, 0, 0], [0.15, 0.05, 0.04, 0.1, -0.05, 0], [-0.1, -0.08, -0.06, -0.1, 0.1, 0.3]], np.float32)


def test_identity_json_round_trip_and_validation(identity):
    assert Identity.from_json(identity.to_json()) == identity
    bad = identity.to_dict()
    del bad["skin_rgb"]
    with pytest.raises(ValueError, match="skin_rgb"):
        Identity.from_dict(bad)
    with pytest.raises(ValueError, match="gender"):
        sample_identity(np.random.default_rng(0), "X")
    women = [sample_identity(np.random.default_rng(i), "W") for i in range(5)]
    assert len({w.to_json() for w in women}) == 5 and all(w.gender == "W" for w in women)


def test_landmarks_are_the_projected_model(identity, renderer):
    expr = np.repeat(_expr(jaw_open=0.6, lip_corner_pull_l=0.5, brow_inner_raise_r=0.7), 3, 0)
    frames, lm = renderer.render(expr, POSES)
    assert frames.shape == (3, SIZE, SIZE, 3) and frames.dtype == np.uint8
    assert lm.shape == (3, 68, 2) and lm.dtype == np.float32
    expected = project(landmarks_3d(identity, expr), POSES, SIZE)
    np.testing.assert_allclose(lm, expected, atol=1e-4)
    assert FaceModel.build(identity).points(expr).shape[1] > 68  # drawing points beyond the landmarks


def test_markers_are_drawn_at_the_landmarks(renderer):
    """With markers on, the centroid of marker colour around each isolated landmark is the landmark."""
    expr = np.repeat(_expr(jaw_open=0.7), 3, 0)
    frames, lm = renderer.render(expr, POSES, mark_landmarks=True)
    plain, lm_plain = renderer.render(expr, POSES)
    np.testing.assert_array_equal(lm, lm_plain)
    errors = []
    for t in range(3):
        # Marker weight per pixel: how far the pixel moved towards the marker colour.
        diff = frames[t].astype(float) - plain[t].astype(float)
        towards = np.array(MARKER_RGB, float) - plain[t].astype(float)
        green = np.clip((diff * towards).sum(-1) / np.maximum((towards**2).sum(-1), 1.0), 0, 1)
        for i in range(68):
            dist = np.linalg.norm(lm[t] - lm[t, i], axis=1)
            dist[i] = np.inf
            x, y = lm[t, i]
            if dist.min() < 5 or not (3 <= x < SIZE - 4 and 3 <= y < SIZE - 4):
                continue
            xs, ys = np.arange(int(x) - 2, int(x) + 4), np.arange(int(y) - 2, int(y) + 4)
            w = green[np.ix_(ys, xs)]
            assert w.sum() > 0.5, f"no marker near landmark {i} in frame {t}"
            errors.append(((w.sum(0) @ xs) / w.sum() - x, (w.sum(1) @ ys) / w.sum() - y))
    errors = np.abs(np.array(errors))
    assert len(errors) > 60
    assert errors.max() < 0.35  # marker quantisation on the 2x canvas is at most 0.25 px
    assert MARKER_RGB == (0, 255, 0)


def test_features_at_landmarks(identity, renderer):
    frames, lm = renderer.render(_expr(jaw_open=0.8), np.zeros((1, 6), np.float32))
    img, p = frames[0].astype(int), lm[0]

    def px(pt):
        return img[round(pt[1]), round(pt[0])]

    # Open mouth: dark interior between the inner lips.
    assert px(0.5 * (p[62] + p[66])).sum() < 300
    # Pupils: dark pixels at the eye centre (the catch-light may cover one of them).
    for eye, inner_corner in ((slice(36, 42), 39), (slice(42, 48), 42)):
        centre = p[eye].mean(0)
        cx, cy = np.round(centre).astype(int)
        darkest = img[cy - 1:cy + 2, cx - 1:cx + 2].sum(-1).min()
        assert darkest < 200
        assert px(centre + 0.7 * (p[inner_corner] - centre)).sum() > darkest + 300  # the white of the eye
    # Lips: lip colour on the outer lower lip, between 57 and 66.
    lip = px(0.5 * (p[57] + p[66]))
    assert np.abs(lip - np.array(identity.lip_rgb)).sum() < 90
    # Brows: brow colour just below the upper-edge landmarks; skin well above them.
    half_thickness = 0.5 * identity.brow_thickness * PIXELS_PER_UNIT * SIZE
    brow_px = px(p[19] + np.array([0, half_thickness]))
    skin = np.array(identity.skin_rgb)
    assert np.abs(brow_px - np.array(renderer.brow_rgb)).sum() < np.abs(brow_px - skin).sum()
    above = px(p[19] - np.array([0, 2.5]))
    assert np.abs(above - skin).sum() < np.abs(above - np.array(renderer.brow_rgb)).sum()
    # Chin: skin inside the contour at landmark 8, the darker neck just outside it.
    inside, outside = px(p[8] - [0, 3]), px(p[8] + [0, 3])
    assert inside.sum() > 1.06 * outside.sum()


def test_jaw_open_moves_mouth_down(renderer):
    _, rest = renderer.render(_expr(), np.zeros((1, 6), np.float32))
    _, open_ = renderer.render(_expr(jaw_open=1.0), np.zeros((1, 6), np.float32))
    for i in (8, 57, 66):
        assert open_[0, i, 1] > rest[0, i, 1] + 4, i
    assert abs(open_[0, 51, 1] - rest[0, 51, 1]) < 1.5  # upper lip stays
    _, blink = renderer.render(_expr(lid_close_l=1.0, lid_close_r=1.0), np.zeros((1, 6), np.float32))
    assert np.allclose(blink[0, 37], blink[0, 41], atol=0.6) and np.allclose(blink[0, 44], blink[0, 46], atol=0.6)


def test_pose_conventions(renderer):
    _, lm = renderer.render(np.zeros((4, 64), np.float32), np.array(
        [[0, 0, 0, 0, 0, 0], [0.2, 0, 0, 0, 0, 0], [0, 0.2, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0.5]], np.float32))
    centre = lambda p: 0.5 * (p[0] + p[16])
    assert lm[1, 30, 0] - centre(lm[1])[0] > lm[0, 30, 0] - centre(lm[0])[0] + 3  # yaw > 0: nose to image right
    assert lm[2, 30, 1] - lm[2, 36, 1] > lm[0, 30, 1] - lm[0, 36, 1] + 2  # pitch > 0: face tilts down
    assert lm[3, 16, 0] - lm[3, 0, 0] > lm[0, 16, 0] - lm[0, 0, 0] + 1  # tz > 0: closer, larger


def test_deterministic_and_identities_differ(identity, renderer):
    rng = np.random.default_rng(0)
    expr = (rng.normal(size=(4, 64)) * 0.3).astype(np.float32)
    pose = (rng.normal(size=(4, 6)) * 0.03).astype(np.float32)
    a, la = renderer.render(expr, pose)
    b, lb = FaceRenderer(identity, SIZE).render(expr, pose)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    refs = [render_reference_frame(sample_identity(np.random.default_rng(s), g), SIZE) for s, g in ((1, "M"), (2, "W"))]
    assert np.abs(refs[0].astype(int) - refs[1].astype(int)).mean() > 10
    with pytest.raises(ValueError, match="pose"):
        renderer.render(expr, pose[:3])


def test_expressions_change_the_image(renderer):
    base, _ = renderer.render(_expr(), np.zeros((1, 6), np.float32))
    for comps in ({"lip_corner_pull_l": 1.0, "lip_corner_pull_r": 1.0, "cheek_raise_l": 1.0, "cheek_raise_r": 1.0},
                  {"brow_inner_raise_l": 1.0, "brow_inner_raise_r": 1.0, "lip_corner_depress_l": 1, "lip_corner_depress_r": 1},
                  {"nose_wrinkle_l": 1.0, "nose_wrinkle_r": 1.0, "upper_lip_raise": 1.0}):
        frame, _ = renderer.render(_expr(**comps), np.zeros((1, 6), np.float32))
        assert (np.abs(frame[0].astype(int) - base[0].astype(int)).max(-1) > 20).sum() > 30, comps


def test_embedded_renderer_protocol(identity):
    emb: Renderer = EmbeddedRenderer(identity, SIZE)
    ref = render_reference_frame(identity, SIZE)
    out = emb.render_sequence(ref, np.zeros((2, 64), np.float32), np.zeros((2, 9), np.float32))
    assert out.shape == (2, SIZE, SIZE, 3)
    np.testing.assert_array_equal(out[0], ref)
    with pytest.raises(ValueError, match="reference_image"):
        emb.render_sequence(ref[:64], np.zeros((2, 64)), np.zeros((2, 6)))


def test_speed(renderer):
    rng = np.random.default_rng(1)
    expr = (rng.normal(size=(60, 64)) * 0.3).astype(np.float32)
    start = time.perf_counter()
    renderer.render(expr, np.zeros((60, 6), np.float32))
    fps = 60 / (time.perf_counter() - start)
    assert fps > 60, f"renderer too slow: {fps:.0f} frames/s (target >= 300 on an idle core)"


def test_contact_sheet(tmp_path, renderer):
    tile = render_reference_frame(renderer.identity, SIZE)
    sheet = contact_sheet([[tile, tile], [tile]], ["a", "b"], ["x", "y"])
    assert sheet.dtype == np.uint8 and sheet.shape[0] > 2 * SIZE and sheet.shape[1] > 2 * SIZE
    # Labels are drawn: the label strip is not blank.
    assert (sheet[:20, :] < 128).any()
    write_png(tmp_path / "s.png", sheet)
    from PIL import Image
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "s.png")), sheet)
    with pytest.raises(ValueError, match="row labels"):
        contact_sheet([[tile]], ["a", "b"], ["x"])
