"""Audio and video I/O through PyAV (FFmpeg), the same code for the embedded corpus and real data.

- :func:`read_audio`: any container FFmpeg reads (wav, m4a, aac, mp3, mp4) -> mono float32 at
  ``sample_rate`` (16 kHz, what the field's audio models take). Channels are averaged (not
  FFmpeg's -3 dB downmix) and the rate is converted with libswresample.
- :func:`write_wav`: PCM16 wav.
- :func:`probe_video`, :func:`read_video`, :func:`iter_video_frames`: RGB uint8 frames.
- :func:`write_video`: H.264 (libx264) yuv420p mp4 with an optional AAC track. Output bytes are
  identical for identical input on the same FFmpeg/x264 build and thread count: x264 is
  deterministic for a fixed thread count (``threads=0``, "auto", would tie the bytes to the CPU
  count, so the default is 1) and the mp4 muxer writes no creation time unless asked.

Every failure raises :class:`MediaError` (a ValueError) naming the file; a missing file raises
:class:`MediaNotFoundError`, which is both a MediaError and a FileNotFoundError.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import scipy.io.wavfile

from talkclip.atomic import atomic_path

DEFAULT_SAMPLE_RATE = 16000
AAC_FRAME_SIZE = 1024  # samples per AAC frame: the most the decoder pads at the end of a stream


class MediaError(ValueError):
    """An audio/video file cannot be read or written as expected."""


class MediaNotFoundError(MediaError, FileNotFoundError):
    """The media file does not exist."""


def _check_exists(path: Path, what: str) -> None:
    if not path.is_file():
        reason = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise MediaNotFoundError(f"{what} file {path} {reason}")
    if path.stat().st_size == 0:
        raise MediaError(f"{what} file {path} is empty (0 bytes)")


def _open(path: Path, what: str) -> av.container.InputContainer:
    _check_exists(path, what)
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        raise MediaError(f"{what} file {path} cannot be opened by FFmpeg: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Audio


def read_audio(path: str | Path, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Decode the first audio stream of ``path`` to mono float32 in [-1, 1] at ``sample_rate`` Hz."""
    path = Path(path)
    with _open(path, "audio") as container:
        if not container.streams.audio:
            raise MediaError(f"audio file {path} has no audio stream")
        stream = container.streams.audio[0]
        # Normalise whatever the decoder emits (s16, s32p, fltp...) to planar float, keeping the
        # source layout and rate, so that channels can be averaged below.
        to_float = av.AudioResampler(format="fltp")
        chunks: list[np.ndarray] = []
        source_rate = None
        try:
            for frame in container.decode(stream):
                source_rate = source_rate or frame.sample_rate
                for converted in to_float.resample(frame):
                    # (C, n) -> (n,): a plain channel average, as librosa.to_mono (per chunk, so a
                    # layout change mid-stream cannot break the concatenation).
                    chunks.append(converted.to_ndarray().mean(axis=0))
            for converted in to_float.resample(None):
                chunks.append(converted.to_ndarray().mean(axis=0))
        except av.error.FFmpegError as exc:
            raise MediaError(f"audio file {path}: decoding failed: {exc}") from exc
        duration_s = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
    if not chunks or sum(len(c) for c in chunks) == 0:
        raise MediaError(f"audio file {path} contains no audio samples")
    mono = np.concatenate(chunks).astype(np.float32)
    if source_rate != sample_rate:
        mono = _resample(mono, source_rate, sample_rate, path)
    # AAC decoders return whole 1024-sample frames; the container's duration says where the real
    # signal ends. Trim only such codec padding, never more, so a wrong header cannot cut speech.
    if duration_s is not None:
        expected = round(duration_s * sample_rate)
        if expected < len(mono) <= expected + AAC_FRAME_SIZE * sample_rate // source_rate + 1:
            mono = mono[:expected]
    return mono


def _resample(mono: np.ndarray, source_rate: int, target_rate: int, path: Path) -> np.ndarray:
    """Convert the rate of a mono float32 signal with libswresample (FFmpeg's ``-ar``)."""
    frame = av.AudioFrame.from_ndarray(mono[None, :], format="fltp", layout="mono")
    frame.sample_rate = source_rate
    frame.pts = 0
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=target_rate)
    try:
        out = [f.to_ndarray()[0] for f in resampler.resample(frame)]
        out += [f.to_ndarray()[0] for f in resampler.resample(None)]
    except av.error.FFmpegError as exc:
        raise MediaError(f"audio file {path}: resampling {source_rate} -> {target_rate} Hz failed: {exc}") from exc
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def _to_pcm16(audio: np.ndarray, what: str) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.dtype == np.int16:
        return audio
    if not np.issubdtype(audio.dtype, np.floating):
        raise MediaError(f"{what}: audio must be float in [-1, 1] or int16, got {audio.dtype}")
    if not np.isfinite(audio).all():
        raise MediaError(f"{what}: audio contains NaN/inf")
    return np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write (n,) or (n, channels) audio (float in [-1, 1], clipped, or int16) as PCM16 wav, atomically."""
    pcm = _to_pcm16(audio, f"writing {path}")
    if pcm.ndim not in (1, 2) or pcm.shape[0] == 0:
        raise MediaError(f"writing {path}: expected (n,) or (n, channels) audio with n > 0, got shape {pcm.shape}")
    if sample_rate <= 0:
        raise MediaError(f"writing {path}: sample rate must be positive, got {sample_rate}")
    with atomic_path(path) as tmp:
        scipy.io.wavfile.write(str(tmp), int(sample_rate), pcm)


# ---------------------------------------------------------------------------------------------
# Video


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    n_frames: int
    width: int
    height: int
    duration: float  # seconds of video: n_frames / fps


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise MediaError(f"video file {path} has no video stream")
    return container.streams.video[0]


def _stream_fps(stream: av.video.stream.VideoStream, path: Path) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or float(rate) <= 0:
        raise MediaError(f"video file {path}: frame rate unknown")
    return float(rate)


def _count_decoded_frames(container: av.container.InputContainer, stream, path: Path) -> int:
    stream.thread_type = "AUTO"  # frame counting only; threads make no difference to the count
    try:
        return sum(1 for _ in container.decode(stream))
    except av.error.FFmpegError as exc:
        raise MediaError(f"video file {path}: decoding failed: {exc}") from exc


def probe_video(path: str | Path, count_frames: bool = False) -> VideoInfo:
    """Frame rate, exact frame count and size of the first video stream.

    The count is the container's when it states one (mp4/mov do: the sample table), otherwise
    (or with ``count_frames=True``) the number of frames actually decoded. Nothing is cached.
    """
    path = Path(path)
    with _open(path, "video") as container:
        stream = _video_stream(container, path)
        fps = _stream_fps(stream, path)
        n_frames = int(stream.frames or 0)
        if count_frames or n_frames <= 0:
            n_frames = _count_decoded_frames(container, stream, path)
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    if n_frames == 0:
        raise MediaError(f"video file {path} has no frames")
    return VideoInfo(path=path, fps=fps, n_frames=n_frames, width=width, height=height, duration=n_frames / fps)


def iter_video_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Yield the frames of the first video stream as (H, W, 3) uint8 RGB, one at a time."""
    path = Path(path)
    with _open(path, "video") as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise MediaError(f"video file {path}: decoding failed: {exc}") from exc


def read_video(path: str | Path) -> tuple[np.ndarray, float]:
    """All frames of the first video stream as (T, H, W, 3) uint8 RGB, and the frame rate."""
    path = Path(path)
    with _open(path, "video") as container:
        fps = _stream_fps(_video_stream(container, path), path)
    frames = list(iter_video_frames(path))
    if not frames:
        raise MediaError(f"video file {path} has no decodable frames")
    return np.stack(frames), fps


def _fps_fraction(fps: float, path: Path) -> Fraction:
    if not np.isfinite(fps) or fps <= 0:
        raise MediaError(f"writing {path}: fps must be positive, got {fps}")
    # 25, 30 and NTSC 30000/1001 all come out exact.
    return Fraction(fps).limit_denominator(1001)


def _s16_frame(samples: np.ndarray, sample_rate: int, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples)[None, :], format="s16", layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = pts
    return frame


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    crf: int = 18,
    preset: str = "medium",
    threads: int = 1,
) -> None:
    """Write (T, H, W, 3) uint8 RGB frames as an H.264 yuv420p mp4, with an optional mono AAC track.

    ``audio`` is (n,) float in [-1, 1] (or int16) at ``sample_rate``. H and W must be even (4:2:0
    chroma). Written atomically; identical inputs give identical bytes on the same FFmpeg build.
    ``threads`` is the x264 thread count; keep it fixed for reproducible bytes (the bitstream
    records it and x264's decisions depend on it). ``crf``/``preset`` are x264's.
    """
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise MediaError(f"writing {path}: frames must be (T, H, W, 3), got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise MediaError(f"writing {path}: frames must be uint8, got {frames.dtype}")
    n_frames, height, width = frames.shape[:3]
    if n_frames == 0:
        raise MediaError(f"writing {path}: zero frames")
    if height % 2 or width % 2:
        raise MediaError(f"writing {path}: H.264 4:2:0 needs even width and height, got {width}x{height}")
    rate = _fps_fraction(fps, path)
    pcm = None
    if audio is not None:
        pcm = _to_pcm16(audio, f"writing {path}")
        if pcm.ndim != 1 or pcm.size == 0:
            raise MediaError(f"writing {path}: audio must be a non-empty mono (n,) array, got shape {pcm.shape}")
        if sample_rate not in av.codec.Codec("aac", "w").audio_rates:
            raise MediaError(f"writing {path}: AAC does not support {sample_rate} Hz audio")

    with atomic_path(path) as tmp:
        try:
            with av.open(str(tmp), mode="w", format="mp4") as container:
                video = container.add_stream("libx264", rate=rate)
                video.width, video.height, video.pix_fmt = width, height, "yuv420p"
                video.codec_context.time_base = 1 / rate
                video.codec_context.thread_count = threads
                video.options = {"crf": str(crf), "preset": preset}
                audio_stream = None
                if pcm is not None:
                    audio_stream = container.add_stream("aac", rate=sample_rate)
                    audio_stream.layout = "mono"
                    audio_stream.bit_rate = 64000
                audio_sent = 0
                for index, rgb in enumerate(frames):
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                    frame.pts = index
                    container.mux(video.encode(frame))
                    if audio_stream is not None:
                        # Feed the audio up to the end of this video frame, so that the file is
                        # interleaved in time (PyAV re-chunks into the encoder's 1024-sample frames).
                        until = pcm.size if index == n_frames - 1 else int((index + 1) * sample_rate / rate)
                        until = min(until, pcm.size)  # audio shorter than the video: nothing left
                        if until > audio_sent:
                            chunk = _s16_frame(pcm[audio_sent:until], sample_rate, audio_sent)
                            container.mux(audio_stream.encode(chunk))
                            audio_sent = until
                container.mux(video.encode(None))
                if audio_stream is not None:
                    container.mux(audio_stream.encode(None))
        except av.error.FFmpegError as exc:
            raise MediaError(f"writing {path}: FFmpeg failed: {exc}") from exc
