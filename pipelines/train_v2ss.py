"""DVC stage `train_v2ss`: stage 1 of TalkCLIP training (V2SS pretraining: the video style code alone
drives the decoder; L_cos already fits the adapter) -> models/v2ss/checkpoints/stage1.pt,
metrics/train_v2ss.json. The `train` stage (T2SS) continues from that checkpoint, so a change of a
stage-2-only setting (p schedule, cos_gradient) reruns stage 2 alone.
"""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "--processed", "data/processed", "--annotated", "data/annotated",
                   "--sync", "models/sync/d_sync.pt", "--out", "models/v2ss", "--metrics", "metrics/train_v2ss.json",
                   "--stop-after", "stage1"]))
