"""Cantonese G2P into the v2 symbols: jyutping from ToJyutping, split as the v2 table does.

Each syllable becomes an onset and a toned rhyme, both prefixed `Y` so that they never
collide with Mandarin symbols: `keoi5` → `Yk Yeoi5`. The split takes the first entry of
`_ONSETS` that the syllable starts with, in this order, as the official front end does,
which is why some zero-onset syllables split oddly (`aa3` → `Yaa Ya3`): the official
models were trained on exactly that. Numbers are read as Mandarin numerals (the
characters are the same), and only Han characters and the v2 punctuation are kept.
"""

from __future__ import annotations

import functools
import re

from leanvoice.errors import TextError
from leanvoice.text.chinese import normalize_chinese
from leanvoice.text.symbols import PUNCTUATION

# Order matters: the first prefix that matches wins (longer rhymes sit before their
# prefixes, `ts` before `t`, `kw` before `k`, `ng` before `n`).
_ONSETS = (
    "aa aai aak aap aat aau ai au ap at ak a p b e ts t dz d kw k gw g f h l m ng n s y w "
    "c z j ong on ou oi ok o uk ung sp spl spn sil"
).split()
_SYLLABLE = re.compile(r"^([a-z]+[1-6]+ ?)+$")


@functools.cache
def _to_jyutping():
    try:
        import ToJyutping
    except ImportError:
        raise TextError("Cantonese needs ToJyutping (pip install ToJyutping)") from None
    return ToJyutping


def normalize_cantonese(text: str) -> str:
    return normalize_chinese(text)


def cantonese_to_phonemes(text: str) -> list[str]:
    """Normalised Cantonese → v2 phonemes."""
    phonemes: list[str] = []
    for word, reading in _to_jyutping().get_jyutping_list(text):
        if all(ch in PUNCTUATION for ch in word):
            phonemes += list(word)
            continue
        if not reading or not _SYLLABLE.match(reading):
            raise TextError(f"no Cantonese reading for {word!r} ({reading!r})")
        for syllable in reading.split():
            phonemes += _split_syllable(syllable)
    if not phonemes or all(p in PUNCTUATION for p in phonemes):
        raise TextError(f"no Cantonese characters in {text!r}")
    return phonemes


def _split_syllable(syllable: str) -> list[str]:
    tone = syllable[-1]
    base = syllable[:-1]
    for onset in _ONSETS:
        if base.startswith(onset):
            if base.startswith("nga"):
                onset = "ng"
            rhyme = base[len(onset) :] or onset[-1]
            return [f"Y{onset}", f"Y{rhyme}{tone}"]
    return []  # no onset matches: the official front end drops the syllable too
