"""PNG figures of the evaluation (matplotlib, Agg backend; every file written atomically).

- `plot_metric_bars`: one panel per metric, one bar per variant (Table 1 / Table 2 at a glance).
- `plot_confusion`: the style classifier's confusion matrix (intended x predicted emotion).
- `plot_ood_accuracy`: out-of-domain text accuracy per intended emotion.
- `plot_frame_strip`: generated vs ground-truth frames of a few clips, side by side.
- `plot_learning_curves`: the style the model expresses on the validation split against training steps.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from talkclip.atomic import atomic_path

METRIC_TITLES = {"ssim": "SSIM ↑", "cpbd": "CPBD ↑", "f_lmd": "F-LMD ↓", "m_lmd": "M-LMD ↓",
                 "sync_conf": "Sync_conf ↑", "lse_d": "LSE-D ↓", "style_accuracy": "style accuracy ↑",
                 "ood_accuracy": "OOD accuracy ↑", "psnr": "PSNR ↑", "csim": "CSIM ↑",
                 "lpips": "LPIPS ↓", "emotion_accuracy": "Emo-Acc ↑", "au_precision": "AU-P ↑",
                 "au_recall": "AU-R ↑", "au_f1": "AU-F1 ↑"}
CURVE_METRICS = {"offset_gain": "style offset gain (1 = real)", "video_style_accuracy": "video-driven style accuracy",
                 "text_style_accuracy": "text-driven style accuracy", "ood_accuracy": "OOD text accuracy"}


def _save(figure: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def plot_metric_bars(results: Mapping[str, Mapping[str, float]], path: str | Path, title: str = "",
                     metrics: Sequence[str] = ("ssim", "cpbd", "f_lmd", "m_lmd", "sync_conf"),
                     intervals: Mapping[str, Mapping[str, tuple[float, float]]] | None = None) -> Path:
    """``results[variant][metric]`` -> one bar chart per metric (missing values left empty); with
    ``intervals[variant][metric] = (low, high)`` each bar gets a whisker over its interval."""
    if not results:
        raise ValueError("plot_metric_bars: no variants to plot")
    variants = list(results)
    figure, axes = plt.subplots(1, len(metrics), figsize=(2.6 * len(metrics), 3.2), squeeze=False)
    colours = plt.cm.tab10(np.arange(len(variants)) % 10)
    for axis, metric in zip(axes[0], metrics):
        values = [float(results[v].get(metric, np.nan)) if results[v].get(metric) is not None else np.nan
                  for v in variants]
        axis.bar(np.arange(len(variants)), np.nan_to_num(values, nan=0.0), color=colours)
        if intervals is not None:
            bounds = np.array([intervals.get(v, {}).get(metric, (np.nan, np.nan)) for v in variants], dtype=float)
            centre = np.nan_to_num(values, nan=0.0)
            errors = np.nan_to_num(np.stack([centre - bounds[:, 0], bounds[:, 1] - centre]), nan=0.0).clip(min=0)
            axis.errorbar(np.arange(len(variants)), centre, yerr=errors, fmt="none", ecolor="black", capsize=3, lw=1)
        for x, value in enumerate(values):
            axis.text(x, 0 if np.isnan(value) else value, "n/a" if np.isnan(value) else f"{value:.3f}",
                      ha="center", va="bottom", fontsize=7)
        axis.set_title(METRIC_TITLES.get(metric, metric), fontsize=9)
        axis.set_xticks(np.arange(len(variants)), variants, rotation=45, ha="right", fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def plot_confusion(confusion: pd.DataFrame, path: str | Path, title: str = "Style classifier confusion") -> Path:
    """Row-normalised confusion matrix (rows: intended emotion), counts written in the cells."""
    counts = confusion.to_numpy(dtype=float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure, axis = plt.subplots(figsize=(1 + 0.6 * counts.shape[1], 1 + 0.55 * counts.shape[0]))
    image = axis.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(counts):
        axis.text(j, i, f"{int(count)}", ha="center", va="center", fontsize=8,
                  color="white" if rates[i, j] > 0.5 else "black")
    axis.set_xticks(range(counts.shape[1]), [str(c) for c in confusion.columns], rotation=45, ha="right", fontsize=8)
    axis.set_yticks(range(counts.shape[0]), [str(r) for r in confusion.index], fontsize=8)
    axis.set_xlabel("predicted")
    axis.set_ylabel("intended")
    axis.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axis, fraction=0.046, label="share of intended")
    return _save(figure, path)


def plot_ood_accuracy(per_emotion: Mapping[str, float], path: str | Path, overall: float | None = None,
                      title: str = "Out-of-domain text: style accuracy") -> Path:
    if not per_emotion:
        raise ValueError("plot_ood_accuracy: no emotions")
    emotions = list(per_emotion)
    values = [per_emotion[e] for e in emotions]
    figure, axis = plt.subplots(figsize=(1.2 + 0.7 * len(emotions), 3.2))
    axis.bar(range(len(emotions)), values, color="tab:purple")
    axis.set_xticks(range(len(emotions)), emotions, rotation=45, ha="right")
    axis.set_ylim(0, 1)
    axis.set_ylabel("accuracy")
    if overall is not None:
        axis.axhline(overall, color="black", linestyle="--", linewidth=1, label=f"overall {overall:.2f}")
        axis.legend(fontsize=8)
    axis.set_title(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def plot_frame_strip(generated: Sequence[np.ndarray], reference: Sequence[np.ndarray], path: str | Path,
                     names: Sequence[str] | None = None, n_frames: int = 6) -> Path:
    """For each clip, ``n_frames`` evenly spaced frames: generated row above ground-truth row."""
    if len(generated) != len(reference) or not generated:
        raise ValueError(f"plot_frame_strip: {len(generated)} generated vs {len(reference)} reference clips")
    names = list(names) if names is not None else [f"clip {i}" for i in range(len(generated))]
    figure, axes = plt.subplots(2 * len(generated), n_frames, figsize=(1.4 * n_frames, 1.5 * 2 * len(generated)),
                                squeeze=False)
    for c, (gen, ref) in enumerate(zip(generated, reference)):
        length = min(len(gen), len(ref))
        picks = np.linspace(0, length - 1, n_frames).round().astype(int)
        for row, (video, label) in enumerate(((gen, "generated"), (ref, "ground truth"))):
            for k, frame_index in enumerate(picks):
                axis = axes[2 * c + row, k]
                axis.imshow(video[frame_index])
                axis.set_xticks([])
                axis.set_yticks([])
                if k == 0:
                    # clip ids (M009_front_angry_level3_001) are wider than a row is tall: wrap them at "_"
                    wrapped = textwrap.fill(names[c].replace("_", " "), width=16)
                    axis.set_ylabel(f"{wrapped}\n{label}", fontsize=6)
                if c == 0 and row == 0:
                    axis.set_title(f"frame {frame_index}", fontsize=7)
    figure.tight_layout()
    return _save(figure, path)


def plot_learning_curves(curves: pd.DataFrame, path: str | Path, title: str = "",
                         chance: float | None = None) -> Path:
    """``curves`` rows (stage, step, metric columns of CURVE_METRICS) -> one panel per metric against the
    global step; a dotted line marks where stage 2 begins, a grey one the chance level of accuracies."""
    missing = {"stage", "step"} - set(curves.columns)
    if missing or curves.empty:
        raise ValueError(f"plot_learning_curves: need rows with columns stage, step and metrics (missing {missing})")
    metrics = [m for m in CURVE_METRICS if m in curves.columns and curves[m].notna().any()]
    figure, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.0), squeeze=False)
    stage2 = curves.loc[curves["stage"] == "stage2", "step"]
    boundary = curves.loc[curves["stage"] == "stage1", "step"].max() if len(stage2) else None
    for axis, metric in zip(axes[0], metrics):
        rows = curves[curves[metric].notna()].sort_values("step")
        axis.plot(rows["step"], rows[metric], marker="o", markersize=3)
        if metric == "offset_gain":
            axis.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        elif chance is not None:
            axis.axhline(chance, color="grey", linewidth=0.8, label="chance")
        if boundary is not None and not np.isnan(boundary):
            axis.axvline(boundary, color="black", linestyle=":", linewidth=0.8)
        axis.set_title(CURVE_METRICS[metric], fontsize=9)
        axis.set_xlabel("training step", fontsize=8)
        axis.set_ylim(0, 1.25 if metric == "offset_gain" else 1.0)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def plot_note(path: str | Path, text: str) -> Path:
    """A small figure holding only ``text``: where a plot has nothing to show, the file still says why."""
    figure, axis = plt.subplots(figsize=(6, 1.2))
    axis.axis("off")
    axis.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, wrap=True)
    return _save(figure, path)
