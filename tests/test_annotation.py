"""Tests of the TA-MEAD annotation: vocabulary tables, AU levels, sentences, SimAnno, whole manifests."""
from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from talkclip.annotation import (
    DISFA_AUS,
    MEAD_GROUPS,
    AnnotationError,
    VocabularyError,
    annotate,
    au_levels,
    default_vocabulary,
    describe_clip,
    intensity_levels,
    load_vocabulary,
    npz_au_source,
)
from talkclip.annotation.descriptions import CATEGORY_ADJECTIVES, indefinite_article
from talkclip.annotation.vocabulary import (
    AUEntry,
    AUPhrase,
    Vocabulary,
    data_file,
    load_au_intensity,
    load_au_lookup,
    load_emotion_labels,
)
from talkclip.config.annotate import AnnotateConfig
from talkclip.config.loader import ConfigError, build, to_dict

REPO = Path(__file__).resolve().parents[1]
VOCAB = default_vocabulary()
CONFIG = AnnotateConfig()


# ---------------------------------------------------------------------------------------------
# Sentence grammar: the paper's "[SUB] [EMOTION] and speaks with [AU], [AU] ..." and its variants.

def _alt(options) -> str:
    return "(?:" + "|".join(re.escape(o) for o in sorted(set(options), key=len, reverse=True)) + ")"


def _sentence_patterns(config: AnnotateConfig, gender: str, labels) -> dict[str, re.Pattern]:
    subject = _alt(config.subjects[gender])
    noun = _alt(config.attributive_nouns[gender])
    verb = _alt(config.emotion_verbs)
    label = f"(?P<label>{_alt(labels)})"
    phrase = (
        _alt(p.body_part for e in VOCAB.aus.values() for p in e.phrases) + " "
        + _alt(a for advs in VOCAB.adverbs.values() for a in advs) + " "
        + _alt(p.action for e in VOCAB.aus.values() for p in e.phrases)
    )
    aus = f"(?P<aus>{phrase}(?:, {phrase})*)"
    return {
        "both": re.compile(rf"{subject} {verb} {label} and speaks with {aus}\."),
        "both_attr": re.compile(rf"(?P<art>An?) {label} {noun} speaks with {aus}\."),
        "emotion": re.compile(rf"{subject} {verb} {label}\."),
        "emotion_attr": re.compile(rf"(?P<art>An?) {label} {noun}\."),
        "aus": re.compile(rf"{subject} speaks with {aus}\."),
    }


def _classify(sentence: str, patterns: dict[str, re.Pattern]) -> tuple[str, re.Match]:
    for kind, pattern in patterns.items():
        match = pattern.fullmatch(sentence)
        if match:
            return kind, match
    raise AssertionError(f"sentence does not follow the paper's format: {sentence!r}")


# (body part, action) -> AU and adverb -> level, to read AU phrases back.
PHRASE_TO_AU = {(p.body_part, p.action): e.au for e in VOCAB.aus.values() for p in e.phrases}
ADVERB_TO_LEVEL = {a: lv for lv, advs in VOCAB.adverbs.items() for a in advs}


def _parse_au_phrase(text: str) -> tuple[str, int]:
    for (body, action), au in PHRASE_TO_AU.items():
        for adverb, level in ADVERB_TO_LEVEL.items():
            if text == f"{body} {adverb} {action}":
                return au, level
    raise AssertionError(f"not an AU phrase: {text!r}")


def _random_clip(rng: np.random.Generator, i: int):
    emotion, level = MEAD_GROUPS[rng.integers(len(MEAD_GROUPS))]
    gender = "M" if rng.random() < 0.5 else "W"
    au_mean = np.where(rng.random(12) < 0.4, rng.uniform(0, 4, 12), rng.uniform(0, 0.4, 12))
    return f"{gender}{i:03d}_front_{emotion}_level{level}_{i:03d}", gender, emotion, level, au_mean


def test_full_sentences_follow_format_and_describe_the_clip() -> None:
    rng = np.random.default_rng(0)
    kinds_seen = set()
    for i in range(300):
        clip_id, gender, emotion, level, au_mean = _random_clip(rng, i)
        au_level = intensity_levels(au_mean, CONFIG.au_thresholds)
        patterns = _sentence_patterns(CONFIG, gender, VOCAB.labels(emotion, level))
        texts = describe_clip(clip_id, gender, emotion, level, au_mean, CONFIG, "full")
        assert len(texts) == CONFIG.descriptions_per_clip
        for text in texts:
            kind, match = _classify(text, patterns)
            kinds_seen.add(kind)
            if "art" in match.groupdict():
                assert match["art"] == indefinite_article(match["label"])
            if "aus" in match.groupdict():
                mentioned = [_parse_au_phrase(p) for p in match["aus"].split(", ")]
                aus = [au for au, _ in mentioned]
                assert 1 <= len(aus) <= CONFIG.max_aus and len(set(aus)) == len(aus), text
                for au, level_said in mentioned:  # only active AUs, at their own level
                    assert level_said == au_level[DISFA_AUS.index(au)] > 0, (text, au_mean)
                means = [au_mean[DISFA_AUS.index(au)] for au in aus]
                assert means == sorted(means, reverse=True), f"AUs not ordered by intensity: {text}"
                assert means[0] == au_mean.max(), f"strongest AU not mentioned: {text}"
            else:
                assert kind.startswith("emotion")
    assert kinds_seen == {"both", "both_attr", "emotion", "emotion_attr", "aus"}


def test_paper_example_sentence_is_produced() -> None:
    # A one-label, one-phrasing vocabulary and fixed subject/verb make the paper's example exact.
    vocab = Vocabulary(
        emotion_labels={("angry", 3): ("furious",)},
        aus={au: AUEntry(au, VOCAB.aus[au].facs_name, VOCAB.aus[au].phrases[:1]) for au in DISFA_AUS},
        adverbs={1: ("slightly",), 2: ("reasonably",), 3: ("extremely",)},
    )
    config = AnnotateConfig(subjects={"W": ("A woman",)}, attributive_nouns={"W": ("woman",)},
                            emotion_verbs=("is",), p_attributive=0.0, max_aus=2, descriptions_per_clip=40)
    au_mean = np.zeros(12)
    au_mean[DISFA_AUS.index("AU4")] = 3.1  # brows, level 3
    au_mean[DISFA_AUS.index("AU5")] = 0.8  # upper lids, level 1
    texts = set(describe_clip("W001_front_angry_level3_001", "W", "angry", 3, au_mean, config, vocabulary=vocab))
    # The strongest AU (brows) is always mentioned.
    allowed = {
        "A woman is furious and speaks with brows extremely lowered, upper lids slightly raised.",
        "A woman is furious and speaks with brows extremely lowered.",
        "A woman speaks with brows extremely lowered, upper lids slightly raised.",
        "A woman speaks with brows extremely lowered.",
        "A woman is furious.",
    }
    assert texts <= allowed
    assert {"A woman is furious and speaks with brows extremely lowered, upper lids slightly raised.",
            "A woman is furious."} <= texts


def test_clip_without_active_au_keeps_its_emotion_and_hdtf_text_is_reachable() -> None:
    texts = set()
    for i in range(150):
        gender = "MW"[i % 2]
        out = describe_clip(f"{gender}{i:03d}_front_neutral_level1_001", gender, "neutral", 1, np.full(12, 0.1), CONFIG)
        patterns = _sentence_patterns(CONFIG, gender, VOCAB.labels("neutral", 1))
        assert all(_classify(t, patterns)[0].startswith("emotion") for t in out)
        texts.update(out)
    assert "An expressionless man." in texts and "An expressionless woman." in texts


def test_descriptions_are_deterministic_and_use_a_stable_hash() -> None:
    args = ("M003_front_happy_level2_004", "M", "happy", 2, np.linspace(0, 3, 12))
    first = describe_clip(*args, CONFIG)
    assert describe_clip(*args, CONFIG) == first
    assert describe_clip(*args, AnnotateConfig(seed=1)) != first
    assert describe_clip("M003_front_happy_level2_005", *args[1:], CONFIG) != first
    # Another interpreter with another string-hash seed gives the same sentences (no hash()).
    code = (
        "import numpy as np; from talkclip.annotation import describe_clip; "
        "from talkclip.config.annotate import AnnotateConfig; "
        "print('\\n'.join(describe_clip('M003_front_happy_level2_004','M','happy',2,np.linspace(0,3,12),AnnotateConfig())))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert out.stdout.splitlines() == first


def test_drop_probabilities_are_honoured() -> None:
    # Unequal probabilities so that swapping them would be caught.
    config = AnnotateConfig(p_drop_emotion=0.1, p_drop_aus=0.3, descriptions_per_clip=10)
    rng = np.random.default_rng(1)
    counts = {"emotion_dropped": 0, "aus_dropped": 0, "both_kept": 0}
    n = 0
    for i in range(600):
        clip_id, gender, emotion, level, _ = _random_clip(rng, i)
        au_mean = rng.uniform(0.6, 4.0, 12)  # every AU active, so both parts are always available
        patterns = _sentence_patterns(config, gender, VOCAB.labels(emotion, level))
        for text in describe_clip(clip_id, gender, emotion, level, au_mean, config):
            kind = _classify(text, patterns)[0]
            counts["emotion_dropped" if kind == "aus" else "aus_dropped" if kind.startswith("emotion") else "both_kept"] += 1
            n += 1
    # Each description is an independent categorical draw, so each count is binomial. A 5-sigma
    # band has a false-alarm rate of ~6e-7 and still catches a swap (0.1 vs 0.3 is > 20 sigma apart).
    for key, p in (("emotion_dropped", 0.1), ("aus_dropped", 0.3), ("both_kept", 0.6)):
        sigma = math.sqrt(p * (1 - p) / n)
        assert abs(counts[key] / n - p) < 5 * sigma, (key, counts[key] / n, p, 5 * sigma)


def test_simanno_has_emotion_only() -> None:
    au_content_words = VOCAB.au_words() - {"the", "of"}
    label_words = {w for labels in VOCAB.emotion_labels.values() for label in labels for w in label.split()}
    assert not label_words & au_content_words  # otherwise the check below could not be trusted
    for i, (emotion, level) in enumerate(MEAD_GROUPS):
        gender = "MW"[i % 2]
        patterns = _sentence_patterns(CONFIG, gender, VOCAB.labels(emotion, level))
        texts = describe_clip(f"{gender}{i:03d}_front_{emotion}_level{level}_001", gender, emotion, level,
                              np.full(12, 3.0), CONFIG, "simanno")
        for text in texts:
            assert _classify(text, patterns)[0].startswith("emotion"), text
            assert "speaks with" not in text
            assert not set(text.lower().rstrip(".").split()) & au_content_words, text
        category = describe_clip(f"{gender}{i:03d}_x", gender, emotion, level, np.zeros(12),
                                 AnnotateConfig(simanno_labels="category"), "simanno")
        assert all(CATEGORY_ADJECTIVES[emotion] in t for t in category)


# ---------------------------------------------------------------------------------------------
# AU levels

def test_thresholds_to_levels_boundaries() -> None:
    thresholds = (0.5, 1.5, 2.5)
    values = np.array([0.0, 0.4999, 0.5, 1.4999, 1.5, 2.4999, 2.5, 5.0])
    assert intensity_levels(values, thresholds).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    frames = np.zeros((4, 12))
    frames[:, 0] = [0.0, 1.0, 0.0, 1.0]  # mean 0.5 exactly: level 1 (a threshold is reached)
    frames[:, 1] = [3.0, 3.0, 3.0, 0.0]  # mean 2.25: level 2
    frames[:, 2] = [0.4, 0.4, 0.4, 0.4]  # inactive
    mean, level = au_levels(frames, thresholds)
    assert mean.shape == (12,) and level.dtype == np.int64
    assert np.allclose(mean[:3], [0.5, 2.25, 0.4]) and level[:3].tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match="shape"):
        au_levels(np.zeros((5, 11)), thresholds)
    with pytest.raises(ValueError, match="shape"):
        au_levels(np.zeros((0, 12)), thresholds)
    bad = np.zeros((3, 12))
    bad[2, 4] = np.nan
    with pytest.raises(ValueError, match="NaN.*frame 2"):
        au_levels(bad, thresholds)
    with pytest.raises(ValueError, match="increasing"):
        intensity_levels(values, (1.5, 0.5, 2.5))


# ---------------------------------------------------------------------------------------------
# Config

def test_config_defaults_and_strict_validation() -> None:
    # A parameters file must spell out every key: start from the defaults written out in full.
    full = to_dict(AnnotateConfig())
    cfg = build(AnnotateConfig, {**full, "au_thresholds": [0.3, 1.0, 2.0], "subjects": {"M": ["A man"], "W": ["A woman"]},
                                 "attributive_nouns": {"M": ["man"], "W": ["woman"]}}, "annotate")
    assert cfg.au_thresholds == (0.3, 1.0, 2.0) and cfg.subjects["M"] == ("A man",)
    assert CONFIG.descriptions_per_clip == 10 and CONFIG.max_aus == 3
    cases = [
        ({"p_drop_emotion": 0.6, "p_drop_aus": 0.5}, "p_drop_emotion"),
        ({"p_drop_aus": 1.5}, "annotate.p_drop_aus"),
        ({"au_thresholds": [0.5, 0.5, 2.5]}, "annotate.au_thresholds"),
        ({"au_thresholds": [0.5, 1.5]}, "annotate.au_thresholds"),
        ({"max_aus": 0}, "annotate.max_aus"),
        ({"subjects": {"M": ["a man"]}, "attributive_nouns": {"M": ["man"]}}, "annotate.subjects.M"),
        ({"subjects": {"M": ["A man"]}}, "annotate.attributive_nouns"),
        ({"emotion_verbs": []}, "annotate.emotion_verbs"),
        ({"simanno_labels": "words"}, "annotate.simanno_labels"),
        ({"descriptions_per_clip": "10"}, "annotate.descriptions_per_clip"),
        ({"max_au": 3}, "annotate.max_au"),
    ]
    for data, key in cases:
        with pytest.raises(ConfigError, match=re.escape(key)):
            build(AnnotateConfig, {**full, **data}, "annotate")
    partial = dict(full)
    del partial["seed"]
    with pytest.raises(ConfigError, match="missing key annotate.seed"):
        build(AnnotateConfig, partial, "annotate")


# ---------------------------------------------------------------------------------------------
# Vocabulary tables

def test_packaged_tables_cover_every_group_with_disjoint_labels() -> None:
    # Read the raw TSV independently of the loader.
    table = pd.read_csv(REPO / "talkclip" / "data" / "emotion_labels.tsv", sep="\t", dtype={"level": int})
    sizes = table.groupby(["emotion", "level"]).size()
    assert sorted(sizes.index) == sorted(MEAD_GROUPS) and len(sizes) == 22
    assert (sizes >= 4).all(), sizes[sizes < 4]
    by_emotion = table.groupby("emotion")["label"].apply(set)
    for a in by_emotion.index:
        for b in by_emotion.index:
            if a < b:
                assert not by_emotion[a] & by_emotion[b], (a, b, by_emotion[a] & by_emotion[b])
    assert table["source"].notna().all()
    # The intensity grading follows Plutchik's tiers (mild -> level 1, intense -> level 3).
    level_of = {row.label: (row.emotion, row.level) for row in table.itertuples()}
    for label, group in [("serene", ("happy", 1)), ("ecstatic", ("happy", 3)), ("annoyed", ("angry", 1)),
                         ("enraged", ("angry", 3)), ("apprehensive", ("fear", 1)), ("terrified", ("fear", 3)),
                         ("pensive", ("sad", 1)), ("grief-stricken", ("sad", 3)), ("amazed", ("surprised", 3)),
                         ("expressionless", ("neutral", 1))]:
        assert level_of[label] == group
    assert list(VOCAB.aus) == list(DISFA_AUS)
    assert VOCAB.aus["AU2"].phrases[0] == AUPhrase("outer brow", "lifted")
    assert VOCAB.aus["AU26"].facs_name == "Jaw Drop"
    assert all(len(e.phrases) >= 3 for e in VOCAB.aus.values())
    assert VOCAB.adverbs[3][0] == "extremely" and "slightly" in VOCAB.adverbs[1]


def _write_modified(tmp_path: Path, name: str, edit) -> Path:
    lines = data_file(name).read_text(encoding="utf-8").splitlines()
    path = tmp_path / name
    path.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")
    return path


def test_bad_tables_name_file_line_and_column(tmp_path: Path) -> None:
    drop_source = lambda lines: ["\t".join(l.split("\t")[:3]) for l in lines]
    path = _write_modified(tmp_path, "emotion_labels.tsv", drop_source)
    with pytest.raises(VocabularyError, match=rf"{re.escape(str(path))}:1: missing column\(s\) 'source'"):
        load_emotion_labels(path)

    path = _write_modified(tmp_path, "emotion_labels.tsv", lambda ls: ls[:5] + ["joyous\t2\tgleeful\tx"] + ls[5:])
    with pytest.raises(VocabularyError, match=rf"{re.escape(str(path))}:6: column 'emotion': unknown emotion 'joyous'"):
        load_emotion_labels(path)

    path = _write_modified(tmp_path, "emotion_labels.tsv", lambda ls: ls + ["neutral\t2\tstill\tx"])
    with pytest.raises(VocabularyError, match=rf":{len(ls_count(path))}: column 'level'"):
        load_emotion_labels(path)

    # "furious" (angry) reused for happy: the error names both lines.
    furious_line = next(i for i, l in enumerate(data_file("emotion_labels.tsv").read_text().splitlines(), 1)
                        if "\tfurious\t" in l)
    path = _write_modified(tmp_path, "emotion_labels.tsv", lambda ls: ls + ["happy\t3\tfurious\tx"])
    with pytest.raises(VocabularyError, match=rf":{len(ls_count(path))}: column 'label': 'furious' is already used "
                                              rf"on line {furious_line}"):
        load_emotion_labels(path)

    path = _write_modified(tmp_path, "emotion_labels.tsv", lambda ls: [l for l in ls if not l.startswith("sad\t2\t")])
    with pytest.raises(VocabularyError, match=r"group sad level 2 has 0 label\(s\)"):
        load_emotion_labels(path)

    path = _write_modified(tmp_path, "emotion_labels.tsv", lambda ls: ls[:3] + ["angry\t1\tCross\tx"] + ls[3:])
    with pytest.raises(VocabularyError, match=r":4: column 'label': 'Cross'"):
        load_emotion_labels(path)

    path = _write_modified(tmp_path, "au_lookup.tsv", lambda ls: [l for l in ls if not l.startswith("AU17\t")])
    with pytest.raises(VocabularyError, match=r"no primary phrasing for AU17"):
        load_au_lookup(path)

    path = _write_modified(tmp_path, "au_lookup.tsv", lambda ls: ls + ["AU7\tLid Tightener\tprimary\tlids\ttightened\tx"])
    with pytest.raises(VocabularyError, match=rf":{len(ls_count(path))}: column 'au': unknown AU 'AU7'"):
        load_au_lookup(path)

    path = _write_modified(tmp_path, "au_lookup.tsv", lambda ls: ls + ["AU12\tLip Corner Puller\talternative\tbrows\tlowered\tx"])
    with pytest.raises(VocabularyError, match=rf":{len(ls_count(path))}: .*already used on line \d+ \(AU4\)"):
        load_au_lookup(path)

    path = _write_modified(tmp_path, "au_intensity.tsv", lambda ls: ls + ["4\thugely\tx", ])
    with pytest.raises(VocabularyError, match=rf":{len(ls_count(path))}: column 'level'"):
        load_au_intensity(path)

    path = _write_modified(tmp_path, "au_intensity.tsv", lambda ls: ls + ["1\tx"])
    with pytest.raises(VocabularyError, match=r"expected 3 tab-separated fields"):
        load_au_intensity(path)

    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        load_vocabulary(emotion_labels=tmp_path / "nope.tsv")


def ls_count(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_articles() -> None:
    assert [indefinite_article(w) for w in ("expressionless", "euphoric", "unimpressed", "furious", "angry", "hostile")] \
        == ["An", "A", "An", "A", "An", "A"]


# ---------------------------------------------------------------------------------------------
# Whole manifests

def _manifest(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for i in range(n):
        clip_id, gender, emotion, level, _ = _random_clip(rng, i)
        rows.append({"clip_id": clip_id, "gender": gender, "emotion": emotion, "level": level,
                     "path": f"clips/{clip_id}.npz"})
    return pd.DataFrame(rows)


def _au_frames(row: pd.Series) -> np.ndarray:
    rng = np.random.default_rng(len(row["clip_id"]) + int(row["clip_id"][1:4]))
    return rng.uniform(0, 3, size=(20, 12)).astype(np.float32)


def test_annotate_manifest(tmp_path: Path) -> None:
    manifest = _manifest(12)
    config = AnnotateConfig(descriptions_per_clip=4)
    descriptions, levels = annotate(manifest, _au_frames, config)
    assert list(descriptions.columns) == ["clip_id", "mode", "variant", "text"]
    assert len(descriptions) == 12 * 2 * 4
    assert set(descriptions["mode"]) == {"full", "simanno"} and set(descriptions["variant"]) == {0, 1, 2, 3}
    assert list(levels.columns) == ["clip_id", *[f"{a}_mean" for a in DISFA_AUS], *[f"{a}_level" for a in DISFA_AUS]]
    row = manifest.iloc[3]
    mean, level = au_levels(_au_frames(row), config.au_thresholds)
    got = levels.set_index("clip_id").loc[row["clip_id"]]
    assert np.allclose(got[[f"{a}_mean" for a in DISFA_AUS]].to_numpy(float), mean)
    assert got[[f"{a}_level" for a in DISFA_AUS]].tolist() == level.tolist()
    # The texts of a clip do not depend on the other clips or their order.
    reversed_descriptions, _ = annotate(manifest.iloc[::-1], _au_frames, config)
    key = ["clip_id", "mode", "variant"]
    pd.testing.assert_frame_equal(descriptions.sort_values(key).reset_index(drop=True),
                                  reversed_descriptions.sort_values(key).reset_index(drop=True))
    # The processed-dataset reader gives the same result.
    for _, r in manifest.iterrows():
        (tmp_path / r["path"]).parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp_path / r["path"], au=_au_frames(r))
    from_files, _ = annotate(manifest, npz_au_source(tmp_path), config)
    pd.testing.assert_frame_equal(from_files, descriptions)


def test_annotate_errors_name_the_clip() -> None:
    manifest = _manifest(3)
    bad = manifest.copy()
    bad.loc[1, "emotion"] = "bored"
    with pytest.raises(AnnotationError, match=re.escape(bad.loc[1, "clip_id"]) + ".*'bored'"):
        annotate(bad, _au_frames, CONFIG)
    bad = manifest.copy()
    bad.loc[2, "level"] = 4
    with pytest.raises(AnnotationError, match=re.escape(bad.loc[2, "clip_id"]) + ".*level 4"):
        annotate(bad, _au_frames, CONFIG)
    target = manifest.loc[1, "clip_id"]
    with pytest.raises(AnnotationError, match=re.escape(target) + r".*shape \(T >= 1, 12\), got \(20, 11\)"):
        annotate(manifest, lambda r: np.zeros((20, 11 if r["clip_id"] == target else 12)), CONFIG)

    def nan_source(r: pd.Series) -> np.ndarray:
        frames = np.ones((20, 12))
        if r["clip_id"] == target:
            frames[5, 3] = np.nan
        return frames

    with pytest.raises(AnnotationError, match=re.escape(target) + ".*NaN"):
        annotate(manifest, nan_source, CONFIG)
    bad = manifest.copy()
    bad.loc[0, "gender"] = "X"
    with pytest.raises(AnnotationError, match=re.escape(bad.loc[0, "clip_id"]) + ".*gender 'X'"):
        annotate(bad, _au_frames, CONFIG)
    with pytest.raises(AnnotationError, match="missing column.*gender"):
        annotate(manifest.drop(columns=["gender"]), _au_frames, CONFIG)
    with pytest.raises(AnnotationError, match=re.escape(manifest.loc[0, "clip_id"]) + ".*no 'au' array|not found"):
        annotate(manifest, npz_au_source("/nonexistent"), CONFIG)


def test_au_order_matches_corpus_facs_if_present() -> None:
    facs = pytest.importorskip("talkclip.corpus.facs", reason="corpus.facs not built yet")
    names = getattr(facs, "AU_NAMES", None)
    if names is None:
        pytest.skip("talkclip.corpus.facs has no AU_NAMES")
    normalise = lambda n: "AU" + str(int(re.sub(r"\D", "", str(n))))
    assert [normalise(n) for n in names] == list(DISFA_AUS)
