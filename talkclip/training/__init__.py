"""TalkCLIP training: data sampling, description embeddings, p schedule, checkpoints, D_sync
pretraining and the two-stage trainer (see docs/MODEL_API.md).

Import the pieces from their modules, e.g. ``from talkclip.training.trainer import train``.
"""
