"""Building blocks of the GPT: embeddings with sinusoidal positions, attention, a layer.

Submodule and parameter names follow the official checkpoints so that a state dict
loads as it is (`word_embeddings`, `alpha`, `self_attn.in_proj_weight`, `linear1`, …).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.word_embeddings(ids)


class ScaledSinePositions(nn.Module):
    """x + alpha · sinusoid(position), then dropout; `alpha` is learned (official v2)."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.dim = dim
        self.alpha = nn.Parameter(torch.ones(1))
        self.dropout = nn.Dropout(dropout)

    def table(self, length: int, offset: int, device: torch.device) -> torch.Tensor:
        position = torch.arange(offset, offset + length, dtype=torch.float32, device=device)
        inv_freq = torch.exp(
            torch.arange(0, self.dim, 2, dtype=torch.float32, device=device)
            * -(math.log(10000.0) / self.dim)
        )
        angles = position[:, None] * inv_freq[None, :]  # (T, dim/2)
        # interleaved: even channels sin, odd channels cos
        return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)  # (T, dim)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        pe = self.table(x.shape[1], offset, x.device).to(x.dtype)
        return self.dropout(x + self.alpha * pe)


def materialised_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor, dropout: float
) -> torch.Tensor:
    """Attention as the official GPT-SoVITS code computes it: a float mask of −inf per
    (batch·head) row, the full score matrix, an explicit softmax and dropout on the
    probabilities, which all stay saved for backward. Kept for baselines that measure
    the official recipe itself (SDPA's fused CUDA kernels keep none of these)."""
    batch, heads, length, head_dim = q.shape
    keys = k.shape[2]
    refused = ~allowed.expand(batch, heads, length, keys).reshape(batch * heads, length, keys)
    float_mask = torch.zeros(refused.shape, dtype=q.dtype, device=q.device)
    float_mask.masked_fill_(refused, float("-inf"))
    scores = (q.reshape(batch * heads, length, head_dim) / head_dim**0.5) @ k.reshape(
        batch * heads, keys, head_dim
    ).transpose(1, 2)
    probabilities = F.dropout(torch.softmax(scores + float_mask, dim=-1), dropout, dropout > 0)
    out = probabilities @ v.reshape(batch * heads, keys, head_dim)
    return out.view(batch, heads, length, head_dim)


class SelfAttention(nn.MultiheadAttention):
    """Packed-QKV multi-head self-attention through `scaled_dot_product_attention`.

    A subclass of `nn.MultiheadAttention` so that its parameters keep the official names
    and peft's LoRA can wrap it; the forward never builds a float mask or keeps the
    attention probabilities, so fused kernels run on CUDA.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__(dim, num_heads, dropout=dropout, batch_first=True)
        self.materialise = False  # True: the official computation (benchmark baselines)

    def project_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, length, _ = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (B, T, 3·dim)
        qkv = qkv.view(batch, length, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, T, head_dim)
        return q, k, v

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor):
        """`allowed` is a boolean mask broadcastable to (B, heads, T_q, T_k); True = may attend."""
        dropout = self.dropout if self.training else 0.0
        if self.materialise:
            out = materialised_attention(q, k, v, allowed, dropout)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout)
        batch, _, length, _ = out.shape
        out = out.transpose(1, 2).reshape(batch, length, self.embed_dim)  # (B, T, dim)
        return self.out_proj(out)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        """(output, None): the `nn.MultiheadAttention` return shape, which peft expects."""
        q, k, v = self.project_qkv(x)
        return self.attend(q, k, v, allowed), None


class TransformerLayer(nn.Module):
    """Post-norm layer (official `norm_first=False`): x = LN(x + SA(x)); x = LN(x + FFN(x))."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = SelfAttention(dim, num_heads, dropout)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.dropout = nn.Dropout(dropout)  # inside the FFN
        self.dropout1 = nn.Dropout(dropout)  # after attention
        self.dropout2 = nn.Dropout(dropout)  # after the FFN

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(x)))))

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.dropout1(self.self_attn(x, allowed)[0]))
        return self.norm2(x + self.feed_forward(x))

    def forward_cached(
        self, x: torch.Tensor, allowed: torch.Tensor, cache: list[torch.Tensor] | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The same layer for incremental decoding: new positions attend to cached keys.
        Adapters wrapped around the attention (peft) act in its own forward, not here:
        decode such a model inside memory.lora.attention_adapters_merged."""
        attention = self.self_attn
        if hasattr(attention, "base_layer"):  # an adapter wrapper
            if not attention.merged:
                raise RuntimeError(
                    "the attention's adapters would be skipped: decode inside "
                    "memory.lora.attention_adapters_merged(model)"
                )
            attention = attention.base_layer
        q, k, v = attention.project_qkv(x)
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        x = self.norm1(x + self.dropout1(attention.attend(q, k, v, allowed)))
        return self.norm2(x + self.feed_forward(x)), [k, v]


class LayerStack(nn.Module):
    """Holds the layers as `layers.N` (official key prefix `h.layers.N`)."""

    def __init__(self, layers: list[TransformerLayer]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, allowed)
        return x
