"""Contact sheet of ``talkclip generate --image``: one photo, one speech, three styles, frames over time.

    python docs/make_portrait_sheet.py --checkpoint models/train/checkpoints/final.pt

writes ``docs/img/portrait_styles.png`` (rows: styles; columns: the same instants of the speech) and
keeps the three videos with ``--videos DIR``. The default photo is scikit-image's ``astronaut``
(Eileen Collins, NASA, public domain; it ships in the scikit-image wheel), because the sample
portraits in ../shared/samples may be used for tests only and must not be redistributed in the
repository; pass ``--image`` to look at them locally. The default speech is DreamTalk's English
sample (read from ../shared/samples, only its mouth motion appears in the sheet); without the
samples an espeak-ng sentence is synthesised.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_SPEECH = ROOT.parent / "shared" / "samples" / "dreamtalk" / "audio" / "acknowledgement_english.m4a"
STYLES = (
    "A woman looks ecstatic and speaks with lip corners intensely raised, cheeks strongly pushed up.",
    "A furious woman speaks with brows strongly lowered and drawn together, lids tightened.",
    "A sad woman speaks with inner eyebrows extremely lifted and lip corners pulled down.",
)


def default_inputs(work: Path) -> tuple[Path, Path]:
    import skimage.data

    image = work / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(image)
    if SAMPLE_SPEECH.is_file():
        return image, SAMPLE_SPEECH
    from talkclip.corpus.speech import Voice, synthesize
    from talkclip.formats.media import write_wav

    utterance = synthesize("We watched the orange sun sink behind the hills, and then we walked home slowly.",
                           Voice("en-us+f2", 150, 55, 60, 100))
    speech = work / "speech.wav"
    write_wav(speech, utterance.audio, utterance.sample_rate)
    return image, speech


def contact_sheet(videos: list[Path], labels: list[str], n_columns: int, tile: int) -> Image.Image:
    from talkclip.formats.media import read_video

    rows = []
    for video in videos:
        frames, fps = read_video(video)
        picks = np.linspace(0.1, 0.9, n_columns) * (len(frames) - 1)
        rows.append([Image.fromarray(frames[round(i)]).resize((tile, tile), Image.LANCZOS) for i in picks])
    times = [i / fps for i in np.linspace(0.1, 0.9, n_columns) * (len(frames) - 1)]
    label_h, font = 34, ImageFont.load_default(size=13)
    sheet = Image.new("RGB", (tile * n_columns, (tile + label_h) * len(rows) + 18), "white")
    draw = ImageDraw.Draw(sheet)
    for c, t in enumerate(times):
        draw.text((c * tile + 4, 2), f"t = {t:.1f} s", fill="black", font=font)
    for r, (row, label) in enumerate(zip(rows, labels)):
        y = 18 + r * (tile + label_h)
        draw.text((4, y + 2), label if len(label) < 130 else label[:127] + "...", fill="black", font=font)
        for c, image in enumerate(row):
            sheet.paste(image, (c * tile, y + label_h - 6))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ROOT / "models/train/checkpoints/final.pt"))
    parser.add_argument("--image", default=None, help="portrait (default: scikit-image's astronaut, public domain)")
    parser.add_argument("--audio", default=None, help="speech (default: DreamTalk's English sample, or espeak-ng)")
    parser.add_argument("--out", default=str(ROOT / "docs/img/portrait_styles.png"))
    parser.add_argument("--videos", default=None, help="keep the three videos in this folder")
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()

    import torch

    from talkclip.animate import animate_portrait
    from talkclip.atomic import atomic_path

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        image, speech = default_inputs(work)
        image = Path(args.image) if args.image else image
        speech = Path(args.audio) if args.audio else speech
        out_dir = Path(args.videos) if args.videos else work
        videos = []
        for k, text in enumerate(STYLES):
            result = animate_portrait(image, speech, out_dir / f"style{k + 1}.mp4", checkpoint=args.checkpoint,
                                      text=text, size=args.size, progress=False)
            videos.append(result.video)
            print(f"{result.video}: {result.n_frames} frames, {result.seconds}")
        sheet = contact_sheet(videos, [f"{k + 1}. {text}" for k, text in enumerate(STYLES)], args.columns, 160)
        with atomic_path(args.out) as tmp_png:  # 256 colours with dithering: a third of the bytes, same look
            sheet.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(tmp_png, format="PNG", optimize=True)
    print(f"contact sheet -> {args.out} (photo {image.name}, speech {speech.name}, checkpoint {args.checkpoint})")


if __name__ == "__main__":
    main()
