"""Stage 2: SoVITS, the VITS-style acoustic model with a HiFi-GAN decoder."""

from leanvoice.models.sovits.discriminator import MultiPeriodDiscriminator
from leanvoice.models.sovits.model import SoVITSGenerator

__all__ = ["MultiPeriodDiscriminator", "SoVITSGenerator"]
