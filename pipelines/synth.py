"""DVC stage `corpus`: params `corpus` -> data/corpus, metrics/corpus.json."""
import sys

from talkclip.cli import main

sys.exit(main(["synth", "--out", "data/corpus", "--metrics", "metrics/corpus.json"]))
