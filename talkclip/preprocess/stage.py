"""The preprocessing stage: the same code for the embedded corpus and for real MEAD / HDTF folders.

Per clip: audio -> 16 kHz mono; transcript + audio -> phones by forced alignment (phone recognition
when no transcript is known or alignment fails, as configured) -> one phoneme id per output frame;
``.mat`` -> expression and pose; video -> frame count and rate; everything brought to
``preprocess.fps`` by the length rule of :mod:`talkclip.preprocess.timing`. StyleTalk-style folders
(``3DMM/*.mat`` + ``phoneme/*_seq.json`` + ``wav/*.wav``) are read too: their per-frame phonemes are
used as given.

Expression spaces: each clip's space comes from its ``.mat`` (:mod:`talkclip.preprocess.spaces`);
a dataset holds one space, recorded in the manifest, every clip file and the stage metrics, and a
mix of spaces is refused before any clip is processed.
"""
from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from talkclip.atomic import atomic_dir, write_text
from talkclip.config.preprocess import PreprocessConfig
from talkclip.corpus.layout import groundtruth_for_coeffs
from talkclip.expression import ExpressionSpaceError
from talkclip.formats.mat3dmm import read_mat
from talkclip.formats.mead import ClipRecord, scan_hdtf, scan_mead
from talkclip.formats.media import AudioTooLongError, probe_video, read_audio
from talkclip.formats.phoneme_json import read_phoneme_seq
from talkclip.phonemes import PhoneInterval, WordInterval, intervals_to_frame_ids
from talkclip.preprocess.alignment import (
    AlignmentError,
    PhonemeAligner,
    assess_phonemes,
    frame_agreement,
    word_boundary_error_ms,
)
from talkclip.preprocess.dataset import ProcessedClip, write_clip, write_manifest
from talkclip.preprocess.spaces import coeffs_file_space
from talkclip.preprocess.timing import coeffs_frame_rate, common_frame_count, resample_frames, resample_labels

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class ClipTask:
    clip_id: str
    speaker: str
    gender: str  # M | W | U (unknown)
    emotion: str
    level: int
    split: str
    audio: Path
    coeffs: Path
    video: Path | None = None
    transcript: str | None = None
    phoneme_seq: Path | None = None  # StyleTalk *_seq.json: per-frame ids at the .mat's rate
    groundtruth: Path | None = None  # embedded corpus sidecar
    expression_space: str = ""  # of the .mat (talkclip.preprocess.spaces); filled by the planners
    space_reason: str = ""  # why: for the error when spaces mix


class ClipError(ValueError):
    """One clip cannot be processed; the message names the clip and the problem."""


_PATH_LIKE_ID = re.compile(r"[/\\\x00]|^\.\.?$")


def read_transcripts(path: str | Path) -> dict[str, str]:
    """A ``clip_id<TAB>text`` table with a header row.

    A clip id is a name, never a path (``../x``, ``a/b``), and appears once; either is an error naming the
    file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: transcripts file not found")
    out: dict[str, str] = {}
    lines: dict[str, int] = {}
    with path.open(newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header != ["clip_id", "text"]:
            raise ValueError(f"{path}: expected header 'clip_id<TAB>text', got {header!r}")
        for line_no, row in enumerate(reader, start=2):
            if len(row) != 2 or not row[0] or not row[1].strip():
                raise ValueError(f"{path}:{line_no}: expected 'clip_id<TAB>text', got {row!r}")
            clip_id = row[0]
            if _PATH_LIKE_ID.search(clip_id):
                raise ValueError(f"{path}:{line_no}: clip id {clip_id!r} is a path; clip ids are names like "
                                 "M003_front_angry_level3_001")
            if clip_id in out:
                raise ValueError(f"{path}:{line_no}: clip id {clip_id!r} repeats line {lines[clip_id]}")
            out[clip_id], lines[clip_id] = row[1].strip(), line_no
    return out


def _listed(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def skip_summary(skips: list[tuple[str, str]], limit: int = 3) -> str:
    """The first few skips as ``item: reason`` lines, for an error that says why nothing was left."""
    lines = [f"  {reason}" if reason.startswith(item) else f"  {item}: {reason}" for item, reason in skips[:limit]]
    if len(skips) > limit:
        lines.append(f"  ... and {len(skips) - limit} more")
    return "\n".join(lines)


def _gender_of(speaker: str, genders: dict[str, str]) -> str:
    if speaker in genders:
        return genders[speaker]
    return speaker[0] if speaker[:1] in ("M", "W") else "U"


def plan_corpus(
    root: str | Path,
    cfg: PreprocessConfig,
    transcripts: dict[str, str] | None = None,
    strict: bool = True,
    coeffs_dir: str | Path | None = None,
) -> tuple[list[ClipTask], list[tuple[str, str]]]:
    """Tasks for a MEAD-layout root (``mead/`` and/or ``hdtf/`` below it, or a MEAD root itself).

    The embedded corpus carries ``corpus.json`` (speaker genders and splits) and ``transcripts.tsv``;
    for real data, splits come from ``cfg.test_speakers`` / ``cfg.val_speakers`` and transcripts from the caller.
    ``coeffs_dir`` is a folder of ``{clip_id}.mat`` files, for MEAD fits kept outside the MEAD tree.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: corpus folder not found")
    genders: dict[str, str] = {}
    splits: dict[str, str] = {}
    meta_path = root / "corpus.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        for sp in meta.get("speakers", []):
            genders[sp["id"]] = sp["gender"]
            splits[sp["id"]] = sp["split"]
    if transcripts is None and (root / "transcripts.tsv").is_file():
        transcripts = read_transcripts(root / "transcripts.tsv")
    transcripts = transcripts or {}

    mead_root = root / "mead" if (root / "mead").is_dir() else root
    records: list[ClipRecord] = []
    skips: list[tuple[str, str]] = []
    if mead_root != root or not (root / "hdtf").is_dir():
        found, skipped = scan_mead(mead_root, coeffs_dir=coeffs_dir, strict=strict)
        records += found
        skips += [(str(p), r) for p, r in skipped]
    if (root / "hdtf").is_dir():
        found, skipped = scan_hdtf(root / "hdtf", strict=strict)
        records += found
        skips += [(str(p), r) for p, r in skipped]
    if not records and skips:
        raise ClipError(f"{root}: no usable clip; all {len(skips)} found were skipped:\n{skip_summary(skips)}")
    if not records:
        raise FileNotFoundError(f"{root}: no clips found (expected MEAD layout '{{ID}}/video/front/{{emotion}}/level_{{n}}/NNN.mp4' or an hdtf/ folder)")
    if transcripts:
        _warn_unmatched_transcripts(root, transcripts, [rec.clip_id for rec in records])

    tasks = []
    for rec in records:
        if rec.dataset == "hdtf":
            split = "hdtf"
        else:
            split = splits.get(rec.speaker) or (
                "test" if rec.speaker in cfg.test_speakers else "val" if rec.speaker in cfg.val_speakers else "train")
        if rec.audio is None or rec.coeffs is None:
            missing = "audio" if rec.audio is None else "3DMM coefficients (.mat)"
            if strict:
                raise ClipError(f"{rec.clip_id}: no {missing} found for video {rec.video}")
            skips.append((str(rec.video), f"no {missing}"))
            continue
        gt = groundtruth_for_coeffs(Path(rec.coeffs))
        space, reason = coeffs_file_space(rec.coeffs)
        tasks.append(
            ClipTask(
                clip_id=rec.clip_id, speaker=rec.speaker, gender=_gender_of(rec.speaker, genders),
                emotion=rec.emotion, level=rec.level, split=split, audio=Path(rec.audio), coeffs=Path(rec.coeffs),
                video=Path(rec.video) if rec.video else None, transcript=transcripts.get(rec.clip_id),
                groundtruth=gt if gt.is_file() else None, expression_space=space, space_reason=reason,
            )
        )
    check_one_space(tasks)
    return tasks, skips


def _warn_unmatched_transcripts(root: Path, transcripts: dict[str, str], clip_ids: list[str]) -> None:
    """Transcript rows that name no clip, and clips that no row names (they fall back to phone recognition)."""
    unmatched = sorted(set(transcripts) - set(clip_ids))
    if unmatched:
        warnings.warn(f"{len(unmatched)} transcript row(s) match no clip under {root}: {_listed(unmatched)}",
                      stacklevel=3)
    untranscribed = sorted(set(clip_ids) - set(transcripts))
    if untranscribed:
        warnings.warn(f"{len(untranscribed)} clip(s) under {root} have no transcript row and fall back to phone "
                      f"recognition: {_listed(untranscribed)}", stacklevel=3)


def check_one_space(tasks: list[ClipTask]) -> str:
    """The one expression space of ``tasks``; ExpressionSpaceError naming a clip of each space otherwise."""
    by_space: dict[str, ClipTask] = {}
    for task in tasks:
        by_space.setdefault(task.expression_space, task)
    if len(by_space) > 1:
        examples = "; ".join(f"{t.clip_id} is {space!r} ({t.space_reason})" for space, t in sorted(by_space.items()))
        raise ExpressionSpaceError(
            f"the clips are in different expression spaces, which cannot be trained together: {examples}. "
            f"Preprocess each space into its own dataset"
        )
    return next(iter(by_space), "")


def plan_styletalk(folder: str | Path, split: str = "test") -> list[ClipTask]:
    """Tasks for a StyleTalk sample folder: ``3DMM/{name}.mat``, ``wav/{name}.wav``, optional
    ``phoneme/{name}_seq.json`` and ``video/{name}.mp4``. Emotion is unknown there (``neutral``)."""
    folder = Path(folder)
    mats = sorted((folder / "3DMM").glob("*.mat"))
    if not mats:
        raise FileNotFoundError(f"{folder}: no 3DMM/*.mat files found")
    tasks = []
    for mat in mats:
        name = mat.stem
        wav = folder / "wav" / f"{name}.wav"
        if not wav.is_file():
            raise ClipError(f"{name}: audio {wav} not found")
        seq = folder / "phoneme" / f"{name}_seq.json"
        video = folder / "video" / f"{name}.mp4"
        space, reason = coeffs_file_space(mat)
        tasks.append(
            ClipTask(
                clip_id=name, speaker=name.split("_")[0], gender="U", emotion="neutral", level=1, split=split,
                audio=wav, coeffs=mat, video=video if video.is_file() else None,
                phoneme_seq=seq if seq.is_file() else None, expression_space=space, space_reason=reason,
            )
        )
    check_one_space(tasks)
    return tasks


def _load_groundtruth(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def process_clip(task: ClipTask, cfg: PreprocessConfig, aligner: PhonemeAligner, out_root: Path) -> tuple[dict, dict]:
    """Process one clip; returns (manifest row, per-clip alignment metrics)."""
    try:
        coeffs = read_mat(task.coeffs)
        n_coeff_frames = coeffs.expression.shape[0]
        if task.video is not None:
            # The fit's rate: configured, or inferred from the durations. 3DMM fitting tools may also
            # drop a frame or two at the end (StyleTalk's own samples have .mat files 2 frames shorter
            # than their videos); the coefficients define the timeline, and a gap beyond the tolerance
            # at every plausible rate means the files do not belong together.
            info = probe_video(task.video)
            coeffs_fps, fps_rule = coeffs_frame_rate(
                n_coeff_frames, info.n_frames, info.fps, cfg.coeffs_fps, cfg.max_av_mismatch_s,
                f"{task.clip_id}: {task.coeffs} vs video {task.video}",
            )
        else:
            coeffs_fps = float(cfg.coeffs_fps or cfg.mat_fps_without_video)
            fps_rule = "configured" if cfg.coeffs_fps else "mat_fps_without_video"
        # Audio longer than the video allows is refused before it is decoded (or as soon as decoding
        # passes the limit, when the file states no duration): an hour of audio beside a 3 s clip
        # costs nothing.
        video_s = n_coeff_frames / coeffs_fps
        try:
            audio = read_audio(task.audio, SAMPLE_RATE, max_seconds=video_s + cfg.max_av_mismatch_s)
        except AudioTooLongError as exc:
            raise ClipError(f"{task.clip_id}: {exc}: its video lasts {video_s:.3f} s and the tolerance "
                            f"preprocess.max_av_mismatch_s is {cfg.max_av_mismatch_s:g} s") from None
        n_out = common_frame_count(
            n_coeff_frames, coeffs_fps, len(audio) / SAMPLE_RATE, cfg.fps, cfg.max_av_mismatch_s, task.clip_id
        )
        if n_out == 0:
            raise ClipError(f"{task.clip_id}: shorter than one frame at {cfg.fps} fps")
        expression = resample_frames(coeffs.expression, coeffs_fps, cfg.fps, n_out)
        pose = resample_frames(coeffs.pose9(), coeffs_fps, cfg.fps, n_out)

        clip_metrics: dict = {"coeffs_fps": coeffs_fps, "coeffs_fps_rule": fps_rule}
        if task.phoneme_seq is not None:
            seq = read_phoneme_seq(task.phoneme_seq)
            if abs(len(seq) - n_coeff_frames) > 1:
                raise ClipError(f"{task.clip_id}: {task.phoneme_seq} has {len(seq)} frames but {task.coeffs} has {n_coeff_frames}")
            phonemes = resample_labels(np.asarray(seq), coeffs_fps, cfg.fps, n_out)
            method = "phoneme_json"
        else:
            try:
                alignment = aligner.align(audio, SAMPLE_RATE, task.transcript)
            except AlignmentError as exc:  # no speech, or no method worked: the clip is an error or a skip
                raise ClipError(f"{task.clip_id}: audio file {task.audio}: {exc}") from None
            phonemes = intervals_to_frame_ids(alignment.phones, n_out, cfg.fps)
            method = alignment.method
            reliability = assess_phonemes(audio, SAMPLE_RATE, alignment)
            clip_metrics["phonemes_reliable"] = reliability.reliable
            clip_metrics["energy_range_db"] = round(reliability.energy_range_db, 1)
            if reliability.warnings:
                clip_metrics["phoneme_warnings"] = list(reliability.warnings)
        extras: dict[str, np.ndarray] = {}
        if task.groundtruth is not None:
            gt = _load_groundtruth(task.groundtruth)
            gt_phones = [
                PhoneInterval(str(p), float(s), float(e))
                for p, s, e in zip(gt["phone_labels"], gt["phone_starts"], gt["phone_ends"])
            ]
            reference = intervals_to_frame_ids(gt_phones, n_out, cfg.fps)
            extras["phonemes_reference"] = reference
            gt_fps = float(gt["fps"])
            extras["au"] = resample_frames(gt["au"], gt_fps, cfg.fps, n_out).astype(np.float32)
            extras["landmarks"] = resample_frames(gt["landmarks"], gt_fps, cfg.fps, n_out).astype(np.float32)
            if method != "phoneme_json":
                clip_metrics["frame_agreement"] = frame_agreement(phonemes, reference)
                gt_words = [
                    WordInterval(str(w), float(s), float(e))
                    for w, s, e in zip(gt["word_labels"], gt["word_starts"], gt["word_ends"])
                ]
                if alignment.words and gt_words:
                    clip_metrics["word_boundary_error_ms"] = word_boundary_error_ms(alignment.words, gt_words)
        clip_metrics["method"] = method

        rel = Path("clips") / f"{task.clip_id}.npz"
        write_clip(out_root / rel, ProcessedClip(task.clip_id, float(cfg.fps), expression, pose, phonemes, extras,
                                                 expression_space=task.expression_space))
    except (OSError, ValueError) as exc:
        message = str(exc)
        if task.clip_id not in message:
            message = f"{task.clip_id}: {message}"
        raise ClipError(message) from exc
    row = {
        "clip_id": task.clip_id, "speaker": task.speaker, "gender": task.gender, "emotion": task.emotion,
        "level": task.level, "split": task.split, "fps": cfg.fps, "frames": n_out,
        "video": str(task.video or ""), "audio": str(task.audio), "coeffs": str(task.coeffs),
        "transcript": task.transcript or "", "alignment_method": method, "path": str(rel),
        "expression_space": task.expression_space,
    }
    return row, clip_metrics


_WORKER: dict = {}


def _init_worker(cfg: PreprocessConfig, out_root: Path) -> None:
    _WORKER["cfg"] = cfg
    _WORKER["aligner"] = PhonemeAligner(cfg.aligner)
    _WORKER["out_root"] = out_root


def _run_one(task: ClipTask) -> tuple[str, dict | None, dict | None, str | None]:
    try:
        row, metrics = process_clip(task, _WORKER["cfg"], _WORKER["aligner"], _WORKER["out_root"])
        return task.clip_id, row, metrics, None
    except ClipError as exc:
        if _WORKER["cfg"].on_error == "raise":
            raise
        return task.clip_id, None, None, str(exc)


def run_preprocess(
    tasks: list[ClipTask], out_dir: str | Path, cfg: PreprocessConfig, skips: list[tuple[str, str]] | None = None,
    progress: bool = True,
) -> dict:
    """Process all tasks into ``out_dir`` (replaced atomically); returns the stage metrics."""
    out_dir = Path(out_dir)
    space = check_one_space(tasks)
    if not space:
        raise ClipError("no clips to process")
    skipped = list(skips or [])
    rows: list[dict] = []
    per_clip: dict[str, dict] = {}
    with atomic_dir(out_dir, replaces="manifest.csv", what="processed-dataset folder") as tmp:
        workers = min(cfg.workers or os.cpu_count() or 1, max(1, len(tasks)))
        bar = tqdm(total=len(tasks), desc="preprocess: clips", unit="clip", disable=not progress)
        if workers == 1:
            _init_worker(cfg, tmp)
            results = map(_run_one, tasks)
            pool = None
        else:
            pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(cfg, tmp))
            results = pool.imap_unordered(_run_one, tasks, chunksize=2)
        try:
            for clip_id, row, metrics, error in results:
                if error is not None:
                    skipped.append((clip_id, error))
                    tqdm.write(f"skipped {error}")
                else:
                    rows.append(row)
                    per_clip[clip_id] = metrics
                bar.update()
        finally:
            if pool is not None:
                pool.terminate()
            bar.close()
        if not rows:
            raise ClipError(f"no clip could be processed: all {len(skipped)} were skipped:\n{skip_summary(skipped)}")
        write_manifest(tmp / "manifest.csv", rows)
        write_text(tmp / "skipped.tsv", "item\treason\n" + "".join(f"{a}\t{b}\n" for a, b in skipped))
        metrics = {**summarize(per_clip, len(rows), skipped), "expression_space": space}
        if metrics["phonemes_unreliable"]:
            tqdm.write(f"warning: {metrics['phonemes_unreliable']} of {len(rows)} clips have unreliable phoneme labels "
                       f"({metrics['phoneme_warning_kinds']}); the reasons per clip are in alignment.json")
        write_text(tmp / "alignment.json", json.dumps(per_clip, indent=1, sort_keys=True) + "\n")
    return metrics


def summarize(per_clip: dict[str, dict], n_clips: int, skipped: list[tuple[str, str]]) -> dict:
    methods: dict[str, int] = {}
    for m in per_clip.values():
        methods[m["method"]] = methods.get(m["method"], 0) + 1
    agreements = [m["frame_agreement"] for m in per_clip.values() if "frame_agreement" in m]
    word_errors = [m["word_boundary_error_ms"] for m in per_clip.values() if "word_boundary_error_ms" in m]
    coeffs_rates: dict[str, int] = {}
    for m in per_clip.values():
        if "coeffs_fps" in m:
            key = f"{m['coeffs_fps']:g} ({m['coeffs_fps_rule']})"
            coeffs_rates[key] = coeffs_rates.get(key, 0) + 1
    out = {
        "clips": n_clips,
        "skipped": len(skipped),
        "coeffs_fps": coeffs_rates,
        "alignment_methods": methods,
        "alignment_fallbacks": sum(v for k, v in methods.items() if k not in ("forced", "phoneme_json")),
    }
    warned = [m["phoneme_warnings"] for m in per_clip.values() if m.get("phoneme_warnings")]
    kinds: dict[str, int] = {}
    for reasons in warned:
        for reason in reasons:
            kind = reason.split(":")[0]  # "noisy audio", "no usable transcript"
            kinds[kind] = kinds.get(kind, 0) + 1
    out["phonemes_unreliable"] = len(warned)
    out["phoneme_warning_kinds"] = kinds
    if agreements:
        out["frame_agreement_mean"] = round(float(np.mean(agreements)), 4)
        out["frame_agreement_median"] = round(float(np.median(agreements)), 4)
        out["frame_agreement_min"] = round(float(np.min(agreements)), 4)
    if word_errors:
        out["word_boundary_error_ms_mean"] = round(float(np.mean(word_errors)), 2)
    return out
