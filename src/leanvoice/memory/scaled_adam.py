"""ScaledAdam, the optimizer of the official GPT (s1) recipe (from icefall; Povey et al.,
Zipformer, 2023), written from its description and the official code's maths so that the
official recipe can be reproduced exactly (`memory.optimizer=scaled_adam`).

Per tensor with more than one element:
- the update is Adam's normalised gradient scaled by the tensor's RMS (at least
  `param_min_rms`), so every tensor changes by about the same relative amount;
- the tensor's overall scale is learned too: every `size_update_period` steps the
  gradient with respect to a log-scale factor (sum of p·grad over those steps) takes an
  Adam-like step at `lr × scalar_lr_scale`, frozen below `param_min_rms` and pushed
  down above `param_max_rms`;
- both feed one momentum buffer `delta` (β1), which is added to the parameter.
Tensors of one element take a plain Adam step at `lr × scalar_lr_scale`, clamped to
±`scalar_max`. No bias correction of the momentum (a slower start, as in the original).

Gradient clipping (`clipping_scale`): the gradient norm of the whole group, each
tensor's gradient weighted by its RMS, is kept for the last `clipping_update_period`
steps; from then on a step whose norm exceeds `clipping_scale` × the median of that
window (refreshed once per window) is scaled down to it.

The official code stacks tensors of equal shape to launch fewer kernels; that changes
speed, not results, and is not done here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class ScaledAdam(torch.optim.Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        clipping_scale: float | None = 2.0,
        betas: tuple[float, float] = (0.9, 0.95),
        scalar_lr_scale: float = 0.1,
        eps: float = 1e-8,
        param_min_rms: float = 1e-5,
        param_max_rms: float = 3.0,
        scalar_max: float = 10.0,
        size_update_period: int = 4,
        clipping_update_period: int = 1000,
    ) -> None:
        defaults = {
            "lr": lr,
            "clipping_scale": clipping_scale,
            "betas": betas,
            "scalar_lr_scale": scalar_lr_scale,
            "eps": eps,
            "param_min_rms": param_min_rms,
            "param_max_rms": param_max_rms,
            "scalar_max": scalar_max,
            "size_update_period": size_update_period,
            "clipping_update_period": clipping_update_period,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            factor = self._clipping_factor(group, params, index)
            for p in params:
                state = self.state[p]
                if not state:
                    self._init_state(group, p, state)
                self._step_one(group, p, state, factor)
        return loss

    # -- state ---------------------------------------------------------------------------
    @staticmethod
    def _init_state(group: dict[str, Any], p: torch.Tensor, state: dict[str, Any]) -> None:
        state["step"] = 0
        state["delta"] = torch.zeros_like(p)
        state["exp_avg_sq"] = torch.zeros_like(p)
        if p.numel() > 1:
            state["param_rms"] = p.pow(2).mean().sqrt().reshape(1)
            state["scale_exp_avg_sq"] = torch.zeros(1, device=p.device, dtype=p.dtype)
            state["scale_grads"] = torch.zeros(
                group["size_update_period"], device=p.device, dtype=p.dtype
            )

    # -- clipping ------------------------------------------------------------------------
    def _clipping_factor(
        self, group: dict[str, Any], params: list[torch.Tensor], index: int
    ) -> float:
        """≤ 1: how much this step's gradients are scaled down (1 = not clipped)."""
        first = self.state[params[0]]
        if group["clipping_scale"] is None or not first or first["step"] == 0:
            return 1.0
        squares = torch.zeros((), device=params[0].device)
        for p in params:
            weight = self.state[p].get("param_rms")
            grad = p.grad if weight is None else p.grad * weight
            squares += grad.float().pow(2).sum()
        norm = float(squares.sqrt())
        period, step = group["clipping_update_period"], first["step"]
        if "model_norms" not in first:
            first["model_norms"] = torch.zeros(period)
        first["model_norms"][step % period] = norm
        if step % period == 0:  # a full window: its median sets the threshold
            median = float(first["model_norms"].sort().values[period // 2])
            first["model_norm_threshold"] = group["clipping_scale"] * median
        if step < period:
            return 1.0  # no median yet
        return min(1.0, first["model_norm_threshold"] / (norm + 1e-20))

    # -- one tensor ----------------------------------------------------------------------
    def _step_one(
        self, group: dict[str, Any], p: torch.Tensor, state: dict[str, Any], factor: float
    ) -> None:
        grad = p.grad if factor == 1.0 else p.grad * factor
        beta1, _ = group["betas"]
        step = state["step"]
        state["delta"].mul_(beta1)
        if p.numel() > 1:
            period = group["size_update_period"]
            state["scale_grads"][step % period] = (p * grad).sum()
            if step % period == period - 1:
                state["param_rms"].copy_(p.pow(2).mean().sqrt())
                if step > 0:
                    self._scale_update(group, p, state)
            self._tensor_update(group, p, grad, state)
        else:
            self._scalar_update(group, p, grad, state)
        state["step"] = step + 1

    @staticmethod
    def _scale_update(group: dict[str, Any], p: torch.Tensor, state: dict[str, Any]) -> None:
        """Learn the tensor's overall scale (as if p = underlying × exp(log_scale))."""
        beta1, beta2 = group["betas"]
        period = group["size_update_period"]
        size_lr = group["lr"] * group["scalar_lr_scale"]
        beta2_period = beta2**period  # one update per period: faster decay per update
        grads = state["scale_grads"]
        state["scale_exp_avg_sq"].mul_(beta2_period).add_(
            grads.pow(2).mean(), alpha=1 - beta2_period
        )
        updates = (state["step"] + 1) // period
        correction = (1 - beta2_period**updates) ** 0.5
        scale_step = (
            -size_lr * correction * grads.sum() / (state["scale_exp_avg_sq"].sqrt() + group["eps"])
        )
        rms = state["param_rms"]
        scale_step = torch.where(
            rms < group["param_min_rms"], torch.zeros_like(scale_step), scale_step
        )
        scale_step = torch.where(
            rms > group["param_max_rms"], torch.full_like(scale_step, -size_lr * period), scale_step
        )
        state["delta"].add_(p * scale_step, alpha=1 - beta1)

    @staticmethod
    def _tensor_update(
        group: dict[str, Any], p: torch.Tensor, grad: torch.Tensor, state: dict[str, Any]
    ) -> None:
        beta1, beta2 = group["betas"]
        exp_avg_sq = state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        correction = 1 - beta2 ** (state["step"] + 1)
        if correction < 0.99:  # early steps: unbias (not in place)
            exp_avg_sq = exp_avg_sq / correction
        normalised = grad / (exp_avg_sq.sqrt() + group["eps"])
        size = state["param_rms"].clamp(min=group["param_min_rms"])
        state["delta"].add_(normalised * size * (-group["lr"] * (1 - beta1)))
        p.add_(state["delta"])

    @staticmethod
    def _scalar_update(
        group: dict[str, Any], p: torch.Tensor, grad: torch.Tensor, state: dict[str, Any]
    ) -> None:
        beta1, beta2 = group["betas"]
        lr = group["lr"] * group["scalar_lr_scale"]
        exp_avg_sq = state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        correction = 1 - beta2 ** (state["step"] + 1)
        denom = (exp_avg_sq / correction).sqrt() + group["eps"]
        state["delta"].add_(grad / denom, alpha=-lr * (1 - beta1))
        p.clamp_(min=-group["scalar_max"], max=group["scalar_max"])
        p.add_(state["delta"])
