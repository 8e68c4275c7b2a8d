"""Conditional flow matching (official `CFM` in module/models.py): loss and Euler sampler.

Straight paths x_t = (1 − t)·x0 + t·x1 from noise x0 to the mel x1; the DiT predicts the
velocity x1 − x0 on the frames after a random-length prompt (the prompt frames are
given to it as `prompt` and zeroed in x_t). With probability 0.3 the target is the
shortcut/bootstrap one: the average of two detached estimator steps of size d (half of
the step 2d the main prediction is told), d = 2^−k, k uniform in 2..7; steps below
0.01 are shown to those two runs as 0. v5 (official `CFMV5`, a DiT without step
embedding) trains plain flow matching: no coin, no bootstrap, no step input; its
sampler's times are j / steps instead of an accumulated sum.

Where we differ: the random draws come from an optional `torch.Generator` (default:
the global RNG, in the official order t, x0, coin, k), and the coin is a torch draw
(the official uses Python's `random`) or forced with `bootstrap=`; `bootstrap_no_grad`
runs the two target estimates without autograd (they are detached in the official
code, so the gradient is the same, with less memory); the loss is one masked sum
instead of a loop over the batch (the same per-sample means, averaged).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from leanvoice.models.cfm.dit import DiT

BOOTSTRAP_PROBABILITY = 0.3  # official "gailv"
BOOTSTRAP_MIN_EXPONENT, BOOTSTRAP_MAX_EXPONENT = 2, 8  # d = 2^-k, k in [2, 8)
SMALLEST_SHOWN_STEP = 1e-2  # smaller bootstrap steps are shown to the target runs as 0


def random_uniform(
    shape, device, generator: torch.Generator | None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    if generator is None:
        return torch.rand(shape, device=device, dtype=dtype)
    return torch.rand(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def random_normal_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if generator is None:
        return torch.randn_like(x)
    noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return noise.to(x.device)


def frames_mask(starts: torch.Tensor, ends: torch.Tensor, frames: int) -> torch.Tensor:
    """(B,) starts, ends → (B, 1, frames) bool, True on [start, end)."""
    index = torch.arange(frames, device=starts.device)[None, :]
    return ((index >= starts[:, None]) & (index < ends[:, None]))[:, None]


class ConditionalFlowMatching(nn.Module):
    """Holds the DiT as `estimator` (official key prefix `cfm.estimator.`)."""

    def __init__(self, mel_bins: int, estimator: DiT, *, shortcut: bool = True) -> None:
        """`shortcut`: the DiT is told a step size and trains with the bootstrap target
        (v3/v4); False for v5, whose DiT has no step embedding."""
        super().__init__()
        self.mel_bins = mel_bins
        self.estimator = estimator
        self.shortcut = shortcut

    # -- training -------------------------------------------------------------------------
    def forward(
        self,
        mel: torch.Tensor,  # (B, mel, T) target x1, normalised to [-1, 1]
        lengths: torch.Tensor,  # (B,) real frames
        prompt_lengths: torch.Tensor,  # (B,) frames given as prompt (not in the loss)
        content: torch.Tensor,  # (B, text_dim, T)
        *,
        generator: torch.Generator | None = None,
        bootstrap: bool | None = None,
        bootstrap_no_grad: bool = False,
    ) -> dict[str, torch.Tensor]:
        """→ {"loss": mean over samples of each one's MSE on its non-prompt frames,
        "sample_losses": (B,), "target_frames": (B,), "bootstrapped": bool ()}.
        `bootstrap`: None draws the coin (p = 0.3); True/False forces the branch. A DiT
        without step embedding (v5) never bootstraps."""
        if not self.shortcut:
            if bootstrap:
                raise ValueError("a DiT without step embedding (v5) has no bootstrap target")
            bootstrap = False
        batch = mel.shape[0]
        t = random_uniform((batch,), mel.device, generator, mel.dtype)
        x0 = random_normal_like(mel, generator)
        velocity = mel - x0
        in_prompt = frames_mask(torch.zeros_like(prompt_lengths), prompt_lengths, mel.shape[2])
        x_t = (x0 + t[:, None, None] * velocity).masked_fill(in_prompt, 0.0)
        prompt = mel.masked_fill(~in_prompt, 0.0)
        step = torch.zeros_like(t) if self.shortcut else None
        if bootstrap is None:
            bootstrap = bool(random_uniform((), "cpu", generator) < BOOTSTRAP_PROBABILITY)
        if bootstrap:
            velocity, step = self._bootstrap_target(
                x_t, prompt, content, t, lengths, generator, bootstrap_no_grad
            )
        predicted = self.estimator(x_t, prompt, content, t, step, lengths)
        scored = frames_mask(prompt_lengths, lengths, mel.shape[2])  # (B, 1, T)
        # in fp32 under autocast, as the official's MSELoss (an autocast fp32 op)
        squared = (predicted.float() - velocity.float()).pow(2) * scored
        target_frames = scored.sum(dim=(1, 2))
        sample_losses = squared.sum(dim=(1, 2)) / (target_frames * self.mel_bins)
        return {
            "loss": sample_losses.mean(),
            "sample_losses": sample_losses.detach(),
            "target_frames": target_frames,
            "bootstrapped": torch.tensor(bootstrap),
        }

    def _bootstrap_target(
        self,
        x_t: torch.Tensor,
        prompt: torch.Tensor,
        content: torch.Tensor,
        t: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None,
        no_grad: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Two estimator steps of size d from x_t; → (their mean velocity, step 2d)."""
        if generator is None:
            exponent = torch.randint(
                BOOTSTRAP_MIN_EXPONENT, BOOTSTRAP_MAX_EXPONENT, t.shape, device=t.device
            )
        else:
            exponent = torch.randint(
                BOOTSTRAP_MIN_EXPONENT,
                BOOTSTRAP_MAX_EXPONENT,
                t.shape,
                generator=generator,
                device=generator.device,
            ).to(t.device)
        d = 1 / torch.pow(2, exponent)  # (B,) float
        shown = d.masked_fill(d < SMALLEST_SHOWN_STEP, 0.0)
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            first = self.estimator(x_t, prompt, content, t, shown, lengths).detach()
            midway = x_t + d[:, None, None] * first
            second = self.estimator(midway, prompt, content, t + d, shown, lengths).detach()
        return (first + second) / 2, 2 * d

    # -- inference ------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        content: torch.Tensor,  # (B, text_dim, T) for prompt + new frames
        lengths: torch.Tensor,  # (B,)
        prompt: torch.Tensor,  # (B, mel, T_prompt) normalised reference mel
        steps: int,
        *,
        temperature: float = 1.0,
        cfg_rate: float = 0.0,
        negative_keeps_content: bool = False,
        noise: torch.Tensor | None = None,  # (B, mel, T) x0, else drawn
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Euler steps of size 1/steps from noise → (B, mel, T), the prompt frames zero.
        `cfg_rate` > 0 adds classifier-free guidance against a run without the prompt
        mel and (unless `negative_keeps_content`, as v5) the content; the official WebUI
        uses 0 for v3/v4, v5dev 1.3."""
        batch, _, frames = content.shape
        if noise is None:
            shape = (batch, self.mel_bins, frames)
            if generator is None:
                noise = torch.randn(shape, device=content.device, dtype=content.dtype)
            else:
                noise = torch.randn(shape, generator=generator, device=generator.device)
        x = noise.to(device=content.device, dtype=content.dtype) * temperature
        prompt_frames = prompt.shape[-1]
        prompt_x = torch.zeros_like(x)
        prompt_x[..., :prompt_frames] = prompt[..., :prompt_frames]
        x[..., :prompt_frames] = 0
        step = 1 / steps
        step_sizes = None
        if self.shortcut:
            step_sizes = torch.full((batch,), step, device=x.device, dtype=x.dtype)
        embedded = self.estimator.embed_content(content)
        unconditioned = embedded
        if cfg_rate and not negative_keeps_content:
            unconditioned = self.estimator.embed_content(content, drop=True)
        t = 0.0  # v3/v4: accumulated in Python floats, as the official loop; v5: j / steps
        for j in range(steps):
            time = torch.full(
                (batch,), t if self.shortcut else j * step, device=x.device, dtype=x.dtype
            )
            velocity = self.estimator(
                x, prompt_x, content, time, step_sizes, lengths, content_embedding=embedded
            )
            if cfg_rate > 1e-5:
                negative = self.estimator(
                    x,
                    prompt_x,
                    content,
                    time,
                    step_sizes,
                    lengths,
                    drop_prompt=True,
                    content_embedding=unconditioned,
                )
                velocity = velocity + (velocity - negative) * cfg_rate
            x = x + step * velocity
            t = t + step
            x[:, :, :prompt_frames] = 0
        return x
