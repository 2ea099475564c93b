"""Animating a photo: reading it, finding the face, the landmark driver, the warp, the mouth, motion.

The real photo is scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain; it ships in the
scikit-image wheel), so these tests need no shared sample data.
"""
from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from PIL import Image

from talkclip.expression import COMPONENT_INDEX, EXPRESSION_DIM
from talkclip.formats.mat3dmm import Coeffs3DMM, write_mat
from talkclip.portrait.detect import DlibFaceFinder, NoFaceError, TinyFaceError, crop_portrait
from talkclip.portrait.driver import LandmarkDriver
from talkclip.portrait.image import UnsupportedImageError, read_portrait
from talkclip.portrait.motion import idle_head_motion, loudness_envelope, reference_pose
from talkclip.portrait.mouth import MouthInterior
from talkclip.portrait.provenance import VisibleMark, synthetic_metadata
from talkclip.portrait.renderer import EYE_L, EYE_R, INNER_LIPS, OUTER_LIPS, PortraitWarpRenderer
from talkclip.portrait.warp import PiecewiseAffineWarp, constrained_triangulation


def expression(**values: float) -> np.ndarray:
    """(1, 64) with the named components set (``name`` alone sets both ``name_l`` and ``name_r``)."""
    e = np.zeros((1, EXPRESSION_DIM), np.float32)
    for name, value in values.items():
        for key in ([f"{name}_l", f"{name}_r"] if f"{name}_l" in COMPONENT_INDEX else [name]):
            e[0, COMPONENT_INDEX[key]] = value
    return e


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def finder() -> DlibFaceFinder:
    return DlibFaceFinder()


@pytest.fixture(scope="module")
def portrait(astronaut, finder):
    return crop_portrait(astronaut, 256, finder)


@pytest.fixture(scope="module")
def renderer(portrait) -> PortraitWarpRenderer:
    return PortraitWarpRenderer(portrait.image, portrait.landmarks)


# --- reading ------------------------------------------------------------------------------------


def test_read_portrait_formats_and_errors(tmp_path, astronaut):
    png = tmp_path / "face.png"
    Image.fromarray(astronaut).save(png)
    assert np.array_equal(read_portrait(png), astronaut)
    # EXIF orientation 6 (the camera was turned): the pixels come back upright.
    jpg = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(np.rot90(astronaut, 1))).save(jpg, exif=exif, quality=95)
    assert read_portrait(jpg).shape == astronaut.shape
    # Transparent pixels over white.
    rgba = np.zeros((64, 64, 4), np.uint8)
    Image.fromarray(rgba).save(tmp_path / "clear.png")
    assert read_portrait(tmp_path / "clear.png").min() == 255

    Image.fromarray(astronaut[:64, :64]).save(tmp_path / "anim.gif")
    with pytest.raises(UnsupportedImageError, match="format GIF is not supported"):
        read_portrait(tmp_path / "anim.gif")
    (tmp_path / "speech.mp3").write_bytes(b"ID3 not an image at all")
    with pytest.raises(UnsupportedImageError, match=r"not an image .*\.mp3"):
        read_portrait(tmp_path / "speech.mp3")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(UnsupportedImageError, match="empty"):
        read_portrait(tmp_path / "empty.png")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_portrait(tmp_path / "missing.png")


# --- the face -----------------------------------------------------------------------------------


def test_detection_and_crop(astronaut, portrait, finder):
    found = finder.find(astronaut)
    assert found.n_faces == 1 and found.landmarks.shape == (68, 2)
    left, top, right, _ = found.box
    assert 60 < right - left < 160 and 100 < left < 250 and 40 < top < 200  # her face, upper middle
    assert portrait.image.shape == (256, 256, 3)
    # The crop is the square around the face; the re-detected landmarks are inside it, eyes above mouth.
    lm = portrait.landmarks
    assert lm.min() > 0 and lm.max() < 256
    assert lm[36:48, 1].mean() < lm[48:68, 1].mean() < lm[8, 1]
    crop_left, crop_top, side = portrait.source_box
    assert crop_left <= left and crop_top <= top and crop_left + side >= right


def test_no_face_several_faces_tiny_face(astronaut, finder):
    noise = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    with pytest.raises(NoFaceError, match="no face found"):
        finder.find(noise, "photo.png")
    # Two people: the larger face is used, with a warning that says how many were found.
    small = np.asarray(Image.fromarray(astronaut).resize((448, 448)))
    pair = np.full((512, 512 + 448, 3), 200, np.uint8)
    pair[:, :512], pair[:448, 512:] = astronaut, small
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = finder.find(pair, "pair.png")
    assert any("2 faces found; animating the largest" in str(w.message) for w in caught)
    assert found.n_faces == 2 and found.box[2] < 512  # the full-size face, on the left
    tiny = np.asarray(Image.fromarray(astronaut).resize((200, 200)))
    with pytest.raises(TinyFaceError, match=r"only \d+ pixels wide; at least 48"):
        finder.find(tiny, "tiny.png")


# --- the driver ---------------------------------------------------------------------------------


def test_driver_rest_and_motion(portrait):
    driver = LandmarkDriver(portrait.landmarks, 256)
    rows = driver.points
    # Her photo smiles with parted lips: the fitted rest state has them parted; in that state the
    # points are the photo's own, and the model's neutral (zero) closes the lips.
    assert driver.rest_expression[COMPONENT_INDEX["lips_part"]] > 0.2
    rest = driver.drive(driver.rest_expression[None].astype(np.float32))[0]
    np.testing.assert_allclose(rest[:68], portrait.landmarks, atol=1e-6)
    neutral = driver.drive(np.zeros((1, EXPRESSION_DIM), np.float32))[0]
    assert neutral[66, 1] - neutral[62, 1] < 0.5 < rest[66, 1] - rest[62, 1]
    np.testing.assert_allclose(neutral[17:48], rest[17:48], atol=1e-6)  # brows, nose, eyes stay

    rest = neutral  # motion below is measured from the neutral face
    jaw = driver.drive(expression(jaw_open=0.8))[0] - rest
    assert jaw[8, 1] > 3.0  # the chin drops (image y points down)
    assert jaw[57, 1] > 2 * abs(jaw[51, 1])  # the lower lip much more than the upper
    assert np.abs(jaw[36:48]).max() < 0.3  # the eyes stay
    np.testing.assert_allclose(jaw[rows.ring], 0, atol=1e-9)  # hair / background ring: pose only
    np.testing.assert_allclose(jaw[rows.border], 0, atol=1e-9)
    brows = driver.drive(expression(brow_inner_raise=1.0))[0] - rest
    assert brows[21, 1] < -2.0 and brows[22, 1] < -2.0 and abs(brows[57, 1]) < 0.1

    closed = driver.drive(expression(lid_close=1.0))[0]
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        assert closed[upper, 1] == pytest.approx(closed[lower, 1], abs=1e-6)  # lids meet, never cross
    pressed = driver.drive(expression(lip_press=1.0))[0]
    assert np.all(pressed[[61, 62, 63], 1] <= pressed[[67, 66, 65], 1] + 1e-9)

    # Head pose: the border stays, the ring follows the head, the nose (in front) more than the ring.
    turn = np.zeros((1, 6))
    turn[0, 0] = 0.1  # yaw
    turned = driver.drive(np.zeros((1, EXPRESSION_DIM), np.float32), turn)[0] - rest
    np.testing.assert_allclose(turned[rows.border], 0, atol=1e-9)
    assert abs(turned[30, 0]) > abs(turned[rows.ring, 0]).mean() > 0.5


# --- the warp -----------------------------------------------------------------------------------


def test_constrained_triangulation_keeps_contours(renderer):
    edges = {tuple(sorted(map(int, e))) for t in renderer.warp.triangles for e in ((t[0], t[1]), (t[1], t[2]),
                                                                                    (t[0], t[2]))}
    for contour in (INNER_LIPS, OUTER_LIPS, EYE_R, EYE_L):
        for i, a in enumerate(contour):
            assert tuple(sorted((a, contour[(i + 1) % len(contour)]))) in edges
    # A valid triangulation of the image: every triangle counter-clockwise, areas summing to the frame.
    rest = renderer.warp.rest
    a, b, c = (rest[renderer.warp.triangles[:, k]] for k in range(3))
    doubled = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    topology = renderer.driver.topology_points()
    ta, tb, tc = (topology[renderer.warp.triangles[:, k]] for k in range(3))
    assert np.all((tb[:, 0] - ta[:, 0]) * (tc[:, 1] - ta[:, 1]) - (tb[:, 1] - ta[:, 1]) * (tc[:, 0] - ta[:, 0]) > 0)
    assert abs(doubled).sum() / 2 == pytest.approx(256 * 256, rel=1e-3)


def test_warp_identity_and_affine_oracle(portrait):
    rng = np.random.default_rng(0)
    size = 128
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (0, 0), 2.0)  # smooth content: bilinear sampling is then exact enough
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [size - 0.5, size - 0.5], [-0.5, size - 0.5]])
    rest = np.concatenate([corners, rng.uniform(10, size - 10, (30, 2))])
    triangles = constrained_triangulation(rest, [])
    warp = PiecewiseAffineWarp(image, rest, triangles, map_stride=2)
    assert np.abs(warp.warp(rest).astype(int) - image).max() <= 1  # no motion: the photo
    # All points moved by one affine map: the warp is that map (OpenCV's warpAffine is the oracle).
    forward = np.array([[1.02, 0.03], [-0.02, 0.99], [1.5, -2.0]])  # [x y 1] @ forward
    moved = rest @ forward[:2] + forward[2]
    inverse = np.linalg.inv(np.vstack([forward.T, [0, 0, 1]]))[:2]  # target -> source, 2x3
    oracle = cv2.warpAffine(image, inverse, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)
    warped = warp.warp(moved)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(warped[inner].astype(int) - oracle[inner]).max() <= 2


# --- the renderer, the mouth ----------------------------------------------------------------------


def test_renderer_moves_the_right_parts(renderer, portrait):
    rest = renderer.rest_expression[None].astype(np.float32)  # the photo's own state: no motion
    frames = list(renderer.frames(np.concatenate([rest, rest + expression(jaw_open=0.7),
                                                  rest + expression(brow_inner_raise=1.0, brow_outer_raise=1.0)])))
    assert all(f.shape == (256, 256, 3) and f.dtype == np.uint8 for f in frames)
    still, open_mouth, brows = (f.astype(int) for f in frames)
    assert np.abs(still - portrait.image).mean() < 1.0  # zero motion keeps the photo (resampling aside)
    lm = portrait.landmarks.astype(int)
    eyes_up = lm[17:27, 1].min() - 5
    mouth_box = (slice(lm[50, 1] - 2, lm[8, 1]), slice(lm[48, 0], lm[54, 0] + 1))
    assert np.abs(open_mouth - still)[mouth_box].mean() > 15  # the mouth opened
    assert np.abs(open_mouth - still)[:eyes_up].max() <= 2  # forehead and hair stay
    inside = open_mouth[(lm[62, 1] + lm[66, 1]) // 2 + 4, (lm[62, 0] + lm[66, 0]) // 2]
    assert inside.mean() < still.mean()  # the painted cavity is darker than the face
    forehead = (slice(lm[19, 1] - 25, lm[19, 1] + 3), slice(lm[17, 0], lm[26, 0]))
    assert np.abs(brows - still)[forehead].mean() > 3 and np.abs(brows - still)[mouth_box].max() <= 3
    # The landmarks of a rendered frame are the warp's targets.
    assert renderer.landmarks(expression(jaw_open=0.7))[0, 8, 1] > lm[8, 1] + 2


def test_mouth_interior(portrait):
    mouth = MouthInterior(portrait.image, portrait.landmarks)
    frame = portrait.image.copy()
    lm = portrait.landmarks
    closed = np.tile(lm[[60, 61, 62, 63, 64]].mean(0), (8, 1))
    assert np.array_equal(mouth.paint(frame, closed, lm[[60, 62, 64]], lm[[60, 66, 64]]), portrait.image)
    centre = lm[48:68].mean(0)
    # iBUG order: corner 60, upper lip 61-63 (left to right in the image), corner 64, lower lip 65-67.
    ring = centre + np.array([[-20, 0], [-12, -9], [0, -10], [12, -9], [20, 0], [12, 9], [0, 10], [-12, 9]])
    upper_teeth = centre + np.array([[-15, -5], [0, -3], [15, -5]])
    lower_teeth = centre + np.array([[-15, 12], [0, 12], [15, 12]])
    painted = mouth.paint(portrait.image.copy(), ring, upper_teeth, lower_teeth).astype(int)
    x, y = int(centre[0]), int(centre[1])
    assert painted[y + 3, x].mean() < 90  # the cavity between the teeth is dark
    assert painted[y - 7, x].mean() > painted[y + 3, x].mean() + 60  # the upper teeth are light
    assert np.array_equal(painted[: y - 20], portrait.image[: y - 20])  # nothing outside the mouth


# --- motion, marking --------------------------------------------------------------------


def test_idle_motion_and_reference_pose(tmp_path):
    loud = loudness_envelope(np.sin(np.linspace(0, 400, 32000)).astype(np.float32), 50, 25.0)
    assert loud.shape == (50,) and loud.max() <= 1.0
    pose = idle_head_motion(250, 25.0, seed=3, loudness=loud[np.arange(250) % 50])
    assert pose.shape == (250, 6) and np.allclose(pose[0], 0)
    assert np.abs(pose[:, :3]).max() < np.radians(4) and np.abs(pose[:, 3:]).max() == 0
    assert np.abs(np.diff(pose[:, 0])).max() < np.radians(0.3)  # smooth: no jumps between frames
    np.testing.assert_array_equal(pose, idle_head_motion(250, 25.0, seed=3, loudness=loud[np.arange(250) % 50]))

    n = 30
    angles = np.stack([np.linspace(0, 0.2, n), np.linspace(0, -0.1, n), np.full(n, 0.05)], 1)  # about x, y, z
    fit = Coeffs3DMM(identity=np.ones((n, 80), np.float32), expression=np.zeros((n, 64), np.float32),
                     texture=np.zeros((n, 80), np.float32), angles=angles.astype(np.float32),
                     lighting=np.zeros((n, 27), np.float32), translation=np.ones((n, 3), np.float32),
                     transform_params=np.ones((n, 5), np.float32))
    write_mat(tmp_path / "real.mat", fit)
    pose = reference_pose(tmp_path / "real.mat", 60, 25.0, reference_fps=25.0)
    assert pose.shape == (60, 6) and np.allclose(pose[0], 0) and np.allclose(pose[:, 3:], 0)
    np.testing.assert_allclose(pose[29, :3], [-0.1, 0.2, 0.0], atol=1e-6)  # yaw <- y, pitch <- x, roll <- z
    np.testing.assert_allclose(pose[30, :3], pose[29, :3], atol=1e-6)  # played back and forth, no jump
    write_mat(tmp_path / "embedded.mat", fit, expression_space="embedded")  # the corpus writes yaw, pitch, roll
    np.testing.assert_allclose(reference_pose(tmp_path / "embedded.mat", 60, 25.0)[29, :3], [0.2, -0.1, 0.0], atol=1e-6)
    np.savez(tmp_path / "clip.npz", pose=np.tile([0.1, 0.0, 0.0, 0, 0, 0], (10, 1)), fps=25.0)
    assert np.allclose(reference_pose(tmp_path / "clip.npz", 5, 25.0), 0)
    with pytest.raises(ValueError, match="expected a Deep3DFaceRecon .mat"):
        reference_pose(tmp_path / "pose.txt", 5, 25.0)


def test_visible_mark_and_metadata():
    frame = np.full((256, 256, 3), 128, np.uint8)
    marked = VisibleMark((256, 256)).apply(frame.copy())
    changed = np.argwhere(np.any(marked != frame, axis=2))
    assert len(changed) > 100 and changed[:, 0].min() > 200 and changed[:, 1].min() > 120  # bottom-right only
    tags = synthetic_metadata("made by a test")
    assert tags["comment"].startswith("synthetic") and tags["description"] == "made by a test"
