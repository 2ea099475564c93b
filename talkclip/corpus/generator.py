"""Generate the embedded corpus: MEAD-layout emotional clips and HDTF-layout neutral clips.

Every clip is: a sentence spoken by espeak-ng with the speaker's voice and the emotion's prosody
(exact phone timing kept as ground truth), a FACS/viseme performance of the speaker's face for that
speech, and its rendering. Written per clip: the mp4 (with the audio track, as MEAD's raw videos),
the wav, a Deep3DFaceRecon-format ``.mat`` with the expression and pose (so preprocessing reads the
embedded corpus with the same code as real data) and a ground-truth sidecar ``.npz``.

Determinism: all randomness of a clip comes from a generator seeded by (seed, speaker, emotion,
level, index), so the corpus does not depend on how clips are spread over worker processes.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from talkclip.atomic import atomic_dir, atomic_path, write_text
from talkclip.config.corpus import CorpusConfig
from talkclip.config.loader import to_dict
from talkclip.corpus import layout
from talkclip.corpus.contact_sheet import contact_sheet, write_png
from talkclip.corpus.facs import AU_NAMES, EMOTIONS
from talkclip.corpus.identity import Identity, sample_identity
from talkclip.corpus.performance import SpeakerStyle, perform, sample_speaker_style
from talkclip.corpus.renderer import FaceRenderer
from talkclip.corpus.sentences import load_sentences
from talkclip.corpus.speech import Voice, emotion_voice, speaker_voice, synthesize
from talkclip.expression import EMBEDDED_SPACE
from talkclip.formats.mat3dmm import coeffs_from_performance, write_mat
from talkclip.formats.media import write_video, write_wav


def mead_groups(emotions: list[str] | tuple[str, ...] = EMOTIONS) -> list[tuple[str, int]]:
    """MEAD's (emotion, level) groups: 22 for the 8 emotions, since neutral has level 1 only."""
    return [(e, level) for e in EMOTIONS if e in emotions for level in ((1,) if e == "neutral" else (1, 2, 3))]


@dataclass(frozen=True)
class Speaker:
    speaker_id: str
    index: int
    gender: str  # "M" or "W", as MEAD's speaker ids
    split: str  # train | test | hdtf
    identity: Identity
    style: SpeakerStyle
    voice: Voice


@dataclass(frozen=True)
class ClipJob:
    clip_id: str
    speaker: Speaker
    emotion: str
    level: int
    index: int
    text: str
    fps: int
    image_size: int
    sample_rate: int
    seed: int
    paths: layout.ClipPaths


@dataclass
class ClipResult:
    clip_id: str
    speaker_id: str
    split: str
    emotion: str
    level: int
    text: str
    frames: int
    audio_seconds: float
    thumbnail: np.ndarray


def _make_speakers(cfg: CorpusConfig) -> list[Speaker]:
    speakers = []
    total = cfg.n_speakers + cfg.hdtf_speakers
    for i in range(total):
        rng = np.random.default_rng([cfg.seed, 1000 + i])
        gender = "M" if i % 2 == 0 else "W"
        if i < cfg.n_speakers:
            speaker_id = f"{gender}{i + 1:03d}"
            from_end = cfg.n_speakers - i  # the last speakers are held out: test, then validation
            split = ("test" if from_end <= cfg.n_test_speakers
                     else "val" if from_end <= cfg.n_test_speakers + cfg.n_val_speakers else "train")
        else:
            speaker_id = f"{'WRA' if gender == 'W' else 'WDA'}_Synth{i - cfg.n_speakers + 1:02d}"
            split = "hdtf"
        speakers.append(
            Speaker(
                speaker_id=speaker_id,
                index=i,
                gender=gender,
                split=split,
                identity=sample_identity(rng, gender),
                style=sample_speaker_style(rng),
                voice=speaker_voice(i, gender, rng),
            )
        )
    return speakers


def plan_jobs(cfg: CorpusConfig, root: Path) -> tuple[list[Speaker], list[ClipJob]]:
    """All clips of the corpus, in a fixed order."""
    speakers = _make_speakers(cfg)
    sentences = load_sentences()
    jobs: list[ClipJob] = []
    for sp in speakers:
        if sp.split != "hdtf":
            for emotion, level in mead_groups(cfg.emotions or EMOTIONS):
                group_index = EMOTIONS.index(emotion) * 3 + level
                for k in range(cfg.clips_per_group):
                    index = k + 1
                    pick = np.random.default_rng([cfg.seed, sp.index, group_index, index]).integers(len(sentences))
                    jobs.append(
                        ClipJob(
                            clip_id=layout.mead_clip_id(sp.speaker_id, emotion, level, index),
                            speaker=sp, emotion=emotion, level=level, index=index,
                            text=sentences[int(pick)], fps=cfg.mead_fps, image_size=cfg.image_size,
                            sample_rate=cfg.sample_rate, seed=cfg.seed,
                            paths=layout.mead_paths(root, sp.speaker_id, emotion, level, index),
                        )
                    )
        else:
            for k in range(cfg.hdtf_clips_per_speaker):
                rng = np.random.default_rng([cfg.seed, sp.index, 99, k])
                picks = rng.choice(len(sentences), size=cfg.hdtf_sentences_per_clip, replace=False)
                name = f"{sp.speaker_id}_{k:03d}"
                jobs.append(
                    ClipJob(
                        clip_id=name, speaker=sp, emotion="neutral", level=1, index=k,
                        text=" ".join(sentences[int(p)] for p in picks), fps=cfg.hdtf_fps,
                        image_size=cfg.image_size, sample_rate=cfg.sample_rate, seed=cfg.seed,
                        paths=layout.hdtf_paths(root, name),
                    )
                )
    return speakers, jobs


def _frame_envelope(audio: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """RMS loudness per video frame (drives emphasis gestures in the performance)."""
    hop = sample_rate / fps
    env = np.zeros(n_frames, dtype=np.float32)
    for i in range(n_frames):
        seg = audio[int(i * hop): int((i + 1) * hop)]
        env[i] = float(np.sqrt(np.mean(seg.astype(np.float64) ** 2))) if seg.size else 0.0
    peak = env.max()
    return env / peak if peak > 0 else env


_RENDERERS: dict[str, FaceRenderer] = {}


def render_clip(job: ClipJob) -> ClipResult:
    """Synthesize, perform, render and write one clip (runs in a worker process)."""
    rng = np.random.default_rng([job.seed, job.speaker.index, EMOTIONS.index(job.emotion), job.level, job.index, 7])
    voice = emotion_voice(job.speaker.voice, job.emotion, job.level)
    utterance = synthesize(job.text, voice, sample_rate=job.sample_rate)
    audio_seconds = len(utterance.audio) / utterance.sample_rate
    # Raw MEAD/HDTF videos and their audio differ by a frame or so; keep that property so the
    # preprocessing length rule is exercised on the embedded corpus too.
    n_frames = max(1, round(audio_seconds * job.fps) + int(rng.integers(-1, 2)))
    envelope = _frame_envelope(utterance.audio, utterance.sample_rate, job.fps, n_frames)
    performance = perform(
        utterance.phones, n_frames, job.fps, job.emotion, job.level, job.speaker.style, rng, audio_envelope=envelope
    )
    key = f"{job.speaker.speaker_id}:{job.image_size}"
    if key not in _RENDERERS:
        _RENDERERS[key] = FaceRenderer(job.speaker.identity, image_size=job.image_size)
    frames, landmarks = _RENDERERS[key].render(performance.expression, performance.pose)

    write_video(job.paths.video, frames, job.fps, audio=utterance.audio, sample_rate=utterance.sample_rate)
    write_wav(job.paths.audio, utterance.audio, utterance.sample_rate)
    write_mat(job.paths.coeffs, coeffs_from_performance(performance.expression, performance.pose, job.image_size),
              expression_space=EMBEDDED_SPACE)
    with atomic_path(job.paths.groundtruth) as tmp:
        np.savez_compressed(
            tmp,
            expression=performance.expression.astype(np.float32),
            pose=performance.pose.astype(np.float32),
            au=performance.au.astype(np.float32),
            landmarks=landmarks.astype(np.float32),
            phone_labels=np.array([p.phone for p in utterance.phones]),
            phone_starts=np.array([p.start for p in utterance.phones], dtype=np.float64),
            phone_ends=np.array([p.end for p in utterance.phones], dtype=np.float64),
            word_labels=np.array([w.word for w in utterance.words]),
            word_starts=np.array([w.start for w in utterance.words], dtype=np.float64),
            word_ends=np.array([w.end for w in utterance.words], dtype=np.float64),
            fps=np.float64(job.fps),
            speaker=np.array(job.speaker.speaker_id),
            emotion=np.array(job.emotion),
            level=np.int64(job.level),
            identity=np.array(job.speaker.identity.to_json()),
            au_names=np.array(AU_NAMES),
        )
    # The most expressive frame is the clip's thumbnail on the contact sheet.
    peak = int(np.argmax(performance.au.sum(axis=1))) if job.emotion != "neutral" else n_frames // 2
    return ClipResult(
        clip_id=job.clip_id, speaker_id=job.speaker.speaker_id, split=job.speaker.split, emotion=job.emotion,
        level=job.level, text=job.text, frames=n_frames, audio_seconds=audio_seconds, thumbnail=frames[peak].copy(),
    )


def _contact_sheets(speakers: list[Speaker], results: list[ClipResult], out: Path) -> None:
    """contact_sheet.png (MEAD-format speakers x the corpus's emotions, each at its strongest level) and
    contact_sheet_levels.png (levels 1-3 of each emotional emotion, first speaker); a corpus of an
    emotion subset gets sheets of that subset."""
    first: dict[tuple[str, str, int], np.ndarray] = {}  # (speaker, emotion, level) -> first clip's frame
    for r in results:  # results are sorted by clip id
        if r.split != "hdtf":
            first.setdefault((r.speaker_id, r.emotion, r.level), r.thumbnail)
    present = {(emotion, level) for _, emotion, level in first}
    cols = [(e, max(lv for em, lv in present if em == e)) for e in EMOTIONS if any(em == e for em, _ in present)]
    rows = [s.speaker_id for s in speakers if s.split != "hdtf" and all((s.speaker_id, *c) in first for c in cols)]
    if not rows:
        return
    labels = [e if e == "neutral" else f"{e} L{lv}" for e, lv in cols]
    write_png(out / "contact_sheet.png", contact_sheet([[first[(sid, *c)] for c in cols] for sid in rows], rows, labels))
    # Levels of every emotion for the first speaker: intensity must grow left to right.
    sid = rows[0]
    graded = [e for e, _ in cols if all((sid, e, lv) in first for lv in (1, 2, 3))]
    if graded:
        level_tiles = [[first[(sid, e, lv)] for lv in (1, 2, 3)] for e in graded]
        write_png(out / "contact_sheet_levels.png",
                  contact_sheet(level_tiles, [f"{sid} {e}" for e in graded], ["level 1", "level 2", "level 3"]))


def generate_corpus(cfg: CorpusConfig, out_dir: str | Path, progress: bool = True) -> dict:
    """Write the whole corpus to ``out_dir`` (replaced atomically) and return summary metrics."""
    out_dir = Path(out_dir)
    started = time.perf_counter()
    with atomic_dir(out_dir, replaces="corpus.json", what="corpus folder") as tmp:
        speakers, jobs = plan_jobs(cfg, tmp)
        workers = cfg.workers or os.cpu_count() or 1
        results: list[ClipResult] = []
        bar = tqdm(total=len(jobs), desc="corpus: clips", unit="clip", disable=not progress)
        if workers == 1:
            for job in jobs:
                results.append(render_clip(job))
                bar.update()
        else:
            # spawn: espeak-ng keeps process-global state that must not be inherited half-initialised.
            with mp.get_context("spawn").Pool(workers) as pool:
                for result in pool.imap_unordered(render_clip, jobs, chunksize=2):
                    results.append(result)
                    bar.update()
        bar.close()
        results.sort(key=lambda r: r.clip_id)

        write_text(tmp / "transcripts.tsv", "clip_id\ttext\n" + "".join(f"{r.clip_id}\t{r.text}\n" for r in results))
        meta = {
            "generator": "talkclip.corpus",
            "config": to_dict(cfg),
            "emotions": list(EMOTIONS),
            "au_names": list(AU_NAMES),
            "speakers": [
                {"id": s.speaker_id, "gender": s.gender, "split": s.split, "voice": asdict(s.voice)} for s in speakers
            ],
        }
        write_text(tmp / "corpus.json", json.dumps(meta, indent=2) + "\n")
        _contact_sheets(speakers, results, tmp)

    seconds = time.perf_counter() - started
    return {
        "clips": len(results),
        "clips_mead": sum(r.split != "hdtf" for r in results),
        "clips_hdtf": sum(r.split == "hdtf" for r in results),
        "speakers": len(speakers),
        "video_frames": int(sum(r.frames for r in results)),
        "audio_seconds": round(float(sum(r.audio_seconds for r in results)), 3),
        "generation_seconds": round(seconds, 2),
    }
