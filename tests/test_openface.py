"""OpenFace 2.x CSV reader on CSVs written in OpenFace's exact header format."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from talkclip.formats.openface import DISFA_AUS, OPENFACE_AU_COLUMNS, OpenFaceError, read_openface_csv

# OpenFace 2.2 FeatureExtraction -aus: every AU it estimates, intensity (_r) then presence (_c).
ALL_R = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14", "AU15", "AU17",
         "AU20", "AU23", "AU25", "AU26", "AU45"]
ALL_C = ALL_R[:-1] + ["AU28", "AU45"]


def _write_openface_csv(
    path: Path, rows: list[dict], drop: tuple[str, ...] = (), face_ids: list[int] | None = None
) -> None:
    """Write rows as OpenFace does: 'frame, face_id, timestamp, ...' with ', ' separators."""
    columns = ["frame", "face_id", "timestamp", "confidence", "success", "pose_Rx", "pose_Ry", "pose_Rz"]
    columns += [f"{au}_r" for au in ALL_R] + [f"{au}_c" for au in ALL_C]
    columns = [c for c in columns if c not in drop]
    lines = [", ".join(columns)]
    for i, row in enumerate(rows):
        values = {"frame": i + 1, "face_id": (face_ids or [0] * len(rows))[i], "timestamp": f"{i / 30:.3f}",
                  "confidence": 0.98 if row.get("success", 1) else 0.0, "success": row.get("success", 1),
                  "pose_Rx": 0.1, "pose_Ry": -0.05, "pose_Rz": 0.0}
        for au in ALL_R:
            values[f"{au}_r"] = row.get(au, 0.0)
        for au in ALL_C:
            values[f"{au}_c"] = 1.0 if isinstance(row.get(au), float) and row[au] > 1 else 0.0
        lines.append(", ".join(str(values[c]) for c in columns))
    path.write_text("\n".join(lines) + "\n")


def test_column_names_follow_openface() -> None:
    assert OPENFACE_AU_COLUMNS == ("AU01_r", "AU02_r", "AU04_r", "AU05_r", "AU06_r", "AU09_r", "AU12_r", "AU15_r",
                                   "AU17_r", "AU20_r", "AU25_r", "AU26_r")
    assert len(DISFA_AUS) == 12


def test_reads_intensities_in_disfa_order_and_masks_failures(tmp_path: Path) -> None:
    path = tmp_path / "clip.csv"
    rows = [
        {"AU06": 2.5, "AU12": 3.1, "AU25": 1.2, "AU07": 4.0},  # a smile (AU07 is not a DISFA AU)
        {"success": 0},  # tracking lost: OpenFace writes zeros
        {"AU01": 1.0, "AU02": 0.8, "AU05": 2.0, "AU26": 3.3},  # surprise
    ]
    _write_openface_csv(path, rows)
    aus = read_openface_csv(path)
    assert aus.intensities.shape == (3, 12) and aus.intensities.dtype == np.float32
    smile = dict(zip(DISFA_AUS, aus.intensities[0]))
    assert smile["AU6"] == pytest.approx(2.5) and smile["AU12"] == pytest.approx(3.1)
    assert smile["AU25"] == pytest.approx(1.2) and smile["AU1"] == 0.0
    surprise = dict(zip(DISFA_AUS, aus.intensities[2]))
    assert surprise["AU26"] == pytest.approx(3.3) and surprise["AU5"] == pytest.approx(2.0)
    np.testing.assert_array_equal(aus.valid, [True, False, True])
    assert np.isnan(aus.intensities[1]).all()
    np.testing.assert_array_equal(aus.frame, [1, 2, 3])
    np.testing.assert_allclose(aus.timestamp, [0.0, 0.033, 0.067])
    mean = aus.masked().mean(axis=0)
    assert mean[DISFA_AUS.index("AU12")] == pytest.approx(3.1 / 2)  # the failed frame does not count


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "no_aus.csv"
    _write_openface_csv(path, [{}], drop=("AU09_r", "AU26_r"))
    with pytest.raises(OpenFaceError, match=r"missing column\(s\) \['AU09_r', 'AU26_r'\]") as info:
        read_openface_csv(path)
    assert str(path) in str(info.value)
    _write_openface_csv(path, [{}], drop=("success",))
    with pytest.raises(OpenFaceError, match=r"\['success'\]"):
        read_openface_csv(path)


def test_multiple_faces_need_a_choice(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    _write_openface_csv(path, [{"AU12": 1.0}, {"AU12": 4.0}, {"AU12": 2.0}], face_ids=[0, 1, 0])
    with pytest.raises(OpenFaceError, match=r"holds faces \[0, 1\]; pass face_id"):
        read_openface_csv(path)
    face0 = read_openface_csv(path, face_id=0)
    np.testing.assert_allclose(face0.intensities[:, DISFA_AUS.index("AU12")], [1.0, 2.0])
    with pytest.raises(OpenFaceError, match="no face_id 3"):
        read_openface_csv(path, face_id=3)


def test_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    _write_openface_csv(path, [{"AU12": "high"}])
    with pytest.raises(OpenFaceError, match=r"column 'AU12_r' has non-numeric value 'high'"):
        read_openface_csv(path)
    _write_openface_csv(path, [{"AU12": "nan"}])
    with pytest.raises(OpenFaceError, match="NaN/inf AU intensity in successfully tracked data row 0"):
        read_openface_csv(path)
    _write_openface_csv(path, [{"success": 2}])
    with pytest.raises(OpenFaceError, match="'success' must be 0 or 1"):
        read_openface_csv(path)
    _write_openface_csv(path, [])
    with pytest.raises(OpenFaceError, match="no rows"):
        read_openface_csv(path)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(OpenFaceError, match="cannot be parsed"):
        read_openface_csv(tmp_path / "empty.csv")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_openface_csv(tmp_path / "none.csv")
