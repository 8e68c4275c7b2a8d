"""`apply_memory_policy`: the one entry point that turns `memory.*` config into a model
and optimizer set up for training (freeze → LoRA → checkpointing → optimizer; the
precision plan is returned for the trainer's autocast and scalers)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from leanvoice.config.schema import MemoryConfig
from leanvoice.memory.checkpointing import apply_activation_checkpointing
from leanvoice.memory.freeze import freeze_groups
from leanvoice.memory.lora import apply_lora
from leanvoice.memory.optimizer_in_backward import OptimizerInBackward
from leanvoice.memory.optimizers import build_optimizer
from leanvoice.memory.precision import PrecisionPlan, resolve_precision


@dataclass
class MemorySetup:
    model: nn.Module
    optimizer: torch.optim.Optimizer | OptimizerInBackward
    precision: PrecisionPlan
    checkpointed_blocks: list[str]


def apply_memory_policy(
    model: nn.Module,
    stage: str,  # "gpt" or "sovits": which freeze groups and block names apply
    policy: MemoryConfig,
    lr: float,
    device: torch.device | str = "cpu",
) -> MemorySetup:
    freeze_groups({stage: model}, policy.freeze)
    if policy.lora.rank > 0:
        model = apply_lora(model, policy.lora.rank, policy.lora.alpha, policy.lora.dropout)
    blocks = [name for names in model.block_names().values() for name in names]
    checkpointed = apply_activation_checkpointing(model, blocks, policy.checkpoint)
    optimizer = build_optimizer(model.parameters(), policy.optimizer, lr)
    return MemorySetup(model, optimizer, resolve_precision(policy.precision, device), checkpointed)
