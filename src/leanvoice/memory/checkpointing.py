"""Activation checkpointing by block name: keep a block's input, recompute its inside
during backward (`torch.utils.checkpoint`, `use_reentrant=False`, RNG preserved so
dropout masks repeat exactly).

Policies: `none`, `all`, `every:K` (every K-th block), `count:N` (the first N blocks).
The block's `forward` is wrapped in place, so state-dict names do not change.
"""

from __future__ import annotations

import functools
import re

from torch import nn
from torch.utils.checkpoint import checkpoint

from leanvoice.errors import ConfigError

_WRAPPED = "_leanvoice_checkpointed"


def select_blocks(policy: str, names: list[str]) -> list[str]:
    """The block names a policy checkpoints."""
    if policy == "none":
        return []
    if policy == "all":
        return list(names)
    match = re.fullmatch(r"(every|count):(\d+)", policy)
    if not match:
        raise ConfigError(f"memory.checkpoint={policy!r}: use none, all, every:K or count:N")
    kind, number = match.group(1), int(match.group(2))
    if kind == "every":
        if number < 1:
            raise ConfigError("memory.checkpoint=every:K needs K >= 1")
        return [name for index, name in enumerate(names) if index % number == number - 1]
    return list(names[:number])


def apply_activation_checkpointing(model: nn.Module, names: list[str], policy: str) -> list[str]:
    """Wrap the chosen blocks of `model`; returns their names."""
    chosen = select_blocks(policy, names)
    for name in chosen:
        block = model.get_submodule(name)
        if getattr(block, _WRAPPED, False):
            continue
        original = block.forward
        block.forward = functools.partial(_checkpointed_call, original)
        setattr(block, _WRAPPED, True)
    return chosen


def _checkpointed_call(forward, *args, **kwargs):
    return checkpoint(forward, *args, use_reentrant=False, preserve_rng_state=True, **kwargs)
