"""What in the T2SS adapter's training decides the out-of-domain accuracy? Refit the adapter alone.

    PYTHONPATH=. .venv/bin/python benchmarks/probe_adapter_ood.py \
        [--checkpoint models/train/checkpoints/final.pt] [--processed data/processed] \
        [--annotated data/annotated] [--steps 1500] [--variants baseline,plain,wd0.1,...]

A trained TalkCLIP model's decoder and V2SS stay frozen; only the text-side adapter is re-initialised
and fitted by L_cos (1 - cos(s_t, s_v)) to the V2SS codes of the training clips from their TA-MEAD
descriptions, as stage 2's L_cos does, under one change per variant (weight decay, input noise, beta,
bottleneck width, training text, target). Each fitted adapter is then scored like the pipeline
scores the full model: held-out descriptions of the test clips by the nearest V2SS emotion centroid,
and three out-of-domain lists generated through the frozen decoder and judged by the style classifier:

- `dev`: benchmarks/data/ood_dev.tsv, 40 prompts written for this probe under the shipped lists' rule (no
  word of the annotation vocabulary): the list choices are made on;
- `shipped`: talkclip/data/ood_descriptions.tsv (the issue's target list);
- `unseen`: talkclip/data/ood_descriptions_unseen.tsv (never used for any choice).

Chance is 0.125 on each. `baseline` is the checkpoint's own adapter (trained in stage 2 with L_rec
through the decoder as well). Prints a Markdown table; writes nothing.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import copy
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _report import print_table

from talkclip.inference import load_model
from talkclip.metrics.style import (
    DATA_DIR,
    DEFAULT_OOD_PATH,
    annotation_vocabulary,
    load_ood_table,
    ood_vocabulary_violations,
    train_style_classifier,
)
from talkclip.model.text_backbone import load_text_backbone
from talkclip.model.text_style_encoder import TextStyleEncoder
from talkclip.selfdriven import score_ood
from talkclip.training.data import ClipStore, DescriptionTable
from talkclip.training.style_probe import text_centroid_accuracy, video_style_codes

HERE = Path(__file__).resolve().parent
OOD_LISTS = {"dev": HERE / "data" / "ood_dev.tsv", "shipped": DEFAULT_OOD_PATH,
             "unseen": DATA_DIR / "ood_descriptions_unseen.tsv"}

# name -> overrides of the fit (see fit_adapter's keywords)
VARIANTS: dict[str, dict] = {
    "plain": {},
    "wd0.01": {"weight_decay": 0.01},
    "wd0.1": {"weight_decay": 0.1},
    "wd1": {"weight_decay": 1.0},
    "noise0.02": {"noise": 0.02},
    "noise0.05": {"noise": 0.05},
    "noise0.08": {"noise": 0.08},
    "noise0.12": {"noise": 0.12},
    "noise0.2": {"noise": 0.2},
    "noise0.05_centroid": {"noise": 0.05, "target": "centroid"},
    "noise0.08_beta0.8": {"noise": 0.08, "beta": 0.8},
    "beta0.3": {"beta": 0.3},
    "beta0.8": {"beta": 0.8},
    "hidden16": {"hidden": 16},
    "hidden384": {"hidden": 384},
    "steps300": {"steps": 300},
    "centroid_target": {"target": "centroid"},
    "with_simanno": {"texts": "full+simanno"},
}


def fit_adapter(model, e_train: torch.Tensor, targets: torch.Tensor, *, steps: int, seed: int, lr: float = 1e-3,
                weight_decay: float = 0.0, noise: float = 0.0, beta: float | None = None, hidden: int | None = None,
                batch: int = 64):
    """A copy of ``model`` whose adapter is re-initialised and fitted by L_cos to ``targets``."""
    fitted = copy.deepcopy(model)
    old = fitted.text_style_encoder
    cfg = dataclasses.replace(model.cfg, beta=old.beta if beta is None else beta,
                              adapter_hidden=hidden or old.adapter[0].out_features)
    torch.manual_seed(seed)
    encoder = fitted.text_style_encoder = TextStyleEncoder(cfg, old.dim)
    optimiser = torch.optim.AdamW(encoder.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    encoder.train()
    for _ in range(steps):
        rows = torch.randint(len(e_train), (batch,), generator=generator)
        e_t = e_train[rows]
        if noise > 0:
            e_t = e_t + noise * torch.randn(e_t.shape, generator=generator)
        loss = (1 - F.cosine_similarity(encoder(e_t), targets[rows], dim=-1)).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    fitted.eval()
    return fitted, float(loss.detach())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("models/train/checkpoints/final.pt"))
    parser.add_argument("--processed", type=Path, default=Path("data/processed"))
    parser.add_argument("--annotated", type=Path, default=Path("data/annotated"))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", default="baseline," + ",".join(VARIANTS))
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    started = time.perf_counter()

    model, model_cfg = load_model(args.checkpoint)
    model.eval()
    backbone = load_text_backbone(model_cfg)
    train_store = ClipStore.load(args.processed, "train", 1)
    test_store = ClipStore.load(args.processed, "test", 1)
    descriptions = {mode: DescriptionTable.load(args.annotated, mode) for mode in ("full", "simanno")}
    embeddings = {mode: backbone.embed(table.texts) for mode, table in descriptions.items()}
    s_v = video_style_codes(model, train_store)
    emotions = np.array([c.emotion for c in train_store.clips])
    centroid_of = {e: F.normalize(s_v[torch.from_numpy(emotions == e)], dim=-1).mean(0) for e in set(emotions)}

    def training_pairs(texts: str, target: str) -> tuple[torch.Tensor, torch.Tensor]:
        e_rows, t_rows = [], []
        for mode in texts.split("+"):
            table = descriptions[mode]
            for k, clip in enumerate(train_store.clips):
                for index in table.by_clip.get(clip.clip_id, []):
                    e_rows.append(embeddings[mode][index])
                    t_rows.append(s_v[k] if target == "clip" else centroid_of[clip.emotion])
        return torch.stack(e_rows), torch.stack(t_rows)

    ood_tables = {name: load_ood_table(path) for name, path in OOD_LISTS.items()}
    # The dev list keeps the shipped lists' rule: no word of the annotation vocabulary (tests/test_metrics_style.py).
    violations = ood_vocabulary_violations(ood_tables["dev"], annotation_vocabulary())
    if violations:
        raise SystemExit(f"{OOD_LISTS['dev']}: uses annotation vocabulary: {violations[:5]}")
    speech = min(test_store.clips, key=lambda c: c.clip_id).phonemes  # the speech of every OOD generation
    classifier = train_style_classifier(args.processed, ("train",))

    rows = []
    for name in args.variants.split(","):
        for seed in ([0] if name == "baseline" else args.seeds):
            if name == "baseline":
                fitted, loss = model, float("nan")
            else:
                options = dict(VARIANTS[name])
                e_train, targets = training_pairs(options.pop("texts", "full"), options.pop("target", "clip"))
                options.setdefault("steps", args.steps)
                fitted, loss = fit_adapter(model, e_train, targets, seed=seed, **options)
            with torch.no_grad():
                centroid = text_centroid_accuracy(fitted, train_store, test_store, descriptions["full"],
                                                  embeddings["full"])
                row = {"variant": name, "seed": seed, "final L_cos": f"{loss:.3f}",
                       "in-domain centroid acc.": f"{centroid.accuracy:.3f}"}
                for list_name, table in ood_tables.items():
                    row[f"OOD {list_name}"] = f"{score_ood(fitted, backbone, classifier, speech, table).accuracy:.3f}"
            rows.append(row)
            print(row, flush=True)
    print_table(f"T2SS adapter refits on {args.checkpoint}, {args.steps} steps, "
                f"{time.perf_counter() - started:.0f} s", list(rows[0]), [list(r.values()) for r in rows])


if __name__ == "__main__":
    main()
