"""DVC stage `syncnet`: data/corpus + params `syncnet` -> models/syncnet/syncnet.pt, metrics/syncnet.json.

The evaluation SyncNet (syncnet_python's architecture) behind the Sync_conf / LSE-D columns, trained on
the corpus's training speakers because the official weights are not available offline.
"""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    sys.exit(main(["syncnet-train", "--corpus", "data/corpus", "--out", "models/syncnet/syncnet.pt",
                   "--metrics", "metrics/syncnet.json"]))
