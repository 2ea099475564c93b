"""The whole ``params.yaml``: one typed section per pipeline concept."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .annotate import AnnotateConfig
from .corpus import CorpusConfig
from .evaluate import EvaluateConfig
from .loader import ConfigError, build, read_yaml
from .model import ModelConfig
from .preprocess import PreprocessConfig
from .sweep import SweepConfig
from .syncnet import SyncNetConfig
from .train import SyncPretrainConfig, TrainConfig


@dataclass(frozen=True)
class Params:
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    annotate: AnnotateConfig = field(default_factory=AnnotateConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sync: SyncPretrainConfig = field(default_factory=SyncPretrainConfig)
    syncnet: SyncNetConfig = field(default_factory=SyncNetConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)


def load_params(path: str | Path) -> Params:
    """Validate every section of a params file (unknown sections are errors too)."""
    try:
        return build(Params, read_yaml(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
