"""DVC stage `report`: models/eval -> reports/ (Table 1 as Markdown/LaTeX/CSV, PNG plots)."""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", "--eval", "models/eval", "--ablations", "models/eval_ablations", "--out", "reports"]))
