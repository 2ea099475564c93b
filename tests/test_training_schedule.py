"""p schedule of stage 2: shapes, end points, monotonicity, errors."""
import itertools
import math

import pytest

from talkclip.training.schedule import p_schedule


@pytest.mark.parametrize("shape", ["linear", "cosine", "step"])
def test_end_points_and_monotone(shape):
    total = 101
    values = [p_schedule(s, total, shape, 0.0, 0.5) for s in range(total)]
    assert values[0] == 0.0 and values[-1] == pytest.approx(0.5)
    assert all(b >= a for a, b in itertools.pairwise(values))
    assert p_schedule(500, total, shape, 0.0, 0.5) == pytest.approx(0.5)  # past the end: p_final


def test_linear_and_cosine_midpoints():
    assert p_schedule(50, 101, "linear", 0.0, 0.5) == pytest.approx(0.25)
    assert p_schedule(25, 101, "linear", 0.0, 0.5) == pytest.approx(0.125)
    # Cosine: same midpoint, slower start than linear.
    assert p_schedule(50, 101, "cosine", 0.0, 0.5) == pytest.approx(0.25)
    assert p_schedule(10, 101, "cosine", 0.0, 0.5) < p_schedule(10, 101, "linear", 0.0, 0.5)
    assert p_schedule(10, 101, "cosine", 0.0, 0.5) == pytest.approx(0.25 * (1 - math.cos(math.pi * 0.1)))


def test_step_has_levels_plateaus():
    values = {round(p_schedule(s, 100, "step", 0.0, 0.4, levels=5), 9) for s in range(100)}
    assert values == {0.0, 0.1, 0.2, 0.3, 0.4}
    assert p_schedule(0, 100, "step", 0.0, 0.4, levels=5) == p_schedule(19, 100, "step", 0.0, 0.4, levels=5)


def test_decreasing_and_single_step():
    assert p_schedule(0, 1, "linear", 0.2, 0.6) == pytest.approx(0.6)
    assert p_schedule(9, 10, "linear", 1.0, 0.0) == pytest.approx(0.0)


@pytest.mark.parametrize(
    "args, match",
    [((0, 0, "linear", 0.0, 0.5), "total"), ((-1, 10, "linear", 0.0, 0.5), "step"),
     ((0, 10, "exp", 0.0, 0.5), "shape"), ((0, 10, "linear", 0.0, 1.5), "p_final")],
)
def test_errors(args, match):
    with pytest.raises(ValueError, match=match):
        p_schedule(*args)
