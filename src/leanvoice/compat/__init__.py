"""The official GPT-SoVITS formats: key mapping here; file loading and export next."""

from leanvoice.compat.keys import (
    gpt_from_official,
    gpt_to_official,
    sovits_from_official,
    sovits_to_official,
)

__all__ = ["gpt_from_official", "gpt_to_official", "sovits_from_official", "sovits_to_official"]
