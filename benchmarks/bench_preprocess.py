"""Preprocessing speed and memory on a generated corpus: clips/s, output frames/s, alignment time share.

Run: python benchmarks/bench_preprocess.py [--speakers 2]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import peak_rss_mb, print_table

from talkclip.config.corpus import CorpusConfig
from talkclip.config.loader import load_section
from talkclip.config.preprocess import PreprocessConfig
from talkclip.corpus.generator import generate_corpus
from talkclip.preprocess.stage import plan_corpus, run_preprocess

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speakers", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    corpus_cfg = dataclasses.replace(
        load_section(ROOT / "params.yaml", "corpus", CorpusConfig),
        n_speakers=args.speakers, n_test_speakers=1, hdtf_speakers=1, hdtf_clips_per_speaker=1,
    )
    base = load_section(ROOT / "params.yaml", "preprocess", PreprocessConfig)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        generate_corpus(corpus_cfg, Path(tmp) / "corpus", progress=False)
        for workers in args.workers:
            cfg = dataclasses.replace(base, workers=workers)
            tasks, skips = plan_corpus(Path(tmp) / "corpus", cfg)
            start = time.perf_counter()
            metrics = run_preprocess(tasks, Path(tmp) / f"processed{workers}", cfg, skips=skips, progress=False)
            seconds = time.perf_counter() - start
            import pandas as pd

            frames = int(pd.read_csv(Path(tmp) / f"processed{workers}" / "manifest.csv")["frames"].sum())
            parent_mb, child_mb = peak_rss_mb()
            rows.append([
                workers, metrics["clips"], frames, seconds, metrics["clips"] / seconds, frames / seconds,
                metrics.get("frame_agreement_mean", float("nan")), metrics["alignment_fallbacks"], parent_mb, child_mb,
            ])
    print_table(
        "Preprocessing (alignment + coefficient resampling)",
        ["workers", "clips", "frames", "wall s", "clips/s", "frames/s", "agreement", "fallbacks", "peak MB main", "peak MB worker"],
        rows,
    )


if __name__ == "__main__":
    main()
