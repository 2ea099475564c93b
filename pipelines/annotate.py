"""DVC stage `annotate`: data/processed + params `annotate` -> data/annotated, metrics/annotate.json."""
import sys

from talkclip.cli import main

sys.exit(main(["annotate", "--processed", "data/processed", "--out", "data/annotated", "--metrics", "metrics/annotate.json"]))
