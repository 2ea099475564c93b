"""Audio/video I/O through PyAV: real StyleTalk samples, round trips, determinism, broken files."""
from __future__ import annotations

import hashlib
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import scipy.signal

from talkclip.formats.mat3dmm import read_mat
from talkclip.formats.media import (
    MediaError,
    MediaNotFoundError,
    iter_video_frames,
    probe_video,
    read_audio,
    read_video,
    write_video,
    write_wav,
)

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples" / "styletalk" / "samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"StyleTalk samples not found at {SAMPLES}")


def _moving_square(n_frames: int, size: int = 64) -> np.ndarray:
    """Smooth synthetic frames (compressible, so the h264 round trip error is small)."""
    frames = np.full((n_frames, size, size, 3), 40, np.uint8)
    for t in range(n_frames):
        frames[t, 10 + t % 20: 30 + t % 20, 12:40] = (220, 120, 60)
    return frames


def _sine(seconds: float, sample_rate: int, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _dominant_frequency(audio: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / sample_rate)[spectrum.argmax()])


def _chirp(seconds: float, sample_rate: int) -> np.ndarray:
    """A 100 Hz -> 3 kHz sweep: unlike a sine, its cross-correlation has one clear peak (true lag)."""
    return (0.3 * scipy.signal.chirp(np.arange(round(seconds * sample_rate)) / sample_rate, 100, seconds, 3000)
            ).astype(np.float32)


def _lag(audio: np.ndarray, reference: np.ndarray) -> int:
    corr = scipy.signal.correlate(audio, reference, mode="full")
    return int(np.argmax(corr)) - (len(reference) - 1)


def _write_compressed(path: Path, fmt: str, codec: str, audio: np.ndarray, sample_rate: int) -> None:
    """Stereo audio in an FFmpeg container (MEAD's raw audio is 48 kHz AAC .m4a), via PyAV's own API."""
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=sample_rate)
        stream.layout = "stereo"
        pcm = np.round(np.tile(audio[None, :], (2, 1)) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.T.reshape(1, -1).copy(), format="s16", layout="stereo")
        frame.sample_rate, frame.pts = sample_rate, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


# ------------------------------------------------------------------------------------ real samples


@needs_samples
def test_sample_wavs_last_as_long_as_their_clips() -> None:
    folder = SAMPLES / "source_video"
    wavs = sorted((folder / "wav").glob("*.wav"))
    assert len(wavs) == 11
    for wav_path in wavs:
        audio = read_audio(wav_path)
        with wave.open(str(wav_path)) as w:
            assert (w.getframerate(), w.getnchannels()) == (16000, 1)
            assert len(audio) == w.getnframes()
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert 0.01 < np.abs(audio).max() <= 1.0  # real speech, not silence
        if wav_path.stem == "intro":
            continue  # no matching clip
        n_frames = read_mat(folder / "3DMM" / f"{wav_path.stem}.mat").n_frames
        assert abs(len(audio) / 16000 - n_frames / 30) < 1 / 30, wav_path


@needs_samples
def test_sample_videos_probe() -> None:
    videos = sorted(SAMPLES.glob("*/video/*.mp4"))
    assert len(videos) == 30
    for path in videos:
        info = probe_video(path)
        assert (info.width, info.height, info.fps) == (256, 256, 30.0), path
        assert info.duration == pytest.approx(info.n_frames / 30)
        # The container's count is exact: decoding gives the same number.
        assert probe_video(path, count_frames=True).n_frames == info.n_frames, path
        mat = path.parent.parent / "3DMM" / f"{path.stem}.mat"
        if mat.exists():
            surplus = info.n_frames - read_mat(mat).n_frames
            # Style clips match their .mat exactly; StyleTalk's source videos carry 0 or 2 extra frames.
            assert surplus == 0 if path.parent.parent.name == "style_clips" else surplus in (0, 2), path


@needs_samples
def test_sample_video_frames_and_silence() -> None:
    path = SAMPLES / "style_clips" / "video" / "furious_talk2_clip1.mp4"
    frames, fps = read_video(path)
    assert frames.shape == (60, 256, 256, 3) and frames.dtype == np.uint8 and fps == 30.0
    assert frames.std() > 10  # a face, not a blank frame
    with pytest.raises(MediaError, match="has no audio stream"):
        read_audio(path)


# ------------------------------------------------------------------------------------ round trips


def test_wav_roundtrip_and_resampling(tmp_path: Path) -> None:
    audio = _sine(0.5, 16000)
    path = tmp_path / "a.wav"
    write_wav(path, audio, 16000)
    back = read_audio(path)
    assert back.dtype == np.float32 and len(back) == len(audio)
    assert np.abs(back - audio).max() < 1e-4  # PCM16 quantisation only
    # 48 kHz -> 16 kHz keeps the length (in seconds) and the pitch.
    hi = tmp_path / "hi.wav"
    write_wav(hi, _sine(0.5, 48000, freq=1000.0), 48000)
    down = read_audio(hi, 16000)
    assert abs(len(down) - 8000) <= 2
    assert _dominant_frequency(down, 16000) == pytest.approx(1000.0, abs=4)
    # Out-of-range floats are clipped, int16 passes unchanged.
    write_wav(path, np.array([2.0, -2.0, 0.5], np.float32), 16000)
    np.testing.assert_allclose(read_audio(path), [1.0, -1.0, 0.5], atol=1e-4)


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    left = _sine(0.2, 16000, amp=0.5)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)  # (n, 2)
    path = tmp_path / "stereo.wav"
    write_wav(path, stereo, 16000)
    mono = read_audio(path)
    np.testing.assert_allclose(mono, left / 2, atol=1e-4)  # mean, not FFmpeg's -3 dB downmix


@pytest.mark.parametrize(
    "fmt, codec, ext, max_lag",
    [
        ("ipod", "aac", "m4a", 0),  # MEAD's raw audio; the mp4 edit list removes the encoder priming
        ("mp3", "libmp3lame", "mp3", 0),  # the LAME tag tells the demuxer the encoder delay
        ("adts", "aac", "aac", 400),  # raw ADTS has no edit list: 1024 priming samples at 48 kHz stay
    ],
)
def test_compressed_audio_like_mead(tmp_path: Path, fmt: str, codec: str, ext: str, max_lag: int) -> None:
    path = tmp_path / f"001.{ext}"
    _write_compressed(path, fmt, codec, _chirp(1.0, 48000), 48000)
    audio = read_audio(path)
    reference = _chirp(1.0, 16000)
    lag = _lag(audio, reference)
    assert 0 <= lag <= max_lag
    assert abs(len(audio) - 16000 - lag) <= 48  # no more than the codec's rounding beyond the priming
    aligned = audio[lag: lag + 15000]
    assert np.corrcoef(aligned, reference[: len(aligned)])[0, 1] > 0.9  # the same signal, not noise


def test_video_roundtrip_with_audio(tmp_path: Path) -> None:
    frames = _moving_square(30)
    audio = _sine(30 / 25, 16000)
    path = tmp_path / "clip.mp4"
    write_video(path, frames, 25, audio=audio, sample_rate=16000)
    info = probe_video(path)
    assert (info.n_frames, info.fps, info.width, info.height) == (30, 25.0, 64, 64)
    back, fps = read_video(path)
    assert back.shape == frames.shape and fps == 25.0
    assert np.abs(back.astype(int) - frames).mean() < 3.0
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.video[0].format.name == "yuv420p"
        assert container.streams.audio[0].codec_context.name == "aac"
    decoded = read_audio(path)
    assert abs(len(decoded) - len(audio)) <= 16
    n = min(len(decoded), len(audio))
    assert np.abs(decoded[:n] - audio[:n]).mean() < 0.01  # aligned, not shifted by the AAC priming
    chirp = _chirp(1.0, 16000)
    write_video(path, frames, 25, audio=chirp, sample_rate=16000)
    assert _lag(read_audio(path), chirp) == 0


def test_write_video_is_deterministic(tmp_path: Path) -> None:
    frames = _moving_square(20)
    audio = _sine(20 / 30, 22050)
    digests = []
    for name in ("a.mp4", "b.mp4"):
        write_video(tmp_path / name, frames, 30, audio=audio, sample_rate=22050)
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4"]  # no temporaries left


def test_ntsc_rate(tmp_path: Path) -> None:
    path = tmp_path / "ntsc.mp4"
    write_video(path, _moving_square(6), 30000 / 1001)
    with av.open(str(path)) as container:
        assert container.streams.video[0].average_rate == Fraction(30000, 1001)
    assert probe_video(path).fps == pytest.approx(29.97, abs=1e-3)


# ------------------------------------------------------------------------------------ broken inputs


def _expect(fn, path: Path, match: str, exc: type[Exception] = MediaError) -> None:
    with pytest.raises(exc, match=match) as info:
        fn(path)
    assert str(path) in str(info.value)


def test_missing_files(tmp_path: Path) -> None:
    for fn in (read_audio, probe_video, read_video):
        _expect(fn, tmp_path / "none.mp4", "does not exist", MediaNotFoundError)
        _expect(fn, tmp_path / "none.mp4", "does not exist", FileNotFoundError)


def test_empty_and_garbage_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    _expect(read_audio, empty, "is empty")
    header_only = tmp_path / "header_only.wav"
    with wave.open(str(header_only), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
    _expect(read_audio, header_only, "no audio samples")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    _expect(probe_video, text, "cannot be opened")
    _expect(read_video, text, "cannot be opened")
    _expect(read_audio, text, "cannot be opened")


def test_truncated_mp4(tmp_path: Path) -> None:
    good = tmp_path / "good.mp4"
    write_video(good, _moving_square(30), 30)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # the index (moov) is at the end
    _expect(probe_video, truncated, "cannot be opened")
    _expect(read_video, truncated, "cannot be opened")


def test_wav_in_video_reader_and_zero_frame_writes(tmp_path: Path) -> None:
    wav = tmp_path / "speech.wav"
    write_wav(wav, _sine(0.1, 16000), 16000)
    _expect(probe_video, wav, "has no video stream")
    out = tmp_path / "out.mp4"
    with pytest.raises(MediaError, match="zero frames") as info:
        write_video(out, np.zeros((0, 64, 64, 3), np.uint8), 30)
    assert str(out) in str(info.value)
    with pytest.raises(MediaError, match="even width and height"):
        write_video(out, np.zeros((2, 63, 64, 3), np.uint8), 30)
    with pytest.raises(MediaError, match="uint8"):
        write_video(out, np.zeros((2, 64, 64, 3), np.float32), 30)
    with pytest.raises(MediaError, match="AAC does not support 12345 Hz"):
        write_video(out, np.zeros((2, 64, 64, 3), np.uint8), 30, audio=np.zeros(100, np.float32), sample_rate=12345)
    with pytest.raises(MediaError, match="n > 0"):
        write_wav(tmp_path / "x.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(MediaError, match="NaN"):
        write_wav(tmp_path / "x.wav", np.array([np.nan], np.float32), 16000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech.wav"]


@pytest.mark.parametrize("audio_seconds", [0.3, 1.7])
def test_audio_shorter_or_longer_than_video(tmp_path: Path, audio_seconds: float) -> None:
    path = tmp_path / "uneven.mp4"
    chirp = _chirp(audio_seconds, 16000)
    write_video(path, _moving_square(30), 30, audio=chirp, sample_rate=16000)  # 1.0 s of video
    assert probe_video(path).n_frames == 30
    decoded = read_audio(path)
    assert abs(len(decoded) - len(chirp)) <= 16 and _lag(decoded, chirp) == 0


# --- streaming: long audio and video in bounded memory ------------------------------------------------
def test_streamed_audio_equals_whole_decoding_and_chunks_are_written_in_order(tmp_path):
    from talkclip.formats.media import iter_audio, write_wav_chunks

    rng = np.random.default_rng(0)
    signal = (rng.standard_normal(44100 * 3) * 0.1).astype(np.float32)
    write_wav_chunks(tmp_path / "a.wav", np.array_split(signal, 7), 44100)
    whole = read_audio(tmp_path / "a.wav", 44100)
    np.testing.assert_allclose(whole, signal, atol=1 / 32767)
    # Resampled chunk by chunk with one stateful converter: the same samples as one-shot conversion.
    streamed = np.concatenate(list(iter_audio(tmp_path / "a.wav", 16000)))
    np.testing.assert_array_equal(streamed, read_audio(tmp_path / "a.wav", 16000))
    assert len(streamed) == 16000 * 3


def test_video_frames_can_come_from_an_iterable(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (12, 32, 32, 3), dtype=np.uint8)
    audio = np.zeros(16000 // 2, np.float32)
    write_video(tmp_path / "array.mp4", frames, 25, audio=audio)
    write_video(tmp_path / "iter.mp4", iter(list(frames)), 25, audio=audio)
    assert (tmp_path / "array.mp4").read_bytes() == (tmp_path / "iter.mp4").read_bytes()
    with pytest.raises(MediaError, match="frame 2 is uint8 \\(16, 16, 3\\)"):
        write_video(tmp_path / "bad.mp4", iter([frames[0], frames[1], frames[2, :16, :16]]), 25)
    assert not (tmp_path / "bad.mp4").exists()


@pytest.mark.parametrize("size", [64, 200])
def test_decoder_thread_count_does_not_change_the_frames(tmp_path, size):
    """One decoder/swscale thread (the default, faster on 2 cores) gives FFmpeg's threaded frames exactly."""
    frames = np.random.default_rng(size).integers(0, 255, (30, size, size, 3), dtype=np.uint8)
    write_video(tmp_path / "noise.mp4", frames, 25)
    one = np.stack(list(iter_video_frames(tmp_path / "noise.mp4")))
    for threads in (0, 2):
        assert np.array_equal(np.stack(list(iter_video_frames(tmp_path / "noise.mp4", threads))), one)
    assert one.shape == frames.shape and np.abs(one.astype(int) - frames).mean() < 60  # decoded, not zeros
    with pytest.raises(ValueError, match="decoder threads must be >= 0"):
        next(iter_video_frames(tmp_path / "noise.mp4", -1))
