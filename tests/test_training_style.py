"""End to end on a small generated corpus: the CI-profile model learns speaking style, not just the mean face.

Generator -> preprocess -> annotate -> D_sync -> both training stages with the real MiniLM backbone and the
CI profile (profiles/ci.yaml over params.yaml, read here so the test follows the profile; the learning
rates pinned to the measured setup's 2e-3 / 2e-4), then the issue's probes on the held-out (test) speaker:
- text style codes of held-out descriptions, classified by the nearest per-emotion centroid of the train
  clips' video style codes, beat chance (1/4) by a wide margin;
- the decoder output follows the video style code (style_probe.style_dependence).

THRESHOLDS_MEASURED below are the seeds 0 / 1 / 2 of this exact setup (train.seed = sync.seed = s); the bars
sit below the worst seed and, for the accuracy, far above chance plus sampling noise (120 texts: the
binomial 99th percentile at p = 0.25 is ~0.36).
"""
from pathlib import Path

import pytest

from talkclip.config.annotate import AnnotateConfig
from talkclip.config.corpus import CorpusConfig
from talkclip.config.loader import build
from talkclip.config.model import ModelConfig
from talkclip.config.preprocess import PreprocessConfig
from talkclip.config.train import SyncPretrainConfig, TrainConfig

pytestmark = pytest.mark.slow

from talkclip.config.profiles import apply_profile

PROFILES = Path(__file__).resolve().parents[1] / "profiles"
EMOTIONS = ["angry", "happy", "sad", "surprised"]
# Measured on this setup, seeds 0 / 1 / 2: text-centroid accuracy 0.54 / 0.72 / 0.56 (centred 0.65 / 0.80 /
# 0.66), style-dependence r 0.46 / 0.47 / 0.54, offset gain 0.026 / 0.29 / 0.34, D_sync held-out accuracy
# 0.80 / 0.77 / 0.77, loss_rec last/first interval 0.85 / 0.85 / 0.76 (stage 1) and 0.85 / 0.78 / 0.85
# (stage 2); 110-125 s per run on a loaded 2-core machine. Bars below the worst seed:
MIN_TEXT_ACCURACY = 0.45
MIN_STYLE_CORRELATION = 0.3
MIN_OFFSET_GAIN = 0.01  # the gain varies most across seeds (0.026 at seed 0); > 0.01 = the real direction, not noise


def ci_profile() -> tuple[ModelConfig, TrainConfig, SyncPretrainConfig]:
    """The CI profile's configs, on CPU, without intermediate checkpoints."""
    sections = apply_profile(PROFILES.parent / "params.yaml", PROFILES / "ci.yaml")
    # The learning rates of the measured setup above. The CI profile itself went back to the default
    # rates (1e-3 / 1e-4) for its 8-emotion pipeline, where 2e-3 collapsed one seed in three (profiles/ci.yaml).
    sections["train"].update(device="cpu", checkpoint_every=10_000, lr=2e-3, disc_lr=2e-4)
    sections["sync"].update(device="cpu")
    return (build(ModelConfig, sections["model"], "model"), build(TrainConfig, sections["train"], "train"),
            build(SyncPretrainConfig, sections["sync"], "sync"))


@pytest.fixture(scope="module")
def style_data(tmp_path_factory):
    from talkclip.annotation.stage import run_annotation
    from talkclip.corpus.generator import generate_corpus
    from talkclip.preprocess.stage import plan_corpus, run_preprocess

    root = tmp_path_factory.mktemp("style")
    corpus_cfg = CorpusConfig(seed=0, n_speakers=3, n_test_speakers=1, clips_per_group=1, emotions=EMOTIONS,
                              hdtf_speakers=0, hdtf_clips_per_speaker=0, workers=1)
    generate_corpus(corpus_cfg, root / "corpus", progress=False)
    pre_cfg = PreprocessConfig(workers=1)
    tasks, skips = plan_corpus(root / "corpus", pre_cfg)
    run_preprocess(tasks, root / "processed", pre_cfg, skips=skips, progress=False)
    run_annotation(root / "processed", root / "annotated", AnnotateConfig())
    return root


@pytest.fixture(scope="module")
def trained(style_data):
    from talkclip.model.text_backbone import load_text_backbone
    from talkclip.training.sync_pretrain import pretrain_sync
    from talkclip.training.trainer import train

    model_cfg, train_cfg, sync_cfg = ci_profile()
    sync = pretrain_sync(model_cfg, sync_cfg, style_data / "processed", style_data / "sync.pt")
    backbone = load_text_backbone(model_cfg)
    result = train(model_cfg, train_cfg, style_data / "processed", style_data / "annotated", style_data / "run",
                   sync.checkpoint, resume=False, backbone=backbone)
    return result, sync, backbone


def test_losses_fall_in_both_stages(trained):
    result, sync, _ = trained
    assert sync.heldout_accuracy > 0.6  # D_sync learned lip sync on the unseen speaker (chance 0.5)
    stage1 = [e for e in result.history if e["stage"] == "stage1"]
    stage2 = [e for e in result.history if e["stage"] == "stage2"]
    # Stage 1 learns the reconstruction. The first interval already averages log_every steps of learning;
    # a fall beyond that is real.
    assert stage1[-1]["loss_rec"] < 0.9 * stage1[0]["loss_rec"], (stage1[0]["loss_rec"], stage1[-1]["loss_rec"])
    # Stage 1 trains the video path only (trainer doc): no text side, no L_cos.
    assert all("loss_cos" not in e for e in stage1)
    # Stage 2 trains the T2SS adapter from scratch: L_cos falls as the text code closes in on the video code.
    # Its L_rec need not fall: p rises, so more and more iterations are driven by the (younger) text code.
    assert stage2[-1]["loss_cos"] < 0.9 * stage2[0]["loss_cos"], (stage2[0]["loss_cos"], stage2[-1]["loss_cos"])
    # ...but the text-driven reconstruction is not a collapse: within twice stage 1's final L_rec.
    assert stage2[-1]["loss_rec"] < 2.0 * stage1[-1]["loss_rec"], (stage1[-1]["loss_rec"], stage2[-1]["loss_rec"])


def _probe_inputs(trained, style_data):
    from talkclip.inference import load_model
    from talkclip.training.data import ClipStore, DescriptionTable
    from talkclip.training.embeddings import description_embeddings

    result, _, backbone = trained
    model, _ = load_model(result.checkpoint)
    descriptions = DescriptionTable.load(style_data / "annotated", "full")
    embeddings, _, _ = description_embeddings(backbone, descriptions.texts, style_data / "emb")
    train_store = ClipStore.load(style_data / "processed", "train", 1)
    test_store = ClipStore.load(style_data / "processed", "test", 1)
    return model, descriptions, embeddings, train_store, test_store


def test_decoder_output_follows_the_video_style(trained, style_data):
    from talkclip.training.style_probe import style_dependence

    model, _, _, _, test_store = _probe_inputs(trained, style_data)
    # Same phonemes, style clips of each emotion: generated emotion offsets point the real way.
    dependence = style_dependence(model, test_store)
    assert dependence.correlation > MIN_STYLE_CORRELATION, dependence
    assert dependence.offset_gain > MIN_OFFSET_GAIN, dependence


def test_held_out_text_codes_find_their_emotion(trained, style_data):
    from talkclip.training.style_probe import text_centroid_accuracy

    model, descriptions, embeddings, train_store, test_store = _probe_inputs(trained, style_data)
    accuracy = text_centroid_accuracy(model, train_store, test_store, descriptions, embeddings)
    assert accuracy.chance == pytest.approx(0.25) and accuracy.n_texts == 120
    assert accuracy.accuracy > MIN_TEXT_ACCURACY, accuracy
