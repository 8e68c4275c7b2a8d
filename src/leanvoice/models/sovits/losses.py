"""The SoVITS training losses, each a small pure function (fp32)."""

from __future__ import annotations

import torch


def kl_divergence(
    z_p: torch.Tensor,
    logs_q: torch.Tensor,
    m_p: torch.Tensor,
    logs_p: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """KL(q ‖ p) per frame, averaged over real frames (VITS)."""
    z_p, logs_q, m_p, logs_p, mask = (t.float() for t in (z_p, logs_q, m_p, logs_p, mask))
    kl = logs_p - logs_q - 0.5 + 0.5 * (z_p - m_p) ** 2 * torch.exp(-2.0 * logs_p)
    return (kl * mask).sum() / mask.sum()


def feature_matching(
    features_real: list[list[torch.Tensor]], features_fake: list[list[torch.Tensor]]
) -> torch.Tensor:
    loss = 0.0
    for real_maps, fake_maps in zip(features_real, features_fake, strict=True):
        for real, fake in zip(real_maps, fake_maps, strict=True):
            loss = loss + (real.float().detach() - fake.float()).abs().mean()
    return loss * 2


def discriminator_loss(
    scores_real: list[torch.Tensor], scores_fake: list[torch.Tensor]
) -> torch.Tensor:
    """LSGAN: real → 1, fake → 0."""
    loss = 0.0
    for real, fake in zip(scores_real, scores_fake, strict=True):
        loss = loss + ((1 - real.float()) ** 2).mean() + (fake.float() ** 2).mean()
    return loss


def generator_adversarial_loss(scores_fake: list[torch.Tensor]) -> torch.Tensor:
    loss = 0.0
    for fake in scores_fake:
        loss = loss + ((1 - fake.float()) ** 2).mean()
    return loss
