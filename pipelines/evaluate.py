"""DVC stage `evaluate`: the paper's self-driven evaluation of the trained model (Table 1, style and OOD accuracy).
Sync_conf / LSE-D come from the `syncnet` stage's weights.

Paths and flags come from the stage's command line in dvc.yaml (where each path is written once).
"""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    sys.exit(main(["selfdriven", *sys.argv[1:]]))
