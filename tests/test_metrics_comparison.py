"""Method comparison: bootstrap intervals, paired tests, Holm correction, written outputs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from talkclip.metrics.comparison import (
    ComparisonError,
    bootstrap_mean_interval,
    compare_methods,
    holm,
    write_comparison,
)


def _table(values: np.ndarray, names: list[str], status: str = "ok") -> pd.DataFrame:
    return pd.DataFrame({"name": names, "status": status, "ssim": values})


def test_intervals_paired_test_and_outputs(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"v{i}" for i in range(30)]
    base = rng.uniform(0.6, 0.8, 30)
    tables = {"a": _table(base, names), "b": _table(base + 0.02 + rng.normal(0, 0.002, 30), names),
              "c": _table(base + rng.normal(0, 0.02, 30), names)}
    first = compare_methods(tables, n_resamples=500, seed=1)
    again = compare_methods(tables, n_resamples=500, seed=1)
    pd.testing.assert_frame_equal(first.cells, again.cells)  # seeded
    cell = first.cell("a", "ssim")
    assert cell["low"] < cell["mean"] < cell["high"] and cell["mean"] == pytest.approx(base.mean())
    paired = first.paired.set_index(["method_a", "method_b"])
    assert paired.loc[("a", "b"), "p_holm"] < 1e-4  # b is consistently 0.02 higher
    assert paired.loc[("a", "b"), "diff_high"] < 0 and paired.loc[("a", "b"), "mean_diff"] == pytest.approx(-0.02, abs=2e-3)
    assert paired.loc[("a", "c"), "p_holm"] > 0.01
    paths = write_comparison(first, tmp_path / "comparison")
    assert all(p.is_file() for p in paths.values())
    assert "[" in paths["md"].read_text() and r"\begin{tabular}" in paths["tex"].read_text()


def test_only_common_scored_videos_are_paired():
    a = _table(np.array([0.5, 0.6, 0.7]), ["x", "y", "z"])
    b = _table(np.array([0.5, 0.6, 0.9]), ["x", "y", "z"])
    b.loc[2, "status"] = "error"
    result = compare_methods({"a": a, "b": b}, n_resamples=200)
    assert result.paired.iloc[0]["n"] == 2 and result.paired.iloc[0]["p_wilcoxon"] == 1.0  # equal on x, y
    assert result.cell("b", "ssim")["n"] == 2


def test_holm_and_bad_input():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    low, high = bootstrap_mean_interval(np.array([1.0, 1.0, 1.0]), np.random.default_rng(0), 100, 0.95)
    assert low == high == 1.0
    with pytest.raises(ComparisonError, match="n_resamples"):
        compare_methods({"a": _table(np.array([1.0]), ["x"])}, n_resamples=10)
