"""TalkCLIP Lab: text-guided expressive talking-head generation, reproduced in the open."""

__version__ = "0.1.0"
