"""DVC stages `train` (the full model) and `train_ablation@{variant}`: V2SS pretraining then T2SS training.

    python pipelines/train.py            -> models/train, metrics/train.json
    python pipelines/train.py simanno    -> models/ablations/simanno, metrics/ablations/simanno.json
"""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    ablation = sys.argv[1] if len(sys.argv) > 1 else None
    out, metrics = ("models/train", "metrics/train.json") if ablation is None else (
        f"models/ablations/{ablation}", f"metrics/ablations/{ablation}.json")
    sys.exit(main(["train", "--processed", "data/processed", "--annotated", "data/annotated",
                   "--sync", "models/sync/d_sync.pt", "--out", out, "--metrics", metrics,
                   *(["--ablation", ablation] if ablation else [])]))
