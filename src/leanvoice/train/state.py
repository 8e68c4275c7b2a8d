"""Model and optimizer state for checkpoints, the same whether the model runs alone,
under DDP, or sharded by FSDP2 (gathered to a full, CPU state dict with
`torch.distributed.checkpoint.state_dict`; every rank takes part, rank 0 writes).

Model keys are the plain model's own (no wrapper prefixes), so a checkpoint resumes
under any of the three.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from leanvoice.train.distributed import DistContext

_PREFIX = "model."


def _sharded(wrapped: nn.Module, ctx: DistContext) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return ctx.active and isinstance(wrapped, FSDPModule)


def _options():
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def model_state(model: nn.Module, wrapped: nn.Module, ctx: DistContext) -> dict[str, Any]:
    if _sharded(wrapped, ctx):
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        full = get_model_state_dict(wrapped, options=_options())
        return {k.removeprefix(_PREFIX): v for k, v in full.items()}
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def load_model_state(
    model: nn.Module, wrapped: nn.Module, ctx: DistContext, state: dict[str, Any]
) -> None:
    if _sharded(wrapped, ctx):
        from torch.distributed.checkpoint.state_dict import set_model_state_dict

        set_model_state_dict(
            wrapped, {_PREFIX + k: v for k, v in state.items()}, options=_options()
        )
        return
    model.load_state_dict(state)


def optimizer_state(optimizer: Any, wrapped: nn.Module, ctx: DistContext) -> dict[str, Any]:
    if _sharded(wrapped, ctx):
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        return get_optimizer_state_dict(wrapped, optimizer, options=_options())
    return optimizer.state_dict()


def load_optimizer_state(
    optimizer: Any, wrapped: nn.Module, ctx: DistContext, state: dict[str, Any]
) -> None:
    if _sharded(wrapped, ctx):
        from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

        set_optimizer_state_dict(wrapped, optimizer, state, options=_options())
        return
    optimizer.load_state_dict(state)
