"""The 732 official v2 phoneme symbols (reference/symbols_v2.json), in id order."""

from __future__ import annotations

import json
from importlib import resources

from leanvoice.errors import TextError

SYMBOLS: tuple[str, ...] = tuple(
    json.loads((resources.files("leanvoice.text") / "symbols_v2.json").read_text("utf-8"))
)
SYMBOL_TO_ID: dict[str, int] = {symbol: index for index, symbol in enumerate(SYMBOLS)}
PAD = "_"
PUNCTUATION = ("!", "?", "…", ",", ".", "-")
# Marks as the official Japanese and Korean front ends map them onto the v2 set.
MARKS_TO_V2 = {
    "：": ",",
    "；": ",",
    "，": ",",
    "。": ".",
    "！": "!",
    "？": "?",
    "\n": ".",
    "·": ",",
    "、": ",",
    "...": "…",
}


def phonemes_to_ids(phonemes: list[str]) -> list[int]:
    try:
        return [SYMBOL_TO_ID[p] for p in phonemes]
    except KeyError as exc:
        raise TextError(f"phoneme {exc.args[0]!r} is not in the v2 symbol table") from None
