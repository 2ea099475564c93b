"""DVC stages `train_v2ss` and `train`, TalkCLIP training: `train_v2ss` runs stage 1 (V2SS pretraining, `--stop-after stage1`),
`train` stage 2 (T2SS) from its checkpoint (`--init-from`), so a p-schedule change reruns stage 2 only.

Paths and flags come from the stage's command line in dvc.yaml (where each path is written once).
With train.workers > 1 in params.yaml the stage trains data-parallel on Ray Train (README, "Training on
several workers / a Ray cluster").
"""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
