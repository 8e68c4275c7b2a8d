"""The DiT velocity estimator of the v3/v4 CFM (official `f5_tts` `DiT`), read in one sitting.

A pre-norm transformer whose every norm is modulated (adaLN-Zero) by the embedding of
the flow time t plus (v3/v4) that of the shortcut step size d; v5's DiT has no step
embedding (`step_embedding=False`: no `d_embed` keys, t alone). Its input per frame is the noisy
mel, the prompt mel (zeros outside the prompt) and the content features, projected to
`dim`. Keys are the official ones (`transformer_blocks.N.attn.to_q` …), so LoRA targets
`to_q`, `to_k`, `to_v`, `to_out.0` as the official trainer does.

Where we differ: the official `use_grad_ckpt` flag is gone (checkpointing is applied
from outside by block name); inputs and output are channels-first (B, C, T) as the
official callers pass them, without the caller-side transposes; the key-padding mask
is broadcast, not expanded to (B, heads, T, T).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from leanvoice.models.cfm.embeddings import (
    InputEmbedding,
    RotaryEmbedding,
    TextEmbedding,
    TimestepEmbedding,
    apply_rotary,
)

NORM_EPS = 1e-6


class Attention(nn.Module):
    """Self-attention over frames; padded keys masked, padded query rows zeroed."""

    def __init__(self, dim: int, heads: int, head_dim: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        inner = heads * head_dim
        self.to_q = nn.Linear(dim, inner)
        self.to_k = nn.Linear(dim, inner)
        self.to_v = nn.Linear(dim, inner)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim), nn.Dropout(dropout)])

    def forward(self, x: torch.Tensor, mask: torch.Tensor, rotary: torch.Tensor) -> torch.Tensor:
        """x (B, T, dim), mask (B, T) bool, rotary (T, head_dim) angles → (B, T, dim)."""
        batch, frames, _ = x.shape
        q = apply_rotary(self.to_q(x), rotary)
        k = apply_rotary(self.to_k(x), rotary)
        v = self.to_v(x)
        q, k, v = (t.view(batch, frames, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        # (B, heads, T, head_dim); keys at padded frames are never attended to
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        out = out.transpose(1, 2).reshape(batch, frames, -1).to(q.dtype)  # (B, T, inner)
        out = self.to_out[1](self.to_out[0](out))
        return out.masked_fill(~mask[..., None], 0.0)


class FeedForward(nn.Module):
    """Keys `ff.0.0` and `ff.2` (official nesting): Linear → GELU(tanh) → dropout → Linear."""

    def __init__(self, dim: int, mult: int, dropout: float) -> None:
        super().__init__()
        inner = dim * mult
        self.ff = nn.Sequential(
            nn.Sequential(nn.Linear(dim, inner), nn.GELU(approximate="tanh")),
            nn.Dropout(dropout),
            nn.Linear(inner, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff(x)


class AdaLayerNormZero(nn.Module):
    """The six modulation vectors of a block (shift/scale/gate for attention and MLP)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim * 6)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=NORM_EPS)

    def forward(self, x: torch.Tensor, condition: torch.Tensor):
        params = self.linear(F.silu(condition)).chunk(6, dim=1)  # six (B, dim)
        shift_attn, scale_attn, gate_attn, shift_mlp, scale_mlp, gate_mlp = params
        x = self.norm(x) * (1 + scale_attn[:, None]) + shift_attn[:, None]
        return x, gate_attn, shift_mlp, scale_mlp, gate_mlp


class AdaLayerNormZeroFinal(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim * 2)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=NORM_EPS)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        scale, shift = self.linear(F.silu(condition)).chunk(2, dim=1)  # official order
        return self.norm(x) * (1 + scale)[:, None, :] + shift[:, None, :]


class DiTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, ff_mult: int, dropout: float) -> None:
        super().__init__()
        self.attn_norm = AdaLayerNormZero(dim)
        self.attn = Attention(dim, heads, head_dim, dropout)
        self.ff_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=NORM_EPS)
        self.ff = FeedForward(dim, ff_mult, dropout)

    def forward(
        self, x: torch.Tensor, condition: torch.Tensor, mask: torch.Tensor, rotary: torch.Tensor
    ) -> torch.Tensor:
        """x (B, T, dim), condition (B, dim) time + step embedding, mask (B, T) bool."""
        normed, gate_attn, shift_mlp, scale_mlp, gate_mlp = self.attn_norm(x, condition)
        x = x + gate_attn[:, None] * self.attn(normed, mask, rotary)
        normed = self.ff_norm(x) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
        return x + gate_mlp[:, None] * self.ff(normed)


class DiT(nn.Module):
    """Official keys: `time_embed`, `d_embed` (v3/v4), `text_embed`, `input_embed`,
    `rotary_embed.inv_freq`, `transformer_blocks.N`, `norm_out`, `proj_out`."""

    def __init__(
        self,
        *,
        dim: int,
        depth: int,
        heads: int,
        head_dim: int,
        ff_mult: int,
        mel_dim: int,
        text_dim: int,
        conv_layers: int,
        dropout: float = 0.1,
        step_embedding: bool = True,
    ) -> None:
        super().__init__()
        self.time_embed = TimestepEmbedding(dim)
        # the shortcut step size d (0: plain flow); v5 has none
        self.d_embed = TimestepEmbedding(dim) if step_embedding else None
        self.text_embed = TextEmbedding(text_dim, conv_layers)
        self.input_embed = InputEmbedding(mel_dim, text_dim, dim)
        self.rotary_embed = RotaryEmbedding(head_dim)
        self.transformer_blocks = nn.ModuleList(
            DiTBlock(dim, heads, head_dim, ff_mult, dropout) for _ in range(depth)
        )
        self.norm_out = AdaLayerNormZeroFinal(dim)
        self.proj_out = nn.Linear(dim, mel_dim)

    def embed_content(self, content: torch.Tensor, drop: bool = False) -> torch.Tensor:
        """content (B, text_dim, T) → (B, T, text_dim); independent of t and d, so a
        sampler computes it once (the official `text_cache`)."""
        return self.text_embed(content.transpose(1, 2), drop=drop)

    def forward(
        self,
        x: torch.Tensor,  # (B, mel, T) the noisy mel x_t
        prompt: torch.Tensor,  # (B, mel, T) the prompt mel, zeros after the prompt
        content: torch.Tensor,  # (B, text_dim, T) mel-rate content features
        time: torch.Tensor,  # (B,) or () flow time t in [0, 1]
        step_size: torch.Tensor | None,  # (B,) shortcut step d (0 when not bootstrapping;
        # None for a DiT without step embedding)
        lengths: torch.Tensor,  # (B,) real frames
        *,
        drop_prompt: bool = False,
        drop_content: bool = False,
        content_embedding: torch.Tensor | None = None,  # from embed_content, to reuse
    ) -> torch.Tensor:
        """→ velocity (B, mel, T)."""
        batch, _, frames = x.shape
        mask = torch.arange(frames, device=x.device)[None, :] < lengths[:, None]  # (B, T)
        if time.ndim == 0:
            time = time.repeat(batch)
        condition = self.time_embed(time)  # (B, dim)
        if self.d_embed is not None:
            condition = condition + self.d_embed(step_size)
        if content_embedding is None:
            content_embedding = self.embed_content(content, drop=drop_content)
        h = self.input_embed(
            x.transpose(1, 2), prompt.transpose(1, 2), content_embedding, drop_prompt
        )  # (B, T, dim)
        rotary = self.rotary_embed(frames)
        for block in self.transformer_blocks:
            h = block(h, condition, mask, rotary)
        return self.proj_out(self.norm_out(h, condition)).transpose(1, 2)  # (B, mel, T)
