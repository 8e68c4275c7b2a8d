"""`train.compile`: each block (transformer layer, WaveNet/flow/HiFi-GAN stage) compiled
with `torch.compile`, in place (`nn.Module.compile`), so state-dict names do not change
and checkpointing, LoRA and DDP/FSDP wrap the same modules as without it.

Blocks rather than the whole model: the graph of one block is small, identical blocks
share their compiled code, and the sequence length varies from batch to batch, so the
blocks are compiled with dynamic shapes (one compile, not one per length). On a GPU
this fuses the element-wise work between the matrix multiplications; on a CPU it mostly
costs compile time.
"""

from __future__ import annotations

from torch import nn


def compile_blocks(model: nn.Module, names: list[str]) -> list[str]:
    """Compile the named blocks of `model` in place; returns their names."""
    for name in names:
        model.get_submodule(name).compile(dynamic=True)
    return list(names)
