"""Profiles: named sets of ``params.yaml`` overrides (``profiles/{name}.yaml``), applied with DVC's ``-S``.

A profile is not a second configuration system: it is a file of ``-S section.key=value`` overrides.
``talkclip profile ci`` prints them for ``dvc exp run --temp $(talkclip profile ci)``; ``merge``
applies them to a parsed params file (tests, scripts). Every overridden key must exist in the base.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from .loader import ConfigError, read_yaml


def load_profile(path: str | Path) -> dict[str, Any]:
    return read_yaml(path)


def flatten(overrides: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def merge(base: dict[str, Any], overrides: dict[str, Any], source: str = "profile") -> dict[str, Any]:
    """``base`` with ``overrides`` applied; an override of a key ``base`` lacks is an error."""
    merged = copy.deepcopy(base)
    for dotted, value in flatten(overrides).items():
        node = merged
        *parents, leaf = dotted.split(".")
        for part in parents:
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"{source}: {dotted} overrides a key that params.yaml does not have")
            node = node[part]
        if not isinstance(node, dict) or leaf not in node:
            raise ConfigError(f"{source}: {dotted} overrides a key that params.yaml does not have")
        node[leaf] = value
    return merged


def dvc_set_arguments(overrides: dict[str, Any]) -> list[str]:
    """``-S key=value`` pairs for ``dvc exp run`` (values in YAML/JSON flow syntax)."""
    args: list[str] = []
    for dotted, value in flatten(overrides).items():
        text = value if isinstance(value, str) else json.dumps(value)
        args += ["-S", f"{dotted}={text}"]
    return args


def apply_profile(params_path: str | Path, profile_path: str | Path) -> dict[str, Any]:
    return merge(read_yaml(params_path), load_profile(profile_path), str(profile_path))
