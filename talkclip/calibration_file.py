"""Versioned JSON files of fitted calibrations (the ones shipped in ``talkclip/data``).

Each file carries a ``format`` tag; a reader refuses another format, so a file written by an older or
newer layout fails with its name and both tags instead of loading wrong numbers.
"""
from __future__ import annotations

import json
from pathlib import Path

from talkclip.atomic import write_text


def write_calibration(path: str | Path, file_format: str, payload: dict) -> None:
    """``payload`` with its ``format`` tag, atomically."""
    write_text(path, json.dumps({"format": file_format, **payload}, indent=1) + "\n")


def read_calibration(path: str | Path, file_format: str, what: str, made_by: str, error: type[Exception]) -> dict:
    """The payload of a ``file_format`` file; FileNotFoundError / ``error`` naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found (made by `{made_by}`)")
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not JSON ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != file_format:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise error(f"{path}: expected format {file_format!r}, found {found!r}")
    return payload
