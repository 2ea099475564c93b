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
from talkclip.config.loader import ConfigError, load_section, to_dict


def _tracked(stage: str, params: object, **kwargs):
    """The MLflow run of one stage (a no-op with TALKCLIP_MLFLOW=0); see talkclip.tracking."""
    from talkclip.tracking import tracked_run

    return tracked_run(stage, params=to_dict(params), **kwargs)


def _ablation_nesting(model_cfg, train_cfg) -> dict:
    """tracked_run arguments that nest an ablation stage (training or evaluation) under one MLflow
    container run per base configuration: the DVC stages are separate processes, so they find their
    parent by name, and the name carries a digest of the model and train settings (the ablation
    itself aside) so that ablations of different configurations never share a parent."""
    import hashlib

    train = {k: v for k, v in to_dict(train_cfg).items() if k != "ablation"}
    payload = json.dumps({"model": to_dict(model_cfg), "train": train}, sort_keys=True, default=str)
    return {"nested": True, "parent_name": f"ablations-{hashlib.sha256(payload.encode()).hexdigest()[:8]}"}


def _write_metrics(path: str | None, metrics: dict) -> None:
    text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
    if path:
        write_text(path, text)
    print(text, end="")


def cmd_synth(args: argparse.Namespace) -> None:
    from talkclip.config.corpus import CorpusConfig
    from talkclip.corpus.generator import generate_corpus

    cfg = load_section(args.params, "corpus", CorpusConfig)
    with _tracked("corpus", {"corpus": cfg}) as run:
        metrics = generate_corpus(cfg, args.out, progress=not args.quiet)
        run.log_metrics(0, metrics)
        for sheet in ("contact_sheet.png", "contact_sheet_levels.png"):
            if (Path(args.out) / sheet).is_file():
                run.log_artifact(Path(args.out) / sheet)
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
    with _tracked("preprocess", {"preprocess": cfg}) as run:
        metrics = run_preprocess(tasks, args.out, cfg, skips=skips, progress=not args.quiet)
        run.log_metrics(0, metrics)
        run.log_artifact(Path(args.out) / "manifest.csv")
    _write_metrics(args.metrics, metrics)


def cmd_annotate(args: argparse.Namespace) -> None:
    from talkclip.annotation.stage import run_annotation
    from talkclip.config.annotate import AnnotateConfig

    cfg = load_section(args.params, "annotate", AnnotateConfig)
    with _tracked("annotate", {"annotate": cfg}) as run:
        metrics = run_annotation(args.processed, args.out, cfg, openface_dir=args.openface)
        run.log_metrics(0, metrics)
        run.log_artifact(Path(args.out) / "descriptions.csv")
    _write_metrics(args.metrics, metrics)


def cmd_sync_pretrain(args: argparse.Namespace) -> None:
    from talkclip.config.model import ModelConfig
    from talkclip.config.train import SyncPretrainConfig
    from talkclip.training.sync_pretrain import pretrain_sync

    model_cfg = load_section(args.params, "model", ModelConfig)
    sync_cfg = load_section(args.params, "sync", SyncPretrainConfig)
    with _tracked("sync_pretrain", {"model": model_cfg, "sync": sync_cfg}) as run:
        result = pretrain_sync(model_cfg, sync_cfg, args.processed, args.out, on_log=run.on_log)
        metrics = {
            "heldout_accuracy": round(result.heldout_accuracy, 4), "train_accuracy": round(result.train_accuracy, 4),
            "final_loss": round(result.final_loss, 4), "steps": result.steps,
            "windows_per_second": round(result.windows_per_second, 1),
            "train_clips": result.n_train_clips, "test_clips": result.n_test_clips,
        }
        run.log_metrics(result.steps, metrics)
    _write_metrics(args.metrics, metrics)


def cmd_syncnet_train(args: argparse.Namespace) -> None:
    from talkclip.config.syncnet import SyncNetConfig
    from talkclip.metrics.syncnet_train import train_syncnet_on_corpus

    cfg = load_section(args.params, "syncnet", SyncNetConfig)
    with _tracked("syncnet", {"syncnet": cfg}) as run:
        _, record = train_syncnet_on_corpus(args.corpus, args.out, cfg, progress=not args.quiet,
                                            on_log=lambda step, values: run.log_metrics(step, values))
        metrics = {"steps": record["steps_done"], "seconds": record["seconds"], "train_clips": record["train_clips"],
                   "final_match_acc": round(record["final_match_acc"], 4),
                   **{k: round(v, 4) for k, v in record["heldout"].items()}}
        run.log_metrics(record["steps_done"], metrics)
        run.log_artifact(args.out, "syncnet")
    _write_metrics(args.metrics, metrics)


def style_probes(checkpoint: Path, processed: str, annotated: str, train_cfg, backbone) -> dict:
    """The issue's style checks on a trained model: text->video-centroid accuracy and style dependence.

    ``backbone`` is the frozen text backbone the model was trained with (the trainer's, not reloaded).
    """
    from talkclip.inference import load_model
    from talkclip.training.data import ClipStore, DescriptionTable
    from talkclip.training.embeddings import description_embeddings
    from talkclip.training.style_probe import style_dependence, text_centroid_accuracy

    model, _ = load_model(checkpoint)
    train_store = ClipStore.load(processed, "train", train_cfg.clip_frames)
    test_store = ClipStore.load(processed, "test", train_cfg.clip_frames)
    descriptions = DescriptionTable.load(annotated, train_cfg.description_mode)
    table, _, _ = description_embeddings(backbone, descriptions.texts, Path(checkpoint).parent.parent / "embedding_cache")
    centroid = text_centroid_accuracy(model, train_store, test_store, descriptions, table)
    dependence = style_dependence(model, test_store)
    return {
        "text_centroid_accuracy": round(centroid.accuracy, 4),
        "text_centroid_accuracy_centred": round(centroid.centred_accuracy, 4),
        "text_centroid_chance": round(centroid.chance, 4),
        "text_centroid_n_texts": centroid.n_texts,
        "style_dependence_r": round(dependence.correlation, 4),
        "style_offset_gain": round(dependence.offset_gain, 4),
    }


def cmd_train(args: argparse.Namespace) -> None:
    import dataclasses

    from talkclip.config.model import ModelConfig
    from talkclip.config.train import TrainConfig
    from talkclip.model.text_backbone import load_text_backbone
    from talkclip.training.trainer import effective_model_config, train

    model_cfg = load_section(args.params, "model", ModelConfig)
    train_cfg = load_section(args.params, "train", TrainConfig)
    nesting = {}
    if args.ablation:
        nesting = _ablation_nesting(model_cfg, train_cfg)
        train_cfg = dataclasses.replace(train_cfg, ablation=args.ablation)
    # MLflow run names: train_full_v2ss (stage 1 alone), train_full (stage 2 from it, or both stages).
    run_name = f"train_{train_cfg.ablation}" + ("_v2ss" if args.stop_after == "stage1" else "")
    with _tracked(run_name, {"model": model_cfg, "train": train_cfg}, **nesting) as run:
        backbone = load_text_backbone(effective_model_config(model_cfg, train_cfg))
        result = train(
            model_cfg, train_cfg, args.processed, args.annotated, args.out, args.sync or None,
            on_log=run.on_log, resume=not args.restart, backbone=backbone, stop_after_stage=args.stop_after,
            init_from=args.init_from,
        )
        metrics: dict = {
            "completed": result.completed, "global_step": result.global_step, "train_clips": result.n_train_clips,
            "windows_per_second": round(result.windows_per_second, 1),
        }
        for stage, values in result.final_metrics.items():
            for key, value in values.items():
                metrics[f"{stage}_{key}"] = round(float(value), 5)
        metrics.update(style_probes(result.checkpoint, args.processed, args.annotated, train_cfg, backbone))
        run.log_metrics(result.global_step, metrics)
        run.log_artifact(result.checkpoint, "checkpoints")
    _write_metrics(args.metrics, metrics)


def cmd_sweep(args: argparse.Namespace) -> None:
    from talkclip.config.model import ModelConfig
    from talkclip.config.sweep import SweepConfig
    from talkclip.config.train import SyncPretrainConfig, TrainConfig
    from talkclip.sweep import run_sweep

    frame = run_sweep(
        load_section(args.params, "sweep", SweepConfig), load_section(args.params, "model", ModelConfig),
        load_section(args.params, "train", TrainConfig), load_section(args.params, "sync", SyncPretrainConfig),
        args.processed, args.annotated, args.sync or None, args.out, address=args.address,
        tracking_uri=args.tracking_uri,
    )
    print(frame.to_string(max_rows=50))


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


def cmd_selfdriven(args: argparse.Namespace) -> None:
    from talkclip.selfdriven import run_selfdriven, sample_videos

    nesting, stage = {}, "evaluate"
    if args.ablation:
        from talkclip.config.model import ModelConfig
        from talkclip.config.train import TrainConfig

        nesting = _ablation_nesting(load_section(args.params, "model", ModelConfig),
                                    load_section(args.params, "train", TrainConfig))
        stage = f"evaluate_{args.ablation}"
    params = {"checkpoint": args.checkpoint, "syncnet": args.syncnet or "none", "image_size": args.image_size,
              "text_only": args.text_only}
    with _tracked(stage, params, **nesting) as run:
        results = run_selfdriven(args.checkpoint, args.processed, args.annotated, args.out,
                                 syncnet=args.syncnet or None, image_size=args.image_size,
                                 text_only=args.text_only)
        metrics = {
            f"{method}/{dataset}/{key}": value
            for method, by in results["table1"].items() for dataset, values in by.items() for key, value in values.items()
        }
        metrics.update({f"style_accuracy_{k}": v["accuracy"] for k, v in results["style"].items()})
        metrics["ood_accuracy"] = results["ood"]["accuracy"]
        run.log_metrics(0, {**metrics, **{f"seconds/{k}": v for k, v in results["seconds"].items()}})
        run.log_artifact(Path(args.out) / "results.json")
        run.log_artifact(Path(args.out) / "scores", "scores")
        for video in sample_videos(args.out, per_style=2):
            run.log_artifact(video, f"samples/{video.parent.parent.name}/{video.parent.name}")
    _write_metrics(args.metrics, {k.replace(" ", "_"): round(float(v), 5) for k, v in metrics.items()})


def cmd_report(args: argparse.Namespace) -> None:
    import pandas as pd

    from talkclip.selfdriven import write_report

    results = json.loads((Path(args.eval) / "results.json").read_text())
    with _tracked("report", {"eval": args.eval}) as run:
        written = write_report(results, args.eval, args.out, ablations_dir=args.ablations or None)
        for path in written.values():
            run.log_artifact(path)
        for table in ("table1", "table2"):
            if f"{table}.csv" in written:  # the reproduced tables, shown by the MLflow UI's table view
                run.log_table(pd.read_csv(written[f"{table}.csv"]), table)
    print("\n".join(str(p) for p in written.values()))


def cmd_profile(args: argparse.Namespace) -> None:
    import shlex

    from talkclip.config.loader import build
    from talkclip.config.params import Params
    from talkclip.config.profiles import apply_profile, dvc_set_arguments, load_profile

    path = Path(args.profile) if args.profile.endswith(".yaml") else Path("profiles") / f"{args.profile}.yaml"
    merged = apply_profile(args.params, path)
    build(Params, merged)  # the result must be a valid params file
    if args.write:
        import yaml

        header = f"# {args.params} with the overrides of {path} applied (talkclip profile --write)\n"
        write_text(args.write, header + yaml.safe_dump(merged, sort_keys=False))
        print(f"wrote {args.write}")
        return
    print(" ".join(shlex.quote(a) for a in dvc_set_arguments(load_profile(path))))


def cmd_gate(args: argparse.Namespace) -> int:
    from talkclip.config.loader import read_yaml
    from talkclip.gates import check_gates, check_profile, format_report, load_thresholds

    thresholds = load_thresholds(args.thresholds)
    if thresholds.profile and not args.any_profile:
        differences = check_profile(read_yaml(args.params), Path(args.root) / thresholds.profile)
        if differences:
            raise ValueError(
                f"{args.params} is not the {thresholds.profile} profile that the thresholds of {args.thresholds} "
                f"were measured on: " + "; ".join(differences)
            )
    table = check_gates(thresholds, args.root)
    print(f"Regression gates of {args.thresholds} on the metrics under {Path(args.root).resolve()}:\n")
    print(format_report(table), end="")
    if args.out:
        write_text(args.out, table.to_csv(index=False))
    return 0 if (table["status"] == "pass").all() else 1


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

    p = sub.add_parser("sync-pretrain", help="pretrain the lip-sync discriminator D_sync (then frozen)")
    common(p)
    p.add_argument("--processed", default="data/processed")
    p.add_argument("--out", default="models/sync/d_sync.pt")
    p.set_defaults(func=cmd_sync_pretrain)

    p = sub.add_parser("syncnet-train", help="train the evaluation SyncNet (Sync_conf, LSE-D) on the corpus's "
                       "training speakers; held-out check on its test speakers")
    common(p)
    p.add_argument("--corpus", default="data/corpus")
    p.add_argument("--out", default="models/syncnet/syncnet.pt")
    p.set_defaults(func=cmd_syncnet_train)

    p = sub.add_parser("train", help="two-stage TalkCLIP training (V2SS pretraining, then T2SS with the p-schedule)")
    common(p)
    p.add_argument("--processed", default="data/processed")
    p.add_argument("--annotated", default="data/annotated")
    p.add_argument("--sync", default="models/sync/d_sync.pt", help="pretrained D_sync ('' = no sync loss)")
    p.add_argument("--out", default="models/train")
    p.add_argument("--restart", action="store_true", help="ignore checkpoints in --out and start over")
    p.add_argument("--ablation", default=None, choices=["full", "simanno", "no_adapter", "no_vg", "no_clip"],
                   help="override train.ablation (the DVC ablation stages use this)")
    p.add_argument("--stop-after", default=None, choices=["stage1"],
                   help="train stage 1 (V2SS pretraining) only: ends with checkpoints/stage1.pt (DVC stage train_v2ss)")
    p.add_argument("--init-from", default=None,
                   help="start stage 2 from this stage-1 checkpoint of a run with the same settings "
                        "(DVC stage train: models/v2ss/checkpoints/stage1.pt)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sweep", help="Ray Tune sweep over the p-schedule, beta and the loss weights (ASHA)")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--processed", default="data/processed")
    p.add_argument("--annotated", default="data/annotated")
    p.add_argument("--sync", default="models/sync/d_sync.pt")
    p.add_argument("--out", default="models/sweep")
    p.add_argument("--address", default=None, help="an existing Ray cluster (e.g. 127.0.0.1:6379); default: local")
    p.add_argument("--tracking-uri", default=None, help="MLflow URI (default sqlite:///<repo>/mlruns.db)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("selfdriven", help="the paper's self-driven evaluation of a checkpoint on the test splits")
    common(p)
    p.add_argument("--checkpoint", default="models/train/checkpoints/final.pt")
    p.add_argument("--processed", default="data/processed")
    p.add_argument("--annotated", default="data/annotated")
    p.add_argument("--syncnet", default="", help="SyncNet weights for Sync_conf (e.g. syncnet_v2.model); '' = none")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--text-only", action="store_true", help="MEAD-format split, text style only (ablation rows)")
    p.add_argument("--ablation", default=None, choices=["simanno", "no_adapter", "no_vg", "no_clip"],
                   help="the checkpoint is this ablation's (its MLflow run nests with the ablation's training)")
    p.add_argument("--out", default="models/eval")
    p.set_defaults(func=cmd_selfdriven)

    p = sub.add_parser("report", help="Tables 1 and 2 (md/tex/csv) beside the paper's rows, and plots")
    p.add_argument("--eval", default="models/eval")
    p.add_argument("--ablations", default="", help="folder of {variant}/results.json from --text-only evaluations")
    p.add_argument("--out", default="reports")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("profile", help="print a profile's overrides as `dvc exp run -S` arguments")
    p.add_argument("profile", help="ci | paper-mead | a path to a profile .yaml")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--write", default=None, help="write the merged params file here instead (a throwaway copy's "
                   "params.yaml, as CI's pipeline run does)")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("gate", help="check a pipeline run's metrics against the CI regression thresholds")
    p.add_argument("--thresholds", default="evaluation/thresholds.yaml")
    p.add_argument("--root", default=".", help="the run's folder (metrics/*.json are read below it)")
    p.add_argument("--params", default="params.yaml", help="the run's params file (must be the thresholds' profile)")
    p.add_argument("--any-profile", action="store_true", help="compare even if the run used another profile")
    p.add_argument("--out", default=None, help="also write the comparison table as CSV here")
    p.set_defaults(func=cmd_gate)

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
    sub.add_parser("evaluate", help="score generated videos against references (SSIM, PSNR, CPBD, F-/M-LMD, "
                   "Sync_conf/LSE-D, CSIM, LPIPS, FID, FVD, ...; --method NAME=DIR compares methods with CIs); "
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
        code = args.func(args)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"talkclip {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
