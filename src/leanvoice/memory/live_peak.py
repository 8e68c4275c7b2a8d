"""Peak of live tensor bytes over a stretch of code, on any device (CPU included).

A `TorchDispatchMode` sees every tensor an operator creates — in forward, in backward
(autograd runs the operators through the same dispatcher) and in optimizer steps. Each
new storage is counted once and uncounted when Python frees it (a weakref callback).
Tensors that exist beforehand (parameters, gradients, optimizer states) are counted from
the start. This is what an allocator without fragmentation or caching would need;
PyTorch's `MemTracker` does the same and adds per-module statistics, which break when
a module runs twice in one step (the GAN's discriminator) — so this is kept small.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable

import torch
from torch.utils._python_dispatch import TorchDispatchMode, is_traceable_wrapper_subclass
from torch.utils._pytree import tree_flatten


class LiveTensorPeak(TorchDispatchMode):
    def __init__(self, existing: Iterable[torch.Tensor] = ()) -> None:
        super().__init__()
        self.current = 0
        self.peak = 0
        self._sizes: dict[int, int] = {}
        self._refs: dict[int, weakref.ref] = {}
        for tensor in existing:
            self.track(tensor)

    def track(self, tensor: torch.Tensor) -> None:
        if not isinstance(tensor, torch.Tensor) or tensor.device.type == "meta":
            return
        if is_traceable_wrapper_subclass(tensor):  # 8-bit states: count the inner buffers
            names, _ = tensor.__tensor_flatten__()
            for name in names:
                self.track(getattr(tensor, name))
            return
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key in self._sizes:
            return
        size = storage.nbytes()
        self._sizes[key] = size
        self._refs[key] = weakref.ref(storage, lambda _ref, k=key: self._release(k))
        self.current += size
        self.peak = max(self.peak, self.current)

    def _release(self, key: int) -> None:
        self.current -= self._sizes.pop(key, 0)
        self._refs.pop(key, None)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in tree_flatten(out)[0]:
            if isinstance(value, torch.Tensor):
                self.track(value)
        return out
