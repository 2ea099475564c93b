"""Comparing methods scored on the same videos: bootstrap confidence intervals and paired tests.

Input: one per-video table per method (the evaluator's ``per_video.csv``), rows keyed by ``name``.
Protocol (evaluation/PROTOCOL.md, "Comparing methods"):

- **Cell** (method x metric): the mean over that method's scored videos, with a 95% percentile
  bootstrap interval: ``n_resamples`` (default 2000) resamples of the videos with replacement, drawn
  with ``numpy.random.default_rng(seed)`` (default seed 0), the 2.5th and 97.5th percentiles of the
  resampled means. Videos are the unit: frames of one video are not independent.
- **Paired test** (every pair of methods, every metric): on the videos both methods scored, the
  per-video differences ``a - b``; the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, two-sided;
  p = 1 when every difference is 0), a paired bootstrap interval of the mean difference (the same
  resampling of videos for both methods), and Holm's correction of the Wilcoxon p-values over the
  method pairs of each metric.

Outputs (`write_comparison`): ``comparison.md`` / ``.tex`` / ``.csv`` (Table 1 style: a row per method,
a column per metric, ``mean [low, high]``), ``comparison_paired.csv``, ``comparison.json`` and
``comparison.png`` (bars with interval whiskers).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from talkclip.atomic import atomic_path, write_text

COMPARED_METRICS = ("ssim", "psnr", "cpbd", "f_lmd", "m_lmd", "sync_conf", "lse_d", "csim", "lpips",
                    "emotion_accuracy", "au_precision", "au_recall", "au_f1")
LOWER_IS_BETTER = {"f_lmd", "m_lmd", "lse_d", "lpips", "fid", "fvd"}
HEADERS = {"ssim": "SSIM", "psnr": "PSNR", "cpbd": "CPBD", "f_lmd": "F-LMD", "m_lmd": "M-LMD",
           "sync_conf": "Sync_conf (LSE-C)", "lse_d": "LSE-D", "csim": "CSIM", "lpips": "LPIPS",
           "emotion_accuracy": "Emo-Acc", "au_precision": "AU-P", "au_recall": "AU-R", "au_f1": "AU-F1",
           "fid": "FID", "fvd": "FVD"}
DEFAULT_RESAMPLES = 2000


class ComparisonError(ValueError):
    """Per-video tables that cannot be compared."""


@dataclass
class Comparison:
    cells: pd.DataFrame  # method, metric, n, mean, low, high
    paired: pd.DataFrame  # metric, method_a, method_b, n, mean_diff, diff_low, diff_high, p_wilcoxon, p_holm
    methods: list[str]
    metrics: list[str]
    n_resamples: int
    seed: int
    confidence: float

    def cell(self, method: str, metric: str) -> pd.Series:
        match = self.cells[(self.cells["method"] == method) & (self.cells["metric"] == metric)]
        return match.iloc[0]

    def to_text(self) -> str:
        """Markdown table (what the command line prints)."""
        return to_markdown(self)


def _ok_values(table: pd.DataFrame, metric: str) -> pd.Series:
    if metric not in table:
        return pd.Series(dtype=float)
    ok = table[(table["status"] == "ok")] if "status" in table else table
    values = pd.to_numeric(ok.set_index("name")[metric], errors="coerce")
    return values[np.isfinite(values)]


def bootstrap_mean_interval(values: np.ndarray, rng: np.random.Generator, n_resamples: int,
                            confidence: float) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampled with replacement)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return math.nan, math.nan
    index = rng.integers(0, len(values), size=(n_resamples, len(values)))
    means = values[index].mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN)."""
    p = np.asarray(p_values, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(p))
    adjusted = np.full(len(p), np.nan)
    order = finite[np.argsort(p[finite])]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def _wilcoxon(differences: np.ndarray) -> float:
    if len(differences) == 0:
        return math.nan
    if np.all(differences == 0):
        return 1.0
    return float(stats.wilcoxon(differences, zero_method="wilcox", alternative="two-sided").pvalue)


def compare_methods(
    per_video: Mapping[str, pd.DataFrame],
    metrics: Sequence[str] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> Comparison:
    """Cells with bootstrap intervals and paired tests for every metric present in any table."""
    if len(per_video) < 1:
        raise ComparisonError("no method to compare")
    if n_resamples < 100:
        raise ComparisonError(f"n_resamples must be >= 100, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ComparisonError(f"confidence must be in (0, 1), got {confidence}")
    for method, table in per_video.items():
        if "name" not in table:
            raise ComparisonError(f"per-video table of {method!r} has no 'name' column")
    methods = list(per_video)
    metrics = [m for m in (metrics or COMPARED_METRICS) if any(len(_ok_values(t, m)) for t in per_video.values())]
    rng = np.random.default_rng(seed)
    cells = []
    for method in methods:
        for metric in metrics:
            values = _ok_values(per_video[method], metric).to_numpy()
            low, high = bootstrap_mean_interval(values, rng, n_resamples, confidence)
            cells.append({"method": method, "metric": metric, "n": len(values),
                          "mean": float(values.mean()) if len(values) else math.nan, "low": low, "high": high})
    paired = []
    for metric in metrics:
        rows = []
        for method_a, method_b in itertools.combinations(methods, 2):
            a, b = _ok_values(per_video[method_a], metric), _ok_values(per_video[method_b], metric)
            common = sorted(set(a.index) & set(b.index))
            differences = (a.loc[common] - b.loc[common]).to_numpy(dtype=np.float64)
            low, high = bootstrap_mean_interval(differences, rng, n_resamples, confidence)
            rows.append({"metric": metric, "method_a": method_a, "method_b": method_b, "n": len(common),
                         "mean_diff": float(differences.mean()) if len(common) else math.nan,
                         "diff_low": low, "diff_high": high, "p_wilcoxon": _wilcoxon(differences)})
        for row, adjusted in zip(rows, holm([r["p_wilcoxon"] for r in rows])):
            row["p_holm"] = adjusted
        paired += rows
    return Comparison(pd.DataFrame(cells), pd.DataFrame(paired, columns=[
        "metric", "method_a", "method_b", "n", "mean_diff", "diff_low", "diff_high", "p_wilcoxon", "p_holm"]),
        methods, metrics, n_resamples, seed, confidence)


# ----------------------------------------------------------------------------------------------------
# Rendering


def _header(metric: str) -> str:
    arrow = "↓" if metric in LOWER_IS_BETTER else "↑"
    return f"{HEADERS.get(metric, metric)}{arrow}"


def _cell_text(row: pd.Series) -> str:
    if not np.isfinite(row["mean"]):
        return "–"
    if not np.isfinite(row["low"]):
        return f"{row['mean']:.3f}"
    return f"{row['mean']:.3f} [{row['low']:.3f}, {row['high']:.3f}]"


def _wide(comparison: Comparison, set_metrics: Mapping[str, Mapping[str, float]] | None) -> tuple[list[str], list[list[str]]]:
    extra = sorted({k for values in (set_metrics or {}).values() for k in values})
    header = ["Method", *[_header(m) for m in comparison.metrics], *[_header(m) for m in extra]]
    rows = []
    for method in comparison.methods:
        cells = [_cell_text(comparison.cell(method, metric)) for metric in comparison.metrics]
        cells += [f"{(set_metrics or {}).get(method, {}).get(m, math.nan):.3f}" for m in extra]
        rows.append([method, *cells])
    return header, rows


def _notes(comparison: Comparison) -> list[str]:
    level = round(comparison.confidence * 100)
    return [(f"Cells: mean over videos [{level}% percentile bootstrap interval, {comparison.n_resamples} resamples "
             f"of the videos, seed {comparison.seed}] (evaluation/PROTOCOL.md)."),
            ("Paired tests between methods (Wilcoxon signed-rank on the same videos, Holm-corrected per metric): "
             "comparison_paired.csv.")]


def to_markdown(comparison: Comparison, set_metrics: Mapping[str, Mapping[str, float]] | None = None) -> str:
    header, rows = _wide(comparison, set_metrics)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += [""] + [f"- {note}" for note in _notes(comparison)]
    significant = comparison.paired[comparison.paired["p_holm"] < 0.05]
    for _, row in significant.iterrows():
        lines.append(f"- {HEADERS.get(row['metric'], row['metric'])}: {row['method_a']} - {row['method_b']} = "
                     f"{row['mean_diff']:.3f} [{row['diff_low']:.3f}, {row['diff_high']:.3f}], "
                     f"p (Holm) = {row['p_holm']:.3g}, n = {row['n']}")
    return "\n".join(lines) + "\n"


def to_latex(comparison: Comparison, set_metrics: Mapping[str, Mapping[str, float]] | None = None) -> str:
    from talkclip.metrics.tables import _latex_escape

    header, rows = _wide(comparison, set_metrics)
    header = [h.replace("↑", r"$\uparrow$").replace("↓", r"$\downarrow$") for h in header]
    lines = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}",
             r"\toprule", " & ".join(_latex_escape(h) if "$" not in h else h.replace("_", r"\_") for h in header)
             + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_escape(c) for c in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [r"\par\footnotesize " + _latex_escape(note) for note in _notes(comparison)]
    lines += [r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_comparison(comparison: Comparison, out_stem: str | Path,
                     summaries: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Path]:
    """``{stem}.md/.tex/.csv/.json/.png`` and ``{stem}_paired.csv``, each written atomically."""
    from talkclip.metrics.plots import plot_metric_bars

    out_stem = Path(out_stem)
    set_metrics = {m: {k: v for k, v in s.get("metrics", {}).items() if k in ("fid", "fvd")}
                   for m, s in (summaries or {}).items()}
    paths = {fmt: out_stem.with_name(f"{out_stem.name}.{fmt}") for fmt in ("md", "tex", "csv", "json", "png")}
    paths["paired"] = out_stem.with_name(f"{out_stem.name}_paired.csv")
    write_text(paths["md"], to_markdown(comparison, set_metrics))
    write_text(paths["tex"], to_latex(comparison, set_metrics))
    with atomic_path(paths["csv"]) as tmp:
        comparison.cells.to_csv(tmp, index=False)
    with atomic_path(paths["paired"]) as tmp:
        comparison.paired.to_csv(tmp, index=False)
    record = {"n_resamples": comparison.n_resamples, "seed": comparison.seed, "confidence": comparison.confidence,
              "methods": comparison.methods, "metrics": comparison.metrics, "set_metrics": set_metrics,
              "cells": comparison.cells.to_dict(orient="records"), "paired": comparison.paired.to_dict(orient="records")}
    write_text(paths["json"], json.dumps(record, indent=2, default=float, allow_nan=True) + "\n")
    means = {m: {c: comparison.cell(m, c)["mean"] for c in comparison.metrics} for m in comparison.methods}
    intervals = {m: {c: (comparison.cell(m, c)["low"], comparison.cell(m, c)["high"]) for c in comparison.metrics}
                 for m in comparison.methods}
    plot_metric_bars(means, paths["png"], title=f"Methods ({round(comparison.confidence * 100)}% bootstrap intervals)",
                     metrics=comparison.metrics, intervals=intervals)
    return paths
