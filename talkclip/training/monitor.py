"""Learning curves of the speaking style a model expresses, measured while it trains.

Every ``train.eval_every`` steps the live model is scored on the *validation* speakers (never the
test split the tables report):

- ``offset_gain`` / ``style_r``: the style-dependence probe (style_probe.style_dependence): how much of
  the real per-emotion upper-face difference the decoder reproduces from video style codes;
- ``video_style_accuracy``: each validation clip regenerated from its own phonemes with its own
  expression as the style clip (the StyleTalk-like, video-driven path), classified by the style
  classifier trained on ground-truth *training* clips;
- stage 2 only: ``text_style_accuracy`` (the same clips driven by their first description) and
  ``ood_accuracy`` (the out-of-domain descriptions, talkclip/data/ood_descriptions.tsv, all driven
  by the same validation speech).

The rows go to MLflow with the losses and to ``curves.csv`` in the run folder, which the report
stage plots (reports/learning_curves.png).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from talkclip.metrics.style import StyleClassifier, style_accuracy
from talkclip.model.talkclip_model import TalkCLIP

from .data import ClipStore
from .style_probe import style_dependence


@dataclass
class StyleMonitor:
    classifier: StyleClassifier
    clips: ClipStore  # the validation clips
    text_codes_input: torch.Tensor  # (n_clips, text_dim) backbone embeddings of each clip's first description
    ood_embeddings: torch.Tensor  # (n_ood, text_dim)
    ood_emotions: list[str]
    every: int
    # Global step at which each stage ends: those steps are always scored, so every curve has its end point.
    stage_ends: dict[str, int] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"StyleMonitor: every must be >= 1 step, got {self.every}")
        if len(self.text_codes_input) != len(self.clips):
            raise ValueError(f"StyleMonitor: {len(self.text_codes_input)} text embeddings for {len(self.clips)} clips")

    @torch.no_grad()
    def __call__(self, stage: str, step: int, model: TalkCLIP) -> dict[str, float] | None:
        """Score the model if ``step`` is on the schedule (or ends a stage); returns the new row or None."""
        if step % self.every and self.stage_ends.get(stage) != step:
            return None
        from talkclip.inference import generate_coefficients

        was_training = model.training
        model.eval()
        try:
            clips = self.clips.clips
            emotions, levels = [c.emotion for c in clips], [c.level for c in clips]
            dependence = style_dependence(model, self.clips, n_phoneme_clips=3, max_style_clips=3)
            row: dict[str, float] = {"stage": stage, "step": step, "offset_gain": dependence.offset_gain,
                                     "style_r": dependence.correlation}
            video = [generate_coefficients(model, c.phonemes, style_clip=c.expression) for c in clips]
            row["video_style_accuracy"] = style_accuracy(self.classifier, video, emotions, levels).accuracy
            if stage == "stage2":
                device = next(model.parameters()).device
                text_codes = model.text_style(self.text_codes_input.to(device))
                text = [_decode(model, c.phonemes, code) for c, code in zip(clips, text_codes)]
                row["text_style_accuracy"] = style_accuracy(self.classifier, text, emotions, levels).accuracy
                ood_codes = model.text_style(self.ood_embeddings.to(device))
                speech = clips[0].phonemes
                ood = [_decode(model, speech, code) for code in ood_codes]
                row["ood_accuracy"] = style_accuracy(self.classifier, ood, self.ood_emotions).accuracy
        finally:
            model.train(was_training)
        self.rows.append(row)
        return row

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def _decode(model: TalkCLIP, phonemes: np.ndarray, style_code: torch.Tensor) -> np.ndarray:
    """(T,) phoneme ids + one style code -> (T, 64), the decoder alone (the code is already computed)."""
    from talkclip.model.windows import phoneme_windows

    device = style_code.device
    windows = phoneme_windows(torch.as_tensor(phonemes, dtype=torch.int64), model.cfg.window).to(device)
    return model.decode(windows[None], style_code[None])[0].float().cpu().numpy()


def build_style_monitor(
    processed_dir, annotated_dir, backbone, every: int, stage_ends: dict[str, int], min_frames: int = 1,
) -> StyleMonitor | None:
    """The monitor of a processed dataset's ``val`` split, or None when it has no validation clips.

    The style classifier is fitted on the ground truth of the ``train`` split; each validation clip is
    driven by its first ``full`` description (as the self-driven evaluation drives test clips).
    """
    from pathlib import Path

    from talkclip.metrics.style import load_ood_table, train_style_classifier

    from .data import DescriptionTable, TrainingDataError

    try:
        clips = ClipStore.load(processed_dir, "val", min_frames)
    except TrainingDataError:
        return None
    descriptions = DescriptionTable.load(annotated_dir, "full")
    missing = [c.clip_id for c in clips.clips if c.clip_id not in descriptions.by_clip]
    if missing:
        raise TrainingDataError(f"{Path(annotated_dir) / 'descriptions.csv'}: no description for validation clip(s) "
                                f"{missing[:3]}")
    first_texts = [descriptions.texts[descriptions.by_clip[c.clip_id][0]] for c in clips.clips]
    ood = load_ood_table()
    return StyleMonitor(
        classifier=train_style_classifier(processed_dir, ("train",)), clips=clips,
        text_codes_input=backbone.embed(first_texts), ood_embeddings=backbone.embed(list(ood["text"])),
        ood_emotions=list(ood["emotion"]), every=every, stage_ends=stage_ends,
    )
