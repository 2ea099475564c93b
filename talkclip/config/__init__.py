"""Typed configuration built from ``params.yaml`` sections (see loader.py for the rules)."""
from .loader import ConfigError, build, load_section, to_dict

__all__ = ["ConfigError", "build", "load_section", "to_dict"]
