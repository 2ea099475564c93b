import os
from pathlib import Path

import pytest

# Tests share two cores with each other: keep every library single-threaded.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Unit tests log nothing to MLflow unless a test turns it on for itself (tests/test_tracking.py).
os.environ.setdefault("TALKCLIP_MLFLOW", "0")

SHARED_SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"

# The suite runs on pytest-xdist workers, one test file per worker at a time (pyproject: -n auto
# --dist loadfile), so module fixtures are built once. Files that take minutes go first, longest first
# (durations from CI's --durations table, benchmarks/RESULTS.md): started last, the longest would end
# the run alone on one core while the others idle.
LONGEST_FIRST = (
    "test_pipeline_dvc.py",
    "test_metrics_syncnet_train.py",
    "test_training_style.py",
    "test_sweep.py",
    "test_real_path.py",
    "test_metrics_evaluator.py",
    "test_au_estimate.py",
    "test_metrics_networks.py",
)
# Each worker holds torch, the text backbone and its test's data (1-2 GB at the peak).
MAX_WORKERS = 8


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: one worker per usable core (the affinity mask, not the machine's count), at most
    MAX_WORKERS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_WORKERS))


def pytest_collection_modifyitems(config, items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep file order


@pytest.fixture(scope="session")
def styletalk_samples() -> Path:
    root = SHARED_SAMPLES / "styletalk" / "samples"
    if not root.is_dir():
        pytest.skip(f"StyleTalk samples not found at {root} (CI always has them)")
    return root


@pytest.fixture(scope="session")
def dreamtalk_samples() -> Path:
    """Real MEAD samples (speaker W009, 8 emotions: 25 fps Deep3DFaceRecon fits, silent 25 fps crops)."""
    root = SHARED_SAMPLES / "dreamtalk"
    if not (root / "style_clip" / "3DMM").is_dir():
        pytest.skip(f"DreamTalk samples not found at {root} (CI always has them)")
    return root


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """A corpus of two speakers (one held out), three emotions and one HDTF-format clip."""
    from talkclip.config.corpus import CorpusConfig
    from talkclip.corpus.generator import generate_corpus

    root = tmp_path_factory.mktemp("corpus") / "corpus"
    cfg = CorpusConfig(
        seed=3, n_speakers=2, n_test_speakers=1, clips_per_group=1, emotions=["happy", "neutral", "sad"],
        hdtf_speakers=1, hdtf_clips_per_speaker=1, hdtf_sentences_per_clip=2, workers=2,
    )
    generate_corpus(cfg, root, progress=False)
    return root
