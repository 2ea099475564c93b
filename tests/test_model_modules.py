"""Shapes, masks and invariants of the TalkCLIP networks on a tiny configuration."""
import pytest
import torch

from talkclip.config.model import ModelConfig
from talkclip.expression import LOWER_FACE_INDICES, UPPER_FACE_INDICES
from talkclip.model import (
    ContentEncoder,
    StyleDecoder,
    SyncDiscriminator,
    TalkCLIP,
    TemporalDiscriminator,
    TextStyleEncoder,
    VideoStyleEncoder,
    crop_or_pad_style_clip,
    phoneme_windows,
    sinusoidal_positions,
)
from talkclip.phonemes import SIL_ID

torch.set_num_threads(1)


def tiny_config(**overrides) -> ModelConfig:
    values = {
        "d_model": 32, "n_heads": 4, "n_layers": 2, "d_ff": 64, "dropout": 0.0, "phoneme_embed_dim": 16,
        "style_max_frames": 40, "dynamic_kernels": 4, "dynamic_attention_hidden": 8, "decoder_head_hidden": 32,
        "tem_disc_channels": 8, "sync_disc_hidden": 16,
    }
    return ModelConfig(**(values | overrides))


def random_windows(batch: int, frames: int, w: int = 5, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return phoneme_windows(torch.randint(0, 41, (batch, frames), generator=generator), w)


# --- windows --------------------------------------------------------------------------------------------

def test_phoneme_windows_content_and_sil_padding():
    phonemes = torch.tensor([[1, 2, 3, 4]])
    windows = phoneme_windows(phonemes, 2)
    assert windows.shape == (1, 4, 5)
    assert windows[0, 0].tolist() == [SIL_ID, SIL_ID, 1, 2, 3]
    assert windows[0, 3].tolist() == [2, 3, 4, SIL_ID, SIL_ID]
    assert torch.equal(windows[..., 2], phonemes)  # the centre is the frame's own phoneme
    assert phoneme_windows(torch.tensor([7]), 5).tolist() == [[SIL_ID] * 5 + [7] + [SIL_ID] * 5]


def test_phoneme_windows_rejects_floats():
    with pytest.raises(TypeError, match="integer"):
        phoneme_windows(torch.zeros(1, 3), 5)


def test_sinusoidal_positions_are_distinct_and_bounded():
    table = sinusoidal_positions(11, 32)
    assert table.shape == (11, 32) and table.abs().max() <= 1.0
    assert torch.cdist(table, table).add(torch.eye(11)).min() > 0.1


# --- content encoder ------------------------------------------------------------------------------------

def test_content_encoder_shape_and_bad_ids():
    cfg = tiny_config()
    encoder = ContentEncoder(cfg)
    assert encoder(random_windows(2, 7)).shape == (2, 7, 11, 32)
    with pytest.raises(ValueError, match="0..40"):
        encoder(torch.full((1, 3, 11), 41))
    with pytest.raises(ValueError, match=r"\(B, T, 11\)"):
        encoder(torch.zeros(1, 3, 9, dtype=torch.long))


# --- video style encoder --------------------------------------------------------------------------------

def test_padding_does_not_change_the_style_code():
    cfg = tiny_config()
    torch.manual_seed(0)
    encoder = VideoStyleEncoder(cfg, style_dim=24).eval()
    clip = torch.randn(1, 20, 64)
    unpadded = encoder(clip, torch.zeros(1, 20, dtype=torch.bool))
    # Same clip padded to 40 frames with garbage in the padded part.
    padded_clip = torch.cat([clip, 100 * torch.randn(1, 20, 64)], dim=1)
    mask = torch.zeros(1, 40, dtype=torch.bool)
    mask[:, 20:] = True
    padded = encoder(padded_clip, mask)
    assert unpadded.shape == (1, 24)
    torch.testing.assert_close(padded, unpadded, atol=1e-5, rtol=1e-5)
    # ... while changing a real frame does change it.
    changed = padded_clip.clone()
    changed[0, 3] += 1.0
    assert (encoder(changed, mask) - padded).abs().max() > 1e-4


def test_all_padding_rows_are_finite_and_do_not_affect_others():
    cfg = tiny_config()
    encoder = VideoStyleEncoder(cfg, style_dim=24).eval()
    clips = torch.randn(2, 10, 64)
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[1] = True
    codes = encoder(clips, mask)
    assert torch.isfinite(codes).all()
    torch.testing.assert_close(codes[1], encoder.to_style.bias)  # empty clip -> projection of zeros
    torch.testing.assert_close(codes[0:1], encoder(clips[0:1], mask[0:1]), atol=1e-5, rtol=1e-5)


def test_style_clip_too_long_raises_and_crop_or_pad_helps():
    cfg = tiny_config(style_max_frames=16)
    encoder = VideoStyleEncoder(cfg, style_dim=8)
    with pytest.raises(ValueError, match="style_max_frames"):
        encoder(torch.randn(1, 17, 64), torch.zeros(1, 17, dtype=torch.bool))
    long_clip = torch.arange(30 * 64, dtype=torch.float32).reshape(30, 64)
    cropped, crop_mask = crop_or_pad_style_clip(long_clip, 16)
    assert cropped.shape == (16, 64) and not crop_mask.any()
    assert torch.equal(cropped, long_clip[7:23])  # centre window
    assert encoder(cropped[None], crop_mask[None]).shape == (1, 8)
    padded, pad_mask = crop_or_pad_style_clip(long_clip[:5], 16)
    assert pad_mask.tolist() == [False] * 5 + [True] * 11 and padded[5:].abs().sum() == 0
    assert torch.equal(padded[:5], long_clip[:5])


# --- text style encoder (adapter) -----------------------------------------------------------------------

def test_adapter_blend_equals_the_papers_formula():
    cfg = tiny_config(beta=0.6)
    encoder = TextStyleEncoder(cfg, dim=40)
    assert encoder.adapter[0].out_features == 10  # CLIP-Adapter reduction 4
    e_t = torch.randn(3, 40)
    e_s = encoder.adapter(e_t)
    # No final ReLU (a documented departure from CLIP-Adapter): e_s must reach both signs of the
    # video style space.
    assert (e_s < 0).any() and (e_s > 0).any()
    torch.testing.assert_close(encoder(e_t), 0.6 * e_s + 0.4 * e_t)
    assert TextStyleEncoder(tiny_config(adapter_hidden=7), dim=40).adapter[0].out_features == 7


def test_no_adapter_has_no_parameters_and_returns_e_t():
    encoder = TextStyleEncoder(tiny_config(use_adapter=False), dim=40)
    assert sum(p.numel() for p in encoder.parameters()) == 0
    e_t = torch.randn(3, 40)
    assert torch.equal(encoder(e_t), e_t)
    with pytest.raises(ValueError, match=r"\(B, 40\)"):
        encoder(torch.randn(3, 41))


# --- decoder --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("frames", [1, 300])
def test_decoder_shapes_for_short_and_long_sequences(frames):
    cfg = tiny_config()
    content = ContentEncoder(cfg)(random_windows(2, frames))
    out = StyleDecoder(cfg, style_dim=24)(content, torch.randn(2, 24))
    assert out.shape == (2, frames, 64) and torch.isfinite(out).all()


def test_dynamic_kernel_weights_sum_to_one_and_depend_on_style():
    cfg = tiny_config()
    decoder = StyleDecoder(cfg, style_dim=24)
    dynamic = decoder.upper.layers[0].ffn_in
    style = decoder.style_to_model(torch.randn(5, 24))
    weights = dynamic.kernel_weights(style)
    assert weights.shape == (5, cfg.dynamic_kernels) and (weights > 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(5))
    assert (weights[0] - weights[1]).abs().max() > 0
    # Temperature 30 keeps the initial mixture close to uniform.
    assert (weights - 1 / cfg.dynamic_kernels).abs().max() < 0.05


def test_dynamic_linear_equals_the_mixed_kernel():
    from talkclip.model import DynamicLinear

    layer = DynamicLinear(6, 5, style_dim=4, n_kernels=3, attention_hidden=8, temperature=30.0)
    x, style = torch.randn(2, 7, 6), torch.randn(2, 4)
    mix = layer.kernel_weights(style)
    for b in range(2):
        weight = sum(mix[b, k] * layer.weight[k] for k in range(3))
        bias = sum(mix[b, k] * layer.bias[k] for k in range(3))
        torch.testing.assert_close(layer(x, style)[b], x[b] @ weight.T + bias)


def test_decoder_places_upper_and_lower_branches_at_their_indices():
    cfg = tiny_config()
    decoder = StyleDecoder(cfg, style_dim=24)
    # Make the lower branch's last layer output exactly 1 and the upper branch's exactly -1.
    with torch.no_grad():
        for branch, value in ((decoder.lower, 1.0), (decoder.upper, -1.0)):
            branch.head[-1].weight.zero_()
            branch.head[-1].bias.fill_(value)
    out = decoder(ContentEncoder(cfg)(random_windows(1, 3)), torch.randn(1, 24))
    assert (out[..., list(LOWER_FACE_INDICES)] == 1).all() and (out[..., list(UPPER_FACE_INDICES)] == -1).all()


def test_decoder_output_depends_on_style_and_on_phonemes_only_locally():
    cfg = tiny_config()
    torch.manual_seed(1)
    model = TalkCLIP(cfg, text_dim=24).eval()
    windows = random_windows(1, 30)
    style = torch.randn(1, 24)
    base = model.decode(windows, style)
    assert (model.decode(windows, torch.randn(1, 24)) - base).abs().max() > 1e-4
    # Changing the phoneme of frame 20 can only affect frames 15..25 (window w = 5).
    phonemes = windows[..., 5].clone()
    phonemes[0, 20] = (phonemes[0, 20] + 1) % 41
    changed = model.decode(phoneme_windows(phonemes, 5), style)
    differs = (changed - base).abs().amax(-1)[0] > 1e-6
    assert differs[15:26].any() and not differs[:15].any() and not differs[26:].any()


# --- discriminators -------------------------------------------------------------------------------------

def test_temporal_discriminator_patch_logits():
    disc = TemporalDiscriminator(tiny_config())
    assert disc(torch.randn(3, 64, 64)).shape == (3, 16)
    with pytest.raises(ValueError, match="L >= 4"):
        disc(torch.randn(3, 2, 64))


def test_sync_discriminator_logits_and_mouth_only_input():
    cfg = tiny_config()
    disc = SyncDiscriminator(cfg)
    expression, windows = torch.randn(3, 64, 64), random_windows(3, 64)
    logits = disc(expression, windows)
    assert logits.shape == (3,)
    # It only looks at the 13 lower-face dims.
    upper_changed = expression.clone()
    upper_changed[..., list(UPPER_FACE_INDICES)] += 5.0
    torch.testing.assert_close(disc(upper_changed, windows), logits)
    with pytest.raises(ValueError, match="phoneme windows"):
        disc(expression, windows[:, :10])


def test_sync_discriminator_learns_to_spot_a_time_shift():
    """A few steps on a toy task: mouth = embedding of the current phoneme; negatives are shifted."""
    from talkclip.model import losses

    torch.manual_seed(0)
    cfg = tiny_config()
    disc = SyncDiscriminator(cfg)
    table = torch.randn(41, 64)
    optimiser = torch.optim.Adam(disc.parameters(), lr=3e-3)

    def batch(seed: int):
        phonemes = torch.randint(0, 41, (8, 24), generator=torch.Generator().manual_seed(seed))
        return table[phonemes], phoneme_windows(phonemes, 5), phoneme_windows(torch.roll(phonemes, 4, dims=1), 5)

    for step in range(60):
        expression, in_sync, shifted = batch(step)
        loss = losses.sync_loss(disc(expression, in_sync)) + losses.sync_loss(-disc(expression, shifted))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    expression, in_sync, shifted = batch(1000)
    with torch.no_grad():
        assert (disc(expression, in_sync) > disc(expression, shifted)).all()


# --- full model -----------------------------------------------------------------------------------------

def test_talkclip_wiring_and_style_width():
    cfg = tiny_config()
    model = TalkCLIP(cfg, text_dim=24)
    s_v = model.video_style(torch.randn(2, 12, 64), torch.zeros(2, 12, dtype=torch.bool))
    s_t = model.text_style(torch.randn(2, 24))
    assert s_v.shape == s_t.shape == (2, 24)
    assert model.decode(random_windows(2, 9), s_t).shape == (2, 9, 64)
    with pytest.raises(ValueError, match="style"):
        model.decode(random_windows(2, 9), torch.randn(2, 23))


