"""DVC stage `corpus`: params `corpus` -> data/corpus, metrics/corpus.json."""
import sys

from talkclip.cli import main

# The guard matters: worker processes are spawned and re-import this file.
if __name__ == "__main__":
    sys.exit(main(["synth", "--out", "data/corpus", "--metrics", "metrics/corpus.json"]))
