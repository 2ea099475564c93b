"""Marking generated videos as synthetic (the paper's ethics section: talking-head synthesis can be
misused; generated media should say what they are).

- :func:`synthetic_metadata`: mp4 container tags (title, comment, description) that say the video
  is synthetic and name the generator; every ``talkclip generate --image`` video carries them.
- :class:`VisibleMark`: an optional label ("AI-generated") burnt into a corner of every frame, on
  a translucent dark box so it reads on any background.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SYNTHETIC_TAG = "synthetic"
MARK_TEXT = "AI-generated"


def synthetic_metadata(description: str) -> dict[str, str]:
    """Container tags for a generated video; ``description`` says how it was made."""
    return {
        "title": "Synthetic talking-head video (TalkCLIP Lab)",
        "comment": f"{SYNTHETIC_TAG}: AI-generated with TalkCLIP Lab; not a recording of a real person speaking",
        "description": description,
    }


class VisibleMark:
    """A small label in the bottom-right corner, alpha-blended into each frame."""

    def __init__(self, image_size: tuple[int, int], text: str = MARK_TEXT) -> None:
        width, height = image_size
        font_px = max(round(height * 0.045), 9)
        font = ImageFont.load_default(size=font_px)
        left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font)
        pad = max(font_px // 4, 2)
        box_w, box_h = right - left + 2 * pad, bottom - top + 2 * pad
        margin = max(font_px // 3, 2)
        self.x0, self.y0 = width - box_w - margin, height - box_h - margin
        if self.x0 < 0 or self.y0 < 0:
            raise ValueError(f"VisibleMark: a {width}x{height} frame is too small for the label {text!r}")
        text_mask = Image.new("L", (box_w, box_h), 0)
        ImageDraw.Draw(text_mask).text((pad - left, pad - top), text, fill=255, font=font)
        self._text_alpha = np.asarray(text_mask, dtype=np.float32)[..., None] / 255.0
        self._box_alpha = 0.45

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Blend the label into ``frame`` (H, W, 3) uint8 in place; returns it."""
        h, w = self._text_alpha.shape[:2]
        region = frame[self.y0 : self.y0 + h, self.x0 : self.x0 + w].astype(np.float32)
        darkened = region * (1.0 - self._box_alpha)
        out = darkened * (1.0 - self._text_alpha) + 255.0 * self._text_alpha
        frame[self.y0 : self.y0 + h, self.x0 : self.x0 + w] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
        return frame
