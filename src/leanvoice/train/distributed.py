"""Process group setup from torchrun's environment, and model wrapping (DDP or FSDP2).

One process without torchrun is world size 1 and no process group. Under torchrun
(RANK, WORLD_SIZE, LOCAL_RANK set), NCCL on CUDA and gloo on CPU. Multi-node runs use
torchrun's rendezvous (`--nnodes N --rdzv_backend c10d --rdzv_endpoint HOST:PORT`);
nothing here depends on the node count.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
import torch.distributed as dist
from torch import nn

from leanvoice.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto", expected_world_size: int = 0) -> DistContext:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if expected_world_size and expected_world_size != world_size:
        raise ConfigError(
            f"train.world_size={expected_world_size} but {world_size} process(es) were "
            "started; match torchrun's --nnodes × --nproc_per_node or set train.world_size=0"
        )
    chosen = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if chosen.type == "cuda" else "gloo"
        if chosen.type == "cuda":
            torch.cuda.set_device(chosen)
        dist.init_process_group(backend=backend)
    return DistContext(rank, world_size, local_rank, chosen)


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    if device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    chosen = torch.device(device)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={device}: no CUDA device here; use auto or cpu")
    if chosen.type == "cuda" and chosen.index is None:
        chosen = torch.device(f"cuda:{local_rank}")
    return chosen


def wrap_model(
    model: nn.Module, ctx: DistContext, strategy: Literal["ddp", "fsdp"] = "ddp"
) -> nn.Module:
    """DDP (gradients all-reduced in backward) or FSDP2 (`fully_shard`: parameters,
    gradients and optimizer states sharded across ranks). Single process: unchanged."""
    if not ctx.active or not any(p.requires_grad for p in model.parameters()):
        return model
    if strategy == "ddp":
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)
    from torch.distributed.fsdp import fully_shard  # fsdp: the schema admits no other

    from leanvoice.memory.lora import peft_attention_layers

    if peft_attention_layers(model):
        raise ConfigError(
            "train.distributed=fsdp cannot shard the GPT's LoRA attention adapters (peft's "
            "MultiheadAttention LoRA keeps its weights outside the module tree FSDP2 walks): "
            "use train.distributed=ddp (LoRA's few trainable weights gain little from sharding)"
        )
    fully_shard(model)
    return model


@contextlib.contextmanager
def full_parameters(wrapped: nn.Module) -> Iterator[None]:
    """Gather FSDP2-sharded parameters for code outside the root forward (auditions);
    every rank must enter it. Anything else: nothing to do."""
    from torch.distributed.fsdp import FSDPModule

    if not isinstance(wrapped, FSDPModule):
        yield
        return
    wrapped.unshard()
    try:
        yield
    finally:
        wrapped.reshard()


def sync_gradients(wrapped: nn.Module, last: bool) -> contextlib.AbstractContextManager:
    """Gradients are synchronised across ranks on the last micro-batch of a step only:
    DDP's `no_sync` on the others; FSDP2 keeps unsharded gradients (no reduce-scatter)
    until the last (`set_requires_gradient_sync`). Anything else: nothing to do."""
    from torch.distributed.fsdp import FSDPModule

    if last:
        return contextlib.nullcontext()
    if isinstance(wrapped, FSDPModule):
        return _fsdp_without_gradient_sync(wrapped)
    no_sync = getattr(wrapped, "no_sync", None)
    return no_sync() if no_sync is not None else contextlib.nullcontext()


@contextlib.contextmanager
def _fsdp_without_gradient_sync(wrapped: nn.Module) -> Iterator[None]:
    wrapped.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        wrapped.set_requires_gradient_sync(True)


def all_reduce_sum(value: float, ctx: DistContext) -> float:
    if not ctx.active:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=_comm_device(ctx))
    dist.all_reduce(tensor)
    return float(tensor.item())


def all_reduce_max(value: int, ctx: DistContext) -> int:
    if not ctx.active:
        return value
    tensor = torch.tensor([value], dtype=torch.int64, device=_comm_device(ctx))
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True if `flag` is true on any rank (every rank must call it)."""
    return all_reduce_sum(1.0 if flag else 0.0, ctx) > 0


def barrier(ctx: DistContext) -> None:
    if ctx.active:
        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()


def _comm_device(ctx: DistContext) -> torch.device:
    return ctx.device if ctx.device.type == "cuda" else torch.device("cpu")
