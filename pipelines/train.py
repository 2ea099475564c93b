"""DVC stage `train`: V2SS pretraining then T2SS training -> models/train, metrics/train.json."""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "--processed", "data/processed", "--annotated", "data/annotated",
                   "--sync", "models/sync/d_sync.pt", "--out", "models/train", "--metrics", "metrics/train.json"]))
