"""The lean attention modules and the decoder's shortcuts compute what the straightforward torch code computes.

Oracles: ``nn.MultiheadAttention`` / ``nn.TransformerEncoder`` with the same weights, and a decoder written
the plain way (queries repeated for every frame, every slot computed in every layer, torch attention).
"""
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from talkclip.config.model import ModelConfig
from talkclip.model.attention import MultiheadAttention, TransformerEncoder
from talkclip.model.decoder import StyleDecoder
from talkclip.model.windows import sinusoidal_positions

CFG = ModelConfig(d_model=16, n_heads=4, n_layers=2, d_ff=24, dropout=0.0, phoneme_embed_dim=8,
                  dynamic_kernels=3, dynamic_attention_hidden=8, decoder_head_hidden=12)


def _torch_mha(ours: MultiheadAttention) -> nn.MultiheadAttention:
    reference = nn.MultiheadAttention(ours.embed_dim, ours.num_heads, dropout=0.0, batch_first=True)
    reference.load_state_dict(ours.state_dict())
    return reference


@pytest.mark.parametrize("query_length", [11, 1])
def test_multihead_attention_equals_torch(query_length):
    torch.manual_seed(0)
    ours = MultiheadAttention(16, 4)
    reference = _torch_mha(ours)
    query, key, value = torch.randn(7, query_length, 16), torch.randn(7, 11, 16), torch.randn(7, 11, 16)
    for q, k, v in ((query, key, value), (query, key, key)):  # separate and shared key/value tensors
        expected = reference(q, k, v, need_weights=False)[0]
        assert torch.allclose(ours(q, k, v), expected, atol=1e-6)


def test_multihead_attention_padding_mask_equals_torch():
    torch.manual_seed(1)
    ours = MultiheadAttention(16, 4)
    reference = _torch_mha(ours)
    x = torch.randn(3, 9, 16)
    mask = torch.zeros(3, 9, dtype=torch.bool)
    mask[0, 6:] = True
    mask[2, 1:] = True
    expected = reference(x, x, x, key_padding_mask=mask, need_weights=False)[0]
    assert torch.allclose(ours(x, x, x, key_padding_mask=mask), expected, atol=1e-6)


def test_transformer_encoder_equals_torch_and_shares_its_state_dict():
    torch.manual_seed(2)
    ours = TransformerEncoder(16, 4, 24, dropout=0.0, num_layers=2)
    torch.manual_seed(2)
    layer = nn.TransformerEncoderLayer(16, 4, 24, dropout=0.0, activation="relu", batch_first=True, norm_first=False)
    reference = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    # The same seed gives the same initial weights (torch copies one layer, so do we) ...
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), reference.state_dict().values()))
    assert ours.state_dict().keys() == reference.state_dict().keys()
    x = torch.randn(5, 11, 16, requires_grad=True)
    mask = torch.zeros(5, 11, dtype=torch.bool)
    mask[1, 8:] = True
    for module in (ours, reference):
        module.train()  # dropout 0: training mode is the same function, with gradients
    y_ours, y_ref = ours(x, src_key_padding_mask=mask), reference(x, src_key_padding_mask=mask)
    assert torch.allclose(y_ours, y_ref, atol=1e-5)
    g_ours, = torch.autograd.grad(y_ours.square().sum(), x)
    g_ref, = torch.autograd.grad(y_ref.square().sum(), x)
    assert torch.allclose(g_ours, g_ref, atol=1e-4)


def _plain_decoder(decoder: StyleDecoder, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The decoder computed the straightforward way: the queries repeated for every frame, all slots of
    every layer, torch's attention."""
    cfg = decoder.cfg
    batch, frames, window, d = content.shape
    if cfg.style_norm:
        style = F.normalize(style, dim=-1) * style.shape[-1] ** 0.5
    code = decoder.style_to_model(style)
    positions = sinusoidal_positions(window, d)
    memory = content.reshape(batch * frames, window, d)
    outputs = []
    for branch in (decoder.upper, decoder.lower):
        x = (positions + code[:, None, :]).repeat_interleave(frames, dim=0)
        for layer in branch.layers:
            self_attention, cross_attention = _torch_mha(layer.self_attention), _torch_mha(layer.cross_attention)
            x = layer.norm_self(x + self_attention(x + positions, x + positions, x, need_weights=False)[0])
            x = layer.norm_cross(x + cross_attention(x + positions, memory + positions, memory, need_weights=False)[0])
            hidden = torch.relu(layer.ffn_in(x.reshape(batch, -1, d), code))
            x = layer.norm_ffn(x + layer.ffn_out(hidden).reshape_as(x))
        outputs.append(branch.head(x[:, window // 2].reshape(batch, frames, d)))
    return torch.cat(outputs, dim=-1)[..., decoder.layout_order]


@pytest.mark.parametrize("style_norm", [True, False])
@pytest.mark.parametrize("n_layers", [1, 2])
def test_decoder_shortcuts_give_the_plain_result(style_norm, n_layers):
    """Per-sample first-layer slots and centre-only last layer (decoder.py) = the plain computation."""
    cfg = dataclasses.replace(CFG, n_layers=n_layers, style_norm=style_norm)
    torch.manual_seed(3)
    decoder = StyleDecoder(cfg, style_dim=20).train()
    content = torch.randn(3, 5, cfg.window_size, cfg.d_model)
    style = torch.randn(3, 20) * 7.0
    assert torch.allclose(decoder(content, style), _plain_decoder(decoder, content, style), atol=1e-5)


def test_decoder_with_dropout_keeps_per_frame_masks():
    """With dropout in training the slots are repeated before the first layer (a mask per frame), so the
    frames of one sample still get independent noise; in eval mode the shortcut is exact."""
    cfg = dataclasses.replace(CFG, dropout=0.5)
    torch.manual_seed(4)
    decoder = StyleDecoder(cfg, style_dim=20)
    content = torch.randn(2, 4, cfg.window_size, cfg.d_model).expand(2, 4, -1, -1).clone()
    content[:, 1:] = content[:, :1]  # every frame of a sample sees the same content
    style = torch.randn(2, 20)
    out = decoder.train()(content, style)
    assert not torch.allclose(out[:, 0], out[:, 1])  # independent dropout per frame
    decoder.eval()
    assert torch.allclose(decoder(content, style), _plain_decoder(decoder, content, style), atol=1e-5)


def test_decoder_reads_only_the_style_direction():
    cfg = CFG
    torch.manual_seed(5)
    decoder = StyleDecoder(cfg, style_dim=20).eval()
    content = torch.randn(2, 3, cfg.window_size, cfg.d_model)
    style = torch.randn(2, 20)
    assert torch.allclose(decoder(content, style), decoder(content, 13.0 * style), atol=1e-5)
