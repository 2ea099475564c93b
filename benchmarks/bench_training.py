"""Training throughput (windows/s) and inference speed (frames/s, real-time factor at 25 fps), CPU.

Configs: the CI and default profiles (profiles/ci.yaml over params.yaml). Data: an
existing processed dataset + annotations (--processed/--annotated), else a small generated corpus.
Run: OMP_NUM_THREADS=1 python benchmarks/bench_training.py [--steps 30] [--threads 1]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import peak_rss_mb, print_table

from talkclip.config.loader import (
    build,
    read_yaml,
    to_dict,
)
from talkclip.config.model import ModelConfig
from talkclip.config.profiles import apply_profile
from talkclip.config.train import SyncPretrainConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "profiles"
FPS = 25.0


def profile_configs(name: str) -> tuple[ModelConfig, TrainConfig, SyncPretrainConfig]:
    """Default profile, with the named override file's keys on top (``default`` = no override)."""
    base = read_yaml(ROOT / "params.yaml")
    if name != "default":
        base = apply_profile(ROOT / "params.yaml", PROFILES / f"{name}.yaml")
    return (build(ModelConfig, base["model"], "model"), build(TrainConfig, base["train"], "train"),
            build(SyncPretrainConfig, base["sync"], "sync"))


def small_dataset(root: Path) -> tuple[Path, Path]:
    from talkclip.annotation.stage import run_annotation
    from talkclip.config.annotate import AnnotateConfig
    from talkclip.config.corpus import CorpusConfig
    from talkclip.config.preprocess import PreprocessConfig
    from talkclip.corpus.generator import generate_corpus
    from talkclip.preprocess.stage import plan_corpus, run_preprocess

    generate_corpus(CorpusConfig(n_speakers=3, n_test_speakers=1, emotions=["angry", "happy", "sad", "surprised"],
                                 hdtf_speakers=0, hdtf_clips_per_speaker=0), root / "corpus", progress=False)
    tasks, skips = plan_corpus(root / "corpus", PreprocessConfig())
    run_preprocess(tasks, root / "processed", PreprocessConfig(), skips=skips, progress=False)
    run_annotation(root / "processed", root / "annotated", AnnotateConfig())
    return root / "processed", root / "annotated"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processed", type=Path, default=ROOT / "data" / "processed")
    parser.add_argument("--annotated", type=Path, default=ROOT / "data" / "annotated")
    parser.add_argument("--profiles", nargs="+", default=["ci", "default"])
    parser.add_argument("--steps", type=int, default=30, help="training steps timed per profile")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--frames", type=int, default=2000, help="phoneme frames generated for inference timing")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from talkclip.inference import generate_coefficients, load_model
    from talkclip.model.talkclip_model import parameter_counts
    from talkclip.model.text_backbone import load_text_backbone
    from talkclip.training.data import ClipStore
    from talkclip.training.sync_pretrain import pretrain_sync
    from talkclip.training.trainer import train

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        processed, annotated = args.processed, args.annotated
        if not (processed / "manifest.csv").is_file() or not (annotated / "descriptions.csv").is_file():
            print(f"no dataset at {processed}; generating a small corpus", flush=True)
            processed, annotated = small_dataset(tmp / "data")
        backbone = load_text_backbone(ModelConfig())
        style_clip = ClipStore.load(processed, "test", 1).clips[0].expression
        phonemes = np.random.default_rng(0).integers(0, 41, size=args.frames)
        for name in args.profiles:
            model_cfg, train_cfg, sync_cfg = profile_configs(name)
            # Timing only: a few D_sync steps so L_sync runs at its real cost.
            sync_cfg = build(SyncPretrainConfig, {**to_dict(sync_cfg), "steps": 5, "eval_windows": 16, "device": "cpu"}, "sync")
            sync = pretrain_sync(model_cfg, sync_cfg, processed, tmp / name / "sync.pt")
            half = max(args.steps // 2, 1)
            train_cfg = build(TrainConfig, {**to_dict(train_cfg), "device": "cpu", "stage1_steps": half,
                                            "stage2_steps": half, "log_every": half}, "train")
            result = train(model_cfg, train_cfg, processed, annotated, tmp / name, sync.checkpoint, resume=False,
                           backbone=backbone, cache_dir=tmp / "embedding_cache")
            model, _ = load_model(result.checkpoint)
            generate_coefficients(model, phonemes[:64], style_clip=style_clip)  # warm-up
            start = time.perf_counter()
            out = generate_coefficients(model, phonemes, style_clip=style_clip)
            seconds = time.perf_counter() - start
            assert out.shape == (args.frames, 64)
            frames_per_s = args.frames / seconds
            rows.append([name, f"{parameter_counts(model)['total'] / 1e6:.2f}M", train_cfg.batch_size,
                         train_cfg.clip_frames, result.windows_per_second, result.windows_per_second * train_cfg.clip_frames,
                         frames_per_s, frames_per_s / FPS, peak_rss_mb()[0]])
    print_table(
        f"TalkCLIP training / inference, CPU, {args.threads} thread(s), {args.steps} steps per profile",
        ["profile", "params", "batch", "L", "train windows/s", "train frames/s", "infer frames/s",
         "real-time factor", "peak MB"],
        rows,
    )
    print("real-time factor = generated seconds of 25 fps video per wall second (> 1: faster than real time)")


if __name__ == "__main__":
    main()
