"""Stage 2 of v3/v4: the flow-matching SoVITS (DiT + CFM) and the vocoders (v3: BigVGAN,
v4: MelVocoder)."""

from leanvoice.models.cfm.bigvgan import BigVGAN, BigVGANSize, bigvgan_size
from leanvoice.models.cfm.config import (
    CFMSize,
    VocoderSize,
    cfm_size,
    size_from_state_dict,
    vocoder_size,
    vocoder_size_from_state_dict,
)
from leanvoice.models.cfm.dit import DiT
from leanvoice.models.cfm.flow import ConditionalFlowMatching
from leanvoice.models.cfm.model import CFMSoVITS
from leanvoice.models.cfm.vocoder import MelVocoder

__all__ = [
    "BigVGAN",
    "BigVGANSize",
    "CFMSize",
    "CFMSoVITS",
    "ConditionalFlowMatching",
    "DiT",
    "MelVocoder",
    "VocoderSize",
    "bigvgan_size",
    "cfm_size",
    "size_from_state_dict",
    "vocoder_size",
    "vocoder_size_from_state_dict",
]
