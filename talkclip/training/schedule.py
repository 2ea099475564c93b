"""The probability p of feeding the text style code in stage 2 (TalkCLIP sec. 4.1.2).

p "gradually increases from 0 to 0.5 as the training goes on". The paper does not say how; three
shapes are offered. Every schedule is a pure function of the step, so a resumed run needs no
scheduler state to reproduce it.
"""
from __future__ import annotations

import math

SHAPES = ("linear", "cosine", "step")


def p_schedule(step: int, total: int, shape: str, p_start: float, p_final: float, *, levels: int = 5) -> float:
    """p at 0-based ``step`` of a stage of ``total`` steps: ``p_start`` at step 0, ``p_final`` at the last step.

    linear: straight line; cosine: half-cosine ease-in/out; step: ``levels`` equal-length plateaus
    evenly spaced from ``p_start`` to ``p_final``. Steps past the end keep ``p_final``.
    """
    if total < 1:
        raise ValueError(f"p_schedule: total must be >= 1 step, got {total}")
    if step < 0:
        raise ValueError(f"p_schedule: step must be >= 0, got {step}")
    for name, value in (("p_start", p_start), ("p_final", p_final)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"p_schedule: {name} must be a probability in [0, 1], got {value}")
    # Progress in [0, 1]; the last step of the stage (total - 1) reaches p_final exactly.
    progress = min(step / (total - 1), 1.0) if total > 1 else 1.0
    if shape == "linear":
        fraction = progress
    elif shape == "cosine":
        fraction = 0.5 * (1.0 - math.cos(math.pi * progress))
    elif shape == "step":
        if levels < 2:
            raise ValueError(f"p_schedule: levels must be >= 2 for the step shape, got {levels}")
        level = min(int(progress * levels), levels - 1)
        fraction = level / (levels - 1)
    else:
        raise ValueError(f"p_schedule: unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    return p_start + (p_final - p_start) * fraction
