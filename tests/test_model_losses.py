"""Loss terms: zero on identical inputs, positive otherwise, known values; a tiny overfit run."""
import pytest
import torch

from talkclip.config.model import ModelConfig
from talkclip.model import TalkCLIP, losses, phoneme_windows

torch.set_num_threads(1)


def test_ssim_1d_identity_bounds_and_sensitivity_to_shape():
    torch.manual_seed(0)
    x = torch.randn(2, 64, 64) * 0.3
    assert losses.ssim_1d(x, x).item() == pytest.approx(1.0, abs=1e-6)
    assert losses.ssim_1d(x, x.flip(1)).item() < 0.2  # same values, unrelated temporal order
    # Realistic smooth coefficient tracks (non-zero level, slow oscillation). With the same L1 error,
    # a constant offset keeps their temporal shape, frame-wise noise destroys it.
    time = torch.arange(64, dtype=torch.float32)[None, :, None]
    x = 1.0 + torch.rand(2, 1, 64) + 0.3 * torch.sin(2 * torch.pi * time / 20 + 6 * torch.rand(2, 1, 64))
    offset = x + 0.05
    noise = x + 0.05 * torch.sign(torch.randn_like(x))
    assert torch.allclose((offset - x).abs().mean(), (noise - x).abs().mean())
    assert losses.ssim_1d(x, offset) > losses.ssim_1d(x, noise) + 0.05
    # Shorter than the 11-tap window still works.
    assert losses.ssim_1d(x[:, :4], x[:, :4]).item() == pytest.approx(1.0, abs=1e-6)
    assert losses.ssim_1d(x[:, :1], x[:, :1]).item() == pytest.approx(1.0, abs=1e-6)


def test_reconstruction_loss_zero_on_identity_positive_otherwise():
    torch.manual_seed(0)
    target = torch.randn(2, 64, 64)
    assert losses.reconstruction_loss(target, target, mu=0.1).item() == pytest.approx(0.0, abs=1e-6)
    pred = target + 0.1 * torch.randn_like(target)
    value = losses.reconstruction_loss(pred, target, mu=0.1)
    expected = 0.1 * (pred - target).abs().mean() + 0.9 * (1 - losses.ssim_1d(pred, target))
    assert value.item() > 0
    torch.testing.assert_close(value, expected)
    with pytest.raises(ValueError, match="mu"):
        losses.reconstruction_loss(pred, target, mu=1.5)


def test_cosine_style_loss():
    s = torch.randn(4, 16)
    assert losses.cosine_style_loss(s, s).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.cosine_style_loss(s, 3 * s).item() == pytest.approx(0.0, abs=1e-6)  # scale-free
    assert losses.cosine_style_loss(s, -s).item() == pytest.approx(2.0, abs=1e-6)
    assert losses.cosine_style_loss(s, torch.randn(4, 16)).item() > 0


def test_hinge_and_sync_losses():
    real, fake = torch.tensor([2.0, 1.5]), torch.tensor([-1.0, -3.0])
    assert losses.hinge_d_loss(real, fake).item() == 0.0  # both beyond the margin
    assert losses.hinge_d_loss(torch.tensor([0.0]), torch.tensor([0.5])).item() == pytest.approx(2.5)
    assert losses.hinge_g_loss(torch.tensor([1.0, 3.0])).item() == pytest.approx(-2.0)
    logits = torch.tensor([0.0, 2.0, -2.0])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.ones(3))
    torch.testing.assert_close(losses.sync_loss(logits), expected)
    assert losses.sync_loss(torch.tensor([50.0])).item() < 1e-6


def test_tiny_decoder_overfits_a_fixed_target():
    torch.manual_seed(0)
    cfg = ModelConfig(
        d_model=32, n_heads=4, n_layers=1, d_ff=64, dropout=0.0, phoneme_embed_dim=16, dynamic_kernels=4,
        dynamic_attention_hidden=8, decoder_head_hidden=32,
    )
    model = TalkCLIP(cfg, text_dim=16)
    windows = phoneme_windows(torch.randint(0, 41, (2, 16)), cfg.window)
    text_embedding = torch.randn(2, 16)
    target = 0.5 * torch.randn(2, 16, 64)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss_now() -> torch.Tensor:
        return torch.nn.functional.mse_loss(model.decode(windows, model.text_style(text_embedding)), target)

    initial = loss_now().item()
    for _ in range(100):
        loss = loss_now()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    final = loss_now().item()
    assert final < initial / 5, (initial, final)


def _tracks(seed=0, batch=4, length=32, channels=6):
    generator = torch.Generator().manual_seed(seed)
    offsets = torch.tensor([0.0, 0.02, -0.3, 0.5, 0.0, 1.0])[:channels]
    return offsets + 0.2 * torch.randn(batch, length, channels, generator=generator)


@pytest.mark.parametrize("form", ["range", "standardized", "image"])
def test_normalised_ssim_forms(form):
    target = _tracks()
    frames = target.reshape(-1, target.shape[-1])
    normalisation = losses.track_normalisation(frames, form)
    assert losses.reconstruction_loss(target, target, 0.1, form, normalisation).item() == pytest.approx(0.0, abs=1e-5)
    assert losses.reconstruction_loss(target + 0.1, target, 0.1, form, normalisation).item() > 0.0
    with pytest.raises(ValueError, match="normalisation"):
        losses.reconstruction_loss(target, target, 0.1, form, None)
    if form == "standardized":
        z = normalisation.apply(frames)
        assert torch.allclose(z.mean(0), torch.zeros(z.shape[1]), atol=1e-5)
        assert normalisation.data_range == pytest.approx(float(((torch.quantile(z, 0.995, 0) - torch.quantile(z, 0.005, 0))).median()), rel=1e-4)
    else:
        mapped = normalisation.apply(frames)
        assert 0.4 < float(mapped.mean()) < 0.6 and normalisation.data_range == 1.0


def test_constant_coefficient_scale_is_floored():
    frames = _tracks().reshape(-1, 6)
    frames[:, 4] = 0.0  # an unused coefficient
    for form in ("range", "standardized"):
        normalisation = losses.track_normalisation(frames, form)
        assert float(normalisation.scale[4]) >= losses.SCALE_FLOOR * float(normalisation.scale.median()) * 0.99


def test_standardized_ssim_sees_a_small_per_clip_offset_that_raw_ssim_blurs():
    """The offset that is the emotion: a clip-wide shift of one coefficient. Raw SSIM (data_range 1) reacts
    violently to shifts of near-zero tracks and barely to the same shift of a large one; on z-scores the
    same shift in standard deviations costs the same whatever the coefficient's mean."""
    target = _tracks(channels=6)
    frames = target.reshape(-1, 6)
    normalisation = losses.track_normalisation(frames, "standardized")
    std = frames.std(0)
    shifted_small, shifted_large = target.clone(), target.clone()
    shifted_small[..., 0] += 0.5 * std[0]   # coefficient with mean 0
    shifted_large[..., 5] += 0.5 * std[5]   # coefficient with mean 1
    raw = [float(1 - losses.ssim_1d(s, target)) for s in (shifted_small, shifted_large)]
    z = [float(1 - losses.ssim_1d(normalisation.apply(s), normalisation.apply(target),
                                  data_range=normalisation.data_range)) for s in (shifted_small, shifted_large)]
    assert raw[0] > 5 * raw[1]  # ill-conditioned: the same relative shift costs very differently
    assert z[0] == pytest.approx(z[1], rel=0.5)
