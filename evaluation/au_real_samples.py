"""Print the landmark AU estimate of the real MEAD samples (speaker W009, one clip per emotion).

    python evaluation/au_real_samples.py [../shared/samples/dreamtalk]

Every frame of each 256 px crop is measured with dlib; the reference is W009's neutral clip (the
``speaker_neutral`` model), as `talkclip annotate --au-source landmarks` does for a MEAD speaker.
docs/DESIGN.md quotes the table.
"""
import sys
from pathlib import Path

from talkclip.metrics.au_estimate import AU_NAMES, estimate_aus, video_landmarks


def main(folder: Path) -> None:
    videos = sorted((folder / "style_clip" / "video").glob("W009_front_*.mp4"))
    if not videos:
        raise SystemExit(f"{folder}: no W009_front_*.mp4 under style_clip/video")
    landmarks = {video.stem.replace("W009_front_", "").replace("_001", ""): video_landmarks(video) for video in videos}
    neutral = next(v for k, v in landmarks.items() if k.startswith("neutral"))
    print("| clip | " + " | ".join(AU_NAMES) + " |")
    print("|---" * (len(AU_NAMES) + 1) + "|")
    for name, points in landmarks.items():
        means = estimate_aus(points, neutral).mean(axis=0)
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in means) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "samples" / "dreamtalk")
