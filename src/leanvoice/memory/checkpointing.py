"""Activation checkpointing by block name: keep a block's input, recompute its inside
during backward (`torch.utils.checkpoint`, `use_reentrant=False`, RNG preserved so
dropout masks repeat exactly).

The blocks come by group (the model's `block_names()`: GPT `layers`; SoVITS
`text_encoder`, `posterior`, `flow`, `decoder`), and a policy applies within each group:
`none`, `all`, `every:K` (the K-th, 2K-th, … block of each group), `count:N` (the first
N blocks of each group), and `selective`: every block, but the outputs of matrix
multiplications and attention kernels are kept (`create_selective_checkpoint_contexts`),
so backward recomputes only the cheap element-wise ops. Measured by live-tensor peak
(tests/memory): between `none` and `all` in memory, with far less recompute than `all`.
`group:policy,…` (e.g. `decoder:all,flow:every:2`) sets groups one by one; the groups it
does not name are not checkpointed.
The block's `forward` is wrapped in place, so state-dict names do not change.
"""

from __future__ import annotations

import functools
import re

import torch
from torch import nn
from torch.utils.checkpoint import (
    CheckpointPolicy,
    checkpoint,
    create_selective_checkpoint_contexts,
)

from leanvoice.config.schema import CHECKPOINT_POLICY_PATTERN, CHECKPOINT_RULE
from leanvoice.errors import ConfigError

_WRAPPED = "_leanvoice_checkpointed"


def select_blocks(rule: str, names: list[str]) -> list[str]:
    """The blocks, of one group's `names`, that a rule (none, all, …) checkpoints."""
    if rule == "none":
        return []
    if rule in ("all", "selective"):
        return list(names)
    kind, number = rule.split(":")[0], int(rule.split(":")[1])  # every:K or count:N
    if kind == "every":
        return [name for index, name in enumerate(names) if index % number == number - 1]
    return list(names[:number])


def group_policies(policy: str, groups: list[str]) -> dict[str, str]:
    """Each group's rule: a plain rule applies to every group; `group:rule,…` names
    groups, and the others get `none`. Unknown or repeated groups are a ConfigError."""
    if not CHECKPOINT_POLICY_PATTERN.match(policy):
        raise ConfigError(
            f"memory.checkpoint={policy!r} is not a policy (none, all, selective, every:K, "
            "count:N, or group:policy pairs)"
        )
    if re.fullmatch(CHECKPOINT_RULE, policy):
        return dict.fromkeys(groups, policy)
    pairs = [item.strip().split(":", 1) for item in policy.split(",")]
    named = dict(pairs)
    if len(named) < len(pairs):
        raise ConfigError(f"memory.checkpoint={policy!r} names a group twice")
    unknown = [group for group in named if group not in groups]
    if unknown:
        raise ConfigError(
            f"memory.checkpoint={policy!r}: no block group {', '.join(map(repr, unknown))} "
            f"in this model; its groups: {', '.join(groups)}"
        )
    return {group: named.get(group, "none") for group in groups}


def apply_activation_checkpointing(
    model: nn.Module, groups: dict[str, list[str]], policy: str
) -> list[str]:
    """Wrap the blocks of `model` that `policy` picks from each group (group → block
    names, as `block_names()` returns); returns their names."""
    chosen = []
    for group, rule in group_policies(policy, list(groups)).items():
        call = _selective_call if rule == "selective" else _checkpointed_call
        for name in select_blocks(rule, groups[group]):
            chosen.append(name)
            block = model.get_submodule(name)
            if getattr(block, _WRAPPED, False):
                continue
            block.forward = functools.partial(call, block.forward)
            setattr(block, _WRAPPED, True)
    return chosen


def _checkpointed_call(forward, *args, **kwargs):
    return checkpoint(forward, *args, use_reentrant=False, preserve_rng_state=True, **kwargs)


def _expensive_ops() -> set:
    aten = torch.ops.aten
    names = (
        "mm",
        "addmm",
        "bmm",
        "baddbmm",
        "convolution",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
    )
    return {getattr(aten, name).default for name in names if hasattr(aten, name)}


_KEEP = _expensive_ops()


def _keep_expensive(_ctx, op, *_args, **_kwargs) -> CheckpointPolicy:
    return CheckpointPolicy.MUST_SAVE if op in _KEEP else CheckpointPolicy.PREFER_RECOMPUTE


def _selective_contexts():
    return create_selective_checkpoint_contexts(_keep_expensive)


def _selective_call(forward, *args, **kwargs):
    return checkpoint(
        forward,
        *args,
        use_reentrant=False,
        preserve_rng_state=True,
        context_fn=_selective_contexts,
        **kwargs,
    )
