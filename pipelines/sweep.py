"""Sweep entry (not part of `dvc repro`: run `python pipelines/sweep.py` or `talkclip sweep`)."""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    sys.exit(main(["sweep", *sys.argv[1:]]))
