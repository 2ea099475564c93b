"""Does a trained TalkCLIP actually use speaking style? Two quick, honest probes.

1. ``text_centroid_accuracy``: the issue's check of the T2SS/V2SS alignment. Video style codes s_v of
   the *train* clips give one centroid per emotion (mean of unit-length codes); the text style codes
   s_t of the *held-out* (test-split) clips' descriptions are classified by the nearest centroid
   (cosine). Chance is 1 / number of emotions. Also reported centred (see text_centroid_accuracy).
2. ``style_dependence``: does the decoder output follow the style code? The phonemes of a set of
   clips are decoded once per emotion with style clips of that emotion; the generated per-emotion
   mean upper-face offsets (emotion mean minus the mean over emotions) are correlated with the real
   offsets of the same style clips. The phonemes are the same for every emotion, so any difference
   comes from the style code alone. Also reports how large the generated offsets are relative to the
   real ones (``offset_gain``: 1 = the full real emotion difference, 0 = style ignored).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from talkclip.expression import UPPER_FACE_INDICES
from talkclip.model.style_encoder import crop_or_pad_style_clip
from talkclip.model.talkclip_model import TalkCLIP
from talkclip.model.windows import phoneme_windows

from .data import ClipStore, DescriptionTable


@dataclass
class CentroidAccuracy:
    accuracy: float  # codes as they are (cosine to the raw centroids)
    centred_accuracy: float  # video codes minus the train video mean, text codes minus the train text mean
    chance: float
    n_texts: int
    per_emotion: dict[str, float]


@dataclass
class StyleDependence:
    correlation: float  # Pearson r of generated vs real per-emotion upper-face offsets
    offset_gain: float  # least-squares slope of generated on real offsets
    generated_spread: float  # mean |offset| of the generated per-emotion means
    real_spread: float  # mean |offset| of the real per-emotion means
    n_emotions: int


@torch.no_grad()
def video_style_codes(model: TalkCLIP, store: ClipStore, batch_size: int = 32) -> torch.Tensor:
    """s_v of every clip of ``store`` (centre crop / pad as at inference), (N, style_dim)."""
    model.eval()
    device = next(model.parameters()).device
    codes = []
    for first in range(0, len(store), batch_size):
        clips = store.clips[first : first + batch_size]
        prepared = [crop_or_pad_style_clip(c.expression, model.cfg.style_max_frames) for c in clips]
        expression = torch.stack([p[0] for p in prepared]).to(device)
        pad_mask = torch.stack([p[1] for p in prepared]).to(device)
        codes.append(model.video_style(expression, pad_mask).float().cpu())
    return torch.cat(codes)


@torch.no_grad()
def text_centroid_accuracy(
    model: TalkCLIP, train_store: ClipStore, test_store: ClipStore, descriptions: DescriptionTable,
    text_embeddings: torch.Tensor,
) -> CentroidAccuracy:
    """Nearest-V2SS-centroid emotion accuracy of the test clips' description codes (see module doc).

    ``text_embeddings``: (len(descriptions.texts), dim) backbone embeddings e_t, row i = texts[i].
    """
    model.eval()
    device = next(model.parameters()).device
    codes = F.normalize(video_style_codes(model, train_store), dim=-1)
    # Both kinds of codes share a large common direction (every clip is "a person talking"), which in
    # short runs outweighs the emotion-specific part; the centred variant removes each modality's
    # mean, estimated on the *train* split only (no test statistics).
    video_mean = codes.mean(0)
    train_rows = [i for c in train_store.clips for i in descriptions.by_clip.get(c.clip_id, [])]
    emotions = sorted({c.emotion for c in train_store.clips})
    labels = np.array([c.emotion for c in train_store.clips])
    centroids = F.normalize(torch.stack([codes[torch.from_numpy(labels == e)].mean(0) for e in emotions]), dim=-1)
    text_rows, truth = [], []
    for clip in test_store.clips:
        if clip.emotion not in emotions:
            continue
        for index in descriptions.by_clip.get(clip.clip_id, []):
            text_rows.append(index)
            truth.append(emotions.index(clip.emotion))
    if not text_rows:
        raise ValueError("text_centroid_accuracy: no test-split clip has a description of a train emotion")
    s_t = F.normalize(model.text_style(text_embeddings[torch.tensor(text_rows)].to(device)).float().cpu(), dim=-1)
    predicted = (s_t @ centroids.T).argmax(dim=1).numpy()
    truth_array = np.array(truth)
    text_mean = video_mean
    if train_rows:
        train_codes = model.text_style(text_embeddings[torch.tensor(train_rows)].to(device)).float().cpu()
        text_mean = F.normalize(train_codes, dim=-1).mean(0)
    centred_centroids = F.normalize(centroids - video_mean, dim=-1)
    centred_predicted = (F.normalize(s_t - text_mean, dim=-1) @ centred_centroids.T).argmax(dim=1).numpy()
    per_emotion = {e: float((predicted[truth_array == k] == k).mean()) for k, e in enumerate(emotions)
                   if (truth_array == k).any()}
    return CentroidAccuracy(accuracy=float((predicted == truth_array).mean()),
                            centred_accuracy=float((centred_predicted == truth_array).mean()),
                            chance=1.0 / len(emotions),
                            n_texts=len(text_rows), per_emotion=per_emotion)


@torch.no_grad()
def style_dependence(
    model: TalkCLIP, store: ClipStore, n_phoneme_clips: int = 6, max_style_clips: int = 6
) -> StyleDependence:
    """Correlation of generated vs real per-emotion mean upper-face offsets (see module doc).

    Style clips: up to ``max_style_clips`` clips per emotion of ``store`` (highest levels first, the
    clearest styles); phonemes: the first ``n_phoneme_clips`` clips of ``store``.
    """
    model.eval()
    device = next(model.parameters()).device
    by_emotion: dict[str, list] = defaultdict(list)
    for clip in sorted(store.clips, key=lambda c: (-c.level, c.clip_id)):
        by_emotion[clip.emotion].append(clip)
    emotions = sorted(by_emotion)
    if len(emotions) < 2:
        raise ValueError(f"style_dependence: need clips of >= 2 emotions, got {emotions}")
    upper = torch.tensor(UPPER_FACE_INDICES)
    window_sets = [phoneme_windows(torch.from_numpy(c.phonemes), model.cfg.window).to(device)
                   for c in store.clips[:n_phoneme_clips]]
    real_means, generated_means = [], []
    for emotion in emotions:
        style_clips = by_emotion[emotion][:max_style_clips]
        real_means.append(np.mean([c.expression[:, UPPER_FACE_INDICES].mean(0) for c in style_clips], axis=0))
        prepared = [crop_or_pad_style_clip(c.expression, model.cfg.style_max_frames) for c in style_clips]
        styles = model.video_style(torch.stack([p[0] for p in prepared]).to(device),
                                   torch.stack([p[1] for p in prepared]).to(device))  # (S, dim)
        frame_means = []
        for windows in window_sets:
            pred = model.decode(windows[None].expand(len(styles), -1, -1), styles)  # (S, T, 64)
            frame_means.append(pred[..., upper.to(device)].float().mean(dim=(0, 1)).cpu().numpy())
        generated_means.append(np.mean(frame_means, axis=0))
    real = np.stack(real_means)
    generated = np.stack(generated_means)
    real_offsets = (real - real.mean(0)).ravel()
    generated_offsets = (generated - generated.mean(0)).ravel()
    correlation = float(np.corrcoef(real_offsets, generated_offsets)[0, 1]) if generated_offsets.std() > 0 else 0.0
    gain = float(real_offsets @ generated_offsets / max(real_offsets @ real_offsets, 1e-12))
    return StyleDependence(correlation=correlation, offset_gain=gain,
                           generated_spread=float(np.abs(generated_offsets).mean()),
                           real_spread=float(np.abs(real_offsets).mean()), n_emotions=len(emotions))
