"""How well can the frozen text backbone alone sort the out-of-domain prompts by emotion?

    PYTHONPATH=. .venv/bin/python benchmarks/probe_ood_ceiling.py [--annotated data/annotated] [--backbone minilm]

TalkCLIP's text path (T2SS) is the frozen backbone followed by a small trained adapter, fitted on the
TA-MEAD descriptions. Whatever the adapter learns, it sees an out-of-domain prompt only through the
backbone's embedding, so a classifier fitted on the backbone's embeddings of the training text is an
estimate of what the text path can reach on the OOD lists (issue 10's 0.60 target). No TalkCLIP model
is involved. Rows: which training text (the pipeline's full TA-MEAD descriptions, their SimAnno
emotion-only phrasing, the emotion words of `talkclip/data/emotion_labels.tsv` bare or in short
templates) x which classifier (nearest emotion centroid by cosine, logistic regression at three
strengths). Columns: accuracy on the shipped OOD list (used for choices) and on the unseen list
(never used for any choice). Chance is 0.125. Prints a Markdown table; writes nothing.

Needs the `annotate` stage's output (`dvc repro annotate`).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from _report import print_table
from sklearn.linear_model import LogisticRegression

from talkclip.config.model import ModelConfig
from talkclip.metrics.style import DATA_DIR, DEFAULT_OOD_PATH, load_ood_table
from talkclip.model.text_backbone import load_text_backbone

UNSEEN_OOD_PATH = DATA_DIR / "ood_descriptions_unseen.tsv"
LABEL_TEMPLATES = ("{}", "a person who is {}", "someone feeling {}", "a {} face", "the speaker looks {}")


class CentroidClassifier:
    """Nearest L2-normalised class mean by cosine similarity."""

    def fit(self, features: np.ndarray, labels: np.ndarray) -> CentroidClassifier:
        self.classes = np.array(sorted(set(labels)))
        centroids = np.stack([features[labels == c].mean(axis=0) for c in self.classes])
        self.centroids = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.classes[(features @ self.centroids.T).argmax(axis=1)]


def training_texts(annotated: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """Named training-text sets, each (texts, emotion per text)."""
    descriptions = pd.read_csv(annotated / "descriptions.csv")
    manifest = pd.read_csv(annotated / "manifest.csv")
    train_clips = manifest.loc[manifest["split"] == "train", ["clip_id", "emotion"]]
    descriptions = descriptions.merge(train_clips, on="clip_id")
    sets = {}
    for mode, name in (("full", "TA-MEAD descriptions (train split)"), ("simanno", "SimAnno emotion-only phrasing")):
        rows = descriptions[descriptions["mode"] == mode]
        sets[name] = (rows["text"].tolist(), rows["emotion"].to_numpy())
    labels = pd.read_csv(DATA_DIR / "emotion_labels.tsv", sep="\t")
    sets["emotion words, bare"] = (labels["label"].tolist(), labels["emotion"].to_numpy())
    templated = [(t.format(word), emotion) for word, emotion in zip(labels["label"], labels["emotion"])
                 for t in LABEL_TEMPLATES]
    sets["emotion words in 5 templates"] = ([t for t, _ in templated], np.array([e for _, e in templated]))
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotated", type=Path, default=Path("data/annotated"))
    parser.add_argument("--backbone", default="minilm", help="model.text_backbone (minilm, random, clip)")
    parser.add_argument("--clip-path", default=None, help="model.clip_path for --backbone clip")
    args = parser.parse_args()
    if not (args.annotated / "descriptions.csv").is_file():
        raise SystemExit(f"{args.annotated / 'descriptions.csv'} not found: run `dvc repro annotate` first")
    cfg = ModelConfig(text_backbone=args.backbone, **({"clip_path": args.clip_path} if args.clip_path else {}))
    backbone = load_text_backbone(cfg)

    def embed(texts: list[str]) -> np.ndarray:
        return backbone.embed(texts).numpy()

    lists = {"shipped OOD": load_ood_table(DEFAULT_OOD_PATH), "unseen OOD": load_ood_table(UNSEEN_OOD_PATH)}
    list_features = {name: embed(table["text"].tolist()) for name, table in lists.items()}
    classifiers = {"nearest centroid": CentroidClassifier}
    for strength in (0.1, 1.0, 10.0):
        classifiers[f"logistic regression C={strength:g}"] = (
            lambda c=strength: LogisticRegression(C=c, max_iter=5000))
    rows = []
    for set_name, (texts, emotions) in training_texts(args.annotated).items():
        features = embed(texts)
        for classifier_name, make in classifiers.items():
            classifier = make().fit(features, emotions)
            accuracies = [float((classifier.predict(list_features[name]) == table["emotion"].to_numpy()).mean())
                          for name, table in lists.items()]
            rows.append([set_name, len(texts), classifier_name, *accuracies])
    print_table(f"Text backbone {backbone.name}: emotion of the OOD prompts from its embeddings alone (chance 0.125)",
                ["training text", "texts", "classifier", *(f"{name} acc." for name in lists)], rows)


if __name__ == "__main__":
    main()
