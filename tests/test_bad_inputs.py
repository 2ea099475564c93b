"""Bad input, class by class (docs/DESIGN.md, "Bad input"): every case through the real entry point,
`talkclip.cli.main`, must give exit code 2, one message on stderr naming the file / key / value and the
problem, no traceback, and leave no partial output, no moved file and no replaced file behind.

The inputs are built here, tiny: a one-speaker MEAD folder (a 30 fps mp4, a 16 kHz wav, a
Deep3DFaceRecon .mat), a training checkpoint of a tiny network, an identity sidecar.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from talkclip.cli import main
from talkclip.config.loader import to_dict
from talkclip.formats.mat3dmm import coeffs_from_performance, write_mat
from talkclip.formats.media import write_video, write_wav, write_wav_chunks

REPO = Path(__file__).resolve().parents[1]
SR = 16000


# ------------------------------------------------------------------------------------------ helpers
def run_cli(capsys, *argv: str) -> tuple[int, str]:
    """Exit code and stderr of `talkclip ARGV`; a traceback on stderr fails the test."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


def listing(folder: Path) -> list[str]:
    """Every path below ``folder`` (hidden temporaries included)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """About two seconds of synthesized speech (espeak-ng), 16 kHz."""
    from talkclip.corpus.speech import speaker_voice, synthesize

    return synthesize("The old fisherman mended his nets.", speaker_voice(0, "M", np.random.default_rng(0))).audio


def silent_wav(path: Path, seconds: float) -> Path:
    """A PCM16 wav of digital silence, written a minute at a time (long ones stay cheap)."""
    n = int(seconds * SR)
    write_wav_chunks(path, (np.zeros(min(60 * SR, n - start), np.int16) for start in range(0, n, 60 * SR)), SR)
    return path


def add_mead_clip(root: Path, audio: np.ndarray | Path, emotion: str = "neutral", level: int = 1, index: int = 1,
                  video_seconds: float | None = None) -> str:
    """One clip of speaker M001 in MEAD's layout; returns its clip id."""
    group = Path(emotion) / f"level_{level}"
    wav = root / "M001" / "audio" / group / f"{index:03d}.wav"
    if isinstance(audio, Path):
        wav.parent.mkdir(parents=True, exist_ok=True)
        os.replace(audio, wav)
        seconds = video_seconds
    else:
        write_wav(wav, audio, SR)
        seconds = video_seconds if video_seconds is not None else len(audio) / SR
    n = max(1, round(seconds * 30))
    write_video(root / "M001" / "video" / "front" / group / f"{index:03d}.mp4", np.zeros((n, 32, 32, 3), np.uint8), 30)
    write_mat(root / "M001" / "3DMM" / "front" / group / f"{index:03d}.mat",
              coeffs_from_performance(np.zeros((n, 64), np.float32), np.zeros((n, 6), np.float32), 32))
    return f"M001_front_{emotion}_level{level}_{index:03d}"


def params_file(tmp_path: Path, **preprocess) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["preprocess"].update({"workers": 1, **preprocess})
    path = tmp_path / f"params_{len(list(tmp_path.glob('params_*')))}.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A training checkpoint of a tiny TalkCLIP network (384-d text input: MiniLM's)."""
    from test_training_toy import tiny_model_config

    from talkclip.model.talkclip_model import TalkCLIP
    from talkclip.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = tiny_model_config()
    path = tmp_path_factory.mktemp("checkpoint") / "final.pt"
    save_checkpoint(path, modules={"talkclip": TalkCLIP(cfg, 384)}, progress={},
                    config={"model": to_dict(cfg), "data": {"text_dim": 384}})
    return path


@pytest.fixture(scope="module")
def style_clip(tmp_path_factory) -> Path:
    """A reference .mat: generation without the text backbone (fast)."""
    path = tmp_path_factory.mktemp("style") / "style.mat"
    rng = np.random.default_rng(0)
    write_mat(path, coeffs_from_performance(rng.normal(0, 0.2, (40, 64)).astype(np.float32),
                                            np.zeros((40, 6), np.float32), 64), expression_space="embedded")
    return path


@pytest.fixture(scope="module")
def identity_sidecar(tmp_path_factory) -> Path:
    from talkclip.corpus.identity import sample_identity

    path = tmp_path_factory.mktemp("identity") / "001.npz"
    np.savez(path, identity=np.array(sample_identity(np.random.default_rng(0), "W").to_json()),
             pose=np.zeros((50, 6), np.float32), fps=np.float64(25))
    return path


@pytest.fixture(scope="module")
def minilm():
    from talkclip.config.model import ModelConfig
    from talkclip.model.text_backbone import load_text_backbone

    return load_text_backbone(ModelConfig())


# ------------------------------------------- 1. output path problems: checked first, never moved or replaced
def test_preprocess_output_that_is_a_file_is_refused_and_left_alone(tmp_path, capsys, speech):
    add_mead_clip(tmp_path / "mead", speech)
    user_file = tmp_path / "processed"
    user_file.write_text("my notes")
    code, err = run_cli(capsys, "preprocess", "--params", params_file(tmp_path), "--corpus", tmp_path / "mead",
                        "--out", user_file, "--quiet")
    assert code == 2 and f"{user_file} is an existing file" in err and "left as it is" in err
    assert user_file.read_text() == "my notes"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".processed")]  # nothing moved aside


def test_preprocess_never_replaces_a_folder_that_is_not_its_own_output(tmp_path, capsys, speech):
    add_mead_clip(tmp_path / "mead", speech)
    folder = tmp_path / "my_data"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    code, err = run_cli(capsys, "preprocess", "--params", params_file(tmp_path), "--corpus", tmp_path / "mead",
                        "--out", folder, "--quiet")
    assert code == 2 and str(folder) in err and "without manifest.csv" in err
    assert listing(folder) == ["thesis.tex"] and (folder / "thesis.tex").read_text() == "precious"


def test_generate_output_that_is_a_file_is_refused_before_the_work(tmp_path, capsys, checkpoint, style_clip, speech):
    write_wav(tmp_path / "speech.wav", speech, SR)
    user_file = tmp_path / "generated"
    user_file.write_text("my notes")
    code, err = run_cli(capsys, "generate", "--checkpoint", checkpoint, "--style-clip", style_clip,
                        "--audio", tmp_path / "speech.wav", "--out", user_file)
    assert code == 2 and f"{user_file} is an existing file" in err
    assert user_file.read_text() == "my notes"


def _unusable_folders(tmp_path: Path) -> list[Path]:
    """Folders no output can go into: below a file (for everyone), read-only (not for root, whom permission
    bits do not stop: then a folder of the read-only /sys filesystem, if it is read-only here)."""
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    folders = [blocker / "sub"]
    if os.geteuid() != 0:
        read_only = tmp_path / "read_only"
        read_only.mkdir()
        read_only.chmod(0o555)
        folders.append(read_only)
    elif not os.access("/sys", os.W_OK) or _write_fails("/sys"):
        folders.append(Path("/sys"))
    return folders


def _write_fails(folder: str) -> bool:
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(dir=folder)
    except OSError:
        return True
    os.close(fd)
    os.unlink(probe)
    return False


def test_unwritable_output_locations_are_refused_before_the_work(tmp_path, capsys, speech, checkpoint, style_clip):
    add_mead_clip(tmp_path / "mead", speech)
    write_wav(tmp_path / "speech.wav", speech, SR)
    params = params_file(tmp_path)
    for folder in _unusable_folders(tmp_path):
        for argv in (["preprocess", "--params", params, "--corpus", tmp_path / "mead", "--quiet"],
                     ["generate", "--checkpoint", checkpoint, "--style-clip", style_clip,
                      "--audio", tmp_path / "speech.wav"]):
            code, err = run_cli(capsys, *argv, "--out", folder / "out")
            assert code == 2 and str(folder / "out") in err, err
            assert "is a file" in err or "is not writable" in err, err
    assert (tmp_path / "blocker").read_text() == "x"


def test_metrics_and_table_outputs_that_are_folders_are_refused_first(tmp_path, capsys, speech):
    add_mead_clip(tmp_path / "mead", speech)
    (tmp_path / "metrics.json").mkdir()
    code, err = run_cli(capsys, "preprocess", "--params", params_file(tmp_path), "--corpus", tmp_path / "mead",
                        "--out", tmp_path / "processed", "--metrics", tmp_path / "metrics.json", "--quiet")
    assert code == 2 and f"{tmp_path / 'metrics.json'} is an existing folder" in err
    assert not (tmp_path / "processed").exists()  # refused before the work
    code, err = run_cli(capsys, "gate", "--thresholds", REPO / "evaluation" / "thresholds.yaml", "--root", tmp_path,
                        "--any-profile", "--out", tmp_path / "metrics.json")
    assert code == 2 and "gate: --out" in err and "existing folder" in err
    (tmp_path / "reports").write_text("x")
    code, err = run_cli(capsys, "report", "--eval", tmp_path, "--out", tmp_path / "reports")
    assert code == 2 and f"{tmp_path / 'reports'} is an existing file" in err


@pytest.mark.parametrize("argv, kind", [
    (["synth"], "folder"), (["annotate"], "folder"), (["train"], "folder"), (["sweep"], "folder"),
    (["selfdriven"], "folder"), (["sync-pretrain"], "file"), (["syncnet-train"], "file"), (["profile", "ci"], "file"),
])
def test_every_command_checks_its_output_before_it_starts(tmp_path, capsys, monkeypatch, argv, kind):
    """The wrong kind of thing where the output goes: refused at once, whatever the command would do first."""
    monkeypatch.chdir(tmp_path)  # no data here: any work would fail differently
    target = tmp_path / "target"
    target.mkdir() if kind == "file" else target.write_text("mine")
    option = "--write" if argv[0] == "profile" else "--out"
    code, err = run_cli(capsys, *argv, option, target)
    expected = "an existing folder; give the path of a file" if kind == "file" else "an existing file, not a folder"
    assert code == 2 and f"{argv[0]}: {option} {target} is {expected}" in err, err
    assert target.is_dir() if kind == "file" else target.read_text() == "mine"


# ------------------------------------------------- 2. silent or speechless audio: a clear error or a counted skip
def test_preprocess_silent_audio_is_a_clear_error_or_a_counted_skip(tmp_path, capsys, speech):
    mead = tmp_path / "mead"
    good = add_mead_clip(mead, speech, "happy", 1, 1)
    silent = add_mead_clip(mead, np.zeros(2 * SR, np.float32), "happy", 2, 1)
    code, err = run_cli(capsys, "preprocess", "--params", params_file(tmp_path), "--corpus", mead,
                        "--out", tmp_path / "out", "--quiet")
    silent_wav_path = mead / "M001" / "audio" / "happy" / "level_2" / "001.wav"
    assert code == 2 and silent in err and str(silent_wav_path) in err and "contains no speech" in err
    assert not (tmp_path / "out").exists()
    code, err = run_cli(capsys, "preprocess", "--params", params_file(tmp_path, on_error="skip"), "--corpus", mead,
                        "--out", tmp_path / "out", "--metrics", tmp_path / "metrics.json", "--quiet")
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["clips"] == 1 and metrics["skipped"] == 1
    skipped = (tmp_path / "out" / "skipped.tsv").read_text()
    assert silent in skipped and "contains no speech" in skipped and good not in skipped


def test_generate_on_digital_silence_is_a_clear_error(tmp_path, capsys, checkpoint, style_clip):
    silent_wav(tmp_path / "silence.wav", 2.0)
    write_video(tmp_path / "silent.mp4", np.zeros((50, 32, 32, 3), np.uint8), 25, audio=np.zeros(2 * SR, np.float32))
    for audio in (tmp_path / "silence.wav", tmp_path / "silent.mp4"):
        code, err = run_cli(capsys, "generate", "--checkpoint", checkpoint, "--style-clip", style_clip,
                            "--audio", audio, "--out", tmp_path / "generated")
        assert code == 2 and f"audio file {audio}" in err and "contains no speech" in err, err
        assert not (tmp_path / "generated").exists()


def test_speechless_audio_is_no_speech_for_the_aligner(speech):
    from talkclip.preprocess.alignment import AlignmentError, NoSpeechError, PhonemeAligner

    aligner = PhonemeAligner()
    hum = (np.random.default_rng(0).standard_normal(SR) * 1e-4).astype(np.float32)  # -80 dBFS: inaudible
    with pytest.raises(NoSpeechError, match="no speech.*peak level -6[0-9] dBFS|no speech.*digital silence"):
        aligner.align(hum, SR, None)
    assert issubclass(NoSpeechError, AlignmentError) and issubclass(AlignmentError, ValueError)  # CLI exit 2, skippable


# -------------------------------------------- 3. long audio: refused early, or streamed in bounded windows
def test_preprocess_refuses_audio_far_longer_than_its_video_without_decoding_it(tmp_path, capsys, monkeypatch):
    from talkclip.formats import media

    mead = tmp_path / "mead"
    clip = add_mead_clip(mead, silent_wav(tmp_path / "long.wav", 600.0), video_seconds=1.0)
    decoded = []
    monkeypatch.setattr(media, "iter_audio", lambda *a, **k: decoded.append(a) or iter(()))
    code, err = run_cli(capsys, "preprocess", "--params", params_file(tmp_path), "--corpus", mead,
                        "--out", tmp_path / "out", "--quiet")
    assert code == 2 and clip in err and "lasts 600.00 s" in err and "video lasts 1.000 s" in err
    assert "max_av_mismatch_s" in err and decoded == []


def test_audio_without_a_stated_duration_stops_decoding_at_the_limit(tmp_path, monkeypatch):
    from talkclip.formats import media

    path = silent_wav(tmp_path / "long.wav", 120.0)
    monkeypatch.setattr(media, "probe_audio_duration", lambda p: None)  # a container that states nothing
    with pytest.raises(media.AudioTooLongError, match=r"long.wav lasts more than 1.20 s.*stopped at 1\.[23]"):
        media.read_audio(path, SR, max_seconds=1.2)


def test_long_audio_is_recognised_window_by_window_with_progress(monkeypatch, speech, capsys):
    """Windows of 2 s here (30 s in use): each is its own pocketsphinx utterance, silent ones are not
    decoded, the streamed result equals the in-memory one, and a progress bar is shown."""
    from talkclip.preprocess import alignment

    monkeypatch.setattr(alignment, "RECOGNITION_WINDOW_S", 2.0)
    monkeypatch.setattr(alignment, "WINDOW_CUT_SEARCH_S", 0.5)
    audio = np.concatenate([speech, np.zeros(5 * SR, np.float32), speech]).astype(np.float32)
    decoded = []
    aligner = alignment.PhonemeAligner()
    original = aligner._recognize_phones
    monkeypatch.setattr(aligner, "_recognize_phones", lambda pcm: decoded.append(len(pcm) // 2) or original(pcm))
    whole = aligner.align(audio, SR, None)
    assert max(decoded) <= 2 * SR and sum(decoded) < len(audio) - 3 * SR  # bounded windows; silence skipped
    n_windows = len(decoded)
    streamed, duration = aligner.align_stream(np.array_split(audio, 13), None, total_s=len(audio) / SR)
    assert streamed.phones == whole.phones and duration == pytest.approx(len(audio) / SR)
    assert len(decoded) == 2 * n_windows
    assert whole.phones[-1].end == pytest.approx(len(audio) / SR)
    assert "phone recognition" in capsys.readouterr().err


def test_audio_too_long_for_forced_alignment_falls_back_with_the_reason(monkeypatch, speech):
    from talkclip.config.alignment import AlignerConfig
    from talkclip.preprocess import alignment

    monkeypatch.setattr(alignment, "FORCED_MAX_S", 1.0)
    result = alignment.PhonemeAligner().align(speech, SR, "The old fisherman mended his nets.")
    assert result.method == "phone_recognition"
    assert all("longer than the 1 s that forced alignment handles" in r for r in result.fallback_reasons)
    with pytest.raises(alignment.AlignmentError, match="forced: the audio is longer than the 1 s"):
        alignment.PhonemeAligner(AlignerConfig(fallbacks=())).align_stream([speech], "The old fisherman mended his nets.")


def test_generate_streams_long_audio_and_never_holds_it_whole(tmp_path, capsys, monkeypatch, checkpoint, style_clip):
    from talkclip import generate

    monkeypatch.setattr(generate, "read_audio", lambda *a, **k: pytest.fail("the whole signal was decoded"))
    path = silent_wav(tmp_path / "ten_minutes.wav", 600.0)
    code, err = run_cli(capsys, "generate", "--checkpoint", checkpoint, "--style-clip", style_clip,
                        "--audio", path, "--out", tmp_path / "generated")
    assert code == 2 and "600.00 s of digital silence" in err and str(path) in err
    assert not (tmp_path / "generated").exists()


# --------------------------------------------- 4. a checkpoint whose stored config disagrees with its tensors
def test_checkpoint_config_that_does_not_fit_its_tensors_is_named(tmp_path, capsys, checkpoint, style_clip, speech):
    from talkclip.training.checkpoint import CheckpointError, restore

    payload = torch.load(checkpoint, weights_only=True)
    payload["config"]["model"]["d_model"] = 48  # edited after training
    edited = tmp_path / "edited.pt"
    torch.save(payload, edited)
    write_wav(tmp_path / "speech.wav", speech, SR)
    code, err = run_cli(capsys, "generate", "--checkpoint", edited, "--style-clip", style_clip,
                        "--audio", tmp_path / "speech.wav", "--out", tmp_path / "generated")
    assert code == 2 and str(edited) in err and "do not fit the network its stored config describes" in err
    assert "is (32, 16) in the file, (48, 16) by the config" in err and "size mismatch" not in err
    assert not (tmp_path / "generated").exists()
    from test_training_toy import tiny_model_config

    from talkclip.model.talkclip_model import TalkCLIP

    resumed = TalkCLIP(tiny_model_config(d_model=48), 384)  # e.g. a training run resuming the edited file
    with pytest.raises(CheckpointError, match=f"{edited}, module 'talkclip': .*tensor\\(s\\) of another shape"):
        restore(payload, modules={"talkclip": resumed}, rng=False, source=str(edited))


# -------------------------------------------------------------------------- 5. malformed result files
@pytest.mark.parametrize("content, problem", [
    ("[1, 2]", "holds a JSON list, expected an object"),
    ("3.5", "holds a JSON float, expected an object"),
    ('{"frame_agreement_mean": ', "is not valid JSON"),
])
def test_gate_on_a_malformed_metrics_file_names_it(tmp_path, capsys, content, problem):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "preprocess.json").write_text(content)
    code, err = run_cli(capsys, "gate", "--thresholds", REPO / "evaluation" / "thresholds.yaml", "--root", tmp_path,
                        "--any-profile")
    assert code == 2 and str(tmp_path / "metrics" / "preprocess.json") in err and problem in err


@pytest.mark.parametrize("content, problem", [
    ("", "results file is empty"),
    ('{"table1": {', "not valid JSON: Expecting property name enclosed in double quotes at line 1, column 13"),
    ("[]", "'(top level)' must be an object, found a JSON array"),
    ("{}", "'table1' must be an object of methods, found missing"),
    ('{"table1": {"TalkCLIP (text style)": {"MEAD": {"ssim": "high"}}}}',
     "'table1.TalkCLIP (text style).MEAD.ssim' must be a number, found a JSON string"),
    ('{"table1": {"M": {"MEAD": {"ssim": 0.9}}}, "style": {"text": {"accuracy": 0.2}}, "ood": {}}',
     "'ood' must be an object, found an empty object"),
])
def test_report_on_a_malformed_results_file_names_file_and_key(tmp_path, capsys, content, problem):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "results.json").write_text(content)
    code, err = run_cli(capsys, "report", "--eval", tmp_path / "eval", "--out", tmp_path / "reports")
    assert code == 2 and str(tmp_path / "eval" / "results.json") in err and problem in err, err
    assert not (tmp_path / "reports").exists()


# ---------------------------------------------------------------------- 6. silently accepted nonsense
@pytest.mark.parametrize("row, problem", [
    ("../../etc/passwd\tHello there.", "clip id '../../etc/passwd' is a path"),
    ("M001/front\tHello there.", "clip id 'M001/front' is a path"),
    ("M001_front_neutral_level1_001\tAgain.", "clip id 'M001_front_neutral_level1_001' repeats line 2"),
])
def test_transcript_ids_that_are_paths_or_repeat_are_refused(tmp_path, capsys, speech, row, problem):
    clip = add_mead_clip(tmp_path / "mead", speech)
    table = tmp_path / "transcripts.tsv"
    table.write_text(f"clip_id\ttext\n{clip}\tThe old fisherman mended his nets.\n{row}\n")
    code, err = run_cli(capsys, "preprocess", "--params", params_file(tmp_path), "--corpus", tmp_path / "mead",
                        "--transcripts", table, "--out", tmp_path / "out", "--quiet")
    assert code == 2 and f"{table}:3" in err and problem in err


def test_transcript_rows_that_match_no_clip_are_reported(tmp_path, capsys, speech):
    mead = tmp_path / "mead"
    add_mead_clip(mead, speech, "happy", 1, 1)
    untranscribed = add_mead_clip(mead, speech, "happy", 2, 1)
    table = tmp_path / "transcripts.tsv"
    table.write_text("clip_id\ttext\nM001_front_happy_level1_001\tThe old fisherman mended his nets.\n"
                     "M009_front_happy_level1_001\tNobody said this.\n")
    code, err = run_cli(capsys, "preprocess", "--params", params_file(tmp_path), "--corpus", mead,
                        "--transcripts", table, "--out", tmp_path / "out", "--quiet")
    assert code == 0, err
    assert "warning: 1 transcript row(s) match no clip" in err and "M009_front_happy_level1_001" in err
    assert f"warning: 1 clip(s) under {mead} have no transcript row and fall back to phone recognition" in err
    assert untranscribed in err


def test_text_the_backbone_cannot_read_is_refused_partly_unreadable_warned(tmp_path, capsys, monkeypatch, minilm,
                                                                             checkpoint, speech):
    from talkclip.model import text_backbone

    monkeypatch.setattr(text_backbone, "load_text_backbone", lambda cfg: minilm)  # load MiniLM once per module
    write_wav(tmp_path / "speech.wav", speech, SR)
    for text in ("😀😀 🎉", "ሰላም ነው"):  # emoji; Ethiopic, which MiniLM's vocabulary lacks
        code, err = run_cli(capsys, "generate", "--checkpoint", checkpoint, "--text", text,
                            "--audio", tmp_path / "speech.wav", "--out", tmp_path / "generated")
        assert code == 2 and repr(text) in err and "no token its vocabulary can read" in err
        assert not (tmp_path / "generated").exists()
    code, err = run_cli(capsys, "generate", "--checkpoint", checkpoint, "--text", "A happy man 😀",
                        "--audio", tmp_path / "speech.wav", "--out", tmp_path / "generated")
    assert code == 0 and "warning" in err and "1 of the 4 tokens" in err and (tmp_path / "generated").is_dir()


@pytest.mark.parametrize("option, value, problem", [
    ("--fps", "0", "fps must be a frame rate in (0, 120], got 0.0"),
    ("--fps", "-25", "got -25.0"),
    ("--fps", "nan", "got nan"),
    ("--image-size", "33", "image_size must be an even number of pixels >= 32 (H.264), got 33"),
])
def test_frame_rates_and_sizes_that_make_no_video_are_refused(tmp_path, capsys, checkpoint, style_clip,
                                                              identity_sidecar, speech, option, value, problem):
    write_wav(tmp_path / "speech.wav", speech, SR)
    code, err = run_cli(capsys, "generate", "--checkpoint", checkpoint, "--style-clip", style_clip,
                        "--audio", tmp_path / "speech.wav", "--identity", identity_sidecar, option, value,
                        "--out", tmp_path / "generated")
    assert code == 2 and problem in err
    assert not (tmp_path / "generated").exists()


# ------------------------------------------------------- 7. paths that lead outside the tree: refused unopened
def test_manifest_paths_outside_the_dataset_are_refused_before_opening(tmp_path, capsys):
    from test_training_toy import build_toy_dataset

    processed, _ = build_toy_dataset(tmp_path / "toy", clips_per_group=1)
    manifest = processed / "manifest.csv"
    text = manifest.read_text().splitlines()
    first_clip = text[1].split(",")[0]
    text[1] = text[1].replace(f"clips/{first_clip}.npz", "../../../../../../etc/passwd")
    manifest.write_text("\n".join(text) + "\n")
    opened = []
    real_load = np.load
    from talkclip.preprocess import dataset

    def recording_load(path, *args, **kwargs):
        opened.append(str(path))
        return real_load(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dataset.np, "load", recording_load)
        code, err = run_cli(capsys, "annotate", "--processed", processed, "--out", tmp_path / "annotated")
    assert code == 2 and f"{manifest}:2" in err and "'../../../../../../etc/passwd' leads outside" in err
    assert opened == [] and not (tmp_path / "annotated").exists()


def test_gate_files_outside_the_run_folder_are_refused_before_opening(tmp_path, capsys):
    outside = tmp_path / "secret.json"
    outside.write_text('{"frame_agreement_mean": 1.0}')
    run = tmp_path / "run"
    run.mkdir()
    for file in ("../secret.json", str(outside), "metrics/../../secret.json"):
        thresholds = tmp_path / "thresholds.yaml"
        thresholds.write_text(yaml.safe_dump({"gates": {"alignment": {
            "file": file, "key": "frame_agreement_mean", "better": "higher", "threshold": 0.5}}}))
        code, err = run_cli(capsys, "gate", "--thresholds", thresholds, "--root", run, "--any-profile")
        assert code == 2 and str(thresholds) in err and "gate 'alignment'" in err and repr(file) in err
        assert "file must be a path inside the run's folder" in err


# ---------------------------------------------------------- 8. errors that name nothing, leftovers
def test_identity_given_a_png_names_the_file_and_leaves_nothing(tmp_path, capsys, checkpoint, style_clip, speech):
    from PIL import Image

    write_wav(tmp_path / "speech.wav", speech, SR)
    Image.new("RGB", (8, 8)).save(tmp_path / "me.png")
    code, err = run_cli(capsys, "generate", "--checkpoint", checkpoint, "--style-clip", style_clip,
                        "--audio", tmp_path / "speech.wav", "--identity", tmp_path / "me.png",
                        "--out", tmp_path / "generated")
    assert code == 2 and str(tmp_path / "me.png") in err and "PNG image" in err and "pickle" not in err
    assert not (tmp_path / "generated").exists()


def test_a_failed_render_leaves_the_previous_generation_as_it_was(tmp_path, capsys, monkeypatch, checkpoint,
                                                                  style_clip, identity_sidecar, speech):
    from talkclip import generate
    from talkclip.formats.media import MediaError, probe_video

    write_wav(tmp_path / "speech.wav", speech, SR)
    out = tmp_path / "generated"
    argv = ["generate", "--checkpoint", checkpoint, "--style-clip", style_clip, "--audio", tmp_path / "speech.wav",
            "--identity", identity_sidecar, "--image-size", "64", "--out", out]
    code, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert listing(out) == ["coefficients.npy", "generation.json", "video.mp4"]
    before = {name: (out / name).read_bytes() for name in listing(out)}
    assert probe_video(out / "video.mp4").n_frames == len(np.load(out / "coefficients.npy"))

    def failing_frames(*args, **kwargs):
        yield np.zeros((64, 64, 3), np.uint8)
        raise MediaError("renderer crashed half-way")

    monkeypatch.setattr(generate, "_rendered_frames", failing_frames)
    code, err = run_cli(capsys, *argv, "--fps", "30")
    assert code == 2 and "renderer crashed half-way" in err
    assert listing(out) == sorted(before) and all((out / n).read_bytes() == b for n, b in before.items())


def test_skip_mode_with_every_clip_skipped_says_why(tmp_path, capsys, speech):
    mead = tmp_path / "mead"
    add_mead_clip(mead, speech)
    (mead / "M001" / "video" / "front" / "joyful" / "level_1").mkdir(parents=True)  # not a MEAD emotion
    (mead / "M001" / "audio" / "neutral" / "level_1" / "001.wav").unlink()  # the only clip loses its audio
    code, err = run_cli(capsys, "preprocess", "--params", params_file(tmp_path, on_error="skip"), "--corpus", mead,
                        "--out", tmp_path / "out", "--quiet")
    assert code == 2 and "no usable clip; all 2 found were skipped" in err
    assert "unknown emotion folder 'joyful'" in err and "no audio" in err
