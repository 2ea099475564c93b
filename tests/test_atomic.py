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
    (dest / "manifest.csv").write_text("x")  # the marker: a previous output of the same step
    with atomic_dir(dest, replaces="manifest.csv") as tmp:
        (tmp / "new.txt").write_text("y")
        (tmp / "manifest.csv").write_text("y")
    assert sorted(p.name for p in dest.iterdir()) == ["manifest.csv", "new.txt"]
    with pytest.raises(RuntimeError), atomic_dir(dest, replaces="manifest.csv") as tmp:
        (tmp / "partial.txt").write_text("z")
        raise RuntimeError("killed")
    assert sorted(p.name for p in dest.iterdir()) == ["manifest.csv", "new.txt"]
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


# --- output locations are checked before the work, and a user's file or folder is never replaced ---
def test_a_file_where_a_folder_output_goes_is_refused_and_kept(tmp_path):
    from talkclip.atomic import OutputPathError, check_output_dir

    user_file = tmp_path / "processed"
    user_file.write_text("the user's notes")
    for run in (lambda: check_output_dir(user_file, whole=True), lambda: atomic_dir(user_file).__enter__()):
        with pytest.raises(OutputPathError, match=f"{user_file} is an existing file"):
            run()
    assert user_file.read_text() == "the user's notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["processed"]  # nothing moved aside, no temp left


def test_a_folder_that_is_not_a_previous_output_is_never_replaced(tmp_path):
    from talkclip.atomic import OutputPathError

    folder = tmp_path / "my_data"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    with pytest.raises(OutputPathError, match="without manifest.csv, so not a previous output"), \
            atomic_dir(folder, replaces="manifest.csv"):
        raise AssertionError("the work must not start")
    with pytest.raises(OutputPathError, match="not empty"):
        atomic_dir(folder).__enter__()
    assert (folder / "thesis.tex").read_text() == "precious"
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_dir(empty, replaces="manifest.csv") as tmp:
        (tmp / "manifest.csv").write_text("x")
    assert (empty / "manifest.csv").is_file()


def test_a_folder_where_a_file_output_goes_is_refused(tmp_path):
    from talkclip.atomic import OutputPathError, check_output_file

    (tmp_path / "metrics.json").mkdir()
    for run in (lambda: check_output_file(tmp_path / "metrics.json"),
                lambda: atomic_path(tmp_path / "metrics.json").__enter__()):
        with pytest.raises(OutputPathError, match="metrics.json is an existing folder"):
            run()
    assert (tmp_path / "metrics.json").is_dir()


def test_a_file_in_the_way_of_the_output_folder_is_named(tmp_path):
    from talkclip.atomic import OutputPathError, check_output_dir, check_output_file

    (tmp_path / "blocker").write_text("x")
    with pytest.raises(OutputPathError, match="blocker is a file"):
        check_output_dir(tmp_path / "blocker" / "out")
    with pytest.raises(OutputPathError, match="blocker is a file"):
        check_output_file(tmp_path / "blocker" / "sub" / "m.json")
    with pytest.raises(OutputPathError, match="blocker is a file"):
        atomic_path(tmp_path / "blocker" / "m.json").__enter__()


def _unwritable_folder(tmp_path):
    """A folder this process cannot write to: a read-only folder (not for root, whom permission bits do
    not stop) or, for root, a folder of the read-only /sys filesystem."""
    import os
    import tempfile

    if os.geteuid() != 0:
        folder = tmp_path / "read_only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    try:
        fd, probe = tempfile.mkstemp(dir="/sys")
    except OSError:
        return __import__("pathlib").Path("/sys")
    os.close(fd)
    os.unlink(probe)
    pytest.skip("running as root with a writable /sys: no unwritable folder to test with")


def test_an_unwritable_output_location_is_refused_up_front(tmp_path):
    from talkclip.atomic import OutputPathError, check_output_dir, check_output_file

    folder = _unwritable_folder(tmp_path)
    with pytest.raises(OutputPathError, match=f"folder {folder} is not writable"):
        check_output_dir(folder / "out", whole=True)
    with pytest.raises(OutputPathError, match=f"folder {folder} is not writable"):
        check_output_file(folder / "metrics.json")
