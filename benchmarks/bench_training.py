"""Where a TalkCLIP training step spends its time, training windows/s, and inference speed (CPU).

    python benchmarks/bench_training.py [--steps 20] [--threads 1 2] [--processed data/processed]

For each thread count: one training step of the default profile (params.yaml next to the imported
``talkclip`` package), split into its parts -- batch assembly, V2SS forward, T2SS forward, content
encoder, decoder, the D_tem update, L_rec, L_tem / L_sync forwards, backward, optimiser step -- as the
median over the timed steps, then the trainer's own windows/s over the same number of steps, and the
inference speed. It uses only interfaces the earlier versions of the trainer have too, so the
"before" column of benchmarks/RESULTS.md is this script run with ``PYTHONPATH`` at an older checkout.
"""
from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import peak_rss_mb, print_table

import talkclip

ROOT = Path(talkclip.__file__).resolve().parents[1]
PARTS = ("batch", "v2ss", "t2ss", "content_encoder", "decoder", "d_tem_update", "loss_rec", "loss_tem_sync",
         "backward", "optimizer")


def _configs():
    from talkclip.config.params import load_params

    params = load_params(ROOT / "params.yaml")
    return params.model, params.train


def _rec_loss(losses, trainer, pred, target, cfg):
    signature = inspect.signature(losses.reconstruction_loss).parameters
    if "normalisation" in signature:
        return losses.reconstruction_loss(pred, target, cfg.mu, cfg.ssim_form, trainer.track_normalisation)
    return losses.reconstruction_loss(pred, target, cfg.mu)


def step_breakdown(processed: Path, annotated: Path, sync: Path, steps: int) -> dict[str, float]:
    """Median seconds of each part of a stage-2 step (text and video codes both computed, as stage 2 does)."""
    from talkclip.model import losses
    from talkclip.model.text_backbone import load_text_backbone
    from talkclip.training.trainer import _Trainer

    model_cfg, train_cfg = _configs()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = _Trainer(model_cfg, train_cfg, processed, annotated, Path(tmp), sync, load_text_backbone(model_cfg),
                           Path(tmp) / "cache")
        model, times = trainer.model, {part: [] for part in PARTS}
        optimizers = [o for o in (trainer.opt_g, getattr(trainer, "opt_t", None)) if o is not None]
        for step in range(steps + 3):
            marks = [time.perf_counter()]

            def mark(marks=marks):
                marks.append(time.perf_counter())

            batch = trainer.sampler.batch(2, step)
            mark()
            model.train()
            s_v = model.video_style(batch.style, batch.style_pad_mask)
            mark()
            s_t = model.text_style(trainer.text_table[batch.description_index])
            mark()
            content = model.content_encoder(batch.phoneme_windows)
            mark()
            pred = model.decoder(content, s_v if step % 2 else s_t)
            mark()
            trainer.d_tem.train()
            trainer.d_tem.requires_grad_(True)
            d_loss = losses.hinge_d_loss(trainer.d_tem(batch.target), trainer.d_tem(pred.detach()))
            trainer.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            trainer.opt_d.step()
            trainer.d_tem.requires_grad_(False)
            trainer.d_tem.eval()
            mark()
            total = train_cfg.lambda_rec * _rec_loss(losses, trainer, pred, batch.target, train_cfg)
            mark()
            total = total + losses.hinge_g_loss(trainer.d_tem(pred)) + losses.sync_loss(
                trainer.d_sync(pred, batch.phoneme_windows))
            total = total + train_cfg.lambda_cos * losses.cosine_style_loss(s_t, s_v.detach())
            mark()
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            total.backward()
            mark()
            for optimizer in optimizers:
                optimizer.step()
            mark()
            if step >= 3:  # warm-up steps are not counted
                for part, start, stop in zip(PARTS, marks, marks[1:]):
                    times[part].append(stop - start)
    return {part: statistics.median(values) for part, values in times.items()}


def trainer_throughput(processed: Path, annotated: Path, sync: Path, steps: int) -> float:
    """windows/s of the trainer itself over ``steps`` stage-1 + ``steps`` stage-2 steps (no checkpoints)."""
    import dataclasses

    from talkclip.model.text_backbone import load_text_backbone
    from talkclip.training.trainer import train

    model_cfg, train_cfg = _configs()
    replace = {"device": "cpu", "stage1_steps": steps, "stage2_steps": steps, "log_every": steps,
               "checkpoint_every": 10 * steps}
    if "eval_every" in {f.name for f in dataclasses.fields(train_cfg)}:
        replace["eval_every"] = 0
    train_cfg = dataclasses.replace(train_cfg, **replace)
    with tempfile.TemporaryDirectory() as tmp:
        result = train(model_cfg, train_cfg, processed, annotated, Path(tmp), sync, resume=False,
                       backbone=load_text_backbone(model_cfg), cache_dir=Path(tmp) / "cache")
    return result.windows_per_second


def inference_speed(processed: Path, frames: int) -> float:
    from talkclip.config.loader import to_dict  # noqa: F401  (the package imports cleanly)
    from talkclip.inference import generate_coefficients
    from talkclip.model.talkclip_model import TalkCLIP
    from talkclip.training.data import ClipStore

    model_cfg, _ = _configs()
    model = TalkCLIP(model_cfg, 384).eval()
    style_clip = ClipStore.load(processed, "test", 1).clips[0].expression
    phonemes = np.random.default_rng(0).integers(0, 41, size=frames)
    generate_coefficients(model, phonemes[:64], style_clip=style_clip)
    start = time.perf_counter()
    generate_coefficients(model, phonemes, style_clip=style_clip)
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processed", type=Path, default=Path("data/processed"))
    parser.add_argument("--annotated", type=Path, default=Path("data/annotated"))
    parser.add_argument("--sync", type=Path, default=Path("models/sync/d_sync.pt"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--frames", type=int, default=2000, help="frames generated for the inference timing")
    args = parser.parse_args()
    for path in (args.processed / "manifest.csv", args.annotated / "descriptions.csv", args.sync):
        if not path.is_file():
            sys.exit(f"bench_training: {path} not found (run `dvc repro sync_pretrain annotate` first)")
    model_cfg, train_cfg = _configs()
    breakdowns, rows = {}, []
    for threads in args.threads:
        torch.set_num_threads(threads)
        breakdowns[threads] = step_breakdown(args.processed, args.annotated, args.sync, args.steps)
        total = sum(breakdowns[threads].values())
        rows.append([threads, train_cfg.batch_size, train_cfg.clip_frames, total * 1000,
                     train_cfg.batch_size / total,
                     trainer_throughput(args.processed, args.annotated, args.sync, args.steps),
                     inference_speed(args.processed, args.frames), peak_rss_mb()[0]])
    header = ["part"] + [f"{t} thread(s) ms" for t in args.threads] + [f"{t} thread(s) %" for t in args.threads]
    table = []
    for part in PARTS:
        table.append([part] + [breakdowns[t][part] * 1000 for t in args.threads]
                     + [100 * breakdowns[t][part] / sum(breakdowns[t].values()) for t in args.threads])
    print_table(f"One training step, default profile (d_model {model_cfg.d_model}, {model_cfg.n_layers} layers, "
                f"dropout {model_cfg.dropout}), code at {ROOT}", header, table)
    print_table("Throughput", ["threads", "batch", "L", "step ms", "windows/s (step)", "windows/s (trainer)",
                               "inference frames/s", "peak MB"], rows)


if __name__ == "__main__":
    main()
