"""Text → phonemes of the official v2 symbol table: normalisation and G2P per language."""

from leanvoice.text.g2p import Phonemes, g2p, normalize_language

__all__ = ["Phonemes", "g2p", "normalize_language"]
