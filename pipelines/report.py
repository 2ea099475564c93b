"""DVC stage `report`: evaluation results -> reports/ (Tables 1 and 2 as Markdown/LaTeX/CSV, PNG plots).

Paths and flags come from the stage's command line in dvc.yaml (where each path is written once).
"""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
