"""Measure what a training step keeps for backward: unique storages of saved tensors.

`torch.autograd.graph.saved_tensors_hooks` sees every tensor autograd saves. Several
saved tensors often share one storage (views), so bytes are counted once per storage;
storages of parameters are reported apart, since they are not activation memory.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class SavedTensorMeter:
    """Context manager: `with SavedTensorMeter(model.parameters()) as meter: loss = f(x)`."""

    def __init__(self, parameters: Iterable[torch.Tensor] = ()) -> None:
        self._parameter_storages = {local(p).untyped_storage().data_ptr() for p in parameters}
        self._storages: dict[int, int] = {}
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda x: x)

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        if tensor.device.type != "meta":
            storage = local(tensor).untyped_storage()
            self._storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    def __enter__(self) -> SavedTensorMeter:
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooks.__exit__(*exc)

    @property
    def activation_bytes(self) -> int:
        """Bytes of saved tensors that are not parameters."""
        return sum(n for ptr, n in self._storages.items() if ptr not in self._parameter_storages)

    @property
    def parameter_bytes_saved(self) -> int:
        return sum(n for ptr, n in self._storages.items() if ptr in self._parameter_storages)


def local(tensor: torch.Tensor) -> torch.Tensor:
    """This rank's shard of a sharded (FSDP2 `DTensor`) tensor; other tensors as they are."""
    to_local = getattr(tensor, "to_local", None)
    return to_local() if callable(to_local) else tensor


def tensor_storage_bytes(tensor: torch.Tensor) -> int:
    """Bytes a tensor really holds: tensor subclasses (8-bit optimizer states) report
    fp32 through numel()·element_size(); their inner buffers (codes, scales) are counted."""
    flatten = getattr(type(tensor), "__tensor_flatten__", None)
    if flatten is not None and type(tensor) is not torch.Tensor:
        names, _ = tensor.__tensor_flatten__()
        inner = [getattr(tensor, name) for name in names]
        return sum(tensor_storage_bytes(t) for t in inner if isinstance(t, torch.Tensor))
    return tensor.numel() * tensor.element_size()


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of every tensor in the optimizer state, counted as stored."""
    seen: set[int] = set()
    total = 0
    for state in optimizer.state.values():
        for value in state.values():
            if torch.is_tensor(value) and id(value) not in seen:
                seen.add(id(value))
                total += tensor_storage_bytes(value)
    return total
