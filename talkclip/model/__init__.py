"""TalkCLIP networks and losses (see docs/MODEL_API.md for the contract).

Read in this order: windows -> content_encoder -> style_encoder -> text_backbone ->
text_style_encoder -> decoder -> talkclip_model -> discriminators -> losses.
The text backbone is imported lazily (it pulls in transformers): use
``from talkclip.model.text_backbone import load_text_backbone``.
"""
from .content_encoder import ContentEncoder
from .decoder import DynamicLinear, StyleDecoder
from .discriminators import SyncDiscriminator, TemporalDiscriminator
from .losses import cosine_style_loss, hinge_d_loss, hinge_g_loss, reconstruction_loss, ssim_1d, sync_loss
from .style_encoder import VideoStyleEncoder, crop_or_pad_style_clip
from .talkclip_model import TalkCLIP, parameter_counts
from .text_style_encoder import TextStyleEncoder
from .windows import phoneme_windows, sinusoidal_positions

__all__ = [
    "ContentEncoder",
    "DynamicLinear",
    "StyleDecoder",
    "SyncDiscriminator",
    "TalkCLIP",
    "TemporalDiscriminator",
    "TextStyleEncoder",
    "VideoStyleEncoder",
    "cosine_style_loss",
    "crop_or_pad_style_clip",
    "hinge_d_loss",
    "hinge_g_loss",
    "parameter_counts",
    "phoneme_windows",
    "reconstruction_loss",
    "sinusoidal_positions",
    "ssim_1d",
    "sync_loss",
]
