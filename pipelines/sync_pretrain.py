"""DVC stage `sync_pretrain`: processed dataset + params `model`, `sync` -> the pretrained D_sync.

Paths and flags come from the stage's command line in dvc.yaml (where each path is written once).
"""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    sys.exit(main(["sync-pretrain", *sys.argv[1:]]))
