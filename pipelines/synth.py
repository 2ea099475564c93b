"""DVC stage `corpus`: params `corpus` -> the embedded corpus (MEAD/HDTF layout) and its metrics.

Paths and flags come from the stage's command line in dvc.yaml (where each path is written once).
"""
import sys

from talkclip.cli import main

# The guard matters: worker processes are spawned and re-import this file.
if __name__ == "__main__":
    sys.exit(main(["synth", *sys.argv[1:]]))
