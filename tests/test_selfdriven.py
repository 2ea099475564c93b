"""The evaluate stage's drawing task: what a render worker writes, and the progress it reports."""
import numpy as np

from talkclip.corpus.identity import sample_identity
from talkclip.corpus.renderer import FaceRenderer
from talkclip.formats.media import read_audio, read_video, write_wav
from talkclip.selfdriven import RenderTask, render_task


def test_render_task_writes_the_clip_its_landmarks_and_reports_each_phase(tmp_path):
    identity = sample_identity(np.random.default_rng(2), "W")
    rng = np.random.default_rng(0)
    frames, fps, rate = 10, 25.0, 16000
    expression = (0.3 * rng.standard_normal((frames, 64))).astype(np.float32)
    pose = np.zeros((frames, 6), np.float32)
    write_wav(tmp_path / "speech.wav", 0.1 * rng.standard_normal(rate), rate)  # 1 s: longer than the 0.4 s clip
    task = RenderTask(identity.to_json(), expression, pose, fps, str(tmp_path / "speech.wav"),
                      str(tmp_path / "out" / "clip.mp4"), 64)
    events = []
    assert render_task(task, lambda stage, done, total: events.append((stage, done, total))) == task.target
    assert events == [("draw", 0, 2), ("encode", 1, 2), ("done", 2, 2)]
    video, video_fps = read_video(task.target)
    assert video.shape == (frames, 64, 64, 3) and video_fps == fps
    assert len(read_audio(task.target, rate)) == round(frames / fps * rate)  # the audio is cut to the video
    _, expected_landmarks = FaceRenderer(identity, image_size=64).render(expression, pose)
    saved = np.load(tmp_path / "out" / "clip.landmarks.npy")
    assert saved.dtype == np.float32 and np.array_equal(saved, expected_landmarks.astype(np.float32))
    render_task(task)  # without a progress hook
