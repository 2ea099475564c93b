"""The standalone evaluator on rendered embedded-corpus clips and on the real StyleTalk samples."""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter

from talkclip.corpus.identity import sample_identity
from talkclip.corpus.renderer import FaceRenderer
from talkclip.formats.media import write_video
from talkclip.metrics.evaluator import add_evaluate_arguments, evaluate_folders, longest_first, run_evaluate
from talkclip.metrics.scoring import PairTask

T = 16


def _performance(shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    expression = np.zeros((T, 64), np.float32)
    expression[:, 0] = 0.4 + 0.4 * np.sin(np.arange(T) / 2.0) + shift  # jaw opening: visible mouth motion
    return expression, np.zeros((T, 6), np.float32)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """ref/{same,perturbed,blurred}.mp4 (+ exact landmarks) and the generated counterparts."""
    root = tmp_path_factory.mktemp("evaluate")
    gen, ref = root / "gen", root / "ref"
    renderer = FaceRenderer(sample_identity(np.random.default_rng(1), "W"), image_size=128)
    frames, landmarks = renderer.render(*_performance())
    perturbed, perturbed_landmarks = renderer.render(*_performance(shift=0.5))
    blurred = np.stack([gaussian_filter(f, sigma=(2, 2, 0)) for f in frames]).astype(np.uint8)
    for name, gen_frames, gen_landmarks in (("same", frames, landmarks), ("perturbed", perturbed, perturbed_landmarks),
                                            ("blurred", blurred, landmarks)):
        write_video(ref / f"{name}.mp4", frames, 25)
        np.save(ref / f"{name}.landmarks.npy", landmarks)
        write_video(gen / f"{name}.mp4", gen_frames, 25)
        np.save(gen / f"{name}.landmarks.npy", gen_landmarks)
    return gen, ref


def test_identical_perturbed_blurred(folders, tmp_path):
    gen, ref = folders
    per_video, summary = evaluate_folders(gen, ref, out_dir=tmp_path / "out", progress=False, workers=1)
    rows = per_video.set_index("name")
    assert (rows["status"] == "ok").all(), rows["error"].to_dict()
    assert rows.loc["same", "ssim"] == pytest.approx(1.0)
    assert rows.loc["same", "f_lmd"] == 0.0 and rows.loc["same", "m_lmd"] == 0.0
    assert rows.loc["perturbed", "ssim"] < 0.99 and rows.loc["perturbed", "m_lmd"] > 1.0
    # Mouth-only change: the mouth moves more than the face as a whole.
    assert rows.loc["perturbed", "m_lmd"] > rows.loc["perturbed", "f_lmd"]
    assert rows.loc["blurred", "cpbd"] < rows.loc["same", "cpbd"]
    assert set(rows["landmark_source"]) == {"given"} and set(rows["crop"]) == {"none"}
    assert summary["n_ok"] == 3 and summary["passed"] and summary["crop_size"] == 256
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["metrics"]["ssim"] == pytest.approx(summary["metrics"]["ssim"])
    assert len(pd.read_csv(tmp_path / "out" / "per_video.csv")) == 3
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files left


def test_fps_resampling_matches_lengths(folders, tmp_path):
    """A 30 fps generated copy of a 25 fps reference is resampled to 25 fps before comparison."""
    _, ref = folders
    from talkclip.formats.media import read_video

    frames, _ = read_video(ref / "same.mp4")
    thirty = frames[np.floor(np.arange(int(T * 30 / 25)) * 25 / 30).astype(int)]
    (tmp_path / "g").mkdir()
    (tmp_path / "r").mkdir()
    write_video(tmp_path / "g" / "same.mp4", thirty, 30)
    shutil.copy(ref / "same.mp4", tmp_path / "r" / "same.mp4")
    per_video, _ = evaluate_folders(tmp_path / "g", tmp_path / "r", landmark_source="dlib", progress=False)
    row = per_video.iloc[0]
    assert row["status"] == "ok", row["error"]
    # 19 frames at 30 fps -> floor(19 * 25 / 30) = 15 at 25 fps; the 16-frame reference is resampled to 15
    assert row["generated_fps"] == 30 and row["generated_frames"] == 15 and row["frames"] == 15
    assert row["ssim"] > 0.97 and row["landmark_source"] == "dlib68"


def test_bad_files_give_error_rows_and_exit_code(folders, tmp_path):
    gen, ref = folders
    bad_gen, bad_ref = tmp_path / "gen", tmp_path / "ref"
    shutil.copytree(gen, bad_gen)
    shutil.copytree(ref, bad_ref)
    (bad_gen / "blurred.mp4").write_bytes(b"")  # zero bytes
    (bad_gen / "perturbed.mp4").write_bytes(b"not an mp4 at all" * 10)  # corrupt
    write_video(bad_ref / "orphan.mp4", np.zeros((4, 64, 64, 3), np.uint8), 25)  # no generated counterpart
    write_video(bad_ref / "noface.mp4", np.full((6, 128, 128, 3), 90, np.uint8), 25)  # flat grey: no face
    write_video(bad_gen / "noface.mp4", np.full((6, 128, 128, 3), 90, np.uint8), 25)
    per_video, summary = evaluate_folders(bad_gen, bad_ref, progress=False)
    rows = per_video.set_index("name")
    assert rows.loc["same", "status"] == "ok"
    assert "empty" in rows.loc["blurred", "error"] and "blurred.mp4" in rows.loc["blurred", "error"]
    assert "perturbed.mp4" in rows.loc["perturbed", "error"]
    assert "no generated video" in rows.loc["orphan", "error"]
    assert "no face" in rows.loc["noface", "error"]
    assert summary["n_failed"] == 4 and not summary["passed"]

    parser = add_evaluate_arguments(argparse.ArgumentParser())
    args = ["--generated", str(bad_gen), "--reference", str(bad_ref), "--no-progress", "--out", str(tmp_path / "o")]
    assert run_evaluate(parser.parse_args(args)) == 1
    assert run_evaluate(parser.parse_args(args + ["--allow-failures"])) == 0
    assert (tmp_path / "o" / "per_video.csv").is_file()
    assert run_evaluate(parser.parse_args(["--generated", str(tmp_path / "missing"), "--reference", str(ref)])) == 2


def test_syncnet_columns_with_audio(folders, tmp_path):
    """With SyncNet weights, Sync_conf / LSE-D / offset come from the --audio folder's wav files."""
    import torch

    from talkclip.formats.media import write_wav
    from talkclip.metrics.syncnet import SyncNet

    gen, ref = folders
    torch.manual_seed(0)
    weights = tmp_path / "tiny_syncnet.pt"
    torch.save(SyncNet(embedding_dim=16, width=0.125).state_dict(), weights)
    audio = tmp_path / "audio"
    rng = np.random.default_rng(0)
    for name in ("same", "perturbed", "blurred"):
        write_wav(audio / f"{name}.wav", 0.1 * rng.standard_normal(T * 640).astype(np.float32), 16000)
    per_video, summary = evaluate_folders(gen, ref, audio_dir=audio, syncnet=weights, progress=False)
    assert (per_video["status"] == "ok").all(), per_video["error"].tolist()
    assert per_video["sync_conf"].ge(0).all() and per_video["sync_offset"].abs().le(15).all()
    assert summary["syncnet_weights"] == "tiny_syncnet.pt"
    # Without audio (no --audio and no track in the mp4) the pair is an error row naming the problem.
    per_video, _ = evaluate_folders(gen, ref, syncnet=weights, progress=False)
    assert per_video["error"].str.contains("no usable audio").all()


@pytest.mark.slow
def test_styletalk_samples_detector_landmarks(styletalk_samples, tmp_path):
    video = styletalk_samples / "style_clips" / "video"
    gen, ref = tmp_path / "gen", tmp_path / "ref"
    gen.mkdir()
    ref.mkdir()
    shutil.copy(video / "furious_talk1_clip1.mp4", ref / "furious.mp4")
    shutil.copy(video / "furious_talk1_clip1.mp4", gen / "furious.mp4")
    shutil.copy(video / "furious_talk1_clip2.mp4", ref / "other.mp4")  # same speaker, other clip
    shutil.copy(video / "furious_talk1_clip1.mp4", gen / "other.mp4")
    # "other" is another clip of another length on purpose: allow it past the length check.
    per_video, _ = evaluate_folders(gen, ref, progress=False, max_mismatch_s=100.0)
    rows = per_video.set_index("name")
    assert (rows["status"] == "ok").all(), rows["error"].to_dict()
    assert set(rows["landmark_source"]) == {"dlib68"}
    assert rows.loc["furious", "ssim"] == pytest.approx(1.0) and rows.loc["furious", "f_lmd"] == 0.0
    assert rows.loc["furious", "frames"] == 100  # 120 frames at 30 fps -> 100 at 25 fps
    assert rows.loc["other", "ssim"] < 0.9 and rows.loc["other", "f_lmd"] > 1.0
    assert rows.loc["other", "cpbd"] == pytest.approx(rows.loc["furious", "cpbd"])  # CPBD is of the generated video


def test_output_location_checked_before_any_work(folders, tmp_path, capsys):
    """An --out that is a file, or a read-only folder: exit 2 at once, the file untouched (issue 11)."""
    import os
    import time

    gen, ref = folders
    parser = add_evaluate_arguments(argparse.ArgumentParser())
    user_file = tmp_path / "results.txt"
    user_file.write_text("keep me")
    started = time.perf_counter()
    args = ["--generated", str(gen), "--reference", str(ref), "--no-progress", "--out", str(user_file)]
    assert run_evaluate(parser.parse_args(args)) == 2
    assert time.perf_counter() - started < 5  # nothing was scored first
    assert user_file.read_text() == "keep me"
    assert "is an existing file" in capsys.readouterr().err
    args[-1] = str(user_file / "scores")  # a folder below a file
    assert run_evaluate(parser.parse_args(args)) == 2
    assert "is a file, so the folder cannot be created" in capsys.readouterr().err
    read_only = tmp_path / "ro"
    read_only.mkdir()
    os.chmod(read_only, 0o555)
    try:
        if os.access(read_only, os.W_OK):
            pytest.skip("running as a user that can write to read-only folders")
        args[-1] = str(read_only)
        assert run_evaluate(parser.parse_args(args)) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        os.chmod(read_only, 0o755)


def test_bad_syncnet_file_is_named(folders, tmp_path, capsys):
    gen, ref = folders
    junk = tmp_path / "notes.model"
    junk.write_bytes(b"\x80\x04not really a pickle")
    parser = add_evaluate_arguments(argparse.ArgumentParser())
    args = ["--generated", str(gen), "--reference", str(ref), "--no-progress", "--syncnet", str(junk)]
    assert run_evaluate(parser.parse_args(args)) == 2
    err = capsys.readouterr().err
    assert "notes.model" in err and "syncnet_v2.model" in err and "syncnet.pt" in err and "Traceback" not in err


def test_truncated_video_is_an_error_row_naming_both_lengths(folders, tmp_path):
    from talkclip.formats.media import read_video

    _, ref = folders
    frames, _ = read_video(ref / "same.mp4")
    (tmp_path / "g").mkdir()
    write_video(tmp_path / "g" / "same.mp4", frames[:3], 25)
    write_video(tmp_path / "g" / "perturbed.mp4", frames[:T - 2], 25)  # 2 frames short: within 0.2 s
    per_video, _ = evaluate_folders(tmp_path / "g", ref, landmark_source="dlib", progress=False, workers=1)
    rows = per_video.set_index("name")
    assert rows.loc["same", "status"] == "error"
    assert "3 frames" in rows.loc["same", "error"] and f"{T} " in rows.loc["same", "error"]
    assert rows.loc["perturbed", "status"] == "ok" and rows.loc["perturbed", "frames"] == T - 2


def test_methods_comparison_with_confidence_intervals(folders, tmp_path, capsys):
    """--method NAME=DIR twice: per-method outputs, a CI table (md/tex/csv/png) and paired tests."""
    gen, ref = folders
    parser = add_evaluate_arguments(argparse.ArgumentParser())
    out = tmp_path / "cmp"
    args = ["--method", f"ours={gen}", "--method", f"copy={ref}", "--reference", str(ref), "--no-progress",
            "--out", str(out), "--bootstrap", "200", "--workers", "2"]
    assert run_evaluate(parser.parse_args(args)) == 0
    printed = capsys.readouterr().out
    assert "ours" in printed and "copy" in printed and "[" in printed  # CIs printed
    for name in ("comparison.md", "comparison.tex", "comparison.csv", "comparison_paired.csv", "comparison.png",
                 "ours/per_video.csv", "copy/summary.json"):
        assert (out / name).is_file(), name
    cells = pd.read_csv(out / "comparison.csv").set_index(["method", "metric"])
    assert cells.loc[("copy", "ssim"), "mean"] == pytest.approx(1.0)
    assert cells.loc[("ours", "ssim"), "low"] <= cells.loc[("ours", "ssim"), "mean"] <= cells.loc[("ours", "ssim"), "high"]
    summary = json.loads((out / "ours" / "summary.json").read_text())
    assert summary["schema_version"] == 2 and summary["method"] == "ours" and summary["workers"] == 2


def test_syncnet_provenance_note_for_corpus_weights(tmp_path):
    from talkclip.metrics.evaluator import syncnet_provenance

    weights = tmp_path / "syncnet.pt"
    weights.write_bytes(b"")
    (tmp_path / "syncnet.pt.json").write_text(json.dumps({"training_data": {"embedded_corpus": True}, "heldout": {}}))
    info = syncnet_provenance(weights)
    assert info["meaningful_on_real_faces"] is False and "syncnet_v2.model" in info["note"]
    assert syncnet_provenance(tmp_path / "syncnet_v2.model")["meaningful_on_real_faces"] is True


@pytest.mark.slow
def test_methods_on_real_samples_with_csim(styletalk_samples, tmp_path, capsys):
    """--method on real StyleTalk videos: dlib landmarks, dlib CSIM, CIs printed, comparison written."""
    video = styletalk_samples / "style_clips" / "video"
    ref, same, other = tmp_path / "ref", tmp_path / "same", tmp_path / "other"
    for folder in (ref, same, other):
        folder.mkdir()
    clips = sorted(video.glob("*.mp4"), key=lambda p: p.stat().st_size)[:2]  # the two shortest
    for index, clip in enumerate(clips):
        shutil.copy(clip, ref / f"c{index}.mp4")
        shutil.copy(clip, same / f"c{index}.mp4")
        shutil.copy(clips[(index + 1) % len(clips)], other / f"c{index}.mp4")
    parser = add_evaluate_arguments(argparse.ArgumentParser())
    args = ["--method", f"same={same}", "--method", f"other={other}", "--reference", str(ref), "--csim", "dlib",
            "--csim-frames", "3", "--no-progress", "--out", str(tmp_path / "out"), "--bootstrap", "200",
            "--allow-failures", "--max-mismatch", "100"]
    assert run_evaluate(parser.parse_args(args)) == 0
    printed = capsys.readouterr().out
    assert "CSIM" in printed and "[" in printed
    cells = pd.read_csv(tmp_path / "out" / "comparison.csv").set_index(["method", "metric"])
    # Each frame against the mean identity: close to, not exactly, 1 for identical videos.
    assert cells.loc[("same", "csim"), "mean"] > 0.97
    assert cells.loc[("same", "csim"), "mean"] > cells.loc[("other", "csim"), "mean"]
    assert cells.loc[("same", "f_lmd"), "mean"] == 0.0
    assert cells.loc[("other", "ssim"), "mean"] < cells.loc[("same", "ssim"), "mean"]


def test_au_precision_recall_through_the_command_line(folders, tmp_path):
    """--descriptions + --openface: AU columns per video and their means in summary.json."""
    from talkclip.formats.openface import OPENFACE_AU_COLUMNS

    gen, ref = folders
    openface = tmp_path / "openface"
    openface.mkdir()
    for name in ("same", "perturbed", "blurred"):
        intensities = {c: 0.0 for c in OPENFACE_AU_COLUMNS}
        intensities["AU04_r"] = 2.0  # brows lowered in every generated video
        table = pd.DataFrame([{"frame": i + 1, "face_id": 0, "timestamp": i * 0.04, "confidence": 0.98,
                               "success": 1, **intensities} for i in range(4)])
        table.to_csv(openface / f"{name}.csv", index=False, sep=",")
    descriptions = tmp_path / "descriptions.csv"
    pd.DataFrame({"clip_id": ["same", "perturbed", "blurred"], "mode": "full", "text": [
        "A woman speaks with brows slightly lowered.",
        "A woman speaks with brows slightly lowered, upper lids slightly raised.",
        "A woman is calm."]}).to_csv(descriptions, index=False)
    parser = add_evaluate_arguments(argparse.ArgumentParser())
    out = tmp_path / "out"
    args = ["--generated", str(gen), "--reference", str(ref), "--no-progress", "--out", str(out), "--workers", "1",
            "--descriptions", str(descriptions), "--openface", str(openface)]
    assert run_evaluate(parser.parse_args(args)) == 0
    rows = pd.read_csv(out / "per_video.csv").set_index("name")
    assert rows.loc["same", "au_f1"] == pytest.approx(1.0)
    assert rows.loc["perturbed", "au_recall"] == pytest.approx(0.5) and rows.loc["perturbed", "au_precision"] == 1.0
    # Asked for no AU: no recall; its active AU4 was not asked for, so precision 0.
    assert np.isnan(rows.loc["blurred", "au_recall"]) and rows.loc["blurred", "au_precision"] == 0.0
    assert json.loads((out / "summary.json").read_text())["metrics"]["au_precision"] == pytest.approx(2 / 3)


def test_longest_first_orders_by_frames_then_keeps_ties():
    tasks = [PairTask(name, f"/g/{name}.mp4", f"/r/{name}.mp4", groups)
             for name in ("short", "long", "mid") for groups in (("image",), ("sync",))]
    frames = {Path("/g/short.mp4"): 50, Path("/g/long.mp4"): 400, Path("/g/mid.mp4"): 100}
    order = [(tasks[i].name, tasks[i].groups[0]) for i in longest_first(tasks, frames)]
    assert order == [("long", "sync"), ("long", "image"), ("mid", "sync"), ("mid", "image"),
                     ("short", "sync"), ("short", "image")]
    # A video whose length is unknown (unreadable: it becomes an error row) goes last, in its order.
    unknown = [PairTask("bad", "/g/bad.mp4", "/r/bad.mp4", ("image",)), *tasks[:2]]
    assert longest_first(unknown, frames) == [2, 1, 0]  # short's SyncNet, short's image metrics, bad


@pytest.mark.slow
def test_workers_give_the_rows_of_one_process_for_clips_of_different_lengths(tmp_path):
    """Two workers take the tasks longest first; every row must still be its own clip's, equal to one process."""
    import torch

    from talkclip.formats.media import write_wav
    from talkclip.metrics.syncnet import SyncNet

    renderer = FaceRenderer(sample_identity(np.random.default_rng(2), "M"), image_size=96)
    gen, ref, audio = tmp_path / "gen", tmp_path / "ref", tmp_path / "audio"
    rng = np.random.default_rng(0)
    for name, n_frames, shift in (("a_short", 20, 0.1), ("b_long", 60, 0.3), ("c_mid", 40, 0.0)):
        expression = np.zeros((n_frames, 64), np.float32)
        expression[:, 0] = 0.4 + 0.4 * np.sin(np.arange(n_frames) / 2.0)
        write_video(ref / f"{name}.mp4", renderer.render(expression, np.zeros((n_frames, 6), np.float32))[0], 25)
        expression[:, 0] += shift
        write_video(gen / f"{name}.mp4", renderer.render(expression, np.zeros((n_frames, 6), np.float32))[0], 25)
        write_wav(audio / f"{name}.wav", 0.1 * rng.standard_normal(n_frames * 640).astype(np.float32), 16000)
    torch.manual_seed(0)
    weights = tmp_path / "tiny_syncnet.pt"
    torch.save(SyncNet(embedding_dim=16, width=0.125).state_dict(), weights)
    runs = [evaluate_folders(gen, ref, audio_dir=audio, syncnet=weights, landmark_source="dlib", progress=False,
                             workers=workers)[0] for workers in (1, 2)]
    columns = ["name", "status", "frames", "ssim", "psnr", "cpbd", "f_lmd", "m_lmd", "sync_conf", "lse_d", "sync_offset"]
    assert runs[0]["name"].tolist() == ["a_short", "b_long", "c_mid"]
    assert runs[0]["frames"].tolist() == [20, 60, 40] and (runs[0]["status"] == "ok").all()
    pd.testing.assert_frame_equal(runs[0][columns], runs[1][columns], check_exact=False, rtol=1e-5)
