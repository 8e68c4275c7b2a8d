"""`enc_p`: encodes quantized semantic features with the phonemes and the style vector
into the prior's mean and log-scale (VITS text encoder + MRTE cross-attention)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from leanvoice.config.sizes import SoVITSSize
from leanvoice.models.sovits.attention import AttentionEncoder, ConvAttention

MRTE_HEADS = 4


class MRTE(nn.Module):
    """Multi-reference timbre encoder: semantic frames attend to the phonemes, + style."""

    def __init__(self, channels: int, mrte_channels: int) -> None:
        super().__init__()
        self.cross_attention = ConvAttention(mrte_channels, mrte_channels, MRTE_HEADS)
        self.c_pre = nn.Conv1d(channels, mrte_channels, 1)
        self.text_pre = nn.Conv1d(channels, mrte_channels, 1)
        self.c_post = nn.Conv1d(mrte_channels, channels, 1)

    def forward(
        self,
        ssl: torch.Tensor,
        ssl_mask: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        style: torch.Tensor,
    ) -> torch.Tensor:
        allowed = text_mask.unsqueeze(2) * ssl_mask.unsqueeze(-1)  # (B, 1, T_ssl, T_text)
        ssl = self.c_pre(ssl * ssl_mask)
        text = self.text_pre(text * text_mask)
        x = self.cross_attention(ssl * ssl_mask, text * text_mask, allowed) + ssl + style
        return self.c_post(x * ssl_mask)


class TextEncoder(nn.Module):
    def __init__(self, size: SoVITSSize) -> None:
        super().__init__()
        hidden = size.hidden_channels
        layers = (size.filter_channels, size.n_heads)
        common = {"kernel_size": size.kernel_size, "dropout": size.dropout}
        self.out_channels = size.inter_channels
        self.ssl_proj = nn.Conv1d(size.ssl_dim, hidden, 1)
        self.encoder_ssl = AttentionEncoder(hidden, *layers, size.n_layers // 2, **common)
        self.encoder_text = AttentionEncoder(hidden, *layers, size.n_layers, **common)
        self.text_embedding = nn.Embedding(size_phonemes(), hidden)
        self.mrte = MRTE(hidden, size.mrte_width)  # the style vector is added inside
        self.encoder2 = AttentionEncoder(hidden, *layers, size.n_layers // 2, **common)
        self.proj = nn.Conv1d(hidden, size.inter_channels * 2, 1)

    def forward(
        self,
        features: torch.Tensor,  # (B, 768, T) quantized semantic features at 50 Hz
        feature_mask: torch.Tensor,  # (B, 1, T)
        phoneme_ids: torch.Tensor,  # (B, T_text)
        phoneme_mask: torch.Tensor,  # (B, 1, T_text)
        style: torch.Tensor,  # (B, mrte_width, 1)
        speed: float = 1.0,
        extra: torch.Tensor | None = None,  # (B, hidden, T) added conditioning (F0)
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(prior mean, prior log-scale, mask), each [B, inter, T']."""
        y = self.ssl_proj(features * feature_mask) * feature_mask
        if extra is not None:
            y = y + extra * feature_mask
        y = self.encoder_ssl(y, feature_mask)
        text = self.text_embedding(phoneme_ids).transpose(1, 2)  # (B, hidden, T_text)
        text = self.encoder_text(text * phoneme_mask, phoneme_mask)
        y = self.mrte(y, feature_mask, text, phoneme_mask, style)
        y = self.encoder2(y * feature_mask, feature_mask)
        mask = feature_mask
        if speed != 1.0:
            y = F.interpolate(y, size=int(y.shape[-1] / speed) + 1, mode="linear")
            mask = F.interpolate(mask, size=y.shape[-1], mode="nearest")
        stats = self.proj(y) * mask
        mean, log_scale = stats.split(self.out_channels, dim=1)
        return mean, log_scale, mask


def size_phonemes() -> int:
    from leanvoice.text.symbols import SYMBOLS

    return len(SYMBOLS)
