"""LoRA through peft: low-rank adapters on the GPT's packed attention and FFN.

peft wraps `nn.MultiheadAttention` (our `SelfAttention` subclasses it), merging the
adapter into `in_proj_weight`/`out_proj` functionally during each forward, so gradients
reach only the adapters. `merge_lora` folds them into the base weights for export and
restores the plain module tree, so state-dict names are official again.
"""

from __future__ import annotations

import torch
from torch import nn

from leanvoice.errors import ConfigError

GPT_LORA_TARGETS = ("self_attn", "linear1", "linear2")


def _peft():
    try:
        import peft
    except ImportError:
        raise ConfigError("memory.lora.rank > 0 needs peft: pip install 'peft>=0.11'") from None
    return peft


def apply_lora(
    model: nn.Module, rank: int, alpha: float, dropout: float = 0.0,
    targets: tuple[str, ...] = GPT_LORA_TARGETS,
) -> nn.Module:  # fmt: skip
    """Inject adapters in place; every non-adapter parameter is frozen."""
    if rank <= 0:
        raise ConfigError("memory.lora.rank must be positive to apply LoRA")
    peft = _peft()
    config = peft.LoraConfig(
        r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets)
    )
    return peft.inject_adapter_in_model(config, model)


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold adapters into the base weights and unwrap the peft layers, in place."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    tuned = [(name, m) for name, m in model.named_modules() if isinstance(m, BaseTunerLayer)]
    for _, module in tuned:
        if not module.merged:
            module.merge()
    for name, module in sorted(tuned, key=lambda item: -item[0].count(".")):  # deepest first
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, module.get_base_layer())
    for module in model.modules():
        _restore_parameters(module)
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model


def _restore_parameters(module: nn.Module) -> None:
    """peft's attention merge leaves `in_proj_weight` / `out_proj.weight` as plain tensors;
    register them as parameters again so the state dict has the official names."""
    for name in ("in_proj_weight", "weight"):
        value = module.__dict__.get(name)
        if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
            del module.__dict__[name]
            module.register_parameter(name, nn.Parameter(value.detach().clone()))


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
