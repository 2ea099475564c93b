"""Ablations as data: one file per variant of the full model, ``ablations/{name}.yaml``.

    label: w/o CLIP                      # the row name in Table 2
    order: 4                             # position in Table 2 (then by name)
    tests: >-                            # one sentence: what the variant tests
      Whether CLIP's pretrained text knowledge matters: the same backbone with random weights.
    overrides:                           # params.yaml keys of the model and train sections
      model:
        text_backbone: random

A variant is the full model's configuration (params.yaml) with its overrides applied, validated
by the same typed config classes; every overridden key must exist. Adding a file adds a row to
Table 2: the pipeline's ``ablations`` stage, Table 2 and the MLflow runs are all driven by the
folder's files, and no code names a variant.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .loader import ConfigError, build, read_yaml, to_dict
from .model import ModelConfig
from .profiles import merge
from .train import TrainConfig

FILE_KEYS = ("label", "order", "tests", "overrides")
OVERRIDABLE_SECTIONS = ("model", "train")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Ablation:
    name: str  # the file's stem: folder and run names
    label: str
    order: int
    tests: str
    overrides: dict[str, dict[str, Any]]
    source: Path

    def apply(self, model_cfg: ModelConfig, train_cfg: TrainConfig) -> tuple[ModelConfig, TrainConfig]:
        """The variant's (model, train) configuration: the given full-model ones with the overrides."""
        base = {"model": to_dict(model_cfg), "train": to_dict(train_cfg)}
        merged = merge(base, self.overrides, str(self.source))
        try:
            return build(ModelConfig, merged["model"], "model"), build(TrainConfig, merged["train"], "train")
        except ConfigError as exc:
            raise ConfigError(f"{self.source}: {exc}") from None


def load_ablation(path: str | Path) -> Ablation:
    """Read and check one ablation file (keys, types, section names); see the module doc for the format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ablation file not found")
    name = path.stem
    if path.suffix != ".yaml" or not NAME_PATTERN.match(name):
        raise ConfigError(f"{path}: an ablation file is named {{name}}.yaml with a lower-case name of letters, "
                          f"digits and '_' starting with a letter")
    if name == "full":
        raise ConfigError(f"{path}: 'full' is the full model's own row; give the variant another name")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with keys {', '.join(FILE_KEYS)}, got {type(data).__name__}")
    unknown = sorted(set(data) - set(FILE_KEYS))
    missing = [k for k in ("label", "overrides") if k not in data]
    if unknown or missing:
        raise ConfigError(f"{path}: " + "; ".join(
            ([f"unknown key(s) {', '.join(unknown)}"] if unknown else [])
            + ([f"missing key(s) {', '.join(missing)}"] if missing else [])) + f" (keys: {', '.join(FILE_KEYS)})")
    label, order, tests, overrides = data["label"], data.get("order", 100), data.get("tests", ""), data["overrides"]
    if not isinstance(label, str) or not label.strip():
        raise ConfigError(f"{path}: label: expected a non-empty string, got {label!r}")
    if isinstance(order, bool) or not isinstance(order, int):
        raise ConfigError(f"{path}: order: expected an int, got {order!r}")
    if not isinstance(tests, str):
        raise ConfigError(f"{path}: tests: expected a string, got {tests!r}")
    if not isinstance(overrides, dict) or not overrides:
        raise ConfigError(f"{path}: overrides: expected a mapping of {' / '.join(OVERRIDABLE_SECTIONS)} keys")
    for section, values in overrides.items():
        if section not in OVERRIDABLE_SECTIONS:
            raise ConfigError(f"{path}: overrides.{section}: only the {' and '.join(OVERRIDABLE_SECTIONS)} sections "
                              f"define a variant")
        if not isinstance(values, dict) or not values:
            raise ConfigError(f"{path}: overrides.{section}: expected a mapping of keys to values, got {values!r}")
    return Ablation(name=name, label=label.strip(), order=order, tests=tests.strip(), overrides=overrides, source=path)


def load_ablations(folder: str | Path, model_cfg: ModelConfig, train_cfg: TrainConfig) -> list[Ablation]:
    """Every ``*.yaml`` of ``folder`` in Table 2 order, each checked against the given full-model config."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: ablations folder not found")
    ablations = [load_ablation(path) for path in sorted(folder.glob("*.yaml"))]
    labels: dict[str, str] = {}
    for ablation in ablations:
        ablation.apply(model_cfg, train_cfg)  # every override must make a valid configuration
        if ablation.label in labels:
            raise ConfigError(f"{ablation.source}: label {ablation.label!r} is already used by "
                              f"{labels[ablation.label]}")
        labels[ablation.label] = str(ablation.source)
    return sorted(ablations, key=lambda a: (a.order, a.name))
