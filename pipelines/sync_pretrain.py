"""DVC stage `sync_pretrain`: data/processed + params `model`, `sync` -> models/sync/d_sync.pt, metrics/sync.json."""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    sys.exit(main(["sync-pretrain", "--processed", "data/processed", "--out", "models/sync/d_sync.pt",
                   "--metrics", "metrics/sync.json"]))
