"""DVC stages `train` (T2SS training of the full model) and `train_ablation@{variant}` (both stages).

    python pipelines/train.py            -> models/train, metrics/train.json: stage 2, started from the
                                            `train_v2ss` stage's models/v2ss/checkpoints/stage1.pt
    python pipelines/train.py simanno    -> models/ablations/simanno, metrics/ablations/simanno.json:
                                            V2SS pretraining then T2SS training in one stage
"""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    ablation = sys.argv[1] if len(sys.argv) > 1 else None
    if ablation is None:
        args = ["--out", "models/train", "--metrics", "metrics/train.json",
                "--init-from", "models/v2ss/checkpoints/stage1.pt"]
    else:
        args = ["--out", f"models/ablations/{ablation}", "--metrics", f"metrics/ablations/{ablation}.json",
                "--ablation", ablation]
    sys.exit(main(["train", "--processed", "data/processed", "--annotated", "data/annotated",
                   "--sync", "models/sync/d_sync.pt", *args]))
