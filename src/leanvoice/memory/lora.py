"""LoRA through peft: low-rank adapters on the modules a model names in `lora_targets()`
(per parameter group): the GPT layers' packed attention and FFN, and the SoVITS text
encoder's attention and FFN convolutions (phonemes → prosody/content; the HiFi-GAN
decoder's transposed convolutions are not LoRA targets in peft).

QLoRA (`quantize_base`): the frozen `nn.Linear` targets (the GPT's FFN linears) are
stored as bitsandbytes 4-bit NF4 (`Linear4bit`) under the adapters; merging dequantizes
them first. The packed attention projection stays in full precision (not an `nn.Linear`).

peft wraps `nn.MultiheadAttention` (our `SelfAttention` subclasses it), merging the
adapter into `in_proj_weight`/`out_proj` functionally during each forward, so gradients
reach only the adapters. `merge_lora` folds them into the base weights for export and
restores the plain module tree, so state-dict names are official again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace

import torch
from torch import nn

from leanvoice.config.schema import LoraConfig
from leanvoice.errors import ConfigError


def lora_module_names(model: nn.Module) -> list[str]:
    """The modules that get adapters: in each group of the model's `lora_targets()`, the
    modules of that parameter group whose name ends with a listed name (`conv_q`, or a
    dotted suffix such as `to_out.0`)."""
    declared = getattr(model, "lora_targets", None)
    if declared is None:
        raise ConfigError(f"memory.lora: {type(model).__name__} declares no LoRA targets")
    groups = model.parameter_groups()
    names = []
    for group, suffixes in declared().items():
        inside = tuple(prefix + "." for prefix in groups[group])
        ends = tuple("." + suffix for suffix in suffixes)
        names += [n for n, _ in model.named_modules() if n.startswith(inside) and n.endswith(ends)]
    return names


def stage_lora(lora: LoraConfig, stage: str) -> LoraConfig:
    """`memory.lora` as it applies to `stage`: off (rank 0) for a stage not in
    `memory.lora.stages`, which then trains in full."""
    if stage in lora.stages:
        return lora
    return replace(lora, rank=0, quantize_base=False)


def _peft():
    try:
        import peft
    except ImportError:
        raise ConfigError("memory.lora.rank > 0 needs peft: pip install 'peft>=0.11'") from None
    return peft


def apply_lora(
    model: nn.Module,
    rank: int,
    alpha: float,
    dropout: float = 0.0,
    targets: tuple[str, ...] | str | None = None,
    quantize_base: bool = False,
) -> nn.Module:
    """Inject adapters in place; every non-adapter parameter is frozen. `targets`: peft's
    `target_modules`; None (the default) = the model's groups (`lora_module_names`)."""
    if rank <= 0:
        raise ConfigError("memory.lora.rank must be positive to apply LoRA")
    peft = _peft()
    if targets is None:
        targets = lora_module_names(model)
    if quantize_base:
        quantize_frozen_linears(model, lora_module_names(model))
    config = peft.LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=targets if isinstance(targets, str) else list(targets),
    )
    return peft.inject_adapter_in_model(config, model)


def _bitsandbytes():
    try:
        import bitsandbytes
    except ImportError:
        raise ConfigError(
            "memory.lora.quantize_base (QLoRA) needs bitsandbytes: "
            "pip install 'leanvoice[gpu]' (or pip install bitsandbytes)"
        ) from None
    return bitsandbytes


def quantize_frozen_linears(model: nn.Module, names: list[str]) -> int:
    """Replace the named modules that are plain `nn.Linear` by frozen 4-bit NF4
    `Linear4bit` on the same device; returns how many were replaced."""
    bnb = _bitsandbytes()
    replaced = 0
    for name, module in list(model.named_modules()):
        if name not in names or type(module) is not nn.Linear:
            continue
        device = module.weight.device
        quantized = bnb.nn.Linear4bit(
            module.in_features,
            module.out_features,
            bias=module.bias is not None,
            compute_dtype=module.weight.dtype,
            quant_type="nf4",
            device="meta",
        )
        quantized.weight = bnb.nn.Params4bit(
            module.weight.data.cpu(), requires_grad=False, quant_type="nf4"
        )
        if module.bias is not None:
            quantized.bias = nn.Parameter(module.bias.data, requires_grad=False)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, quantized.to(device))  # moving quantizes the weight
        replaced += 1
    return replaced


def _dequantize_linears(model: nn.Module) -> None:
    """4-bit bases back to plain `nn.Linear` (for merging and export)."""
    try:
        import bitsandbytes as bnb
    except ImportError:
        return
    for name, module in list(model.named_modules()):
        if not isinstance(module, bnb.nn.Linear4bit):
            continue
        weight = bnb.functional.dequantize_4bit(module.weight.data, module.weight.quant_state)
        plain = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
        plain = plain.to(device=weight.device, dtype=weight.dtype)
        plain.weight.data.copy_(weight)
        if module.bias is not None:
            plain.bias.data.copy_(module.bias.data)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, plain)


def peft_attention_layers(model: nn.Module) -> list[nn.Module]:
    """peft's LoRA wrappers of `nn.MultiheadAttention` (the GPT's attention) in `model`."""
    return [
        module
        for module in model.modules()
        if type(module).__name__ == "MultiheadAttention" and hasattr(module, "lora_A")
    ]


@contextlib.contextmanager
def attention_adapters_merged(model: nn.Module) -> Iterator[None]:
    """peft's adapters on `nn.MultiheadAttention` act only inside that module's own
    forward, which merges them (peft's `merge`), calls, and unmerges. Code that calls
    the attention's projections itself (the GPT's KV-cache decoding: the auditions of a
    LoRA run) runs in this context: the same `merge`, so it computes what training
    computes, then the very same base parameters are put back (peft's `unmerge`
    subtracts the adapters again, which rounds)."""
    merged = []
    for layer in peft_attention_layers(model):
        if layer.merged:
            continue
        base = layer.get_base_layer()
        out = base.out_proj.get_base_layer()
        saved = (base.in_proj_weight, out.weight)
        active = [a for a in layer.active_adapters if a in layer.lora_A]
        layer.merge(adapter_names=active)
        merged.append((layer, base, out, saved, active))
    try:
        yield
    finally:
        for layer, base, out, (in_proj, out_weight), active in merged:
            del base.in_proj_weight
            base.register_parameter("in_proj_weight", in_proj)
            del out.weight
            out.register_parameter("weight", out_weight)
            for adapter in active:
                layer.merged_adapters.remove(adapter)
                base.out_proj.merged_adapters.remove(adapter)


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold adapters into the base weights and unwrap the peft layers, in place."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    _dequantize_linears(model)
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
