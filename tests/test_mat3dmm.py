"""Deep3DFaceRecon / PIRender .mat reader and writer, on the real StyleTalk samples and broken files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from talkclip.formats.mat3dmm import (
    COEFF_DIM,
    Coeffs3DMM,
    Mat3DMMError,
    coeffs_from_performance,
    default_transform_params,
    read_mat,
    write_mat,
)

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples" / "styletalk" / "samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"StyleTalk samples not found at {SAMPLES}")


def _random_coeffs(n: int, seed: int = 0) -> Coeffs3DMM:
    rng = np.random.default_rng(seed)
    coeff = rng.normal(size=(n, COEFF_DIM)).astype(np.float32)
    transform = np.column_stack([np.full(n, 1280.0), np.full(n, 720.0), rng.uniform(0.5, 1.5, n),
                                 rng.uniform(0, 256, n), rng.uniform(0, 256, n)]).astype(np.float32)
    return Coeffs3DMM.from_coeff(coeff, transform)


@needs_samples
def test_reads_every_sample_mat() -> None:
    mats = sorted(SAMPLES.glob("*/3DMM/*.mat"))
    assert len(mats) == 32  # 10 source clips + 22 style clips
    for path in mats:
        raw = scipy.io.loadmat(str(path))
        coeffs = read_mat(path)
        n = raw["coeff"].shape[0]
        assert coeffs.n_frames == n and 60 <= n <= 900, path
        np.testing.assert_array_equal(coeffs.expression, raw["coeff"][:, 80:144])
        np.testing.assert_array_equal(coeffs.angles, raw["coeff"][:, 224:227])
        np.testing.assert_array_equal(coeffs.translation, raw["coeff"][:, 254:257])
        np.testing.assert_array_equal(coeffs.coeff(), raw["coeff"])
        pose9 = coeffs.pose9()
        assert pose9.shape == (n, 9) and pose9.dtype == np.float32
        np.testing.assert_array_equal(pose9[:, 6:], raw["transform_params"][:, 2:])
        # Real Deep3DFaceRecon angles are radians of a frontal-ish face, crop scale near 1.
        assert np.abs(coeffs.angles).max() < np.pi / 2, path
        assert (coeffs.transform_params[:, 2] > 0).all(), path


def test_roundtrip_write_read(tmp_path: Path) -> None:
    coeffs = _random_coeffs(7)
    path = tmp_path / "deep" / "clip.mat"
    write_mat(path, coeffs)
    back = read_mat(path)
    np.testing.assert_array_equal(back.coeff(), coeffs.coeff())
    np.testing.assert_array_equal(back.transform_params, coeffs.transform_params)
    # Readable by plain scipy with the field's keys and dtypes.
    raw = scipy.io.loadmat(str(path))
    assert raw["coeff"].shape == (7, 257) and raw["coeff"].dtype == np.float32
    assert raw["transform_params"].shape == (7, 5)
    assert [p.name for p in path.parent.iterdir()] == ["clip.mat"]  # no temporary left behind


def test_from_expression_pose_and_performance() -> None:
    rng = np.random.default_rng(1)
    expression = rng.normal(size=(5, 64))
    pose = rng.normal(size=(5, 6)) * 0.1
    coeffs = coeffs_from_performance(expression, pose, image_size=128)
    np.testing.assert_allclose(coeffs.expression, expression, rtol=1e-6)
    np.testing.assert_allclose(coeffs.pose6(), pose, rtol=1e-6)
    assert not coeffs.identity.any() and not coeffs.texture.any() and not coeffs.lighting.any()
    np.testing.assert_array_equal(coeffs.transform_params[0], [128, 128, 1.0, 64, 64])
    np.testing.assert_allclose(coeffs.pose9()[:, 6:], np.tile([1.0, 64, 64], (5, 1)))
    given = default_transform_params(5, 256) * 2
    explicit = Coeffs3DMM.from_expression_pose(expression, pose[:, :3], pose[:, 3:], transform_params=given)
    np.testing.assert_array_equal(explicit.transform_params, given)
    assert coeffs.frames(1, 3).n_frames == 2
    with pytest.raises(Mat3DMMError, match=r"pose"):
        coeffs_from_performance(expression, pose[:, :3], image_size=128)
    with pytest.raises(Mat3DMMError, match=r"expression"):
        Coeffs3DMM.from_expression_pose(expression[:, :60], pose[:, :3], pose[:, 3:])


def _expect_error(path: Path, match: str, exc: type[Exception] = Mat3DMMError) -> None:
    with pytest.raises(exc, match=match) as info:
        read_mat(path)
    assert str(path) in str(info.value)


def test_missing_and_non_mat_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mat"
    _expect_error(missing, "does not exist", FileNotFoundError)
    _expect_error(missing, "does not exist", Mat3DMMError)
    text = tmp_path / "text.mat"
    text.write_text("this is not a MATLAB file\n" * 20)
    _expect_error(text, "not a readable MAT file")
    empty = tmp_path / "empty.mat"
    empty.write_bytes(b"")
    _expect_error(empty, "not a readable MAT file")


@pytest.mark.parametrize(
    "contents, match",
    [
        ({"coeffs": np.zeros((3, 257)), "transform_params": np.zeros((3, 5))}, r"missing key\(s\) \['coeff'\]"),
        ({"coeff": np.zeros((3, 257))}, r"missing key\(s\) \['transform_params'\]"),
        ({"coeff": np.zeros((3, 256)), "transform_params": np.zeros((3, 5))}, r"'coeff' has shape \(3, 256\)"),
        ({"coeff": np.zeros((3, 257)), "transform_params": np.zeros((3, 4))}, r"'transform_params' has shape"),
        ({"coeff": np.zeros((3, 257)), "transform_params": np.zeros((4, 5))}, r"3 frames but 'transform_params' has 4"),
        ({"coeff": np.zeros((0, 257)), "transform_params": np.zeros((0, 5))}, r"no frames"),
        ({"coeff": np.zeros((3, 257, 1)), "transform_params": np.zeros((3, 5))}, r"'coeff' has shape"),
    ],
)
def test_bad_contents(tmp_path: Path, contents: dict, match: str) -> None:
    path = tmp_path / "bad.mat"
    scipy.io.savemat(str(path), contents)
    _expect_error(path, match)


def test_nan_and_inf_rejected(tmp_path: Path) -> None:
    coeff = np.zeros((4, 257), np.float32)
    coeff[2, 100] = np.nan
    path = tmp_path / "nan.mat"
    scipy.io.savemat(str(path), {"coeff": coeff, "transform_params": np.ones((4, 5), np.float32)})
    _expect_error(path, r"'coeff' has 1 NaN/inf values \(first at frame 2\)")
    transform = np.ones((4, 5), np.float32)
    transform[0, 3] = np.inf
    scipy.io.savemat(str(path), {"coeff": np.zeros((4, 257)), "transform_params": transform})
    _expect_error(path, r"'transform_params' has 1 NaN/inf")


def test_write_refuses_nan_and_leaves_nothing(tmp_path: Path) -> None:
    coeffs = _random_coeffs(3)
    coeffs.expression[1, 0] = np.nan
    path = tmp_path / "out.mat"
    with pytest.raises(Mat3DMMError, match="NaN"):
        write_mat(path, coeffs)
    assert list(tmp_path.iterdir()) == []


def test_dataclass_validates_shapes() -> None:
    good = _random_coeffs(2)
    with pytest.raises(Mat3DMMError, match=r"Coeffs3DMM.angles: expected shape \(N, 3\)"):
        Coeffs3DMM(good.identity, good.expression, good.texture, good.angles[:, :2], good.lighting,
                   good.translation, good.transform_params)
    with pytest.raises(Mat3DMMError, match=r"Coeffs3DMM.translation: 1 frames"):
        Coeffs3DMM(good.identity, good.expression, good.texture, good.angles, good.lighting,
                   good.translation[:1], good.transform_params)
