"""WaveNet stacks (WN), the posterior encoder `enc_q` and the coupling flows `flow`."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class WaveNet(nn.Module):
    """Gated dilated convolutions conditioned on the style vector (VITS `WN`)."""

    def __init__(
        self,
        hidden: int,
        kernel_size: int,
        n_layers: int,
        gin_channels: int = 0,
        dilation_rate: int = 1,
    ) -> None:
        super().__init__()
        self.hidden = hidden
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        if gin_channels:
            self.cond_layer = weight_norm(nn.Conv1d(gin_channels, 2 * hidden * n_layers, 1))
        for i in range(n_layers):
            dilation = dilation_rate**i
            padding = (kernel_size * dilation - dilation) // 2
            self.in_layers.append(
                weight_norm(
                    nn.Conv1d(hidden, 2 * hidden, kernel_size, dilation=dilation, padding=padding)
                )
            )
            out = 2 * hidden if i < n_layers - 1 else hidden  # the last layer has no residual
            self.res_skip_layers.append(weight_norm(nn.Conv1d(hidden, out, 1)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, style: torch.Tensor | None = None):
        output = torch.zeros_like(x)
        cond = self.cond_layer(style) if style is not None else None
        last = len(self.in_layers) - 1
        for i, (in_layer, res_skip) in enumerate(
            zip(self.in_layers, self.res_skip_layers, strict=True)
        ):
            h = in_layer(x)
            if cond is not None:
                h = h + cond[:, i * 2 * self.hidden : (i + 1) * 2 * self.hidden]
            acts = torch.tanh(h[:, : self.hidden]) * torch.sigmoid(h[:, self.hidden :])
            res = res_skip(acts)
            if i < last:
                x = (x + res[:, : self.hidden]) * mask
                output = output + res[:, self.hidden :]
            else:
                output = output + res
        return output * mask


class PosteriorEncoder(nn.Module):
    """q(z | linear spectrogram): used in training only (dropped from exported weights)."""

    def __init__(
        self, in_channels: int, out_channels: int, hidden: int, n_layers: int, gin_channels: int
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.pre = nn.Conv1d(in_channels, hidden, 1)
        self.enc = WaveNet(hidden, 5, n_layers, gin_channels)
        self.proj = nn.Conv1d(hidden, out_channels * 2, 1)

    def forward(self, spec: torch.Tensor, mask: torch.Tensor, style: torch.Tensor):
        x = self.enc(self.pre(spec) * mask, mask, style.detach())  # official: style detached
        mean, log_scale = (self.proj(x) * mask).split(self.out_channels, dim=1)
        z = (mean + torch.randn_like(mean) * torch.exp(log_scale)) * mask
        return z, mean, log_scale


class CouplingLayer(nn.Module):
    """Mean-only affine coupling: the second half is shifted by a function of the first."""

    def __init__(self, channels: int, hidden: int, n_layers: int, gin_channels: int) -> None:
        super().__init__()
        self.half = channels // 2
        self.pre = nn.Conv1d(self.half, hidden, 1)
        self.enc = WaveNet(hidden, 5, n_layers, gin_channels)
        self.post = nn.Conv1d(hidden, self.half, 1)
        nn.init.zeros_(self.post.weight)
        nn.init.zeros_(self.post.bias)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, style: torch.Tensor | None, reverse: bool = False
    ) -> torch.Tensor:
        x0, x1 = x.split(self.half, dim=1)
        shift = self.post(self.enc(self.pre(x0) * mask, mask, style)) * mask
        x1 = (x1 - shift) * mask if reverse else shift + x1 * mask
        return torch.cat([x0, x1], dim=1)


class Flip(nn.Module):
    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, style: torch.Tensor | None, reverse: bool = False
    ) -> torch.Tensor:
        return torch.flip(x, [1])


class CouplingFlow(nn.Module):
    """`flows` alternates coupling layers and channel flips (official indices 0, 2, 4, 6).

    Mean-only couplings have log-determinant 0, so the KL needs no flow term.
    """

    def __init__(self, channels: int, hidden: int, n_flows: int, gin_channels: int) -> None:
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(CouplingLayer(channels, hidden, 4, gin_channels))
            self.flows.append(Flip())

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, style: torch.Tensor | None, reverse: bool = False
    ) -> torch.Tensor:
        for flow in reversed(self.flows) if reverse else self.flows:
            x = flow(x, mask, style, reverse=reverse)
        return x
