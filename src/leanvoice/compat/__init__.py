"""The official GPT-SoVITS formats: key mapping, safe loading, export."""

from leanvoice.compat.cfm import (
    export_cfm_full,
    export_cfm_lora,
    load_official_cfm,
    load_official_cfm_lora,
)
from leanvoice.compat.keys import (
    gpt_from_official,
    gpt_to_official,
    sovits_from_official,
    sovits_to_official,
)
from leanvoice.compat.official import (
    export_gpt,
    export_sovits,
    load_official_gpt,
    load_official_sovits,
)
from leanvoice.compat.safe_load import read_checkpoint
from leanvoice.compat.vocoders import load_official_vocoder

__all__ = [
    "export_cfm_full",
    "export_cfm_lora",
    "export_gpt",
    "export_sovits",
    "gpt_from_official",
    "gpt_to_official",
    "load_official_cfm",
    "load_official_cfm_lora",
    "load_official_gpt",
    "load_official_sovits",
    "load_official_vocoder",
    "read_checkpoint",
    "sovits_from_official",
    "sovits_to_official",
]
