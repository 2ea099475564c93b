"""DVC stage `preprocess`: data/corpus + params `preprocess` -> data/processed, metrics/preprocess.json."""
import sys

from talkclip.cli import main

sys.exit(main(["preprocess", "--corpus", "data/corpus", "--out", "data/processed", "--metrics", "metrics/preprocess.json"]))
