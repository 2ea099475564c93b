"""The T2SS adapter can reach any video style code; stage 1 leaves the whole text side untouched."""

import pytest
import torch
import torch.nn.functional as F
from test_training_toy import HashBackbone, tiny_model_config, toy_training_data

from talkclip.config.model import ModelConfig
from talkclip.config.train import TrainConfig
from talkclip.model.talkclip_model import TalkCLIP
from talkclip.model.text_style_encoder import TextStyleEncoder
from talkclip.training.checkpoint import load_checkpoint
from talkclip.training.trainer import train

MODEL = tiny_model_config()


def _fit_cosine(encoder: torch.nn.Module, e_t: torch.Tensor, targets: torch.Tensor, steps: int = 600) -> torch.Tensor:
    optimizer = torch.optim.Adam(encoder.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = (1.0 - F.cosine_similarity(encoder(e_t), targets)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return F.cosine_similarity(encoder(e_t), targets)


def test_adapter_fits_targets_of_both_signs():
    """Unit e_t (like MiniLM's) -> targets that are a low-rank linear function of e_t with components of both
    signs and a large norm (like s_v): L_cos alone drives cos near 1. CLIP-Adapter's final ReLU (the blend
    0.6 * relu(.) + 0.4 * e_t) cannot follow them (text_style_encoder doc)."""
    generator = torch.Generator().manual_seed(0)
    e_t = F.normalize(torch.randn(64, 48, generator=generator), dim=-1)
    mapping = torch.randn(48, 4, generator=generator) @ torch.randn(4, 48, generator=generator)
    targets = 5.0 * e_t @ mapping
    torch.manual_seed(0)
    encoder = TextStyleEncoder(ModelConfig(), dim=48)
    cos = _fit_cosine(encoder, e_t, targets)
    assert cos.mean() > 0.95, cos
    assert (encoder.adapter(e_t) < 0).any()  # e_s is not confined to the positive orthant
    torch.manual_seed(0)
    relu_ended = TextStyleEncoder(ModelConfig(), dim=48)
    relu_ended.adapter.append(torch.nn.ReLU())
    assert _fit_cosine(relu_ended, e_t, targets).mean() < cos.mean() - 0.1


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return toy_training_data(tmp_path_factory.mktemp("adapter"), MODEL)


def test_stage1_never_touches_the_text_side(data, tmp_path):
    """Stage 1 is V2SS pretraining alone: no L_cos, the adapter keeps its initial weights (so variants that
    differ only there share stage 1), while E_v and the decoder learn."""
    processed, annotated, sync = data
    cfg = TrainConfig(seed=3, device="cpu", batch_size=4, lr=1e-3, disc_lr=1e-3, clip_frames=32, stage1_steps=2,
                      stage2_steps=1, checkpoint_every=10, log_every=1, cos_gradient="both")
    result = train(MODEL, cfg, processed, annotated, tmp_path, sync, backbone=HashBackbone(), resume=False,
                   stop_after_stage="stage1")
    assert result.steps["stage1"] == 2 and all(e["stage"] == "stage1" and "loss_cos" not in e for e in result.history)
    after = load_checkpoint(result.checkpoint)["modules"]["talkclip"]
    torch.manual_seed(cfg.seed)  # the trainer initialises the network right after seeding
    before = TalkCLIP(MODEL, HashBackbone().dim).state_dict()
    adapter = [k for k in after if k.startswith("text_style_encoder.")]
    video = [k for k in after if k.startswith("video_style_encoder.")]
    assert adapter and all(torch.equal(after[k], before[k]) for k in adapter)
    assert any(not torch.equal(after[k], before[k]) for k in video)


def test_no_video_guidance_has_no_l_cos(data, tmp_path):
    processed, annotated, sync = data
    cfg = TrainConfig(seed=3, device="cpu", batch_size=4, clip_frames=32, stage1_steps=2, stage2_steps=2,
                      checkpoint_every=10, log_every=1, video_guided=False)
    result = train(MODEL, cfg, processed, annotated, tmp_path, sync, backbone=HashBackbone(), resume=False)
    assert result.history and all("loss_cos" not in e for e in result.history)


def test_l_cos_alone_turns_text_codes_towards_the_video_codes(data, tmp_path):
    processed, annotated, sync = data
    cfg = TrainConfig(seed=3, device="cpu", batch_size=8, lr=1e-2, clip_frames=32, stage1_steps=0, stage2_steps=60,
                      checkpoint_every=100, log_every=10, lambda_cos=10.0, lambda_rec=0.0, lambda_sync=0.0,
                      lambda_tem=0.0, p_final=0.0)
    result = train(MODEL, cfg, processed, annotated, tmp_path, sync, backbone=HashBackbone(), resume=False)
    first, last = result.history[0]["loss_cos"], result.history[-1]["loss_cos"]
    assert last < first - 0.05, result.history
