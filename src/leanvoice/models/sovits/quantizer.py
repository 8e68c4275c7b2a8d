"""Residual vector quantizer of SSL features: its codes are the semantic tokens.

One codebook of 1024 entries with EMA buffers (`inited`, `cluster_size`, `embed`,
`embed_avg`). An uninitialised codebook runs k-means on the first training batch. In
fine-tuning the quantizer is frozen (eval) and only looks codes up.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Codebook(nn.Module):
    def __init__(
        self,
        dim: int,
        size: int,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        kmeans_iters: int = 50,
        dead_code_threshold: float = 2.0,
    ) -> None:
        super().__init__()
        self.size, self.decay, self.epsilon = size, decay, epsilon
        self.kmeans_iters, self.dead_code_threshold = kmeans_iters, dead_code_threshold
        self.register_buffer("inited", torch.zeros(1))
        self.register_buffer("cluster_size", torch.zeros(size))
        self.register_buffer("embed", torch.zeros(size, dim))
        self.register_buffer("embed_avg", torch.zeros(size, dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, dim) → nearest code ids (N,)."""
        distance = (
            x.pow(2).sum(1, keepdim=True) - 2 * x @ self.embed.t() + self.embed.pow(2).sum(1)[None]
        )
        return distance.argmin(dim=-1)

    @torch.no_grad()
    def kmeans_init(self, x: torch.Tensor, clusters: int | None = None) -> None:
        """k-means the codebook on frames x (N, dim). `clusters` < size uses only the
        first `clusters` codes; the other rows repeat them, and an exact tie picks the
        first, so they are never chosen (a small code inventory for a small corpus)."""
        clusters = min(clusters or self.size, self.size)
        means = x[torch.randint(0, len(x), (clusters,), device=x.device)]
        for _ in range(self.kmeans_iters):
            ids = torch.cdist(x, means).argmin(-1)
            counts = torch.bincount(ids, minlength=clusters)
            sums = torch.zeros_like(means).index_add_(0, ids, x)
            means = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], means)
        index = torch.arange(self.size, device=x.device)
        rows = index % clusters
        self.embed.copy_(means[rows])
        self.embed_avg.copy_(means[rows])
        self.cluster_size.copy_(torch.where(rows == index, counts[rows], 0))
        self.inited.fill_(1)

    @torch.no_grad()
    def _ema_update(self, x: torch.Tensor, ids: torch.Tensor) -> None:
        onehot = F.one_hot(ids, self.size).type(x.dtype)
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(onehot.t() @ x, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.epsilon) / (total + self.size * self.epsilon) * total
        self.embed.copy_(self.embed_avg / smoothed[:, None])
        dead = self.cluster_size < self.dead_code_threshold
        if dead.any():
            picks = x[torch.randint(0, len(x), (int(dead.sum()),), device=x.device)]
            self.embed[dead] = picks

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.inited):
            self.kmeans_init(x.detach())
        ids = self.encode(x)
        if self.training:
            self._ema_update(x.detach(), ids)
        return F.embedding(ids, self.embed), ids


class _VQLayer(nn.Module):
    def __init__(self, dim: int, size: int) -> None:
        super().__init__()
        self._codebook = Codebook(dim, size)


class _LayerList(nn.Module):
    def __init__(self, dim: int, size: int, n_q: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_VQLayer(dim, size) for _ in range(n_q))


class ResidualVectorQuantizer(nn.Module):
    """Official key layout `vq.layers.N._codebook.*`."""

    def __init__(self, dim: int, size: int, n_q: int = 1) -> None:
        super().__init__()
        self.vq = _LayerList(dim, size, n_q)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, D, T] → (quantized [B, D, T], codes [n_q, B, T], commitment loss)."""
        b, d, t = x.shape
        residual = x.transpose(1, 2).reshape(-1, d)  # (B·T, D)
        quantized = torch.zeros_like(residual)
        codes, losses = [], []
        for layer in self.vq.layers:
            q, ids = layer._codebook(residual)
            if self.training:
                losses.append(F.mse_loss(q.detach(), residual))
                q = residual + (q - residual).detach()  # straight-through
            residual = residual - q
            quantized = quantized + q
            codes.append(ids.view(b, t))
        loss = torch.stack(losses).mean() if losses else x.new_zeros(())
        return quantized.view(b, t, d).transpose(1, 2), torch.stack(codes), loss

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [n_q, B, T] → [B, D, T]."""
        out = 0
        for layer, ids in zip(self.vq.layers, codes, strict=False):
            out = out + F.embedding(ids, layer._codebook.embed)
        return out.transpose(1, 2)
