import pytest

from talkclip.atomic import atomic_dir, atomic_path


def test_atomic_path_leaves_old_file_on_failure(tmp_path):
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert dest.read_text() == "old"
    assert list(tmp_path.iterdir()) == [dest]


def test_atomic_dir_replaces_whole_folder(tmp_path):
    dest = tmp_path / "corpus"
    dest.mkdir()
    (dest / "stale.txt").write_text("x")
    with atomic_dir(dest) as tmp:
        (tmp / "new.txt").write_text("y")
    assert sorted(p.name for p in dest.iterdir()) == ["new.txt"]
    with pytest.raises(RuntimeError), atomic_dir(dest) as tmp:
        (tmp / "partial.txt").write_text("z")
        raise RuntimeError("killed")
    assert sorted(p.name for p in dest.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]


def test_outputs_get_normal_permissions(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    os.umask(umask)
    with atomic_path(tmp_path / "f.txt") as tmp:
        tmp.write_text("x")
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o666 & ~umask
    with atomic_dir(tmp_path / "d") as tmp:
        pass
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~umask
