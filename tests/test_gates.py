"""CI regression gates: thresholds file, comparison, profile check, and the `talkclip gate` command."""
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from talkclip.cli import main
from talkclip.config.loader import ConfigError
from talkclip.gates import check_gates, check_profile, load_thresholds

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, gates: dict, profile: str | None = None) -> Path:
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump({"profile": profile, "gates": gates} if profile else {"gates": gates}))
    return path


def _metrics(tmp_path: Path, name: str, values: dict) -> None:
    (tmp_path / "metrics").mkdir(exist_ok=True)
    (tmp_path / "metrics" / name).write_text(json.dumps(values))


GATES = {
    "m_lmd": {"file": "metrics/eval.json", "key": "TalkCLIP_(text_style)/MEAD/m_lmd", "better": "lower",
              "threshold": 2.0, "observed": [1.5, 1.6]},
    "alignment": {"file": "metrics/preprocess.json", "key": "frame_agreement_mean", "better": "higher",
                  "threshold": 0.8},
}


def test_pass_fail_and_margins(tmp_path):
    thresholds = load_thresholds(_write(tmp_path, GATES))
    _metrics(tmp_path, "eval.json", {"TalkCLIP_(text_style)/MEAD/m_lmd": 1.7})
    _metrics(tmp_path, "preprocess.json", {"frame_agreement_mean": 0.75})
    table = check_gates(thresholds, tmp_path).set_index("gate")
    assert table.loc["m_lmd", "status"] == "pass" and table.loc["m_lmd", "margin"] == pytest.approx(0.3)
    assert table.loc["alignment", "status"] == "FAIL" and table.loc["alignment", "margin"] == pytest.approx(-0.05)
    # Exactly on the threshold passes.
    _metrics(tmp_path, "preprocess.json", {"frame_agreement_mean": 0.8})
    assert (check_gates(thresholds, tmp_path)["status"] == "pass").all()


def test_missing_file_key_or_non_number_fails(tmp_path):
    thresholds = load_thresholds(_write(tmp_path, GATES))
    table = check_gates(thresholds, tmp_path).set_index("gate")
    assert (table["status"] == "MISSING").all() and "eval.json not found" in table.loc["m_lmd", "note"]
    _metrics(tmp_path, "eval.json", {"other": 1.0})
    _metrics(tmp_path, "preprocess.json", {"frame_agreement_mean": float("nan")})
    table = check_gates(thresholds, tmp_path).set_index("gate")
    assert "no key 'TalkCLIP_(text_style)/MEAD/m_lmd'" in table.loc["m_lmd", "note"]
    assert "not a finite number" in table.loc["alignment", "note"] and math.isnan(table.loc["alignment", "margin"])


@pytest.mark.parametrize("change, message", [
    ({"better": "up"}, "better must be one of"),
    ({"threshold": "high"}, "threshold must be a finite number"),
    ({"threshold": float("inf")}, "threshold must be a finite number"),
    ({"metric": "x"}, "unknown key"),
])
def test_bad_thresholds_files_name_the_gate_and_key(tmp_path, change, message):
    broken = {"m_lmd": {**GATES["m_lmd"], **change}}
    with pytest.raises(ConfigError, match=f"gate 'm_lmd'.*{message}"):
        load_thresholds(_write(tmp_path, broken))
    with pytest.raises(ConfigError, match="non-empty 'gates'"):
        load_thresholds(_write(tmp_path, {}))


def test_profile_check_lists_differences(tmp_path):
    profile = tmp_path / "ci.yaml"
    profile.write_text(yaml.safe_dump({"corpus": {"n_speakers": 3}, "train": {"lr": 0.002}}))
    params = {"corpus": {"n_speakers": 3, "seed": 0}, "train": {"lr": 0.002, "beta": 0.6}}
    assert check_profile(params, profile) == []
    params["corpus"]["n_speakers"] = 9
    assert check_profile(params, profile) == ["corpus.n_speakers = 9 (profile: 3)"]


def test_gate_command_exit_codes_and_table(tmp_path, capsys):
    profile = tmp_path / "profiles" / "ci.yaml"
    profile.parent.mkdir()
    profile.write_text(yaml.safe_dump({"train": {"lr": 0.002}}))
    thresholds = _write(tmp_path, GATES, profile="profiles/ci.yaml")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train": {"lr": 0.002}}))
    _metrics(tmp_path, "eval.json", {"TalkCLIP_(text_style)/MEAD/m_lmd": 1.7})
    _metrics(tmp_path, "preprocess.json", {"frame_agreement_mean": 0.9})
    args = ["gate", "--thresholds", str(thresholds), "--root", str(tmp_path), "--params", str(params)]
    assert main([*args, "--out", str(tmp_path / "gates.csv")]) == 0
    out = capsys.readouterr().out
    assert "all gates pass" in out and "m_lmd" in out and (tmp_path / "gates.csv").is_file()

    _metrics(tmp_path, "eval.json", {"TalkCLIP_(text_style)/MEAD/m_lmd": 2.5})  # a regression
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "1 of 2 gates FAILED" in out and "FAIL" in out

    params.write_text(yaml.safe_dump({"train": {"lr": 0.001}}))  # not the profile's run
    assert main(args) == 2
    assert "train.lr = 0.001 (profile: 0.002)" in capsys.readouterr().err
    assert main([*args, "--any-profile"]) == 1


def test_project_thresholds_file_is_valid_and_covers_the_key_metrics():
    thresholds = load_thresholds(ROOT / "evaluation" / "thresholds.yaml")
    assert thresholds.profile == "profiles/ci.yaml" and (ROOT / thresholds.profile).is_file()
    keys = " ".join(g.key for g in thresholds.gates)
    for metric in ("text_centroid_accuracy", "m_lmd", "f_lmd", "ssim", "sync_conf", "frame_agreement_mean",
                   "offset_accuracy", "style_accuracy_text", "style_accuracy_video", "ood_accuracy",
                   "style_offset_gain"):
        assert metric in keys, metric
    for gate in thresholds.gates:
        assert len(gate.observed) >= 3, f"{gate.name}: threshold not backed by measured runs"
        worst = max(gate.observed) if gate.better == "lower" else min(gate.observed)
        # Every measured run passes its own gate, with room to spare.
        assert (gate.threshold > worst) if gate.better == "lower" else (gate.threshold < worst), gate


def test_profile_command_prints_dvc_overrides_and_writes_params(tmp_path, capsys):
    from talkclip.config.params import load_params

    profile, params = str(ROOT / "profiles" / "ci.yaml"), str(ROOT / "params.yaml")
    assert main(["profile", profile, "--params", params]) == 0
    printed = capsys.readouterr().out
    assert "-S corpus.n_speakers=3" in printed and "-S syncnet.steps=400" in printed
    written = tmp_path / "params.yaml"
    assert main(["profile", profile, "--params", params, "--write", str(written)]) == 0
    merged = load_params(written)  # a complete, valid params file ...
    assert merged.corpus.n_speakers == 3 and merged.syncnet.steps == 400  # ... with the profile applied
    assert merged.model.d_model == load_params(params).model.d_model  # and everything else kept
    assert check_profile(yaml.safe_load(written.read_text()), profile) == []
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"train": {"no_such_key": 1}}))
    assert main(["profile", str(bad), "--params", params]) == 2
    assert "train.no_such_key" in capsys.readouterr().err


def test_derive_proposes_thresholds_from_runs_by_the_documented_rule(tmp_path, capsys):
    """Worst value -/+ max(2 sd, 5% of the mean), rounded outwards: computed by hand for two gates over
    three runs; a run missing a metric is named."""
    thresholds = _write(tmp_path, GATES)
    runs = []
    for i, (m_lmd, agreement) in enumerate([(1.0, 0.80), (1.2, 0.82), (1.1, 0.90)]):
        run = tmp_path / f"run{i}"
        run.mkdir()
        _metrics(run, "eval.json", {"TalkCLIP_(text_style)/MEAD/m_lmd": m_lmd})
        _metrics(run, "preprocess.json", {"frame_agreement_mean": agreement})
        runs.append(str(run))
    assert main(["gate", "--thresholds", str(thresholds), "--derive", *runs, "--out", str(tmp_path / "d.csv")]) == 0
    assert "proposed" in capsys.readouterr().out
    table = {row["gate"]: row for row in pd.read_csv(tmp_path / "d.csv").to_dict("records")}
    # m_lmd (lower): sd 0.1 -> margin max(0.2, 0.055) = 0.2; worst 1.2 + 0.2 = 1.4
    assert table["m_lmd"]["proposed"] == pytest.approx(1.4) and table["m_lmd"]["current"] == 2.0
    # alignment (higher): sd 0.05292 -> margin 0.10583; worst 0.80 - 0.10583 = 0.69417 -> floor 0.694
    assert table["alignment"]["proposed"] == pytest.approx(0.694)
    (Path(runs[1]) / "metrics" / "preprocess.json").write_text("{}")
    assert main(["gate", "--thresholds", str(thresholds), "--derive", *runs]) == 2
    assert re.search(r"run1: gate 'alignment'.*frame_agreement_mean", capsys.readouterr().err)
    assert main(["gate", "--thresholds", str(thresholds), "--derive", runs[0]]) == 2
    assert "at least two runs" in capsys.readouterr().err
