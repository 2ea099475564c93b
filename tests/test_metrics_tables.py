"""Tables 1 / 2 keep paper-reported and measured rows labelled; plots are written atomically."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from talkclip.metrics import plots
from talkclip.metrics.tables import TableError, load_paper_reported, table1, table2, to_markdown, write_table

MEASURED = {"ssim": 0.91, "cpbd": 0.2, "f_lmd": 1.5, "m_lmd": 2.0, "sync_conf": 3.1}


def test_paper_file_matches_the_paper():
    paper = load_paper_reported()
    ours = paper[(paper["table"] == 1) & (paper["method"] == "Ours")].set_index("dataset")
    assert ours.loc["MEAD", "ssim"] == 0.829 and ours.loc["HDTF", "sync_conf"] == 4.689
    assert len(paper[paper["table"] == 2]) == 5 and set(paper["source"]) == {
        "paper-reported (MEAD)", "paper-reported (HDTF)"}


def test_tables_are_labelled_and_written(tmp_path):
    t1 = table1({"Ours": {"MEAD": MEASURED, "HDTF": MEASURED}, "Ground Truth": {"MEAD": {"ssim": 1.0}}},
                syncnet_weights="syncnet_embedded.pt")
    t2 = table2({"Full": MEASURED, "SimAnno": MEASURED}, syncnet_weights="syncnet_embedded.pt")
    for table in (t1, t2):
        sources = table.frame["source"]
        assert sources.str.startswith("paper-reported (").any()
        assert (sources == "measured (embedded corpus, syncnet_embedded.pt)").sum() == 2
        assert (sources.str.startswith("paper-reported (") | sources.str.startswith("measured (")).all()
        markdown = to_markdown(table)
        assert "syncnet_embedded.pt" in markdown and "paper-reported (MEAD)" in markdown
        for line in markdown.splitlines():
            if line.startswith("| ") and "Source" not in line:
                assert line.startswith(("| paper-reported (", "| measured ("))
    paths = write_table(t1, tmp_path / "table1")
    assert set(paths) == {"md", "tex", "csv"} and r"\toprule" in paths["tex"].read_text()
    csv = pd.read_csv(paths["csv"])
    assert csv.loc[csv["method"] == "Ground Truth"].iloc[-1]["MEAD ssim"] == 1.0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    with pytest.raises(TableError, match="unknown dataset"):
        table1({"Ours": {"VoxCeleb": MEASURED}}, syncnet_weights="w.pt")
    t2.frame.loc[0, "source"] = "Full"  # an unlabelled row must never be printed
    with pytest.raises(TableError, match="without a paper-reported/measured label"):
        to_markdown(t2)


def test_plots_write_pngs(tmp_path):
    bars = plots.plot_metric_bars({"Full": MEASURED, "SimAnno": {**MEASURED, "sync_conf": None}}, tmp_path / "bars.png")
    confusion = pd.DataFrame([[3, 1], [0, 4]], index=["happy", "sad"], columns=["happy", "sad"])
    conf = plots.plot_confusion(confusion, tmp_path / "confusion.png")
    ood = plots.plot_ood_accuracy({"happy": 0.5, "sad": 1.0}, tmp_path / "ood.png", overall=0.75)
    video = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    strip = plots.plot_frame_strip([video], [video[::-1]], tmp_path / "strip.png", names=["clip"], n_frames=4)
    for path in (bars, conf, ood, strip):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars.png", "confusion.png", "ood.png", "strip.png"]
