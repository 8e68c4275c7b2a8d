"""Frozen weights stored in fp16 (`memory.half_frozen`): half the bytes of what does not train.

LoRA and frozen groups leave most of a model's weights untouched (the v4/v5 DiT under
the official LoRA recipe: 1.4 GiB of its 1.5 GiB), yet they sit in fp32. Under autocast
every matmul and convolution reads them in the autocast dtype anyway, so a frozen
`nn.Linear` / `nn.Conv1d` can be stored in fp16 at no cost to what training computes:
- exact: a weight is stored in fp16 only if fp16 holds it exactly (weights read from the
  official files, which are fp16, always are); a module with one inexact tensor stays
  fp32, so checkpoints and exports hold the same values as before;
- the same maths: autocast casts the fp16 weight to bf16 (or uses it as is under fp16)
  where it would have cast the fp32 one, giving the same values, so training is bit for
  bit what it was (tests/memory/test_half_frozen.py);
- only under autocast (memory.precision bf16/fp16): without it there is no cast to ride
  on, and the setting does nothing. Code that runs the model in fp32 without gradients
  (the held-out evaluation, audio samples) wraps it in `full_precision(model)`, which
  widens each half module's weights for its own forward only;
- a model names the groups that run in fp32 even under autocast
  (`full_precision_groups()`, the v3/v4/v5 encoders before `bridge`): they stay fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.utils import parametrize

from leanvoice.memory.freeze import group_parameters

HALF_MODULES = (nn.Linear, nn.Conv1d)


def store_frozen_in_half(model: nn.Module) -> int:
    """Casts every frozen, exactly representable `nn.Linear` / `nn.Conv1d` (weight and
    bias) outside the model's full-precision groups to fp16; → parameters cast."""
    kept = {id(p) for _, p in group_parameters(model, _full_precision_prefixes(model))}
    cast = 0
    for module in model.modules():
        if type(module) not in HALF_MODULES or parametrize.is_parametrized(module):
            continue
        if id(module.weight) in kept:
            continue
        tensors = [t for t in (module.weight, module.bias) if t is not None]
        if any(t.requires_grad or t.dtype != torch.float32 for t in tensors):
            continue
        if not all(_exact_in_half(t) for t in tensors):
            continue
        module.half()
        cast += sum(t.numel() for t in tensors)
    return cast


def half_modules(model: nn.Module) -> list[nn.Module]:
    """The modules `store_frozen_in_half` stored in fp16."""
    return [
        module
        for module in model.modules()
        if type(module) in HALF_MODULES
        and module.weight.dtype == torch.float16
        and not module.weight.requires_grad
    ]


@contextlib.contextmanager
def full_precision(*models: nn.Module) -> Iterator[None]:
    """Runs the models' half modules in fp32 without autocast, each widened only for its
    own forward (a layer's weights at a time, not the whole model). For forwards without
    gradients: the held-out evaluation, audio samples, synthesis from a live model."""
    modules = [m for model in models for m in half_modules(model)]
    if not modules:
        yield
        return
    handles = []
    for module in modules:
        handles.append(module.register_forward_pre_hook(_widen))
        handles.append(module.register_forward_hook(_narrow))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        for module in modules:  # a forward that raised never ran its narrowing hook
            _narrow(module, (), None)


def _widen(module: nn.Module, inputs: tuple) -> None:
    if torch.is_grad_enabled():
        raise RuntimeError("full_precision: half frozen weights are widened without gradients only")
    if torch.is_autocast_enabled(inputs[0].device.type):
        return
    for parameter in module.parameters(recurse=False):
        parameter.data = parameter.data.float()


def _narrow(module: nn.Module, inputs: tuple, output) -> None:
    for parameter in module.parameters(recurse=False):
        if parameter.dtype == torch.float32:
            parameter.data = parameter.data.half()


def _exact_in_half(tensor: torch.Tensor) -> bool:
    half = tensor.detach().half()
    return bool(torch.isfinite(half).all()) and torch.equal(half.float(), tensor.detach())


def _full_precision_prefixes(model: nn.Module) -> tuple[str, ...]:
    """The module prefixes of the groups the model runs in fp32 under autocast."""
    groups = getattr(model, "full_precision_groups", lambda: ())()
    if not groups:
        return ()
    declared = model.parameter_groups()
    return tuple(prefix for group in groups for prefix in declared[group])
