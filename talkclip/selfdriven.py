"""The paper's self-driven evaluation on the embedded corpus test splits (TalkCLIP sec. 5.1).

For every test clip (MEAD-format held-out speakers, HDTF-format unseen speakers): the clip's own
phonemes (aligner labels) drive the model, the speaking style comes from the clip's text
description (HDTF: "An expressionless woman/man.", as the paper) or, for the StyleTalk-like
comparison row, from the clip's own video; the pose is copied from the ground truth and the face is
rendered with the clip's identity (the reference image is the speaker's face, as with the first
frame in the paper). The rendered videos are scored against the corpus videos with
:func:`talkclip.metrics.evaluator.evaluate_folders` using the renderer's exact landmarks, and the
generated coefficient sequences are classified by the style classifier trained on ground truth.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from talkclip.atomic import atomic_path, write_text
from talkclip.corpus.identity import Identity
from talkclip.corpus.layout import groundtruth_for_coeffs
from talkclip.corpus.renderer import FaceRenderer
from talkclip.expression import EMBEDDED_SPACE, require_same_space
from talkclip.formats.media import read_audio, write_video
from talkclip.preprocess.dataset import manifest_expression_space, read_clip, read_manifest

DATASETS = {"test": "MEAD", "hdtf": "HDTF"}
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class EvalClip:
    clip_id: str
    dataset: str  # MEAD | HDTF
    emotion: str
    level: int
    text: str


def hdtf_text(gender: str) -> str:
    """The paper's HDTF style text."""
    return {"M": "An expressionless man.", "W": "An expressionless woman."}.get(gender, "An expressionless person.")


def select_clips(
    manifest: pd.DataFrame, annotated_dir: Path, max_clips_per_dataset: int = 0, source: str = "manifest"
) -> list[EvalClip]:
    """The test-split (MEAD-format) and hdtf-split clips of a processed ``manifest`` (read from
    ``source``, named in errors) with their style texts."""
    descriptions = pd.read_csv(annotated_dir / "descriptions.csv", keep_default_na=False)
    full = descriptions[descriptions["mode"] == "full"].sort_values(["clip_id", "variant"])
    first_text = full.groupby("clip_id")["text"].first()
    clips = []
    for split, dataset in DATASETS.items():
        rows = manifest[manifest["split"] == split].sort_values("clip_id")
        if max_clips_per_dataset:
            rows = rows.head(max_clips_per_dataset)
        for row in rows.itertuples():
            if dataset == "HDTF":
                text = hdtf_text(row.gender)
            elif row.clip_id in first_text.index:
                text = first_text[row.clip_id]
            else:
                raise ValueError(f"{row.clip_id}: no description in {annotated_dir / 'descriptions.csv'}")
            clips.append(EvalClip(row.clip_id, dataset, row.emotion, int(row.level), text))
    if not clips:
        raise ValueError(f"{source}: no test or hdtf clips to evaluate")
    return clips


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    os.symlink(os.path.abspath(src), dst)


@dataclass(frozen=True)
class RenderTask:
    """One generated clip to draw and encode (plain data: it travels to a worker process)."""
    identity_json: str
    expression: np.ndarray  # (T, 64) generated coefficients
    pose: np.ndarray  # (T, 6) the ground truth's
    fps: float
    audio: str
    target: str  # the .mp4; the renderer's exact landmarks go beside it
    image_size: int


_renderers: dict[tuple[str, int], FaceRenderer] = {}  # per process: a speaker's renderer is built once


def render_task(task: RenderTask, progress=None) -> str:
    """Draw, encode and write one clip (video with its audio, landmarks beside it); returns the target.
    ``progress(stage, done, total)`` (`talkclip.parallel`) is told each phase."""
    report = progress or (lambda stage, done, total: None)
    key = (task.identity_json, task.image_size)
    report("draw", 0, 2)
    if key not in _renderers:
        _renderers[key] = FaceRenderer(Identity.from_json(task.identity_json), image_size=task.image_size)
    frames, landmarks = _renderers[key].render(task.expression, task.pose)
    report("encode", 1, 2)
    audio = read_audio(task.audio, SAMPLE_RATE)[: round(len(frames) / task.fps * SAMPLE_RATE)]
    target = Path(task.target)
    write_video(target, frames, task.fps, audio=audio, sample_rate=SAMPLE_RATE)
    with atomic_path(target.with_name(f"{target.stem}.landmarks.npy")) as tmp:
        np.save(tmp, landmarks.astype(np.float32))
    report("done", 2, 2)
    return task.target


def render_variants(
    model, backbone, clips: list[EvalClip], processed_dir: Path, manifest: pd.DataFrame, out_dir: Path,
    styles: Sequence[str], image_size: int, workers: int | None = None,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, float]]:
    """Generate every clip in every style (``manifest``: the processed manifest indexed by clip id), then
    draw and encode them all on ``workers`` processes (default one per core); links the ground truth
    beside them. Returns ({style: {clip id: generated coefficients}}, {phase: seconds})."""
    from talkclip.inference import generate_coefficients
    from talkclip.parallel import default_workers, run_tasks

    started = time.perf_counter()
    # The model runs here, once loaded; drawing and encoding (the bulk of the time) are torch-free and
    # go to the workers.
    generated: dict[str, dict[str, np.ndarray]] = {style: {} for style in styles}
    tasks: list[RenderTask] = []
    for clip in tqdm(clips, desc="evaluate: generate", unit="clip"):
        row = manifest.loc[clip.clip_id]
        data = read_clip(processed_dir / row["path"], clip.clip_id)
        sidecar = groundtruth_for_coeffs(Path(row["coeffs"]))
        with np.load(sidecar, allow_pickle=False) as gt:
            identity_json = str(gt["identity"])
        for style in styles:
            if style == "text":
                expression = generate_coefficients(model, data.phonemes, text=clip.text, backbone=backbone)
            else:
                expression = generate_coefficients(model, data.phonemes, style_clip=data.expression)
            generated[style][clip.clip_id] = expression
            target = out_dir / "generated" / style / clip.dataset / f"{clip.clip_id}.mp4"
            tasks.append(RenderTask(identity_json, expression, np.ascontiguousarray(data.pose[:, :6]), data.fps,
                                    str(row["audio"]), str(target), image_size))
        # The ground truth: the corpus video and its sidecar (exact landmarks), linked by clip id.
        ref = out_dir / "reference" / clip.dataset / f"{clip.clip_id}.mp4"
        _link(Path(row["video"]), ref)
        _link(sidecar, ref.with_suffix(".npz"))
    seconds = {"generate": round(time.perf_counter() - started, 1)}
    phase = time.perf_counter()
    n_workers = workers if workers is not None else default_workers(len(tasks))
    run_tasks(render_task, tasks, n_workers, desc="evaluate: render", labels=[Path(t.target).stem for t in tasks])
    seconds["render"] = round(time.perf_counter() - phase, 1)
    return generated, seconds


def run_selfdriven(
    checkpoint: str | Path, processed_dir: str | Path, annotated_dir: str | Path, out_dir: str | Path,
    syncnet: str | Path | None = None, image_size: int = 128, max_clips_per_dataset: int = 0,
    text_only: bool = False, ood_lists: Sequence[str | Path] = (), workers: int | None = None,
) -> dict:
    """Render and score the test splits; returns {method: {dataset: metrics}} plus style results.

    ``text_only``: only the text-driven generation of the MEAD-format split (an ablation's row of
    Table 2), no ground-truth or video-style rows. ``ood_lists``: out-of-domain description tables
    (``text<TAB>emotion``) scored beside the shipped one (``results["ood_extra"][file stem]``).
    ``workers``: processes that draw and score the videos (default one per core; 1 = this process).
    """
    from talkclip.inference import load_model
    from talkclip.metrics.evaluator import evaluate_methods
    from talkclip.metrics.style import style_accuracy, train_style_classifier
    from talkclip.model.text_backbone import load_text_backbone

    processed_dir, annotated_dir, out_dir = Path(processed_dir), Path(annotated_dir), Path(out_dir)
    model, model_cfg = load_model(checkpoint)
    backbone = load_text_backbone(model_cfg)
    manifest = read_manifest(processed_dir / "manifest.csv")
    # The model must be of the dataset's space, and both embedded: the clips are drawn by the
    # embedded-corpus renderer with the speakers' identities.
    dataset_space = manifest_expression_space(manifest, f"processed dataset {processed_dir / 'manifest.csv'}")
    require_same_space(model.expression_space, f"checkpoint {checkpoint}", dataset_space,
                       f"processed dataset {processed_dir}")
    require_same_space(EMBEDDED_SPACE, "the self-driven protocol (it renders with the embedded-corpus face)",
                       dataset_space, f"processed dataset {processed_dir}")
    clips = select_clips(manifest, annotated_dir, max_clips_per_dataset, source=str(processed_dir / "manifest.csv"))
    manifest = manifest.set_index("clip_id")
    if text_only:
        clips = [c for c in clips if c.dataset == "MEAD"]
    results: dict = {"table1": {}, "style": {}, "seconds": {}}
    seconds = results["seconds"]  # wall time per phase, for the benchmark record
    started = time.perf_counter()
    variants = {"text": "TalkCLIP (text style)"}
    if not text_only:
        variants["video"] = "TalkCLIP (video style, StyleTalk-like)"
    styles = list(variants)
    generated, render_seconds = render_variants(model, backbone, clips, processed_dir, manifest, out_dir, styles,
                                                image_size, workers)
    seconds.update(render_seconds)
    phase = time.perf_counter()
    # One scoring run per dataset for every row (the generations and the ground truth against itself): one
    # pool of workers, and each reference's face analysis is shared by the rows.
    for dataset in sorted({c.dataset for c in clips}):
        reference = out_dir / "reference" / dataset
        methods = {style: out_dir / "generated" / style / dataset for style in styles}
        if not text_only:
            methods["gt"] = reference
        scored = evaluate_methods(methods, reference, out_dir=out_dir / "scores" / dataset, crop_size=image_size,
                                  syncnet=syncnet, landmark_source="given", progress=False, workers=workers)
        for key, (_, summary) in scored.items():
            if summary["n_failed"]:
                raise RuntimeError(f"evaluation of {key}/{dataset} failed for {summary['failed']}")
            row = variants.get(key, "Ground Truth")
            results["table1"].setdefault(row, {})[dataset] = summary["metrics"]
    seconds["score"] = round(time.perf_counter() - phase, 1)

    phase = time.perf_counter()
    classifier = train_style_classifier(processed_dir, splits=("train",))
    mead = [c for c in clips if c.dataset == "MEAD"]
    for style in styles:
        report = style_accuracy(classifier, [generated[style][c.clip_id] for c in mead], [c.emotion for c in mead],
                                [c.level for c in mead])
        results["style"][style] = {"accuracy": report.accuracy, "level_accuracy": report.level_accuracy,
                                   "per_emotion": report.per_emotion}
        with atomic_path(out_dir / f"style_confusion_{style}.csv") as tmp:
            report.confusion.to_csv(tmp)
    if not text_only:
        # The ceiling: the same classifier on the test clips' own (ground-truth) expressions.
        truth = [read_clip(processed_dir / manifest.loc[c.clip_id, "path"]).expression for c in mead]
        report = style_accuracy(classifier, truth, [c.emotion for c in mead], [c.level for c in mead])
        results["style"]["ground_truth"] = {"accuracy": report.accuracy, "level_accuracy": report.level_accuracy,
                                            "per_emotion": report.per_emotion}
    # Out-of-domain text (descriptions outside the annotation vocabulary), same speech for every text.
    from talkclip.metrics.style import DEFAULT_OOD_PATH, load_ood_table

    speech = read_clip(processed_dir / manifest.loc[mead[0].clip_id, "path"]).phonemes
    for path in (DEFAULT_OOD_PATH, *ood_lists):
        ood = score_ood(model, backbone, classifier, speech, load_ood_table(path))
        entry = {"accuracy": ood.accuracy, "per_emotion": ood.per_emotion, "descriptions": str(path)}
        name = Path(path).stem
        with atomic_path(out_dir / f"ood_predictions_{name}.csv") as tmp:
            ood.report.predictions.to_csv(tmp, index=False)
        if Path(path) == DEFAULT_OOD_PATH:
            results["ood"] = entry
        else:
            results.setdefault("ood_extra", {})[name] = entry
    seconds["style_and_ood"] = round(time.perf_counter() - phase, 1)
    seconds["total"] = round(time.perf_counter() - started, 1)
    results["syncnet_weights"] = str(syncnet) if syncnet else "none"
    results["image_size"] = image_size
    write_text(out_dir / "results.json", json.dumps(results, indent=2, default=float) + "\n")
    return results


def score_ood(model, backbone, classifier, phonemes: np.ndarray, table: pd.DataFrame):
    """The style classifier's verdict on one generation per out-of-domain description (all with the same
    speech ``phonemes``): an OODResult with per-emotion accuracy and a row per description."""
    from talkclip.inference import generate_coefficients
    from talkclip.metrics.style import ood_accuracy

    return ood_accuracy(lambda text, ph: generate_coefficients(model, ph, text=text, backbone=backbone), classifier,
                        table, phonemes)


def run_ood(checkpoint: str | Path, descriptions: str | Path, processed_dir: str | Path, out_dir: str | Path) -> dict:
    """A user's out-of-domain list scored like the shipped one (``talkclip ood``): the style classifier is
    fitted on the processed dataset's training clips, the speech is its first test (else validation)
    clip's. Writes ``predictions.csv`` and ``summary.json`` into ``out_dir``; returns the summary."""
    from talkclip.inference import load_model
    from talkclip.metrics.style import load_ood_table, train_style_classifier
    from talkclip.model.text_backbone import load_text_backbone

    processed_dir, out_dir = Path(processed_dir), Path(out_dir)
    table = load_ood_table(descriptions)
    model, model_cfg = load_model(checkpoint)
    manifest = read_manifest(processed_dir / "manifest.csv")
    held = manifest[manifest["split"].isin(["test", "val"])].sort_values(["split", "clip_id"])
    if held.empty:
        raise ValueError(f"{processed_dir / 'manifest.csv'}: no test or val clip to take the speech from")
    row = held.iloc[0]
    speech = read_clip(processed_dir / row["path"], row["clip_id"]).phonemes
    classifier = train_style_classifier(processed_dir, splits=("train",))
    ood = score_ood(model, load_text_backbone(model_cfg), classifier, speech, table)
    summary = {"descriptions": str(descriptions), "checkpoint": str(checkpoint), "speech_clip": str(row["clip_id"]),
               "n_descriptions": len(table), "accuracy": ood.accuracy, "per_emotion": ood.per_emotion,
               "chance": 1.0 / len(classifier.emotions), "classifier_emotions": list(classifier.emotions)}
    with atomic_path(out_dir / "predictions.csv") as tmp:
        ood.report.predictions.to_csv(tmp, index=False)
    write_text(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def selfdriven_metrics(results: dict) -> dict[str, float]:
    """The flat metrics of :func:`run_selfdriven`'s results: every Table 1 cell
    (``{method}/{dataset}/{metric}``), the style accuracies and the OOD accuracy."""
    metrics = {
        f"{method}/{dataset}/{key}": value
        for method, by in results["table1"].items() for dataset, values in by.items() for key, value in values.items()
    }
    for style, report in results["style"].items():
        metrics[f"style_accuracy_{style}"] = report["accuracy"]
        if report.get("level_accuracy") is not None:
            metrics[f"level_accuracy_{style}"] = report["level_accuracy"]
    metrics["ood_accuracy"] = results["ood"]["accuracy"]
    for name, entry in results.get("ood_extra", {}).items():
        metrics[f"ood_accuracy_{name}"] = entry["accuracy"]
    return metrics


def sample_videos(out_dir: str | Path, per_style: int = 2) -> list[Path]:
    """A few generated videos of an evaluation folder (the first clips of each style and dataset), for
    experiment tracking: ``generated/{style}/{dataset}/{clip}.mp4``."""
    videos = []
    for folder in sorted((Path(out_dir) / "generated").glob("*/*")):
        videos += sorted(folder.glob("*.mp4"))[:per_style]
    return videos


def write_report(
    results: dict, eval_dir: str | Path, report_dir: str | Path, ablations_dir: str | Path | None = None,
    curves: list[str | Path] | None = None,
) -> dict[str, Path]:
    """Table 1 (and Table 2 when ablation results are given) beside the paper's rows, and the PNG plots."""
    from talkclip.formats.media import read_video
    from talkclip.metrics import plots, tables

    eval_dir, report_dir = Path(eval_dir), Path(report_dir)
    weights = results.get("syncnet_weights", "none")
    weights_label = "no SyncNet weights: Sync_conf not measured" if weights == "none" else weights
    table = tables.table1(results["table1"], weights_label, crop_size=results.get("image_size", 128),
                          landmark_source="given (renderer)")
    written = {f"table1.{k}": v for k, v in tables.write_table(table, report_dir / "table1").items()}
    if ablations_dir is not None:
        # Table 2: the full model's MEAD text-style row and each variant's (talkclip.ablations), same protocol,
        # in the order and with the labels of the ablation files.
        def row(result: dict) -> dict:
            return {**result["table1"]["TalkCLIP (text style)"]["MEAD"], "style_accuracy": result["style"]["text"]["accuracy"],
                    "ood_accuracy": result["ood"]["accuracy"]}

        ablations_dir = Path(ablations_dir)
        index_path = ablations_dir / "index.json"
        if not index_path.is_file():
            raise FileNotFoundError(f"{index_path}: the ablations stage's index of variants is missing")
        rows = {}
        for entry in json.loads(index_path.read_text()):
            path = ablations_dir / entry["name"] / "eval" / "results.json"
            rows[entry["label"]] = row(read_results(path, table2_row=True))
        rows["Full"] = row(results)
        table2 = tables.table2(rows, weights_label, crop_size=results.get("image_size", 128),
                               landmark_source="given (renderer)")
        written.update({f"table2.{k}": v for k, v in tables.write_table(table2, report_dir / "table2").items()})
        written["ablation_bars"] = plots.plot_metric_bars(
            rows, report_dir / "ablation_bars.png", title="Ablations, MEAD-format test split (measured)",
            metrics=("ssim", "f_lmd", "m_lmd", "style_accuracy", "ood_accuracy"))
    flat = {f"{method} / {dataset}": metrics for method, by in results["table1"].items() for dataset, metrics in by.items()}
    written["metric_bars"] = plots.plot_metric_bars(flat, report_dir / "metric_bars.png",
                                                    title="Embedded corpus test splits (measured)")
    confusion = pd.read_csv(eval_dir / "style_confusion_text.csv", index_col=0)
    written["confusion"] = plots.plot_confusion(confusion, report_dir / "style_confusion_text.png",
                                                title="Style classifier on text-driven generations")
    written["ood"] = plots.plot_ood_accuracy(results["ood"]["per_emotion"], report_dir / "ood_accuracy.png",
                                             overall=results["ood"]["accuracy"])
    # One clip per emotion (its strongest level) of the first test speaker: text-driven above ground truth.
    names = frame_strip_clips(sorted(p.stem for p in (eval_dir / "generated" / "text" / "MEAD").glob("*.mp4")))
    generated = [read_video(eval_dir / "generated" / "text" / "MEAD" / f"{n}.mp4")[0] for n in names]
    reference = [read_video(eval_dir / "reference" / "MEAD" / f"{n}.mp4")[0] for n in names]
    written["frames"] = plots.plot_frame_strip(generated, reference, report_dir / "frame_strip.png", names=names,
                                               n_frames=4)
    if curves is not None:
        frames = [pd.read_csv(path) for path in curves if Path(path).is_file()]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if frame.empty:  # no validation speakers (or train.eval_every 0): say so rather than leave a gap
            written["curves"] = plots.plot_note(report_dir / "learning_curves.png", "No learning curves: the dataset "
                                                "has no validation split, or train.eval_every is 0.")
        else:
            written["curves"] = plots.plot_learning_curves(
                frame, report_dir / "learning_curves.png", chance=1 / 8,
                title="Full model, validation speakers, embedded corpus (measured)")
    return written


def frame_strip_clips(clip_ids: list[str]) -> list[str]:
    """Of MEAD-style clip ids (``{ID}_front_{emotion}_level{n}_{NNN}``), the first speaker's clip of each
    emotion at its highest level, in emotion order."""
    parsed = []
    for clip_id in clip_ids:
        parts = clip_id.split("_")
        if len(parts) >= 5 and parts[-2].startswith("level"):
            parsed.append((parts[0], parts[2], int(parts[-2].removeprefix("level")), clip_id))
    if not parsed:
        return clip_ids[:4]
    speaker = min(p[0] for p in parsed)
    best: dict[str, tuple[int, str]] = {}
    for spk, emotion, level, clip_id in parsed:
        if spk == speaker and (emotion not in best or level > best[emotion][0]):
            best[emotion] = (level, clip_id)
    return [best[e][1] for e in sorted(best)]


TABLE2_METHOD = "TalkCLIP (text style)"  # the row of each model that Table 2 compares


class ResultsError(ValueError):
    """A results.json is missing, unparsable or lacks what the report needs; the message names the file and key."""


def read_results(path: str | Path, table2_row: bool = False) -> dict:
    """A ``results.json`` of :func:`run_selfdriven`, checked for everything :func:`write_report` reads
    (``table2_row``: also the text-style MEAD-format row that Table 2 takes)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: results file not found (run `talkclip selfdriven` first)")
    text = path.read_text(errors="replace")
    if not text.strip():
        raise ResultsError(f"{path}: results file is empty")
    try:
        results = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None

    def need(value, key: str, kind: type, what: str):
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is dict and not value):
            json_type = {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), "number")
            shown = "missing" if value is None else "an empty object" if value == {} else f"a JSON {json_type}"
            raise ResultsError(f"{path}: '{key}' must be {what}, found {shown}; is this a results.json written by "
                               "`talkclip selfdriven`?")
        return value

    if not isinstance(results, dict):
        need(results, "(top level)", dict, "an object")
    for method, datasets in need(results.get("table1"), "table1", dict, "an object of methods").items():
        for dataset, metrics in need(datasets, f"table1.{method}", dict, "an object of datasets").items():
            for metric, value in need(metrics, f"table1.{method}.{dataset}", dict, "an object of metrics").items():
                need(value, f"table1.{method}.{dataset}.{metric}", (int, float), "a number")
    if table2_row:
        need(results["table1"].get(TABLE2_METHOD, {}).get("MEAD"), f"table1.{TABLE2_METHOD}.MEAD", dict,
             "an object of metrics")
    style = need(results.get("style"), "style", dict, "an object")
    need(need(style.get("text"), "style.text", dict, "an object").get("accuracy"), "style.text.accuracy",
         (int, float), "a number")
    ood = need(results.get("ood"), "ood", dict, "an object")
    need(ood.get("accuracy"), "ood.accuracy", (int, float), "a number")
    need(ood.get("per_emotion"), "ood.per_emotion", dict, "an object of accuracies")
    return results
