"""Metric regression gates: compare a pipeline run's metrics with the thresholds CI enforces.

A thresholds file (``evaluation/thresholds.yaml``) names the profile its thresholds are for and one
gate per key metric::

    profile: profiles/ci.yaml
    gates:
      m_lmd_text:
        file: metrics/eval.json              # a stage's metrics JSON, relative to the run's folder
        key: TalkCLIP_(text_style)/MEAD/m_lmd
        better: lower                        # lower | higher
        threshold: 1.9                       # fail above it (lower) / below it (higher)
        observed: [1.41, 1.44, 1.52]         # the measured runs the threshold was set from

`check_gates` reads each metric and marks it ``pass``, ``FAIL`` (on the wrong side of its threshold)
or ``MISSING`` (no such file or key, or not a finite number: a gate that cannot be checked fails too).
A metrics file that is not a JSON object (unparsable, a list, a number) is malformed input, not a
regression: :class:`MetricsFileError`. A gate's ``file`` is a path inside the run's folder: absolute
paths and ``..`` are refused when the thresholds are loaded, before anything is opened.
`check_profile` refuses to compare a run whose parameters are not the profile's: thresholds measured
on the CI profile say nothing about a run of another size.

`derive_thresholds` proposes thresholds from several runs of the profile (seeds, machines): the
worst observed value moved by a margin of max(2 x the runs' standard deviation, 5% of their mean),
rounded outwards to 3 decimals (`talkclip gate --derive RUN_DIR ...`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from talkclip.config.loader import ConfigError, read_yaml
from talkclip.config.profiles import flatten, load_profile

DIRECTIONS = ("lower", "higher")


class MetricsFileError(ValueError):
    """A stage's metrics file exists but is not a JSON object of metrics."""


@dataclass(frozen=True)
class Gate:
    name: str
    file: str
    key: str
    better: str
    threshold: float
    observed: tuple[float, ...] = ()


@dataclass(frozen=True)
class Thresholds:
    profile: str | None
    gates: tuple[Gate, ...]


def load_thresholds(path: str | Path) -> Thresholds:
    """Parse and validate a thresholds file; errors name the gate and the key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: thresholds file not found")
    raw = read_yaml(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("gates"), dict) or not raw["gates"]:
        raise ConfigError(f"{path}: expected a mapping with a non-empty 'gates' mapping")
    unknown = sorted(set(raw) - {"profile", "gates"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {unknown}; expected 'profile' and 'gates'")
    gates = []
    for name, spec in raw["gates"].items():
        where = f"{path}: gate {name!r}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a mapping with file, key, better, threshold")
        missing = sorted({"file", "key", "better", "threshold"} - set(spec))
        extra = sorted(set(spec) - {"file", "key", "better", "threshold", "observed"})
        if missing or extra:
            raise ConfigError(f"{where}: missing key(s) {missing}, unknown key(s) {extra}")
        file = spec["file"]
        if not isinstance(file, str) or not file or Path(file).is_absolute() or ".." in Path(file).parts:
            raise ConfigError(f"{where}: file must be a path inside the run's folder, like metrics/eval.json, "
                              f"got {file!r}")
        if spec["better"] not in DIRECTIONS:
            raise ConfigError(f"{where}: better must be one of {DIRECTIONS}, got {spec['better']!r}")
        threshold = spec["threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
            raise ConfigError(f"{where}: threshold must be a finite number, got {threshold!r}")
        observed = spec.get("observed") or []
        if not isinstance(observed, list) or not all(isinstance(v, (int, float)) for v in observed):
            raise ConfigError(f"{where}: observed must be a list of numbers, got {observed!r}")
        gates.append(Gate(str(name), str(spec["file"]), str(spec["key"]), spec["better"], float(threshold),
                          tuple(float(v) for v in observed)))
    profile = raw.get("profile")
    return Thresholds(profile=str(profile) if profile else None, gates=tuple(gates))


def check_profile(params: dict[str, Any], profile_path: str | Path) -> list[str]:
    """The keys where ``params`` (a parsed params file) differs from the profile's overrides, as
    ``"section.key = value (profile: value)"``; empty when the run used the profile."""
    differences = []
    for dotted, expected in flatten(load_profile(profile_path)).items():
        node: Any = params
        for part in dotted.split("."):
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
        if node is _MISSING or node != expected:
            shown = "missing" if node is _MISSING else repr(node)
            differences.append(f"{dotted} = {shown} (profile: {expected!r})")
    return differences


_MISSING = object()


def _read_metric(root: Path, gate: Gate, cache: dict[str, dict | str]) -> tuple[float | None, str]:
    if gate.file not in cache:
        path = root / gate.file
        try:
            parsed = json.loads(path.read_text())
        except FileNotFoundError:
            parsed = f"{path} not found"
        except (OSError, UnicodeDecodeError) as exc:
            raise MetricsFileError(f"{path}: metrics file cannot be read ({exc})") from None
        except json.JSONDecodeError as exc:
            raise MetricsFileError(f"{path}: metrics file is not valid JSON ({exc})") from None
        else:
            if not isinstance(parsed, dict):
                raise MetricsFileError(f"{path}: metrics file holds a JSON {type(parsed).__name__}, "
                                       "expected an object of metric names and values")
        cache[gate.file] = parsed
    data = cache[gate.file]
    if isinstance(data, str):
        return None, data
    if gate.key not in data:
        return None, f"{gate.file} has no key {gate.key!r}"
    value = data[gate.key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None, f"{gate.file}[{gate.key!r}] is {value!r}, not a finite number"
    return float(value), ""


def check_gates(thresholds: Thresholds, root: str | Path) -> pd.DataFrame:
    """One row per gate: value, threshold, margin (positive = on the good side), status, note."""
    root = Path(root)
    cache: dict[str, dict | str] = {}
    rows = []
    for gate in thresholds.gates:
        value, note = _read_metric(root, gate, cache)
        if value is None:
            status, margin = "MISSING", math.nan
        else:
            margin = gate.threshold - value if gate.better == "lower" else value - gate.threshold
            status = "pass" if margin >= 0 else "FAIL"
        rows.append({"gate": gate.name, "metric": f"{gate.file}:{gate.key}", "better": gate.better,
                     "value": value, "threshold": gate.threshold, "margin": margin, "status": status, "note": note})
    return pd.DataFrame(rows)


def derive_thresholds(thresholds: Thresholds, roots: list[str | Path], relative_margin: float = 0.05,
                      spread: float = 2.0) -> pd.DataFrame:
    """One row per gate of ``thresholds``: the values observed in each run folder of ``roots`` and the
    proposed threshold (worst value -/+ max(``spread`` x standard deviation, ``relative_margin`` x |mean|),
    rounded outwards to 3 decimals), beside the current one. Needs at least two runs; a run without a
    gate's metric is an error naming the run, file and key."""
    if len(roots) < 2:
        raise ValueError(f"deriving thresholds needs at least two runs (seeds, machines), got {len(roots)}")
    rows = []
    caches: dict[int, dict[str, dict | str]] = {i: {} for i in range(len(roots))}
    for gate in thresholds.gates:
        values = []
        for i, root in enumerate(roots):
            value, note = _read_metric(Path(root), gate, caches[i])
            if value is None:
                raise ValueError(f"run {root}: gate {gate.name!r}: {note}")
            values.append(value)
        observed = pd.Series(values, dtype=float)
        margin = max(spread * float(observed.std(ddof=1)), relative_margin * abs(float(observed.mean())))
        if gate.better == "higher":
            proposed = math.floor(round((observed.min() - margin) * 1000, 6)) / 1000
        else:
            proposed = math.ceil(round((observed.max() + margin) * 1000, 6)) / 1000
        rows.append({"gate": gate.name, "better": gate.better, "observed": [round(v, 4) for v in values],
                     "margin": round(margin, 4), "proposed": proposed, "current": gate.threshold})
    return pd.DataFrame(rows)


def format_report(table: pd.DataFrame) -> str:
    """The comparison table as fixed-width text, failures first-class visible."""
    shown = table.copy()
    for column in ("value", "threshold", "margin"):
        shown[column] = shown[column].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v))
                                          else f"{v:.4g}")
    failed = int((table["status"] != "pass").sum())
    verdict = "all gates pass" if failed == 0 else f"{failed} of {len(table)} gates FAILED"
    return shown.to_string(index=False) + f"\n\n{verdict}\n"
