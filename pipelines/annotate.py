"""DVC stage `annotate`: data/processed + params `annotate` -> data/annotated, metrics/annotate.json."""
import sys

from talkclip.cli import main

# The guard matters: worker processes are spawned and re-import this file.
if __name__ == "__main__":
    sys.exit(main(["annotate", "--processed", "data/processed", "--out", "data/annotated", "--metrics", "metrics/annotate.json"]))
