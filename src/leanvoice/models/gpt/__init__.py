"""Stage 1: the text-to-semantic decoder."""

from leanvoice.models.gpt.model import SemanticGPT

__all__ = ["SemanticGPT"]
