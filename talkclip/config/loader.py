"""Strict conversion of plain mappings (parsed YAML) into typed, frozen dataclasses.

Why strict: a typo in ``params.yaml`` (``corpus.n_speaker``) or an override with the wrong type
(``-S train.beta=high``) must fail loudly, naming the key and the expected type, instead of
silently falling back to a default and producing a result nobody asked for.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing, unknown, or of the wrong type."""


def require(condition: bool, key: str, expected: str, value: object) -> None:
    """A config value check: ConfigError naming ``key``, what was expected and what was given."""
    if not condition:
        raise ConfigError(f"{key}: expected {expected}, got {value!r}")


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (list, tuple, dict, Union, types.UnionType):
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for section {tp.__name__}, got {value!r}")
        return build(tp, value, where)
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is list:
        (item_tp,) = get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list of {_type_name(item_tp)}, got {value!r}")
        return [_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        key_tp, val_tp = get_args(tp)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {_convert(k, key_tp, f"{where}.<key>"): _convert(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected bool (true/false), got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected int, got {value!r} ({type(value).__name__})")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected float, got {value!r} ({type(value).__name__})")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected str, got {value!r} ({type(value).__name__})")
        return value
    if tp is Any:
        return value
    raise ConfigError(f"{where}: unsupported config type {tp!r}")


def build(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; every field must be present, no extra keys allowed.

    Defaults of the dataclasses serve code that constructs configs directly (tests, notebooks);
    a parameters file must spell out every key, so that what ran is what the file says.
    ``__post_init__`` runs afterwards and may raise ConfigError for cross-field constraints.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    prefix = f"{where}." if where else ""
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(prefix + k for k in unknown)}; "
            f"known keys of {where or cls.__name__}: {', '.join(sorted(fields))}"
        )
    values = {}
    for name in fields:
        if name not in data:
            raise ConfigError(f"missing key {prefix}{name} (expected {_type_name(hints[name])})")
        values[name] = _convert(data[name], hints[name], prefix + name)
    return cls(**values)


def to_dict(obj: Any) -> Any:
    """The inverse of :func:`build`: a plain, YAML/JSON-serialisable structure."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameters file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at top level, got {type(data).__name__}")
    return data


def load_section(path: str | Path, section: str, cls: type[T]) -> T:
    """Read one top-level section of a params file into ``cls``."""
    data = read_yaml(path)
    if section not in data:
        raise ConfigError(f"{path}: missing section '{section}' (expected {cls.__name__})")
    try:
        return build(cls, data[section], section)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}{_elsewhere_hint(data, section, cls)}") from None


def _elsewhere_hint(data: Mapping[str, Any], section: str, cls: type) -> str:
    """Point a key set in the wrong section (`-S train.beta=0.4`) at the section that has it."""
    body = data[section] if isinstance(data[section], Mapping) else {}
    known = {f.name for f in dataclasses.fields(cls)}
    hints = [
        f"did you mean {other}.{key}?"
        for key in body
        if key not in known
        for other, values in data.items()
        if other != section and isinstance(values, Mapping) and key in values
    ]
    return f" ({'; '.join(hints)})" if hints else ""
