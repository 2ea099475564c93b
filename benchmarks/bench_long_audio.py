"""Long audio in bounded memory: peak memory and time of decoding and phone recognition by length.

Each measurement runs in its own process (peak RSS is per measurement):
- decode: ``formats.media.iter_audio`` over the whole file (what ``generate`` streams);
- stream: ``PhonemeAligner.align_stream`` phone recognition, 30 s windows (``generate`` without transcript);
- one utterance: the whole signal decoded into memory and recognised as a single pocketsphinx utterance
  (the behaviour before windows; only for the shorter lengths);
- refuse: preprocessing one 3 s clip whose audio is the long file (refused from the stated duration).

Speech is espeak-ng sentences with 1 s pauses, tiled to the length; silence is digital silence.
Run: python benchmarks/bench_long_audio.py [--minutes 2 10] [--silence-minutes 60] [--whole-max 10]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import peak_rss_mb, print_table

SR = 16000


def write_tiled_wav(path: Path, block: np.ndarray, seconds: float) -> None:
    """``block`` repeated to ``seconds``, written a block at a time (the file is never held whole)."""
    from talkclip.formats.media import write_wav_chunks

    n = int(seconds * SR)
    write_wav_chunks(path, (block[: n - start] for start in range(0, n, len(block))), SR)


def speech_block() -> np.ndarray:
    from talkclip.corpus.sentences import load_sentences
    from talkclip.corpus.speech import speaker_voice, synthesize

    voice = speaker_voice(0, "W", np.random.default_rng(0))
    pause = np.zeros(SR, np.float32)
    return np.concatenate([np.concatenate([synthesize(s, voice).audio, pause]) for s in load_sentences()[:8]])


def measure(kind: str, path: str) -> dict:
    """One measurement in this (fresh) process."""
    from talkclip.formats.media import iter_audio, probe_audio_duration, read_audio
    from talkclip.preprocess.alignment import NoSpeechError, PhonemeAligner

    aligner = PhonemeAligner()
    started = time.perf_counter()
    result: dict = {}
    if kind == "decode":
        result["seconds_of_audio"] = sum(len(c) for c in iter_audio(path)) / SR
    elif kind == "stream":
        try:
            alignment, duration = aligner.align_stream(iter_audio(path), total_s=probe_audio_duration(path),
                                                       progress=False)
            result.update(seconds_of_audio=duration, phones=len(alignment.phones))
        except NoSpeechError:
            result.update(outcome="NoSpeechError")
    elif kind == "one utterance":
        audio = read_audio(path)
        phones = aligner._recognize_phones(aligner._to_pcm(audio))
        result.update(seconds_of_audio=len(audio) / SR, phones=len(phones))
    elif kind == "refuse":
        from talkclip.config.preprocess import PreprocessConfig
        from talkclip.formats.mat3dmm import coeffs_from_performance, write_mat
        from talkclip.formats.media import write_video
        from talkclip.preprocess.stage import ClipError, ClipTask, process_clip

        folder = Path(tempfile.mkdtemp())
        write_video(folder / "v.mp4", np.zeros((90, 32, 32, 3), np.uint8), 30)
        write_mat(folder / "c.mat", coeffs_from_performance(np.zeros((90, 64), np.float32), np.zeros((90, 6)), 32))
        task = ClipTask("M001_front_neutral_level1_001", "M001", "M", "neutral", 1, "train", Path(path),
                        folder / "c.mat", video=folder / "v.mp4")
        try:
            process_clip(task, PreprocessConfig(), aligner, folder / "out")
        except ClipError as exc:
            result["outcome"] = "refused, " + ("nothing decoded" if "nothing was decoded" in str(exc) else
                                               "decoding stopped at the limit")
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["peak_mb"] = round(peak_rss_mb()[0])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, nargs="+", default=[2.0, 10.0])
    parser.add_argument("--silence-minutes", type=float, default=60.0)
    parser.add_argument("--whole-max", type=float, default=10.0, help="longest speech measured as one utterance")
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        block = speech_block()
        files = [(f"speech {m:g} min", Path(tmp) / f"speech_{m:g}.wav", m) for m in args.minutes]
        files.append((f"silence {args.silence_minutes:g} min", Path(tmp) / "silence.wav", args.silence_minutes))
        for label, path, minutes in files:
            write_tiled_wav(path, block if label.startswith("speech") else np.zeros(SR * 60, np.float32), minutes * 60)
            kinds = ["decode", "stream"] + (["one utterance"] if label.startswith("speech") and minutes <= args.whole_max
                                            else []) + ["refuse"]
            for kind in kinds:
                done = subprocess.run([sys.executable, __file__, "--measure", kind, str(path)], capture_output=True,
                                      text=True, check=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append([label, kind, result["wall_s"], result["peak_mb"],
                             result.get("outcome") or f"{result.get('phones', '-')} phones"])
                print(rows[-1], flush=True)
    print_table("Long audio: time and peak memory per measurement (own process)",
                ["audio", "what", "wall s", "peak MB", "result"], rows)


if __name__ == "__main__":
    main()
