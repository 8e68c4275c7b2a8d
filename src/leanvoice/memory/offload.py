"""Activation offload: tensors a block saves for backward go to (pinned) host memory and
come back for its backward (`torch.autograd.graph.save_on_cpu`), trading PCIe traffic
for GPU memory. Wrapped per block, in place, like checkpointing; a checkpointed block
then offloads only its input.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

_WRAPPED = "_leanvoice_offloaded"


def apply_activation_offload(model: nn.Module, names: list[str], pin_memory: bool) -> list[str]:
    """Wrap the named blocks so their saved tensors live on the host; returns the names."""
    for name in names:
        block = model.get_submodule(name)
        if getattr(block, _WRAPPED, False):
            continue
        block.forward = functools.partial(_offloaded_call, block.forward, pin_memory)
        setattr(block, _WRAPPED, True)
    return list(names)


def _offloaded_call(forward, pin_memory: bool, *args, **kwargs):
    with torch.autograd.graph.save_on_cpu(pin_memory=pin_memory):
        return forward(*args, **kwargs)
