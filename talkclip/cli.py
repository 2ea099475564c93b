"""The ``talkclip`` command: one sub-command per pipeline step, each usable outside DVC too.

Entry points (this module and ``pipelines/*.py``) are the only places that read ``params.yaml``;
they hand typed config objects to the library.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from pathlib import Path

from talkclip.atomic import check_output_dir, check_output_file, write_text
from talkclip.config.loader import ConfigError, load_section, to_dict


def _tracked(stage: str, params: object, **kwargs):
    """The MLflow run of one stage (a no-op with TALKCLIP_MLFLOW=0); see talkclip.tracking."""
    from talkclip.tracking import tracked_run

    return tracked_run(stage, params=to_dict(params), **kwargs)


def _ablation_nesting(model_cfg, train_cfg) -> dict:
    """tracked_run arguments that nest a variant's run (training or evaluation) under one MLflow
    container run per full-model configuration: separate processes find their parent by name, and the
    name carries a digest of the full model's model and train settings (the configuration the variants
    are derived from), so that ablations of different configurations never share a parent."""
    import hashlib

    payload = json.dumps({"model": to_dict(model_cfg), "train": to_dict(train_cfg)}, sort_keys=True, default=str)
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
    if args.coeffs_fps is not None:
        import dataclasses

        cfg = dataclasses.replace(cfg, coeffs_fps=args.coeffs_fps)
    transcripts = read_transcripts(args.transcripts) if args.transcripts else None
    strict = cfg.on_error == "raise"
    if args.styletalk:
        tasks, skips = plan_styletalk(args.styletalk, split=args.styletalk_split), []
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
        metrics = run_annotation(args.processed, args.out, cfg, openface_dir=args.openface, au_source=args.au_source,
                                 frame_step=args.au_frame_step, progress=not args.quiet)
        run.log_metrics(0, metrics)
        run.log_artifact(Path(args.out) / "descriptions.csv")
    _write_metrics(args.metrics, metrics)


def cmd_au_calibrate(args: argparse.Namespace) -> None:
    from talkclip.au_calibration import run_calibration, validation_markdown

    estimator = run_calibration(args.processed, args.out, image_size=args.image_size, frame_step=args.frame_step,
                                progress=not args.quiet)
    print(validation_markdown(estimator))
    print(f"wrote {args.out}")


def cmd_space_map_fit(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from talkclip.metrics.space_map import fit_bfm_map, paired_clip, sample_pairs

    pairs = sample_pairs(Path(args.samples))
    if not pairs:
        raise FileNotFoundError(f"{args.samples}: no Deep3DFaceRecon fits with videos found (expected the "
                                "dreamtalk/ and styletalk/ sample folders)")
    clips = [paired_clip(mat, video, group) for mat, video, group in tqdm(pairs, desc="space-map-fit: dlib", unit="clip",
                                                                          disable=args.quiet)]
    mapping = fit_bfm_map(clips)
    mapping.save(args.out)
    print(json.dumps(mapping.validation, indent=1))
    print(f"wrote {args.out} ({len(clips)} clips of {len(mapping.provenance['people'])} people)")


def cmd_sync_pretrain(args: argparse.Namespace) -> None:
    from talkclip.config.model import ModelConfig
    from talkclip.config.train import SyncPretrainConfig
    from talkclip.device import set_threads
    from talkclip.training.sync_pretrain import pretrain_sync

    model_cfg = load_section(args.params, "model", ModelConfig)
    sync_cfg = load_section(args.params, "sync", SyncPretrainConfig)
    set_threads(sync_cfg.threads)
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
    from talkclip.device import set_threads
    from talkclip.metrics.syncnet_train import train_syncnet_on_corpus

    cfg = load_section(args.params, "syncnet", SyncNetConfig)
    set_threads(cfg.threads)
    with _tracked("syncnet", {"syncnet": cfg}) as run:
        _, record = train_syncnet_on_corpus(args.corpus, args.out, cfg, progress=not args.quiet,
                                            on_log=lambda step, values: run.log_metrics(step, values))
        metrics = {"steps": record["steps_done"], "seconds": record["seconds"], "train_clips": record["train_clips"],
                   "final_match_acc": round(record["final_match_acc"], 4),
                   **{k: round(v, 4) for k, v in record["heldout"].items()}}
        run.log_metrics(record["steps_done"], metrics)
        run.log_artifact(args.out, "syncnet")
    _write_metrics(args.metrics, metrics)


def cmd_train(args: argparse.Namespace) -> None:
    from talkclip.config.model import ModelConfig
    from talkclip.config.train import TrainConfig
    from talkclip.device import set_threads
    from talkclip.model.text_backbone import load_text_backbone
    from talkclip.training.stage import run_training

    model_cfg = load_section(args.params, "model", ModelConfig)
    train_cfg = load_section(args.params, "train", TrainConfig)
    set_threads(train_cfg.threads)
    nesting, name = {}, "full"
    if args.ablation:
        from talkclip.config.ablation import load_ablation

        ablation = load_ablation(args.ablation)
        nesting = _ablation_nesting(model_cfg, train_cfg)
        model_cfg, train_cfg = ablation.apply(model_cfg, train_cfg)
        name = ablation.name
    train_cfg = _where_training_runs(args, train_cfg)
    # MLflow run names: train_full_v2ss (stage 1 alone), train_full (stage 2 from it, or both stages).
    run_name = f"train_{name}" + ("_v2ss" if args.stop_after == "stage1" else "")
    with _tracked(run_name, {"model": model_cfg, "train": train_cfg}, **nesting) as run:
        _, metrics = run_training(
            model_cfg, train_cfg, args.processed, args.annotated, args.sync or None, args.out, run,
            load_text_backbone(model_cfg), restart=args.restart, stop_after=args.stop_after, init_from=args.init_from,
        )
    _write_metrics(args.metrics, metrics)


def _where_training_runs(args: argparse.Namespace, train_cfg):
    """train.workers / use_gpu / address as given on the command line (validated like params.yaml's)."""
    import dataclasses

    overrides = {key: value for key, value in (("workers", args.workers), ("address", args.address)) if value is not None}
    if args.use_gpu:
        overrides["use_gpu"] = True
    return dataclasses.replace(train_cfg, **overrides) if overrides else train_cfg


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
    if args.image:
        return cmd_generate_image(args, aligner)
    portrait_only = [name for name in ("text_to", "renderer_checkpoint", "pose_from", "pose_fps", "mark",
                                       "convert_space") if getattr(args, name)]
    if portrait_only or args.intensity != 1.0 or args.renderer != "warp":
        raise ValueError("--text-to, --intensity, --renderer, --convert-space, --renderer-checkpoint, --pose-from, "
                         "--pose-fps and --mark apply to --image (a photo)")
    if args.image_size is None:
        args.image_size = 128
    style_clip = None
    if args.style_clip:
        from talkclip.preprocess.spaces import read_style_clip

        style_clip = read_style_clip(args.style_clip, space=args.style_space)
    result = generate(
        args.checkpoint, args.out, text=args.text, style_clip=style_clip, audio_path=args.audio,
        transcript=args.transcript, phoneme_seq=args.phonemes, fps=args.fps, aligner_cfg=aligner,
        identity_sidecar=args.identity, image_size=args.image_size, convert_style=args.convert_style_space,
    )
    print(f"{len(result.expression)} frames at {result.fps:g} fps (phonemes: {result.method}) -> {args.out}"
          + (f", video {result.video}" if result.video else ""))


def cmd_generate_image(args: argparse.Namespace, aligner) -> None:
    """``talkclip generate --image``: a photo, speech and a style -> a talking-head mp4."""
    from talkclip.animate import animate_portrait

    if args.audio is None:
        raise ValueError("--image needs the speech as --audio (its sound goes into the video)")
    if args.identity:
        raise ValueError("give either --image (a photo) or --identity (an embedded-corpus face), not both")
    out = Path(args.out)
    if out.suffix.lower() != ".mp4":
        out = out / f"{Path(args.image).stem}.mp4"  # a folder: the video is named after the photo
    result = animate_portrait(
        args.image, args.audio, out, checkpoint=args.checkpoint, text=args.text, text_to=args.text_to,
        style_clip=args.style_clip, style_space=args.style_space, convert_style_space=args.convert_style_space,
        intensity=args.intensity, transcript=args.transcript, renderer=args.renderer, convert_space=args.convert_space,
        renderer_checkpoint=args.renderer_checkpoint, pose_from=args.pose_from, pose_fps=args.pose_fps,
        size=args.image_size or 256, fps=args.fps, visible_mark=args.mark, seed=args.seed, aligner_cfg=aligner,
    )
    print(f"{result.n_frames} frames at {result.fps:g} fps -> {result.video} (record: {result.record})")


def cmd_selfdriven(args: argparse.Namespace) -> None:
    from talkclip.config.evaluate import EvaluateConfig
    from talkclip.device import set_threads
    from talkclip.selfdriven import run_selfdriven, sample_videos, selfdriven_metrics

    cfg = load_section(args.params, "evaluate", EvaluateConfig)
    set_threads(cfg.threads)
    params = {"checkpoint": args.checkpoint, "syncnet": args.syncnet or "none", "text_only": args.text_only,
              "evaluate": cfg}
    with _tracked("evaluate", params) as run:
        run.log_dataset(Path(args.processed) / "manifest.csv", "processed", "evaluation")
        results = run_selfdriven(args.checkpoint, args.processed, args.annotated, args.out,
                                 syncnet=args.syncnet or None, image_size=cfg.image_size,
                                 text_only=args.text_only, ood_lists=cfg.ood_lists)
        metrics = selfdriven_metrics(results)
        run.log_metrics(0, {**metrics, **{f"seconds/{k}": v for k, v in results["seconds"].items()}})
        run.log_artifact(Path(args.out) / "results.json")
        run.log_artifact(Path(args.out) / "scores", "scores")
        for video in sample_videos(args.out, per_style=2):
            run.log_artifact(video, f"samples/{video.parent.parent.name}/{video.parent.name}")
    _write_metrics(args.metrics, {k.replace(" ", "_"): round(float(v), 5) for k, v in metrics.items()})


def cmd_ood(args: argparse.Namespace) -> None:
    from talkclip.selfdriven import run_ood

    summary = run_ood(args.checkpoint, args.descriptions, args.processed, args.out)
    print(f"{summary['n_descriptions']} descriptions of {args.descriptions}, speech of {summary['speech_clip']}: "
          f"accuracy {summary['accuracy']:.3f} (chance {summary['chance']:.3f})")
    for emotion, accuracy in summary["per_emotion"].items():
        print(f"  {emotion:10s} {accuracy:.3f}")
    print(f"predictions: {Path(args.out) / 'predictions.csv'}")
    _write_metrics(args.metrics, {"accuracy": summary["accuracy"], **{f"accuracy_{e}": a for e, a in
                                                                        summary["per_emotion"].items()}})


def cmd_ablations(args: argparse.Namespace) -> None:
    from talkclip.ablations import run_ablations
    from talkclip.config.evaluate import EvaluateConfig
    from talkclip.config.model import ModelConfig
    from talkclip.config.train import TrainConfig

    evaluate_cfg = load_section(args.params, "evaluate", EvaluateConfig)
    results = run_ablations(
        args.folder, load_section(args.params, "model", ModelConfig), load_section(args.params, "train", TrainConfig),
        args.processed, args.annotated, args.sync or None, args.stage1 or None, args.syncnet or None, args.out,
        jobs=args.jobs, image_size=evaluate_cfg.image_size, ood_lists=evaluate_cfg.ood_lists,
    )
    flat = {name: {"label": r["label"], **{k: r["train"][k] for k in ("text_centroid_accuracy", "style_offset_gain",
                                                                       "windows_per_second")},
                   **{k.replace(" ", "_"): round(float(v), 5) for k, v in r["eval"].items()}}
            for name, r in results.items()}
    _write_metrics(args.metrics, flat)


def cmd_report(args: argparse.Namespace) -> None:
    import pandas as pd

    from talkclip.selfdriven import read_results, write_report

    results = read_results(Path(args.eval) / "results.json", table2_row=bool(args.ablations))
    with _tracked("report", {"eval": args.eval}) as run:
        written = write_report(results, args.eval, args.out, ablations_dir=args.ablations or None, curves=args.curves)
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
    from talkclip.gates import check_gates, check_profile, derive_thresholds, format_report, load_thresholds

    thresholds = load_thresholds(args.thresholds)
    if args.derive:
        proposed = derive_thresholds(thresholds, args.derive)
        print(f"Thresholds proposed from {len(args.derive)} runs (worst value -/+ max(2 sd, 5% of the mean)); "
              f"copy them into {args.thresholds} with the runs as `observed`:\n")
        print(proposed.to_string(index=False))
        if args.out:
            write_text(args.out, proposed.to_csv(index=False))
        return 0
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
    p.add_argument("--styletalk-split", default="test", choices=["train", "val", "test"],
                   help="the split of every StyleTalk-folder clip (default test: held-out material)")
    p.add_argument("--transcripts", default=None, help="clip_id<TAB>text table for forced alignment")
    p.add_argument("--coeffs", default=None, help="folder of {clip_id}.mat 3DMM fits kept outside the MEAD tree")
    p.add_argument("--coeffs-fps", type=float, default=None,
                   help="frame rate of the .mat fits (overrides preprocess.coeffs_fps; 0 = infer from durations; "
                        "the fits StyleTalk/DreamTalk distribute for 30 fps MEAD videos are 25 fps)")
    p.add_argument("--out", default="data/processed")
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser("annotate", help="TA-MEAD descriptions for the processed dataset")
    common(p)
    p.add_argument("--processed", default="data/processed")
    p.add_argument("--openface", default=None, help="folder of OpenFace CSVs ({clip_id}.csv) for real data AUs "
                   "(recommended)")
    p.add_argument("--au-source", default="auto", choices=["auto", "processed", "openface", "landmarks"],
                   help="where AU intensities come from: processed clips (embedded corpus), OpenFace CSVs, or "
                        "'landmarks', an offline approximation from dlib landmarks of each clip's video "
                        "(auto: openface with --openface, else processed)")
    p.add_argument("--au-frame-step", type=int, default=2, help="landmarks source: measure every n-th video frame")
    p.add_argument("--out", default="data/annotated")
    p.set_defaults(func=cmd_annotate)

    p = sub.add_parser("au-calibrate", help="calibrate the landmark AU estimator (--au-source landmarks) on an "
                       "embedded-corpus processed dataset and validate it on its test speakers")
    p.add_argument("--processed", default="data/processed")
    p.add_argument("--out", default="talkclip/data/au_from_landmarks.json")
    p.add_argument("--image-size", type=int, default=256, help="render the corpus clips at this size for dlib")
    p.add_argument("--frame-step", type=int, default=3, help="use every n-th frame")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_au_calibrate)

    p = sub.add_parser("space-map-fit", help="learn the BFM expression -> landmark map from paired real fits and "
                       "videos (the shared samples) and validate it on held-out people")
    p.add_argument("--samples", default="../shared/samples")
    p.add_argument("--out", default="talkclip/data/bfm_landmark_map.json")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_space_map_fit)

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
    p.add_argument("--ablation", default=None,
                   help="an ablation file (ablations/{name}.yaml) whose overrides define the variant to train")
    p.add_argument("--stop-after", default=None, choices=["stage1"],
                   help="train stage 1 (V2SS pretraining) only: ends with checkpoints/stage1.pt (DVC stage train_v2ss)")
    p.add_argument("--init-from", default=None,
                   help="start stage 2 from this stage-1 checkpoint of a run with the same settings "
                        "(DVC stage train: models/v2ss/checkpoints/stage1.pt)")
    p.add_argument("--workers", type=int, default=None,
                   help="data-parallel training processes on Ray Train (overrides train.workers; 0/1 = this process)")
    p.add_argument("--address", default=None,
                   help="a running Ray cluster HOST:PORT (overrides train.address; default: a local Ray)")
    p.add_argument("--use-gpu", action="store_true", help="one GPU per Ray Train worker (sets train.use_gpu)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sweep", help="Ray Tune sweep over the p-schedule, beta and the loss weights (ASHA)")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--processed", default="data/processed")
    p.add_argument("--annotated", default="data/annotated")
    p.add_argument("--sync", default="models/sync/d_sync.pt")
    p.add_argument("--out", default="models/sweep")
    p.add_argument("--address", default=None, help="an existing Ray cluster (e.g. 127.0.0.1:6379); default: local")
    p.add_argument("--tracking-uri", default=None, help="MLflow URI (default $TALKCLIP_MLFLOW_URI, $MLFLOW_TRACKING_URI, or mlruns.db in the DVC repository of the working folder)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("selfdriven", help="the paper's self-driven evaluation of a checkpoint on the test splits")
    common(p)
    p.add_argument("--checkpoint", default="models/train/checkpoints/final.pt")
    p.add_argument("--processed", default="data/processed")
    p.add_argument("--annotated", default="data/annotated")
    p.add_argument("--syncnet", default="", help="SyncNet weights for Sync_conf (e.g. syncnet_v2.model); '' = none")
    p.add_argument("--text-only", action="store_true", help="MEAD-format split, text style only (ablation rows)")
    p.add_argument("--out", default="models/eval")
    p.set_defaults(func=cmd_selfdriven)

    p = sub.add_parser("ood", help="score a checkpoint on your own out-of-domain descriptions (text<TAB>emotion)")
    p.add_argument("--metrics", default=None, help="also write the accuracies as JSON here")
    p.add_argument("--checkpoint", default="models/train/checkpoints/final.pt")
    p.add_argument("--descriptions", required=True, help="a TSV with header 'text<TAB>emotion' (MEAD's 8 emotions)")
    p.add_argument("--processed", default="data/processed", help="its training clips fit the style classifier")
    p.add_argument("--out", default="ood", help="folder for predictions.csv and summary.json")
    p.set_defaults(func=cmd_ood)

    p = sub.add_parser("ablations", help="train and evaluate every variant of an ablations folder (Table 2)")
    common(p)
    p.add_argument("--folder", default="ablations", help="one {name}.yaml per variant (ablations/README.md)")
    p.add_argument("--processed", default="data/processed")
    p.add_argument("--annotated", default="data/annotated")
    p.add_argument("--sync", default="models/sync/d_sync.pt", help="pretrained D_sync ('' = no sync loss)")
    p.add_argument("--stage1", default="models/v2ss/checkpoints/stage1.pt",
                   help="the full model's stage-1 checkpoint, shared by variants that differ only on the text side")
    p.add_argument("--syncnet", default="models/syncnet/syncnet.pt", help="SyncNet weights for Sync_conf ('' = none)")
    p.add_argument("--jobs", type=int, default=0, help="variants at once (0 = one per usable core, 1 thread each)")
    p.add_argument("--out", default="models/ablations")
    p.set_defaults(func=cmd_ablations)

    p = sub.add_parser("report", help="Tables 1 and 2 (md/tex/csv) beside the paper's rows, and plots")
    p.add_argument("--eval", default="models/eval")
    p.add_argument("--ablations", default="", help="the ablations stage's folder (index.json, {name}/eval/results.json)")
    p.add_argument("--curves", nargs="*", default=None, help="learning-curve CSVs of the training stages (curves.csv)")
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
    p.add_argument("--derive", nargs="+", metavar="RUN_DIR", default=None,
                   help="instead of checking: propose thresholds from these runs' folders (seeds, machines)")
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser("generate", help="speech + text description -> expression coefficients and a video "
                       "(of a photo with --image, or of an embedded-corpus face with --identity)")
    p.add_argument("--params", default="params.yaml", help="parameters file (aligner settings)")
    p.add_argument("--checkpoint", default="models/train/checkpoints/final.pt", help="a training checkpoint")
    style = p.add_mutually_exclusive_group(required=True)
    style.add_argument("--text", help='speaking-style description, e.g. "A woman is furious."')
    style.add_argument("--style-clip", help="a reference .mat (Deep3DFaceRecon) or processed clip .npz whose style "
                       "to imitate; it must be in the checkpoint's expression space")
    p.add_argument("--style-space", default=None, choices=["embedded", "bfm"],
                   help="the style clip's expression space, when its file does not say (default: a .mat is 'bfm' "
                        "unless it declares otherwise or sits in an embedded corpus)")
    p.add_argument("--convert-style-space", action="store_true",
                   help="convert a style clip of another expression space into the checkpoint's through the "
                        "spaces' landmark maps (an approximation; e.g. a real .mat for a corpus-trained model)")
    speech = p.add_mutually_exclusive_group(required=True)
    speech.add_argument("--audio", help="speech (wav/m4a/mp4)")
    speech.add_argument("--phonemes", help="StyleTalk *_seq.json (30 fps per-frame phoneme ids)")
    p.add_argument("--transcript", default=None, help="what is said (forced alignment); without it, phone recognition")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--identity", default=None, help="embedded-corpus sidecar .npz whose face renders the video")
    p.add_argument("--image", default=None, help="a portrait photo (png/jpg/webp/...) to animate")
    p.add_argument("--image-size", type=int, default=None, help="frame size in pixels (128 with --identity, "
                   "256 with --image)")
    p.add_argument("-o", "--out", default="generated", help="output folder; with --image also a .mp4 file name")
    photo = p.add_argument_group("with --image")
    photo.add_argument("--text-to", default=None, help="a second description: the style moves from --text to it "
                       "over the clip")
    photo.add_argument("--intensity", type=float, default=1.0, help="style strength relative to neutral speech "
                       "(0 neutral, 1 as generated, up to 3)")
    photo.add_argument("--renderer", choices=["warp", "pirenderer"], default="warp",
                       help="warp: landmark warp of the photo (embedded-space models); pirenderer: StyleTalk's "
                       "PIRenderer (BFM-space models, needs --renderer-checkpoint and --pose-from)")
    photo.add_argument("--convert-space", action="store_true",
                       help="let a BFM-space checkpoint drive the warp: its coefficients are converted to the "
                       "embedded space through the shipped BFM -> landmark map (an approximation, recorded)")
    photo.add_argument("--renderer-checkpoint", default=None, help="PIRenderer weights (StyleTalk's "
                       "renderer_checkpoint.pt)")
    photo.add_argument("--pose-from", default=None, help="copy head rotations from a .mat (Deep3DFaceRecon) or .npz "
                       "clip; default: gentle natural motion")
    photo.add_argument("--pose-fps", type=float, default=None, help="frame rate of a --pose-from .mat (default 25; "
                       "StyleTalk's samples are 30)")
    photo.add_argument("--mark", action="store_true", help="burn a visible 'AI-generated' label into the frames")
    photo.add_argument("--seed", type=int, default=0, help="seed of the natural head motion")
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


# Where each command writes: (argument, "file" | "into" (files written into a folder) | "whole" (a folder
# replaced as a whole), the marker file of an earlier output that "whole" may replace). Checked before the
# command starts (docs/DESIGN.md, "Bad input"); `generate` checks its own in the library.
_OUTPUTS = {
    "synth": ("out", "whole", "corpus.json"), "preprocess": ("out", "whole", "manifest.csv"),
    "annotate": ("out", "whole", "descriptions.csv"), "sync-pretrain": ("out", "file", None),
    "syncnet-train": ("out", "file", None), "train": ("out", "into", None), "sweep": ("out", "into", None),
    "selfdriven": ("out", "into", None), "report": ("out", "into", None), "profile": ("write", "file", None),
    "ablations": ("out", "into", None), "ood": ("out", "into", None),
    "gate": ("out", "file", None),
}


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse output locations that cannot be written before the work (OutputPathError names them)."""
    targets = [("metrics", "file", None)] + ([_OUTPUTS[args.command]] if args.command in _OUTPUTS else [])
    for name, kind, marker in targets:
        path = getattr(args, name, None)
        if not path:
            continue
        what = f"{args.command}: --{name}"
        if kind == "file":
            check_output_file(path, what)
        else:
            check_output_dir(path, what, replaces=marker, whole=kind == "whole")


@contextlib.contextmanager
def _warnings_as_notes(command: str):
    """Warnings (unmatched transcripts, unreadable text...) as one plain line on stderr, not Python's
    file:line format."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"talkclip {command}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["evaluate"]:
        return _evaluate(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        with _warnings_as_notes(args.command):
            check_outputs(args)
            code = args.func(args)
    except (ConfigError, OSError, ValueError) as exc:  # bad input: FileNotFoundError, OutputPathError, ... included
        print(f"talkclip {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
