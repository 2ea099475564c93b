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

from collections.abc import Iterable, Iterator
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


class AudioTooLongError(MediaError):
    """Decoding stopped because the audio is longer than the caller allows (``max_seconds``)."""


def probe_audio_duration(path: str | Path) -> float | None:
    """Seconds of the first audio stream as the container states them (no decoding), or None."""
    path = Path(path)
    with _open(path, "audio") as container:
        if not container.streams.audio:
            raise MediaError(f"audio file {path} has no audio stream")
        stream = container.streams.audio[0]
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        if container.duration:
            return container.duration / av.time_base
    return None


def iter_audio(path: str | Path, sample_rate: int = DEFAULT_SAMPLE_RATE, max_seconds: float | None = None
               ) -> Iterator[np.ndarray]:
    """Decode the first audio stream of ``path`` chunk by chunk: mono float32 in [-1, 1] at ``sample_rate``.

    Memory is bounded by one decoded packet whatever the length of the file. With ``max_seconds``,
    decoding stops with :class:`AudioTooLongError` as soon as more than that (plus one AAC frame of
    codec padding) has been decoded. The chunks are not trimmed of AAC padding (see :func:`read_audio`).
    """
    path = Path(path)
    with _open(path, "audio") as container:
        if not container.streams.audio:
            raise MediaError(f"audio file {path} has no audio stream")
        stream = container.streams.audio[0]
        # Normalise whatever the decoder emits (s16, s32p, fltp...) to planar float, keeping the
        # source layout and rate, so that channels can be averaged below.
        to_float = av.AudioResampler(format="fltp")
        rate = _StreamingRate(sample_rate, path)
        limit = None
        decoded = 0
        try:
            for frame in container.decode(stream):
                if limit is None:
                    pad = AAC_FRAME_SIZE * sample_rate // frame.sample_rate + 1
                    limit = float("inf") if max_seconds is None else int(max_seconds * sample_rate) + pad
                for converted in to_float.resample(frame):
                    # (C, n) -> (n,): a plain channel average, as librosa.to_mono (per chunk, so a
                    # layout change mid-stream cannot break the concatenation).
                    for chunk in rate.convert(converted.to_ndarray().mean(axis=0), converted.sample_rate):
                        decoded += len(chunk)
                        if decoded > limit:
                            raise AudioTooLongError(
                                f"audio file {path} lasts more than {max_seconds:.2f} s, the most allowed here; "
                                f"decoding stopped at {decoded / sample_rate:.2f} s")
                        yield chunk
            for converted in to_float.resample(None):
                yield from rate.convert(converted.to_ndarray().mean(axis=0), converted.sample_rate)
            yield from rate.flush()
        except av.error.FFmpegError as exc:
            raise MediaError(f"audio file {path}: decoding failed: {exc}") from exc


class _StreamingRate:
    """Mono float32 chunks to ``target_rate`` with one stateful libswresample converter (FFmpeg's
    ``-ar``), so that converting chunk by chunk gives the samples of converting the whole signal."""

    def __init__(self, target_rate: int, path: Path) -> None:
        self.target_rate, self.path = target_rate, path
        self.resampler: av.AudioResampler | None = None
        self.source_rate: int | None = None
        self.pts = 0

    def convert(self, mono: np.ndarray, source_rate: int) -> list[np.ndarray]:
        mono = mono.astype(np.float32)
        self.source_rate = self.source_rate or source_rate
        if self.source_rate == self.target_rate:
            return [mono] if len(mono) else []
        if self.resampler is None:
            self.resampler = av.AudioResampler(format="fltp", layout="mono", rate=self.target_rate)
        frame = av.AudioFrame.from_ndarray(mono[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = self.source_rate, self.pts
        self.pts += len(mono)
        return self._run(frame)

    def flush(self) -> list[np.ndarray]:
        return self._run(None) if self.resampler is not None else []

    def _run(self, frame: av.AudioFrame | None) -> list[np.ndarray]:
        try:
            out = [f.to_ndarray()[0].astype(np.float32) for f in self.resampler.resample(frame)]
        except av.error.FFmpegError as exc:
            raise MediaError(f"audio file {self.path}: resampling {self.source_rate} -> {self.target_rate} Hz "
                             f"failed: {exc}") from exc
        return [chunk for chunk in out if len(chunk)]


def read_audio(path: str | Path, sample_rate: int = DEFAULT_SAMPLE_RATE, max_seconds: float | None = None
               ) -> np.ndarray:
    """Decode the first audio stream of ``path`` to mono float32 in [-1, 1] at ``sample_rate`` Hz.

    ``max_seconds``: refuse longer audio (:class:`AudioTooLongError`), from the container's stated
    duration before decoding anything, else as soon as decoding passes it.
    """
    path = Path(path)
    if max_seconds is not None:
        stated = probe_audio_duration(path)
        if stated is not None and stated > max_seconds:
            raise AudioTooLongError(f"audio file {path} lasts {stated:.2f} s, more than the {max_seconds:.2f} s "
                                    "allowed here (duration stated by the file; nothing was decoded)")
    with _open(path, "audio") as container:
        stream = container.streams.audio[0] if container.streams.audio else None
        duration_s = (float(stream.duration * stream.time_base)
                      if stream is not None and stream.duration and stream.time_base else None)
        source_rate = stream.rate if stream is not None else None
    chunks = list(iter_audio(path, sample_rate, max_seconds))
    if not chunks:
        raise MediaError(f"audio file {path} contains no audio samples")
    mono = np.concatenate(chunks)
    # AAC decoders return whole 1024-sample frames; the container's duration says where the real
    # signal ends. Trim only such codec padding, never more, so a wrong header cannot cut speech.
    if duration_s is not None and source_rate:
        expected = round(duration_s * sample_rate)
        if expected < len(mono) <= expected + AAC_FRAME_SIZE * sample_rate // source_rate + 1:
            mono = mono[:expected]
    return mono


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


def write_wav_chunks(path: str | Path, chunks: Iterable[np.ndarray], sample_rate: int) -> None:
    """Write mono audio given as chunks ((n,) float in [-1, 1], clipped, or int16) as PCM16 wav, atomically,
    one chunk at a time: a long recording is never held whole."""
    import wave

    if sample_rate <= 0:
        raise MediaError(f"writing {path}: sample rate must be positive, got {sample_rate}")
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        for chunk in chunks:
            pcm = _to_pcm16(chunk, f"writing {path}")
            if pcm.ndim != 1:
                raise MediaError(f"writing {path}: expected mono (n,) chunks, got shape {pcm.shape}")
            out.writeframes(pcm.astype("<i2").tobytes())


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


def iter_video_frames(path: str | Path, threads: int = 1) -> Iterator[np.ndarray]:
    """Yield the frames of the first video stream as (H, W, 3) uint8 RGB, one at a time.

    ``threads`` is the thread count of the decoder and of swscale's conversion to RGB (0 = FFmpeg's
    choice, one per core). One is the default because it was faster everywhere it was measured
    (2 cores, benchmarks/RESULTS.md): 2.6x less wall time for 256 px clips alone, 6x less beside
    another busy process (the evaluator's workers), and no slower at 1080p; the threaded paths wait on
    each other per frame. The frames are identical for any count.
    """
    if threads < 0:
        raise ValueError(f"decoder threads must be >= 0 (0 = FFmpeg's choice), got {threads}")
    path = Path(path)
    with _open(path, "video") as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        try:
            for frame in container.decode(stream):
                # swscale's colour conversion has its own threads (0 = one per core) and the same rule.
                yield frame.to_ndarray(format="rgb24", threads=threads)
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
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    crf: int = 18,
    preset: str = "medium",
    threads: int = 1,
    metadata: dict[str, str] | None = None,
) -> None:
    """Write (T, H, W, 3) uint8 RGB frames as an H.264 yuv420p mp4, with an optional mono AAC track.

    ``frames`` may also be an iterable of (H, W, 3) uint8 frames (e.g. rendered chunk by chunk), so that
    a long video is encoded in memory bounded by what the iterable holds.

    ``audio`` is (n,) float in [-1, 1] (or int16) at ``sample_rate``. H and W must be even (4:2:0
    chroma). Written atomically; identical inputs give identical bytes on the same FFmpeg build.
    ``threads`` is the x264 thread count; keep it fixed for reproducible bytes (the bitstream
    records it and x264's decisions depend on it). ``crf``/``preset`` are x264's. ``metadata``
    becomes the container's tags (mp4 keeps the standard ones: title, comment, description, ...).
    """
    path = Path(path)
    first, frame_iter = _first_frame(path, frames)
    height, width = first.shape[:2]
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
                container.metadata.update(metadata or {})
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
                for index, (rgb, is_last) in enumerate(_with_last(first, frame_iter)):
                    if rgb.shape != first.shape or rgb.dtype != np.uint8:
                        raise MediaError(f"writing {path}: frame {index} is {rgb.dtype} {rgb.shape}, the first frame "
                                         f"uint8 {first.shape}")
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                    frame.pts = index
                    container.mux(video.encode(frame))
                    if audio_stream is not None:
                        # Feed the audio up to the end of this video frame, so that the file is
                        # interleaved in time (PyAV re-chunks into the encoder's 1024-sample frames).
                        until = pcm.size if is_last else int((index + 1) * sample_rate / rate)
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


def _first_frame(path: Path, frames: np.ndarray | Iterable[np.ndarray]) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    """The first frame (checked) and an iterator over the rest."""
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise MediaError(f"writing {path}: frames must be (T, H, W, 3), got shape {frames.shape}")
        if frames.dtype != np.uint8:
            raise MediaError(f"writing {path}: frames must be uint8, got {frames.dtype}")
    frame_iter = iter(frames)
    first = next(frame_iter, None)
    if first is None:
        raise MediaError(f"writing {path}: zero frames")
    first = np.asarray(first)
    if first.ndim != 3 or first.shape[-1] != 3 or first.dtype != np.uint8:
        raise MediaError(f"writing {path}: frames must be (H, W, 3) uint8, got {first.dtype} {first.shape}")
    return first, frame_iter


def _with_last(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray, bool]]:
    """(frame, is it the last one) with one frame of look-ahead."""
    current = first
    for following in rest:
        yield current, False
        current = np.asarray(following)
    yield current, True
