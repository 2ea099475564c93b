"""Reading a portrait photo: the formats we accept, EXIF orientation, alpha, clear errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow format names of still images we accept. Animated or layered formats (GIF, PSD, ICO...)
# are refused: which frame or layer is "the portrait" would be a guess.
SUPPORTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "MPO", "WEBP", "BMP", "TIFF", "PPM")
# Pillow reads MPO (multi-picture JPEG from phone cameras); its first picture is the photo.
MAX_PIXELS = 80_000_000  # a 80-megapixel photo is ~240 MB as RGB; beyond that we refuse


class PortraitError(ValueError):
    """The portrait cannot be used: unreadable, unsupported, no usable face."""


class UnsupportedImageError(PortraitError):
    """The file is not a still image in a supported format."""


def read_portrait(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a still photo, upright (EXIF orientation applied).

    Transparent pixels are composited over white. Errors name the file and the format found.
    """
    path = Path(path)
    if not path.is_file():
        reason = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"portrait image {path} {reason}")
    if path.stat().st_size == 0:
        raise UnsupportedImageError(f"portrait image {path} is empty (0 bytes)")
    try:
        with Image.open(path) as image:
            found = image.format or "unknown"
            if found not in SUPPORTED_FORMATS:
                raise UnsupportedImageError(
                    f"portrait image {path}: format {found} is not supported; "
                    f"use one of {', '.join(f for f in SUPPORTED_FORMATS if f != 'MPO')}"
                )
            if image.width * image.height > MAX_PIXELS:
                raise UnsupportedImageError(f"portrait image {path} is {image.width}x{image.height}, more than "
                                            f"{MAX_PIXELS // 1_000_000} megapixels; downscale it first")
            image.load()
            upright = ImageOps.exif_transpose(image)
            if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
                rgba = upright.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                upright = Image.alpha_composite(white, rgba)
            rgb = np.asarray(upright.convert("RGB"), dtype=np.uint8)
    except UnidentifiedImageError:
        suffix = path.suffix.lower() or "(no extension)"
        raise UnsupportedImageError(
            f"portrait image {path}: not an image Pillow can read (file extension {suffix}); "
            f"use one of {', '.join(f for f in SUPPORTED_FORMATS if f != 'MPO')}"
        ) from None
    except OSError as exc:  # truncated or corrupt data
        raise UnsupportedImageError(f"portrait image {path} cannot be decoded: {exc}") from exc
    if min(rgb.shape[:2]) < 32:
        raise PortraitError(f"portrait image {path} is {rgb.shape[1]}x{rgb.shape[0]} pixels; too small for a face")
    return np.ascontiguousarray(rgb)
