"""DVC stage `preprocess`: data/corpus + params `preprocess` -> data/processed, metrics/preprocess.json."""
import sys

from talkclip.cli import main

# The guard matters: worker processes are spawned and re-import this file.
if __name__ == "__main__":
    sys.exit(main(["preprocess", "--corpus", "data/corpus", "--out", "data/processed", "--metrics", "metrics/preprocess.json"]))
