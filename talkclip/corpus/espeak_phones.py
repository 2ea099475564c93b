"""espeak-ng English phoneme mnemonics -> the 41-symbol CMU vocabulary of :mod:`talkclip.phonemes`.

espeak-ng reports one phoneme event per phoneme with its ASCII mnemonic (``espeakINITIALIZE_PHONEME_EVENTS``
without the IPA flag). The mnemonic is the phoneme-table name (``phsource/ph_english``, ``ph_english_us``
and the ``base1`` table of ``phsource/phonemes``) with two changes made by ``WritePhMnemonicWithStress``:
a stress mark from ``"==,,''"`` may precede a vowel (``'3:``, ``,aI``), and a variant suffix after ``/`` is
dropped (``l/2`` is reported as ``l``).

The target is what CMU's dictionary (and therefore pocketsphinx's forced aligner) would say for the same
sound in General American English:

* reduced vowels: espeak's ``@`` (schwa) and ``a#`` (the "a" of *about*) are CMU ``AH``; ``I2``/``I#`` stay
  ``IH`` (CMU writes unstressed ``IH0`` for *intend*, *wanted*); ``3`` (rhotic schwa, *butter*) is ``ER``;
* r-coloured vowels that espeak treats as one phoneme (``A@`` *car*, ``O@`` *four*, ``e@`` *care*, ``i@3``
  *near*, ``U@`` *tour*) are two CMU phones, vowel + ``R``; so are the triphthongs ``aI@``/``aI3``
  (*fire* = ``AY ER``) and ``aU@`` (*hour* = ``AW ER``);
* syllabic consonants are schwa + consonant, as CMU writes them: ``@L`` (*little*), ``n-`` (*button*),
  ``m-``, ``l-``;
* the en-us flap ``t#`` (*city*, *water*) and the glottal stop ``?`` (*button*) are ``T`` in CMU's
  dictionary; ``d#``/``z#``/``z/2`` are the voicing-assimilated suffixes (``-ed``, ``-s``) and keep
  their written voicing (espeak has already changed them to ``t``/``s`` where needed);
* pauses (``_``, ``_:``, ``_!``, ``_|``, ...) are ``SIL``;
* the linking [j] ``;`` that espeak inserts after a vowel before another vowel ("the old") and the
  lengthening mark ``:`` continue the previous phone (CMU has no phone for them).

Two-phone entries carry the fraction of the espeak phoneme's duration that the first phone takes. The
fractions were measured as the median split that pocketsphinx's forced alignment puts inside these
phonemes on synthesized speech (see ``docs`` of :mod:`talkclip.preprocess.alignment`).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..phonemes import PHONE_TO_ID


class UnknownEspeakPhonemeError(ValueError):
    """An espeak-ng phoneme mnemonic that the map does not know."""


@dataclass(frozen=True)
class CmuPhones:
    """CMU phones for one espeak phoneme: one phone, or two that split its duration at ``first_fraction``."""

    phones: tuple[str, ...]  # empty: no phone of its own, the sound continues the previous phone
    first_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= len(self.phones) <= 2:
            raise ValueError(f"CmuPhones: expected 1 or 2 phones, got {self.phones}")
        for p in self.phones:
            if p not in PHONE_TO_ID:
                raise ValueError(f"CmuPhones: {p!r} is not a vocabulary symbol")
        if len(self.phones) == 2 and not 0.0 < self.first_fraction < 1.0:
            raise ValueError(f"CmuPhones {self.phones}: first_fraction must be in (0, 1), got {self.first_fraction}")


def _one(phone: str) -> CmuPhones:
    return CmuPhones((phone,))


# espeak's linking [j] between vowels ("the old" = D I2 ; oU l d) and its lengthening mark are the
# off-glide / continuation of the vowel before them: CMU writes no phone for them ("the" = DH IY).
CONTINUES_PREVIOUS = CmuPhones(())


def _two(first: str, second: str, first_fraction: float) -> CmuPhones:
    return CmuPhones((first, second), first_fraction)


# Split fractions of the two-phone entries (first phone's share of the espeak phoneme's duration).
_R_COLOURED_VOWEL = 0.5  # A@, O@, e@, ... : vowel, then the r-colouring glide (measured medians 0.46-0.56)
_TRIPHTHONG = 0.45  # aI@ "fire", aU@ "hour": diphthong, then the schwa / ER part (measured 0.44)
_SYLLABIC = 0.35  # @L, n-, m-: a short schwa, then the consonant (measured median 0.34)
# espeak gives a dark [l] before a consonant ("walls", "old") no time of its own (or less than
# DARK_L_MAX_S before the next closure); it is the vowel's ending, and the L is given this share of the
# vowel's span.
DARK_L_SHARE = 0.4
DARK_L_MAX_S = 0.02

CMU_VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"})

ESPEAK_TO_CMU: dict[str, CmuPhones] = {
    # --- pauses and non-speech (phPAUSE in the base1 table) ---
    "_": _one("SIL"), "_:": _one("SIL"), "_::": _one("SIL"), "_!": _one("SIL"), "_|": _one("SIL"),
    "_;_": _one("SIL"), "_^_": _one("SIL"), "_X1": _one("SIL"), "||": _one("SIL"), "#X1": _one("SIL"),
    # --- stops and affricates ---
    "p": _one("P"), "b": _one("B"), "t": _one("T"), "t2": _one("T"), "t#": _one("T"), "t[": _one("T"),
    "d": _one("D"), "d#": _one("D"), "d[": _one("D"), "k": _one("K"), "g": _one("G"), "?": _one("T"),
    "tS": _one("CH"), "dZ": _one("JH"), "c": _one("K"), "q": _one("K"), "J": _one("JH"), "Q": _one("G"),
    # --- fricatives ---
    "f": _one("F"), "v": _one("V"), "T": _one("TH"), "D": _one("DH"), "s": _one("S"), "z": _one("Z"),
    "z#": _one("Z"), "z/2": _one("Z"), "S": _one("SH"), "Z": _one("ZH"), "h": _one("HH"), "x": _one("K"),
    "C": _one("HH"), "X": _one("HH"), "B": _one("V"), "w#": _one("W"),
    # --- nasals, liquids, glides ---
    "m": _one("M"), "n": _one("N"), "N": _one("NG"), "n^": _one("N"), "n.": _one("N"),
    "l": _one("L"), "l/": _one("L"), "l/2": _one("L"), "L": _one("L"), "l^": _one("L"), "l.": _one("L"),
    "r": _one("R"), "r/": _one("R"), "r-": _one("R"), "R": _one("R"), "R2": _one("R"), "R3": _one("R"),
    "r.": _one("R"), "w": _one("W"), "j": _one("Y"), "*": _one("T"), "**": _one("T"),
    ";": CONTINUES_PREVIOUS, ":": CONTINUES_PREVIOUS, "-": CONTINUES_PREVIOUS,
    # --- syllabic consonants: schwa + consonant, as CMU spells "little", "button" ---
    "@L": _two("AH", "L", _SYLLABIC), "l-": _two("AH", "L", _SYLLABIC), "n-": _two("AH", "N", _SYLLABIC),
    "m-": _two("AH", "M", _SYLLABIC), "N-": _two("AH", "NG", _SYLLABIC),
    # --- monophthongs ---
    "@": _one("AH"), "@2": _one("AH"), "@5": _one("AH"), "@#": _one("AH"), "@-": _one("AH"), "3": _one("ER"),
    "3:": _one("ER"), "a": _one("AE"), "a2": _one("AE"), "aa": _one("AE"), "a#": _one("AH"), "a#2": _one("AH"),
    "E": _one("EH"), "E#": _one("AH"), "E2": _one("EH"), "e#": _one("EH"), "I": _one("IH"), "I2": _one("IH"),
    "I#": _one("IH"), "I2#": _one("IH"), "i": _one("IY"), "i:": _one("IY"), "0": _one("AA"), "0#": _one("AH"),
    "02": _one("AH"), "O2": _one("AO"), "V": _one("AH"), "U": _one("UH"), "A:": _one("AA"), "A#": _one("AA"),
    "O:": _one("AO"), "O": _one("AO"), "u:": _one("UW"), "o:": _one("OW"), "e:": _one("EY"),
    "A~": _one("AA"), "O~": _one("AO"),
    # --- diphthongs ---
    "aU": _one("AW"), "oU": _one("OW"), "oU#": _one("OW"), "aI": _one("AY"), "eI": _one("EY"), "OI": _one("OY"),
    # --- r-coloured vowels and triphthongs (en-us: vowel + r) ---
    "A@": _two("AA", "R", _R_COLOURED_VOWEL), "O@": _two("AO", "R", _R_COLOURED_VOWEL),
    "o@": _two("AO", "R", _R_COLOURED_VOWEL), "e@": _two("EH", "R", _R_COLOURED_VOWEL),
    "i@": _two("IH", "R", _R_COLOURED_VOWEL), "i@3": _two("IH", "R", _R_COLOURED_VOWEL),
    "U@": _two("UH", "R", _R_COLOURED_VOWEL), "aI@": _two("AY", "ER", _TRIPHTHONG),
    "aI3": _two("AY", "ER", _TRIPHTHONG), "aU@": _two("AW", "ER", _TRIPHTHONG),
}

_STRESS_MARKS = "',="


def strip_stress(mnemonic: str) -> str:
    """Drop the stress marks espeak puts before a vowel (``'3:`` -> ``3:``, ``,aI`` -> ``aI``)."""
    return mnemonic.lstrip(_STRESS_MARKS)


def is_language_switch(mnemonic: str) -> bool:
    """espeak reports a switch of phoneme table (e.g. to spell a foreign word) as ``(fr)``: no sound."""
    return mnemonic.startswith("(") and mnemonic.endswith(")")


def espeak_to_cmu(mnemonic: str) -> CmuPhones:
    """CMU phone(s) for one espeak-ng mnemonic as it appears in a phoneme event.

    Raises UnknownEspeakPhonemeError naming the mnemonic when the map has no entry for it.
    """
    key = strip_stress(mnemonic.strip())
    try:
        return ESPEAK_TO_CMU[key]
    except KeyError:
        raise UnknownEspeakPhonemeError(
            f"espeak-ng phoneme mnemonic {mnemonic!r} (without stress {key!r}) has no CMU mapping in "
            f"talkclip.corpus.espeak_phones.ESPEAK_TO_CMU"
        ) from None


def is_pause(mnemonic: str) -> bool:
    """True for espeak's pause phonemes (``_``, ``_:``, ``_!``, ``||`` ...), which carry no articulation."""
    cmu = ESPEAK_TO_CMU.get(strip_stress(mnemonic.strip()))
    return cmu is not None and cmu.phones == ("SIL",)


def continues_previous(mnemonic: str) -> bool:
    """True for marks that extend the previous phone (``;`` linking [j], ``:`` lengthening)."""
    cmu = ESPEAK_TO_CMU.get(strip_stress(mnemonic.strip()))
    return cmu is not None and not cmu.phones
