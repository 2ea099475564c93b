"""DVC stage `ablations`: every variant of ablations/ (Table 2) trained and evaluated; see talkclip/ablations.py.

Paths and flags come from the stage's command line in dvc.yaml (where each path is written once).
"""
import sys

from talkclip.cli import main

# The guard matters: worker processes are spawned and re-import this file.
if __name__ == "__main__":
    sys.exit(main(["ablations", *sys.argv[1:]]))
