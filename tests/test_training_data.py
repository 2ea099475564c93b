"""Training data: clip store, descriptions, deterministic step-indexed batches, phoneme windows."""
import numpy as np
import pandas as pd
import pytest
import torch
from test_training_toy import build_toy_dataset

from talkclip.phonemes import SIL_ID
from talkclip.training.data import (
    ClipStore,
    DescriptionTable,
    TrainingDataError,
    WindowSampler,
    batch_loader,
    phoneme_windows_np,
)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_toy_dataset(tmp_path_factory.mktemp("toy"), short_clips=2)


def _sampler(store, descriptions=None, **kw):
    args = {"clip_frames": 32, "window": 5, "style_max_frames": 64, "batch_size": 6, "seed": 7, "descriptions": descriptions}
    args.update(kw)
    return WindowSampler(store, **args)


def test_store_skips_and_counts_short_clips(toy):
    processed, _ = toy
    store = ClipStore.load(processed, "train", 32)
    assert len(store) == 24 and store.skipped == {"shorter_than_window": [
        "M001_front_neutral_level1_100", "M001_front_neutral_level1_101"]}
    assert all(c.frames >= 32 for c in store.clips)
    assert len(ClipStore.load(processed, "test", 32)) == 6
    with pytest.raises(TrainingDataError, match="hdtf"):
        ClipStore.load(processed, "hdtf", 32)
    with pytest.raises(TrainingDataError, match="no usable"):
        ClipStore.load(processed, "train", 1000)


def test_descriptions_by_mode(toy):
    _, annotated = toy
    full = DescriptionTable.load(annotated, "full")
    simanno = DescriptionTable.load(annotated, "simanno")
    assert sorted(simanno.texts) == ["angry", "happy", "neutral"]
    assert len(full.by_clip["M001_front_happy_level2_000"]) == 2
    assert all(len(set(v)) == len(v) for v in full.by_clip.values())
    with pytest.raises(ValueError, match="mode"):
        DescriptionTable.load(annotated, "short")


def test_description_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="descriptions.csv"):
        DescriptionTable.load(tmp_path, "full")
    pd.DataFrame({"clip_id": ["a"], "mode": ["full"], "text": ["x"]}).to_csv(tmp_path / "descriptions.csv", index=False)
    with pytest.raises(TrainingDataError, match="variant"):
        DescriptionTable.load(tmp_path, "full")
    pd.DataFrame({"clip_id": ["a"], "mode": ["full"], "variant": [0], "text": ["  "]}).to_csv(
        tmp_path / "descriptions.csv", index=False)
    with pytest.raises(TrainingDataError, match="empty text"):
        DescriptionTable.load(tmp_path, "full")


def test_phoneme_windows_use_clip_context_and_sil_outside():
    phonemes = np.arange(10, dtype=np.int64)
    windows = phoneme_windows_np(phonemes, 0, 3, 2)
    assert windows.tolist() == [[SIL_ID, SIL_ID, 0, 1, 2], [SIL_ID, 0, 1, 2, 3], [0, 1, 2, 3, 4]]
    assert phoneme_windows_np(phonemes, 7, 3, 2)[-1].tolist() == [7, 8, 9, SIL_ID, SIL_ID]
    with pytest.raises(ValueError):
        phoneme_windows_np(phonemes, 8, 3, 2)


def test_batches_are_deterministic_and_match_the_clips(toy):
    processed, annotated = toy
    descriptions = DescriptionTable.load(annotated, "full")
    store = ClipStore.load(processed, "train", 32)
    sampler = _sampler(store, descriptions)
    a, b, c = sampler.batch(1, 5), sampler.batch(1, 5), sampler.batch(1, 6)
    for key in a.__dataclass_fields__:
        assert torch.equal(getattr(a, key), getattr(b, key)), key
    assert not torch.equal(a.target, c.target)
    assert not torch.equal(a.target, sampler.batch(2, 5).target)  # streams differ
    assert a.target.shape == (6, 32, 64) and a.phoneme_windows.shape == (6, 32, 11)
    for i in range(6):
        clip = store.clips[int(a.clip_index[i])]
        start = int(a.window_start[i])
        assert torch.equal(a.target[i], torch.from_numpy(clip.expression[start : start + 32]))
        assert torch.equal(a.phoneme_windows[i, :, 5], torch.from_numpy(clip.phonemes[start : start + 32]))
        assert int(a.description_index[i]) in descriptions.by_clip[clip.clip_id]
        # Style = the same clip, cropped to style_max_frames (every toy clip is longer than 64 frames).
        assert not a.style_pad_mask[i].any()
        style = a.style[i].numpy()
        hits = [s for s in range(clip.frames - 63) if np.array_equal(clip.expression[s : s + 64], style)]
        assert hits


def test_style_padding_mask_and_same_group(toy):
    processed, _annotated = toy
    store = ClipStore.load(processed, "train", 32)
    batch = _sampler(store, style_max_frames=256, batch_size=8).batch(1, 0)
    lengths = [store.clips[int(i)].frames for i in batch.clip_index]
    assert batch.style.shape[1] == max(lengths)
    for i, n in enumerate(lengths):
        assert not batch.style_pad_mask[i, :n].any() and batch.style_pad_mask[i, n:].all()
        assert torch.all(batch.style[i, n:] == 0)
    group = _sampler(store, style_max_frames=256, batch_size=8, style_source="same_group").batch(1, 0)
    for i in range(8):
        target_clip = store.clips[int(group.clip_index[i])]
        n = int((~group.style_pad_mask[i]).sum())
        sources = [c for c in store.clips if c.frames == n and np.array_equal(c.expression, group.style[i, :n].numpy())]
        assert len(sources) == 1 and sources[0].clip_id != target_clip.clip_id
        assert (sources[0].speaker, sources[0].emotion, sources[0].level) == (
            target_clip.speaker, target_clip.emotion, target_clip.level)


def test_clips_without_description_are_rejected_by_the_sampler(toy):
    processed, annotated = toy
    descriptions = DescriptionTable.load(annotated, "full")
    del descriptions.by_clip["M001_front_happy_level1_000"]
    store = ClipStore.load(processed, "train", 32)
    with pytest.raises(TrainingDataError, match="no 'full' description"):
        _sampler(store, descriptions)
    filtered = ClipStore.load(processed, "train", 32, require_clip_ids=set(descriptions.by_clip))
    assert filtered.skipped["no_description"] == ["M001_front_happy_level1_000"]
    assert len(filtered) == 23


def test_loader_with_workers_gives_the_same_batches(toy):
    processed, _ = toy
    sampler = _sampler(ClipStore.load(processed, "train", 32))
    serial = [b.target for b in batch_loader(sampler, 1, 3, 7, num_workers=0)]
    parallel = [b.target for b in batch_loader(sampler, 1, 3, 7, num_workers=2)]
    assert len(serial) == 4
    assert all(torch.equal(a, b) for a, b in zip(serial, parallel))
    assert torch.equal(serial[0], sampler.batch(1, 3).target)
