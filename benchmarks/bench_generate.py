"""Cost of ``talkclip generate --image`` (photo + speech + text -> mp4) at 256 and 512 px.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_generate.py [--checkpoint models/train/checkpoints/final.pt]
        [--audio SPEECH] [--sizes 256 512]

Each size runs in a fresh process (clean peak memory, cold imports) that calls
``talkclip.animate.animate_portrait`` twice on the same inputs:

- cold: the first call of a process: imports (sentence-transformers for the text backbone), the
  dlib model, alignment, generation, rendering and encoding: what one ``talkclip generate`` costs;
- warm: the second call: the steady cost once everything is loaded (a server, or a batch of clips).

Columns: frames/s = video frames / wall time of the call; real-time factor = wall time / speech
duration (< 1 is faster than real time); render fps = frames / (warp + mouth + H.264 encoding)
alone. The photo is scikit-image's astronaut (public domain); the speech is DreamTalk's English
sample from ../shared/samples (16.6 s) or, without it, espeak-ng sentences. Without the checkpoint a
randomly initialised model of params.yaml's size is used (its cost is the trained model's). torch
uses 1 thread (see FACTS.md), OpenCV its default (all cores), x264 one thread.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import peak_rss_mb, print_table

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_SPEECH = ROOT.parent / "shared" / "samples" / "dreamtalk" / "audio" / "acknowledgement_english.m4a"
TEXT = "A woman looks ecstatic and speaks with lip corners intensely raised, cheeks strongly pushed up."


def _inputs(work: Path, checkpoint: str | None, audio: str | None) -> tuple[Path, Path, Path, str]:
    import skimage.data
    from PIL import Image

    image = work / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(image)
    if audio:
        speech = Path(audio)
    elif SAMPLE_SPEECH.is_file():
        speech = SAMPLE_SPEECH
    else:
        import numpy as np

        from talkclip.corpus.speech import Voice, synthesize
        from talkclip.formats.media import write_wav

        parts = [synthesize(s, Voice("en-us+f2", 160, 55, 50, 100)).audio for s in (
            "We watched the orange sun sink behind the hills.", "Fresh bread smells wonderful early in the morning.",
            "They measured the depth of the well with a rope.", "The sheriff rode into town on a black horse.")]
        speech = work / "speech.wav"
        write_wav(speech, np.concatenate(parts), 16000)
    if checkpoint and Path(checkpoint).is_file():
        return image, speech, Path(checkpoint), "trained"
    import torch

    from talkclip.config.loader import load_section, to_dict
    from talkclip.config.model import ModelConfig
    from talkclip.model.talkclip_model import TalkCLIP
    from talkclip.training.checkpoint import save_checkpoint

    cfg = load_section(ROOT / "params.yaml", "model", ModelConfig)
    torch.manual_seed(0)
    path = save_checkpoint(work / "random.pt", modules={"talkclip": TalkCLIP(cfg, 384)}, progress={},
                           config={"model": to_dict(cfg), "data": {"text_dim": 384}})
    return image, speech, path, "random init (params.yaml size)"


def _one(size: int, image: str, speech: str, checkpoint: str, out_dir: str) -> None:
    """Child process: cold then warm call; prints one JSON line."""
    import torch

    torch.set_num_threads(1)
    from talkclip.animate import animate_portrait

    runs = []
    for name in ("cold", "warm"):
        start = time.perf_counter()
        result = animate_portrait(image, speech, Path(out_dir) / f"{size}_{name}.mp4", checkpoint=checkpoint,
                                  text=TEXT, size=size, progress=False)
        runs.append({"run": name, "wall": time.perf_counter() - start, "frames": result.n_frames,
                     "seconds": result.seconds})
    print(json.dumps({"size": size, "runs": runs, "peak_rss_mb": peak_rss_mb()[0]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ROOT / "models/train/checkpoints/final.pt"))
    parser.add_argument("--audio", default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        size, image, speech, checkpoint, out_dir = args.one
        return _one(int(size), image, speech, checkpoint, out_dir)

    from talkclip.formats.media import read_audio

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        image, speech, checkpoint, model_kind = _inputs(work, args.checkpoint, args.audio)
        duration = len(read_audio(speech)) / 16000
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        rows = []
        for size in args.sizes:
            out = subprocess.run([sys.executable, __file__, "--one", str(size), str(image), str(speech),
                                  str(checkpoint), str(work)], env=env, check=True, capture_output=True, text=True)
            report = json.loads(out.stdout.strip().splitlines()[-1])
            for run in report["runs"]:
                steps = run["seconds"]
                rows.append([size, run["run"], run["frames"], run["wall"], run["frames"] / run["wall"],
                             run["wall"] / duration, run["frames"] / steps["render"],
                             ", ".join(f"{k} {v:.1f}" for k, v in steps.items()), report["peak_rss_mb"]])
    print_table(f"talkclip generate --image: {speech.name} ({duration:.1f} s speech), model {model_kind}",
                ["px", "call", "frames", "wall s", "frames/s", "real-time factor", "render fps",
                 "steps (s)", "peak RSS MB"], rows)


if __name__ == "__main__":
    main()
