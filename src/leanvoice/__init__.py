"""LeanVoice: train GPT-SoVITS voice models on the GPU you own."""

from leanvoice.errors import LeanVoiceError

__version__ = "0.1.0"
__all__ = ["LeanVoiceError", "__version__"]
