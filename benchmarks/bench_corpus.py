"""Corpus generation speed and memory: clips/s, video frames/s, peak RSS, for the CI and default sizes.

Run: python benchmarks/bench_corpus.py [--sizes ci default]
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
from talkclip.config.profiles import load_profile
from talkclip.corpus.generator import generate_corpus

ROOT = Path(__file__).resolve().parents[1]
# The CI size is the corpus part of profiles/ci.yaml; the default is params.yaml itself.
SIZES = {
    "ci": load_profile(ROOT / "profiles" / "ci.yaml").get("corpus", {}),
    "default": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    args = parser.parse_args()
    base = load_section(ROOT / "params.yaml", "corpus", CorpusConfig)
    rows = []
    for size in args.sizes:
        cfg = dataclasses.replace(base, **SIZES[size])
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            metrics = generate_corpus(cfg, Path(tmp) / "corpus", progress=False)
            seconds = time.perf_counter() - start
        parent_mb, child_mb = peak_rss_mb()
        rows.append([
            size, metrics["clips"], metrics["video_frames"], round(metrics["audio_seconds"], 1), seconds,
            metrics["clips"] / seconds, metrics["video_frames"] / seconds, parent_mb, child_mb,
        ])
    print_table(
        "Embedded corpus generation",
        ["size", "clips", "frames", "audio s", "wall s", "clips/s", "frames/s", "peak MB main", "peak MB worker"],
        rows,
    )


if __name__ == "__main__":
    main()
