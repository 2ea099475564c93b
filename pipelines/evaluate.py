"""DVC stages `evaluate` (full model: Table 1) and `evaluate_ablation@{variant}` (text style, MEAD split: Table 2).

Sync_conf / LSE-D come from the `syncnet` stage's weights (models/syncnet/syncnet.pt).

    python pipelines/evaluate.py          -> models/eval, metrics/eval.json
    python pipelines/evaluate.py simanno  -> models/eval_ablations/simanno, metrics/eval_ablations/simanno.json
"""
import sys

from talkclip.cli import main

if __name__ == "__main__":
    ablation = sys.argv[1] if len(sys.argv) > 1 else None
    if ablation is None:
        args = ["--checkpoint", "models/train/checkpoints/final.pt", "--out", "models/eval",
                "--metrics", "metrics/eval.json"]
    else:
        args = ["--checkpoint", f"models/ablations/{ablation}/checkpoints/final.pt", "--text-only", "--ablation", ablation,
                "--out", f"models/eval_ablations/{ablation}", "--metrics", f"metrics/eval_ablations/{ablation}.json"]
    sys.exit(main(["selfdriven", "--processed", "data/processed", "--annotated", "data/annotated",
                   "--syncnet", "models/syncnet/syncnet.pt", *args]))
