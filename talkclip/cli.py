"""The ``talkclip`` command: one sub-command per pipeline step, each usable outside DVC too.

Entry points (this module and ``pipelines/*.py``) are the only places that read ``params.yaml``;
they hand typed config objects to the library.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from talkclip.atomic import write_text
from talkclip.config.loader import ConfigError, load_section


def _write_metrics(path: str | None, metrics: dict) -> None:
    text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
    if path:
        write_text(path, text)
    print(text, end="")


def cmd_synth(args: argparse.Namespace) -> None:
    from talkclip.config.corpus import CorpusConfig
    from talkclip.corpus.generator import generate_corpus

    cfg = load_section(args.params, "corpus", CorpusConfig)
    metrics = generate_corpus(cfg, args.out, progress=not args.quiet)
    _write_metrics(args.metrics, metrics)


def cmd_preprocess(args: argparse.Namespace) -> None:
    from talkclip.config.preprocess import PreprocessConfig
    from talkclip.preprocess.stage import plan_corpus, plan_styletalk, read_transcripts, run_preprocess

    cfg = load_section(args.params, "preprocess", PreprocessConfig)
    transcripts = read_transcripts(args.transcripts) if args.transcripts else None
    strict = cfg.on_error == "raise"
    if args.styletalk:
        tasks, skips = plan_styletalk(args.styletalk), []
    else:
        tasks, skips = plan_corpus(args.corpus, cfg, transcripts, strict=strict, coeffs_dir=args.coeffs)
    metrics = run_preprocess(tasks, args.out, cfg, skips=skips, progress=not args.quiet)
    _write_metrics(args.metrics, metrics)


def cmd_annotate(args: argparse.Namespace) -> None:
    from talkclip.annotation.stage import run_annotation
    from talkclip.config.annotate import AnnotateConfig

    cfg = load_section(args.params, "annotate", AnnotateConfig)
    metrics = run_annotation(args.processed, args.out, cfg, openface_dir=args.openface)
    _write_metrics(args.metrics, metrics)


def cmd_generate(args: argparse.Namespace) -> None:
    from talkclip.config.preprocess import PreprocessConfig
    from talkclip.generate import generate

    aligner = load_section(args.params, "preprocess", PreprocessConfig).aligner
    style_clip = None
    if args.style_clip:
        from talkclip.formats.mat3dmm import read_mat

        style_clip = read_mat(args.style_clip).expression
    result = generate(
        args.checkpoint, args.out, text=args.text, style_clip=style_clip, audio_path=args.audio,
        transcript=args.transcript, phoneme_seq=args.phonemes, fps=args.fps, aligner_cfg=aligner,
        identity_sidecar=args.identity, image_size=args.image_size,
    )
    print(f"{len(result.expression)} frames at {result.fps:g} fps (phonemes: {result.method}) -> {args.out}"
          + (f", video {result.video}" if result.video else ""))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="talkclip", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--params", default="params.yaml", help="parameters file (default: params.yaml)")
        p.add_argument("--metrics", default=None, help="also write the stage metrics JSON here")
        p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("synth", help="generate the embedded MEAD/HDTF-format corpus")
    common(p)
    p.add_argument("--out", default="data/corpus")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("preprocess", help="media + .mat + transcripts -> processed dataset")
    common(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--corpus", default="data/corpus", help="embedded corpus, MEAD root or folder with mead/ and hdtf/")
    src.add_argument("--styletalk", default=None, help="StyleTalk-style folder (3DMM/, wav/, phoneme/, video/)")
    p.add_argument("--transcripts", default=None, help="clip_id<TAB>text table for forced alignment")
    p.add_argument("--coeffs", default=None, help="folder of {clip_id}.mat 3DMM fits kept outside the MEAD tree")
    p.add_argument("--out", default="data/processed")
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser("annotate", help="TA-MEAD descriptions for the processed dataset")
    common(p)
    p.add_argument("--processed", default="data/processed")
    p.add_argument("--openface", default=None, help="folder of OpenFace CSVs ({clip_id}.csv) for real data AUs")
    p.add_argument("--out", default="data/annotated")
    p.set_defaults(func=cmd_annotate)

    p = sub.add_parser("generate", help="speech + text description -> expression coefficients (and a video)")
    p.add_argument("--params", default="params.yaml", help="parameters file (aligner settings)")
    p.add_argument("--checkpoint", required=True, help="a training checkpoint (e.g. models/train/checkpoints/final.pt)")
    style = p.add_mutually_exclusive_group(required=True)
    style.add_argument("--text", help='speaking-style description, e.g. "A woman is furious."')
    style.add_argument("--style-clip", help="a reference .mat (Deep3DFaceRecon) whose style to imitate")
    speech = p.add_mutually_exclusive_group(required=True)
    speech.add_argument("--audio", help="speech (wav/m4a/mp4)")
    speech.add_argument("--phonemes", help="StyleTalk *_seq.json (30 fps per-frame phoneme ids)")
    p.add_argument("--transcript", default=None, help="what is said (forced alignment); without it, phone recognition")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--identity", default=None, help="embedded-corpus sidecar .npz whose face renders the video")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--out", default="generated")
    p.set_defaults(func=cmd_generate)

    # Listed here for --help; `main` hands its arguments to the evaluator's own parser, so that the
    # other sub-commands do not pay for importing the metric stack.
    sub.add_parser("evaluate", help="score generated videos against references (SSIM, CPBD, F-/M-LMD, Sync); "
                   "see talkclip evaluate --help", add_help=False)
    return parser


def _evaluate(argv: list[str]) -> int:
    from talkclip.metrics.evaluator import add_evaluate_arguments, run_evaluate

    parser = argparse.ArgumentParser(prog="talkclip evaluate", description="Score generated talking-head videos "
                                     "against ground truth with the protocol of evaluation/PROTOCOL.md.")
    add_evaluate_arguments(parser)
    return run_evaluate(parser.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["evaluate"]:
        return _evaluate(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"talkclip {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
