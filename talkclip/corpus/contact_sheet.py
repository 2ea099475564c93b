"""Contact sheets: a labelled grid of frames (e.g. speakers x emotions) written as PNG."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from talkclip.atomic import atomic_path

_BACKGROUND = (255, 255, 255)
_TEXT = (20, 20, 20)


def contact_sheet(tiles: list[list[np.ndarray]], row_labels: Sequence[str], col_labels: Sequence[str],
                  padding: int = 4) -> np.ndarray:
    """Grid of (H, W, 3) uint8 tiles with row labels on the left and column labels on top.

    All tiles must have the same shape; rows may be shorter than ``len(col_labels)`` (empty cells).
    Labels are drawn with PIL's default font. Returns an (H', W', 3) uint8 image.
    """
    if not tiles or not any(tiles):
        raise ValueError("contact_sheet: no tiles")
    if len(row_labels) != len(tiles):
        raise ValueError(f"contact_sheet: {len(tiles)} rows but {len(row_labels)} row labels")
    n_cols = max(len(r) for r in tiles)
    if len(col_labels) < n_cols:
        raise ValueError(f"contact_sheet: {n_cols} columns but {len(col_labels)} column labels")
    first = np.asarray(next(t for r in tiles for t in r))
    if first.ndim != 3 or first.shape[2] != 3:
        raise ValueError(f"contact_sheet: tiles must be (H, W, 3), got {first.shape}")
    h, w = first.shape[:2]
    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_size(text: str) -> tuple[int, int]:
        box = probe.textbbox((0, 0), text, font=font)
        return box[2] - box[0], box[3] - box[1]

    label_w = max([text_size(str(s))[0] for s in row_labels] + [0]) + 2 * padding
    label_h = max([text_size(str(s))[1] for s in col_labels] + [0]) + 2 * padding
    sheet_w = label_w + n_cols * (w + padding) + padding
    sheet_h = label_h + len(tiles) * (h + padding) + padding
    sheet = Image.new("RGB", (sheet_w, sheet_h), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for j, label in enumerate(col_labels[:n_cols]):
        tw, _ = text_size(str(label))
        x = label_w + j * (w + padding) + (w - tw) // 2
        draw.text((x, padding), str(label), fill=_TEXT, font=font)
    for i, row in enumerate(tiles):
        y = label_h + i * (h + padding)
        _, th = text_size(str(row_labels[i]))
        draw.text((padding, y + (h - th) // 2), str(row_labels[i]), fill=_TEXT, font=font)
        for j, tile in enumerate(row):
            arr = np.asarray(tile)
            if arr.shape != first.shape or arr.dtype != np.uint8:
                raise ValueError(f"contact_sheet: tile ({i}, {j}) is {arr.shape} {arr.dtype}, expected {first.shape} uint8")
            sheet.paste(Image.fromarray(arr, "RGB"), (label_w + j * (w + padding), y))
    return np.asarray(sheet)


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) or (H, W) uint8 image as PNG, atomically."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise ValueError(f"write_png {path}: expected a uint8 (H, W[, 3]) image, got {arr.shape} {arr.dtype}")
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
