"""Configuration of the self-driven evaluation stage (``params.yaml`` section ``evaluate``)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .loader import require


@dataclass(frozen=True)
class EvaluateConfig:
    # Side of the rendered frames and of the evaluation crop (LMD is in pixels of it).
    image_size: int = 128
    # Out-of-domain description tables (text<TAB>emotion, one header line) scored beside the shipped
    # talkclip/data/ood_descriptions.tsv; each is reported as ood_accuracy_{file stem}. Paths are relative
    # to the working folder (the repository for `dvc repro`); list them as deps of the stage too.
    ood_lists: list[str] = field(default_factory=list)
    # torch threads of the evaluation process; 0 = $OMP_NUM_THREADS, else every usable core.
    threads: int = 0

    def __post_init__(self) -> None:
        require(self.image_size >= 32 and self.image_size % 2 == 0, "evaluate.image_size",
                "an even number of pixels >= 32", self.image_size)
        require(all(isinstance(p, str) and p.strip() for p in self.ood_lists), "evaluate.ood_lists",
                "a list of file paths", self.ood_lists)
        require(self.threads >= 0, "evaluate.threads", ">= 0 (0 = automatic)", self.threads)
