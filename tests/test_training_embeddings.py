"""Description embeddings: computed once, cached by backbone + text hash, reused."""
import pytest
import torch
from test_training_toy import HashBackbone

from talkclip.training.embeddings import cache_key, description_embeddings


def test_cache_is_written_then_reused(tmp_path):
    backbone = HashBackbone()
    texts = ["a happy man", "an angry woman", "a calm man"]
    first, path, reused = description_embeddings(backbone, texts, tmp_path)
    assert not reused and path.is_file() and backbone.calls == 1
    assert path.name.startswith("text_embeddings_hash_")
    assert torch.equal(first, backbone.embed(texts))
    second, path2, reused2 = description_embeddings(HashBackbone(), texts, tmp_path)
    assert reused2 and path2 == path and torch.equal(first, second)


def test_key_depends_on_texts_backbone_and_extra(tmp_path):
    texts = ["a happy man"]
    key = cache_key(HashBackbone(), texts)
    assert key != cache_key(HashBackbone(), ["a sad man"])
    assert key != cache_key(HashBackbone(dim=8), texts)
    assert key != cache_key(HashBackbone(), texts, extra={"random_backbone_seed": 1})
    _, p1, _ = description_embeddings(HashBackbone(), texts, tmp_path)
    _, p2, reused = description_embeddings(HashBackbone(), ["a sad man"], tmp_path)
    assert p1 != p2 and not reused


def test_stale_cache_content_is_recomputed(tmp_path):
    texts = ["a happy man"]
    _, path, _ = description_embeddings(HashBackbone(), texts, tmp_path)
    stale = torch.load(path, weights_only=True)
    stale["texts"] = ["something else"]
    torch.save(stale, path)
    backbone = HashBackbone()
    _, _, reused = description_embeddings(backbone, texts, tmp_path)
    assert not reused and backbone.calls == 1


def test_no_texts_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no texts"):
        description_embeddings(HashBackbone(), [], tmp_path)


@pytest.mark.slow
def test_real_minilm_backbone_embeddings_are_cached(tmp_path):
    from talkclip.config.model import ModelConfig
    from talkclip.model.text_backbone import load_text_backbone

    backbone = load_text_backbone(ModelConfig())
    texts = ["A man speaks happily with raised cheeks.", "A woman talks angrily, brows lowered."]
    table, path, reused = description_embeddings(backbone, texts, tmp_path)
    assert table.shape == (2, backbone.dim) and not reused and "minilm" in path.name
    again, _, reused = description_embeddings(backbone, texts, tmp_path)
    assert reused and torch.equal(table, again)
