"""Write files and folders so that a crash never leaves a half-written output behind, and check an
output location before the work that fills it.

Everything is written under a temporary name in the destination's own folder (same filesystem,
so the final ``os.replace`` is atomic) and renamed only once complete.

Rules for output locations (docs/DESIGN.md, "Bad input"):

- a file output never replaces a folder, and a folder output never replaces a file: the user's
  file is not moved, renamed or deleted, and the error says so;
- a folder output (:func:`atomic_dir`) replaces an existing folder only when it is empty or is a
  previous output of the same kind (it holds the output's marker file, e.g. ``manifest.csv``);
- the folder that receives the writes must be writable: this is probed by creating (and removing)
  a temporary file there, which also holds for root, for whom permission bits do not stop writes,
  and for read-only filesystems.

:func:`check_output_file` and :func:`check_output_dir` apply these rules up front, so that an entry
point fails in a second instead of after the work; :func:`atomic_path` and :func:`atomic_dir`
apply them again when they open.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


class OutputPathError(ValueError):
    """An output location cannot be used; the message names it and says why."""


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def _check_writable_folder(folder: Path, what: str, target: Path) -> None:
    """``folder`` (or the nearest part of it that exists) is a folder that accepts new files."""
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise OutputPathError(f"{what} {target}: cannot create folder {folder}, because {existing} is a file")
    try:
        fd, probe = tempfile.mkstemp(prefix=".talkclip-write-check.", dir=existing)
    except OSError as exc:
        raise OutputPathError(f"{what} {target}: folder {existing} is not writable ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def check_output_file(path: str | Path, what: str = "output file") -> Path:
    """Raise OutputPathError unless ``path`` can be written as a file (an existing file may be replaced)."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{what} {path} is an existing folder; give the path of a file")
    _check_writable_folder(path.parent, what, path)
    return path


def _replaceable_folder_problem(path: Path, marker: str | None) -> str | None:
    if not path.is_dir() or not any(path.iterdir()):
        return None
    if marker is not None and (path / marker).is_file():
        return None
    which = f"without {marker}, so not a previous output of this step" if marker else "that is not empty"
    return f"is a folder {which}; it is left as it is: give a new or empty folder, or remove it yourself"


def check_output_dir(path: str | Path, what: str = "output folder", *, replaces: str | None = None,
                     whole: bool = False) -> Path:
    """Raise OutputPathError unless ``path`` can be used as an output folder.

    ``whole=False``: files are written into the folder (created if needed; existing files of the
    same names are replaced). ``whole=True``: the folder is replaced as a whole by :func:`atomic_dir`,
    which needs ``path`` to be absent, empty, or a previous output holding the marker file ``replaces``.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{what} {path} is an existing file, not a folder; the file is left as it is: "
                              "give a folder path")
    if whole:
        problem = _replaceable_folder_problem(path, replaces)
        if problem:
            raise OutputPathError(f"{what} {path} {problem}")
        _check_writable_folder(path.parent, what, path)
    if path.is_dir() or not whole:
        _check_writable_folder(path, what, path)
    return path


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary file path next to ``dest``; on success it replaces ``dest``.

    The suffix is kept so that writers choosing a format by extension (``.npz``, ``.mp4``) work.
    """
    dest = Path(dest)
    if dest.is_dir():
        raise OutputPathError(f"output file {dest} is an existing folder; give the path of a file")
    existing = _nearest_existing(dest.parent)
    if not existing.is_dir():
        raise OutputPathError(f"output file {dest}: cannot create folder {dest.parent}, because {existing} is a file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=f".tmp{dest.suffix}", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates the file private (0600); outputs get the usual permissions.
    os.chmod(tmp_path, 0o666 & ~_UMASK)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(dest: str | Path, text: str) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text)


def write_bytes(dest: str | Path, data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def atomic_dir(dest: str | Path, replaces: str | None = None, what: str = "output folder") -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``dest``.

    Used by stages whose output is a whole folder (a corpus, a processed dataset): a stage killed
    half-way leaves the previous complete output, or nothing, never a mix. An existing ``dest`` is
    replaced only when it is empty or holds the marker file ``replaces`` (a previous output of the
    same stage); anything else, a file included, raises OutputPathError before the work starts.
    """
    dest = check_output_dir(dest, what, replaces=replaces, whole=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)
    try:
        yield tmp
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            os.replace(dest, old / dest.name)
            os.replace(tmp, dest)
            shutil.rmtree(old)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
