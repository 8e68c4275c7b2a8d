"""`apply_memory_policy`: the one entry point that turns `memory.*` config into a model
set up for training (freeze → LoRA → half frozen weights → checkpointing → offload →
compile; the precision plan is returned for the trainer's autocast and scalers). The
optimizer (`memory.optimizer`) is built by the caller with `build_optimizer`, once, after
any DDP/FSDP wrapping.

Every technique targets the groups the model declares once: `parameter_groups()` (freeze),
`lora_targets()` (LoRA), `block_names()` (checkpointing per group; offload and compile
wrap every block). The SoVITS discriminator is outside this policy (train/sovits.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from leanvoice.config.schema import MemoryConfig
from leanvoice.errors import ConfigError
from leanvoice.memory.checkpointing import apply_activation_checkpointing
from leanvoice.memory.compile import compile_blocks as compile_named_blocks
from leanvoice.memory.freeze import freeze_groups, group_parameters
from leanvoice.memory.half_frozen import store_frozen_in_half
from leanvoice.memory.lora import apply_lora, stage_lora
from leanvoice.memory.offload import apply_activation_offload
from leanvoice.memory.precision import PrecisionPlan, resolve_precision


@dataclass
class MemorySetup:
    model: nn.Module
    precision: PrecisionPlan
    checkpointed_blocks: list[str]
    half_frozen_parameters: int = 0  # memory.half_frozen: frozen parameters stored in fp16


def apply_memory_policy(
    model: nn.Module,
    stage: str,  # "gpt" or "sovits": which memory.freeze names apply
    policy: MemoryConfig,
    device: torch.device | str = "cpu",
    *,
    compile_blocks: bool = False,  # train.compile: each block through torch.compile
) -> MemorySetup:
    device = torch.device(device)
    policy = replace(policy, lora=stage_lora(policy.lora, stage))
    if policy.offload_activations and device.type != "cuda":
        raise ConfigError(
            "memory.offload_activations moves saved tensors from the GPU to host memory; "
            f"on {device.type} they are already there: set it to false"
        )
    if policy.lora.quantize_base and policy.lora.rank <= 0:
        raise ConfigError("memory.lora.quantize_base (QLoRA) needs memory.lora.rank > 0")
    if policy.lora.quantize_base and not _linear_lora_targets(model):
        raise ConfigError(
            "memory.lora.quantize_base (QLoRA) stores nn.Linear LoRA targets in 4 bits; this "
            "model's targets are convolutions (the v2 SoVITS): it applies to the GPT and the "
            "v3/v4 DiT"
        )
    if stage in policy.freeze:
        raise ConfigError(
            f"memory.freeze contains {stage!r}: the whole {stage} stage is frozen, so there "
            f"is nothing to train; remove it from memory.freeze to train this stage"
        )
    freeze_groups({stage: model}, policy.freeze)
    if policy.lora.rank > 0:
        model = apply_lora(
            model,
            policy.lora.rank,
            policy.lora.alpha,
            policy.lora.dropout,
            quantize_base=policy.lora.quantize_base,
        )
        beside = getattr(model, "trained_beside_adapters", lambda: ())()
        for _, parameter in group_parameters(model, beside):  # the v4 recipe's bridge, wns1
            parameter.requires_grad_(True)
    precision = resolve_precision(policy.precision, device)
    half = 0
    if policy.half_frozen and precision.dtype is not None:  # only autocast reads them
        half = store_frozen_in_half(model)
    groups = model.block_names()
    checkpointed = apply_activation_checkpointing(model, groups, policy.checkpoint)
    blocks = [name for names in groups.values() for name in names]
    if policy.offload_activations:
        apply_activation_offload(model, blocks, True)
    if compile_blocks:
        compile_named_blocks(model, blocks)
    return MemorySetup(model, precision, checkpointed, half)


def _linear_lora_targets(model: nn.Module) -> list[str]:
    """The model's LoRA targets that QLoRA can quantize (plain `nn.Linear`)."""
    from leanvoice.memory.lora import lora_module_names

    modules = dict(model.named_modules())
    return [n for n in lora_module_names(model) if type(modules[n]) is nn.Linear]
