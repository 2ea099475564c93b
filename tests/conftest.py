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
