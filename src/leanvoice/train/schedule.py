"""Learning-rate schedules (`train.lr_schedule`): a factor on every parameter group's own
base rate, set before each optimizer step from the step and the sampler's epoch.

- `constant`: the configured rate throughout.
- `warmup_cosine`: the official GPT schedule (`WarmupCosineLRSchedule` of the s1
  recipe): linear from `lr_start_factor` × rate to the rate over `warmup_steps`, cosine
  down to `lr_end_factor` × rate at `decay_steps`, constant after.
- `exponential`: the official SoVITS schedule (`ExponentialLR`, stepped once per epoch):
  rate × `lr_decay` ** epoch.
- `auto`: the stage's official one (GPT: warmup_cosine; SoVITS: exponential).

The factor is a pure function of (step, epoch), both restored on resume, so a resumed
run follows the same rates; the state kept in checkpoints records the base rates, so a
resume keeps them even if the groups are rebuilt.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from leanvoice.config.schema import TrainConfig
from leanvoice.errors import ConfigError

SCHEDULES = ("constant", "warmup_cosine", "exponential")


def lr_factor(cfg: TrainConfig, kind: str, step: int, epoch: int) -> float:
    """The factor of schedule `kind` for optimizer step number `step` (0-based) in `epoch`."""
    if kind == "constant":
        return 1.0
    if kind == "exponential":
        return cfg.lr_decay**epoch
    start, end = cfg.lr_start_factor, cfg.lr_end_factor  # warmup_cosine (schema's Literal)
    if step < cfg.warmup_steps:
        return start + (1.0 - start) * step / cfg.warmup_steps
    if step >= cfg.decay_steps:
        return end
    progress = (step - cfg.warmup_steps) / max(cfg.decay_steps - cfg.warmup_steps, 1)
    return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def param_groups(optimizer: Any) -> list[dict[str, Any]]:
    """Every parameter group, also those of a step-in-backward optimizer (one optimizer
    per parameter)."""
    inner = getattr(optimizer, "optimizers", None)
    if isinstance(inner, dict):
        return [group for each in inner.values() for group in each.param_groups]
    return list(optimizer.param_groups)


class LRSchedule:
    """Sets `lr` = base rate × factor on each group of one optimizer; `official` is the
    stage's schedule that `auto` stands for."""

    def __init__(self, optimizer: Any, cfg: TrainConfig, official: str) -> None:
        self.cfg = cfg
        self.kind = official if cfg.lr_schedule == "auto" else cfg.lr_schedule
        self.optimizer = optimizer
        self.base_rates = [float(group["lr"]) for group in param_groups(optimizer)]
        self.last_factor = 1.0

    def apply(self, step: int, epoch: int) -> None:
        # the groups are looked up each time: loading an optimizer's state replaces them
        self.last_factor = lr_factor(self.cfg, self.kind, step, epoch)
        groups = param_groups(self.optimizer)
        for group, base in zip(groups, self.base_rates, strict=True):
            if isinstance(group["lr"], torch.Tensor):  # torchao keeps it in a tensor
                group["lr"].fill_(base * self.last_factor)
            else:
                group["lr"] = base * self.last_factor

    @property
    def lr(self) -> float:
        """The rate of the last group (the main one): what TensorBoard shows as `lr`."""
        return self.base_rates[-1] * self.last_factor

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "base_rates": list(self.base_rates),
            "last_factor": self.last_factor,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["base_rates"]) != len(self.base_rates):
            raise ConfigError("the checkpoint's learning-rate groups do not match this model")
        self.base_rates = [float(x) for x in state["base_rates"]]
        self.last_factor = float(state["last_factor"])
