"""DVC stage `evaluate`: self-driven evaluation of models/train on the test splits -> models/eval, metrics/eval.json."""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    sys.exit(main(["selfdriven", "--checkpoint", "models/train/checkpoints/final.pt", "--processed", "data/processed",
                   "--annotated", "data/annotated", "--out", "models/eval", "--metrics", "metrics/eval.json"]))
