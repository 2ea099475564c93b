"""Identities of the embedded corpus: face shape and colours of one synthetic speaker.

An identity is everything about a face that does not change while it speaks. Shape parameters are
in face-model units (the eye line is y = 0; the eyes are about 0.9 units apart; see
``face_model``); colours are RGB 0..255. Gender ("M"/"W", MEAD's speaker-id prefixes) shifts the
shape and hair distributions, the way real faces differ on average, without being a caricature.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

GENDERS: tuple[str, ...] = ("M", "W")
HAIR_STYLES: tuple[str, ...] = ("short", "crop", "side_part", "bob", "long", "bun")

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Identity:
    gender: str
    # Face outline.
    face_half_width: float       # half width at the cheekbones
    jaw_depth: float             # eye line to chin
    jaw_squareness: float        # super-ellipse exponent of the jaw (2 round .. 3.2 square)
    forehead_height: float       # eye line to hairline
    # Eyes and brows.
    eye_half_spacing: float      # midline to eye centre
    eye_width: float             # corner to corner
    eye_opening: float           # lid to lid at rest
    eye_canthal_tilt: float      # outer corner height relative to the inner one
    brow_height: float           # eye centre to brow centre line
    brow_thickness: float
    brow_arch: float
    # Nose and mouth.
    nose_length: float           # eye line to the nose base
    nose_half_width: float       # alar half width
    mouth_height: float          # eye line to the lip line (positive, below)
    mouth_half_width: float
    upper_lip_thickness: float
    lower_lip_thickness: float
    ear_size: float
    # Colours.
    skin_rgb: RGB
    hair_rgb: RGB
    iris_rgb: RGB
    lip_rgb: RGB
    background_rgb: RGB
    shirt_rgb: RGB
    hair_style: str
    hair_volume: float           # how far the hair stands off the skull
    hair_part: float             # -1..1: side of the parting / fringe sweep

    def __post_init__(self) -> None:
        if self.gender not in GENDERS:
            raise ValueError(f"Identity.gender: expected one of {GENDERS}, got {self.gender!r}")
        if self.hair_style not in HAIR_STYLES:
            raise ValueError(f"Identity.hair_style: expected one of {HAIR_STYLES}, got {self.hair_style!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_rgb"):
                if len(value) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in value):
                    raise ValueError(f"Identity.{f.name}: expected 3 ints in 0..255, got {value!r}")
            elif isinstance(value, float) and not np.isfinite(value):
                raise ValueError(f"Identity.{f.name}: not finite ({value!r})")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key, value in d.items():
            if key.endswith("_rgb"):
                d[key] = list(value)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "identity") -> Identity:
        names = {f.name: f for f in fields(cls)}
        missing = sorted(set(names) - set(data))
        unknown = sorted(set(data) - set(names))
        if missing or unknown:
            raise ValueError(f"{where}: missing keys {missing}, unknown keys {unknown}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key.endswith("_rgb"):
                kwargs[key] = tuple(int(c) for c in value)
            elif key in ("gender", "hair_style"):
                kwargs[key] = str(value)
            else:
                kwargs[key] = float(value)
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str, where: str = "identity") -> Identity:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")  # noqa: TRY004
        return cls.from_dict(data, where)


# Skin tones spanning light to dark (RGB), and natural hair colours.
_SKIN_TONES: tuple[RGB, ...] = (
    (246, 215, 190), (236, 196, 165), (224, 178, 142), (205, 152, 112), (176, 122, 86),
    (141, 94, 63), (110, 72, 48), (232, 190, 160), (214, 170, 135),
)
_HAIR_COLOURS: tuple[RGB, ...] = (
    (32, 24, 20), (58, 40, 30), (92, 62, 40), (130, 90, 55), (170, 130, 80), (205, 170, 110),
    (120, 50, 30), (150, 150, 150), (20, 20, 24),
)
_IRIS_COLOURS: tuple[RGB, ...] = ((70, 45, 25), (100, 70, 40), (60, 95, 140), (85, 120, 80), (120, 110, 90), (40, 30, 25))
_BACKGROUNDS: tuple[RGB, ...] = (
    (200, 205, 212), (180, 190, 200), (215, 210, 195), (170, 185, 175), (195, 185, 200), (160, 170, 185),
)
_SHIRTS: tuple[RGB, ...] = ((40, 60, 110), (90, 30, 40), (30, 30, 35), (200, 200, 205), (60, 100, 70), (120, 100, 80))


def _jitter(rng: np.random.Generator, rgb: RGB, amount: int) -> RGB:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)  # type: ignore[return-value]


def sample_identity(rng: np.random.Generator, gender: str) -> Identity:
    """Draw a random identity of the given gender ("M" or "W")."""
    if gender not in GENDERS:
        raise ValueError(f"sample_identity: gender must be one of {GENDERS}, got {gender!r}")
    man = gender == "M"

    def u(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    skin = _jitter(rng, _SKIN_TONES[rng.integers(len(_SKIN_TONES))], 8)
    lip_base = np.array(skin, dtype=float) * np.array([0.84, 0.64, 0.64]) + np.array([12, 0, 2])
    if not man:  # a little more lip colour on average
        lip_base = lip_base * np.array([1.02, 0.9, 0.92]) + np.array([10, -4, 0])
    lip = tuple(int(np.clip(c, 0, 255)) for c in lip_base)
    styles_m = ("short", "crop", "side_part", "short")
    styles_w = ("bob", "long", "bun", "long", "side_part")
    return Identity(
        gender=gender,
        face_half_width=u(0.98, 1.10) if man else u(0.92, 1.02),
        jaw_depth=u(1.62, 1.82) if man else u(1.52, 1.70),
        jaw_squareness=u(2.5, 3.2) if man else u(2.0, 2.6),
        forehead_height=u(0.95, 1.15),
        eye_half_spacing=u(0.46, 0.52),
        eye_width=u(0.36, 0.42) if man else u(0.38, 0.44),
        eye_opening=u(0.13, 0.16) if man else u(0.15, 0.18),
        eye_canthal_tilt=u(-0.01, 0.03),
        brow_height=u(0.24, 0.30) if man else u(0.28, 0.34),
        brow_thickness=u(0.07, 0.10) if man else u(0.045, 0.07),
        brow_arch=u(0.02, 0.05) if man else u(0.04, 0.08),
        nose_length=u(0.76, 0.88) if man else u(0.70, 0.80),
        nose_half_width=u(0.17, 0.22) if man else u(0.15, 0.19),
        mouth_height=u(1.18, 1.30) if man else u(1.10, 1.20),
        mouth_half_width=u(0.33, 0.40),
        upper_lip_thickness=u(0.055, 0.08) if man else u(0.07, 0.095),
        lower_lip_thickness=u(0.08, 0.11) if man else u(0.095, 0.125),
        ear_size=u(0.9, 1.1),
        skin_rgb=skin,
        hair_rgb=_jitter(rng, _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))], 10),
        iris_rgb=_jitter(rng, _IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))], 10),
        lip_rgb=lip,  # type: ignore[arg-type]
        background_rgb=_jitter(rng, _BACKGROUNDS[rng.integers(len(_BACKGROUNDS))], 8),
        shirt_rgb=_jitter(rng, _SHIRTS[rng.integers(len(_SHIRTS))], 12),
        hair_style=str((styles_m if man else styles_w)[rng.integers(len(styles_m if man else styles_w))]),
        hair_volume=u(0.06, 0.14) if man else u(0.12, 0.24),
        hair_part=u(-1.0, 1.0),
    )
