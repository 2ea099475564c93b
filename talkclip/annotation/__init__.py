"""TA-MEAD: emotion-label table, AU lookup, clip AU levels, description sentences, SimAnno."""
from .au_levels import au_levels, intensity_levels
from .descriptions import MODES, AnnotationError, describe_clip
from .table import annotate, npz_au_source
from .vocabulary import (
    DISFA_AUS,
    MEAD_GROUPS,
    Vocabulary,
    VocabularyError,
    default_vocabulary,
    load_vocabulary,
)

__all__ = [
    "DISFA_AUS", "MEAD_GROUPS", "MODES", "AnnotationError", "Vocabulary", "VocabularyError", "annotate",
    "au_levels", "default_vocabulary", "describe_clip", "intensity_levels", "load_vocabulary", "npz_au_source",
]
