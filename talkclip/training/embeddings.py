"""Frozen text-backbone embeddings of every description, computed once and cached on disk.

The backbone is frozen (paper sec. 4.1.1), so e_t of a description never changes during training:
embedding the few thousand distinct descriptions once replaces a transformer forward pass per
training step. The cache file name is keyed by the backbone name and a hash of the backbone's
identity and all texts, so a changed description set or backbone never reuses a stale table.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from talkclip.atomic import atomic_path

CACHE_FORMAT = "talkclip-text-embeddings-v1"


def backbone_identity(backbone) -> dict:
    """What determines a backbone's embeddings (hashed into the cache key)."""
    return {"name": str(backbone.name), "dim": int(backbone.dim), "max_tokens": int(backbone.max_tokens)}


def cache_key(backbone, texts: list[str], extra: dict | None = None) -> str:
    """``{backbone name}_{sha256 of identity + extra + texts, 16 hex}``.

    ``extra`` carries what the backbone object does not expose but changes its weights (e.g. the
    CLIP folder, the random backbone's seed).
    """
    payload = json.dumps({"backbone": backbone_identity(backbone), "extra": extra or {}, "texts": texts},
                         sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
    return f"{backbone.name}_{digest}"


def description_embeddings(
    backbone,
    texts: list[str],
    cache_dir: str | Path,
    *,
    extra: dict | None = None,
    chunk: int = 256,
) -> tuple[torch.Tensor, Path, bool]:
    """(N, dim) float32 embeddings of ``texts`` (row i = texts[i]), the cache file, and whether it was reused."""
    if not texts:
        raise ValueError("description_embeddings: no texts to embed")
    path = Path(cache_dir) / f"text_embeddings_{cache_key(backbone, texts, extra)}.pt"
    if path.is_file():
        cached = torch.load(path, map_location="cpu", weights_only=True)
        # The key is a hash: check the content too, so a collision or a hand-edited file cannot slip in.
        if cached.get("format") == CACHE_FORMAT and cached.get("texts") == texts:
            embeddings = cached["embeddings"]
            if embeddings.shape == (len(texts), backbone.dim):
                return embeddings, path, True
    parts = [backbone.embed(texts[i : i + chunk]) for i in range(0, len(texts), chunk)]
    embeddings = torch.cat(parts).to(torch.float32).contiguous()
    if embeddings.shape != (len(texts), backbone.dim):
        raise ValueError(
            f"{backbone.name} backbone returned embeddings of shape {tuple(embeddings.shape)}, "
            f"expected ({len(texts)}, {backbone.dim})"
        )
    with atomic_path(path) as tmp:
        torch.save({"format": CACHE_FORMAT, "backbone": backbone_identity(backbone), "extra": extra or {},
                    "texts": texts, "embeddings": embeddings}, tmp)
    return embeddings, path, False
