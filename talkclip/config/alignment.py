"""Configuration of the phoneme aligner (``params.yaml`` section ``preprocess.aligner``).

Defaults are the values measured on synthesized speech (espeak-ng, 40 clips over 12 voices and all MEAD
emotions, see the report in ``talkclip/preprocess/alignment.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

from .loader import ConfigError

ALIGNMENT_METHODS: tuple[str, ...] = ("forced", "forced_wide", "phone_recognition")
FALLBACK_METHODS: tuple[str, ...] = ("forced_wide", "phone_recognition")


@dataclass(frozen=True)
class AlignerConfig:
    # Pruning beams of pocketsphinx's forced alignment (probabilities relative to the best path; smaller
    # keeps more paths). pocketsphinx's own defaults (1e-48, 7e-29, 1e-48) lose the only path through the
    # transcript on some synthetic sentences ("Failed to set up sub-word alignment"); the alignment graph is
    # a single sentence, so wide beams cost little (~0.1 s per 3 s clip).
    beam: float = 1e-100
    wbeam: float = 1e-80
    pbeam: float = 1e-100
    # Beams of the "forced_wide" retry.
    wide_beam: float = 1e-200
    wide_wbeam: float = 1e-150
    wide_pbeam: float = 1e-200
    # Methods tried in order after "forced" fails (or, for "phone_recognition" only, when there is no
    # transcript). Empty: a failed forced alignment raises AlignmentError.
    fallbacks: tuple[str, ...] = FALLBACK_METHODS
    # Probability of an optional silence between two words (pocketsphinx ``silprob``).
    silence_prob: float = 0.005
    # Add +-1 LSB of triangular noise (fixed seed, so labels are reproducible) before feature extraction:
    # digital silence (exact zeros, as in synthesized or edited audio) otherwise gives degenerate features
    # and the word pass fails (6 of 10 synthesized clips without it, 0 with it).
    dither: bool = True
    # Shift added to every boundary pocketsphinx reports. It reports frame indices t (10 ms hop) whose
    # 25.6 ms analysis windows are centred at 10 t + 12.8 ms, so a change of label between frames t-1 and
    # t sits at 10 t + 7.8 ms. Measured: frame agreement is flat for shifts of 4-10 ms and 6-7 points
    # lower without it.
    boundary_offset_s: float = 0.0078
    # Gaussians scored per frame and codebook of the acoustic model (pocketsphinx ``topn``, its default 4).
    # Scoring 16 makes the acoustic scores closer to the full model: +0.5 points of frame agreement and
    # worst clip 0.65 -> 0.71 at 25 fps, for ~10% more time.
    topn: int = 16
    # Phone recognition: use pocketsphinx's bundled phone language model (en-us-phone.lm.bin); False uses
    # a uniform phone loop.
    phone_lm: bool = True
    # Language weight of phone recognition (pocketsphinx ``lw``; its default 6.5 is tuned for word LMs).
    # Measured on 12 clips: 6.5 -> 40% frame agreement, 2.0 -> 47% (the uniform loop: 47%).
    phone_lm_weight: float = 2.0

    def __post_init__(self) -> None:
        for key in ("beam", "wbeam", "pbeam", "wide_beam", "wide_wbeam", "wide_pbeam"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
                raise ConfigError(f"preprocess.aligner.{key}: expected a probability in (0, 1), e.g. 1e-80, got {value!r}")
        for narrow, wide in (("beam", "wide_beam"), ("wbeam", "wide_wbeam"), ("pbeam", "wide_pbeam")):
            if getattr(self, wide) > getattr(self, narrow):
                raise ConfigError(
                    f"preprocess.aligner.{wide}: must be <= {narrow} ({getattr(self, narrow)}) to be wider, "
                    f"got {getattr(self, wide)}"
                )
        if not isinstance(self.fallbacks, tuple):
            raise ConfigError(f"preprocess.aligner.fallbacks: expected a list of methods, got {self.fallbacks!r}")
        for method in self.fallbacks:
            if method not in FALLBACK_METHODS:
                raise ConfigError(
                    f"preprocess.aligner.fallbacks: unknown method {method!r}; expected any of {', '.join(FALLBACK_METHODS)}"
                )
        if len(set(self.fallbacks)) != len(self.fallbacks):
            raise ConfigError(f"preprocess.aligner.fallbacks: methods repeat in {list(self.fallbacks)}")
        if not 0.0 < self.silence_prob < 1.0:
            raise ConfigError(f"preprocess.aligner.silence_prob: expected a probability in (0, 1), got {self.silence_prob}")
        if not 0.0 < self.phone_lm_weight <= 20.0:
            raise ConfigError(f"preprocess.aligner.phone_lm_weight: expected 0 < value <= 20, got {self.phone_lm_weight}")
        if not 1 <= self.topn <= 64:
            raise ConfigError(f"preprocess.aligner.topn: expected 1..64 Gaussians, got {self.topn}")
        if not -0.05 <= self.boundary_offset_s <= 0.05:
            raise ConfigError(
                f"preprocess.aligner.boundary_offset_s: expected a small shift in -0.05..0.05 s, got {self.boundary_offset_s}"
            )
