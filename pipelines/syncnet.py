"""DVC stage `syncnet`: corpus + params `syncnet` -> the evaluation SyncNet (syncnet_python's architecture)
behind Sync_conf / LSE-D, trained on the corpus's training speakers because the official weights are not
available offline.

Paths and flags come from the stage's command line in dvc.yaml (where each path is written once).
"""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    sys.exit(main(["syncnet-train", *sys.argv[1:]]))
