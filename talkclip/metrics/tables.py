"""The paper's Table 1 (MEAD / HDTF columns) and Table 2 (ablations) from measured results.

Rows always carry a ``source`` label: the paper's numbers (`talkclip/data/paper_reported.csv`, copied from
Tables 1 and 2 of the paper) are labelled "paper-reported (MEAD)" / "paper-reported (HDTF)", our rows
"measured (embedded corpus, <SyncNet weights>)". The two groups are printed one after the other, never
interleaved, and each table carries notes naming the SyncNet weights of the Sync_conf column, the crop
size of the LMD columns and the landmark source. Outputs: Markdown, LaTeX and CSV (`write_table`, atomic).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from talkclip.atomic import atomic_path, write_text

PAPER_REPORTED_PATH = Path(__file__).resolve().parents[1] / "data" / "paper_reported.csv"
TABLE_METRICS = ("ssim", "cpbd", "f_lmd", "m_lmd", "sync_conf")
# Table 2's style columns (measured only: the paper assessed style in a user study): the style classifier's
# accuracy on the text-driven test generations and on the out-of-domain descriptions.
STYLE_METRICS = ("style_accuracy", "ood_accuracy")
METRIC_HEADERS = {"ssim": "SSIM↑", "cpbd": "CPBD↑", "f_lmd": "F-LMD↓", "m_lmd": "M-LMD↓", "sync_conf": "Sync_conf↑",
                  "style_accuracy": "Style acc.↑", "ood_accuracy": "OOD acc.↑"}
LATEX_HEADERS = {
    "ssim": r"SSIM$\uparrow$", "cpbd": r"CPBD$\uparrow$", "f_lmd": r"F-LMD$\downarrow$",
    "m_lmd": r"M-LMD$\downarrow$", "sync_conf": r"Sync$_{conf}\uparrow$",
    "style_accuracy": r"Style acc.$\uparrow$", "ood_accuracy": r"OOD acc.$\uparrow$",
}
DATASETS = ("MEAD", "HDTF")


class TableError(ValueError):
    """Bad input to a table builder (unknown dataset, unlabelled rows, bad paper file)."""


def measured_label(weights: str, corpus: str = "embedded corpus") -> str:
    return f"measured ({corpus}, {weights})"


def load_paper_reported(path: str | Path = PAPER_REPORTED_PATH) -> pd.DataFrame:
    """The paper's Table 1 / Table 2 rows, every one labelled in its ``source`` column."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"paper-reported numbers not found: {path}")
    frame = pd.read_csv(path)
    needed = {"table", "method", "dataset", "source", *TABLE_METRICS}
    if needed - set(frame.columns):
        raise TableError(f"{path}: missing columns {sorted(needed - set(frame.columns))}")
    unlabelled = frame[~frame["source"].astype(str).str.startswith("paper-reported (")]
    if len(unlabelled):
        raise TableError(f"{path}: rows without a 'paper-reported (...)' source: {unlabelled['method'].tolist()}")
    return frame


@dataclass
class Table:
    title: str
    frame: pd.DataFrame  # columns: source, method, then metric columns
    metric_columns: list[str]
    notes: list[str] = field(default_factory=list)


def _value(metrics: Mapping[str, float] | None, key: str) -> float:
    if not metrics or key not in metrics or metrics[key] is None:
        return math.nan
    return float(metrics[key])


def _notes(syncnet_weights: str, crop_size: int, landmark_source: str) -> list[str]:
    return [
        (f"Sync_conf of measured rows: SyncNet weights `{syncnet_weights}`; paper-reported rows used the official "
        "syncnet_v2 weights. Numbers from different weights are not comparable."),
        (f"F-LMD / M-LMD of measured rows: pixels of a {crop_size}x{crop_size} evaluation crop, landmark source "
        f"`{landmark_source}` (evaluation/PROTOCOL.md); the paper does not state its crop size."),
        ("Measured rows come from the embedded (synthetic) corpus, paper-reported rows from real MEAD/HDTF: "
        "compare rankings within a group, not values across groups."),
    ]


def table1(
    measured: Mapping[str, Mapping[str, Mapping[str, float]]],
    syncnet_weights: str,
    paper: pd.DataFrame | None = None,
    crop_size: int = 256,
    landmark_source: str = "given",
) -> Table:
    """Table 1: ``measured[method][dataset][metric]`` (dataset "MEAD" / "HDTF") beside the paper's rows."""
    paper = load_paper_reported() if paper is None else paper
    columns = [f"{d} {m}" for d in DATASETS for m in TABLE_METRICS]
    rows = []
    paper1 = paper[paper["table"] == 1]
    for method in dict.fromkeys(paper1["method"]):  # paper order
        row = {"source": "paper-reported (MEAD) / paper-reported (HDTF)", "method": method}
        for dataset in DATASETS:
            match = paper1[(paper1["method"] == method) & (paper1["dataset"] == dataset)]
            for metric in TABLE_METRICS:
                row[f"{dataset} {metric}"] = float(match[metric].iloc[0]) if len(match) else math.nan
        rows.append(row)
    label = measured_label(syncnet_weights)
    for method, by_dataset in measured.items():
        unknown = set(by_dataset) - set(DATASETS)
        if unknown:
            raise TableError(f"table1: method {method!r} has unknown dataset(s) {sorted(unknown)}; expected {DATASETS}")
        row = {"source": label, "method": method}
        for dataset in DATASETS:
            for metric in TABLE_METRICS:
                row[f"{dataset} {metric}"] = _value(by_dataset.get(dataset), metric)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["source", "method", *columns])
    return Table("Table 1: quantitative results on MEAD-format and HDTF-format test sets", frame, columns,
                 _notes(syncnet_weights, crop_size, landmark_source))


def table2(
    measured: Mapping[str, Mapping[str, float]],
    syncnet_weights: str,
    paper: pd.DataFrame | None = None,
    crop_size: int = 256,
    landmark_source: str = "given",
) -> Table:
    """Table 2 (ablations on MEAD): ``measured[variant][metric]`` beside the paper's ablation rows, with the
    style columns (STYLE_METRICS) that only the measured rows have."""
    paper = load_paper_reported() if paper is None else paper
    columns = [*TABLE_METRICS, *STYLE_METRICS]
    rows = []
    for _, paper_row in paper[paper["table"] == 2].iterrows():
        rows.append({"source": paper_row["source"], "method": paper_row["method"],
                     **{m: float(paper_row[m]) for m in TABLE_METRICS}, **{m: math.nan for m in STYLE_METRICS}})
    label = measured_label(syncnet_weights)
    for variant, metrics in measured.items():
        rows.append({"source": label, "method": variant, **{m: _value(metrics, m) for m in columns}})
    frame = pd.DataFrame(rows, columns=["source", "method", *columns])
    notes = _notes(syncnet_weights, crop_size, landmark_source) + [
        ("Style acc.: the style classifier (trained on ground-truth training clips, 8 emotions, chance 0.125) on "
        "the text-driven generations of the test clips; OOD acc.: the same on the out-of-domain descriptions "
        "(talkclip/data/ood_descriptions.tsv). The paper has no such columns (it ran a user study).")]
    return Table("Table 2: ablation study (MEAD format)", frame, columns, notes)


# ----------------------------------------------------------------------------------------------------
# Rendering


def _format(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _header(column: str, latex: bool) -> str:
    dataset, _, metric = column.rpartition(" ")
    names = LATEX_HEADERS if latex else METRIC_HEADERS
    return f"{dataset} {names[metric]}".strip()


def _check_labelled(table: Table) -> None:
    sources = table.frame["source"].astype(str)
    bad = table.frame[~(sources.str.startswith("paper-reported (") | sources.str.startswith("measured ("))]
    if len(bad):
        raise TableError(f"{table.title}: rows without a paper-reported/measured label: {bad['method'].tolist()}")


def to_markdown(table: Table) -> str:
    _check_labelled(table)
    header = ["Source", "Method", *[_header(c, latex=False) for c in table.metric_columns]]
    lines = [f"**{table.title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.frame.iterrows():
        cells = [str(row["source"]), str(row["method"]), *[_format(row[c]) for c in table.metric_columns]]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.extend(f"- {note}" for note in table.notes)
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for char in ("\\", "&", "%", "#", "_", "$"):
        text = text.replace(char, "\\" + char)
    return text


def to_latex(table: Table) -> str:
    _check_labelled(table)
    n_metrics = len(table.metric_columns)
    lines = [
        r"\begin{table}[t]", r"\centering", r"\small",
        rf"\caption{{{_latex_escape(table.title)}}}",
        r"\begin{tabular}{ll" + "c" * n_metrics + "}", r"\toprule",
        " & ".join(["Source", "Method", *[_header(c, latex=True) for c in table.metric_columns]]) + r" \\",
        r"\midrule",
    ]
    previous_group = None
    for _, row in table.frame.iterrows():
        group = str(row["source"]).split(" (")[0]  # paper-reported | measured
        if previous_group is not None and group != previous_group:
            lines.append(r"\midrule")
        previous_group = group
        cells = [_latex_escape(str(row["source"])), _latex_escape(str(row["method"])),
                 *[_format(row[c]) for c in table.metric_columns]]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [r"\par\footnotesize " + _latex_escape(note.replace("`", "")) for note in table.notes]
    lines += [r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_table(table: Table, out_stem: str | Path) -> dict[str, Path]:
    """Write ``{out_stem}.md``, ``.tex`` and ``.csv`` atomically; returns the paths by format."""
    out_stem = Path(out_stem)
    paths = {fmt: out_stem.with_name(f"{out_stem.name}.{fmt}") for fmt in ("md", "tex", "csv")}
    write_text(paths["md"], to_markdown(table))
    write_text(paths["tex"], to_latex(table))
    _check_labelled(table)
    with atomic_path(paths["csv"]) as tmp:
        table.frame.to_csv(tmp, index=False)
    return paths
